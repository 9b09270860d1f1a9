//! CPU and NUMA topology read from sysfs.

use oxidize_crds::tuning::{format_core_list, parse_core_list};

use super::sysfs::{read_trimmed, Sysfs};

/// Online cores (`/sys/devices/system/cpu/online`).
pub(crate) fn online_cores(fs: &dyn Sysfs) -> Result<Vec<u32>, String> {
    let path = "/sys/devices/system/cpu/online";
    let text = read_trimmed(fs, path)?;
    parse_core_list(&text).map_err(|e| format!("{path}: {e}"))
}

/// Parses a plan core list and checks every core is online; errors name the plan field.
pub(crate) fn plan_cores(
    field: &str,
    list: &str,
    online: &[u32],
    errors: &mut Vec<String>,
) -> Option<Vec<u32>> {
    let cores = match parse_core_list(list) {
        Ok(cores) if cores.is_empty() => {
            errors.push(format!("{field}: {list:?} names no cores"));
            return None;
        }
        Ok(cores) => cores,
        Err(e) => {
            errors.push(format!("{field}: {e}"));
            return None;
        }
    };
    let missing: Vec<u32> = cores
        .iter()
        .copied()
        .filter(|c| !online.contains(c))
        .collect();
    if !missing.is_empty() {
        errors.push(format!(
            "{field}: cores {} do not exist or are offline (online: {})",
            format_core_list(&missing),
            format_core_list(online)
        ));
        return None;
    }
    Some(cores)
}

/// The NIC's NUMA node (`/sys/class/net/IF/device/numa_node`), if it has one.
pub(crate) fn nic_numa_node(fs: &dyn Sysfs, interface: &str) -> Option<u32> {
    read_trimmed(fs, &format!("/sys/class/net/{interface}/device/numa_node"))
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|n| u32::try_from(n).ok())
}

/// NUMA nodes with memory (`has_memory`, else every `nodeN` directory).
pub(crate) fn memory_nodes(fs: &dyn Sysfs) -> Vec<u32> {
    if let Ok(Ok(nodes)) =
        read_trimmed(fs, "/sys/devices/system/node/has_memory").map(|s| parse_core_list(&s))
    {
        if !nodes.is_empty() {
            return nodes;
        }
    }
    fs.list("/sys/devices/system/node")
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.strip_prefix("node").and_then(|i| i.parse().ok()))
        .collect()
}
