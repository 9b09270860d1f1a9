//! The NIC queues' IRQs: found through `/sys/class/net/IF/device/msi_irqs` and the names in
//! `/proc/interrupts`, pinned one queue to one worker core through `smp_affinity_list`.
//!
//! Queue numbers come from the IRQ's name: the trailing number of its action name (before any
//! `@pci:...` suffix), as drivers name them (`eth0-TxRx-3`, `i40e-eth0-TxRx-3`, `mlx5_comp3`,
//! `virtio0-input.3`). IRQs without a trailing number (link, admin, async events) are left alone.
//! Several IRQs with the same number (separate rx/tx vectors) all go to that queue's core.

use std::collections::BTreeMap;

use super::step::{Check, Step, Target};
use super::sysfs::Sysfs;

/// IRQ number -> action name, from `/proc/interrupts` text.
pub fn parse_interrupts(text: &str) -> BTreeMap<u32, String> {
    let mut names = BTreeMap::new();
    for line in text.lines() {
        let Some((irq, rest)) = line.trim_start().split_once(':') else {
            continue;
        };
        let Ok(irq) = irq.trim().parse::<u32>() else {
            continue;
        };
        if let Some(name) = rest.split_whitespace().last() {
            names.insert(irq, name.to_owned());
        }
    }
    names
}

/// Words that mark a driver's control vectors (`mlx5_async0`, `virtio0-config`, `i40e-...:misc`).
const CONTROL_WORDS: [&str; 7] = ["async", "config", "misc", "ctrl", "admin", "mbx", "link"];

/// The queue number in an IRQ action name, if it has one. An IRQ named just like the interface,
/// or with a control word in its name, is not a queue.
pub fn queue_of(name: &str, interface: &str) -> Option<u32> {
    let name = name.split('@').next().unwrap_or(name);
    let lower = name.to_ascii_lowercase();
    if name == interface || CONTROL_WORDS.iter().any(|w| lower.contains(w)) {
        return None;
    }
    let digits: String = name
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if digits.is_empty() || digits.len() == name.len() {
        return None;
    }
    digits.parse().ok()
}

/// The NIC's queue IRQs grouped by queue number, or `None` when it has no MSI IRQs (a virtual
/// NIC such as veth).
pub(crate) fn queue_irqs(
    fs: &dyn Sysfs,
    interface: &str,
) -> Result<Option<BTreeMap<u32, Vec<u32>>>, String> {
    let dir = format!("/sys/class/net/{interface}/device/msi_irqs");
    if !fs.exists(&dir) {
        return Ok(None);
    }
    let irqs: Vec<u32> = fs
        .list(&dir)
        .map_err(|e| format!("cannot list {dir}: {e}"))?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    let text = fs
        .read("/proc/interrupts")
        .map_err(|e| format!("cannot read /proc/interrupts: {e}"))?;
    let names = parse_interrupts(&text);
    let mut queues: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for irq in irqs {
        if let Some(queue) = names.get(&irq).and_then(|n| queue_of(n, interface)) {
            queues.entry(queue).or_default().push(irq);
        }
    }
    Ok(Some(queues))
}

/// Steps pinning queue `i` (for `i < queues`) onto `cores[i]`. Warnings for a virtual NIC or
/// missing queue IRQs; errors when the IRQs cannot be read.
pub(crate) fn steps(
    fs: &dyn Sysfs,
    interface: &str,
    queues: u32,
    cores: &[u32],
    warnings: &mut Vec<String>,
    errors: &mut Vec<String>,
) -> Vec<Step> {
    let by_queue = match queue_irqs(fs, interface) {
        Ok(Some(by_queue)) => by_queue,
        Ok(None) => {
            warnings.push(format!(
                "irq pinning skipped: {interface} has no MSI IRQs (a virtual NIC)"
            ));
            return Vec::new();
        }
        Err(e) => {
            errors.push(format!("irq pinning for {interface}: {e}"));
            return Vec::new();
        }
    };
    let mut steps = Vec::new();
    for (queue, core) in (0..queues).zip(cores) {
        let Some(irqs) = by_queue.get(&queue) else {
            warnings.push(format!(
                "irq pinning: no IRQ found for {interface} queue {queue} in /proc/interrupts"
            ));
            continue;
        };
        for &irq in irqs {
            steps.push(Step {
                item: format!("irq {irq} ({interface} queue {queue}) smp_affinity_list"),
                target: Target::File {
                    path: format!("/proc/irq/{irq}/smp_affinity_list"),
                },
                want: core.to_string(),
                check: Check::Irq { irq },
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupts_table_gives_names() {
        let text = "           CPU0       CPU1\n\
          24:          0          0  IR-PCI-MSIX-0000:00:03.0    0-edge      eth0-TxRx-0\n\
          25:         10          0  IR-PCI-MSIX-0000:00:03.0    1-edge      eth0-TxRx-1\n\
         NMI:          0          0   Non-maskable interrupts\n";
        let names = parse_interrupts(text);
        assert_eq!(names.get(&24).map(String::as_str), Some("eth0-TxRx-0"));
        assert_eq!(names.get(&25).map(String::as_str), Some("eth0-TxRx-1"));
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn queue_numbers_come_from_trailing_digits() {
        assert_eq!(queue_of("eth0-TxRx-3", "eth0"), Some(3));
        assert_eq!(queue_of("i40e-eth0-TxRx-12", "eth0"), Some(12));
        assert_eq!(queue_of("mlx5_comp3@pci:0000:3b:00.0", "ens1"), Some(3));
        assert_eq!(queue_of("virtio0-input.2", "eth0"), Some(2));
        assert_eq!(queue_of("eth0", "eth0"), None);
        assert_eq!(queue_of("mlx5_async0@pci:0000:3b:00.0", "ens1"), None);
        assert_eq!(queue_of("virtio0-config", "eth0"), None);
        assert_eq!(queue_of("42", "eth0"), None);
    }
}
