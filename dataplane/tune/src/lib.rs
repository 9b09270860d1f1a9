//! The node tuner (`oxidize-dataplane tune`): validates a [`TuningPlan`] against the node, then
//! applies hugepages, sysctls, NIC settings and IRQ pinning step by step (read, write, read back),
//! records the originals in a state file so `tune --restore` can put them back, rolls back its
//! own changes when a step fails, and reports in a [`TuningReport`].
//!
//! Every `/proc` and `/sys` access goes through [`Sysfs`] (rooted at a directory passed in, see
//! [`RootDir`]) and every NIC setting through [`NicControl`], so the logic runs against fake trees
//! and fake NICs in tests.
//!
//! - [`sysfs`]: the root-directory file chokepoint.
//! - [`validate`]: whole-plan validation into ordered [`Step`]s.
//! - [`hugepages`], [`sysctl`], [`irq`], [`nic`], [`checks`], `cpu`: one setting kind each.
//! - [`engine`](self) (private): apply, rollback, restore. [`state`]: the originals on disk.
//! - [`ethtool_nl`]: the real NIC backend (ethtool netlink). [`cli`]: the subcommand.

pub mod checks;
pub mod cli;
mod cpu;
mod engine;
pub mod error;
pub mod ethtool_nl;
pub mod hugepages;
pub mod irq;
pub mod nic;
pub mod state;
pub mod step;
pub mod sysctl;
pub mod sysfs;
pub mod validate;

use std::io::Read;
use std::path::Path;

use oxidize_crds::tuning::{TuneMode, TuningPlan, TuningReport};

pub use error::{Result, TuneError};
pub use nic::{KnobState, NicControl, NicError, NicKnob};
pub use state::TuneState;
pub use step::{Env, Step, Target};
pub use sysfs::{RootDir, Sysfs};

/// Default place of the record of originals on the host.
pub const DEFAULT_STATE_FILE: &str = "/var/lib/oxidize/tune-state.json";

/// Reads a plan from a YAML (or JSON) file, or from stdin when `source` is `-`.
pub fn load_plan(source: &str) -> Result<TuningPlan> {
    let (name, text) = if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| plan_error("stdin", e.to_string()))?;
        ("stdin".to_owned(), text)
    } else {
        let text =
            std::fs::read_to_string(source).map_err(|e| plan_error(source, e.to_string()))?;
        (source.to_owned(), text)
    };
    parse_plan(&text).map_err(|detail| plan_error(&name, detail))
}

/// Parses a plan document (YAML; JSON is YAML too).
pub fn parse_plan(text: &str) -> std::result::Result<TuningPlan, String> {
    serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
}

fn plan_error(source: &str, detail: String) -> TuneError {
    TuneError::PlanDocument {
        source_name: source.to_owned(),
        detail,
    }
}

