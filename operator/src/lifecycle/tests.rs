use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::*;
use crate::fixtures::{Answer, FakeApi, Route};

const LEASE: &str =
    "/apis/coordination.k8s.io/v1/namespaces/oxidize-system/leases/oxidize-operator";

/// The Lease as the apiserver returns it: held by `holder`, renewed just now.
fn lease(holder: &str) -> Value {
    let now = serde_json::to_value(MicroTime(jiff::Timestamp::now())).unwrap_or(Value::Null);
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": "oxidize-operator", "namespace": "oxidize-system", "resourceVersion": "7"},
           "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                    "acquireTime": now, "renewTime": now}})
}

/// A fake apiserver whose Lease is held by `holder`, and a lease manager for identity `me`.
async fn lease_manager(holder: &str) -> (LeaseManager, FakeApi) {
    let (client, fake): (Client, FakeApi) = FakeApi::start(vec![
        Route::new("GET", LEASE, Answer::Json(lease(holder))),
        Route::new("PATCH", LEASE, Answer::Json(lease(holder))),
    ]);
    let manager = LeaseManagerBuilder::new(client, "oxidize-operator")
        .with_namespace("oxidize-system")
        .with_identity("me")
        .with_duration(15)
        .with_grace(5)
        .build()
        .await
        .expect("the lease manager starts");
    (manager, fake)
}

/// PATCHes of the Lease that clear its holder (the release).
fn releases(fake: &FakeApi) -> Vec<Value> {
    fake.calls("PATCH", "leases/oxidize-operator")
        .into_iter()
        .filter(|s| s.body["spec"].get("holderIdentity") == Some(&Value::Null))
        .map(|s| s.body)
        .collect()
}

#[tokio::test]
async fn shutdown_of_the_leader_stops_the_controller_and_releases_the_lease_within_a_second() {
    let (manager, fake) = lease_manager("me").await;
    let state = State::default();
    let (signal, shutdown) = oneshot::channel::<()>();
    let (started_tx, started) = oneshot::channel::<()>();
    let stopped = Arc::new(AtomicBool::new(false));
    let (st, flag) = (state.clone(), stopped.clone());
    let run = tokio::spawn(async move {
        run_elected(
            manager,
            &st,
            async move {
                let _ = shutdown.await;
            },
            move |stop| async move {
                let _ = started_tx.send(());
                stop.await;
                flag.store(true, Ordering::Relaxed);
            },
        )
        .await
    });
    tokio::time::timeout(Duration::from_secs(5), started)
        .await
        .expect("the controller starts once the Lease is ours")
        .expect("started");
    assert!(state.readiness().leading);
    assert!(releases(&fake).is_empty(), "nothing released while leading");

    let t0 = Instant::now();
    signal.send(()).expect("send the signal");
    let exit = tokio::time::timeout(Duration::from_secs(1), run)
        .await
        .expect("shutdown completes within a second")
        .expect("join");
    let took = t0.elapsed();
    assert_eq!(exit, Exit::Shutdown);
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(
        stopped.load(Ordering::Relaxed),
        "the controller was told to stop"
    );
    assert!(!state.readiness().leading);
    let released = releases(&fake);
    assert_eq!(released.len(), 1, "one release PATCH: {:?}", fake.seen());
    for field in [
        "holderIdentity",
        "renewTime",
        "acquireTime",
        "leaseDurationSeconds",
    ] {
        assert_eq!(released[0]["spec"][field], Value::Null, "{field}");
    }
}

#[tokio::test]
async fn a_reconcile_that_does_not_stop_is_dropped_and_the_lease_still_released() {
    let (manager, fake) = lease_manager("me").await;
    let state = State::default();
    let (signal, shutdown) = oneshot::channel::<()>();
    let (started_tx, started) = oneshot::channel::<()>();
    let st = state.clone();
    let run = tokio::spawn(async move {
        run_elected(
            manager,
            &st,
            async move {
                let _ = shutdown.await;
            },
            move |_stop| async move {
                let _ = started_tx.send(());
                std::future::pending::<()>().await;
            },
        )
        .await
    });
    tokio::time::timeout(Duration::from_secs(5), started)
        .await
        .expect("leading")
        .expect("started");
    let t0 = Instant::now();
    signal.send(()).expect("send the signal");
    let exit = tokio::time::timeout(Duration::from_secs(2), run)
        .await
        .expect("shutdown completes within two seconds")
        .expect("join");
    assert_eq!(exit, Exit::Shutdown);
    assert!(t0.elapsed() < SHUTDOWN_BUDGET + Duration::from_millis(200));
    assert_eq!(releases(&fake).len(), 1, "{:?}", fake.seen());
}

#[tokio::test]
async fn a_standby_stays_ready_and_stops_at_once_without_touching_the_lease() {
    let (manager, fake) = lease_manager("other").await;
    let state = State::default();
    state.set_serving();
    let (signal, shutdown) = oneshot::channel::<()>();
    let st = state.clone();
    let run = tokio::spawn(async move {
        run_elected(
            manager,
            &st,
            async move {
                let _ = shutdown.await;
            },
            |_stop| async { panic!("a standby never runs the controller") },
        )
        .await
    });
    // Wait until the manager has read the Lease and found it held by the other replica.
    for _ in 0..50 {
        if fake.calls("GET", "leases/oxidize-operator").len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(state.ready(), "a standby is Ready");
    assert!(!state.readiness().leading);
    let t0 = Instant::now();
    signal.send(()).expect("send the signal");
    let exit = tokio::time::timeout(Duration::from_secs(1), run)
        .await
        .expect("a standby stops within a second")
        .expect("join");
    assert_eq!(exit, Exit::Shutdown);
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert!(
        releases(&fake).is_empty(),
        "not ours to release: {:?}",
        fake.seen()
    );
}

#[tokio::test]
async fn without_election_the_controller_leads_until_shutdown() {
    let state = State::default();
    let (signal, shutdown) = oneshot::channel::<()>();
    let (started_tx, started) = oneshot::channel::<()>();
    let st = state.clone();
    let run = tokio::spawn(async move {
        run_alone(
            &st,
            async move {
                let _ = shutdown.await;
            },
            move |stop| async move {
                let _ = started_tx.send(());
                stop.await;
            },
        )
        .await;
    });
    started.await.expect("started");
    assert!(state.readiness().leading);
    signal.send(()).expect("send the signal");
    tokio::time::timeout(Duration::from_secs(1), run)
        .await
        .expect("stops within a second")
        .expect("join");
    assert!(!state.readiness().leading);
}

/// The real signal: SIGTERM to this process resolves `termination` (the handler is installed
/// first, so the test process is not killed).
#[tokio::test]
async fn termination_resolves_on_sigterm() {
    let term = termination().expect("install the handlers");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let name = tokio::time::timeout(Duration::from_secs(1), term)
        .await
        .expect("SIGTERM seen within a second");
    assert_eq!(name, "SIGTERM");
}
