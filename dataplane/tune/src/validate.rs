//! Whole-plan validation: every item is checked (and every current value read) before anything
//! is written. The result is the ordered list of steps plus read-only warnings.

use oxidize_crds::tuning::{TuningPlan, TUNING_PLAN_KIND};

use super::error::{Result, TuneError};
use super::step::{Env, Step};
use super::{checks, cpu, hugepages, irq, nic, sysctl};

/// A plan that passed validation.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The interface, when the plan needs one.
    pub interface: Option<String>,
    /// The steps in apply order: hugepages (NIC node first), sysctls, NIC settings, IRQs.
    pub steps: Vec<Step>,
    /// Read-only findings (isolation, irqbalance, IRQs not found).
    pub warnings: Vec<String>,
    /// Isolated cores need kernel arguments and a reboot.
    pub reboot_needed: bool,
    /// What the IRQ steps were made from, to find the IRQs again after a channel change.
    pub irq_pinning: Option<IrqPinning>,
}

/// The IRQ pinning a plan asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrqPinning {
    /// The NIC.
    pub interface: String,
    /// Queues to pin.
    pub queues: u32,
    /// Worker cores, queue `i` onto `workers[i]`.
    pub workers: Vec<u32>,
}

/// Validates `plan` (with `interface` overriding the plan's) against the node. Reads only.
pub fn prepare(plan: &TuningPlan, interface: Option<&str>, env: Env<'_>) -> Result<Prepared> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let expected_version = oxidize_crds::api_version();
    if plan.api_version != expected_version || plan.kind != TUNING_PLAN_KIND {
        errors.push(format!(
            "document is {} {}, expected {expected_version} {TUNING_PLAN_KIND}",
            plan.api_version, plan.kind
        ));
    }
    let interface = interface
        .map(str::to_owned)
        .or_else(|| plan.interface.clone());
    let wants_nic = plan.nic.is_some() || plan.queues.is_some();
    let wants_irqs = plan.pin_irqs && plan.worker_cores.is_some();
    if let Some(name) = &interface {
        let valid = !name.is_empty()
            && name.len() <= 15
            && !name.contains(['/', ' ', '\n'])
            && name != "."
            && name != "..";
        if !valid || !env.fs.exists(&format!("/sys/class/net/{name}")) {
            errors.push(format!(
                "interface {name:?} does not exist on this node (not in /sys/class/net)"
            ));
            return Err(TuneError::InvalidPlan(errors));
        }
    } else if wants_nic || wants_irqs {
        errors.push(
            "interface: the plan has NIC settings or IRQ pinning but no interface; \
             set `interface` in the plan or pass --interface"
                .into(),
        );
    }

    let needs_cores = plan.worker_cores.is_some() || plan.isolated_cores.is_some();
    let online = if needs_cores {
        cpu::online_cores(env.fs).unwrap_or_else(|e| {
            errors.push(format!("cores: {e}"));
            Vec::new()
        })
    } else {
        Vec::new()
    };
    let workers = plan
        .worker_cores
        .as_deref()
        .and_then(|l| cpu::plan_cores("workerCores", l, &online, &mut errors));
    let isolated = plan
        .isolated_cores
        .as_deref()
        .and_then(|l| cpu::plan_cores("isolatedCores", l, &online, &mut errors));

    let nic_queues = interface
        .as_deref()
        .filter(|_| plan.queues.is_some() || wants_irqs)
        .and_then(|name| {
            nic::queue_count(name, plan.nic.as_ref(), env.nic)
                .or_else(|| sysfs_queue_count(env, name))
        });
    if let Some(queues) = plan.queues {
        if queues == 0 {
            errors.push("queues: must be at least 1".into());
        }
        if let Some(w) = &workers {
            if queues as usize > w.len() {
                errors.push(format!(
                    "queues: {queues} queues need as many worker cores, workerCores has {}",
                    w.len()
                ));
            }
        }
        if let (Some(have), Some(name)) = (nic_queues, &interface) {
            if queues > have {
                errors.push(format!(
                    "queues: {queues} is more than the {have} queues {name} will have"
                ));
            }
        }
    }

    let mut steps = Vec::new();
    if let Some(huge) = &plan.hugepages {
        let nic_node = interface
            .as_deref()
            .and_then(|n| cpu::nic_numa_node(env.fs, n));
        steps.extend(hugepages::steps(huge, nic_node, env.fs, &mut errors));
    }
    steps.extend(sysctl::steps(&plan.sysctls, env.fs, &mut errors));
    if let (Some(nic_plan), Some(name)) = (&plan.nic, &interface) {
        steps.extend(nic::steps(name, nic_plan, env.nic, &mut errors));
    }
    let mut irq_pinning = None;
    if let (true, Some(w), Some(name)) = (wants_irqs, &workers, &interface) {
        let queues = plan.queues.unwrap_or(w.len() as u32);
        steps.extend(irq::steps(
            env.fs,
            name,
            queues,
            w,
            &mut warnings,
            &mut errors,
        ));
        warnings.extend(checks::irqbalance_warning(env.fs, w));
        irq_pinning = Some(IrqPinning {
            interface: name.clone(),
            queues,
            workers: w.clone(),
        });
    }
    let mut reboot_needed = false;
    if let Some(iso) = &isolated {
        if let Some(w) = checks::isolation_warning(env.fs, iso) {
            warnings.push(w);
            reboot_needed = true;
        }
    }
    if errors.is_empty() {
        Ok(Prepared {
            interface,
            steps,
            warnings,
            reboot_needed,
            irq_pinning,
        })
    } else {
        Err(TuneError::InvalidPlan(errors))
    }
}

/// RX queue count from `/sys/class/net/IF/queues/rx-*` (for NICs without ethtool channels).
fn sysfs_queue_count(env: Env<'_>, interface: &str) -> Option<u32> {
    let names = env
        .fs
        .list(&format!("/sys/class/net/{interface}/queues"))
        .ok()?;
    Some(names.iter().filter(|n| n.starts_with("rx-")).count() as u32)
}
