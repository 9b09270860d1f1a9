//! Interop, as root: an aioquic CONNECT-IP client (e2e/interop) in the client namespace, the
//! relay on AF_XDP on a 2-queue veth in the relay namespace, the internet host behind it.

mod relay_support;

use std::time::Duration;

use nix::sys::signal::Signal;
use oxidize_testbed::wait;
use relay_support::{RelayBed, TOKEN};

/// How long to wait for a counter: the relay publishes its counters every 250 ms and reads the
/// XDP ones every second, so a count read right after the traffic may not be there yet.
const COUNTED: Duration = Duration::from_secs(10);

fn as_u64(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no number `{key}` in {v}"))
}

#[test]
fn root_relay_interop_tunnel_auth_spoofing_two_clients() {
    if !oxidize_testbed::require_root("root_relay_interop_tunnel_auth_spoofing_two_clients") {
        return;
    }
    let bed = RelayBed::new();
    let relay = bed.start_relay("relay.log");
    let echo = bed.topo.udp_echo_server().expect("echo server");

    // A client with the token gets an address, pings and UDP echoes through the tunnel.
    let ok = bed.client(&["--token", TOKEN, "--pings", "3", "--echoes", "3"]);
    assert_eq!(ok["status"], 200, "{ok}\n{}", bed.log("relay.log"));
    let addr = ok["address"].as_str().expect("address").to_owned();
    assert!(addr.starts_with("10.99.0."), "{ok}");
    let metrics = || bed.get("/metrics").map(|m| m.1).unwrap_or_default();
    assert_eq!(
        as_u64(&ok, "ping_replies"),
        3,
        "{ok}\n{}\n{}",
        metrics(),
        bed.log("relay.log")
    );
    assert_eq!(as_u64(&ok, "udp_echoes"), 3, "{ok}");
    assert!(as_u64(&ok, "routes") >= 1, "{ok}");
    wait::until(
        "6 tunnel packets to the client counted",
        COUNTED,
        || bed.try_metric("oxidize_relay_tunnel_packets_total{direction=\"to_client\"}"),
        |v| v.is_some_and(|v| v >= 6),
    );
    wait::try_until(
        "XDP redirects counted",
        COUNTED,
        || bed.try_metric("oxidize_relay_xdp_packets_total{action=\"redirected\"}"),
        |v| v.is_some_and(|v| v > 0),
    )
    .unwrap_or_else(|t| panic!("{t}\n{}", bed.log("relay.log")));
    assert_eq!(
        bed.metric("oxidize_relay_xsk_events_total{worker=\"0\",kind=\"rx_invalid_descs\"}"),
        0
    );

    // Over IPv6 on the outside (AF_XDP parses and frames IPv6/UDP, replies to the learned MAC).
    let v6 = bed.client_to(
        &format!(
            "[{}]:{}",
            oxidize_testbed::topology::RELAY_V6,
            relay_support::PORT
        ),
        &["--token", TOKEN, "--pings", "2", "--echoes", "2"],
    );
    assert_eq!(v6["status"], 200, "{v6}\n{}", bed.log("relay.log"));
    assert_eq!(as_u64(&v6, "ping_replies"), 2, "{v6}");
    assert_eq!(as_u64(&v6, "udp_echoes"), 2, "{v6}");

    // IPv6 inside the tunnel: an address from the IPv6 pool, ICMPv6 echo and UDP over IPv6
    // through the relay's NAT66.
    let inner6 = bed.client(&[
        "--token",
        TOKEN,
        "--inet6",
        "--target",
        &oxidize_testbed::topology::INTERNET_V6.to_string(),
        "--pings",
        "2",
        "--echoes",
        "2",
    ]);
    assert_eq!(inner6["status"], 200, "{inner6}");
    assert!(
        inner6["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("fd99:")),
        "{inner6}"
    );
    assert_eq!(
        as_u64(&inner6, "ping_replies"),
        2,
        "{inner6}\n{}",
        bed.log("relay.log")
    );
    assert_eq!(as_u64(&inner6, "udp_echoes"), 2, "{inner6}");

    // Wrong token: 403, and nothing it sends reaches the internet host.
    let served = echo.served();
    let wrong = bed.client(&["--token", "not-the-token", "--pings", "2", "--echoes", "2"]);
    assert_eq!(wrong["status"], 403, "{wrong}");
    assert_eq!(as_u64(&wrong, "ping_replies"), 0, "{wrong}");
    assert_eq!(as_u64(&wrong, "udp_echoes"), 0, "{wrong}");
    assert_eq!(
        echo.served(),
        served,
        "a refused client's packet was relayed"
    );
    let wrong_token = wait::until(
        "the wrong token counted",
        COUNTED,
        || bed.metric("oxidize_relay_auth_failures_total{kind=\"wrong_token\"}"),
        |v| *v >= 1,
    );
    assert_eq!(wrong_token, 1);

    // No token: 401.
    let none = bed.client(&["--pings", "0", "--echoes", "0"]);
    assert_eq!(none["status"], 401, "{none}");
    let missing_token = wait::until(
        "the missing token counted",
        COUNTED,
        || bed.metric("oxidize_relay_auth_failures_total{kind=\"missing_token\"}"),
        |v| *v >= 1,
    );
    assert_eq!(missing_token, 1);

    // Spoofed inner source: dropped and counted; the internet host sees nothing.
    let spoofed_before = bed.metric("oxidize_relay_drops_total{reason=\"spoofed_source\"}");
    let served = echo.served();
    let spoof = bed.client(&["--token", TOKEN, "--spoof", "--pings", "2", "--echoes", "2"]);
    assert_eq!(spoof["status"], 200, "{spoof}");
    assert_eq!(as_u64(&spoof, "ping_replies"), 0, "{spoof}");
    assert_eq!(as_u64(&spoof, "udp_echoes"), 0, "{spoof}");
    assert_eq!(echo.served(), served, "a spoofed packet was relayed");
    wait::until(
        &format!("4 more spoofed packets dropped than {spoofed_before}"),
        COUNTED,
        || bed.metric("oxidize_relay_drops_total{reason=\"spoofed_source\"}"),
        |v| *v >= spoofed_before + 4,
    );

    // Two clients at once: different addresses, each only its own replies. Each keeps its tunnel
    // open for 5 s after its traffic, so the sessions overlap even when one Python start is slow
    // (otherwise the first may end before the second asks, and its freed address is reused).
    let spawn = || {
        bed.client_command(&[
            "--token", TOKEN, "--pings", "5", "--echoes", "5", "--hold", "5",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn client")
    };
    let (c1, c2) = (spawn(), spawn());
    let parse = |c: std::process::Child| -> serde_json::Value {
        let out = c.wait_with_output().expect("client");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        serde_json::from_str(text.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    let (r1, r2) = (parse(c1), parse(c2));
    for r in [&r1, &r2] {
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(as_u64(r, "ping_replies"), 5, "{r}");
        assert_eq!(as_u64(r, "udp_echoes"), 5, "{r}");
        assert_eq!(as_u64(r, "foreign_packets"), 0, "{r}");
    }
    assert_ne!(r1["address"], r2["address"], "{r1} {r2}");

    drop(relay);
}

#[test]
fn root_relay_sigterm_closes_cleanly_and_sigkill_restarts() {
    if !oxidize_testbed::require_root("root_relay_sigterm_closes_cleanly_and_sigkill_restarts") {
        return;
    }
    let bed = RelayBed::new();
    let relay = bed.start_relay("relay-1.log");
    let mut holder = bed
        .client_command(&[
            "--token", TOKEN, "--pings", "1", "--echoes", "0", "--hold", "15",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn holding client");
    // Wait until it holds an open session.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while bed.metric("oxidize_relay_sessions") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            bed.log("relay-1.log")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // While draining (GOAWAY sent, waiting for clients) the relay is alive but not ready.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(relay.id() as i32),
        Signal::SIGTERM,
    )
    .expect("SIGTERM");
    wait::until(
        "/readyz to answer 503 shutting down",
        COUNTED,
        || bed.get("/readyz"),
        |r| matches!(r, Some((503, body)) if body.contains("shutting down")),
    );
    assert_eq!(bed.get("/healthz").map(|r| r.0), Some(200));
    let status = relay
        .stop(Signal::SIGTERM, Duration::from_secs(15))
        .expect("relay exits");
    assert!(
        status.success(),
        "relay exit {status:?}\n{}",
        bed.log("relay-1.log")
    );
    let out = holder.wait_with_output_ref();
    let closed = &out["closed_by_relay"];
    assert_eq!(
        closed["error_code"], 0x100,
        "H3_NO_ERROR close expected: {out}"
    );
    assert_eq!(out["goaway"], true, "{out}");
    let left = bed.leftovers();
    assert!(left.is_empty(), "after SIGTERM: {left:?}");

    // SIGKILL leaves the TUN's table behind; the next start cleans up and serves again.
    let relay = bed.start_relay("relay-2.log");
    relay.stop(Signal::SIGKILL, Duration::from_secs(5));
    let relay = bed.start_relay("relay-3.log");
    let ok = bed.client(&["--token", TOKEN, "--pings", "2", "--echoes", "2"]);
    assert_eq!(ok["status"], 200, "{ok}\n{}", bed.log("relay-3.log"));
    assert_eq!(as_u64(&ok, "ping_replies"), 2, "{ok}");
    assert_eq!(as_u64(&ok, "udp_echoes"), 2, "{ok}");
    let status = relay
        .stop(Signal::SIGTERM, Duration::from_secs(15))
        .expect("relay exits");
    assert!(status.success(), "{}", bed.log("relay-3.log"));
    assert!(bed.leftovers().is_empty(), "{:?}", bed.leftovers());
}

#[test]
fn root_relay_udp_backend_and_secret_reload() {
    if !oxidize_testbed::require_root("root_relay_udp_backend_and_secret_reload") {
        return;
    }
    let bed = RelayBed::new();
    let relay = bed.start_relay_with("relay.log", &["--io", "udp"]);
    let link = bed.topo.relay.ip("link show dev r-cli").expect("ip link");
    assert!(
        !link.contains("xdp"),
        "--io udp must not attach XDP: {link}"
    );
    let ok = bed.client(&["--token", TOKEN, "--pings", "2", "--echoes", "2"]);
    assert_eq!(ok["status"], 200, "{ok}\n{}", bed.log("relay.log"));
    assert_eq!(as_u64(&ok, "ping_replies"), 2, "{ok}");
    assert_eq!(as_u64(&ok, "udp_echoes"), 2, "{ok}");

    // A token added to the mounted directory is accepted once the relay has noticed it.
    let before = bed.client(&["--token", "added-later", "--pings", "0", "--echoes", "0"]);
    assert_eq!(before["status"], 403, "{before}");
    std::fs::write(bed.dir.path().join("tokens/client-b"), "added-later").expect("write token");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while bed.metric("oxidize_relay_secret_reloads_total{result=\"tokens\"}") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            bed.log("relay.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = bed.client(&["--token", "added-later", "--pings", "1", "--echoes", "1"]);
    assert_eq!(after["status"], 200, "{after}");
    assert_eq!(as_u64(&after, "udp_echoes"), 1, "{after}");

    // A new certificate from a new CA: once reloaded, a client that trusts only the new CA
    // connects (so the relay serves the new certificate).
    relay_support::write_certs(bed.dir.path());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while bed.metric("oxidize_relay_secret_reloads_total{result=\"tls\"}") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            bed.log("relay.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let rotated = bed.client(&["--token", TOKEN, "--pings", "1", "--echoes", "0"]);
    assert_eq!(
        rotated["status"],
        200,
        "{rotated}\n{}",
        bed.log("relay.log")
    );

    let status = relay
        .stop(Signal::SIGTERM, Duration::from_secs(15))
        .expect("relay exits");
    assert!(status.success(), "{}", bed.log("relay.log"));
    assert!(bed.leftovers().is_empty(), "{:?}", bed.leftovers());
}

trait WaitJson {
    fn wait_with_output_ref(&mut self) -> serde_json::Value;
}

impl WaitJson for std::process::Child {
    fn wait_with_output_ref(&mut self) -> serde_json::Value {
        use std::io::Read;
        let mut text = String::new();
        if let Some(mut out) = self.stdout.take() {
            let _ = out.read_to_string(&mut text);
        }
        let _ = self.wait();
        serde_json::from_str(text.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}
