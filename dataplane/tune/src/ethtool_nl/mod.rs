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

use ethtool::{EthtoolAttr, EthtoolError, EthtoolHandle};
use futures_util::{StreamExt, TryStreamExt};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_generic::GenlMessage;

mod raw;
mod reply;

use super::nic::{KnobState, NicControl, NicError, NicKnob};

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

    fn send(&self, message: raw::RawEthtool) -> Result<(), NicError> {
        let mut message = NetlinkMessage::from(GenlMessage::from_payload(message));
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
        Ok(reply::knob_state(&attrs, knob))
    }

    fn set(&self, interface: &str, knob: NicKnob, value: &str) -> Result<(), NicError> {
        let channels = match knob {
            NicKnob::ChannelsCombined | NicKnob::ChannelsRx | NicKnob::ChannelsTx => knob,
            _ => return self.send(raw::set_message(interface, knob, value)?),
        };
        let n = value
            .parse::<u32>()
            .map_err(|_| NicError(format!("{} takes a number, not {value:?}", knob.name())))?;
        let mut handle = self.handle()?;
        self.runtime
            .block_on(async {
                let request = handle.channel().set(interface);
                match channels {
                    NicKnob::ChannelsRx => request.rx_count(n),
                    NicKnob::ChannelsTx => request.tx_count(n),
                    _ => request.combined_count(n),
                }
                .execute()
                .await
            })
            .map_err(|e| NicError(format!("ethtool -L {interface}: {e}")))
    }
}
