//! Shared pieces of the end-to-end suite (`e2e_*.rs`): the test bed with the relay on AF_XDP
//! (2-queue veth, 2 workers) in the relay namespace, `oxidize-client` in the client namespace,
//! the servers in the internet namespace.
//!
//! Everything is owned by guards: dropping [`Bed`] stops the processes and removes the
//! namespaces (and with them every link, TUN device, route and XDP program inside).

#![allow(dead_code, reason = "each e2e test file uses a different subset")]
#![allow(unreachable_pub, reason = "a module shared by several test crates")]

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use oxidize_testbed::topology::{self, RELAY_CLIENT_IF, RELAY_V4, RELAY_WAN_IF};
use oxidize_testbed::{Netns, NsChild, Topology, TopologyOptions};

/// QUIC port of the relay.
pub const PORT: u16 = 4433;
/// Metrics endpoint inside the relay namespace.
pub const METRICS: &str = "127.0.0.1:9464";
/// TLS name of the relay certificate.
pub const SERVER_NAME: &str = "relay.oxidize.test";
/// The token the relay accepts.
pub const TOKEN: &str = "e2e-token-7f3a";
/// Client IPv4 pool.
pub const POOL_V4: &str = "10.99.0.0/24";
/// Client IPv6 pool.
pub const POOL_V6: &str = "fd99::/64";
/// The relay's idle timeout (seconds): how long a killed client's session lives on.
pub const IDLE_SECS: u64 = 5;

/// The relay binary.
pub const RELAY_BIN: &str = env!("CARGO_BIN_EXE_oxidize-dataplane");
/// The client binary.
pub const CLIENT_BIN: &str = env!("CARGO_BIN_EXE_oxidize-client");

/// Which namespace a client runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsId {
    /// The bed's client namespace.
    Client,
    /// An extra namespace made by [`Bed::add_client_ns`].
    Extra(usize),
}

/// The bed, its files and the relay.
pub struct Bed {
    /// Extra client namespaces.
    pub extra: Vec<Netns>,
    /// Relay process (stopped first on drop).
    pub relay: Option<NsChild>,
    /// Client processes.
    pub clients: Vec<Client>,
    /// The three namespaces and the internet host's servers.
    pub topo: Topology,
    /// Certificates, tokens, config, logs.
    pub dir: tempfile::TempDir,
    /// The token file the next client gets (`None`: no token).
    pub token_file: Option<PathBuf>,
    relay_starts: u32,
}

/// One running client.
pub struct Client {
    /// The process.
    pub child: Option<NsChild>,
    /// Its stdout + stderr.
    pub log: PathBuf,
    /// TUN name.
    pub tun: String,
}

