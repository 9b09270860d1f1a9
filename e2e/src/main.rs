//! `oxidize-testbed`: the test bed from the command line.
//!
//! - `selfcheck`: build the client/relay/internet bed, send ping, UDP echoes and a checksummed TCP
//!   download across it (IPv4 and IPv6) by plain kernel forwarding, print the results, tear down.
//! - `serve`: run the internet host's servers in the current namespace until interrupted.
//! - `sweep`: delete test-bed namespaces left behind by killed test processes.
//! - `up`: build the bed (relay forwarding off until the script that starts a relay turns it on,
//!   as the tune step does on a node; the relay only checks it), write the
//!   namespace names to a file, and hold it until SIGINT/SIGTERM, then remove everything.
//! - `download`, `http-get`: small clients for scripts (`make demo`), run inside a namespace.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use clap::{Parser, Subcommand};
use oxidize_testbed::{link, servers, topology, Topology, TopologyOptions};

/// Oxidize test bed: network namespaces for the relay's end-to-end tests.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the three-host bed, check it end to end, and remove it.
    Selfcheck {
        /// Bytes to download over TCP through the bed.
        #[arg(long, default_value_t = 64 * 1024 * 1024)]
        bytes: u64,
        /// RX/TX queues on the relay's client-side veth.
        #[arg(long, default_value_t = 2)]
        queues: u32,
    },
    /// Run the UDP echo and TCP stream servers here until interrupted.
    Serve {
        /// UDP echo port.
        #[arg(long, default_value_t = servers::UDP_ECHO_PORT)]
        udp_port: u16,
        /// TCP stream port.
        #[arg(long, default_value_t = servers::TCP_STREAM_PORT)]
        tcp_port: u16,
    },
    /// Delete namespaces left by killed test processes (of any test run; namespaces whose
    /// process still runs are left alone).
    Sweep,
    /// Build the bed for a relay (forwarding off) and hold it until SIGINT/SIGTERM.
    Up {
        /// File that receives `client=NS`, `relay=NS`, `internet=NS` lines once the bed is up.
        #[arg(long)]
        state: std::path::PathBuf,
        /// RX/TX queues on the relay's client-side veth.
        #[arg(long, default_value_t = 2)]
        queues: u32,
    },
    /// Download BYTES from a TCP stream server and check its sha256 (prints one line).
    Download {
        /// Server `ip:port`.
        addr: std::net::SocketAddr,
        /// Bytes to download.
        #[arg(long, default_value_t = 64 * 1024 * 1024)]
        bytes: u64,
    },
    /// Plain HTTP/1.0 GET; prints the body, fails unless the status is 200.
    HttpGet {
        /// Server `ip:port`.
        addr: std::net::SocketAddr,
        /// Path.
        #[arg(default_value = "/metrics")]
        path: String,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Selfcheck { bytes, queues } => selfcheck(bytes, queues),
        Command::Serve { udp_port, tcp_port } => {
            let _udp = servers::udp_echo(udp_port)?;
            let _tcp = servers::tcp_stream(tcp_port)?;
            eprintln!("serving UDP echo on [::]:{udp_port}, TCP stream on [::]:{tcp_port}");
            loop {
                std::thread::park();
            }
        }
        Command::Up { state, queues } => up(&state, queues),
        Command::Download { addr, bytes } => {
            let d = servers::tcp_download(addr, bytes, Duration::from_secs(60))?;
            println!(
                "downloaded {} MiB in {:.2} s: {:.0} Mbit/s, sha256 {}… {}",
                d.bytes / (1024 * 1024),
                d.elapsed.as_secs_f64(),
                d.mbit_per_s(),
                &d.sha256[..16],
                if d.checksum_ok { "matches" } else { "MISMATCH" }
            );
            ensure!(
                d.checksum_ok,
                "the download's sha256 does not match the server's"
            );
            Ok(())
        }
        Command::HttpGet { addr, path } => http_get(addr, &path),
        Command::Sweep => {
            let removed = oxidize_testbed::netns::sweep_stale()?;
            for (name, owner) in &removed {
                println!("removed {name} (left by {owner}, which no longer runs)");
            }
            if removed.is_empty() {
                println!("no stale test-bed namespace");
            }
            Ok(())
        }
    }
}

