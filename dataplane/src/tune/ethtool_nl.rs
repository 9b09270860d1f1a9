//! The real [`NicControl`]: ethtool over generic netlink.
//!
//! Reads (channels, rings, coalescing, features) and the channel write use the `ethtool` crate
//! (rust-netlink). That crate (0.3) cannot write rings, coalescing or features (its feature
//! encoder is a `todo!()`), so those three SET messages are built here from the kernel's
//! attribute numbers (`include/uapi/linux/ethtool_netlink.h`) and sent on the crate's own
//! generic-netlink handle. Everything runs on a small current-thread tokio runtime: this is the
//! async edge of an otherwise synchronous, one-shot tuner.

use std::cell::OnceCell;
use std::fmt::Debug;

use ethtool::{
    EthtoolAttr, EthtoolChannelAttr, EthtoolCoalesceAttr, EthtoolError, EthtoolFeatureAttr,
    EthtoolHandle, EthtoolRingAttr,
};
use futures_util::{StreamExt, TryStreamExt};
use netlink_packet_core::{
    DecodeError, Emitable, NetlinkMessage, NetlinkPayload, ParseableParametrized, NLM_F_ACK,
    NLM_F_REQUEST,
};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};

use super::nic::{on_off, KnobState, NicControl, NicError, NicKnob};

// Message and attribute numbers from include/uapi/linux/ethtool_netlink.h.
const MSG_FEATURES_SET: u8 = 12;
const MSG_RINGS_SET: u8 = 16;
const MSG_COALESCE_SET: u8 = 20;
const A_HEADER: u16 = 1; // ETHTOOL_A_{FEATURES,RINGS,COALESCE}_HEADER
const A_HEADER_DEV_NAME: u16 = 2;
const A_RINGS_RX: u16 = 6;
const A_RINGS_TX: u16 = 9;
const A_COALESCE_RX_USECS: u16 = 2;
const A_COALESCE_RX_MAX_FRAMES: u16 = 3;
const A_COALESCE_TX_USECS: u16 = 6;
const A_COALESCE_TX_MAX_FRAMES: u16 = 7;
const A_COALESCE_USE_ADAPTIVE_RX: u16 = 11;
const A_COALESCE_USE_ADAPTIVE_TX: u16 = 12;
const A_FEATURES_WANTED: u16 = 3;
const A_BITSET_BITS: u16 = 3;
const A_BITSET_BITS_BIT: u16 = 1;
const A_BITSET_BIT_NAME: u16 = 2;
const A_BITSET_BIT_VALUE: u16 = 3;
const NLA_F_NESTED: u16 = 1 << 15;

/// [`NicControl`] through ethtool netlink, in the network namespace of the calling thread.
pub struct NetlinkNic {
    runtime: tokio::runtime::Runtime,
    handle: OnceCell<EthtoolHandle>,
}

impl Debug for NetlinkNic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetlinkNic")
    }
}

