//! The egress guard: carries an [`EgressPlan`] out and undoes it.
//!
//! [`Egress::setup`] checks that forwarding is on (it only reads the sysctls: the tune step sets
//! them), removes leftovers of a crashed run (a TUN device of our name with no process attached,
//! our nftables table), creates the multi-queue TUN, sets its MTU and brings it up (netlink only,
//! nothing under `/proc/sys` or `/sys`), routes the pools to it and installs the masquerade table.
//! A failure half way undoes what was done so far. [`Egress::teardown`] (or dropping the guard)
//! removes the table, the routes and the TUN device.

use std::io;
use std::path::Path;

use ipnet::IpNet;
use rtnetlink::packet_route::link::InfoKind;

use super::error::{libc_errno, Error, Result};
use super::netlink::Netlink;
use super::nft::NftSocket;
use super::plan::{EgressPlan, Forwarding};
use super::sysctl::{self, PROC_SYS};
use super::tun::TunQueue;

const HINT_TUN_DEVICE: &str =
    "no /dev/net/tun: mount it into the container (hostPath /dev/net/tun, \
     type CharDevice) or enable CONFIG_TUN on the host";

/// The egress of a running relay. Dropping it tears everything down (errors are logged).
#[derive(Debug)]
pub struct Egress {
    plan: EgressPlan,
    netlink: Netlink,
    nft: NftSocket,
    tun_index: Option<u32>,
    queues: Vec<TunQueue>,
    routes: Vec<(IpNet, u32)>,
    table_created: bool,
    torn_down: bool,
}

impl Egress {
    /// Sets the egress up in the calling thread's network namespace; the forwarding sysctls are
    /// read from `/proc/sys`.
    pub fn setup(plan: EgressPlan) -> Result<Egress> {
        Self::setup_with_sysctl_root(plan, Path::new(PROC_SYS))
    }

    /// As [`Egress::setup`], with the sysctl tree under `sysctl_root`.
    pub fn setup_with_sysctl_root(plan: EgressPlan, sysctl_root: &Path) -> Result<Egress> {
        // Before anything is created: a relay that cannot forward must not half start.
        check_forwarding(&plan, sysctl_root)?;
        let netlink = Netlink::open().map_err(|e| Error::step("open rtnetlink socket", e))?;
        let nft = NftSocket::open().map_err(|e| Error::step("open nf_tables netlink socket", e))?;
        let mut egress = Egress {
            plan,
            netlink,
            nft,
            tun_index: None,
            queues: Vec::new(),
            routes: Vec::new(),
            table_created: false,
            torn_down: false,
        };
        // On error `egress` is dropped here, which undoes the steps recorded so far.
        egress.check_egress_interface()?;
        egress.remove_leftovers()?;
        egress.create_tun()?;
        egress.add_routes()?;
        egress.create_table()?;
        tracing::info!(
            tun = %egress.plan.tun.name,
            queues = egress.plan.tun.queues,
            mtu = egress.plan.tun.mtu,
            egress = %egress.plan.egress_interface,
            table = %egress.plan.nft.table,
            "egress: nat mode ready"
        );
        Ok(egress)
    }

    /// The plan this egress carried out.
    pub fn plan(&self) -> &EgressPlan {
        &self.plan
    }

    /// The TUN device's interface index.
    pub fn tun_index(&self) -> Option<u32> {
        self.tun_index
    }

    /// The queues still held by the guard (all of them until [`Egress::take_queues`]).
    pub fn queues_mut(&mut self) -> &mut [TunQueue] {
        &mut self.queues
    }

    /// Hands the queues (index `i` for worker `i`) to the workers. Teardown deletes the device
    /// even while workers still hold queues; their reads and writes then fail.
    pub fn take_queues(&mut self) -> Vec<TunQueue> {
        std::mem::take(&mut self.queues)
    }

