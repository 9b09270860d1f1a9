//! The XDP program: load (libbpf-rs skeleton), relay ports, attach through a bpf_link, XSKMAP
//! slots, per-CPU counters, and `BPF_PROG_TEST_RUN` for tests.

#![forbid(unsafe_code)]

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, MapHandle};

use crate::skel::RelayXdpSkelBuilder;
use crate::stats::{XdpCounter, XdpCounters};
use crate::syscall::{self, TestRun};
use crate::{Error, Result};

/// Entries of the XSKMAP: the highest queue index the program can redirect is one less.
pub const MAX_QUEUES: u32 = 256;
/// Entries of the relay-port map.
pub const MAX_PORTS: usize = 16;

/// How the program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttachMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`): refused if the driver has no XDP support.
    #[default]
    Native,
    /// Generic/SKB mode (`XDP_FLAGS_SKB_MODE`): works everywhere, slower; only when asked for.
    Generic,
}

impl AttachMode {
    /// `native` or `generic`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        }
    }

    fn flags(self) -> u32 {
        match self {
            AttachMode::Native => libbpf_sys::XDP_FLAGS_DRV_MODE,
            AttachMode::Generic => libbpf_sys::XDP_FLAGS_SKB_MODE,
        }
    }
}

/// The loaded XDP program, optionally attached to one interface.
///
/// Attachment is a bpf_link owned by this value: dropping it, or the process dying in any way,
/// detaches the program.
#[derive(Debug)]
pub struct XdpProgram {
    prog: OwnedFd,
    xsks: MapHandle,
    ports: MapHandle,
    counters: MapHandle,
    queue_counters: MapHandle,
    link: Option<Attachment>,
}

#[derive(Debug)]
struct Attachment {
    _link: OwnedFd,
    ifname: String,
    ifindex: u32,
    mode: AttachMode,
}

