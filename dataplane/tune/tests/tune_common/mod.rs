//! Shared fixtures for the tuner tests: a fake `/proc` + `/sys` tree, a fake kernel on top of it
//! (refused writes, partial hugepage allocation, effective affinity), and a fake NIC.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oxidize_tune::{Env, KnobState, NicControl, NicError, NicKnob, RootDir, Sysfs};
use tempfile::TempDir;

/// A fake node: 8 online cores, NUMA nodes 0 and 1, NIC `eth0` on node 1 with 4 queue IRQs
/// (40-43) and a link IRQ (44), a few sysctls.
pub(crate) struct FakeNode {
    pub(crate) dir: TempDir,
    pub(crate) kernel: FakeKernel,
    pub(crate) nic: FakeNic,
}

impl FakeNode {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let put = |path: &str, value: &str| {
            let path = root.join(path.trim_start_matches('/'));
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, value).expect("write fixture");
        };
        put("/sys/devices/system/cpu/online", "0-7\n");
        put("/sys/devices/system/cpu/isolated", "\n");
        put("/sys/devices/system/cpu/nohz_full", "(null)\n");
        put("/sys/devices/system/node/has_memory", "0-1\n");
        for node in 0..2 {
            for kib in [2048, 1_048_576] {
                put(
                    &format!(
                        "/sys/devices/system/node/node{node}/hugepages/hugepages-{kib}kB/nr_hugepages"
                    ),
                    "0\n",
                );
            }
        }
        put("/sys/class/net/eth0/device/numa_node", "1\n");
        put("/sys/class/net/lo/flags", "0x9\n");
        for q in 0..4 {
            put(
                &format!("/sys/class/net/eth0/queues/rx-{q}/rps_cpus"),
                "0\n",
            );
        }
        let mut interrupts = String::from("            CPU0       CPU1\n");
        for (irq, name) in [
            (40, "eth0-TxRx-0"),
            (41, "eth0-TxRx-1"),
            (42, "eth0-TxRx-2"),
            (43, "eth0-TxRx-3"),
            (44, "eth0"),
        ] {
            put(
                &format!("/sys/class/net/eth0/device/msi_irqs/{irq}"),
                "msix\n",
            );
            put(&format!("/proc/irq/{irq}/smp_affinity_list"), "0-7\n");
            put(&format!("/proc/irq/{irq}/effective_affinity_list"), "0\n");
            interrupts.push_str(&format!(
                " {irq}:     100     0  IR-PCI-MSIX-0000:3b:00.0  {irq}-edge      {name}\n"
            ));
        }
        interrupts.push_str("NMI:          0          0   Non-maskable interrupts\n");
        put("/proc/interrupts", &interrupts);
        put("/proc/sys/net/core/busy_poll", "0\n");
        put("/proc/sys/net/core/rmem_max", "212992\n");
        put("/proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n");
        put("/proc/sys/net/ipv4/tcp_congestion_control", "cubic\n");
        put("/proc/sys/kernel/osrelease", "6.18.0\n");
        let ro = root.join("proc/sys/kernel/osrelease");
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o444)).expect("chmod");
        put("/proc/1/comm", "systemd\n");
        let kernel = FakeKernel::new(root);
        FakeNode {
            dir,
            kernel,
            nic: FakeNic::default_nic(),
        }
    }

    pub(crate) fn env(&self) -> Env<'_> {
        Env {
            fs: &self.kernel,
            nic: &self.nic,
        }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn state_file(&self) -> PathBuf {
        self.dir.path().join("state/tune-state.json")
    }

    /// Writes a file under the root (creating directories).
    pub(crate) fn put(&self, path: &str, value: &str) {
        let path = self.root().join(path.trim_start_matches('/'));
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, value).expect("write");
    }

    /// Reads a kernel file, trimmed.
    pub(crate) fn get(&self, path: &str) -> String {
        self.kernel
            .inner
            .read(path)
            .unwrap_or_else(|e| panic!("read {path}: {e}"))
            .trim()
            .to_owned()
    }

    /// Every file under the root (except the state directory) with its content, plus the NIC.
    pub(crate) fn snapshot(&self) -> (BTreeMap<PathBuf, String>, BTreeMap<NicKnob, KnobState>) {
        let mut files = BTreeMap::new();
        let mut stack = vec![self.root().to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).expect("read_dir") {
                let path = entry.expect("entry").path();
                if path.ends_with("state") {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let text = fs::read_to_string(&path).expect("read");
                    files.insert(path, text.trim().to_owned());
                }
            }
        }
        (files, self.nic.knobs.borrow().clone())
    }
}

/// A [`Sysfs`] that behaves like the kernel where a plain file cannot: refuses writes with an
/// errno, reserves fewer hugepages than asked, updates `effective_affinity_list`.
pub(crate) struct FakeKernel {
    pub(crate) inner: RootDir,
    /// Path -> errno for writes the kernel refuses.
    pub(crate) refuse: RefCell<HashMap<String, i32>>,
    /// Path -> most pages the kernel can reserve there.
    pub(crate) hugepage_limit: RefCell<HashMap<String, u64>>,
    /// IRQs whose effective affinity does not follow the write.
    pub(crate) sticky_effective: RefCell<HashSet<u32>>,
    /// Every successful write, in order.
    pub(crate) writes: RefCell<Vec<(String, String)>>,
}