    /// Removes the table, the routes and the TUN device. Every step is attempted; the first failure is returned.
    pub fn teardown(mut self) -> Result<()> {
        self.undo()
    }

    fn check_egress_interface(&mut self) -> Result<()> {
        let name = &self.plan.egress_interface;
        match self.netlink.link(name) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Error::step_hint(
                format!("find egress interface {name}"),
                io::Error::from_raw_os_error(libc_errno::ENODEV),
                "check the configured egress interface (`ip link` lists them)",
            )),
            Err(e) => Err(Error::step(format!("find egress interface {name}"), e)),
        }
    }

    fn remove_leftovers(&mut self) -> Result<()> {
        let name = self.plan.tun.name.clone();
        let step = format!("remove stale TUN device {name}");
        if let Some(link) = self
            .netlink
            .link(&name)
            .map_err(|e| Error::step(&step, e))?
        {
            if link.kind != Some(InfoKind::Tun) {
                return Err(Error::step_hint(
                    step,
                    io::Error::from_raw_os_error(libc_errno::EEXIST),
                    "a device of that name exists and is not a TUN device: configure another \
                     TUN name or remove the device",
                ));
            }
            if let Some(queues) = link.tun_queues.filter(|&q| q > 0) {
                tracing::error!(tun = %name, queues, "egress: TUN device is in use");
                return Err(Error::step_hint(
                    step,
                    io::Error::from_raw_os_error(libc_errno::EBUSY),
                    "a process holds queues of this TUN device: is another relay running?",
                ));
            }
            tracing::warn!(tun = %name, index = link.index, "egress: removing stale TUN device left by a previous run");
            self.netlink
                .delete_link(link.index)
                .map_err(|e| Error::step(&step, e))?;
        }
        let table = self.plan.nft.table.clone();
        let removed = self
            .nft
            .delete_table(&table)
            .map_err(|e| Error::step(format!("remove stale nftables table inet {table}"), e))?;
        if removed {
            tracing::warn!(table = %table, "egress: removed stale nftables table inet {table} left by a previous run");
        }
        Ok(())
    }

    fn create_tun(&mut self) -> Result<()> {
        let spec = self.plan.tun.clone();
        let first = tun_rs::DeviceBuilder::new()
            .name(spec.name.clone())
            .multi_queue(true)
            .packet_information(false)
            // Stay down until IPv6 address generation is off and the MTU is set.
            .enable(false)
            .build_sync()
            .map_err(|e| tun_error(&spec.name, 0, e))?;
        let mut devices = Vec::with_capacity(usize::from(spec.queues));
        for queue in 1..spec.queues {
            devices.push(
                first
                    .try_clone()
                    .map_err(|e| tun_error(&spec.name, queue, e))?,
            );
        }
        devices.insert(0, first);
        for (queue, device) in (0u16..).zip(devices) {
            let queue = TunQueue::new(queue, device).map_err(|e| {
                Error::step(
                    format!("make TUN queue {queue} of {} non-blocking", spec.name),
                    e,
                )
            })?;
            self.queues.push(queue);
        }
        let step = format!("look up TUN device {}", spec.name);
        let link = self
            .netlink
            .link(&spec.name)
            .map_err(|e| Error::step(&step, e))?
            .ok_or_else(|| Error::step(&step, io::Error::from_raw_os_error(libc_errno::ENODEV)))?;
        self.tun_index = Some(link.index);
        tracing::info!(tun = %spec.name, index = link.index, queues = spec.queues, "egress: created multi-queue TUN device");
        if let Err(e) = self.netlink.disable_ipv6_addrconf(link.index) {
            // Only noise reduction: without it the kernel's own IPv6 packets (MLD, router
            // solicitations) also come out of the TUN and the workers drop them.
            tracing::warn!(tun = %spec.name, error = %e, "egress: could not turn off IPv6 address generation on the TUN device");
        }
        self.netlink
            .set_mtu_up(link.index, spec.mtu)
            .map_err(|e| Error::step(format!("set MTU {} and up on {}", spec.mtu, spec.name), e))?;
        tracing::info!(tun = %spec.name, mtu = spec.mtu, "egress: TUN device up");
        Ok(())
    }

    fn add_routes(&mut self) -> Result<()> {
        let index = self.tun_index.ok_or_else(|| {
            Error::step(
                "add routes",
                io::Error::other("the TUN device was not created"),
            )
        })?;
        for net in self.plan.routes.clone() {
            self.netlink.add_route(net, index).map_err(|e| {
                Error::step(format!("add route {net} dev {}", self.plan.tun.name), e)
            })?;
            self.routes.push((net, index));
            tracing::info!(route = %net, dev = %self.plan.tun.name, "egress: route added");
        }
        Ok(())
    }

    fn create_table(&mut self) -> Result<()> {
        let spec = self.plan.nft.clone();
        self.nft
            .create(&spec)
            .map_err(|e| Error::step(format!("create nftables table inet {}", spec.table), e))?;
        self.table_created = true;
        tracing::info!(table = %spec.table, rules = spec.postrouting.len() + spec.forward.len(), "egress: nftables masquerade table created");
        tracing::debug!("egress: nftables ruleset:\n{spec}");
        Ok(())
    }

    /// Undoes every recorded step, in reverse order; keeps going after failures.
    fn undo(&mut self) -> Result<()> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let mut first: Option<Error> = None;
        let mut keep = |result: Result<()>| {
            if let Err(e) = result {
                tracing::error!(error = %e, "egress: teardown step failed");
                first.get_or_insert(e);
            }
        };
        if self.table_created {
            let table = self.plan.nft.table.clone();
            keep(
                self.nft
                    .delete_table(&table)
                    .map(|existed| {
                        if existed {
                            tracing::info!(table = %table, "egress: nftables table removed");
                        }
                    })
                    .map_err(|e| Error::step(format!("delete nftables table inet {table}"), e)),
            );
        }
        for (net, index) in std::mem::take(&mut self.routes).into_iter().rev() {
            keep(
                self.netlink
                    .delete_route(net, index)
                    .map(|existed| {
                        if existed {
                            tracing::info!(route = %net, "egress: route removed");
                        }
                    })
                    .map_err(|e| Error::step(format!("delete route {net}"), e)),
            );
        }
        // Closing our queues removes a non-persistent TUN once no worker holds one; delete it
        // explicitly for the case where workers still do.
        self.queues.clear();
        if let Some(index) = self.tun_index.take() {
            let name = self.plan.tun.name.clone();
            let step = format!("delete TUN device {name}");
            match self.netlink.link(&name) {
                Ok(Some(link)) if link.index == index => keep(
                    self.netlink
                        .delete_link(index)
                        .or_else(ignore_gone)
                        .map_err(|e| Error::step(&step, e)),
                ),
                Ok(_) => {}
                Err(e) => keep(Err(Error::step(&step, e))),
            }
            tracing::info!(tun = %name, "egress: TUN device removed");
        }
        first.map_or(Ok(()), Err)
    }
}

