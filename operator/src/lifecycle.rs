//! The replica's life around the controller: wait for SIGTERM or SIGINT (PID 1 in a container
//! gets SIGTERM on pod deletion), campaign for the Lease, run the controller while leading, and on
//! shutdown stop reconciling and release the Lease (as client-go's `ReleaseOnCancel` does) so
//! that the standby takes over at once, all within [`SHUTDOWN_BUDGET`].

use std::future::Future;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use kube_lease_manager::LeaseManager;
use tracing::{info, warn};

use crate::controller::State;

/// How long reconciles already running may take to finish once shutdown is asked for; after
/// that they are dropped (every step is idempotent, the next leader redoes it).
pub const STOP_GRACE: Duration = Duration::from_millis(800);
/// How long releasing the Lease may take before the process exits anyway (the standby then
/// waits for the Lease to expire, as after a crash).
pub const RELEASE_TIMEOUT: Duration = Duration::from_millis(800);
/// From the signal to the end of [`run_elected`] or [`run_alone`] at most (under the 2 s the
/// operator promises).
pub const SHUTDOWN_BUDGET: Duration = STOP_GRACE.saturating_add(RELEASE_TIMEOUT);

/// Why the replica stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Asked to stop (a signal); the Lease, if held, was released.
    Shutdown,
    /// Lost the Lease while leading: exit non-zero so that a fresh replica campaigns again.
    LostLease,
    /// The lease manager stopped (it could not reach the apiserver).
    ElectionFailed,
}

/// Resolves on the first SIGTERM or SIGINT, with the signal's name. The handlers are installed
/// by this call (so call it early: a signal before that kills the process).
pub fn termination() -> std::io::Result<impl Future<Output = &'static str> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// Resolves when the controller should stop (cloneable, `Send + Sync` as kube's
/// `graceful_shutdown_on` wants it).
pub type Stop = Shared<BoxFuture<'static, ()>>;

/// Runs `controller(stop)` until it returns, or until [`STOP_GRACE`] after `stop` resolved.
async fn drive<F: Future<Output = ()>>(controller: F, stop: Stop) {
    tokio::select! {
        () = controller => {}
        () = async { stop.await; tokio::time::sleep(STOP_GRACE).await } => {
            warn!(grace = ?STOP_GRACE, "reconciles still running after the grace period; dropping them");
        }
    }
}

/// Runs the controller without leader election until `shutdown` resolves.
/// `controller` gets the future that tells it to stop.
pub async fn run_alone<C, F>(
    state: &State,
    shutdown: impl Future<Output = ()> + Send + 'static,
    controller: C,
) where
    C: FnOnce(Stop) -> F,
    F: Future<Output = ()>,
{
    let stop = shutdown.boxed().shared();
    state.set_leading(true);
    drive(controller(stop.clone()), stop).await;
    state.set_leading(false);
}

/// Campaigns for the Lease of `lease`, runs `controller(stop)` while leading, and releases the
/// Lease when `shutdown` resolves or leadership is lost. A standby replica stays Ready (see
/// [`crate::readiness`]).
pub async fn run_elected<C, F>(
    lease: LeaseManager,
    state: &State,
    shutdown: impl Future<Output = ()> + Send + 'static,
    controller: C,
) -> Exit
where
    C: FnOnce(Stop) -> F,
    F: Future<Output = ()>,
{
    let shutdown = shutdown.boxed().shared();
    state.set_leading(false);
    let (mut leader, lease_task) = lease.watch().await;
    while !*leader.borrow_and_update() {
        tokio::select! {
            r = leader.changed() => if r.is_err() {
                return release(leader, lease_task, Exit::ElectionFailed).await;
            },
            () = shutdown.clone() => return release(leader, lease_task, Exit::Shutdown).await,
        }
    }
    info!("became the leader");
    state.set_leading(true);
    let mut lost = leader.clone();
    let lost = async move {
        while lost.changed().await.is_ok() {
            if !*lost.borrow() {
                return;
            }
        }
    };
    let stop: Stop = futures::future::select(shutdown.clone(), lost.boxed())
        .map(|_| ())
        .boxed()
        .shared();
    drive(controller(stop.clone()), stop).await;
    state.set_leading(false);
    let exit = if *leader.borrow() {
        Exit::Shutdown
    } else {
        Exit::LostLease
    };
    release(leader, lease_task, exit).await
}

/// Drops the last receiver of the lease watch, which makes the lease manager release the Lease
/// if this replica holds it, and waits for that at most [`RELEASE_TIMEOUT`].
async fn release(
    leader: tokio::sync::watch::Receiver<bool>,
    lease_task: tokio::task::JoinHandle<kube_lease_manager::Result<LeaseManager>>,
    exit: Exit,
) -> Exit {
    drop(leader);
    match tokio::time::timeout(RELEASE_TIMEOUT, lease_task).await {
        Ok(Ok(Ok(_))) => info!(
            ?exit,
            "lease manager stopped; the Lease is free if it was ours"
        ),
        Ok(Ok(Err(e))) => warn!(error = %e, ?exit, "could not release the Lease"),
        Ok(Err(e)) => warn!(error = %e, ?exit, "the lease manager task failed"),
        Err(_) => {
            warn!(timeout = ?RELEASE_TIMEOUT, ?exit, "releasing the Lease took too long; the standby waits for it to expire")
        }
    }
    exit
}

#[cfg(test)]
mod tests;
