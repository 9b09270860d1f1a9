//! The tuner against a fake `/proc` + `/sys` tree and a fake NIC: every setting kind, rollback,
//! idempotence, restore, originals kept across runs, partial hugepages, refused IRQ writes.

mod tune_common;

use oxidize_crds::tuning::{HugepageSize, TuningReport};
use oxidize_tune::{self as tune, NicKnob, TuneState};
use tune_common::{plan, FakeNode, FULL_PLAN};

const BUSY_POLL: &str = "/proc/sys/net/core/busy_poll";
const TCP_RMEM: &str = "/proc/sys/net/ipv4/tcp_rmem";
const NODE0_2M: &str = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages";
const NODE1_2M: &str = "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages";

fn apply(node: &FakeNode, yaml: &str) -> TuningReport {
    tune::apply(&plan(yaml), None, &node.state_file(), node.env())
}

fn item<'a>(report: &'a TuningReport, prefix: &str) -> Option<&'a oxidize_crds::tuning::Change> {
    report.changes.iter().find(|c| c.item.starts_with(prefix))
}

#[test]
fn every_setting_kind_is_applied_read_back_and_recorded() {
    let node = FakeNode::new();
    let report = apply(&node, FULL_PLAN);
    assert!(report.success, "{report:#?}");

    // Hugepages on both nodes, the NIC's node (1) first.
    assert_eq!(node.get(NODE0_2M), "64");
    assert_eq!(node.get(NODE1_2M), "64");
    let nodes: Vec<u32> = report.hugepages.iter().map(|h| h.node).collect();
    assert_eq!(nodes, vec![1, 0]);
    assert!(report
        .hugepages
        .iter()
        .all(|h| h.size == HugepageSize::TwoMi && h.obtained == 64));
    assert!(report.kubelet_restart_needed);

    // Sysctls.
    assert_eq!(node.get(BUSY_POLL), "50");
    assert_eq!(node.get(TCP_RMEM), "4096 87380 16777216");
    let change = item(&report, "sysctl net.core.busy_poll").expect("busy_poll change");
    assert_eq!((change.from.as_str(), change.to.as_str()), ("0", "50"));

    // NIC.
    assert_eq!(node.nic.value(NicKnob::ChannelsCombined), "4");
    assert_eq!(node.nic.value(NicKnob::RingRx), "4096");
    assert_eq!(node.nic.value(NicKnob::RingTx), "4096");
    assert_eq!(node.nic.value(NicKnob::RxUsecs), "8");
    assert_eq!(node.nic.value(NicKnob::AdaptiveRx), "off");
    assert_eq!(node.nic.value(NicKnob::Gro), "off");
    // LRO was already off (and fixed): not touched.
    assert!(!node
        .nic
        .sets
        .borrow()
        .iter()
        .any(|(k, _)| *k == NicKnob::Lro));

    // IRQs: queue i on worker core 2+i; the link IRQ (44) left alone.
    for (irq, core) in [(40, "2"), (41, "3"), (42, "4"), (43, "5")] {
        assert_eq!(
            node.get(&format!("/proc/irq/{irq}/smp_affinity_list")),
            core
        );
    }
    assert_eq!(node.get("/proc/irq/44/smp_affinity_list"), "0-7");

    // Isolated cores are checked, never set: a warning and a reboot.
    assert!(report.reboot_needed);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("isolcpus=2-5") && w.contains("nohz_full=2-5")),
        "{:?}",
        report.warnings
    );
    assert_eq!(node.get("/sys/devices/system/cpu/isolated"), "");

    // Channels are changed before the IRQs are pinned (they can re-create the IRQs).
    let order: Vec<&str> = report.changes.iter().map(|c| c.item.as_str()).collect();
    let channels = order
        .iter()
        .position(|i| i.contains("channels"))
        .expect("channels");
    let irq = order
        .iter()
        .position(|i| i.starts_with("irq "))
        .expect("irq");
    assert!(channels < irq, "{order:?}");

    // Every change has its original recorded.
    let state = TuneState::load(&node.state_file()).expect("state");
    assert_eq!(state.originals.len(), report.changes.len());
    let busy = state
        .originals
        .iter()
        .find(|o| o.item == "sysctl net.core.busy_poll")
        .expect("recorded");
    assert_eq!(busy.value, "0");
}

