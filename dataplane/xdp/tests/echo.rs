//! Root tests: a UDP echo served entirely through the AF_XDP layer, in test-bed namespaces.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{payload, small_config, Bed};
use oxidize_xdp::stats::XdpCounter;

/// Sends every payload size from 1 to `max` and checks byte-exact echoes, round-robin over
/// `sockets` sockets (different source ports, so different RX queues).
fn sizes_round_trip(bed: &Bed, v6: bool, max: usize, sockets: usize) {
    let socks = bed.client_sockets(v6, sockets);
    let to = Bed::relay_addr(v6);
    let mut buf = vec![0u8; 2048];
    for len in 1..=max {
        let sock = &socks[len % socks.len()];
        let data = payload(len, len as u64);
        sock.send_to(&data, to).expect("send");
        let (n, from) = sock
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no echo for a {len}-byte payload: {e}"));
        assert_eq!(from, to, "echo from the relay address and port");
        assert_eq!(&buf[..n], &data[..], "echo of {len} bytes differs");
    }
}

/// Pushes `per_queue` datagrams through every queue (windows of one datagram per socket) and
/// checks every echo, until every queue has received `per_queue` frames.
fn push_through_every_queue(bed: &Bed, queues: u32, v6: bool, per_queue: u64) {
    let socks = bed.client_sockets(v6, 8 * queues as usize);
    let to = Bed::relay_addr(v6);
    let mut buf = vec![0u8; 2048];
    let start = Instant::now();
    let mut seq = 0u64;
    loop {
        for sock in &socks {
            let data = payload(64 + (seq % 1000) as usize, seq);
            sock.send_to(&data, to).expect("send");
            seq += 1;
        }
        for (i, sock) in socks.iter().enumerate() {
            let (n, _) = sock
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("stall: no echo on socket {i} after {seq} sent: {e}"));
            let expect = payload(
                64 + ((seq - socks.len() as u64 + i as u64) % 1000) as usize,
                seq - socks.len() as u64 + i as u64,
            );
            assert_eq!(&buf[..n], &expect[..], "echo differs");
        }
        let counts: Vec<u64> = bed
            .rx_counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        if counts.iter().all(|&c| c >= per_queue) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "not every queue got {per_queue} frames in 120 s: {counts:?} (the client's source \
             ports do not hash onto every queue)"
        );
    }
}

fn echo_case(queues: u32, v6: bool) {
    echo_case_with(queues, v6, small_config());
}

fn echo_case_with(queues: u32, v6: bool, config: oxidize_xdp::XskConfig) {
    let bed = Bed::new(queues, config);
    let max = if v6 { 1452 } else { 1472 };
    sizes_round_trip(&bed, v6, max, 4 * queues as usize);
    let per_queue = 10 * u64::from(config.frame_count);
    push_through_every_queue(&bed, queues, v6, per_queue);
    let counters = bed.program.counters().expect("counters");
    let program = bed.program.clone();
    let ends = bed.stop();
    let mut rx: Vec<(u32, u64)> = ends.iter().map(|e| (e.queue, e.stats.rx_frames)).collect();
    rx.sort_unstable();
    let syscalls: Vec<_> = ends
        .iter()
        .map(|e| {
            (
                e.queue,
                e.stats.tx_kicks,
                e.stats.rx_wakeups,
                e.stats.idle_polls,
            )
        })
        .collect();
    eprintln!("queues={queues} v6={v6}: (queue, tx kicks, rx wakeups, idle polls) {syscalls:?}");
    eprintln!(
        "queues={queues} v6={v6}: frames per queue {rx:?}, redirected {}, passed to kernel: \
         other port {} not udp {} not ip {}",
        counters.total(XdpCounter::Redirected),
        counters.total(XdpCounter::PassOtherPort),
        counters.total(XdpCounter::PassNotUdp),
        counters.total(XdpCounter::PassNotIp),
    );
    for end in &ends {
        let xdp = program.queue_counters(end.queue).expect("queue counters");
        assert_eq!(
            xdp[XdpCounter::Redirected as usize],
            end.stats.rx_frames,
            "queue {}: XDP redirects and socket receptions agree",
            end.queue
        );
        assert!(
            end.stats.rx_frames >= per_queue,
            "queue {} saw only {} frames (want >= {per_queue}); distribution {rx:?}",
            end.queue,
            end.stats.rx_frames
        );
        assert_eq!(end.report.malformed, 0);
        assert_eq!(end.report.echoed, end.stats.rx_frames);
        assert_eq!(
            end.usage_end.in_use(),
            end.usage_start.in_use(),
            "frame leak: {:?}",
            end.usage_end
        );
        assert_eq!(
            (
                end.xsk.rx_dropped,
                end.xsk.rx_ring_full,
                end.xsk.rx_invalid_descs,
                end.xsk.tx_invalid_descs
            ),
            (0, 0, 0, 0),
            "queue {}: {:?}",
            end.queue,
            end.xsk
        );
        let u = end.usage_end;
        assert_eq!(u.free + u.in_fill + u.in_tx + u.held, u.total, "{u:?}");
    }
}

#[test]
fn root_echo_one_queue_ipv4() {
    if !oxidize_testbed::require_root("root_echo_one_queue_ipv4") {
        return;
    }
    echo_case(1, false);
}

#[test]
fn root_echo_one_queue_ipv6() {
    if !oxidize_testbed::require_root("root_echo_one_queue_ipv6") {
        return;
    }
    echo_case(1, true);
}

#[test]
fn root_echo_four_queues_ipv4() {
    if !oxidize_testbed::require_root("root_echo_four_queues_ipv4") {
        return;
    }
    echo_case(4, false);
}

#[test]
fn root_echo_four_queues_ipv6() {
    if !oxidize_testbed::require_root("root_echo_four_queues_ipv6") {
        return;
    }
    echo_case(4, true);
}

#[test]
fn root_echo_busy_poll_two_queues_ipv4() {
    if !oxidize_testbed::require_root("root_echo_busy_poll_two_queues_ipv4") {
        return;
    }
    let config = oxidize_xdp::XskConfig {
        busy_poll: Some(oxidize_xdp::BusyPoll {
            usecs: 20,
            budget: 64,
        }),
        ..small_config()
    };
    echo_case_with(2, false, config);
}