impl FakeKernel {
    fn new(root: &Path) -> Self {
        FakeKernel {
            inner: RootDir::new(root),
            refuse: RefCell::default(),
            hugepage_limit: RefCell::default(),
            sticky_effective: RefCell::default(),
            writes: RefCell::default(),
        }
    }
}

impl Sysfs for FakeKernel {
    fn read(&self, path: &str) -> io::Result<String> {
        self.inner.read(path)
    }

    fn write(&self, path: &str, value: &str) -> io::Result<()> {
        if let Some(&errno) = self.refuse.borrow().get(path) {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let mut value = value.to_owned();
        if let Some(&limit) = self.hugepage_limit.borrow().get(path) {
            let asked: u64 = value.trim().parse().expect("number of pages");
            value = asked.min(limit).to_string();
        }
        self.inner.write(path, &value)?;
        if let Some(irq_dir) = path.strip_suffix("/smp_affinity_list") {
            let irq: u32 = irq_dir
                .rsplit('/')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("irq number");
            if !self.sticky_effective.borrow().contains(&irq) {
                let first = value.split([',', '-']).next().unwrap_or("0").to_owned();
                self.inner
                    .write(&format!("{irq_dir}/effective_affinity_list"), &first)?;
            }
        }
        self.writes.borrow_mut().push((path.to_owned(), value));
        Ok(())
    }

    fn exists(&self, path: &str) -> bool {
        self.inner.exists(path)
    }

    fn is_writable(&self, path: &str) -> bool {
        self.inner.is_writable(path)
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        self.inner.list(path)
    }
}

/// A NIC with channels, rings, coalescing and offloads held in memory.
pub(crate) struct FakeNic {
    pub(crate) knobs: RefCell<BTreeMap<NicKnob, KnobState>>,
    /// Knobs whose set fails.
    pub(crate) fail: RefCell<HashSet<NicKnob>>,
    pub(crate) sets: RefCell<Vec<(NicKnob, String)>>,
    /// Runs after a channel count is set (a driver that re-creates its IRQs).
    pub(crate) on_channels: RefCell<Option<Box<dyn Fn()>>>,
}

impl FakeNic {
    /// eth0: 8 of 16 combined channels, rings 1024 of 8192, rx-usecs 50, adaptive-rx on,
    /// GRO on, LRO off and fixed. No separate rx/tx channels.
    pub(crate) fn default_nic() -> Self {
        let state = |value: &str, max: Option<u32>, fixed: bool| KnobState {
            value: value.into(),
            max,
            fixed,
        };
        let knobs = BTreeMap::from([
            (NicKnob::ChannelsCombined, state("8", Some(16), false)),
            (NicKnob::RingRx, state("1024", Some(8192), false)),
            (NicKnob::RingTx, state("1024", Some(8192), false)),
            (NicKnob::RxUsecs, state("50", None, false)),
            (NicKnob::TxUsecs, state("50", None, false)),
            (NicKnob::AdaptiveRx, state("on", None, false)),
            (NicKnob::Gro, state("on", None, false)),
            (NicKnob::Lro, state("off", None, true)),
        ]);
        FakeNic {
            knobs: RefCell::new(knobs),
            fail: RefCell::default(),
            sets: RefCell::default(),
            on_channels: RefCell::default(),
        }
    }

    pub(crate) fn value(&self, knob: NicKnob) -> String {
        self.knobs.borrow()[&knob].value.clone()
    }
}

impl NicControl for FakeNic {
    fn query(&self, interface: &str, knob: NicKnob) -> Result<Option<KnobState>, NicError> {
        if interface != "eth0" {
            return Err(NicError(format!("no such device {interface}")));
        }
        Ok(self.knobs.borrow().get(&knob).cloned())
    }

    fn set(&self, interface: &str, knob: NicKnob, value: &str) -> Result<(), NicError> {
        if interface != "eth0" {
            return Err(NicError(format!("no such device {interface}")));
        }
        if self.fail.borrow().contains(&knob) {
            return Err(NicError("Operation not permitted (fake)".into()));
        }
        let mut knobs = self.knobs.borrow_mut();
        let state = knobs
            .get_mut(&knob)
            .ok_or_else(|| NicError("not supported".into()))?;
        if state.fixed {
            return Err(NicError("fixed".into()));
        }
        state.value = value.to_owned();
        drop(knobs);
        self.sets.borrow_mut().push((knob, value.to_owned()));
        if knob == NicKnob::ChannelsCombined {
            if let Some(hook) = self.on_channels.borrow().as_ref() {
                hook();
            }
        }
        Ok(())
    }
}

/// A plan touching every setting kind on the fake node.
pub(crate) const FULL_PLAN: &str = r#"
interface: eth0
queues: 4
workerCores: "2-5"
isolatedCores: "2-5"
hugepages:
  size: 2Mi
  countPerNode: 64
sysctls:
  net.core.busy_poll: "50"
  net.ipv4.tcp_rmem: "4096 87380 16777216"
nic:
  channels:
    combined: 4
  rings:
    rx: 4096
    tx: 4096
  coalescing:
    rxUsecs: 8
    adaptiveRx: false
  gro: false
  lro: false
"#;

pub(crate) fn plan(yaml: &str) -> oxidize_crds::tuning::TuningPlan {
    oxidize_tune::parse_plan(yaml).expect("test plan parses")
}
