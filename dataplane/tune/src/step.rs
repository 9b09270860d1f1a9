//! One tuning step: a target (a kernel file or a NIC setting), the value wanted, and how to check
//! the value read back.

use oxidize_crds::tuning::{parse_core_list, HugepageSize};
use serde::{Deserialize, Serialize};

use super::nic::{NicControl, NicKnob};
use super::sysfs::Sysfs;

/// Where a value lives. Serialised into the state file so `--restore` knows where to put it back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Target {
    /// A `/proc` or `/sys` file (kernel path, resolved under the root).
    File {
        /// Kernel path, e.g. `/proc/sys/net/core/busy_poll`.
        path: String,
    },
    /// A NIC setting.
    Nic {
        /// Interface name.
        interface: String,
        /// Which setting.
        knob: NicKnob,
    },
}

/// The environment the tuner acts on: kernel files and NIC settings.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// `/proc` and `/sys`, under a root.
    pub fs: &'a dyn Sysfs,
    /// NIC settings.
    pub nic: &'a dyn NicControl,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

/// A failed write, with the errno when the kernel gave one (EIO marks a kernel-managed IRQ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError {
    /// What went wrong.
    pub message: String,
    /// The OS error number, if any.
    pub errno: Option<i32>,
}

impl Target {
    /// Reads the current value (trimmed).
    pub fn read(&self, env: Env<'_>) -> Result<String, String> {
        match self {
            Target::File { path } => super::sysfs::read_trimmed(env.fs, path),
            Target::Nic { interface, knob } => match env.nic.query(interface, *knob) {
                Ok(Some(state)) => Ok(state.value),
                Ok(None) => Err(format!("nic {interface} has no {}", knob.name())),
                Err(e) => Err(format!("cannot read nic {interface} {}: {e}", knob.name())),
            },
        }
    }

    /// Writes `value`.
    pub fn write(&self, env: Env<'_>, value: &str) -> Result<(), WriteError> {
        match self {
            Target::File { path } => env.fs.write(path, value).map_err(|e| WriteError {
                message: format!("cannot write {value:?} to {path}: {e}"),
                errno: e.raw_os_error(),
            }),
            Target::Nic { interface, knob } => {
                env.nic
                    .set(interface, *knob, value)
                    .map_err(|e| WriteError {
                        message: format!(
                            "cannot set nic {interface} {} to {value}: {e}",
                            knob.name()
                        ),
                        errno: None,
                    })
            }
        }
    }
}

/// How a step's read-back value is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Must equal the wanted value (whitespace-normalised).
    Exact,
    /// Hugepages: the kernel may give fewer than asked; that is a warning, not a failure.
    Hugepages {
        /// NUMA node.
        node: u32,
        /// Page size.
        size: HugepageSize,
    },
    /// An IRQ's `smp_affinity_list`: compared as core sets; a refused write is a warning; the
    /// `effective_affinity_list` is checked after.
    Irq {
        /// IRQ number.
        irq: u32,
    },
}

/// One thing to make true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Report name, e.g. `sysctl net.core.busy_poll`.
    pub item: String,
    /// Where the value lives.
    pub target: Target,
    /// The value wanted.
    pub want: String,
    /// How to judge the read-back.
    pub check: Check,
}

/// Whether `have` already is `want` for this kind of check.
pub(crate) fn same(check: &Check, have: &str, want: &str) -> bool {
    match check {
        Check::Irq { .. } => match (parse_core_list(have), parse_core_list(want)) {
            (Ok(a), Ok(b)) => a == b,
            _ => have.trim() == want.trim(),
        },
        _ => normalise(have) == normalise(want),
    }
}

fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}
