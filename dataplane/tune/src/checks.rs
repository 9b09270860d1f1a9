//! Read-only checks that end up as warnings: isolated cores (boot-time, never set) and whether
//! irqbalance would move the pinned IRQs.

use oxidize_crds::tuning::{format_core_list, parse_core_list};

use super::sysfs::{read_trimmed, Sysfs};

/// Compares the wanted isolated cores with `/sys/devices/system/cpu/isolated` and `nohz_full`.
/// Returns a warning naming the missing kernel arguments, or `None` when they are isolated.
pub(crate) fn isolation_warning(fs: &dyn Sysfs, wanted: &[u32]) -> Option<String> {
    let read = |name: &str| {
        read_trimmed(fs, &format!("/sys/devices/system/cpu/{name}"))
            .ok()
            .and_then(|s| parse_core_list(&s).ok())
            .unwrap_or_default()
    };
    let isolated = read("isolated");
    let nohz = read("nohz_full");
    let missing = |have: &[u32]| -> Vec<u32> {
        wanted
            .iter()
            .copied()
            .filter(|c| !have.contains(c))
            .collect()
    };
    let (no_iso, no_nohz) = (missing(&isolated), missing(&nohz));
    if no_iso.is_empty() && no_nohz.is_empty() {
        return None;
    }
    let list = format_core_list(wanted);
    let mut args = Vec::new();
    if !no_iso.is_empty() {
        args.push(format!("isolcpus={list}"));
    }
    if !no_nohz.is_empty() {
        args.push(format!("nohz_full={list} rcu_nocbs={list}"));
    }
    let shown = |c: &[u32]| {
        if c.is_empty() {
            "none".to_owned()
        } else {
            format_core_list(c)
        }
    };
    Some(format!(
        "isolated cores {list} are not fully isolated (kernel isolated: {}, nohz_full: {}); \
         add the kernel arguments {} and reboot",
        shown(&isolated),
        shown(&nohz),
        args.join(" ")
    ))
}

/// Cores banned from irqbalance in its config (`IRQBALANCE_BANNED_CPULIST` or the hex mask
/// `IRQBALANCE_BANNED_CPUS`), from `/etc/default/irqbalance` or `/etc/sysconfig/irqbalance`.
pub(crate) fn irqbalance_banned(fs: &dyn Sysfs) -> Vec<u32> {
    let mut banned = Vec::new();
    for path in ["/etc/default/irqbalance", "/etc/sysconfig/irqbalance"] {
        let Ok(text) = fs.read(path) else { continue };
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"').trim_matches('\'');
            match key.trim().trim_start_matches("export ").trim() {
                "IRQBALANCE_BANNED_CPULIST" => {
                    banned.extend(parse_core_list(value).unwrap_or_default())
                }
                "IRQBALANCE_BANNED_CPUS" => banned.extend(parse_hex_mask(value)),
                _ => {}
            }
        }
    }
    banned.sort_unstable();
    banned.dedup();
    banned
}

/// Parses a kernel CPU hex mask (`"00000000,0000003c"`) into cores.
pub(crate) fn parse_hex_mask(mask: &str) -> Vec<u32> {
    let hex: String = mask.chars().filter(|c| *c != ',').collect();
    let mut cores = Vec::new();
    for (i, c) in hex.chars().rev().enumerate() {
        let Some(nibble) = c.to_digit(16) else {
            return Vec::new();
        };
        for bit in 0..4 {
            if nibble & (1 << bit) != 0 {
                cores.push(i as u32 * 4 + bit);
            }
        }
    }
    cores
}

/// Whether an irqbalance process runs (a `/proc/<pid>/comm` that says so).
pub(crate) fn irqbalance_running(fs: &dyn Sysfs) -> bool {
    fs.list("/proc").unwrap_or_default().iter().any(|pid| {
        pid.bytes().all(|b| b.is_ascii_digit())
            && fs
                .read(&format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "irqbalance")
    })
}

/// A warning when a running irqbalance does not ban the worker cores and so would move the IRQs
/// pinned onto them.
pub(crate) fn irqbalance_warning(fs: &dyn Sysfs, workers: &[u32]) -> Option<String> {
    if !irqbalance_running(fs) {
        return None;
    }
    let banned = irqbalance_banned(fs);
    let free: Vec<u32> = workers
        .iter()
        .copied()
        .filter(|c| !banned.contains(c))
        .collect();
    if free.is_empty() {
        return None;
    }
    Some(format!(
        "irqbalance is running and does not ban worker cores {}: it will move the pinned IRQs; \
         set IRQBALANCE_BANNED_CPULIST={} in /etc/default/irqbalance (or \
         /etc/sysconfig/irqbalance) and restart irqbalance",
        format_core_list(&free),
        format_core_list(workers)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_masks_parse() {
        assert_eq!(parse_hex_mask("3c"), vec![2, 3, 4, 5]);
        assert_eq!(parse_hex_mask("00000001,00000000"), vec![32]);
        assert_eq!(parse_hex_mask("zz"), Vec::<u32>::new());
    }
}