fn write_certs(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("generate CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("self-sign CA");
    let key = KeyPair::generate().expect("generate relay key");
    let leaf = CertificateParams::new(vec![SERVER_NAME.to_owned()])
        .expect("relay cert params")
        .signed_by(&key, &ca, &ca_key)
        .expect("sign relay cert");
    fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca.pem");
    fs::write(dir.join("tls.crt"), leaf.pem()).expect("write tls.crt");
    fs::write(dir.join("tls.key"), key.serialize_pem()).expect("write tls.key");
    fs::create_dir_all(dir.join("tokens")).expect("tokens dir");
    fs::write(dir.join("tokens/e2e"), TOKEN).expect("write token");
    fs::write(dir.join("client.token"), format!("{TOKEN}\n")).expect("write client token");
}

fn config_yaml(dir: &Path) -> String {
    format!(
        "apiVersion: relay.oxidize.dev/v1alpha1
kind: DataplaneConfig
interface: {RELAY_CLIENT_IF}
queues: 2
workerCores: [0, 1]
port: {PORT}
metricsAddr: \"{METRICS}\"
tlsCertFile: {d}/tls.crt
tlsKeyFile: {d}/tls.key
tokensDir: {d}/tokens
clientPoolIpv4: \"{POOL_V4}\"
clientPoolIpv6: \"{POOL_V6}\"
egress: nat
zeroCopy: auto
busyPoll: false
relay:
  egressInterface: {RELAY_WAN_IF}
  idleTimeoutSeconds: {IDLE_SECS}
  drainTimeoutSeconds: 1
",
        d = dir.display()
    )
}

impl Bed {
    /// Builds the bed (relay forwarding off until [`Bed::start_relay`]: nothing crosses before a
    /// relay runs) and its files.
    pub fn new() -> Bed {
        let topo = Topology::new(&TopologyOptions {
            relay_queues: 2,
            forwarding: false,
            servers: true,
        })
        .expect("build the test bed");
        let dir = tempfile::tempdir().expect("temp dir");
        write_certs(dir.path());
        fs::write(dir.path().join("relay.yaml"), config_yaml(dir.path())).expect("write config");
        let token_file = Some(dir.path().join("client.token"));
        Bed {
            token_file,
            extra: Vec::new(),
            relay: None,
            clients: Vec::new(),
            topo,
            dir,
            relay_starts: 0,
        }
    }

    /// A namespace by id.
    pub fn ns(&self, id: NsId) -> &Netns {
        match id {
            NsId::Client => &self.topo.client,
            NsId::Extra(i) => &self.extra[i],
        }
    }

    /// Adds a client namespace behind the bed's client namespace (which routes for it):
    /// `10.77.(3+i).2/24` on `x-eth`, default via `10.77.(3+i).1`; the relay namespace gets a
    /// route back. Its outer packets reach the relay on the same AF_XDP interface.
    pub fn add_client_ns(&mut self) -> NsId {
        let i = self.extra.len();
        let ns = Netns::new("client2").expect("extra client namespace");
        let net = 3 + i;
        oxidize_testbed::link::veth_pair(
            oxidize_testbed::link::End {
                ns: &ns,
                name: "x-eth",
            },
            oxidize_testbed::link::End {
                ns: &self.topo.client,
                name: &format!("c-x{i}"),
            },
            1,
        )
        .expect("veth to the extra client");
        oxidize_testbed::link::add_addr(&ns, "x-eth", &format!("10.77.{net}.2/24")).expect("addr");
        oxidize_testbed::link::add_addr(
            &self.topo.client,
            &format!("c-x{i}"),
            &format!("10.77.{net}.1/24"),
        )
        .expect("addr");
        oxidize_testbed::link::add_route(&ns, &format!("default via 10.77.{net}.1"))
            .expect("route");
        oxidize_testbed::link::set_forwarding(&self.topo.client, true).expect("forwarding");
        oxidize_testbed::link::add_route(
            &self.topo.relay,
            &format!("10.77.{net}.0/24 via {}", topology::CLIENT_V4),
        )
        .expect("route back");
        self.extra.push(ns);
        NsId::Extra(i)
    }

    /// The current relay log.
    pub fn relay_log(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("relay-{}.log", self.relay_starts))
    }

    /// Starts the relay on AF_XDP and waits until `/readyz` answers 200; returns how long that
    /// took. Panics with the relay's log if it exits or is not ready within 30 s.
    pub fn start_relay(&mut self) -> Duration {
        // The relay only checks forwarding; on a node the tune step turns it on.
        oxidize_testbed::link::set_forwarding(&self.topo.relay, true).expect("forwarding on");
        self.relay_starts += 1;
        let log = self.relay_log();
        let out = fs::File::create(&log).expect("relay log");
        let err = out.try_clone().expect("relay log");
        let mut cmd = self.topo.relay.command(RELAY_BIN);
        cmd.args(["relay", "--config"])
            .arg(self.dir.path().join("relay.yaml"))
            .args(["--io", "xdp"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let started = Instant::now();
        let mut child = self.topo.relay.spawn(&mut cmd).expect("spawn the relay");
        let deadline = started + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.child_mut().try_wait() {
                let text = fs::read_to_string(&log).unwrap_or_default();
                panic!("the relay exited during start ({status}); its log:\n{text}");
            }
            if self
                .get("/readyz")
                .is_some_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"))
            {
                self.relay = Some(child);
                return started.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "the relay was not ready within 30 s; its log:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the relay with `signal`, waiting up to 10 s.
    pub fn stop_relay(&mut self, signal: Signal) -> Option<std::process::ExitStatus> {
        self.relay.take()?.stop(signal, Duration::from_secs(10))
    }

    /// An HTTP GET on the relay's metrics endpoint (from inside the relay namespace).
    pub fn get(&self, path: &str) -> Option<String> {
        let path = path.to_owned();
        self.topo
            .relay
            .run(move || -> Option<String> {
                let mut s =
                    TcpStream::connect_timeout(&METRICS.parse().ok()?, Duration::from_secs(1))
                        .ok()?;
                s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                write!(s, "GET {path} HTTP/1.0\r\nHost: relay\r\n\r\n").ok()?;
                let mut text = String::new();
                s.read_to_string(&mut text).ok()?;
                Some(text)
            })
            .ok()
            .flatten()
    }

    /// The sum of the metric samples named `name` (with `labels` inside the braces, if given).
    pub fn metric(&self, name: &str, labels: Option<&str>) -> Option<u64> {
        let text = self.get("/metrics")?;
        Some(metric_value(&text, name, labels))
    }

    /// Waits (the relay publishes its counters periodically) until metric `name` satisfies
    /// `ok`; returns the last value, panicking with the metrics text after `within`.
    pub fn wait_metric(
        &self,
        name: &str,
        labels: Option<&str>,
        within: Duration,
        ok: impl Fn(u64) -> bool,
    ) -> u64 {
        let start = Instant::now();
        loop {
            let v = self.metric(name, labels);
            if let Some(v) = v.filter(|v| ok(*v)) {
                return v;
            }
            assert!(
                start.elapsed() < within,
                "metric {name} {labels:?} = {v:?} did not reach the expected value within {within:?}; metrics:\n{}",
                self.get("/metrics").unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts a client in `ns` with TUN `tun` (`extra` arguments appended).
    pub fn start_client(&mut self, id: NsId, tun: &str, extra: &[&str]) -> usize {
        let ns = self.ns(id);
        let n = self.clients.len();
        let log = self.dir.path().join(format!("client-{n}.log"));
        let out = fs::File::create(&log).expect("client log");
        let err = out.try_clone().expect("client log");
        let mut cmd = ns.command(CLIENT_BIN);
        cmd.arg(format!("{RELAY_V4}:{PORT}"))
            .args(["--server-name", SERVER_NAME, "--tun", tun])
            .arg("--ca-file")
            .arg(self.dir.path().join("ca.pem"))
            .args(
                self.token_file
                    .iter()
                    .flat_map(|t| [std::ffi::OsStr::new("--token-file"), t.as_os_str()]),
            )
            .env_remove("OXIDIZE_TOKEN")
            .args([
                "--idle-timeout",
                "5",
                "--keepalive",
                "1",
                "--connect-timeout",
                "3",
            ])
            .args([
                "--backoff-initial",
                "0.1",
                "--backoff-max",
                "1",
                "--status-interval",
                "1",
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = ns.spawn(&mut cmd).expect("spawn the client");
        self.clients.push(Client {
            child: Some(child),
            log,
            tun: tun.to_owned(),
        });
        n
    }

    /// Asks client `n` for a status line (SIGUSR1) and returns its `rx=` packet count.
    pub fn status_rx_packets(&self, n: usize) -> u64 {
        let before = self.client_log(n).matches("status: ").count();
        let pid = self.clients[n]
            .child
            .as_ref()
            .map(|c| c.id())
            .expect("client running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGUSR1)
            .expect("SIGUSR1");
        let start = Instant::now();
        loop {
            let log = self.client_log(n);
            if log.matches("status: ").count() > before {
                return log
                    .lines()
                    .rev()
                    .find(|l| l.starts_with("status: "))
                    .and_then(|l| l.split_whitespace().find(|w| w.starts_with("rx=")))
                    .and_then(|w| w.trim_start_matches("rx=").parse().ok())
                    .expect("rx= in the status line");
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "client {n} printed no status line:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The client's log so far.
    pub fn client_log(&self, n: usize) -> String {
        fs::read_to_string(&self.clients[n].log).unwrap_or_default()
    }

    /// Waits until client `n` has an address in the tunnel and `ns` can ping the internet host
    /// through it; returns the address and how long it took.
    pub fn wait_tunnel(
        &mut self,
        id: NsId,
        n: usize,
        v6: bool,
        within: Duration,
    ) -> (IpAddr, Duration) {
        let start = Instant::now();
        let tun = self.clients[n].tun.clone();
        loop {
            let exited = self.clients[n]
                .child
                .as_mut()
                .and_then(|c| c.child_mut().try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "client {n} exited ({status}); its log:\n{}\nrelay log:\n{}",
                    self.client_log(n),
                    self.relay_text()
                );
            }
            let ns = self.ns(id);
            let family = if v6 { "-6" } else { "-4" };
            let addr = ns
                .ip(&format!("{family} -o addr show dev {tun} scope global"))
                .ok()
                .and_then(|out| {
                    out.split_whitespace()
                        .skip_while(|w| *w != "inet" && *w != "inet6")
                        .nth(1)
                        .and_then(|a| a.split('/').next())
                        .and_then(|a| a.parse::<IpAddr>().ok())
                });
            // The full-tunnel routes must be there too: the relay namespace forwards in the
            // kernel while a relay runs (NAT egress), so a ping could pass around the tunnel.
            let half = if v6 { "::/1" } else { "0.0.0.0/1" };
            let routed = ns
                .ip(&format!("{family} route show dev {tun}"))
                .is_ok_and(|r| r.contains(half));
            if let Some(addr) = addr.filter(|_| routed) {
                if topology::ping(ns, topology::internet_ip(v6), 1).unwrap_or(0) == 1 {
                    return (addr, start.elapsed());
                }
            }
            assert!(
                start.elapsed() < within,
                "client {n} had no working tunnel within {within:?}; client log:\n{}\nrelay log:\n{}",
                self.client_log(n),
                self.relay_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts `tcpdump` on the relay's client-side interface counting outer IP fragments
    /// (IPv4 MF/offset set, or an IPv6 fragment header); stop it with [`Bed::fragments_seen`].
    pub fn capture_fragments(&self) -> NsChild {
        let log = fs::File::create(self.dir.path().join("tcpdump.log")).expect("tcpdump log");
        let mut cmd = self.topo.relay.command("tcpdump");
        cmd.args(["-n", "-p", "-i", RELAY_CLIENT_IF, "-w", "/dev/null"])
            .arg("(ip[6:2] & 0x3fff != 0) or (ip6[6] == 44)")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        let child = self.topo.relay.spawn(&mut cmd).expect("start tcpdump");
        std::thread::sleep(Duration::from_secs(1));
        child
    }

    /// Stops the capture and returns how many fragments it saw.
    pub fn fragments_seen(&self, capture: NsChild) -> u64 {
        capture.stop(Signal::SIGINT, Duration::from_secs(5));
        let out = fs::read_to_string(self.dir.path().join("tcpdump.log")).unwrap_or_default();
        out.lines()
            .find(|l| l.contains("packets captured"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("tcpdump printed no summary: {out}"))
    }

    /// The relay's current log.
    pub fn relay_text(&self) -> String {
        fs::read_to_string(self.relay_log()).unwrap_or_default()
    }

    /// Stops client `n` with `signal`.
    pub fn stop_client(&mut self, n: usize, signal: Signal) -> Option<std::process::ExitStatus> {
        self.clients[n]
            .child
            .take()?
            .stop(signal, Duration::from_secs(10))
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for c in &mut self.clients {
            if let Some(child) = c.child.take() {
                child.stop(Signal::SIGTERM, Duration::from_secs(5));
            }
        }
        if let Some(relay) = self.relay.take() {
            relay.stop(Signal::SIGTERM, Duration::from_secs(10));
        }
    }
}

/// Sum of the samples of `name` in a Prometheus text exposition (only those whose label set
/// contains `labels`, when given).
pub fn metric_value(text: &str, name: &str, labels: Option<&str>) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, r)) => (m, r),
                None => (series, ""),
            };
            if metric != name || labels.is_some_and(|want| !rest.contains(want)) {
                return None;
            }
            value.parse::<f64>().ok().map(|v| v as u64)
        })
        .sum()
}
