//! Bench (not a test): echo packets per second of the AF_XDP layer and of a plain UDP socket
//! (recvmmsg/sendmmsg) on the same kind of veth, for 64 B and 1200 B payloads.
//!
//! `cargo run --release -p oxidize-xdp --example xdp_bench [SECONDS]` as root.
//!
//! Set-up per row: a fresh client and relay namespace joined by a 1-queue veth. The server is
//! pinned to CPU 1: either an [`EchoWorker`] on an AF_XDP socket (XDP program attached, native
//! mode, copy-mode socket) or `udp_echo::run` on a UDP socket. The load is closed-loop: the
//! client (pinned to CPU 0) injects `WINDOW` datagrams through its own AF_XDP socket and echoes
//! every reply straight back, so the same datagrams circulate; the rate is the client's echoes
//! per second over the measured interval. A datagram lost on the way is not replaced: the
//! `in flight` column counts how many of the `WINDOW` were still circulating at the end.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use oxidize_testbed::link::{self, End};
use oxidize_testbed::Netns;
use oxidize_xdp::echo::EchoWorker;
use oxidize_xdp::frame::{Ecn, UdpHeaders};
use oxidize_xdp::syscall::pin_current_thread;
use oxidize_xdp::{udp_echo, AttachMode, XdpProgram, XskConfig, XskQueue};

const WINDOW: usize = 256;
const SERVER_PORT: u16 = 4433;
const CLIENT_PORT: u16 = 5555;
const CLIENT_IF: &str = "bc0";
const RELAY_IF: &str = "br0";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    AfXdp,
    UdpSocket,
}

struct Row {
    pps: f64,
    in_flight_end: u64,
}

fn mac(ns: &Netns, ifname: &str) -> Result<[u8; 6]> {
    let text = link::mac(ns, ifname)?;
    let mut out = [0u8; 6];
    for (slot, part) in out.iter_mut().zip(text.split(':')) {
        *slot = u8::from_str_radix(part, 16).context("MAC byte")?;
    }
    Ok(out)
}