/// Checks that every forwarding sysctl the plan needs is on, reading (never writing) them.
fn check_forwarding(plan: &EgressPlan, root: &Path) -> Result<()> {
    for &which in &plan.forwarding {
        let value = sysctl::read(root, which).map_err(|e| {
            let step = format!("read {}", which.key());
            if which == Forwarding::Ipv6 && e.kind() == io::ErrorKind::NotFound {
                Error::step_hint(
                    step,
                    e,
                    "IPv6 is disabled on this host: remove the IPv6 pool or enable IPv6",
                )
            } else {
                Error::step(step, e)
            }
        })?;
        if value != "1" {
            return Err(Error::ForwardingOff {
                key: which.key(),
                value,
            });
        }
        tracing::info!(sysctl = which.key(), "egress: forwarding is on");
    }
    Ok(())
}

fn ignore_gone(e: io::Error) -> io::Result<()> {
    match e.raw_os_error() {
        Some(libc_errno::ENODEV) => Ok(()),
        _ => Err(e),
    }
}

fn tun_error(name: &str, queue: u16, e: io::Error) -> Error {
    let step = format!("open TUN queue {queue} of {name}");
    match e.raw_os_error() {
        Some(libc_errno::ENOENT) | Some(libc_errno::ENODEV) => {
            Error::step_hint(step, e, HINT_TUN_DEVICE)
        }
        Some(libc_errno::EBUSY) => Error::step_hint(
            step,
            e,
            "a device of that name exists with other flags: remove it or configure another name",
        ),
        _ => Error::step(step, e),
    }
}

