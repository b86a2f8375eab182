//! The daemon: wires config → scheduler → outputs → server, and owns reload
//! and shutdown.
//!
//! Shutdown is one `CancellationToken`. SIGTERM or SIGINT cancels it; every
//! target task drops its round in flight at its next `.await`, the server
//! stops accepting and finishes open requests, and `run` returns within
//! [`SHUTDOWN_GRACE`] whatever is still running.
//!
//! Reload (SIGHUP or `POST /-/reload`) re-reads the config from its source.
//! A valid config is applied in place: the board keeps every surviving
//! address's state, the scheduler restarts only what changed, metrics of
//! removed addresses are dropped. An invalid one changes nothing, is logged
//! problem by problem, and sets `mirrorwatch_config_last_reload_successful`
//! to 0. `server.*` changes need a restart and are reported as such.
//!
//! systemd: `READY=1` once the server socket is bound and the scheduler runs,
//! `STATUS=` with a one-line summary, `WATCHDOG=1` from the scheduler's
//! heartbeat (so a wedged scheduler gets restarted).

mod discovery;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::alerts::{Alerts, deliver};
use crate::config::{self, Config, ConfigErrors, Shard};
use crate::outputs::bars::{Bars, SameBars};
use crate::outputs::board::Board;
use crate::outputs::board::{Key, Uptime};
use crate::outputs::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::scheduler::{Heartbeat, Scheduler, Shared};
use crate::server::{self, AppState, ReloadRequest};
use crate::store::history;
use crate::store::{Store, schema};

/// Upper bound on the time from signal to return.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// Where the config comes from, so a reload reads the same place.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file (`--config`, or the system path).
    File(PathBuf),
    /// `/etc/mirrorwatch/mirrorwatch.toml` if present, else the embedded default.
    Default,
    /// Fixed text (the demo), with the folder relative paths resolve from.
    Text {
        text: String,
        name: String,
        base: PathBuf,
    },
    /// Another source, keeping only the sites of one shard (`--shard i/n`).
    Sharded(Box<Source>, Shard),
    /// Another source, its `local` vantage named (`--vantage NAME`).
    Vantage(Box<Source>, String),
}

impl Source {
    pub fn load(&self) -> Result<Config, ConfigErrors> {
        match self {
            Source::File(p) => config::load(p),
            Source::Default => config::load_default(),
            Source::Text { text, name, base } => config::parse(text, name, base),
            Source::Sharded(inner, shard) => inner.load().map(|mut c| {
                c.retain_shard(Some(*shard));
                c
            }),
            Source::Vantage(inner, name) => inner.load().and_then(|mut c| {
                c.set_local_label(name).map_err(|message| ConfigErrors {
                    file: c.source.clone(),
                    errors: vec![config::ConfigError {
                        path: "local".into(),
                        position: config::Position { line: 1, column: 1 },
                        message,
                    }],
                })?;
                Ok(c)
            }),
        }
    }
}

/// How often the announcements of discovering sites are looked at.
const DISCOVERY_EVERY: Duration = Duration::from_secs(2);

/// Runs until SIGTERM/SIGINT.
pub async fn run(source: Source, config: Config) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let signals = tokio::spawn(wait_for_signals(token.clone(), reload_tx.clone()));
    let result = run_until(source, config, token, reload_tx, reload_rx, |addr| {
        tracing::info!(listen = %addr, "serving");
    })
    .await;
    signals.abort();
    result
}

/// One line for systemd's STATUS=.
/// Runs every heartbeat, so it counts under the board's read lock instead
/// of copying the board.
fn summary(board: &Board) -> String {
    let [unknown, up, degraded, down] = board.state_counts();
    format!(
        "{} addresses: {up} up, {degraded} degraded, {down} down, {unknown} unknown",
        unknown + up + degraded + down
    )
}

