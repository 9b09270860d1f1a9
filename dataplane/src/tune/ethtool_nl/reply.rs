//! Reading one setting out of an ethtool GET reply (parsed by the `ethtool` crate).

use ethtool::{
    EthtoolAttr, EthtoolChannelAttr, EthtoolCoalesceAttr, EthtoolFeatureAttr, EthtoolRingAttr,
};

use super::super::nic::{on_off, KnobState, NicKnob};
use super::feature_name;

/// Picks one knob's state out of a GET reply. `None` when the driver does not report it (the
/// kernel leaves out attributes a driver does not support).
pub(super) fn knob_state(attrs: &[EthtoolAttr], knob: NicKnob) -> Option<KnobState> {
    let numeric = |value: Option<u32>, max: Option<u32>| {
        value.map(|v| KnobState {
            value: v.to_string(),
            max,
            fixed: false,
        })
    };
    let channel = |f: fn(&EthtoolChannelAttr) -> Option<u32>| {
        attrs.iter().find_map(|a| match a {
            EthtoolAttr::Channel(c) => f(c),
            _ => None,
        })
    };
    let ring = |f: fn(&EthtoolRingAttr) -> Option<u32>| {
        attrs.iter().find_map(|a| match a {
            EthtoolAttr::Ring(r) => f(r),
            _ => None,
        })
    };
    let coalesce = |f: fn(&EthtoolCoalesceAttr) -> Option<String>| {
        attrs.iter().find_map(|a| match a {
            EthtoolAttr::Coalesce(c) => f(c),
            _ => None,
        })
    };
    use EthtoolChannelAttr as C;
    use EthtoolCoalesceAttr as K;
    use EthtoolRingAttr as R;
    let state = match knob {
        NicKnob::ChannelsCombined => numeric(
            channel(|c| {
                if let C::CombinedCount(n) = c {
                    Some(*n)
                } else {
                    None
                }
            }),
            channel(|c| {
                if let C::CombinedMax(n) = c {
                    Some(*n)
                } else {
                    None
                }
            }),
        ),
        NicKnob::ChannelsRx => numeric(
            channel(|c| {
                if let C::RxCount(n) = c {
                    Some(*n)
                } else {
                    None
                }
            }),
            channel(|c| if let C::RxMax(n) = c { Some(*n) } else { None }),
        ),
        NicKnob::ChannelsTx => numeric(
            channel(|c| {
                if let C::TxCount(n) = c {
                    Some(*n)
                } else {
                    None
                }
            }),
            channel(|c| if let C::TxMax(n) = c { Some(*n) } else { None }),
        ),
        NicKnob::RingRx => numeric(
            ring(|r| if let R::Rx(n) = r { Some(*n) } else { None }),
            ring(|r| if let R::RxMax(n) = r { Some(*n) } else { None }),
        ),
        NicKnob::RingTx => numeric(
            ring(|r| if let R::Tx(n) = r { Some(*n) } else { None }),
            ring(|r| if let R::TxMax(n) = r { Some(*n) } else { None }),
        ),
        NicKnob::RxUsecs => coalesce(|c| {
            if let K::RxUsecs(n) = c {
                Some(n.to_string())
            } else {
                None
            }
        })
        .map(plain),
        NicKnob::TxUsecs => coalesce(|c| {
            if let K::TxUsecs(n) = c {
                Some(n.to_string())
            } else {
                None
            }
        })
        .map(plain),
        NicKnob::RxFrames => coalesce(|c| {
            if let K::RxMaxFrames(n) = c {
                Some(n.to_string())
            } else {
                None
            }
        })
        .map(plain),
        NicKnob::TxFrames => coalesce(|c| {
            if let K::TxMaxFrames(n) = c {
                Some(n.to_string())
            } else {
                None
            }
        })
        .map(plain),
        NicKnob::AdaptiveRx => coalesce(|c| {
            if let K::UseAdaptiveRx(b) = c {
                Some(on_off(*b))
            } else {
                None
            }
        })
        .map(plain),
        NicKnob::AdaptiveTx => coalesce(|c| {
            if let K::UseAdaptiveTx(b) = c {
                Some(on_off(*b))
            } else {
                None
            }
        })
        .map(plain),
        NicKnob::Gro | NicKnob::Lro => feature_state(attrs, feature_name(knob)),
    };
    // A channel kind whose maximum is 0 is not supported by the driver.
    state.filter(|s| s.max != Some(0))
}

fn plain(value: String) -> KnobState {
    KnobState {
        value,
        max: None,
        fixed: false,
    }
}

fn feature_state(attrs: &[EthtoolAttr], name: &str) -> Option<KnobState> {
    let mut known = false;
    let mut active = false;
    let mut changeable = false;
    for attr in attrs {
        let EthtoolAttr::Feature(feature) = attr else {
            continue;
        };
        let (bits, slot) = match feature {
            EthtoolFeatureAttr::Active(bits) => (bits, &mut active),
            EthtoolFeatureAttr::Hw(bits) => (bits, &mut changeable),
            EthtoolFeatureAttr::Wanted(bits) | EthtoolFeatureAttr::NoChange(bits) => {
                known |= bits.iter().any(|b| b.name == name);
                continue;
            }
            _ => continue,
        };
        if let Some(bit) = bits.iter().find(|b| b.name == name) {
            known = true;
            *slot = bit.value;
        }
    }
    // Features that are neither active nor changeable are not listed at all: a fixed "off".
    let _ = known;
    Some(KnobState {
        value: on_off(active),
        max: None,
        fixed: !changeable,
    })
}