impl NetlinkNic {
    /// Builds the runtime; the netlink socket opens on first use.
    pub fn new() -> Result<Self, NicError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| NicError(format!("cannot start the netlink runtime: {e}")))?;
        Ok(NetlinkNic {
            runtime,
            handle: OnceCell::new(),
        })
    }

    fn handle(&self) -> Result<EthtoolHandle, NicError> {
        if let Some(handle) = self.handle.get() {
            return Ok(handle.clone());
        }
        let _guard = self.runtime.enter();
        let (connection, handle, _) = ethtool::new_connection()
            .map_err(|e| NicError(format!("cannot open an ethtool netlink socket: {e}")))?;
        self.runtime.spawn(connection);
        Ok(self.handle.get_or_init(|| handle).clone())
    }

    fn get(&self, interface: &str, kind: Kind) -> Result<Option<Vec<EthtoolAttr>>, NicError> {
        let mut handle = self.handle()?;
        let result: Result<Vec<EthtoolAttr>, EthtoolError> = self.runtime.block_on(async {
            let stream = match kind {
                Kind::Channels => handle
                    .channel()
                    .get(Some(interface))
                    .execute()
                    .await?
                    .boxed(),
                Kind::Rings => handle.ring().get(Some(interface)).execute().await?.boxed(),
                Kind::Coalesce => handle
                    .coalesce()
                    .get(Some(interface))
                    .execute()
                    .await?
                    .boxed(),
                Kind::Features => handle
                    .feature()
                    .get(Some(interface))
                    .execute()
                    .await?
                    .boxed(),
            };
            let messages: Vec<_> = stream.try_collect().await?;
            Ok(messages.into_iter().flat_map(|m| m.payload.nlas).collect())
        });
        match result {
            Ok(attrs) => Ok(Some(attrs)),
            Err(EthtoolError::NetlinkError(e)) if e.code.map(|c| c.get()) == Some(-95) => Ok(None),
            Err(e) => Err(NicError(format!("ethtool netlink get on {interface}: {e}"))),
        }
    }

    fn raw_set(&self, interface: &str, cmd: u8, attrs: &[Vec<u8>]) -> Result<(), NicError> {
        let mut payload = nla(
            A_HEADER | NLA_F_NESTED,
            &nla(A_HEADER_DEV_NAME, &cstr(interface)),
        );
        for attr in attrs {
            payload.extend_from_slice(attr);
        }
        let mut message =
            NetlinkMessage::from(GenlMessage::from_payload(RawEthtool { cmd, payload }));
        message.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        let mut handle = self.handle()?.handle;
        self.runtime.block_on(async {
            let mut replies = handle
                .request(message)
                .await
                .map_err(|e| NicError(format!("ethtool netlink request: {e}")))?;
            while let Some(reply) = replies.next().await {
                let reply = reply.map_err(|e| NicError(format!("bad netlink reply: {e}")))?;
                if let NetlinkPayload::Error(e) = reply.payload {
                    if e.code.is_some() {
                        return Err(NicError(e.to_io().to_string()));
                    }
                }
            }
            Ok(())
        })
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Channels,
    Rings,
    Coalesce,
    Features,
}

fn kind_of(knob: NicKnob) -> Kind {
    match knob {
        NicKnob::ChannelsCombined | NicKnob::ChannelsRx | NicKnob::ChannelsTx => Kind::Channels,
        NicKnob::RingRx | NicKnob::RingTx => Kind::Rings,
        NicKnob::Gro | NicKnob::Lro => Kind::Features,
        _ => Kind::Coalesce,
    }
}

fn feature_name(knob: NicKnob) -> &'static str {
    if knob == NicKnob::Gro {
        "rx-gro"
    } else {
        "rx-lro"
    }
}

impl NicControl for NetlinkNic {
    fn query(&self, interface: &str, knob: NicKnob) -> Result<Option<KnobState>, NicError> {
        let Some(attrs) = self.get(interface, kind_of(knob))? else {
            return Ok(None);
        };
        Ok(knob_state(&attrs, knob))
    }