/// Runs until `token` is cancelled. `on_listen` is told the bound address.
pub async fn run_until(
    source: Source,
    config: Config,
    token: CancellationToken,
    reload_tx: mpsc::Sender<ReloadRequest>,
    mut reload_rx: mpsc::Receiver<ReloadRequest>,
    on_listen: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let local = listener
        .local_addr()
        .context("reading the listen address")?;
    let tls = config.server.tls.as_ref().map(|t| t.loaded.clone());
    let store = Store::open_or_memory(config.storage.path.as_deref())?;
    // Mirrors discovered before a restart are watched again at once.
    let mut discovery = discovery::Discovery::load(&store).await;
    let mut base = config.clone();
    let config = config.with_discovered(&discovery.hosts());
    let pipeline = Pipeline::new(&config, None)
        .context("building probes")?
        .with_names(store.clone());
    let targets = shared_targets(&config);
    let board = Arc::new(Board::new(&targets));
    board.restore(store.call(schema::load_problems).await?);
    for (site, saved) in store.call(crate::store::clock::load_clocks).await? {
        pipeline.restore_clock(&site, saved);
    }
    // Best effort: a read-only store still restores, and reports itself.
    if let Err(e) = store.call(crate::store::clock::drop_gone).await {
        tracing::warn!(error = %e, "dropping the clock's rows of gone articles");
    }
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    for e in board.snapshot() {
        metrics.register_target(&e);
    }
    for r in &config.alerting.receivers {
        metrics.register_receiver(&r.name);
    }
    metrics.set_reload_ok(true);
    metrics.set_vantages(&config.vantage_labels());
    let alerts = Arc::new(
        Alerts::load(
            store.clone(),
            config.alerting.clone(),
            generator_url(&config, local),
        )
        .await?,
    );
    let delivery = tokio::spawn(deliver::run(
        alerts.clone(),
        store.clone(),
        metrics.clone(),
        config.storage.retention,
        token.child_token(),
    ));
    // The bars and ratios are no staler than a minute, or than one round.
    let every = config
        .sites
        .iter()
        .map(|s| s.settings.interval)
        .min()
        .unwrap_or(Duration::from_secs(60))
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    let heartbeat = Arc::new(Heartbeat::default());
    let shared = Arc::new(Shared::new(
        pipeline,
        board.clone(),
        metrics.clone(),
        heartbeat.clone(),
        store.clone(),
        alerts,
    ));
    // Its own token, cancelled after the scheduler stops, so the last
    // rounds' counts are flushed.
    let uptime_token = CancellationToken::new();
    let uptime = tokio::spawn(refresh_uptime(
        board.clone(),
        shared.clone(),
        every,
        uptime_token.clone(),
    ));
    let storage = shared.store.health();
    let probe = Arc::new(server::probe::ProbeEndpoint::default());
    probe.configure(&config);
    let state = AppState {
        board: board.clone(),
        metrics: metrics.clone(),
        heartbeat,
        reload: reload_tx,
        storage: storage.clone(),
        store: store.clone(),
        probe: probe.clone(),
        rounds: tokio::runtime::Handle::current(),
    };
    let router = server::router(state, config.server.basic_auth.clone());
    let server =
        server::spawn(listener, router, tls, token.clone()).context("starting the HTTP server")?;
    let status_board = board.clone();
    let mut last_status = String::new();
    let beat_metrics = metrics.clone();
    let on_beat = move || {
        storage.check_file();
        beat_metrics.set_storage_ok(storage.degraded().is_none());
        let line = summary(&status_board);
        let mut states = vec![sd_notify::NotifyState::Watchdog];
        if line != last_status {
            states.push(sd_notify::NotifyState::Status(&line));
        }
        let _ = sd_notify::notify(&states);
        last_status = line;
    };
    // The registry stage: stored answers first (rounds read them), then
    // its own cadence.
    let registry = shared.pipeline().registry();
    crate::scheduler::registry::restore(&registry, &store, &metrics).await;
    let (registry_tx, registry_rx) =
        tokio::sync::watch::channel(crate::scheduler::registry::Setup::of(&config));
    let registry_task = tokio::spawn(crate::scheduler::registry::run(
        registry,
        registry_rx,
        store.clone(),
        metrics.clone(),
        token.child_token(),
    ));
    let mut scheduler = Scheduler::start(shared.clone(), &targets, token.child_token(), on_beat);
    tracing::info!(config = %config.source, sites = config.sites.len(), addresses = board.snapshot().len(), "mirrorwatch started");
    on_listen(local);
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let mut current = config;
    let mut looks = tokio::time::interval(DISCOVERY_EVERY);
    let hooks = Hooks {
        probe: &probe,
        registry: &registry_tx,
    };
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = looks.tick(), if discovery::Discovery::wanted(&current) => {
                let now = crate::ground::time::unix_secs(std::time::SystemTime::now());
                let (changed, mirrors) = discovery.look(&current, &shared.board, now);
                if changed {
                    discovery.save(&shared.store).await;
                }
                if mirrors {
                    // The running config's sites, with the new set of
                    // discovered mirrors, prepared off this loop like a
                    // reload.
                    let start = Start::Base(Box::new(base.clone()));
                    let prepared = tokio::select! {
                        _ = token.cancelled() => break,
                        p = prepare(start, discovery.hosts(), shared.pipeline()) => p,
                    };
                    match apply(prepared, &mut base, &mut current, &shared, &mut scheduler, &hooks) {
                        Ok(summary) => tracing::info!(%summary, "discovered mirrors applied"),
                        Err(e) => tracing::error!(error = %e, "applying discovered mirrors"),
                    }
                }
            }
            req = reload_rx.recv() => {
                let Some(req) = req else { break };
                // Reading and validating the config (and building its
                // probes: CA files, regexes) is slow for a large or absurd
                // config: it runs off this loop, so SIGTERM still stops
                // the daemon within the grace period. What the file says,
                // plus what discovery found.
                let start = Start::Source(source.clone());
                let prepared = tokio::select! {
                    _ = token.cancelled() => break,
                    p = prepare(start, discovery.hosts(), shared.pipeline()) => p,
                };
                let result = apply(prepared, &mut base, &mut current, &shared, &mut scheduler, &hooks);
                if let Some(reply) = req.reply {
                    let _ = reply.send(result);
                }
            }
        }
    }
    tracing::info!("shutting down");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let drain = async {
        scheduler.stop(SHUTDOWN_GRACE).await;
        uptime_token.cancel();
        let _ = server.await;
        let _ = delivery.await;
        let _ = uptime.await;
        let _ = registry_task.await;
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!("shutdown grace period over; abandoning remaining tasks");
    }
    Ok(())
}

