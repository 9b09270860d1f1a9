//! NIC settings (channels, rings, coalescing, GRO/LRO): the [`NicControl`] trait that the real
//! ethtool-netlink backend ([`super::ethtool_nl::NetlinkNic`]) and test fakes implement, and the
//! plan-to-steps translation with its validation.

use oxidize_crds::tuning::NicPlan;
use serde::{Deserialize, Serialize};

use super::step::{Check, Step, Target};

/// One NIC setting the tuner can read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NicKnob {
    /// Combined channels (`ethtool -L combined`).
    ChannelsCombined,
    /// RX channels (`ethtool -L rx`).
    ChannelsRx,
    /// TX channels (`ethtool -L tx`).
    ChannelsTx,
    /// RX ring size (`ethtool -G rx`).
    RingRx,
    /// TX ring size (`ethtool -G tx`).
    RingTx,
    /// `ethtool -C rx-usecs`.
    RxUsecs,
    /// `ethtool -C tx-usecs`.
    TxUsecs,
    /// `ethtool -C rx-frames`.
    RxFrames,
    /// `ethtool -C tx-frames`.
    TxFrames,
    /// `ethtool -C adaptive-rx`.
    AdaptiveRx,
    /// `ethtool -C adaptive-tx`.
    AdaptiveTx,
    /// `ethtool -K gro` (feature `rx-gro`).
    Gro,
    /// `ethtool -K lro` (feature `rx-lro`).
    Lro,
}

impl NicKnob {
    /// The name used in reports, as ethtool spells it.
    pub fn name(self) -> &'static str {
        match self {
            NicKnob::ChannelsCombined => "channels combined",
            NicKnob::ChannelsRx => "channels rx",
            NicKnob::ChannelsTx => "channels tx",
            NicKnob::RingRx => "ring rx",
            NicKnob::RingTx => "ring tx",
            NicKnob::RxUsecs => "coalesce rx-usecs",
            NicKnob::TxUsecs => "coalesce tx-usecs",
            NicKnob::RxFrames => "coalesce rx-frames",
            NicKnob::TxFrames => "coalesce tx-frames",
            NicKnob::AdaptiveRx => "coalesce adaptive-rx",
            NicKnob::AdaptiveTx => "coalesce adaptive-tx",
            NicKnob::Gro => "gro",
            NicKnob::Lro => "lro",
        }
    }

    /// Whether the value is `on`/`off` rather than a number.
    pub fn is_bool(self) -> bool {
        matches!(
            self,
            NicKnob::AdaptiveRx | NicKnob::AdaptiveTx | NicKnob::Gro | NicKnob::Lro
        )
    }
}

/// The current state of one setting on one NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnobState {
    /// Current value: a number, or `on`/`off` for boolean settings.
    pub value: String,
    /// Largest value the driver accepts (channels and rings), when it says.
    pub max: Option<u32>,
    /// The driver does not let this setting change (`[fixed]` in `ethtool -k`).
    pub fixed: bool,
}

/// A NIC operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NicError(pub String);

/// Reads and writes NIC settings of an interface.
pub trait NicControl {
    /// The setting's current state, or `None` when the driver does not have it.
    fn query(&self, interface: &str, knob: NicKnob) -> Result<Option<KnobState>, NicError>;
    /// Sets one setting (`value` as [`KnobState::value`] spells it).
    fn set(&self, interface: &str, knob: NicKnob, value: &str) -> Result<(), NicError>;
}

/// Boolean as the report spells it.
pub(crate) fn on_off(value: bool) -> String {
    if value { "on" } else { "off" }.to_owned()
}

/// The plan's NIC settings as (knob, wanted value) pairs, in apply order: channels first (they
/// re-create queues and IRQs), then rings, coalescing, offloads.
pub(crate) fn wanted(plan: &NicPlan) -> Vec<(NicKnob, String)> {
    let mut out = Vec::new();
    let mut num = |knob, value: Option<u32>| {
        if let Some(v) = value {
            out.push((knob, v.to_string()));
        }
    };
    if let Some(c) = &plan.channels {
        num(NicKnob::ChannelsCombined, c.combined);
        num(NicKnob::ChannelsRx, c.rx);
        num(NicKnob::ChannelsTx, c.tx);
    }
    if let Some(r) = &plan.rings {
        num(NicKnob::RingRx, r.rx);
        num(NicKnob::RingTx, r.tx);
    }
    if let Some(c) = &plan.coalescing {
        num(NicKnob::RxUsecs, c.rx_usecs);
        num(NicKnob::TxUsecs, c.tx_usecs);
        num(NicKnob::RxFrames, c.rx_frames);
        num(NicKnob::TxFrames, c.tx_frames);
    }
    let mut flag = |knob, value: Option<bool>| {
        if let Some(v) = value {
            out.push((knob, on_off(v)));
        }
    };
    if let Some(c) = &plan.coalescing {
        flag(NicKnob::AdaptiveRx, c.adaptive_rx);
        flag(NicKnob::AdaptiveTx, c.adaptive_tx);
    }
    flag(NicKnob::Gro, plan.gro);
    flag(NicKnob::Lro, plan.lro);
    out
}

