//! Applying steps (read, write, read back), rolling back this run's changes on failure, and
//! restoring recorded originals.

use std::path::Path;

use oxidize_crds::tuning::{parse_core_list, Change, HugepagesOutcome, TuningReport};

use super::state::TuneState;
use super::step::{same, Check, Env, Step, Target};

/// EIO: what the kernel answers when an IRQ's affinity is kernel-managed.
const EIO: i32 = 5;

/// A change this run made, kept for rollback.
#[derive(Debug)]
struct Applied {
    item: String,
    target: Target,
    from: String,
    newly_recorded: bool,
}

/// One tuning run: the changes made so far, so that a failure in any later step undoes them all.
#[derive(Debug, Default)]
pub(crate) struct Run {
    applied: Vec<Applied>,
}

impl Run {
    /// Applies `steps` in order. Originals are recorded in `state` (saved to `state_path` before
    /// each write). On the first failing step, every change of this run (also from earlier
    /// calls) is undone in reverse order and the report says so. Returns whether every step
    /// succeeded.
    pub(crate) fn apply(
        &mut self,
        steps: &[Step],
        env: Env<'_>,
        state: &mut TuneState,
        state_path: &Path,
        report: &mut TuningReport,
    ) -> bool {
        for step in steps {
            match apply_one(step, env, state, state_path, report) {
                Ok(Some(done)) => self.applied.push(done),
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(item = %step.item, %error, "step failed; rolling back this run");
                    self.fail(error, env, state, state_path, report);
                    return false;
                }
            }
        }
        true
    }

    /// Records `error`, undoes every change of this run, and marks the report failed.
    pub(crate) fn fail(
        &mut self,
        error: String,
        env: Env<'_>,
        state: &mut TuneState,
        state_path: &Path,
        report: &mut TuningReport,
    ) {
        report.errors.push(error);
        rollback(
            std::mem::take(&mut self.applied),
            env,
            state,
            state_path,
            report,
        );
        report.success = false;
        // Hugepage pools that went back to their size need no kubelet restart; only a pool
        // whose rollback failed is still changed.
        report.kubelet_restart_needed = report
            .errors
            .iter()
            .any(|e| e.starts_with("rollback of hugepages "));
    }
}

fn apply_one(
    step: &Step,
    env: Env<'_>,
    state: &mut TuneState,
    state_path: &Path,
    report: &mut TuningReport,
) -> Result<Option<Applied>, String> {
    let from = step
        .target
        .read(env)
        .map_err(|e| format!("{}: {e}", step.item))?;
    if same(&step.check, &from, &step.want) {
        tracing::debug!(item = %step.item, value = %from, "already as planned");
        if let Check::Hugepages { node, size } = step.check {
            report
                .hugepages
                .push(outcome(node, size, &step.want, &from));
        }
        if let Check::Irq { irq } = step.check {
            check_effective(env, irq, &step.want, report);
        }
        return Ok(None);
    }
    let newly_recorded = state.record(&step.item, &step.target, &from);
    if newly_recorded {
        state.save(state_path).map_err(|e| {
            state.forget(&step.target);
            format!(
                "{}: not changed, the original could not be recorded: {e}",
                step.item
            )
        })?;
    }
    if let Err(e) = step.target.write(env, &step.want) {
        if let (Check::Irq { irq }, Some(EIO)) = (&step.check, e.errno) {
            report.warnings.push(format!(
                "irq {irq}: the kernel refused the affinity write (EIO: a kernel-managed IRQ); \
                 left as {from}"
            ));
            unrecord(newly_recorded, &step.target, state, state_path);
            return Ok(None);
        }
        unrecord(newly_recorded, &step.target, state, state_path);
        return Err(format!("{}: {}", step.item, e.message));
    }
    let applied = Applied {
        item: step.item.clone(),
        target: step.target.clone(),
        from: from.clone(),
        newly_recorded,
    };
    let to = match step.target.read(env) {
        Ok(to) => to,
        Err(e) => {
            // The write went through: undo it before failing.
            rollback_single(applied, env, state, state_path, report);
            return Err(format!(
                "{}: written but cannot be read back: {e}",
                step.item
            ));
        }
    };
    tracing::info!(item = %step.item, %from, %to, "changed");
    match step.check {
        Check::Hugepages { node, size } => {
            let got = outcome(node, size, &step.want, &to);
            if !got.meets_plan() {
                report.warnings.push(format!(
                    "hugepages {size} node{node}: the kernel reserved {} of {} pages \
                     (memory too fragmented; reserve them at boot with hugepages= on the kernel \
                     command line)",
                    got.obtained, got.planned
                ));
            }
            report.hugepages.push(got);
            if same(&Check::Exact, &from, &to) {
                unrecord(newly_recorded, &step.target, state, state_path);
                return Ok(None);
            }
            report.kubelet_restart_needed = true;
        }
        Check::Irq { irq } => {
            if !same(&step.check, &to, &step.want) {
                let err = format!(
                    "{}: wrote {} but the kernel kept {to}",
                    step.item, step.want
                );
                rollback_single(applied, env, state, state_path, report);
                return Err(err);
            }
            check_effective(env, irq, &step.want, report);
        }
        Check::Exact => {
            if !same(&step.check, &to, &step.want) {
                let err = format!(
                    "{}: wrote {} but the kernel reads back {to}",
                    step.item, step.want
                );
                rollback_single(applied, env, state, state_path, report);
                return Err(err);
            }
        }
    }
    report.changes.push(change(&step.item, &from, &to));
    Ok(Some(applied))
}