fn run(server: Server, payload: usize, seconds: f64) -> Result<Row> {
    let client = Netns::new("benchc")?;
    let relay = Netns::new("benchr")?;
    link::veth_pair(
        End {
            ns: &client,
            name: CLIENT_IF,
        },
        End {
            ns: &relay,
            name: RELAY_IF,
        },
        1,
    )?;
    link::add_addr(&client, CLIENT_IF, "10.78.0.1/24")?;
    link::add_addr(&relay, RELAY_IF, "10.78.0.2/24")?;
    // Static neighbours so that the kernel path never waits for ARP.
    let (client_mac, relay_mac) = (mac(&client, CLIENT_IF)?, mac(&relay, RELAY_IF)?);
    relay.ip(&format!(
        "neigh add 10.78.0.1 lladdr {} dev {RELAY_IF} nud permanent",
        link::mac(&client, CLIENT_IF)?
    ))?;
    let config = XskConfig {
        hugepages: false,
        ..XskConfig::default()
    };

    let stop = Arc::new(AtomicBool::new(false));
    let server_thread = match server {
        Server::AfXdp => {
            let (program, mut queue) = relay.run(|| -> Result<_> {
                let program =
                    XdpProgram::load_and_attach(RELAY_IF, &[SERVER_PORT], AttachMode::Native)?;
                let queue = XskQueue::open(RELAY_IF, 0, &config)?;
                program.register(0, queue.fd())?;
                Ok((program, queue))
            })??;
            let stop = stop.clone();
            std::thread::spawn(move || -> Result<()> {
                let _program = program;
                pin_current_thread(1)?;
                EchoWorker::new().run(&mut queue, &stop, 10)?;
                Ok(())
            })
        }
        Server::UdpSocket => {
            let socket = relay.run(|| UdpSocket::bind(("10.78.0.2", SERVER_PORT)))??;
            let stop = stop.clone();
            std::thread::spawn(move || -> Result<()> {
                pin_current_thread(1)?;
                udp_echo::run(&socket, &stop, 10)?;
                Ok(())
            })
        }
    };

    // The client: its own XDP program and AF_XDP socket, echoing every reply back.
    let (_client_program, mut queue) = client.run(|| -> Result<_> {
        let program = XdpProgram::load_and_attach(CLIENT_IF, &[CLIENT_PORT], AttachMode::Native)?;
        let queue = XskQueue::open(CLIENT_IF, 0, &config)?;
        program.register(0, queue.fd())?;
        Ok((program, queue))
    })??;
    pin_current_thread(0)?;
    let headers = UdpHeaders {
        src_mac: client_mac,
        dst_mac: relay_mac,
        vlan: None,
        src: SocketAddr::from(([10, 78, 0, 1], CLIENT_PORT)),
        dst: SocketAddr::from(([10, 78, 0, 2], SERVER_PORT)),
        ecn: Ecn::NotEct,
        hop_limit: 64,
    };
    let body = vec![0x5au8; payload];
    let mut batch = Vec::new();
    for _ in 0..WINDOW {
        let mut frame = queue.alloc().context("no free UMEM frame to inject")?;
        queue.write(&mut frame, |buf| headers.write(buf, &body))?;
        batch.push(frame);
    }
    while !batch.is_empty() {
        queue.tx_batch(&mut batch)?;
        queue.reap()?;
    }
    let mut worker = EchoWorker::new();
    let warmup = Instant::now() + Duration::from_millis(500);
    while Instant::now() < warmup {
        if worker.poll_once(&mut queue)? == 0 {
            queue.reap()?;
        }
    }
    let start_count = worker.report().echoed;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        if worker.poll_once(&mut queue)? == 0 {
            queue.reap()?;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let echoed = worker.report().echoed - start_count;
    // Datagrams still circulating: stop echoing and count what comes back while the server
    // still runs. WINDOW minus this is what was lost on the way during the whole run.
    let mut in_flight = 0u64;
    let settle = Instant::now() + Duration::from_millis(300);
    let mut frames = Vec::new();
    while Instant::now() < settle {
        in_flight += queue.rx_batch(&mut frames, 64)? as u64;
        for f in frames.drain(..) {
            queue.release(f);
        }
        queue.reap()?;
    }
    stop.store(true, Ordering::Relaxed);
    match server_thread.join() {
        Ok(result) => result?,
        Err(_) => bail!("server thread panicked"),
    }
    Ok(Row {
        pps: echoed as f64 / elapsed,
        in_flight_end: in_flight,
    })
}

fn main() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("xdp_bench needs root (namespaces, XDP, AF_XDP)");
    }
    let seconds: f64 = match std::env::args().nth(1) {
        Some(s) => s.parse().context("SECONDS must be a number")?,
        None => 3.0,
    };
    println!("closed-loop UDP echo over a 1-queue veth, window {WINDOW}, {seconds} s per row");
    println!("server pinned to CPU 1, client (AF_XDP, echoing back) pinned to CPU 0");
    println!();
    println!(
        "{:>8} | {:>14} {:>9} | {:>14} {:>9} | {:>6}",
        "payload", "AF_XDP pps", "in flight", "UDP sock pps", "in flight", "ratio"
    );
    for payload in [64usize, 1200] {
        let xdp = run(Server::AfXdp, payload, seconds)?;
        let udp = run(Server::UdpSocket, payload, seconds)?;
        println!(
            "{:>7}B | {:>14.0} {:>9} | {:>14.0} {:>9} | {:>5.2}x",
            payload,
            xdp.pps,
            xdp.in_flight_end,
            udp.pps,
            udp.in_flight_end,
            xdp.pps / udp.pps.max(1.0)
        );
    }
    Ok(())
}
