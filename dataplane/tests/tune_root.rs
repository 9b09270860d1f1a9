//! The tuner on the real kernel: a multi-queue veth in a test-bed namespace (channels, GRO and
//! per-namespace `net.*` sysctls changed and restored), and real 2 MiB hugepages on node 0
//! allocated and restored to the value found. Nothing on the machine's NIC, its IRQs or its
//! global sysctls is touched.

use std::path::Path;
use std::process::Output;

use oxidize_crds::tuning::TuningReport;
use oxidize_testbed::link::{veth_pair, End};
use oxidize_testbed::Netns;
use oxidize_tune::ethtool_nl::NetlinkNic;
use oxidize_tune::{self as tune, Env, NicControl, NicKnob, RootDir};

fn run_tune(ns: &Netns, args: &[&str]) -> (Output, TuningReport) {
    let out = ns
        .command(env!("CARGO_BIN_EXE_oxidize-dataplane"))
        .arg("tune")
        .args(args)
        .output()
        .expect("run tune in the namespace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("no report ({e}): {out:?}"));
    (out, report)
}

fn knob(ns: &Netns, interface: &str, knob: NicKnob) -> String {
    ns.run(|| {
        let nic = NetlinkNic::new().expect("netlink runtime");
        nic.query(interface, knob)
            .expect("query")
            .expect("veth has it")
            .value
    })
    .expect("enter namespace")
}

fn sysctl(ns: &Netns, key: &str) -> String {
    ns.exec("sysctl", &["-n", key])
        .expect("sysctl in namespace")
        .trim()
        .to_owned()
}

fn host_sysctl(key: &str) -> String {
    let path = tune::sysctl::sysctl_path(key).expect("key");
    std::fs::read_to_string(path)
        .expect("host sysctl")
        .trim()
        .to_owned()
}

#[test]
fn root_veth_channels_gro_and_netns_sysctls_changed_and_restored() {
    if !oxidize_testbed::require_root(
        "root_veth_channels_gro_and_netns_sysctls_changed_and_restored",
    ) {
        return;
    }
    let ns = Netns::new("tune").expect("namespace");
    veth_pair(
        End {
            ns: &ns,
            name: "tva",
        },
        End {
            ns: &ns,
            name: "tvb",
        },
        4,
    )
    .expect("veth with 4 queues");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("tune-state.json");
    let plan_path = dir.path().join("plan.yaml");
    let log = dir.path().join("termination-log");

    let gro_before = knob(&ns, "tva", NicKnob::Gro);
    let gro_wanted = if gro_before == "on" { "false" } else { "true" };
    let gro_wanted_value = if gro_before == "on" { "off" } else { "on" };
    assert_eq!(knob(&ns, "tva", NicKnob::ChannelsRx), "4");
    let somaxconn_before = sysctl(&ns, "net.core.somaxconn");
    let forward_before = sysctl(&ns, "net.ipv4.ip_forward");
    let host_somaxconn = host_sysctl("net.core.somaxconn");
    let host_forward = host_sysctl("net.ipv4.ip_forward");
    let forward_wanted = if forward_before == "1" { "0" } else { "1" };

    std::fs::write(
        &plan_path,
        format!(
            "interface: tva\nqueues: 2\nworkerCores: \"0-1\"\npinIrqs: false\n\
             sysctls:\n  net.core.somaxconn: \"1000\"\n  net.ipv4.ip_forward: \"{forward_wanted}\"\n\
             nic:\n  channels: {{combined: 2}}\n  gro: {gro_wanted}\n"
        ),
    )
    .expect("plan");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            "--state-file".to_owned(),
            state.display().to_string(),
            "--termination-log".to_owned(),
            log.display().to_string(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let plan_arg = plan_path.display().to_string();
    let apply_args = args(&["--plan", &plan_arg]);
    let apply_args: Vec<&str> = apply_args.iter().map(String::as_str).collect();

    // `combined: 2` is what the operator renders for `nic.channels: 2`; a veth has rx and tx
    // channels only (`ethtool -l`: combined max 0), so the tuner sets rx 2 and tx 2.
    let (out, report) = run_tune(&ns, &apply_args);
    assert!(out.status.success() && report.success, "{out:?}");
    assert_eq!(report.changes.len(), 5, "{:#?}", report.changes);
    assert_eq!(knob(&ns, "tva", NicKnob::ChannelsRx), "2");
    assert_eq!(knob(&ns, "tva", NicKnob::ChannelsTx), "2");
    assert_eq!(knob(&ns, "tva", NicKnob::Gro), gro_wanted_value);
    assert_eq!(sysctl(&ns, "net.core.somaxconn"), "1000");
    assert_eq!(sysctl(&ns, "net.ipv4.ip_forward"), forward_wanted);
    assert_eq!(
        host_sysctl("net.core.somaxconn"),
        host_somaxconn,
        "host untouched"
    );
    assert_eq!(
        host_sysctl("net.ipv4.ip_forward"),
        host_forward,
        "host untouched"
    );
    let logged: TuningReport =
        serde_json::from_str(&std::fs::read_to_string(&log).expect("log")).expect("parses");
    assert_eq!(logged, report);

    let (out, again) = run_tune(&ns, &apply_args);
    assert!(
        out.status.success() && again.success && again.no_changes(),
        "{again:#?}"
    );

    let restore_args = args(&["--restore"]);
    let restore_args: Vec<&str> = restore_args.iter().map(String::as_str).collect();
    let (out, restored) = run_tune(&ns, &restore_args);
    assert!(out.status.success() && restored.success, "{out:?}");
    assert_eq!(restored.changes.len(), 5);
    assert_eq!(knob(&ns, "tva", NicKnob::ChannelsRx), "4");
    assert_eq!(knob(&ns, "tva", NicKnob::ChannelsTx), "4");
    assert_eq!(knob(&ns, "tva", NicKnob::Gro), gro_before);
    assert_eq!(sysctl(&ns, "net.core.somaxconn"), somaxconn_before);
    assert_eq!(sysctl(&ns, "net.ipv4.ip_forward"), forward_before);
    assert!(!state.exists(), "record removed after restore");
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["plan.yaml", "termination-log"],
        "restore left something of the tuner's (the lock file?) in the state directory"
    );
}

/// Puts node 0's 2 MiB pool back to what it was, also when the test fails.
struct HugepageGuard {
    path: &'static str,
    found: String,
}

impl Drop for HugepageGuard {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(self.path, &self.found) {
            eprintln!("could not restore {} to {}: {e}", self.path, self.found);
        }
    }
}

