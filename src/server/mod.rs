//! The HTTP server (axum): `/metrics`, `/healthz`, `/readyz`,
//! `/api/v1/status`, `/api/v1/history`, the status page `/`, `/history`,
//! badges, `POST /-/reload` and (when turned on) `/probe`.
//! Handlers only read shared state (board reads take a short read lock, no
//! `.await` under it); a reload is a request to the daemon, answered once it
//! is applied or refused.

pub mod auth;
pub mod probe;
pub mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::outputs::board::Board;
use crate::outputs::metrics::Metrics;
use crate::outputs::{badge, history, page, status};
use crate::scheduler::{Heartbeat, STALL_AFTER};

/// A reload asked for by SIGHUP (no reply) or `POST /-/reload`.
pub struct ReloadRequest {
    /// `Ok(summary)` or `Err(every problem, one per line)`.
    pub reply: Option<oneshot::Sender<Result<String, String>>>,
}

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub board: Arc<Board>,
    pub metrics: Arc<Metrics>,
    pub heartbeat: Arc<Heartbeat>,
    pub reload: mpsc::Sender<ReloadRequest>,
    /// The state store's health, for `/readyz`'s detail.
    pub storage: Arc<crate::store::Health>,
    /// The state store, for `/history`.
    pub store: crate::store::Store,
    /// `/probe`, on only when the config says so.
    pub probe: Arc<probe::ProbeEndpoint>,
    /// The runtime rounds run on, where `/probe` runs its round.
    pub rounds: tokio::runtime::Handle,
}

pub fn router(state: AppState, users: BTreeMap<String, String>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/status", get(api_status))
        .route("/api/v1/history", get(api_history))
        .route("/history", get(history_page))
        .route("/badge/{file}", get(site_badge))
        .route("/-/reload", post(reload))
        .route("/probe", get(probe::handler))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(users),
            auth::require,
        ))
        .with_state(state)
}

/// Starts [`serve`] on a thread of its own, with its own single-threaded
/// runtime: a scrape of 10,000 addresses writes ~40 MB, and its connection
/// would otherwise wait behind round tasks on the shared workers each time
/// the socket fills (at 10,000 addresses, p50 57 → 48–53 ms measured by
/// the same client). The handlers' heavy work is off this thread anyway:
/// rendering runs on a blocking thread, `/probe`'s round on the rounds'
/// runtime. The receiver resolves when the server has stopped (or its
/// thread could not start).
pub fn spawn(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    token: CancellationToken,
) -> std::io::Result<oneshot::Receiver<std::io::Result<()>>> {
    // A tokio listener belongs to the runtime that made it: hand the socket
    // over (it stays non-blocking).
    let listener = listener.into_std()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("mirrorwatch-http-blocking")
        .build()?;
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("mirrorwatch-http".into())
        .spawn(move || {
            let result = runtime.block_on(async move {
                let listener = TcpListener::from_std(listener)?;
                serve(listener, router, tls, token).await
            });
            // Scrapes still rendering are told to stop by their closed
            // channels; do not wait for them here.
            runtime.shutdown_background();
            let _ = done_tx.send(result);
        })?;
    Ok(done_rx)
}

/// Serves until `token` is cancelled (over TLS when `tls` is given), then
/// lets open requests finish.
async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    token: CancellationToken,
) -> std::io::Result<()> {
    match tls {
        Some(config) => {
            tls::serve(listener, router, config, token, Duration::from_secs(3)).await;
            Ok(())
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await
        }
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    // Rendering 10,000 addresses takes tens of milliseconds: it runs off the
    // async workers (rounds keep their schedule while Prometheus scrapes) and
    // streams, so the first chunk is on the wire while the rest is built.
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(4);
    let metrics = s.metrics.clone();
    tokio::task::spawn_blocking(move || {
        metrics.render_chunks(&mut |chunk| tx.blocking_send(chunk).is_ok())
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        axum::body::Body::from_stream(chunks),
    )
        .into_response()
}

async fn healthz(State(s): State<AppState>) -> Response {
    if let Some(what) = s.heartbeat.stalled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("target task stalled: {what}\n"),
        )
            .into_response();
    }
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
    // A degraded store does not stop monitoring, so it does not make the
    // daemon unready; it is said in the detail (and in a metric).
    let storage = s
        .storage
        .degraded()
        .map(|why| format!("; storage degraded: {why}"))
        .unwrap_or_default();
    if s.board.all_checked() {
        (StatusCode::OK, format!("ready{storage}\n")).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: some addresses have not finished a round{storage}\n"),
        )
            .into_response()
    }
}

async fn api_status(State(s): State<AppState>) -> Response {
    axum::Json(status::build(&s.board.snapshot())).into_response()
}

/// The events `params` asks for, or the answer to give instead (400 for a
/// bad parameter, 503 when the store cannot answer).
async fn events(s: &AppState, params: &history::Params) -> Result<history::HistoryView, Response> {
    let q = params
        .query(std::time::SystemTime::now())
        .map_err(|why| (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response())?;
    let limit = q.limit;
    let one_more = crate::store::history::EventQuery {
        limit: limit.saturating_add(1),
        ..q
    };
    let rows = s
        .store
        .call(move |c| crate::store::history::events(c, &one_more))
        .await
        .map_err(|e| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("history unavailable: {e}\n"),
            )
                .into_response()
        })?;
    Ok(history::view(rows, limit))
}

async fn api_history(State(s): State<AppState>, Query(p): Query<history::Params>) -> Response {
    match events(&s, &p).await {
        Ok(page) => axum::Json(page).into_response(),
        Err(r) => r,
    }
}

async fn history_page(State(s): State<AppState>, Query(p): Query<history::Params>) -> Response {
    match events(&s, &p).await {
        Ok(page) => {
            let html = history::render(&page, &p, std::time::SystemTime::now());
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        Err(r) => r,
    }
}

async fn status_page(State(s): State<AppState>) -> Response {
    let html = page::render(&s.board.snapshot(), std::time::SystemTime::now());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn site_badge(State(s): State<AppState>, Path(file): Path<String>) -> Response {
    let Some(site) = file.strip_suffix(".svg") else {
        return (StatusCode::NOT_FOUND, "badges are /badge/<site>.svg\n").into_response();
    };
    match badge::render(&s.board.snapshot(), site) {
        Some(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            svg,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such site\n").into_response(),
    }
}

async fn reload(State(s): State<AppState>) -> Response {
    let (tx, rx) = oneshot::channel();
    if s.reload
        .send(ReloadRequest { reply: Some(tx) })
        .await
        .is_err()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match rx.await {
        Ok(Ok(summary)) => (StatusCode::OK, format!("{summary}\n")).into_response(),
        Ok(Err(errors)) => (
            StatusCode::BAD_REQUEST,
            format!("config not reloaded; the running one stays:\n{errors}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "reload abandoned\n").into_response(),
    }
}
