//! The daemon: wires config → scheduler → outputs → server, and owns
//! shutdown.
//!
//! Shutdown is one `CancellationToken`. SIGTERM or SIGINT cancels it; every
//! target task drops its round in flight at its next `.await`, the server
//! stops accepting and finishes open requests, and `run` returns within
//! [`SHUTDOWN_GRACE`] whatever is still running.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::checks::Probes;
use crate::config::Config;
use crate::outputs::board::Board;
use crate::outputs::metrics::Metrics;
use crate::scheduler::{self, Heartbeat, MAX_CONCURRENT_ROUNDS, Shared};
use crate::server::{self, AppState};

/// Upper bound on the time from signal to return.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// Runs until SIGTERM/SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let signals = tokio::spawn(wait_for_signal(token.clone()));
    let result = run_until(config, token).await;
    signals.abort();
    result
}

/// Runs until `token` is cancelled.
pub async fn run_until(config: Config, token: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let local = listener
        .local_addr()
        .context("reading the listen address")?;
    let probes = Probes::new(&config).context("building probes")?;
    let targets = config.targets();
    let board = Arc::new(Board::new(&targets));
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    for e in board.snapshot() {
        metrics.register_target(&e);
    }
    metrics.set_reload_ok(true);
    let heartbeat = Arc::new(Heartbeat::default());
    let shared = Arc::new(Shared {
        probes,
        board: board.clone(),
        metrics: metrics.clone(),
        heartbeat: heartbeat.clone(),
        limit: Semaphore::new(MAX_CONCURRENT_ROUNDS),
    });
    tracing::info!(listen = %local, config = %config.source, sites = config.sites.len(), addresses = targets.len(), "mirrorwatch started");
    let mut tasks = scheduler::spawn(shared, targets, token.clone());
    let state = AppState {
        board,
        metrics,
        heartbeat,
    };
    let server = tokio::spawn(server::serve(listener, state, token.clone()));
    token.cancelled().await;
    tracing::info!("shutting down");
    let drain = async {
        while tasks.join_next().await.is_some() {}
        let _ = server.await;
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!("shutdown grace period over; abandoning remaining tasks");
    }
    Ok(())
}

async fn wait_for_signal(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = hup.recv() => {
                tracing::warn!("SIGHUP received: live reload is not implemented yet; restart to apply a new config");
            }
        }
    }
    token.cancel();
}