#[test]
fn root_hugepages_allocated_and_restored_to_the_value_found() {
    if !oxidize_testbed::require_root("root_hugepages_allocated_and_restored_to_the_value_found") {
        return;
    }
    const NODE0: &str = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages";
    let read = || -> u64 {
        std::fs::read_to_string(NODE0)
            .expect("nr_hugepages")
            .trim()
            .parse()
            .expect("number")
    };
    let found = read();
    let _guard = HugepageGuard {
        path: NODE0,
        found: found.to_string(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("tune-state.json");
    let fs = RootDir::new("/");
    let nic = NetlinkNic::new().expect("runtime");
    let env = Env { fs: &fs, nic: &nic };
    let want = found + 8;
    let plan = tune::parse_plan(&format!(
        "hugepages: {{size: 2Mi, countPerNode: {want}, nodes: [0]}}"
    ))
    .expect("plan");

    let report = tune::apply(&plan, None, Path::new(&state), env);
    assert!(report.success, "{report:#?}");
    let outcome = &report.hugepages[0];
    assert_eq!((outcome.node, outcome.planned), (0, want));
    assert_eq!(outcome.obtained, read(), "report matches the kernel");
    assert!(
        outcome.obtained > found,
        "the kernel reserved at least one page"
    );
    assert!(report.kubelet_restart_needed);

    let restored = tune::restore(Path::new(&state), env);
    assert!(restored.success, "{restored:#?}");
    assert_eq!(read(), found, "restored to the value found");
    assert!(!state.exists());
}

/// veth has no ring or coalescing settings, so these writes cannot change anything; the check is
/// that the hand-built ETHTOOL_MSG_RINGS_SET / COALESCE_SET messages pass the kernel's attribute
/// policy and reach the driver check (EOPNOTSUPP), rather than being rejected as malformed
/// (EINVAL).
#[test]
fn root_ring_and_coalesce_writes_are_well_formed() {
    if !oxidize_testbed::require_root("root_ring_and_coalesce_writes_are_well_formed") {
        return;
    }
    let ns = Netns::new("tunering").expect("namespace");
    veth_pair(
        End {
            ns: &ns,
            name: "tra",
        },
        End {
            ns: &ns,
            name: "trb",
        },
        2,
    )
    .expect("veth");
    let results = ns
        .run(|| {
            let nic = NetlinkNic::new().expect("runtime");
            [
                (NicKnob::RingRx, "512"),
                (NicKnob::RxUsecs, "8"),
                (NicKnob::AdaptiveRx, "off"),
            ]
            .map(|(knob, value)| (knob, nic.query("tra", knob), nic.set("tra", knob, value)))
        })
        .expect("enter namespace");
    for (knob, query, set) in results {
        assert_eq!(query, Ok(None), "{knob:?}: veth reports no such setting");
        let err = set.expect_err("veth cannot set it").to_string();
        assert!(err.contains("not supported"), "{knob:?}: {err}");
    }
}
