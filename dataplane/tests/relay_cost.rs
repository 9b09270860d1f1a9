//! What each direction costs per packet in the relay process, measured end to end in the test
//! bed: the aioquic client floods UDP through the tunnel; the relay's CPU time (all threads,
//! `/proc/PID/task/*/schedstat`, minus its idle polling) is divided by the packets it relayed.
//! A benchmark that prints a table, not a timed test:
//!
//! `cargo test --release -p oxidize-dataplane --test relay_cost -- --ignored --nocapture`

mod relay_support;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::Stdio;
use std::time::{Duration, Instant};

use relay_support::{RelayBed, TOKEN};

/// Nanoseconds on CPU of every thread of `pid`.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

struct Run {
    cpu_ns: f64,
    up: u64,
    down: u64,
}

fn flood(
    bed: &RelayBed,
    pid: u32,
    port: u16,
    packets: u32,
    size: usize,
    idle_ns_per_s: f64,
) -> Run {
    let up0 = bed.metric("oxidize_relay_tunnel_packets_total{direction=\"to_internet\"}");
    let down0 = bed.metric("oxidize_relay_tunnel_packets_total{direction=\"to_client\"}");
    let mut child = bed
        .client_command(&[
            "--token",
            TOKEN,
            "--pings",
            "0",
            "--echoes",
            "0",
            "--flood",
            &packets.to_string(),
            "--flood-port",
            &port.to_string(),
            "--size",
            &size.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut start = None;
    let mut last = String::new();
    for line in lines.by_ref() {
        let line = line.expect("client output");
        if line.contains("flood_start") {
            start = Some((Instant::now(), cpu_ns(pid)));
        }
        last = line;
    }
    let _ = child.wait();
    let (t0, c0) = start.unwrap_or_else(|| panic!("client never flooded: {last}"));
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_ns(pid) - c0;
    std::thread::sleep(Duration::from_millis(400)); // counters are published every 250 ms
    let up = bed.metric("oxidize_relay_tunnel_packets_total{direction=\"to_internet\"}") - up0;
    let down = bed.metric("oxidize_relay_tunnel_packets_total{direction=\"to_client\"}") - down0;
    eprintln!("flood to port {port}: {last}");
    Run {
        cpu_ns: (cpu as f64 - idle_ns_per_s * wall).max(0.0),
        up,
        down,
    }
}

/// Internet -> client only: the client opens one UDP flow to the internet host, which then
/// sends `packets` datagrams of `size` bytes back along it (through NAT, the TUN and the relay).
fn sink(bed: &RelayBed, pid: u32, packets: u32, size: usize, idle_ns_per_s: f64) -> Run {
    let socket = bed
        .topo
        .internet
        .run(|| UdpSocket::bind("0.0.0.0:9999").expect("bind the sender"))
        .expect("enter the internet namespace");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let up0 = bed.metric("oxidize_relay_tunnel_packets_total{direction=\"to_internet\"}");
    let down0 = bed.metric("oxidize_relay_tunnel_packets_total{direction=\"to_client\"}");
    let mut child = bed
        .client_command(&[
            "--token",
            TOKEN,
            "--pings",
            "0",
            "--echoes",
            "0",
            "--sink-port",
            "9999",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut last = String::new();
    for line in lines.by_ref() {
        let line = line.expect("client output");
        let ready = line.contains("sink_ready");
        last = line;
        if ready {
            break;
        }
    }
    let mut buf = [0u8; 64];
    let (_, peer) = socket
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("the client's flow never arrived ({e}): {last}"));
    let payload = vec![0x5a; size.saturating_sub(28)];
    let (t0, c0) = (Instant::now(), cpu_ns(pid));
    for i in 0..packets {
        let _ = socket.send_to(&payload, peer);
        if i % 64 == 63 {
            // Keep the offered load near what two busy cores can carry.
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    for line in lines.by_ref() {
        last = line.expect("client output");
    }
    let _ = child.wait();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_ns(pid) - c0;
    std::thread::sleep(Duration::from_millis(300));
    let up = bed.metric("oxidize_relay_tunnel_packets_total{direction=\"to_internet\"}") - up0;
    let down = bed.metric("oxidize_relay_tunnel_packets_total{direction=\"to_client\"}") - down0;
    eprintln!("sink: {last}");
    Run {
        cpu_ns: (cpu as f64 - idle_ns_per_s * wall).max(0.0),
        up,
        down,
    }
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture (prints a table)"]
fn root_relay_cost_per_packet() {
    if !oxidize_testbed::require_root("root_relay_cost_per_packet") {
        return;
    }
    let bed = RelayBed::new();
    let relay = bed.start_relay("relay.log");
    let pid = relay.id();
    // Upstream only: the internet host drops what arrives on UDP port 9 (no reply, no ICMP).
    bed.topo
        .internet
        .exec(
            "nft",
            &[
                "add table inet bench; add chain inet bench in { type filter hook input priority 0; }; add rule inet bench in udp dport 9 drop",
            ],
        )
        .expect("nft drop rule in the internet namespace");
    let c0 = cpu_ns(pid);
    std::thread::sleep(Duration::from_secs(2));
    let idle = (cpu_ns(pid) - c0) as f64 / 2.0;
    let packets = 20_000;
    println!("relay CPU while idle: {:.2} ms/s (all threads)", idle / 1e6);
    println!("| inner size | direction | packets relayed | relay CPU per packet |");
    println!("|---|---|---|---|");
    for size in [100usize, 1000] {
        let up = flood(&bed, pid, 9, packets, size, idle);
        println!(
            "| {size} B | client -> internet | {} | {:.2} us |",
            up.up,
            up.cpu_ns / up.up.max(1) as f64 / 1e3
        );
        let down = sink(&bed, pid, packets, size, idle);
        // The client's one opening packet and its ACKs are in there too: negligible.
        println!(
            "| {size} B | internet -> client | {} | {:.2} us |",
            down.down,
            down.cpu_ns / down.down.max(1) as f64 / 1e3
        );
        let _ = down.up;
    }
    drop(relay);
}