#[test]
fn a_second_run_changes_nothing_and_says_so() {
    let node = FakeNode::new();
    assert!(apply(&node, FULL_PLAN).success);
    let writes = node.kernel.writes.borrow().len();
    let sets = node.nic.sets.borrow().len();
    let again = apply(&node, FULL_PLAN);
    assert!(again.success, "{again:#?}");
    assert!(again.no_changes(), "{:?}", again.changes);
    assert!(again
        .message
        .as_deref()
        .unwrap_or("")
        .contains("no changes"));
    assert_eq!(node.kernel.writes.borrow().len(), writes, "nothing written");
    assert_eq!(node.nic.sets.borrow().len(), sets, "nothing set");
    // The hugepage outcome is still reported.
    assert_eq!(again.hugepages.len(), 2);
}

#[test]
fn the_true_original_survives_a_second_run_with_another_value() {
    let node = FakeNode::new();
    assert!(apply(&node, "sysctls: {net.core.busy_poll: \"50\"}").success);
    let second = apply(&node, "sysctls: {net.core.busy_poll: \"100\"}");
    assert!(second.success);
    let change = item(&second, "sysctl net.core.busy_poll").expect("changed");
    assert_eq!((change.from.as_str(), change.to.as_str()), ("50", "100"));
    let state = TuneState::load(&node.state_file()).expect("state");
    assert_eq!(state.originals.len(), 1);
    assert_eq!(
        state.originals[0].value, "0",
        "the value before the first run"
    );
    let restored = tune::restore(&node.state_file(), node.env());
    assert!(restored.success);
    assert_eq!(node.get(BUSY_POLL), "0");
}

#[test]
fn restore_puts_every_value_back_and_removes_the_record() {
    let node = FakeNode::new();
    let before = node.snapshot();
    let report = apply(&node, FULL_PLAN);
    assert!(report.success);
    assert_ne!(node.snapshot(), before);
    assert!(node.state_file().exists());

    let restored = tune::restore(&node.state_file(), node.env());
    assert!(restored.success, "{restored:#?}");
    assert_eq!(restored.changes.len(), report.changes.len());
    assert!(restored.kubelet_restart_needed, "hugepages went back");
    // effective_affinity_list is the kernel's business; everything else is as found.
    let strip = |(files, nic): (std::collections::BTreeMap<std::path::PathBuf, String>, _)| {
        let files: std::collections::BTreeMap<_, _> = files
            .into_iter()
            .filter(|(p, _)| !p.ends_with("effective_affinity_list"))
            .collect();
        (files, nic)
    };
    assert_eq!(strip(node.snapshot()), strip(before));
    assert!(!node.state_file().exists(), "record removed");

    let again = tune::restore(&node.state_file(), node.env());
    assert!(again.success && again.no_changes());
}

#[test]
fn a_failure_in_the_middle_undoes_the_earlier_steps() {
    let node = FakeNode::new();
    let before = node.snapshot();
    // GRO is set after hugepages, sysctls, channels, rings and coalescing.
    node.nic.fail.borrow_mut().insert(NicKnob::Gro);
    let report = apply(&node, FULL_PLAN);
    assert!(!report.success);
    assert!(report.rolled_back);
    assert!(
        report.errors.iter().any(|e| e.contains("nic eth0 gro")),
        "{:?}",
        report.errors
    );
    assert!(report
        .message
        .as_deref()
        .unwrap_or("")
        .contains("rolled back"));
    let strip_effective = |s: (std::collections::BTreeMap<std::path::PathBuf, String>, _)| {
        (
            s.0.into_iter()
                .filter(|(p, _)| !p.ends_with("effective_affinity_list"))
                .collect::<Vec<_>>(),
            s.1,
        )
    };
    assert_eq!(strip_effective(node.snapshot()), strip_effective(before));
    assert!(!node.state_file().exists(), "no originals left to restore");
}

