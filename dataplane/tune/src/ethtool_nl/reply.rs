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

/// A feature from the FEATURES_GET bitsets: `Active` says whether it is on, `Hw` whether it can
/// change. A feature in neither list is off and fixed (drivers without it list nothing).
fn feature_state(attrs: &[EthtoolAttr], name: &str) -> Option<KnobState> {
    let listed =
        |bits: &[ethtool::EthtoolFeatureBit]| bits.iter().any(|b| b.name == name && b.value);
    let mut active = false;
    let mut changeable = false;
    for attr in attrs {
        match attr {
            EthtoolAttr::Feature(EthtoolFeatureAttr::Active(bits)) => active |= listed(bits),
            EthtoolAttr::Feature(EthtoolFeatureAttr::Hw(bits)) => changeable |= listed(bits),
            _ => {}
        }
    }
    Some(KnobState {
        value: on_off(active),
        max: None,
        fixed: !changeable,
    })
}

#[cfg(test)]
mod tests {
    use ethtool::EthtoolFeatureBit;

    use super::*;

    fn bit(name: &str) -> EthtoolFeatureBit {
        EthtoolFeatureBit {
            index: 0,
            name: name.into(),
            value: true,
        }
    }

    #[test]
    fn channels_report_value_and_maximum_and_unsupported_kinds_are_none() {
        let attrs = vec![
            EthtoolAttr::Channel(EthtoolChannelAttr::RxMax(4)),
            EthtoolAttr::Channel(EthtoolChannelAttr::RxCount(2)),
            EthtoolAttr::Channel(EthtoolChannelAttr::CombinedMax(0)),
            EthtoolAttr::Channel(EthtoolChannelAttr::CombinedCount(0)),
        ];
        let rx = knob_state(&attrs, NicKnob::ChannelsRx).expect("rx");
        assert_eq!((rx.value.as_str(), rx.max), ("2", Some(4)));
        assert_eq!(knob_state(&attrs, NicKnob::ChannelsCombined), None);
        assert_eq!(knob_state(&attrs, NicKnob::ChannelsTx), None);
    }

    /// A driver that answers every GET with `attrs` (an ethtool netlink reply).
    struct FakeReply(Vec<EthtoolAttr>);

    impl crate::nic::NicControl for FakeReply {
        fn query(&self, _: &str, knob: NicKnob) -> Result<Option<KnobState>, crate::nic::NicError> {
            Ok(knob_state(&self.0, knob))
        }
        fn set(&self, _: &str, _: NicKnob, _: &str) -> Result<(), crate::nic::NicError> {
            unreachable!("planning only reads")
        }
    }

    fn channels(rx_max: u32, tx_max: u32, combined_max: u32) -> FakeReply {
        FakeReply(vec![
            EthtoolAttr::Channel(EthtoolChannelAttr::RxMax(rx_max)),
            EthtoolAttr::Channel(EthtoolChannelAttr::TxMax(tx_max)),
            EthtoolAttr::Channel(EthtoolChannelAttr::OtherMax(0)),
            EthtoolAttr::Channel(EthtoolChannelAttr::CombinedMax(combined_max)),
            EthtoolAttr::Channel(EthtoolChannelAttr::RxCount(rx_max.min(1))),
            EthtoolAttr::Channel(EthtoolChannelAttr::TxCount(tx_max.min(1))),
            EthtoolAttr::Channel(EthtoolChannelAttr::CombinedCount(combined_max.min(1))),
        ])
    }

    /// The channel steps planned for `nic.channels: n` (rendered as `combined: n`).
    fn plan_channels(nic: &FakeReply, n: u32) -> (Vec<(NicKnob, String)>, Vec<String>) {
        let plan = oxidize_crds::tuning::NicPlan {
            channels: Some(oxidize_crds::tuning::ChannelsPlan {
                combined: Some(n),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut errors = Vec::new();
        let steps = crate::nic::steps("eth9", &plan, nic, &mut errors)
            .into_iter()
            .map(|s| match s.target {
                crate::step::Target::Nic { knob, .. } => (knob, s.want),
                other => panic!("not a NIC step: {other:?}"),
            })
            .collect();
        (steps, errors)
    }

    #[test]
    fn channels_take_the_form_the_driver_has() {
        // A NIC with combined channels (most multi-queue NICs).
        let (steps, errors) = plan_channels(&channels(0, 0, 8), 2);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(steps, [(NicKnob::ChannelsCombined, "2".to_owned())]);
        // A veth: rx and tx channels only; both are set to the count.
        let (steps, errors) = plan_channels(&channels(4, 4, 0), 2);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(
            steps,
            [
                (NicKnob::ChannelsRx, "2".to_owned()),
                (NicKnob::ChannelsTx, "2".to_owned())
            ]
        );
        // More than the driver's maximum, in the form it has.
        let (_, errors) = plan_channels(&channels(4, 4, 0), 8);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("channels rx: 8 is more than the driver's maximum 4"),
            "{errors:?}"
        );
    }

    #[test]
    fn channels_no_form_fits_names_what_the_driver_offers() {
        // RX channels only (no TX, no combined).
        let (steps, errors) = plan_channels(&channels(4, 0, 0), 2);
        assert_eq!(steps, []);
        assert_eq!(
            errors,
            [
                "nic eth9 channels: 2 channels need combined channels or both rx and tx channels, \
              but the driver offers (`ethtool -l eth9` maximums) rx 4, tx 0, combined 0; remove \
              nic.channels from the plan"
            ]
        );
        // A driver without channel support at all.
        let (_, errors) = plan_channels(&FakeReply(Vec::new()), 2);
        assert!(errors[0].contains("rx 0, tx 0, combined 0"), "{errors:?}");
    }

    #[test]
    fn coalescing_and_rings_are_read() {
        let attrs = vec![
            EthtoolAttr::Coalesce(EthtoolCoalesceAttr::RxUsecs(8)),
            EthtoolAttr::Coalesce(EthtoolCoalesceAttr::UseAdaptiveRx(true)),
            EthtoolAttr::Ring(EthtoolRingAttr::TxMax(4096)),
            EthtoolAttr::Ring(EthtoolRingAttr::Tx(512)),
        ];
        assert_eq!(
            knob_state(&attrs, NicKnob::RxUsecs).map(|s| s.value),
            Some("8".into())
        );
        assert_eq!(
            knob_state(&attrs, NicKnob::AdaptiveRx).map(|s| s.value),
            Some("on".into())
        );
        let tx = knob_state(&attrs, NicKnob::RingTx).expect("tx ring");
        assert_eq!((tx.value.as_str(), tx.max), ("512", Some(4096)));
        assert_eq!(knob_state(&attrs, NicKnob::TxUsecs), None);
    }

    #[test]
    fn features_are_active_or_not_and_fixed_unless_changeable() {
        let attrs = vec![
            EthtoolAttr::Feature(EthtoolFeatureAttr::Hw(vec![bit("rx-gro"), bit("tx-tso")])),
            EthtoolAttr::Feature(EthtoolFeatureAttr::Active(vec![bit("rx-gro")])),
        ];
        let gro = knob_state(&attrs, NicKnob::Gro).expect("gro");
        assert_eq!((gro.value.as_str(), gro.fixed), ("on", false));
        let lro = knob_state(&attrs, NicKnob::Lro).expect("lro");
        assert_eq!((lro.value.as_str(), lro.fixed), ("off", true));
    }
}
