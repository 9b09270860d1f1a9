//! Shared pieces of the relay's root tests: certificates, the config document, starting the
//! relay in the test bed's relay namespace, the aioquic client, and reading the endpoint.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxidize_testbed::netns::NsChild;
use oxidize_testbed::topology::{Topology, TopologyOptions, INTERNET_V4, RELAY_V4};

/// The relay's QUIC port in the bed.
pub(crate) const PORT: u16 = 4433;
/// The relay's health/metrics endpoint inside the relay namespace.
pub(crate) const METRICS: &str = "127.0.0.1:9464";
/// The accepted token.
pub(crate) const TOKEN: &str = "interop-token-1";

/// A bed with a relay config, certificates and tokens on disk.
pub(crate) struct RelayBed {
    /// The namespaces (client, relay, internet + its servers).
    pub(crate) topo: Topology,
    /// Files of this test.
    pub(crate) dir: tempfile::TempDir,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("dataplane/ has a parent")
        .to_path_buf()
}

/// Writes a fresh CA (`ca.pem`) and a `relay.test` certificate it signed (`tls.crt`, `tls.key`).
pub(crate) fn write_certs(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name
        .push(DnType::CommonName, "oxidize interop CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let mut leaf = CertificateParams::new(vec!["relay.test".to_owned()]).expect("leaf params");
    leaf.distinguished_name
        .push(DnType::CommonName, "relay.test");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .expect("leaf cert");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write CA");
    std::fs::write(dir.join("tls.crt"), leaf_cert.pem()).expect("write cert");
    std::fs::write(dir.join("tls.key"), leaf_key.serialize_pem()).expect("write key");
}

impl RelayBed {
    /// Builds the bed (relay veth with 2 queues, no kernel forwarding until the relay starts)
    /// and the relay's files.
    pub(crate) fn new() -> Self {
        let topo = Topology::new(&TopologyOptions {
            relay_queues: 2,
            forwarding: false,
            servers: true,
        })
        .expect("test bed");
        let dir = tempfile::tempdir().expect("tempdir");
        write_certs(dir.path());
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("mkdir tokens");
        std::fs::write(tokens.join("client-a"), format!("{TOKEN}\n")).expect("write token");
        let config = format!(
            "apiVersion: relay.oxidize.dev/v1alpha1
kind: DataplaneConfig
interface: r-cli
queues: 2
workerCores: [0, 1]
port: {PORT}
metricsAddr: {METRICS}
tlsCertFile: {d}/tls.crt
tlsKeyFile: {d}/tls.key
tokensDir: {d}/tokens
clientPoolIpv4: 10.99.0.0/24
clientPoolIpv6: fd99::/64
egress: nat
zeroCopy: auto
busyPoll: false
relay:
  egressInterface: r-wan
  drainTimeoutSeconds: 2
  idleTimeoutSeconds: 20
",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("relay.yaml"), config).expect("write config");
        RelayBed { topo, dir }
    }

    /// Starts the relay (AF_XDP) in the relay namespace and waits until `/readyz` says ready.
    pub(crate) fn start_relay(&self, log_name: &str) -> NsChild {
        self.start_relay_with(log_name, &[])
    }

    /// Like [`RelayBed::start_relay`] with extra arguments (e.g. `--io udp`).
    pub(crate) fn start_relay_with(&self, log_name: &str, extra: &[&str]) -> NsChild {
        // The relay only checks forwarding; on a node the tune step turns it on.
        oxidize_testbed::link::set_forwarding(&self.topo.relay, true).expect("forwarding on");
        let log = std::fs::File::create(self.dir.path().join(log_name)).expect("log file");
        let mut cmd = self
            .topo
            .relay
            .command(env!("CARGO_BIN_EXE_oxidize-dataplane"));
        cmd.args(["relay", "--config"])
            .arg(self.dir.path().join("relay.yaml"))
            .args(extra)
            .env("RUST_LOG", "info,oxidize_relay_core=debug")
            .stdout(Stdio::null())
            .stderr(log);
        let child = self.topo.relay.spawn(&mut cmd).expect("start relay");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((200, _)) = self.get("/readyz") {
                return child;
            }
            assert!(
                Instant::now() < deadline,
                "relay not ready within 20 s; log:\n{}",
                self.log(log_name)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A log file of this test.
    pub(crate) fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// GET `path` from the relay's endpoint: (status, body).
    pub(crate) fn get(&self, path: &str) -> Option<(u16, String)> {
        let path = path.to_owned();
        self.topo
            .relay
            .run(move || -> Option<(u16, String)> {
                let mut s = TcpStream::connect(METRICS).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
                write!(s, "GET {path} HTTP/1.1\r\nHost: relay\r\n\r\n").ok()?;
                let mut out = String::new();
                s.read_to_string(&mut out).ok()?;
                let status = out.get(9..12)?.parse().ok()?;
                let body = out.split_once("\r\n\r\n")?.1.to_owned();
                Some((status, body))
            })
            .ok()
            .flatten()
    }

    /// A sample's value from `/metrics`, if the series is there.
    pub(crate) fn try_metric(&self, series: &str) -> Option<u64> {
        let (_, body) = self.get("/metrics")?;
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// A sample's value from `/metrics` (the exact series text, e.g. `x{a="b"}`).
    pub(crate) fn metric(&self, series: &str) -> u64 {
        let (_, body) = self.get("/metrics").expect("metrics endpoint answers");
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no series {series} in:\n{body}"))
    }

    /// The aioquic client command in the client namespace, to the relay's IPv4 address.
    pub(crate) fn client_command(&self, extra: &[&str]) -> Command {
        self.client_command_to(&format!("{RELAY_V4}:{PORT}"), extra)
    }

    /// The aioquic client command to `relay` (`addr:port`, `[v6]:port`).
    pub(crate) fn client_command_to(&self, relay: &str, extra: &[&str]) -> Command {
        let root = workspace_root();
        let mut cmd = self
            .topo
            .client
            .command(root.join(".venv/bin/python").to_str().expect("utf-8 path"));
        cmd.arg(root.join("e2e/interop/connect_ip_client.py"))
            .arg("--relay")
            .arg(relay)
            .arg("--ca")
            .arg(self.dir.path().join("ca.pem"))
            .arg("--target")
            .arg(INTERNET_V4.to_string())
            .args(extra);
        cmd
    }

    /// Runs the client to completion and returns its JSON result.
    pub(crate) fn client(&self, extra: &[&str]) -> serde_json::Value {
        self.client_to(&format!("{RELAY_V4}:{PORT}"), extra)
    }

    /// Like [`RelayBed::client`] to another relay address (e.g. IPv6).
    pub(crate) fn client_to(&self, relay: &str, extra: &[&str]) -> serde_json::Value {
        let out = self
            .client_command_to(relay, extra)
            .output()
            .expect("run the aioquic client");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "client output is not JSON ({e}): {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// What the relay namespace still has: XDP on r-cli, a TUN device, our nft table.
    pub(crate) fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        let link = self
            .topo
            .relay
            .ip("link show dev r-cli")
            .unwrap_or_default();
        if link.contains("xdp") {
            found.push(format!("XDP still attached: {link}"));
        }
        let links = self.topo.relay.ip("link show").unwrap_or_default();
        if links.contains("oxz0") {
            found.push("TUN device oxz0 left".to_owned());
        }
        let tables = self
            .topo
            .relay
            .exec("nft", &["list", "tables"])
            .unwrap_or_default();
        if tables.contains("oxidize") {
            found.push(format!("nft table left: {tables}"));
        }
        found
    }
}