#[test]
fn a_kernel_refusing_a_sysctl_rolls_back_the_hugepages_before_it() {
    let node = FakeNode::new();
    node.kernel
        .refuse
        .borrow_mut()
        .insert(BUSY_POLL.into(), 22 /* EINVAL */);
    let report = apply(
        &node,
        "hugepages: {size: 2Mi, countPerNode: 8}\nsysctls: {net.core.busy_poll: \"50\"}\n",
    );
    assert!(!report.success && report.rolled_back);
    assert!(
        report.errors[0].contains("sysctl net.core.busy_poll"),
        "{:?}",
        report.errors
    );
    assert_eq!(node.get(NODE0_2M), "0");
    assert_eq!(node.get(NODE1_2M), "0");
    assert!(
        !report.kubelet_restart_needed,
        "the pools are back to their size"
    );
}

#[test]
fn an_earlier_record_survives_a_failed_run() {
    let node = FakeNode::new();
    assert!(apply(&node, "sysctls: {net.core.busy_poll: \"50\"}").success);
    node.nic.fail.borrow_mut().insert(NicKnob::Gro);
    let failed = apply(
        &node,
        "interface: eth0\nsysctls: {net.core.busy_poll: \"70\"}\nnic: {gro: false}\n",
    );
    assert!(!failed.success);
    assert_eq!(node.get(BUSY_POLL), "50", "back to before this run");
    let state = TuneState::load(&node.state_file()).expect("state");
    assert_eq!(state.originals.len(), 1);
    assert_eq!(
        state.originals[0].value, "0",
        "the first run's original kept"
    );
}

#[test]
fn partial_hugepage_allocation_is_reported_not_fatal() {
    let node = FakeNode::new();
    node.kernel
        .hugepage_limit
        .borrow_mut()
        .insert(NODE0_2M.into(), 10);
    let report = apply(&node, "hugepages: {size: 2Mi, countPerNode: 64}");
    assert!(report.success, "{report:#?}");
    let node0 = report
        .hugepages
        .iter()
        .find(|h| h.node == 0)
        .expect("node0");
    assert_eq!((node0.planned, node0.obtained), (64, 10));
    assert!(!node0.meets_plan());
    assert!(!report.hugepages_met());
    assert!(
        report.warnings.iter().any(|w| w.contains("10 of 64")),
        "{:?}",
        report.warnings
    );
    let change = item(&report, "hugepages 2Mi node0").expect("node0 changed");
    assert_eq!(change.to, "10");
}

#[test]
fn an_irq_that_refuses_the_write_is_a_warning() {
    let node = FakeNode::new();
    node.kernel
        .refuse
        .borrow_mut()
        .insert("/proc/irq/41/smp_affinity_list".into(), 5 /* EIO */);
    let report = apply(&node, "interface: eth0\nworkerCores: \"2-5\"\n");
    assert!(report.success, "{report:#?}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("irq 41") && w.contains("kernel-managed")),
        "{:?}",
        report.warnings
    );
    assert_eq!(node.get("/proc/irq/41/smp_affinity_list"), "0-7");
    assert_eq!(node.get("/proc/irq/42/smp_affinity_list"), "4");
    let state = TuneState::load(&node.state_file()).expect("state");
    assert!(state
        .originals
        .iter()
        .all(|o| !o.item.starts_with("irq 41")));
    assert_eq!(state.originals.len(), 3);
}

