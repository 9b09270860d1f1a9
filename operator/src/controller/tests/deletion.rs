//! Deletion with the finalizer (restore Jobs, bounded wait) and nodes leaving a pool.

use super::*;

fn deleting(deleted_secs_ago: i64) -> RelayNode {
    let mut rn = edge();
    let now = jiff::Timestamp::now().as_second();
    rn.metadata.deletion_timestamp = Some(time(now - deleted_secs_ago));
    let ok = report_ok();
    let nodes = [relay_node("a", "1Gi")];
    let pods = [relay_pod("edge", "a", true, Some(&ok))];
    let (status, _) = crate::status::compute(crate::status::Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &pods,
        daemonset: None,
        problems: &[],
        now: &time(1),
    });
    rn.status = Some(status);
    rn
}

fn deletion_routes(rn: &RelayNode, job: Option<Job>) -> Vec<Route> {
    let job_name = crate::render::restore_job_name("edge", "a");
    let job_answer = match job {
        Some(j) => Answer::Json(typed(&j, "batch/v1", "Job")),
        None => Answer::Echo,
    };
    let mut routes = vec![
        Route::new(
            "GET",
            "/apis/apps/v1/namespaces/relays/daemonsets/edge-relay",
            Answer::Json(meta("edge-relay")),
        ),
        Route::new(
            "DELETE",
            "/apis/apps/v1/namespaces/relays/daemonsets/edge-relay",
            Answer::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
        ),
        Route::new(
            "PATCH",
            format!("/apis/batch/v1/namespaces/relays/jobs/{job_name}"),
            job_answer,
        ),
        Route::new(
            "DELETE",
            format!("/apis/batch/v1/namespaces/relays/jobs/{job_name}"),
            Answer::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
        ),
    ];
    routes.extend(World::new(rn).routes(rn));
    routes
}

#[tokio::test]
async fn deletion_restores_tuned_nodes_then_releases_the_finalizer() {
    let rn = deleting(5);
    let mut done = crate::render::restore_job(&rn, "a");
    done.status = Some(JobStatus {
        succeeded: Some(1),
        ..JobStatus::default()
    });
    let (client, api) = FakeApi::start(deletion_routes(&rn, Some(done)));
    let res = reconcile(Arc::new(rn), context(client)).await;
    assert_eq!(res.expect("cleanup done"), Action::await_change());
    assert_eq!(
        api.calls("DELETE", "daemonsets/edge-relay").len(),
        1,
        "relays stop first"
    );
    let jobs = api.calls("PATCH", "/jobs/");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].body["spec"]["template"]["spec"]["nodeName"], "a");
    assert_eq!(
        api.calls("DELETE", "/jobs/").len(),
        1,
        "finished Job removed"
    );
    assert!(api
        .calls("POST", "/events")
        .iter()
        .any(|e| e.body["reason"] == "NodesRestored"));
    let last = api.seen().last().cloned().expect("calls");
    assert_eq!(last.method, "PATCH");
    assert!(
        last.uri.starts_with(RN),
        "finalizer removed last: {}",
        last.uri
    );
    assert!(last.body.to_string().contains("remove"), "{}", last.body);
}

#[tokio::test]
async fn deletion_waits_for_running_restore_jobs() {
    let rn = deleting(5);
    let (client, api) = FakeApi::start(deletion_routes(&rn, None));
    let err = reconcile(Arc::new(rn), context(client))
        .await
        .expect_err("waits");
    assert!(matches!(err, Error::RestorePending(1)), "{err}");
    assert_eq!(err.kind().label(), "restore_pending");
    assert!(
        !api.seen()
            .iter()
            .any(|s| s.body.to_string().contains("remove")),
        "finalizer kept"
    );
}

#[tokio::test]
async fn deletion_gives_up_after_the_timeout_and_says_which_nodes() {
    let rn = deleting(3600);
    let (client, api) = FakeApi::start(deletion_routes(&rn, None));
    let res = reconcile(Arc::new(rn), context(client)).await;
    assert_eq!(res.expect("let go"), Action::await_change());
    let ev = api.calls("POST", "/events");
    let timed_out = ev
        .iter()
        .find(|e| e.body["reason"] == "RestoreTimedOut")
        .expect("event");
    assert_eq!(timed_out.body["type"], "Warning");
    assert!(
        timed_out.body["note"]
            .as_str()
            .unwrap_or("")
            .contains(" a;")
            || timed_out.body["note"]
                .as_str()
                .unwrap_or("")
                .contains("on a"),
        "{}",
        timed_out.body
    );
}

