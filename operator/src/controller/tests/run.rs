//! `run` against the fake apiserver: readiness follows the RelayNode watch's initial list, and
//! the controller still starts reconciling (issue 16 item 3: with a second
//! `Store::wait_until_ready` waiter one of the two never woke).

use std::time::Duration;

use crate::controller::{run, Config, State};
use crate::fixtures::{list, relaynode_named, typed, Answer, FakeApi, Route};

#[tokio::test]
async fn the_leader_becomes_ready_after_the_initial_list_and_reconciles() {
    let rn = typed(
        &relaynode_named("edge", 100),
        "relay.oxidize.dev/v1alpha1",
        "RelayNode",
    );
    let (client, fake) = FakeApi::start(vec![
        Route::watch("/"),
        Route::new(
            "GET",
            "/apis/relay.oxidize.dev/v1alpha1/relaynodes",
            Answer::Json(list("RelayNode", "relay.oxidize.dev/v1alpha1", vec![rn])),
        ),
        Route::new("GET", "/", Answer::Json(list("Object", "v1", Vec::new()))),
    ]);
    let state = State::default();
    state.set_serving();
    state.set_leading(true);
    assert!(!state.ready(), "the leader waits for its watch");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ctrl = tokio::spawn(run(
        state.clone(),
        client,
        None,
        Config::default(),
        Some("test".into()),
        async move {
            let _ = stop_rx.await;
        },
    ));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !state.ready() || fake.calls("PATCH", "relaynodes/edge").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ready: {:?}; requests: {:#?}",
            state.readiness(),
            fake.seen()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Both woke: readiness (synced) and the controller's runner (it patched the finalizer in).
    assert!(state.readiness().synced);

    stop_tx.send(()).expect("stop");
    tokio::time::timeout(Duration::from_secs(2), ctrl)
        .await
        .expect("the controller stops")
        .expect("join");
}