impl Drop for Egress {
    fn drop(&mut self) {
        if let Err(e) = self.undo() {
            tracing::error!(error = %e, "egress: teardown on drop left something behind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Egress>();
        assert_send::<TunQueue>();
    }

    fn sysctl_tree(v4: &str, v6: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (which, value) in [(Forwarding::Ipv4, Some(v4)), (Forwarding::Ipv6, v6)] {
            if let Some(value) = value {
                let path = dir.path().join(which.relative_path());
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, format!("{value}\n")).expect("write");
            }
        }
        dir
    }

    fn plan(v6: bool) -> EgressPlan {
        let mut config =
            super::super::EgressConfig::new("10.99.0.0/24".parse().expect("pool"), 1, "eth0", 1400);
        if v6 {
            config.pool_v6 = Some("fd99::/64".parse().expect("pool"));
        }
        EgressPlan::new(&config).expect("plan")
    }

    #[test]
    fn forwarding_is_only_read_and_off_is_refused_with_the_fix() {
        let on = sysctl_tree("1", Some("1"));
        check_forwarding(&plan(true), on.path()).expect("both on");
        let v6_off = sysctl_tree("1", Some("0"));
        check_forwarding(&plan(false), v6_off.path()).expect("IPv6 forwarding not needed");
        let err = check_forwarding(&plan(true), v6_off.path()).expect_err("IPv6 forwarding off");
        let text = err.to_string();
        assert!(
            text.starts_with("net.ipv6.conf.all.forwarding is 0 in this network namespace"),
            "{text}"
        );
        assert!(
            text.contains("sysctl -w net.ipv6.conf.all.forwarding=1"),
            "{text}"
        );
        let off = sysctl_tree("0", None);
        let text = check_forwarding(&plan(false), off.path())
            .expect_err("IPv4 forwarding off")
            .to_string();
        assert!(
            text.contains("the tune step sets it (RelayNode tuning)"),
            "{text}"
        );
        // The files were not touched.
        let value = std::fs::read_to_string(off.path().join(Forwarding::Ipv4.relative_path()));
        assert_eq!(value.expect("read"), "0\n");
        let text = check_forwarding(&plan(true), sysctl_tree("1", None).path())
            .expect_err("no IPv6")
            .to_string();
        assert!(text.contains("IPv6 is disabled on this host"), "{text}");
    }

    #[test]
    fn tun_errors_say_what_to_do() {
        let missing = tun_error("oxz0", 0, io::Error::from_raw_os_error(libc_errno::ENOENT));
        let text = missing.to_string();
        assert!(text.contains("open TUN queue 0 of oxz0"), "{text}");
        assert!(text.contains("no /dev/net/tun"), "{text}");
        let busy = tun_error("oxz0", 1, io::Error::from_raw_os_error(libc_errno::EBUSY));
        assert!(busy.to_string().contains("other flags"), "{busy}");
        let denied = tun_error("oxz0", 0, io::Error::from_raw_os_error(libc_errno::EPERM));
        assert!(denied.to_string().contains("CAP_NET_ADMIN"), "{denied}");
    }
}
