//! The relay's capability set, derived by running it, as root: the real `oxidize-dataplane relay`
//! on AF_XDP in the test bed's relay namespace, the way the operator's pod runs it: uid 0 with a
//! bounding (and so permitted and effective) set of exactly
//! [`oxidize_crds::contract::RELAY_CAPABILITIES`], nothing inheritable or ambient, a read-only
//! `/proc/sys` (what a CRI runtime gives a non-privileged container), a small RLIMIT_MEMLOCK, and
//! the default QUIC port 443. With the set it must become ready (XDP attached, a client served);
//! without any one of them it must refuse to start and name what is missing. The operator renders
//! the same constant, so a capability added or removed on one side only fails here.
//!
//! Tools: `unshare`, `mount`, `prlimit`, `setpriv` (util-linux).

mod relay_support;

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use oxidize_crds::contract::RELAY_CAPABILITIES;
use oxidize_testbed::netns::NsChild;
use relay_support::{RelayBed, TOKEN};

/// RLIMIT_MEMLOCK of the relay: 64 KiB, far below the UMEM, so locking it needs IPC_LOCK
/// whatever limit the container runtime passes on.
const MEMLOCK: &str = "65536";

/// The shell run in a fresh mount namespace: `/proc/sys` read-only (checked), then the relay
/// with the memlock limit and exactly the capabilities in `$1`.
const WRAPPER: &str = r#"
set -eu
caps="$1"; shift
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
if (echo 1 > /proc/sys/net/ipv4/ip_forward) 2>/dev/null; then
  echo "wrapper: /proc/sys is still writable" >&2
  exit 99
fi
exec prlimit --memlock=MEMLOCK:MEMLOCK -- \
  setpriv --bounding-set=-all"$caps" --inh-caps=-all --ambient-caps=-all -- "$@"
"#;

/// `+net_admin,+net_raw,...` for setpriv.
fn setpriv_list(caps: &[&str]) -> String {
    caps.iter()
        .map(|c| format!(",+{}", c.to_ascii_lowercase()))
        .collect()
}

/// The `CapEff`/`CapBnd` bits of `caps`.
fn bits(caps: &[&str]) -> u64 {
    caps.iter()
        .map(|c| {
            caps::Capability::from_str(&format!("CAP_{c}"))
                .unwrap_or_else(|e| panic!("unknown capability {c}: {e}"))
                .bitmask()
        })
        .fold(0, |a, b| a | b)
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix(field))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Starts the relay in the relay namespace under [`WRAPPER`] with exactly `caps`.
fn spawn(bed: &RelayBed, caps: &[&str], log_name: &str) -> NsChild {
    let log = std::fs::File::create(bed.dir.path().join(log_name)).expect("log file");
    let mut cmd = bed.topo.relay.command("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(WRAPPER.replace("MEMLOCK", MEMLOCK))
        .arg("relay-capabilities")
        .arg(setpriv_list(caps))
        .arg(env!("CARGO_BIN_EXE_oxidize-dataplane"))
        .args(["relay", "--io", "xdp", "--config"])
        .arg(bed.dir.path().join("relay.yaml"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
    bed.topo.relay.spawn(&mut cmd).expect("start the relay")
}

/// How a start ended: ready (still running), or exited with a status.
enum Start {
    Ready(NsChild),
    Exited(ExitStatus),
}

fn start(bed: &RelayBed, caps: &[&str], log_name: &str) -> Start {
    let mut child = spawn(bed, caps, log_name);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.child_mut().try_wait() {
            return Start::Exited(status);
        }
        if let Some((200, _)) = bed.get("/readyz") {
            return Start::Ready(child);
        }
        assert!(
            Instant::now() < deadline,
            "with {caps:?}: neither ready nor exited within 30 s; log:\n{}",
            bed.log(log_name)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_config(bed: &RelayBed) {
    // The CRD's default port: on AF_XDP nothing binds it, so no NET_BIND_SERVICE.
    let path = bed.dir.path().join("relay.yaml");
    let text = std::fs::read_to_string(&path).expect("read config");
    let text = text.replace(&format!("port: {}", relay_support::PORT), "port: 443");
    std::fs::write(&path, text).expect("write config");
}

fn client_pings(bed: &RelayBed) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.venv/bin/python")
        .canonicalize();
    assert!(path.is_ok(), "no .venv: run scripts/setup.sh");
    bed.client_to(
        &format!("{}:443", oxidize_testbed::topology::RELAY_V4),
        &["--token", TOKEN, "--pings", "2"],
    )
}

#[test]
fn root_relay_capabilities_are_exactly_the_rendered_set() {
    if !oxidize_testbed::require_root("root_relay_capabilities_are_exactly_the_rendered_set") {
        return;
    }
    let bed = RelayBed::new();
    write_config(&bed);
    // Forwarding is the tune step's; the relay only reads it (through the read-only /proc/sys).
    oxidize_testbed::link::set_forwarding(&bed.topo.relay, true).expect("forwarding on");

    // Exactly the set: ready, XDP attached, a client served.
    let relay = match start(&bed, &RELAY_CAPABILITIES, "all.log") {
        Start::Ready(child) => child,
        Start::Exited(status) => panic!(
            "the relay did not start with exactly {RELAY_CAPABILITIES:?} ({status}); log:\n{}",
            bed.log("all.log")
        ),
    };
    let want = bits(&RELAY_CAPABILITIES);
    assert_eq!(
        status_field(relay.id(), "CapEff:"),
        Some(want),
        "the relay's effective set is not exactly {RELAY_CAPABILITIES:?}"
    );
    assert_eq!(status_field(relay.id(), "CapBnd:"), Some(want));
    let link = bed
        .topo
        .relay
        .ip("-d link show dev r-cli")
        .expect("ip link");
    assert!(link.contains("prog/xdp"), "XDP not attached:\n{link}");
    let pings = client_pings(&bed);
    assert_eq!(
        pings["ping_replies"],
        2,
        "{pings}\nrelay log:\n{}",
        bed.log("all.log")
    );
    let status = relay
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .expect("relay exit status");
    assert!(status.success(), "{status}; log:\n{}", bed.log("all.log"));
    assert_eq!(bed.leftovers(), Vec::<String>::new());
    println!("ready with exactly {RELAY_CAPABILITIES:?}, read-only /proc/sys, memlock {MEMLOCK}");

    // Each one is needed: without it the relay refuses to start and says which is missing.
    for missing in RELAY_CAPABILITIES {
        let caps: Vec<&str> = RELAY_CAPABILITIES
            .into_iter()
            .filter(|c| *c != missing)
            .collect();
        let log_name = format!("without-{missing}.log");
        let status = match start(&bed, &caps, &log_name) {
            Start::Exited(status) => status,
            Start::Ready(child) => {
                drop(child);
                panic!(
                    "the relay became ready without {missing}: drop it from RELAY_CAPABILITIES; \
                     log:\n{}",
                    bed.log(&log_name)
                );
            }
        };
        let log = bed.log(&log_name);
        assert!(!status.success(), "without {missing}: {status}\n{log}");
        assert_ne!(status.code(), Some(99), "the wrapper failed:\n{log}");
        assert!(
            log.contains(&format!("CAP_{missing}")),
            "without {missing} the log does not name CAP_{missing}:\n{log}"
        );
        let last = log.lines().last().unwrap_or_default();
        println!("without {missing}: {status}: {last}");
        assert_eq!(
            bed.leftovers(),
            Vec::<String>::new(),
            "after a run without {missing}"
        );
    }
}
