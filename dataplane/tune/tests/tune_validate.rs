//! An invalid plan is refused as a whole: nothing is written, and the report names each wrong item.

mod tune_common;

use oxidize_tune as tune;
use tune_common::{plan, FakeNode};

/// Applies `yaml` and checks that it fails, writes nothing, records nothing, and names `expect`.
fn refused(yaml: &str, expect: &[&str]) {
    let node = FakeNode::new();
    let before = node.snapshot();
    let report = tune::apply(&plan(yaml), None, &node.state_file(), node.env());
    assert!(!report.success, "{yaml}: {report:#?}");
    assert!(report.changes.is_empty());
    assert_eq!(
        report.message.as_deref(),
        Some("invalid plan: nothing was changed")
    );
    for needle in expect {
        assert!(
            report.errors.iter().any(|e| e.contains(needle)),
            "{yaml}: no error containing {needle:?} in {:?}",
            report.errors
        );
    }
    assert!(
        node.kernel.writes.borrow().is_empty(),
        "{yaml}: wrote something"
    );
    assert!(node.nic.sets.borrow().is_empty(), "{yaml}: set something");
    assert_eq!(node.snapshot(), before);
    assert!(!node.state_file().exists());
}

#[test]
fn unknown_sysctl_keys_are_refused() {
    refused(
        "sysctls: {net.core.busy_poll: \"50\", net.core.no_such_knob: \"1\"}",
        &["sysctl net.core.no_such_knob: unknown key"],
    );
    refused(
        "sysctls: {\"../../etc/passwd\": \"x\"}",
        &["not a sysctl name"],
    );
}

#[test]
fn values_the_kernel_would_refuse_are_refused() {
    refused(
        "sysctls: {net.core.busy_poll: fast}",
        &["sysctl net.core.busy_poll: value \"fast\" is not 1 integer"],
    );
    refused(
        "sysctls: {net.ipv4.tcp_rmem: \"4096\"}",
        &["is not 3 integer"],
    );
    refused("sysctls: {kernel.osrelease: \"7.0\"}", &["read-only"]);
}

#[test]
fn cores_that_do_not_exist_are_refused() {
    refused(
        "interface: eth0\nworkerCores: \"6-9\"",
        &["workerCores: cores 8-9 do not exist or are offline (online: 0-7)"],
    );
    refused(
        "isolatedCores: \"5-2\"",
        &["isolatedCores", "ends before it starts"],
    );
}

#[test]
fn a_missing_interface_is_refused() {
    refused(
        "interface: eth9\nnic: {gro: false}",
        &["interface \"eth9\" does not exist"],
    );
    refused("nic: {gro: false}", &["no interface"]);
}

#[test]
fn more_queues_than_the_nic_or_the_cores_is_refused() {
    refused(
        "interface: eth0\nqueues: 12\nworkerCores: \"0-7\"",
        &[
            "queues: 12 is more than the 8 queues eth0 will have",
            "workerCores has 8",
        ],
    );
    refused(
        "interface: eth0\nqueues: 6\nworkerCores: \"0-7\"\nnic: {channels: {combined: 4}}",
        &["queues: 6 is more than the 4 queues eth0 will have"],
    );
    refused(
        "interface: eth0\nnic: {channels: {combined: 32}}",
        &["nic eth0 channels combined: 32 is more than the driver's maximum 16"],
    );
}

#[test]
fn nic_settings_the_driver_lacks_or_fixes_are_refused() {
    refused(
        "interface: eth0\nnic: {channels: {rx: 2}}",
        &["nic eth0 channels rx: the driver does not support this setting"],
    );
    refused("interface: eth0\nnic: {lro: true}", &["fixes it at off"]);
}

#[test]
fn missing_hugepage_sizes_and_nodes_are_refused() {
    refused(
        "hugepages: {size: 2Mi, countPerNode: 8, nodes: [0, 3]}",
        &["hugepages 2Mi node3: NUMA node 3 does not exist"],
    );
    let node = FakeNode::new();
    std::fs::remove_dir_all(
        node.root()
            .join("sys/devices/system/node/node0/hugepages/hugepages-1048576kB"),
    )
    .expect("rm");
    let report = tune::apply(
        &plan("hugepages: {size: 1Gi, countPerNode: 1}"),
        None,
        &node.state_file(),
        node.env(),
    );
    assert!(!report.success);
    assert!(
        report.errors[0].contains("no 1Gi pages"),
        "{:?}",
        report.errors
    );
    assert!(
        node.kernel.writes.borrow().is_empty(),
        "node1 not written either"
    );
}

#[test]
fn every_wrong_item_is_listed_at_once() {
    refused(
        "sysctls: {net.core.nope: \"1\", net.core.busy_poll: x}\nisolatedCores: \"99\"",
        &["net.core.nope", "net.core.busy_poll", "isolatedCores"],
    );
}

#[test]
fn a_document_of_another_kind_is_refused() {
    refused(
        "apiVersion: v1\nkind: ConfigMap",
        &["expected relay.oxidize.dev/v1alpha1 TuningPlan"],
    );
}

#[test]
fn more_hugepages_than_the_node_has_memory_is_refused() {
    let node = FakeNode::new();
    node.put(
        "/sys/devices/system/node/node0/meminfo",
        "Node 0 MemTotal:        4194304 kB\nNode 0 MemFree:         1048576 kB\n",
    );
    let report = tune::apply(
        &plan("hugepages: {size: 1Gi, countPerNode: 5, nodes: [0]}"),
        None,
        &node.state_file(),
        node.env(),
    );
    assert!(!report.success);
    assert!(
        report.errors[0].contains("5 pages are 5120 MiB, more than the node's 4096 MiB"),
        "{:?}",
        report.errors
    );
    assert!(node.kernel.writes.borrow().is_empty());
    let fits = tune::apply(
        &plan("hugepages: {size: 1Gi, countPerNode: 2, nodes: [0]}"),
        None,
        &node.state_file(),
        node.env(),
    );
    assert!(fits.success, "{fits:#?}");
}
