//! The HTTP server (axum): `/metrics`, `/healthz`, `/readyz`,
//! `/api/v1/status`. Handlers only read shared state; they never block the
//! scheduler (board reads take a short read lock, no `.await` under it).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::outputs::board::Board;
use crate::outputs::metrics::Metrics;
use crate::outputs::status;
use crate::scheduler::{Heartbeat, STALL_AFTER};

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub board: Arc<Board>,
    pub metrics: Arc<Metrics>,
    pub heartbeat: Arc<Heartbeat>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/status", get(api_status))
        .with_state(state)
}

/// Serves until `token` is cancelled, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    token: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { token.cancelled().await })
        .await
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn healthz(State(s): State<AppState>) -> Response {
    match s.heartbeat.age() {
        Some(age) if age <= STALL_AFTER => (StatusCode::OK, "ok\n").into_response(),
        Some(age) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("scheduler stalled: last heartbeat {}s ago\n", age.as_secs()),
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "scheduler not started\n").into_response(),
    }
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.board.all_checked() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: some addresses have not finished a round\n",
        )
            .into_response()
    }
}

async fn api_status(State(s): State<AppState>) -> Response {
    axum::Json(status::build(&s.board.snapshot())).into_response()
}
