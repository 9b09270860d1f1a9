//! The nftables table, sent to the kernel as one libnftnl batch over a netfilter netlink socket.
//!
//! [`NftSocket`] opens its socket when created, so that later calls (teardown included) act on the
//! network namespace in which set-up ran, whatever thread they come from.

use std::ffi::{CStr, CString};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_core::{ErrorBuffer, NetlinkBuffer, NLMSG_ERROR};
use nftnl::expr::{
    Bitwise, Cmp, CmpOp, Conntrack, InterfaceName, Ipv4HeaderField, Ipv6HeaderField, Masquerade,
    Meta, NetworkHeaderField, Payload, States, Verdict,
};
use nftnl::{
    Batch, Chain, ChainType, FinalizedBatch, Hook, MsgType, Policy, ProtoFamily, Rule, Table,
};

use super::plan::{NftRule, NftSpec};

/// `NFPROTO_IPV4`.
const NFPROTO_IPV4: u8 = 2;
/// `NFPROTO_IPV6`.
const NFPROTO_IPV6: u8 = 10;
/// `NF_IP_PRI_NAT_SRC` (`srcnat`).
const PRIORITY_SRCNAT: i32 = 100;
/// `NF_IP_PRI_FILTER` (`filter`).
const PRIORITY_FILTER: i32 = 0;
/// Chain names.
const POSTROUTING: &CStr = c"postrouting";
const FORWARD: &CStr = c"forward";

/// A netfilter netlink socket bound in the namespace where it was opened.
#[derive(Debug)]
pub(crate) struct NftSocket {
    socket: netlink_sys::Socket,
    buf: Vec<u8>,
}