fn outcome(
    node: u32,
    size: oxidize_crds::tuning::HugepageSize,
    want: &str,
    have: &str,
) -> HugepagesOutcome {
    HugepagesOutcome {
        node,
        size,
        planned: want.trim().parse().unwrap_or(0),
        obtained: have.trim().parse().unwrap_or(0),
    }
}

/// Warns when an IRQ's effective affinity does not include the wanted core (yet).
fn check_effective(env: Env<'_>, irq: u32, want: &str, report: &mut TuningReport) {
    let path = format!("/proc/irq/{irq}/effective_affinity_list");
    let Ok(text) = env.fs.read(&path) else {
        return;
    };
    let (Ok(have), Ok(want_cores)) = (parse_core_list(&text), parse_core_list(want)) else {
        return;
    };
    if !want_cores.iter().all(|c| have.contains(c)) {
        report.warnings.push(format!(
            "irq {irq}: effective affinity is {} though {want} was set (the interrupt \
             controller has not moved it, or it moves on the next interrupt)",
            text.trim()
        ));
    }
}

fn change(item: &str, from: &str, to: &str) -> Change {
    Change {
        item: item.to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
    }
}

fn unrecord(newly: bool, target: &Target, state: &mut TuneState, state_path: &Path) {
    if newly {
        state.forget(target);
        if let Err(e) = save_or_remove(state, state_path) {
            tracing::warn!(%e, "could not update the state file");
        }
    }
}

fn save_or_remove(state: &TuneState, path: &Path) -> super::error::Result<()> {
    if state.originals.is_empty() {
        TuneState::remove(path)
    } else {
        state.save(path)
    }
}

fn rollback_single(
    applied: Applied,
    env: Env<'_>,
    state: &mut TuneState,
    state_path: &Path,
    report: &mut TuningReport,
) {
    rollback(vec![applied], env, state, state_path, report);
}

/// How to compare values of a recorded target when putting it back: IRQ affinities as core
/// sets, everything else as text.
fn check_for(target: &Target) -> Check {
    match target {
        Target::File { path } if path.ends_with("/smp_affinity_list") => Check::Irq { irq: 0 },
        _ => Check::Exact,
    }
}

fn is_hugepages(target: &Target) -> bool {
    matches!(target, Target::File { path } if path.ends_with("/nr_hugepages"))
}

/// Undoes `applied` in reverse order, forgetting originals this run recorded.
fn rollback(
    applied: Vec<Applied>,
    env: Env<'_>,
    state: &mut TuneState,
    state_path: &Path,
    report: &mut TuningReport,
) {
    for done in applied.into_iter().rev() {
        report.rolled_back = true;
        let result = done
            .target
            .write(env, &done.from)
            .map_err(|e| e.message)
            .and_then(|()| done.target.read(env))
            .and_then(|now| {
                if same(&check_for(&done.target), &now, &done.from) {
                    Ok(now)
                } else {
                    Err(format!("reads back {now}"))
                }
            });
        match result {
            Ok(_) => {
                tracing::info!(item = %done.item, to = %done.from, "rolled back");
                if done.newly_recorded {
                    state.forget(&done.target);
                }
            }
            Err(e) => report.errors.push(format!(
                "rollback of {} to {} failed: {e}; the original stays in the state file for \
                 `tune --restore`",
                done.item, done.from
            )),
        }
    }
    if let Err(e) = save_or_remove(state, state_path) {
        report.errors.push(e.to_string());
    }
}

/// Puts every recorded original back (newest first). Entries restored are removed from the
/// record; the file is deleted when none is left. Returns whether all were restored.
pub(crate) fn restore(
    env: Env<'_>,
    state: &mut TuneState,
    state_path: &Path,
    report: &mut TuningReport,
) -> bool {
    let mut ok = true;
    for original in state.originals.clone().into_iter().rev() {
        let check = check_for(&original.target);
        let result = original.target.read(env).and_then(|now| {
            if same(&check, &now, &original.value) {
                return Ok(None);
            }
            original
                .target
                .write(env, &original.value)
                .map_err(|e| e.message)?;
            let back = original.target.read(env)?;
            if same(&check, &back, &original.value) {
                Ok(Some((now, back)))
            } else {
                Err(format!("wrote {} but it reads back {back}", original.value))
            }
        });
        match result {
            Ok(changed) => {
                if let Some((now, back)) = changed {
                    tracing::info!(item = %original.item, from = %now, to = %back, "restored");
                    if is_hugepages(&original.target) {
                        report.kubelet_restart_needed = true;
                    }
                    report.changes.push(change(&original.item, &now, &back));
                }
                state.forget(&original.target);
            }
            Err(e) => {
                ok = false;
                report.errors.push(format!(
                    "restore of {} to {}: {e}; it stays in the state file, run --restore again",
                    original.item, original.value
                ));
            }
        }
    }
    if let Err(e) = save_or_remove(state, state_path) {
        ok = false;
        report.errors.push(e.to_string());
    }
    report.success = ok;
    ok
}
