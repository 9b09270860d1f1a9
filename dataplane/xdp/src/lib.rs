//! The Oxidize AF_XDP edge: the XDP program, AF_XDP sockets and their UMEM, frame parsing and
//! building, the preflight and the kernel's neighbour table.
//!
//! This is the only crate of the workspace allowed `unsafe`; every libc call lives in
//! [`syscall`] and every unsafe block carries a `// SAFETY:` note.
//!
//! A relay worker uses it like this (one worker per NIC queue; [`echo::EchoWorker`] and the
//! `xdp-echo` binary are complete examples):
//!
//! 1. [`preflight::check`] the interface, capabilities and queue count;
//! 2. [`XdpProgram::load_and_attach`] once per interface (bpf_link: detached when the process
//!    dies, SIGKILL included);
//! 3. per queue, [`XskQueue::open`] and [`XdpProgram::register`] its socket into the XSKMAP;
//! 4. loop: [`XskQueue::rx_batch`], [`frame::parse`], build replies with [`frame::UdpHeaders`]
//!    in place, [`XskQueue::tx_batch`] (or [`XskQueue::release`]), and [`XskQueue::wait`] when
//!    idle.
//!
//! Modules:
//! - [`frame`]: pure parsing and building of Ethernet/VLAN/IPv4/IPv6/UDP frames with checksums.
//! - [`classify`]: the XDP program's decision, mirrored in Rust and tested against the program.
//! - [`program`]: load and attach the XDP program, XSKMAP, relay ports, per-CPU counters.
//! - [`umem`]: UMEM creation (hugepages with fallback) and frame ownership.
//! - [`socket`]: one AF_XDP socket per queue with its rings, batches and wakeups.
//! - [`preflight`]: fail-fast checks with actionable messages.
//! - [`neigh`]: next-hop MACs (learned from peers, else the kernel neighbour table).
//! - [`netlink`]: links and the neighbour table over rtnetlink (next-hop MACs, queue counts).
//! - [`echo`]: a UDP echo worker, the reference loop for the relay workers.
//! - [`stats`]: plain counter structs, no metrics dependency.
//! - [`udp_echo`]: the recvmmsg/sendmmsg UDP echo that benchmarks compare against.
//! - [`syscall`]: every libc and libbpf C call, as `io::Result`.

pub mod classify;
pub mod echo;
pub mod error;
pub mod frame;
pub mod neigh;
pub mod netlink;
pub mod preflight;
pub mod program;
pub mod socket;
pub mod stats;
pub mod syscall;
pub mod udp_echo;
pub mod umem;

mod skel;

pub use error::{Error, Result};
pub use program::{AttachMode, XdpProgram};

pub use socket::{BusyPoll, Frame, XskConfig, XskQueue, ZeroCopy};
pub use stats::{QueueStats, XdpCounter, XdpCounters};
