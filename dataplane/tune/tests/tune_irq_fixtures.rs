//! IRQ discovery against `/proc/interrupts` captured from real drivers
//! (`tests/fixtures/interrupts-*.txt`): queue IRQs found and grouped per queue, control
//! vectors left alone.

use std::collections::BTreeMap;

use oxidize_tune::irq::{parse_interrupts, queue_of};

fn queues(fixture: &str, interface: &str) -> BTreeMap<u32, Vec<u32>> {
    let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut by_queue: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (irq, name) in parse_interrupts(&text) {
        if let Some(queue) = queue_of(&name, interface) {
            by_queue.entry(queue).or_default().push(irq);
        }
    }
    by_queue
}

#[test]
fn mlx5_completion_vectors_are_the_queues() {
    let q = queues("interrupts-mlx5.txt", "ens1f0np0");
    assert_eq!(
        q.get(&0),
        Some(&vec![25]),
        "mlx5_async0 is a control vector"
    );
    assert_eq!(q.get(&1), Some(&vec![26]));
    assert_eq!(q.get(&3), Some(&vec![28]));
    assert_eq!(q.len(), 4);
}

#[test]
fn virtio_input_and_output_vectors_go_together() {
    let q = queues("interrupts-virtio.txt", "eth0");
    assert_eq!(q.get(&0), Some(&vec![27, 28]));
    assert_eq!(q.get(&1), Some(&vec![29, 30]));
    assert_eq!(q.len(), 2, "virtio0-config is not a queue");
}

#[test]
fn i40e_txrx_vectors_are_the_queues_and_misc_is_not() {
    let q = queues("interrupts-i40e.txt", "ens1f0");
    assert_eq!(q.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(q[&0], vec![41]);
    assert!(!q.values().flatten().any(|&irq| irq == 40));
}
