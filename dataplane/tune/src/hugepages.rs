//! Hugepages per NUMA node, the NIC's node first.

use oxidize_crds::tuning::HugepagesPlan;

use super::cpu::memory_nodes;
use super::step::{Check, Step, Target};
use super::sysfs::Sysfs;

/// The per-node pool file for a page size.
pub fn nr_hugepages_path(node: u32, kib: u64) -> String {
    format!("/sys/devices/system/node/node{node}/hugepages/hugepages-{kib}kB/nr_hugepages")
}

/// Validates the hugepage plan and returns one step per node, `nic_node` first.
pub(crate) fn steps(
    plan: &HugepagesPlan,
    nic_node: Option<u32>,
    fs: &dyn Sysfs,
    errors: &mut Vec<String>,
) -> Vec<Step> {
    let mut nodes = if plan.nodes.is_empty() {
        memory_nodes(fs)
    } else {
        plan.nodes.clone()
    };
    if nodes.is_empty() {
        errors.push("hugepages: no NUMA node found under /sys/devices/system/node".into());
        return Vec::new();
    }
    nodes.sort_unstable();
    nodes.dedup();
    if let Some(first) = nic_node.and_then(|n| nodes.iter().position(|&x| x == n)) {
        let node = nodes.remove(first);
        nodes.insert(0, node);
    }
    let mut steps = Vec::new();
    for node in nodes {
        let path = nr_hugepages_path(node, plan.size.kib());
        let item = format!("hugepages {} node{node}", plan.size);
        if !fs.exists(&format!("/sys/devices/system/node/node{node}")) {
            errors.push(format!("{item}: NUMA node {node} does not exist"));
            continue;
        }
        if !fs.exists(&path) {
            errors.push(format!(
                "{item}: this kernel or CPU has no {} pages ({path} missing)",
                plan.size
            ));
            continue;
        }
        if let Some(total_kib) = node_mem_total_kib(fs, node) {
            let want_kib = plan.count_per_node.saturating_mul(plan.size.kib());
            if want_kib > total_kib {
                errors.push(format!(
                    "{item}: {} pages are {} MiB, more than the node's {} MiB of memory",
                    plan.count_per_node,
                    want_kib / 1024,
                    total_kib / 1024
                ));
                continue;
            }
        }
        steps.push(Step {
            item,
            target: Target::File { path },
            want: plan.count_per_node.to_string(),
            check: Check::Hugepages {
                node,
                size: plan.size,
            },
        });
    }
    steps
}

/// `MemTotal` of a NUMA node in KiB (`/sys/devices/system/node/nodeN/meminfo`), when readable.
fn node_mem_total_kib(fs: &dyn Sysfs, node: u32) -> Option<u64> {
    let text = fs
        .read(&format!("/sys/devices/system/node/node{node}/meminfo"))
        .ok()?;
    text.lines().find_map(|line| {
        let (_, rest) = line.split_once("MemTotal:")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}
