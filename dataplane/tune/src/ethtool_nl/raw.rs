//! The ethtool SET messages the `ethtool` crate cannot build (rings, coalescing, features),
//! encoded from the kernel's numbers in `include/uapi/linux/ethtool_netlink.h`.

use netlink_packet_core::{DecodeError, Emitable, ParseableParametrized};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use super::super::nic::{NicError, NicKnob};
use super::feature_name;

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

/// The SET message that writes `value` to `knob` of `interface`. Channels are not here: the
/// crate writes those.
pub(super) fn set_message(
    interface: &str,
    knob: NicKnob,
    value: &str,
) -> Result<RawEthtool, NicError> {
    let number = || {
        value
            .parse::<u32>()
            .map_err(|_| NicError(format!("{} takes a number, not {value:?}", knob.name())))
    };
    let flag = || match value {
        "on" => Ok(1u8),
        "off" => Ok(0u8),
        _ => Err(NicError(format!(
            "{} takes on or off, not {value:?}",
            knob.name()
        ))),
    };
    let (cmd, attr) = match knob {
        NicKnob::ChannelsCombined | NicKnob::ChannelsRx | NicKnob::ChannelsTx => {
            return Err(NicError(
                "channels are set through the ethtool crate".into(),
            ))
        }
        NicKnob::RingRx => (MSG_RINGS_SET, nla_u32(A_RINGS_RX, number()?)),
        NicKnob::RingTx => (MSG_RINGS_SET, nla_u32(A_RINGS_TX, number()?)),
        NicKnob::RxUsecs => (MSG_COALESCE_SET, nla_u32(A_COALESCE_RX_USECS, number()?)),
        NicKnob::TxUsecs => (MSG_COALESCE_SET, nla_u32(A_COALESCE_TX_USECS, number()?)),
        NicKnob::RxFrames => (
            MSG_COALESCE_SET,
            nla_u32(A_COALESCE_RX_MAX_FRAMES, number()?),
        ),
        NicKnob::TxFrames => (
            MSG_COALESCE_SET,
            nla_u32(A_COALESCE_TX_MAX_FRAMES, number()?),
        ),
        NicKnob::AdaptiveRx => (
            MSG_COALESCE_SET,
            nla(A_COALESCE_USE_ADAPTIVE_RX, &[flag()?]),
        ),
        NicKnob::AdaptiveTx => (
            MSG_COALESCE_SET,
            nla(A_COALESCE_USE_ADAPTIVE_TX, &[flag()?]),
        ),
        NicKnob::Gro | NicKnob::Lro => {
            // A bitset with a mask (no NOMASK flag): only the named bit changes; it is set when
            // the VALUE flag is present.
            let mut bit = nla(A_BITSET_BIT_NAME, &cstr(feature_name(knob)));
            if flag()? == 1 {
                bit.extend_from_slice(&nla(A_BITSET_BIT_VALUE, &[]));
            }
            let bits = nla(
                A_BITSET_BITS | NLA_F_NESTED,
                &nla(A_BITSET_BITS_BIT | NLA_F_NESTED, &bit),
            );
            (
                MSG_FEATURES_SET,
                nla(A_FEATURES_WANTED | NLA_F_NESTED, &bits),
            )
        }
    };
    let mut payload = nla(
        A_HEADER | NLA_F_NESTED,
        &nla(A_HEADER_DEV_NAME, &cstr(interface)),
    );
    payload.extend_from_slice(&attr);
    Ok(RawEthtool { cmd, payload })
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
pub(super) struct RawEthtool {
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

    #[test]
    fn messages_carry_the_header_then_the_setting() {
        let ring = set_message("eth0", NicKnob::RingRx, "4096").expect("ring");
        assert_eq!(ring.cmd, MSG_RINGS_SET);
        let header = [
            16, 0, 1, 0x80, 9, 0, 2, 0, b'e', b't', b'h', b'0', 0, 0, 0, 0,
        ];
        assert_eq!(&ring.payload[..16], &header);
        assert_eq!(&ring.payload[16..], &[8, 0, 6, 0, 0, 16, 0, 0]);

        let gro_off = set_message("eth0", NicKnob::Gro, "off").expect("gro");
        assert_eq!(gro_off.cmd, MSG_FEATURES_SET);
        let gro_on = set_message("eth0", NicKnob::Gro, "on").expect("gro");
        // "on" adds the 4-byte VALUE flag inside three nests.
        assert_eq!(gro_on.payload.len(), gro_off.payload.len() + 4);
        let name = b"rx-gro\0";
        assert!(gro_off.payload.windows(name.len()).any(|w| w == name));

        assert!(set_message("eth0", NicKnob::AdaptiveRx, "maybe").is_err());
        assert!(set_message("eth0", NicKnob::RxUsecs, "-1").is_err());
        assert!(set_message("eth0", NicKnob::ChannelsRx, "2").is_err());
    }
}