/// What a reload starts from.
enum Start {
    /// The config's source (SIGHUP, `POST /-/reload`).
    Source(Source),
    /// The running config as read, again (the discovered mirrors changed).
    Base(Box<Config>),
}

/// A reload's config as read, the config to run (with the discovered
/// mirrors), and its pipeline.
type Prepared = Result<(Config, Config, Pipeline), String>;

/// Loads the config, adds the discovered mirrors (`found`, by site) and
/// builds its pipeline, on a thread of its own (not a runtime blocking
/// thread: the runtime waits for those on exit).
async fn prepare(
    start: Start,
    found: std::collections::BTreeMap<String, Vec<String>>,
    previous: Arc<Pipeline>,
) -> Prepared {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("mirrorwatch-reload".into())
        .spawn(move || {
            let loaded = match start {
                Start::Base(config) => Ok(*config),
                Start::Source(source) => source.load(),
            };
            let result = match loaded {
                Err(errors) => {
                    for line in errors.to_string().lines() {
                        tracing::error!(
                            problem = line,
                            "config reload refused; keeping the running config"
                        );
                    }
                    Err(errors.to_string())
                }
                Ok(base) => {
                    let config = base.clone().with_discovered(&found);
                    match Pipeline::new(&config, Some(&previous)) {
                        Ok(p) => Ok((base, config, p)),
                        Err(e) => {
                            tracing::error!(error = %e, "config reload refused; keeping the running config");
                            Err(format!("{e:#}"))
                        }
                    }
                }
            };
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start the reload thread: {e}"));
    }
    rx.await
        .unwrap_or_else(|_| Err("the reload thread stopped without an answer".into()))
}

/// What else follows the config in force: `/probe` and the registry stage.
struct Hooks<'a> {
    probe: &'a server::probe::ProbeEndpoint,
    registry: &'a tokio::sync::watch::Sender<Option<crate::scheduler::registry::Setup>>,
}

/// Applies a prepared config (see [`reload`]), keeps what it was read as in
/// `base`, and brings `/probe` and the registry stage along.
fn apply(
    prepared: Prepared,
    base: &mut Config,
    current: &mut Config,
    shared: &Arc<Shared>,
    scheduler: &mut Scheduler,
    hooks: &Hooks<'_>,
) -> Result<String, String> {
    let prepared = prepared.map(|(read, config, pipeline)| {
        *base = read;
        (config, pipeline)
    });
    let result = reload(prepared, current, shared, scheduler);
    if result.is_ok() {
        hooks.probe.configure(current);
        hooks
            .registry
            .send_replace(crate::scheduler::registry::Setup::of(current));
    }
    result
}