impl XdpProgram {
    /// Loads the program and sets the relay's UDP ports, without attaching it (tests use
    /// [`XdpProgram::test_run`] on such a program).
    pub fn load(ports: &[u16]) -> Result<Self> {
        if ports.is_empty() || ports.len() > MAX_PORTS {
            return Err(Error::Config(format!(
                "between 1 and {MAX_PORTS} relay ports are needed, got {}",
                ports.len()
            )));
        }
        let mut storage = MaybeUninit::uninit();
        let open = RelayXdpSkelBuilder::default()
            .open(&mut storage)
            .map_err(|e| Error::Load(format!("open: {e:#}")))?;
        let skel = open.load().map_err(|e| {
            Error::Load(format!(
                "{e:#} (needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON, or root: without \
                 CAP_PERFMON the verifier refuses the program's packet pointer arithmetic; \
                 see docs/xdp.md)"
            ))
        })?;
        let handle = |map: &libbpf_rs::Map<'_>| {
            MapHandle::try_from(map).map_err(|e| Error::Load(format!("map handle: {e}")))
        };
        let program = XdpProgram {
            prog: skel
                .progs
                .relay_xdp
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| Error::syscall("dup(program fd)", e))?,
            xsks: handle(&skel.maps.xsks_map)?,
            ports: handle(&skel.maps.relay_ports)?,
            counters: handle(&skel.maps.counters)?,
            queue_counters: handle(&skel.maps.queue_counters)?,
            link: None,
        };
        for &port in ports {
            program
                .ports
                .update(&port.to_ne_bytes(), &[1u8], MapFlags::ANY)
                .map_err(|e| Error::Load(format!("setting relay port {port}: {e}")))?;
        }
        Ok(program)
    }

    /// Loads the program with `ports` and attaches it to `ifname` (in the calling thread's
    /// network namespace) in `mode`.
    pub fn load_and_attach(ifname: &str, ports: &[u16], mode: AttachMode) -> Result<Self> {
        let mut program = Self::load(ports)?;
        program.attach(ifname, mode)?;
        Ok(program)
    }

    /// Attaches the loaded program to `ifname`. Errors say why the kernel refused.
    pub fn attach(&mut self, ifname: &str, mode: AttachMode) -> Result<()> {
        let ifindex = syscall::if_nametoindex(ifname)
            .map_err(|_| Error::InterfaceNotFound(ifname.to_owned()))?;
        let link =
            syscall::xdp_link_create(self.prog.as_fd(), ifindex, mode.flags()).map_err(|e| {
                Error::AttachRefused {
                    ifname: ifname.to_owned(),
                    mode: mode.as_str(),
                    reason: attach_reason(&e, mode),
                }
            })?;
        tracing::debug!(
            ifname,
            ifindex,
            mode = mode.as_str(),
            "XDP program attached"
        );
        self.link = Some(Attachment {
            _link: link,
            ifname: ifname.to_owned(),
            ifindex,
            mode,
        });
        Ok(())
    }

    /// The interface the program is attached to, its index and mode.
    pub fn attached(&self) -> Option<(&str, u32, AttachMode)> {
        self.link
            .as_ref()
            .map(|a| (a.ifname.as_str(), a.ifindex, a.mode))
    }

    /// Puts an AF_XDP socket into the XSKMAP slot of `queue`: packets for the relay ports that
    /// arrive on that queue go to it.
    pub fn register(&self, queue: u32, socket: BorrowedFd<'_>) -> Result<()> {
        if queue >= MAX_QUEUES {
            return Err(Error::Config(format!(
                "queue {queue} is beyond the XSKMAP's {MAX_QUEUES} slots"
            )));
        }
        let fd = socket.as_raw_fd() as u32;
        self.xsks
            .update(&queue.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| Error::syscall(format!("XSKMAP update of queue {queue}"), bpf_io(e)))
    }

    /// Empties the XSKMAP slot of `queue` (its packets are then passed to the kernel).
    pub fn unregister(&self, queue: u32) -> Result<()> {
        match self.xsks.delete(&queue.to_ne_bytes()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::syscall(
                format!("XSKMAP delete of queue {queue}"),
                bpf_io(e),
            )),
        }
    }

    /// Reads the per-CPU counters.
    pub fn counters(&self) -> Result<XdpCounters> {
        let mut out = XdpCounters::default();
        for counter in XdpCounter::ALL {
            let key = (counter as u32).to_ne_bytes();
            let values = self
                .counters
                .lookup_percpu(&key, MapFlags::ANY)
                .map_err(|e| Error::syscall("counters lookup", bpf_io(e)))?
                .unwrap_or_default();
            if out.per_cpu.len() < values.len() {
                out.per_cpu.resize(values.len(), [0; 8]);
            }
            for (cpu, bytes) in values.iter().enumerate() {
                let value = bytes
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_ne_bytes);
                out.per_cpu[cpu][counter as usize] = value;
            }
        }
        Ok(out)
    }

    /// The counters of packets that arrived on RX queue `queue`, summed over CPUs (queues at or
    /// beyond [`MAX_QUEUES`] share the last row).
    pub fn queue_counters(&self, queue: u32) -> Result<[u64; 8]> {
        let row = queue.min(MAX_QUEUES - 1);
        let mut out = [0u64; 8];
        for counter in XdpCounter::ALL {
            let key = (row * XdpCounter::ALL.len() as u32 + counter as u32).to_ne_bytes();
            let values = self
                .queue_counters
                .lookup_percpu(&key, MapFlags::ANY)
                .map_err(|e| Error::syscall("queue counters lookup", bpf_io(e)))?
                .unwrap_or_default();
            out[counter as usize] = values
                .iter()
                .filter_map(|b| b.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()))
                .map(u64::from_ne_bytes)
                .sum();
        }
        Ok(out)
    }

    /// Runs the program once on `frame` through `BPF_PROG_TEST_RUN` and returns the XDP action
    /// (`XDP_PASS` = 2, `XDP_REDIRECT` = 4). `ingress` = `(ifindex, rx_queue)` makes the packet
    /// look as if it arrived on that link and queue.
    pub fn test_run(&self, frame: &[u8], ingress: Option<(u32, u32)>) -> Result<TestRun> {
        syscall::xdp_test_run(self.prog.as_fd(), frame, ingress)
            .map_err(|e| Error::syscall("BPF_PROG_TEST_RUN(relay_xdp)", e))
    }
}

/// Turns an attach errno into a reason with a next step.
fn attach_reason(e: &io::Error, mode: AttachMode) -> String {
    let hint = match (e.raw_os_error(), mode) {
        (Some(libc::EOPNOTSUPP), AttachMode::Native) => {
            "the driver has no native XDP support; use attach mode `generic`"
        }
        (Some(libc::EOPNOTSUPP), AttachMode::Generic) => "the kernel refused generic XDP",
        (Some(libc::EBUSY | libc::EEXIST), _) => {
            "another XDP program is already attached (see `ip link show`); detach it first"
        }
        (Some(libc::EPERM | libc::EACCES), _) => {
            "permission denied: needs CAP_NET_ADMIN and CAP_BPF"
        }
        (Some(libc::EINVAL), _) => {
            "invalid for this device: check the MTU (native XDP needs frames that fit one page) \
             and that LRO is off"
        }
        (Some(libc::ENODEV), _) => "the interface disappeared",
        // veth_xdp_set(): XDP on a veth needs at least as many RX queues as its peer has TX
        // queues (seen when a tuning plan lowered this side's channels below the peer's).
        (Some(libc::ENOSPC), _) => {
            "the device has fewer RX queues than its peer sends on (a veth needs RX channels >= \
             the peer's TX channels): raise this side's channels or lower the peer's"
        }
        _ => "unexpected error",
    };
    format!("{hint} ({e})")
}

fn bpf_io(e: libbpf_rs::Error) -> io::Error {
    io::Error::other(e.to_string())
}