/// Validates the plan's NIC settings against what the driver reports and returns the steps.
/// `errors` gets one entry per wrong item.
pub(crate) fn steps(
    interface: &str,
    plan: &NicPlan,
    nic: &dyn NicControl,
    errors: &mut Vec<String>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut wanted = wanted(plan);
    if let Some(channels) = &plan.channels {
        let planned = |k: &NicKnob| {
            matches!(
                k,
                NicKnob::ChannelsCombined | NicKnob::ChannelsRx | NicKnob::ChannelsTx
            )
        };
        match channel_form(interface, channels, nic) {
            Ok(Some(form)) => {
                wanted.retain(|(k, _)| !planned(k));
                wanted.splice(0..0, form);
            }
            Ok(None) => {}
            Err(e) => {
                errors.push(e);
                wanted.retain(|(k, _)| !planned(k));
            }
        }
    }
    for (knob, want) in wanted {
        let item = format!("nic {interface} {}", knob.name());
        let state = match nic.query(interface, knob) {
            Ok(Some(state)) => state,
            Ok(None) => {
                errors.push(format!(
                    "{item}: the driver does not support this setting; remove it from the plan"
                ));
                continue;
            }
            Err(e) => {
                errors.push(format!("{item}: cannot read it: {e}"));
                continue;
            }
        };
        if let (Some(max), Ok(value)) = (state.max, want.parse::<u32>()) {
            if value > max {
                errors.push(format!(
                    "{item}: {value} is more than the driver's maximum {max}"
                ));
                continue;
            }
        }
        if state.fixed && state.value != want {
            errors.push(format!(
                "{item}: the driver fixes it at {} and cannot set {want}; remove it from the plan",
                state.value
            ));
            continue;
        }
        steps.push(Step {
            item,
            target: Target::Nic {
                interface: interface.to_owned(),
                knob,
            },
            want,
            check: Check::Exact,
        });
    }
    steps
}

/// Chooses the form of a channel count that the driver has. A plan that gives only `combined`
/// (what the operator renders for `nic.channels`) becomes `combined N` when the driver has
/// combined channels, else `rx N` + `tx N` when it has separate RX and TX channels (veth, some
/// virtual and older NICs). `Ok(None)`: the plan names its channel kinds itself (taken as is).
/// The error, when neither form fits, names what the driver offers (`ethtool -l` maximums).
fn channel_form(
    interface: &str,
    channels: &oxidize_crds::tuning::ChannelsPlan,
    nic: &dyn NicControl,
) -> Result<Option<Vec<(NicKnob, String)>>, String> {
    let (Some(n), None, None) = (channels.combined, channels.rx, channels.tx) else {
        return Ok(None);
    };
    let item = format!("nic {interface} channels");
    let read = |knob| {
        nic.query(interface, knob)
            .map_err(|e| format!("{item}: cannot read {}: {e}", knob.name()))
    };
    let combined = read(NicKnob::ChannelsCombined)?;
    if combined.is_some() {
        return Ok(Some(vec![(NicKnob::ChannelsCombined, n.to_string())]));
    }
    let rx = read(NicKnob::ChannelsRx)?;
    let tx = read(NicKnob::ChannelsTx)?;
    if rx.is_some() && tx.is_some() {
        return Ok(Some(vec![
            (NicKnob::ChannelsRx, n.to_string()),
            (NicKnob::ChannelsTx, n.to_string()),
        ]));
    }
    let max = |s: &Option<KnobState>| s.as_ref().and_then(|s| s.max).unwrap_or(0);
    Err(format!(
        "{item}: {n} channels need combined channels or both rx and tx channels, but the driver \
         offers (`ethtool -l {interface}` maximums) rx {}, tx {}, combined {}; remove \
         nic.channels from the plan",
        max(&rx),
        max(&tx),
        max(&combined)
    ))
}

/// The queue count the NIC will have after the plan: planned combined (or rx) channels, else the
/// driver's current count. `None` when the driver reports no channels.
pub(crate) fn queue_count(
    interface: &str,
    plan: Option<&NicPlan>,
    nic: &dyn NicControl,
) -> Option<u32> {
    let channels = plan.and_then(|p| p.channels.as_ref());
    if let Some(n) = channels.and_then(|c| c.combined.or(c.rx)) {
        return Some(n);
    }
    let read = |knob| {
        nic.query(interface, knob)
            .ok()
            .flatten()
            .and_then(|s| s.value.parse::<u32>().ok())
    };
    match (read(NicKnob::ChannelsCombined), read(NicKnob::ChannelsRx)) {
        (None, None) => None,
        (c, r) => Some(c.unwrap_or(0) + r.unwrap_or(0)),
    }
}
