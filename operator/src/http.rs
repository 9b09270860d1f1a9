//! `/metrics`, `/healthz` and `/readyz`.

use axum::extract::State as AxumState;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::controller::State;

/// The router serving the three endpoints from `state`.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(AxumState(state): AxumState<State>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn readyz(AxumState(state): AxumState<State>) -> impl IntoResponse {
    let r = state.readiness();
    match r.waiting_for() {
        None if r.leading => (StatusCode::OK, "ready (leader)\n".to_owned()),
        None => (StatusCode::OK, "ready (standby)\n".to_owned()),
        Some(what) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("waiting for {what}\n"),
        ),
    }
}

/// Serves `router` on `addr` until the process ends.
pub async fn serve(addr: std::net::SocketAddr, state: State) -> std::io::Result<()> {
    serve_on(tokio::net::TcpListener::bind(addr).await?, state).await
}

/// Serves `router` on a bound `listener` (and marks the replica as serving) until the process
/// ends.
pub async fn serve_on(listener: tokio::net::TcpListener, state: State) -> std::io::Result<()> {
    state.set_serving();
    axum::serve(listener, router(state)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get_path(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn readiness_follows_the_role_and_the_watch_and_metrics_are_served() {
        let state = State::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let st = state.clone();
        tokio::spawn(async move { serve_on(listener, st).await });
        assert!(get_path(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        // A standby is ready as soon as it serves.
        let r = get_path(addr, "/readyz").await;
        assert!(
            r.starts_with("HTTP/1.1 200") && r.contains("standby"),
            "{r}"
        );
        let m = get_path(addr, "/metrics").await;
        assert!(m.contains("oxidize_operator_leader 0"), "{m}");
        // The leader waits for its RelayNode watch.
        state.set_leading(true);
        let r = get_path(addr, "/readyz").await;
        assert!(
            r.starts_with("HTTP/1.1 503") && r.contains("RelayNode watch"),
            "{r}"
        );
        state.set_synced(true);
        let r = get_path(addr, "/readyz").await;
        assert!(r.starts_with("HTTP/1.1 200") && r.contains("leader"), "{r}");
        let m = get_path(addr, "/metrics").await;
        assert!(m.contains("oxidize_operator_leader 1"), "{m}");
        assert!(m.contains("application/openmetrics-text"), "{m}");
    }
}