#[test]
fn an_effective_affinity_that_does_not_follow_is_a_warning() {
    let node = FakeNode::new();
    node.kernel.sticky_effective.borrow_mut().insert(42);
    let report = apply(&node, "interface: eth0\nworkerCores: \"2-5\"\n");
    assert!(report.success);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("irq 42: effective affinity is 0")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn isolated_cores_that_match_give_no_warning() {
    let node = FakeNode::new();
    node.put("/sys/devices/system/cpu/isolated", "2-5\n");
    node.put("/sys/devices/system/cpu/nohz_full", "2-5\n");
    let report = apply(&node, "isolatedCores: \"2-5\"");
    assert!(report.success && report.warnings.is_empty() && !report.reboot_needed);
    node.put("/sys/devices/system/cpu/nohz_full", "2-3\n");
    let report = apply(&node, "isolatedCores: \"2-5\"");
    assert!(report.reboot_needed);
    let warning = &report.warnings[0];
    assert!(
        warning.contains("nohz_full=2-5") && !warning.contains("isolcpus"),
        "{warning}"
    );
}

#[test]
fn irqbalance_that_would_move_the_irqs_is_a_warning() {
    let node = FakeNode::new();
    node.put("/proc/4242/comm", "irqbalance\n");
    node.put(
        "/etc/default/irqbalance",
        "#IRQBALANCE_ONESHOT=\nIRQBALANCE_BANNED_CPULIST=2-3\n",
    );
    let report = apply(&node, "interface: eth0\nworkerCores: \"2-5\"\n");
    assert!(report.success);
    let warning = report
        .warnings
        .iter()
        .find(|w| w.contains("irqbalance"))
        .expect("irqbalance warning");
    assert!(warning.contains("worker cores 4-5"), "{warning}");
    assert!(
        warning.contains("IRQBALANCE_BANNED_CPULIST=2-5"),
        "{warning}"
    );

    node.put(
        "/etc/default/irqbalance",
        "IRQBALANCE_BANNED_CPUS=\"0000003c\"\n",
    );
    let report = apply(&node, "interface: eth0\nworkerCores: \"2-5\"\n");
    assert!(
        !report.warnings.iter().any(|w| w.contains("irqbalance")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn restore_keeps_what_it_could_not_put_back() {
    let node = FakeNode::new();
    assert!(
        apply(
            &node,
            "sysctls: {net.core.busy_poll: \"50\", net.core.rmem_max: \"4194304\"}"
        )
        .success
    );
    node.kernel
        .refuse
        .borrow_mut()
        .insert(BUSY_POLL.into(), 1 /* EPERM */);
    let report = tune::restore(&node.state_file(), node.env());
    assert!(!report.success);
    assert_eq!(node.get("/proc/sys/net/core/rmem_max"), "212992");
    let state = TuneState::load(&node.state_file()).expect("state");
    assert_eq!(state.originals.len(), 1);
    assert_eq!(state.originals[0].item, "sysctl net.core.busy_poll");
    node.kernel.refuse.borrow_mut().clear();
    assert!(tune::restore(&node.state_file(), node.env()).success);
    assert_eq!(node.get(BUSY_POLL), "0");
    assert!(!node.state_file().exists());
}

#[test]
fn irqs_are_looked_up_again_after_a_channel_change() {
    let node = FakeNode::new();
    // Like a driver that frees and requests its vectors again: queues 0-3 move to IRQs 50-53.
    let root = node.root().to_owned();
    *node.nic.on_channels.borrow_mut() = Some(Box::new(move || {
        let put = |path: &str, value: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, value).expect("write");
        };
        let mut interrupts = String::from("            CPU0       CPU1\n");
        std::fs::remove_dir_all(root.join("sys/class/net/eth0/device/msi_irqs")).expect("rm");
        for q in 0..4 {
            let irq = 50 + q;
            put(
                &format!("sys/class/net/eth0/device/msi_irqs/{irq}"),
                "msix\n",
            );
            put(&format!("proc/irq/{irq}/smp_affinity_list"), "0-7\n");
            put(&format!("proc/irq/{irq}/effective_affinity_list"), "0\n");
            interrupts.push_str(&format!(
                " {irq}: 0 0 IR-PCI-MSIX {irq}-edge eth0-TxRx-{q}\n"
            ));
        }
        put("proc/interrupts", &interrupts);
    }));
    let report = apply(
        &node,
        "interface: eth0\nqueues: 4\nworkerCores: \"2-5\"\nnic: {channels: {combined: 4}}\n",
    );
    assert!(report.success, "{report:#?}");
    for (irq, core) in [(50, "2"), (51, "3"), (52, "4"), (53, "5")] {
        assert_eq!(
            node.get(&format!("/proc/irq/{irq}/smp_affinity_list")),
            core
        );
    }
    assert_eq!(
        node.get("/proc/irq/40/smp_affinity_list"),
        "0-7",
        "the old IRQ is not used"
    );
}