    fn set(&self, interface: &str, knob: NicKnob, value: &str) -> Result<(), NicError> {
        let number = || {
            value
                .parse::<u32>()
                .map_err(|_| NicError(format!("{} takes a number, not {value:?}", knob.name())))
        };
        let flag = || match value {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(NicError(format!(
                "{} takes on or off, not {value:?}",
                knob.name()
            ))),
        };
        match knob {
            NicKnob::ChannelsCombined | NicKnob::ChannelsRx | NicKnob::ChannelsTx => {
                let n = number()?;
                let mut handle = self.handle()?;
                self.runtime
                    .block_on(async {
                        let request = handle.channel().set(interface);
                        match knob {
                            NicKnob::ChannelsRx => request.rx_count(n),
                            NicKnob::ChannelsTx => request.tx_count(n),
                            _ => request.combined_count(n),
                        }
                        .execute()
                        .await
                    })
                    .map_err(|e| NicError(format!("ethtool -L {interface}: {e}")))
            }
            NicKnob::RingRx => {
                self.raw_set(interface, MSG_RINGS_SET, &[nla_u32(A_RINGS_RX, number()?)])
            }
            NicKnob::RingTx => {
                self.raw_set(interface, MSG_RINGS_SET, &[nla_u32(A_RINGS_TX, number()?)])
            }
            NicKnob::RxUsecs => self.raw_set(
                interface,
                MSG_COALESCE_SET,
                &[nla_u32(A_COALESCE_RX_USECS, number()?)],
            ),
            NicKnob::TxUsecs => self.raw_set(
                interface,
                MSG_COALESCE_SET,
                &[nla_u32(A_COALESCE_TX_USECS, number()?)],
            ),
            NicKnob::RxFrames => self.raw_set(
                interface,
                MSG_COALESCE_SET,
                &[nla_u32(A_COALESCE_RX_MAX_FRAMES, number()?)],
            ),
            NicKnob::TxFrames => self.raw_set(
                interface,
                MSG_COALESCE_SET,
                &[nla_u32(A_COALESCE_TX_MAX_FRAMES, number()?)],
            ),
            NicKnob::AdaptiveRx => self.raw_set(
                interface,
                MSG_COALESCE_SET,
                &[nla(A_COALESCE_USE_ADAPTIVE_RX, &[u8::from(flag()?)])],
            ),
            NicKnob::AdaptiveTx => self.raw_set(
                interface,
                MSG_COALESCE_SET,
                &[nla(A_COALESCE_USE_ADAPTIVE_TX, &[u8::from(flag()?)])],
            ),
            NicKnob::Gro | NicKnob::Lro => {
                let on = flag()?;
                let mut bit = nla(A_BITSET_BIT_NAME, &cstr(feature_name(knob)));
                if on {
                    bit.extend_from_slice(&nla(A_BITSET_BIT_VALUE, &[]));
                }
                let bits = nla(
                    A_BITSET_BITS | NLA_F_NESTED,
                    &nla(A_BITSET_BITS_BIT | NLA_F_NESTED, &bit),
                );
                self.raw_set(
                    interface,
                    MSG_FEATURES_SET,
                    &[nla(A_FEATURES_WANTED | NLA_F_NESTED, &bits)],
                )
            }
        }
    }
}

/// Picks one knob's state out of a GET reply. `None` when the driver does not report it (the
/// kernel leaves out attributes a driver does not support).
fn knob_state(attrs: &[EthtoolAttr], knob: NicKnob) -> Option<KnobState> {
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

/// A netlink attribute: length, type, value, padded to 4 bytes.
fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = Vec::with_capacity((len + 3) & !3);
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize((len + 3) & !3, 0);
    out
}

fn nla_u32(kind: u16, value: u32) -> Vec<u8> {
    nla(kind, &value.to_ne_bytes())
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// A pre-encoded ethtool generic-netlink message (for the SET commands the crate lacks).
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawEthtool {
    cmd: u8,
    payload: Vec<u8>,
}

impl GenlFamily for RawEthtool {
    fn family_name() -> &'static str {
        "ethtool"
    }

    fn command(&self) -> u8 {
        self.cmd
    }

    fn version(&self) -> u8 {
        1
    }
}

impl Emitable for RawEthtool {
    fn buffer_len(&self) -> usize {
        self.payload.len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        buffer[..self.payload.len()].copy_from_slice(&self.payload);
    }
}

impl ParseableParametrized<[u8], GenlHeader> for RawEthtool {
    fn parse_with_param(buffer: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(RawEthtool {
            cmd: header.cmd,
            payload: buffer.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested() {
        assert_eq!(nla_u32(6, 512), [8, 0, 6, 0, 0, 2, 0, 0]);
        let name = nla(A_HEADER_DEV_NAME, &cstr("eth0"));
        assert_eq!(name.len(), 12);
        assert_eq!(&name[..4], &[9, 0, 2, 0]);
        let flag = nla(A_BITSET_BIT_VALUE, &[]);
        assert_eq!(flag, [4, 0, 3, 0]);
    }
}
