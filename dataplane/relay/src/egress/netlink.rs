//! Links and routes over rtnetlink, driven by a small current-thread tokio runtime.
//!
//! Only set-up and teardown use it; the packet path never does. The netlink socket is opened by
//! [`Netlink::open`], so every later call acts on the namespace set-up ran in.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_core::Nla;
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoTun, LinkAttribute,
    LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::route::RouteMessage;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use super::error::{libc_errno, rtnetlink_to_io};

/// What we need to know about an existing link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkState {
    /// Interface index.
    pub(crate) index: u32,
    /// `IFLA_INFO_KIND`, when the link has one.
    pub(crate) kind: Option<InfoKind>,
    /// For a TUN device: how many queues a process holds open (`IFLA_TUN_NUM_QUEUES`).
    pub(crate) tun_queues: Option<u32>,
}

/// `IFLA_TUN_NUM_QUEUES` (linux/if_link.h).
const IFLA_TUN_NUM_QUEUES: u16 = 8;

/// An rtnetlink connection with its own runtime.
#[derive(Debug)]
pub(crate) struct Netlink {
    runtime: tokio::runtime::Runtime,
    handle: Handle,
}

impl Netlink {
    /// Opens the netlink socket and starts its connection task on a private runtime.
    pub(crate) fn open() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let handle = runtime.block_on(async {
            let (connection, handle, _) = rtnetlink::new_connection()?;
            tokio::spawn(connection);
            Ok::<_, io::Error>(handle)
        })?;
        Ok(Netlink { runtime, handle })
    }

    /// The link named `name`, or `None` when there is none.
    pub(crate) fn link(&self, name: &str) -> io::Result<Option<LinkState>> {
        let handle = self.handle.clone();
        let name = name.to_owned();
        self.runtime.block_on(async move {
            let mut links = handle.link().get().match_name(name).execute();
            match links.try_next().await {
                Ok(Some(message)) => Ok(Some(link_state(&message))),
                Ok(None) => Ok(None),
                Err(e) => {
                    let e = rtnetlink_to_io(e);
                    if e.raw_os_error() == Some(libc_errno::ENODEV) {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                }
            }
        })
    }

    /// Deletes the link with this index.
    pub(crate) fn delete_link(&self, index: u32) -> io::Result<()> {
        let handle = self.handle.clone();
        self.runtime.block_on(async move {
            handle
                .link()
                .del(index)
                .execute()
                .await
                .map_err(rtnetlink_to_io)
        })
    }

    /// Turns off IPv6 address generation on the link (`addr_gen_mode none`): no link-local
    /// address, so the kernel sends no router solicitations or MLD reports into the TUN.
    /// Must run while the link is down.
    pub(crate) fn disable_ipv6_addrconf(&self, index: u32) -> io::Result<()> {
        let handle = self.handle.clone();
        self.runtime.block_on(async move {
            let message = LinkUnspec::new_with_index(index)
                .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                    vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
                )]))
                .build();
            handle
                .link()
                .set(message)
                .execute()
                .await
                .map_err(rtnetlink_to_io)
        })
    }

    /// Sets the MTU, turns multicast off (no MLD/IGMP reports into the TUN) and brings the
    /// link up.
    pub(crate) fn set_mtu_up(&self, index: u32, mtu: u32) -> io::Result<()> {
        let handle = self.handle.clone();
        self.runtime.block_on(async move {
            let message = LinkUnspec::new_with_index(index)
                .mtu(mtu)
                .multicast(false)
                .up()
                .build();
            handle
                .link()
                .set(message)
                .execute()
                .await
                .map_err(rtnetlink_to_io)
        })
    }

    /// Adds a route of `net` to the link `index` (fails with `EEXIST` if one exists).
    pub(crate) fn add_route(&self, net: IpNet, index: u32) -> io::Result<()> {
        let handle = self.handle.clone();
        let message = route_message(net, index);
        self.runtime.block_on(async move {
            handle
                .route()
                .add(message)
                .execute()
                .await
                .map_err(rtnetlink_to_io)
        })
    }

    /// Deletes the route of `net` to the link `index`. Returns whether it existed.
    pub(crate) fn delete_route(&self, net: IpNet, index: u32) -> io::Result<bool> {
        let handle = self.handle.clone();
        let message = route_message(net, index);
        self.runtime.block_on(async move {
            match handle.route().del(message).execute().await {
                Ok(()) => Ok(true),
                Err(e) => {
                    let e = rtnetlink_to_io(e);
                    match e.raw_os_error() {
                        Some(libc_errno::ESRCH) | Some(libc_errno::ENODEV) => Ok(false),
                        _ => Err(e),
                    }
                }
            }
        })
    }
}

fn link_state(message: &LinkMessage) -> LinkState {
    let infos = message
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::LinkInfo(infos) => Some(infos.as_slice()),
            _ => None,
        })
        .unwrap_or_default();
    let kind = infos.iter().find_map(|info| match info {
        LinkInfo::Kind(kind) => Some(kind.clone()),
        _ => None,
    });
    let tun_queues = infos.iter().find_map(|info| match info {
        LinkInfo::Data(InfoData::Tun(attributes)) => {
            attributes.iter().find_map(|attribute| match attribute {
                InfoTun::Other(nla)
                    if nla.kind() == IFLA_TUN_NUM_QUEUES && nla.value_len() == 4 =>
                {
                    let mut value = [0u8; 4];
                    nla.emit_value(&mut value);
                    Some(u32::from_ne_bytes(value))
                }
                _ => None,
            })
        }
        _ => None,
    });
    LinkState {
        index: message.header.index,
        kind,
        tun_queues,
    }
}

fn route_message(net: IpNet, index: u32) -> RouteMessage {
    match net {
        IpNet::V4(v4) => RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(v4.network(), v4.prefix_len())
            .output_interface(index)
            .build(),
        IpNet::V6(v6) => RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(v6.network(), v6.prefix_len())
            .output_interface(index)
            .build(),
    }
}
