//! Shared set-up of the root tests: a relay namespace running echo workers on this layer, and a
//! client namespace that talks to it over a veth pair.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(unreachable_pub, reason = "shared between test binaries")]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use oxidize_testbed::link::{self, End};
use oxidize_testbed::Netns;
use oxidize_xdp::echo::{EchoReport, EchoWorker};
use oxidize_xdp::stats::{QueueStats, UmemUsage, XskStatistics};
use oxidize_xdp::{AttachMode, XdpProgram, XskConfig, XskQueue, ZeroCopy};

pub const PORT: u16 = 4433;
pub const RELAY_IF: &str = "xr0";
pub const CLIENT_IF: &str = "xc0";
pub const RELAY_V4: &str = "10.77.0.2";
pub const CLIENT_V4: &str = "10.77.0.1";
pub const RELAY_V6: &str = "fd77::2";
pub const CLIENT_V6: &str = "fd77::1";

/// A small UMEM so that tests push many times its frame count through each queue.
pub fn small_config() -> XskConfig {
    XskConfig {
        frame_count: 512,
        frame_size: 2048,
        ring_size: 256,
        tx_reserve: 64,
        zero_copy: ZeroCopy::Auto,
        hugepages: false,
        busy_poll: None,
    }
}

/// What a worker thread hands back when it stops.
#[derive(Debug, Clone, Copy)]
pub struct WorkerEnd {
    pub queue: u32,
    pub report: EchoReport,
    pub stats: QueueStats,
    pub usage_start: UmemUsage,
    pub usage_end: UmemUsage,
    pub xsk: XskStatistics,
}

/// The relay namespace with the XDP program and one echo worker per queue.
pub struct Bed {
    pub client: Netns,
    pub relay: Netns,
    pub program: Arc<XdpProgram>,
    stop: Arc<AtomicBool>,
    /// Frames received so far per queue, published by the workers.
    pub rx_counts: Arc<Vec<AtomicU64>>,
    workers: Vec<JoinHandle<WorkerEnd>>,
}

impl Bed {
    pub fn new(queues: u32, config: XskConfig) -> Bed {
        let client = Netns::new("xdpc").expect("client netns");
        let relay = Netns::new("xdpr").expect("relay netns");
        link::veth_pair(
            End {
                ns: &client,
                name: CLIENT_IF,
            },
            End {
                ns: &relay,
                name: RELAY_IF,
            },
            queues,
        )
        .expect("veth pair");
        link::add_addr(&client, CLIENT_IF, &format!("{CLIENT_V4}/24")).expect("addr");
        link::add_addr(&relay, RELAY_IF, &format!("{RELAY_V4}/24")).expect("addr");
        link::add_addr(&client, CLIENT_IF, &format!("{CLIENT_V6}/64")).expect("addr");
        link::add_addr(&relay, RELAY_IF, &format!("{RELAY_V6}/64")).expect("addr");
        let (program, sockets) = relay
            .run(|| {
                let program = XdpProgram::load_and_attach(RELAY_IF, &[PORT], AttachMode::Native)
                    .expect("attach XDP");
                let sockets: Vec<XskQueue> = (0..queues)
                    .map(|q| {
                        let s = XskQueue::open(RELAY_IF, q, &config).expect("open AF_XDP socket");
                        program.register(q, s.fd()).expect("register socket");
                        s
                    })
                    .collect();
                (program, sockets)
            })
            .expect("enter relay netns");
        let stop = Arc::new(AtomicBool::new(false));
        let rx_counts: Arc<Vec<AtomicU64>> =
            Arc::new((0..queues).map(|_| AtomicU64::new(0)).collect());
        let workers = sockets
            .into_iter()
            .map(|mut q| {
                let stop = stop.clone();
                let counts = rx_counts.clone();
                std::thread::spawn(move || {
                    let usage_start = q.umem_usage();
                    let mut worker = EchoWorker::new();
                    while !stop.load(Ordering::Relaxed) {
                        if worker.poll_once(&mut q).expect("echo worker") == 0 {
                            q.reap().expect("reap");
                            q.wait(20).expect("poll");
                        }
                        counts[q.queue() as usize].store(q.stats().rx_frames, Ordering::Relaxed);
                    }
                    worker.drain(&mut q).expect("drain");
                    let report = worker.report();
                    WorkerEnd {
                        queue: q.queue(),
                        report,
                        stats: q.stats(),
                        usage_start,
                        usage_end: q.umem_usage(),
                        xsk: q.xsk_statistics().expect("XDP_STATISTICS"),
                    }
                })
            })
            .collect();
        Bed {
            client,
            relay,
            program: Arc::new(program),
            stop,
            rx_counts,
            workers,
        }
    }

    /// Stops the workers and returns what each did.
    pub fn stop(mut self) -> Vec<WorkerEnd> {
        self.stop.store(true, Ordering::Relaxed);
        self.workers
            .drain(..)
            .map(|w| w.join().expect("worker thread panicked"))
            .collect()
    }

    /// `count` UDP sockets in the client namespace, bound to distinct source ports.
    pub fn client_sockets(&self, v6: bool, count: usize) -> Vec<UdpSocket> {
        let bind: IpAddr = if v6 { CLIENT_V6 } else { CLIENT_V4 }.parse().expect("ip");
        self.client
            .run(|| {
                (0..count)
                    .map(|_| {
                        let s = UdpSocket::bind(SocketAddr::new(bind, 0)).expect("bind client");
                        s.set_read_timeout(Some(Duration::from_secs(2)))
                            .expect("timeout");
                        s
                    })
                    .collect()
            })
            .expect("enter client netns")
    }

    pub fn relay_addr(v6: bool) -> SocketAddr {
        let ip: IpAddr = if v6 { RELAY_V6 } else { RELAY_V4 }.parse().expect("ip");
        SocketAddr::new(ip, PORT)
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A deterministic payload of `len` bytes that differs per `seed`.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> [u8; 6] {
    let mut mac = [0u8; 6];
    for (slot, part) in mac.iter_mut().zip(text.trim().split(':')) {
        *slot = u8::from_str_radix(part, 16).expect("hex MAC byte");
    }
    mac
}

/// Sends raw Ethernet frames out of `ifname` in `ns` through an AF_XDP socket of this crate
/// (TX only: alloc, write, tx_batch), and waits until the kernel completed them.
pub fn send_raw(ns: &Netns, ifname: &str, frames: &[Vec<u8>]) {
    let mut q = ns
        .run(|| XskQueue::open(ifname, 0, &small_config()).expect("sender AF_XDP socket"))
        .expect("enter netns");
    let mut batch = Vec::new();
    for frame in frames {
        let mut f = q.alloc().expect("a free frame");
        q.write(&mut f, |buf| {
            buf[..frame.len()].copy_from_slice(frame);
            Ok::<_, ()>(frame.len())
        })
        .expect("write frame");
        batch.push(f);
        if batch.len() == 32 {
            while !batch.is_empty() {
                q.tx_batch(&mut batch).expect("tx");
                q.reap().expect("reap");
            }
        }
    }
    while !batch.is_empty() {
        q.tx_batch(&mut batch).expect("tx");
        q.reap().expect("reap");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while q.umem_usage().in_tx > 0 {
        assert!(std::time::Instant::now() < deadline, "TX never completed");
        q.reap().expect("reap");
        q.wait(10).expect("poll");
    }
}