#[test]
fn job_outcomes() {
    let mut job = Job::default();
    assert_eq!(job_outcome(&job), JobOutcome::Running);
    job.status = Some(JobStatus {
        succeeded: Some(1),
        ..JobStatus::default()
    });
    assert_eq!(job_outcome(&job), JobOutcome::Succeeded);
    job.status = Some(JobStatus {
        conditions: Some(vec![k8s_openapi::api::batch::v1::JobCondition {
            type_: "Failed".into(),
            status: "True".into(),
            ..Default::default()
        }]),
        ..JobStatus::default()
    });
    assert_eq!(job_outcome(&job), JobOutcome::Failed);
    let _unused: Option<DaemonSet> = None;
}

#[tokio::test]
async fn a_node_leaving_the_pool_gets_a_restore_job_and_its_outcome_is_reported() {
    // Node b was tuned (it is in the status) but no longer carries the pool label.
    let mut rn = deleting(0);
    rn.metadata.deletion_timestamp = None;
    if let Some(st) = rn.status.as_mut() {
        let mut b = st.nodes[0].clone();
        b.name = "b".into();
        st.nodes.push(b);
    }
    let mut world = World::new(&rn);
    world.nodes = vec![
        typed(&relay_node("a", "1Gi"), "v1", "Node"),
        typed(&crate::fixtures::node("b", &[]), "v1", "Node"),
    ];
    let mut done = crate::render::restore_job(&rn, "c");
    done.status = Some(JobStatus {
        succeeded: Some(1),
        ..JobStatus::default()
    });
    let mut failed = crate::render::restore_job(&rn, "d");
    failed.status = Some(JobStatus {
        conditions: Some(vec![k8s_openapi::api::batch::v1::JobCondition {
            type_: "Failed".into(),
            status: "True".into(),
            ..Default::default()
        }]),
        ..JobStatus::default()
    });
    world.jobs = vec![
        typed(&done, "batch/v1", "Job"),
        typed(&failed, "batch/v1", "Job"),
    ];
    let mut routes = vec![
        Route::new(
            "PATCH",
            "/apis/batch/v1/namespaces/relays/jobs/",
            Answer::Echo,
        ),
        Route::new(
            "DELETE",
            "/apis/batch/v1/namespaces/relays/jobs/",
            Answer::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
        ),
    ];
    routes.extend(world.routes(&rn));
    let (client, api) = FakeApi::start(routes);
    reconcile(Arc::new(rn), context(client))
        .await
        .expect("reconciled");

    let b_job = crate::render::restore_job_name("edge", "b");
    let applied = api.calls("PATCH", &format!("/jobs/{b_job}"));
    assert_eq!(applied.len(), 1, "{:?}", api.seen());
    assert_eq!(applied[0].body["spec"]["template"]["spec"]["nodeName"], "b");
    let list = api.calls("GET", "/jobs");
    assert!(
        list[0].uri.contains("reported"),
        "unreported Jobs only: {}",
        list[0].uri
    );
    let deleted = api.calls("DELETE", "/jobs/");
    assert_eq!(deleted.len(), 1);
    assert!(deleted[0]
        .uri
        .contains(&crate::render::restore_job_name("edge", "c")));
    let d_job = crate::render::restore_job_name("edge", "d");
    let marked = api.calls("PATCH", &format!("/jobs/{d_job}"));
    assert_eq!(marked[0].body["metadata"]["labels"][REPORTED_LABEL], "true");
    let events = api.calls("POST", "/events");
    for reason in ["RestoringNodes", "NodeRestored", "RestoreFailed"] {
        assert!(
            events.iter().any(|e| e.body["reason"] == reason),
            "event {reason}: {events:?}"
        );
    }
    let status = status_body(&api);
    assert_eq!(status["desiredNodes"], 1, "b left");
}