/// Validates and applies `plan`. `interface` overrides the plan's. Never panics on node state:
/// every outcome, including an invalid plan, is in the returned report.
pub fn apply(
    plan: &TuningPlan,
    interface: Option<&str>,
    state_path: &Path,
    env: Env<'_>,
) -> TuningReport {
    let mut report = TuningReport::new(TuneMode::Apply);
    let prepared = match validate::prepare(plan, interface, env) {
        Ok(prepared) => prepared,
        Err(TuneError::InvalidPlan(errors)) => {
            for e in &errors {
                tracing::error!("invalid plan: {e}");
            }
            report.errors = errors;
            return fail(report, "invalid plan: nothing was changed");
        }
        Err(e) => {
            report.errors.push(e.to_string());
            return fail(report, "invalid plan: nothing was changed");
        }
    };
    for w in &prepared.warnings {
        tracing::warn!("{w}");
    }
    report.warnings = prepared.warnings;
    report.reboot_needed = prepared.reboot_needed;
    let (_lock, mut state) = match lock_and_load(state_path, "changed") {
        Ok(opened) => opened,
        Err((error, message)) => {
            report.errors.push(error);
            return fail(report, &message);
        }
    };
    // IRQ pinning goes last: a channel change can make the driver free and request its IRQs
    // again, so after one the queue IRQs are looked up again.
    let (irq_steps, early): (Vec<Step>, Vec<Step>) = prepared
        .steps
        .into_iter()
        .partition(|s| matches!(s.check, step::Check::Irq { .. }));
    let mut run = engine::Run::default();
    if !run.apply(&early, env, &mut state, state_path, &mut report) {
        return fail(report, "a step failed: this run's changes were rolled back");
    }
    // Did a channel step change anything? Judged by the steps' typed targets, not report text.
    let channels_changed = early.iter().any(|step| {
        matches!(
            step.target,
            Target::Nic {
                knob: NicKnob::ChannelsCombined | NicKnob::ChannelsRx | NicKnob::ChannelsTx,
                ..
            }
        ) && report.changes.iter().any(|c| c.item == step.item)
    });
    let irq_steps = match (&prepared.irq_pinning, channels_changed) {
        (Some(pin), true) => {
            let (mut warnings, mut errors) = (Vec::new(), Vec::new());
            let steps = irq::steps(
                env.fs,
                &pin.interface,
                pin.queues,
                &pin.workers,
                &mut warnings,
                &mut errors,
            );
            for w in warnings {
                if !report.warnings.contains(&w) {
                    report.warnings.push(w);
                }
            }
            if let Some(error) = errors.into_iter().next() {
                run.fail(error, env, &mut state, state_path, &mut report);
                return fail(report, "a step failed: this run's changes were rolled back");
            }
            steps
        }
        _ => irq_steps,
    };
    if !run.apply(&irq_steps, env, &mut state, state_path, &mut report) {
        return fail(report, "a step failed: this run's changes were rolled back");
    }
    let message = if report.changes.is_empty() {
        "no changes: the node is already tuned as planned".to_owned()
    } else {
        format!("{} settings changed", report.changes.len())
    };
    tracing::info!("{message}");
    report.message = Some(message);
    report
}

/// Restores every original recorded in `state_path` and removes the record.
pub fn restore(state_path: &Path, env: Env<'_>) -> TuningReport {
    let mut report = TuningReport::new(TuneMode::Restore);
    let (lock, mut state) = match lock_and_load(state_path, "restored") {
        Ok(opened) => opened,
        Err((error, message)) => {
            report.errors.push(error);
            return fail(report, &message);
        }
    };
    if state.originals.is_empty() {
        report.message = Some("no changes: nothing recorded to restore".into());
        remove_lock_if_done(lock, state_path, &mut report);
        return report;
    }
    if engine::restore(env, &mut state, state_path, &mut report) {
        let message = format!("{} settings restored", report.changes.len());
        tracing::info!("{message}");
        report.message = Some(message);
        remove_lock_if_done(lock, state_path, &mut report);
        report
    } else {
        fail(
            report,
            "some originals could not be restored; they stay recorded",
        )
    }
}

/// After a restore that left no record, removes the lock file too: restore leaves nothing of
/// ours in the state directory. A failure to remove it is a warning (the node is restored).
fn remove_lock_if_done(lock: state::StateLock, state_path: &Path, report: &mut TuningReport) {
    if state_path.exists() {
        return;
    }
    if let Err(e) = lock.release_and_remove() {
        tracing::warn!(%e, "could not remove the lock file");
        report.warnings.push(e.to_string());
    }
}

/// Takes the state-file lock and loads the record. On failure returns the error text and the
/// report message ("... nothing was {verb}"), so that apply and restore say the same thing.
fn lock_and_load(
    state_path: &Path,
    verb: &str,
) -> std::result::Result<(state::StateLock, TuneState), (String, String)> {
    let lock = state::lock(state_path, state::LOCK_TIMEOUT).map_err(|e| {
        (
            e.to_string(),
            format!("another run holds the state file: nothing was {verb}"),
        )
    })?;
    let state = TuneState::load(state_path).map_err(|e| {
        (
            e.to_string(),
            format!("the state file is unusable: nothing was {verb}"),
        )
    })?;
    Ok((lock, state))
}

fn fail(mut report: TuningReport, message: &str) -> TuningReport {
    tracing::error!("{message}");
    report.success = false;
    report.message = Some(message.to_owned());
    report
}