/// Applies a prepared config; `Err` carries every problem.
fn reload(
    prepared: Result<(Config, Pipeline), String>,
    current: &mut Config,
    shared: &Arc<Shared>,
    scheduler: &mut Scheduler,
) -> Result<String, String> {
    let (config, pipeline) = match prepared {
        Ok(p) => p,
        Err(why) => {
            shared.metrics.set_reload_ok(false);
            return Err(why);
        }
    };
    let targets = shared_targets(&config);
    shared.set_pipeline(pipeline);
    let sync = shared.board.sync(&targets);
    for e in &sync.removed {
        shared.metrics.forget(e);
    }
    let sites: std::collections::BTreeSet<&str> = targets.iter().map(|t| t.site.as_str()).collect();
    shared.metrics.retain_sites(&sites);
    for e in &sync.added {
        shared.metrics.register_target(e);
    }
    let applied = scheduler.apply(&targets);
    let alerts = shared.alerts.clone();
    tokio::spawn(async move {
        if let Err(e) = alerts.retain(&targets, std::time::SystemTime::now()).await {
            tracing::error!(error = %e, "resolving alerts of removed addresses");
        }
    });
    for r in &config.alerting.receivers {
        shared.metrics.register_receiver(&r.name);
    }
    let generator = config
        .alerting
        .external_url
        .as_ref()
        .map(|u| u.to_string())
        .unwrap_or_else(|| shared.alerts.generator_url());
    shared.alerts.set_config(config.alerting.clone(), generator);
    shared.metrics.set_reload_ok(true);
    shared.metrics.set_vantages(&config.vantage_labels());
    let mut summary = format!(
        "reloaded {}: {} added, {} removed, {} restarted",
        config.source, applied.added, applied.removed, applied.restarted
    );
    if config.server != current.server || config.storage != current.storage {
        summary.push_str("; [server] and [storage] changes take effect after a restart");
    }
    tracing::info!("{summary}");
    *current = config;
    Ok(summary)
}

/// `generatorURL`: `alerting.external_url`, else the status page on the
/// listen address.
fn generator_url(config: &Config, local: std::net::SocketAddr) -> String {
    match &config.alerting.external_url {
        Some(u) => u.to_string(),
        None => {
            let scheme = if config.server.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{local}/")
        }
    }
}

/// The longest round counts wait in memory before the store has them.
const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// Recomputes every address's uptime ratios (1 h, 24 h, 7 d) and bars
/// every `every` (each minute, or each round when rounds are more often).
async fn refresh_uptime(
    board: Arc<Board>,
    shared: Arc<Shared>,
    every: Duration,
    token: CancellationToken,
) {
    let store = shared.store.clone();
    let windows = [
        Duration::from_secs(3600),
        Duration::from_secs(86400),
        Duration::from_secs(7 * 86400),
    ];
    // Round counts are flushed at least every FLUSH_EVERY (and on
    // shutdown); the ratios and bars are recomputed every `every`, right
    // after a flush.
    let mut tick = tokio::time::interval(every.min(FLUSH_EVERY));
    let mut last: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = token.cancelled() => {
                shared.hours.flush(&store).await;
                return;
            }
            _ = tick.tick() => {}
        }
        shared.hours.flush(&store).await;
        if last.is_some_and(|t| t.elapsed() + Duration::from_millis(100) < every) {
            continue;
        }
        last = Some(std::time::Instant::now());
        let now = std::time::SystemTime::now();
        let since: [i64; 3] = windows.map(|w| crate::ground::time::to_ms(now - w));
        let now_ms = crate::ground::time::to_ms(now);
        // One read of the week's hours; the ratios and the bars are both
        // computed from it.
        let ratios = store
            .call(move |c| {
                let now_hour = now_ms.div_euclid(schema::HOUR_MS);
                let mut out: HashMap<Key, Uptime> = HashMap::new();
                let mut same = SameBars::default();
                history::each_hourly(c, since[2], |site, url, vantage, counts| {
                    let k = Key {
                        site: site.into(),
                        url: url.into(),
                        vantage: vantage.into(),
                    };
                    let shares = since.map(|s| history::up_share(counts, s));
                    out.insert(k, (shares, same.of(Bars::build(counts, now_hour))));
                })?;
                Ok(out)
            })
            .await;
        match ratios {
            Ok(all) => board.set_uptimes(all, now),
            Err(e) => tracing::warn!(error = %e, "computing uptime"),
        }
        // Freed memory back to the kernel (`ground::memory`), as often as
        // the ratios: each minute, or each round when rounds are more often.
        let _ = tokio::task::spawn_blocking(crate::ground::memory::trim).await;
    }
}

async fn wait_for_signals(token: CancellationToken, reload: mpsc::Sender<ReloadRequest>) {
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
                tracing::info!("SIGHUP: reloading the config");
                let _ = reload.send(ReloadRequest { reply: None }).await;
            }
        }
    }
    token.cancel();
}

/// The config's addresses, each in one allocation that the board's entry
/// and the scheduler's task share.
fn shared_targets(config: &Config) -> Vec<Arc<crate::config::Target>> {
    let targets = config.targets();
    // Not `collect()`: it would reuse the targets' own buffer (room for
    // 16,384 targets of ~300 bytes at 10,000 addresses, 4.7 MB) to hold
    // 8-byte pointers for as long as the daemon runs.
    let mut shared = Vec::with_capacity(targets.len());
    shared.extend(targets.into_iter().map(Arc::new));
    shared
}