fn step(what: &str) {
    eprintln!("==> {what}");
}

fn selfcheck(bytes: u64, queues: u32) -> Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "the self-check creates network namespaces and needs root: run it as root"
    );
    step("building the client <-> relay <-> internet namespaces");
    let bed = Topology::new(&TopologyOptions {
        relay_queues: queues,
        ..TopologyOptions::default()
    })
    .context("build the test bed")?;
    let (rx, tx) = link::queue_counts(&bed.relay, topology::RELAY_CLIENT_IF)?;
    println!(
        "namespaces: {} / {} / {}",
        bed.client.name(),
        bed.relay.name(),
        bed.internet.name()
    );
    println!(
        "relay {}: {rx} RX / {tx} TX queues",
        topology::RELAY_CLIENT_IF
    );
    for v6 in [false, true] {
        let family = if v6 { "IPv6" } else { "IPv4" };
        step(&format!(
            "{family}: ping, UDP echo and TCP download across the relay"
        ));
        let replies = topology::ping(&bed.client, topology::internet_ip(v6), 3)?;
        println!("{family} ping: {replies}/3 replies");
        ensure!(replies == 3, "{family} ping lost replies");
        let echo = bed.udp_echo_addr(v6);
        let echoed = bed
            .client
            .run(|| servers::udp_echoes(echo, 100, 1200, Duration::from_secs(2)))??;
        println!("{family} UDP echo: {echoed}/100 byte-exact");
        ensure!(echoed == 100, "{family} UDP echoes lost");
        let addr = bed.tcp_stream_addr(v6);
        let d = bed
            .client
            .run(|| servers::tcp_download(addr, bytes, Duration::from_secs(30)))??;
        println!(
            "{family} TCP: {} bytes, sha256 {} ({}), {:.0} Mbit/s",
            d.bytes,
            &d.sha256[..16],
            if d.checksum_ok { "matches" } else { "MISMATCH" },
            d.mbit_per_s()
        );
        ensure!(d.checksum_ok, "{family} TCP checksum mismatch");
    }
    step("tearing down");
    drop(bed);
    let mine = format!("{}{}-", oxidize_testbed::netns::PREFIX, std::process::id());
    let left = oxidize_testbed::netns::list()?
        .into_iter()
        .filter(|name| name.starts_with(&mine))
        .count();
    println!("test-bed namespaces left by this self-check: {left}");
    println!(
        "self-check passed. `make demo` runs the same path with the AF_XDP QUIC relay in the \
         middle instead of kernel forwarding."
    );
    Ok(())
}

fn up(state: &std::path::Path, queues: u32) -> Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    ensure!(
        nix::unistd::geteuid().is_root(),
        "the test bed creates network namespaces and needs root: run it as root"
    );
    // Block the stop signals before any thread exists so that only the wait below sees them.
    let mut stop = SigSet::empty();
    stop.add(Signal::SIGINT);
    stop.add(Signal::SIGTERM);
    stop.thread_block().context("block SIGINT/SIGTERM")?;
    let bed = Topology::new(&TopologyOptions {
        relay_queues: queues,
        forwarding: false,
        servers: true,
    })
    .context("build the test bed")?;
    let text = format!(
        "client={}\nrelay={}\ninternet={}\n",
        bed.client.name(),
        bed.relay.name(),
        bed.internet.name()
    );
    std::fs::write(state, text).with_context(|| format!("write {}", state.display()))?;
    eprintln!(
        "test bed up: {} / {} / {} (SIGINT or SIGTERM removes it)",
        bed.client.name(),
        bed.relay.name(),
        bed.internet.name()
    );
    let signal = stop.wait().context("wait for SIGINT/SIGTERM")?;
    eprintln!("{signal}: removing the test bed");
    drop(bed);
    let _ = std::fs::remove_file(state);
    Ok(())
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> Result<()> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("connect to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("");
    ensure!(
        status.split_whitespace().nth(1) == Some("200"),
        "GET {path}: {status}"
    );
    print!("{body}");
    Ok(())
}