impl NftSocket {
    /// Opens and binds the socket.
    pub(crate) fn open() -> io::Result<Self> {
        let mut socket = netlink_sys::Socket::new(netlink_sys::constants::NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        Ok(NftSocket {
            socket,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Creates the table with its chains and rules in one transaction: all or nothing.
    pub(crate) fn create(&mut self, spec: &NftSpec) -> io::Result<()> {
        let table_name = cstring(&spec.table)?;
        let table = Table::new(&table_name, ProtoFamily::Inet);
        let mut batch = Batch::new();
        batch.add(&table, MsgType::Add);

        let mut postrouting = Chain::new(POSTROUTING, &table);
        postrouting.set_hook(Hook::PostRouting, PRIORITY_SRCNAT);
        postrouting.set_type(ChainType::Nat);
        postrouting.set_policy(Policy::Accept);
        batch.add(&postrouting, MsgType::Add);

        let mut forward = Chain::new(FORWARD, &table);
        forward.set_hook(Hook::Forward, PRIORITY_FILTER);
        forward.set_type(ChainType::Filter);
        forward.set_policy(Policy::Accept);
        batch.add(&forward, MsgType::Add);

        for rule in &spec.postrouting {
            batch.add(&build_rule(&postrouting, rule)?, MsgType::Add);
        }
        for rule in &spec.forward {
            batch.add(&build_rule(&forward, rule)?, MsgType::Add);
        }
        self.send(&batch.finalize())
    }

    /// Deletes the table (and everything in it). Returns whether it existed.
    pub(crate) fn delete_table(&mut self, name: &str) -> io::Result<bool> {
        let table_name = cstring(name)?;
        let table = Table::new(&table_name, ProtoFamily::Inet);
        let mut batch = Batch::new();
        batch.add(&table, MsgType::Del);
        match self.send(&batch.finalize()) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(super::error::libc_errno::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends a batch in one `sendmsg` and waits for every ACK; the first error wins.
    fn send(&mut self, batch: &FinalizedBatch) -> io::Result<()> {
        let message: Vec<u8> = batch.iter().flatten().copied().collect();
        self.socket.send(&message, 0)?;
        let expected = batch.sequence_numbers();
        let mut remaining = expected.len();
        while remaining > 0 {
            self.buf.clear();
            self.socket.recv(&mut self.buf, 0)?;
            let mut offset = 0;
            while offset < self.buf.len() {
                let packet = NetlinkBuffer::new_checked(&self.buf[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let length = packet.length() as usize;
                if packet.message_type() == NLMSG_ERROR {
                    let error = ErrorBuffer::new_checked(packet.payload())
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                    if let Some(code) = error.code() {
                        return Err(io::Error::from_raw_os_error(-code.get()));
                    }
                    if expected.contains(&packet.sequence_number()) {
                        remaining = remaining.saturating_sub(1);
                    }
                }
                // Netlink messages are 4-byte aligned.
                offset += (length + 3) & !3;
                if length == 0 {
                    break;
                }
            }
        }
        Ok(())
    }
}

fn cstring(value: &str) -> io::Result<CString> {
    CString::new(value).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("name {value:?} contains a NUL byte"),
        )
    })
}

fn interface(name: &str) -> io::Result<InterfaceName> {
    Ok(InterfaceName::Exact(cstring(name)?))
}

/// `meta nfproto == <family>; payload <saddr|daddr>; & mask; == network`.
fn match_network(rule: &mut Rule<'_>, net: &IpNet, source: bool) {
    match net {
        IpNet::V4(v4) => {
            rule.add_expr(&Meta::NfProto);
            rule.add_expr(&Cmp::new(CmpOp::Eq, NFPROTO_IPV4));
            let field = if source {
                Ipv4HeaderField::Saddr
            } else {
                Ipv4HeaderField::Daddr
            };
            rule.add_expr(&Payload::Network(NetworkHeaderField::Ipv4(field)));
            rule.add_expr(&Bitwise::new(v4.netmask(), Ipv4Addr::UNSPECIFIED));
            rule.add_expr(&Cmp::new(CmpOp::Eq, v4.network()));
        }
        IpNet::V6(v6) => {
            rule.add_expr(&Meta::NfProto);
            rule.add_expr(&Cmp::new(CmpOp::Eq, NFPROTO_IPV6));
            let field = if source {
                Ipv6HeaderField::Saddr
            } else {
                Ipv6HeaderField::Daddr
            };
            rule.add_expr(&Payload::Network(NetworkHeaderField::Ipv6(field)));
            rule.add_expr(&Bitwise::new(v6.netmask(), Ipv6Addr::UNSPECIFIED));
            rule.add_expr(&Cmp::new(CmpOp::Eq, v6.network()));
        }
    }
}

fn match_iifname(rule: &mut Rule<'_>, name: &str) -> io::Result<()> {
    rule.add_expr(&Meta::IifName);
    rule.add_expr(&Cmp::new(CmpOp::Eq, interface(name)?));
    Ok(())
}

fn match_oifname(rule: &mut Rule<'_>, name: &str) -> io::Result<()> {
    rule.add_expr(&Meta::OifName);
    rule.add_expr(&Cmp::new(CmpOp::Eq, interface(name)?));
    Ok(())
}

fn build_rule<'a>(chain: &'a Chain<'_>, spec: &NftRule) -> io::Result<Rule<'a>> {
    let mut rule = Rule::new(chain);
    match spec {
        NftRule::Masquerade { source, oifname } => {
            match_network(&mut rule, source, true);
            match_oifname(&mut rule, oifname)?;
            rule.add_expr(&Masquerade);
        }
        NftRule::AcceptOutbound {
            source,
            iifname,
            oifname,
        } => {
            match_iifname(&mut rule, iifname)?;
            match_oifname(&mut rule, oifname)?;
            match_network(&mut rule, source, true);
            rule.add_expr(&Verdict::Accept);
        }
        NftRule::AcceptReturn {
            destination,
            iifname,
            oifname,
        } => {
            match_iifname(&mut rule, iifname)?;
            match_oifname(&mut rule, oifname)?;
            match_network(&mut rule, destination, false);
            rule.add_expr(&Conntrack::State);
            let states = (States::ESTABLISHED | States::RELATED).bits();
            rule.add_expr(&Bitwise::new(states, 0u32));
            rule.add_expr(&Cmp::new(CmpOp::Neq, 0u32));
            rule.add_expr(&Verdict::Accept);
        }
    }
    Ok(rule)
}
