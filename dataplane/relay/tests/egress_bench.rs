//! A first per-packet cost figure for the `nat` egress, in the test bed (run on demand, prints a
//! table, asserts nothing about speed):
//!
//! ```text
//! cargo test --release -p oxidize-dataplane --test egress_bench -- --ignored --nocapture
//! ```
//!
//! - out: `TunQueue::write` of 64-byte UDP payloads towards the internet host; the time covers
//!   the write syscall plus the kernel's forwarding and masquerade (done in the writer's context).
//! - in: the internet host sends to the masqueraded address; the time is what the reader spends
//!   draining the TUN with `read_batch` (batches of 64), measured from first to last packet.

mod egress_support;

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use egress_support::udp_packet;
use oxidize_relay::egress::{Egress, EgressConfig, EgressPlan};
use oxidize_testbed::topology::{INTERNET_V4, RELAY_WAN_IF};
use oxidize_testbed::{Topology, TopologyOptions};

const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const PACKETS: u32 = 100_000;

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn root_bench_egress_per_packet_cost() {
    if !oxidize_testbed::require_root("root_bench_egress_per_packet_cost") {
        return;
    }
    let bed = Topology::new(&TopologyOptions {
        relay_queues: 1,
        forwarding: false,
        servers: false,
    })
    .expect("test bed");
    // The egress only checks forwarding; on a node the tune step turns it on.
    oxidize_testbed::link::set_forwarding(&bed.relay, true).expect("forwarding on");
    let config = EgressConfig::new("10.99.0.0/24".parse().expect("pool"), 1, RELAY_WAN_IF, 1400);
    let plan = EgressPlan::new(&config).expect("plan");
    let mut egress = bed
        .relay
        .run(move || Egress::setup(plan))
        .expect("enter the relay namespace")
        .expect("egress set-up");
    let mut queues = egress.take_queues();
    let socket = bed
        .internet
        .run(|| UdpSocket::bind((INTERNET_V4, 0)))
        .expect("enter the internet namespace")
        .expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    let packet = udp_packet(
        CLIENT_V4.into(),
        40_000,
        INTERNET_V4.into(),
        port,
        &[7u8; 64],
    );

    // Out: client -> internet.
    let drain = socket.try_clone().expect("clone");
    let receiver = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut count = 0u32;
        let mut from = None;
        while let Ok((_, peer)) = drain.recv_from(&mut buf) {
            count += 1;
            from = Some(peer);
        }
        (count, from)
    });
    let start = Instant::now();
    let mut refused = 0u32;
    for _ in 0..PACKETS {
        if queues[0].write(&packet).is_err() {
            refused += 1;
        }
    }
    let out_elapsed = start.elapsed();
    let (received, from) = receiver.join().expect("receiver");
    let from = from.expect("at least one datagram reached the internet host");

    // In: internet -> client, the reader drains the TUN while the internet host sends.
    let sender = std::thread::spawn(move || {
        for _ in 0..PACKETS {
            let _ = socket.send_to(&[9u8; 64], from);
        }
    });
    let mut bufs = vec![vec![0u8; 2048]; 64];
    let mut lens = [0usize; 64];
    let mut read = 0u64;
    let mut busy = Duration::ZERO;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let t = Instant::now();
        let n = queues[0].read_batch(&mut bufs, &mut lens).expect("read");
        if n > 0 {
            busy += t.elapsed();
            first.get_or_insert(t);
            last = Instant::now();
            read += n as u64;
        } else if sender.is_finished() && last.elapsed() > Duration::from_millis(200) {
            break;
        }
    }
    sender.join().expect("sender");
    let in_window = first.map_or(Duration::ZERO, |f| last - f);

    let per = |d: Duration, n: u64| d.as_nanos() as f64 / n.max(1) as f64;
    println!();
    println!("| direction | packets | delivered | ns/packet (worker) | Mpps (worker) |");
    println!("|---|---|---|---|---|");
    println!(
        "| out: TunQueue::write + forward + masquerade | {PACKETS} | {received} (refused {refused}) | {:.0} | {:.2} |",
        per(out_elapsed, u64::from(PACKETS)),
        1e3 / per(out_elapsed, u64::from(PACKETS)),
    );
    println!(
        "| in: de-NAT + route + TunQueue::read_batch | {PACKETS} | {read} | {:.0} (window {:.0}) | {:.2} |",
        per(busy, read),
        per(in_window, read),
        1e3 / per(busy, read),
    );
    drop(queues);
    bed.relay
        .run(move || egress.teardown())
        .expect("enter the relay namespace")
        .expect("teardown");
}
