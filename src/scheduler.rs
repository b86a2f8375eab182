//! The scheduler: one task per address, each running a round every
//! `interval`, starting at a stable per-address offset (jitter) so rounds do
//! not burst. A global semaphore caps rounds in flight; every round is bounded
//! by its `timeout` (plus a 1 s backstop), so a hung address never delays
//! another. [`Scheduler::apply`] swaps in a new target set on reload:
//! unchanged addresses keep running untouched, changed ones restart, removed
//! ones stop. Cancelling the root token stops everything, cancelling rounds
//! in flight.
//!
//! After each round the scheduler has `parity` analyse the bodies, asks
//! `verdict` for the findings, stores them on the board and updates metrics.
//! Its heartbeat feeds `/healthz` and the systemd watchdog.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;

use crate::alerts::Alerts;
use crate::checks::{Probes, RoundReport, run_round};
use crate::config::{Role, Target};
use crate::outputs::board::{Board, Key};
use crate::outputs::metrics::Metrics;
use crate::store::{ProblemRow, Store, schema};
use crate::verdict;

/// Rounds allowed in flight at once, across all addresses.
pub const MAX_CONCURRENT_ROUNDS: usize = 256;
/// Small target sets spread their first rounds over at most this window, so
/// `/readyz` turns ready quickly.
pub const MAX_START_SPREAD: Duration = Duration::from_secs(10);
/// Large target sets widen the window by this much per target (at most one
/// interval), so rounds never burst: 10,000 addresses at 60 s run about 167
/// rounds a second, evenly, instead of 1,000 a second for ten seconds.
pub const SPREAD_PER_TARGET: Duration = Duration::from_millis(10);
/// `/healthz` fails when the heartbeat is older than this.
pub const STALL_AFTER: Duration = Duration::from_secs(10);
/// Test hook: with this variable set to a duration (e.g. `2s`), the
/// scheduler loop wedges itself after that long, to prove the watchdog and
/// `/healthz` notice.
pub const WEDGE_ENV: &str = "MIRRORWATCH_TEST_WEDGE_AFTER";

/// Liveness of the scheduler loop, as milliseconds since the Unix epoch of
/// the last beat.
#[derive(Default)]
pub struct Heartbeat(AtomicU64);

fn now_ms() -> u64 {
    (crate::timefmt::unix(SystemTime::now()) * 1000.0) as u64
}

impl Heartbeat {
    fn beat(&self) {
        self.0.store(now_ms(), Ordering::Relaxed);
    }

    /// How long since the last beat (`None` before the first).
    pub fn age(&self) -> Option<Duration> {
        let last = self.0.load(Ordering::Relaxed);
        (last != 0).then(|| Duration::from_millis(now_ms().saturating_sub(last)))
    }
}

/// What every target task shares.
pub struct Shared {
    probes: RwLock<Arc<Probes>>,
    pub board: Arc<Board>,
    pub metrics: Arc<Metrics>,
    pub heartbeat: Arc<Heartbeat>,
    pub store: Store,
    pub alerts: Arc<Alerts>,
    limit: Semaphore,
}

impl Shared {
    pub fn new(
        probes: Probes,
        board: Arc<Board>,
        metrics: Arc<Metrics>,
        heartbeat: Arc<Heartbeat>,
        store: Store,
        alerts: Arc<Alerts>,
    ) -> Self {
        Self {
            probes: RwLock::new(Arc::new(probes)),
            board,
            metrics,
            heartbeat,
            store,
            alerts,
            limit: Semaphore::new(MAX_CONCURRENT_ROUNDS),
        }
    }

    /// The probes in force (swapped on reload).
    pub fn probes(&self) -> Arc<Probes> {
        self.probes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_probes(&self, probes: Probes) {
        *self.probes.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(probes);
    }
}

struct Running {
    target: Target,
    token: CancellationToken,
    handle: JoinHandle<()>,
}

/// What [`Scheduler::apply`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub added: usize,
    pub removed: usize,
    pub restarted: usize,
}

/// The running target tasks and the heartbeat loop.
pub struct Scheduler {
    shared: Arc<Shared>,
    root: CancellationToken,
    running: HashMap<Key, Running>,
    beat: JoinHandle<()>,
}

impl Scheduler {
    /// Starts the heartbeat (pinging `on_beat` each tick) and one task per target.
    pub fn start(
        shared: Arc<Shared>,
        targets: Vec<Target>,
        root: CancellationToken,
        on_beat: impl FnMut() + Send + 'static,
    ) -> Self {
        let beat = tokio::spawn(heartbeat_loop(shared.clone(), root.clone(), on_beat));
        let mut s = Self {
            shared,
            root,
            running: HashMap::new(),
            beat,
        };
        s.apply(targets);
        s
    }

    /// Runs exactly `targets` from now on.
    pub fn apply(&mut self, targets: Vec<Target>) -> Applied {
        let mut applied = Applied::default();
        let wanted: HashMap<Key, &Target> = targets.iter().map(|t| (Key::of(t), t)).collect();
        let gone: Vec<Key> = self
            .running
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(r) = self.running.remove(&key) {
                r.token.cancel();
                applied.removed += 1;
            }
        }
        let fresh: Vec<&Target> = targets
            .iter()
            .filter(|t| {
                self.running
                    .get(&Key::of(t))
                    .is_none_or(|r| r.target != **t)
            })
            .collect();
        // A fresh main site's first round goes before its fresh mirrors'.
        let mut mains: HashMap<String, watch::Sender<bool>> = HashMap::new();
        for t in fresh.iter().filter(|t| t.role == Role::Main) {
            mains.insert(t.site.clone(), watch::channel(false).0);
        }
        for t in fresh {
            let key = Key::of(t);
            if let Some(old) = self.running.remove(&key) {
                old.token.cancel();
                applied.restarted += 1;
            } else {
                applied.added += 1;
            }
            let order = match (t.role, mains.get(&t.site)) {
                (Role::Main, Some(tx)) => FirstRound::Main(tx.clone()),
                (Role::Mirror, Some(tx)) => FirstRound::Mirror(tx.subscribe()),
                _ => FirstRound::Free,
            };
            let token = self.root.child_token();
            let handle = tokio::spawn(target_loop(
                self.shared.clone(),
                t.clone(),
                spread(t, targets.len()),
                order,
                token.clone(),
            ));
            self.running.insert(
                key,
                Running {
                    target: t.clone(),
                    token,
                    handle,
                },
            );
        }
        applied
    }

    /// Stops every task and waits for them (bounded by `grace`).
    pub async fn stop(self, grace: Duration) {
        self.root.cancel();
        let all = async {
            for r in self.running.into_values() {
                let _ = r.handle.await;
            }
            let _ = self.beat.await;
        };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("scheduler tasks still running after the grace period");
        }
    }
}

/// Beats every second (or a third of the systemd watchdog interval, if
/// shorter) until cancelled.
async fn heartbeat_loop(shared: Arc<Shared>, root: CancellationToken, mut on_beat: impl FnMut()) {
    let watchdog = std::env::var("WATCHDOG_USEC")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|us| Duration::from_micros(us) / 3);
    let period = watchdog
        .unwrap_or(Duration::from_secs(1))
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let wedge_at = std::env::var(WEDGE_ENV)
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .map(|d| Instant::now() + d);
    let mut tick = tokio::time::interval(period);
    loop {
        if wedge_at.is_some_and(|at| Instant::now() >= at) {
            tracing::warn!("{WEDGE_ENV}: scheduler loop wedged on purpose");
            root.cancelled().await;
            return;
        }
        shared.heartbeat.beat();
        on_beat();
        tokio::select! {
            _ = root.cancelled() => return,
            _ = tick.tick() => {}
        }
    }
}

/// Persists what the round changed (raised problems, history) and lets the
/// alert engine compare wanted and firing alerts.
async fn publish(
    shared: &Shared,
    key: &Key,
    entry: &crate::outputs::board::Entry,
    problems_changed: bool,
    now: SystemTime,
) {
    let (site, url) = (key.site.clone(), key.url.clone());
    let at = (crate::timefmt::unix(now) * 1000.0) as i64;
    let state = entry.tracker.state().as_str();
    let rows: Option<Vec<ProblemRow>> = problems_changed.then(|| {
        entry
            .tracker
            .problems()
            .iter()
            .map(|p| ProblemRow {
                site: site.clone(),
                url: url.clone(),
                kind: p.kind.as_str().to_string(),
                detail: p.detail.clone(),
                since_ms: (crate::timefmt::unix(p.since) * 1000.0) as i64,
            })
            .collect()
    });
    let stored = shared
        .store
        .call(move |c| {
            if let Some(rows) = rows {
                schema::save_problems(c, &site, &url, &rows)?;
            }
            schema::add_history(c, &site, &url, at, state)
        })
        .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "saving round state");
    }
    let states = shared.board.site_states(&key.site);
    if let Err(e) = shared.alerts.observe(entry, &states, now).await {
        tracing::error!(error = %e, "alert state not saved; will retry next round");
    }
}

/// The window over which a set of `n` targets spreads its rounds: at least
/// [`MAX_START_SPREAD`] or [`SPREAD_PER_TARGET`] per target, at most the
/// target's interval.
fn spread(target: &Target, n: usize) -> Duration {
    let wide = SPREAD_PER_TARGET.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
    target.settings.interval.min(MAX_START_SPREAD.max(wide))
}

/// A stable offset in `[0, spread)` for this target: its rounds' phase.
fn jitter(target: &Target, spread: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&target.site, target.url.as_str()).hash(&mut h);
    Duration::from_millis(h.finish() % (spread.as_millis().max(1) as u64))
}

/// Ordering of a site's first rounds: a mirror's first round waits for the
/// main site's (at most the spread window plus timeout + 1 s), so there is a
/// reference page to compare it with.
enum FirstRound {
    Main(watch::Sender<bool>),
    Mirror(watch::Receiver<bool>),
    Free,
}

async fn target_loop(
    shared: Arc<Shared>,
    target: Target,
    spread: Duration,
    mut order: FirstRound,
    token: CancellationToken,
) {
    let key = Key::of(&target);
    let mut ticker = interval_at(
        Instant::now() + jitter(&target, spread),
        target.settings.interval,
    );
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let due = tokio::select! {
            _ = token.cancelled() => return,
            due = ticker.tick() => due,
        };
        let mut waited_on_purpose = false;
        if let FirstRound::Mirror(rx) = &mut order {
            // The main site's own first round may start anywhere in the
            // spread window, then take up to its timeout.
            let wait = spread + target.settings.timeout + Duration::from_secs(1);
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::timeout(wait, rx.wait_for(|done| *done)) => {}
            }
            order = FirstRound::Free;
            waited_on_purpose = true;
        }
        let _permit = tokio::select! {
            _ = token.cancelled() => return,
            p = shared.limit.acquire() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        if !waited_on_purpose {
            shared.metrics.observe_slip(due.elapsed());
        }
        let probes = shared.probes();
        let backstop = target.settings.timeout + Duration::from_secs(1);
        // Boxed: a round's future (DNS, TLS and HTTP state) is large, and
        // inline it would make every idle task that large too (10,000 idle
        // tasks), and be copied whenever the enclosing future moves.
        let round = Box::pin(run_round(&probes, &target));
        let mut report = tokio::select! {
            _ = token.cancelled() => return,
            r = tokio::time::timeout(backstop, round) => match r {
                Ok(report) => report,
                Err(_) => RoundReport::aborted(SystemTime::now() - backstop, backstop),
            },
        };
        let now = SystemTime::now();
        // Parsing up to max_body_bytes is CPU work: keep it off the worker's
        // async duties so other targets' rounds are not delayed. A scan for
        // fingerprints only is cheaper than handing the worker over.
        if probes.content.parses(&target) {
            tokio::task::block_in_place(|| probes.content.analyse(&target, &mut report, now));
        } else {
            probes.content.analyse(&target, &mut report, now);
        }
        if let FirstRound::Main(tx) = &order {
            tx.send_replace(true);
            order = FirstRound::Free;
        }
        let verdict = verdict::evaluate(&target, &report, now);
        let Some((entry, changes)) = shared.board.record(&key, report, verdict, now) else {
            continue;
        };
        shared.metrics.record(&entry);
        Box::pin(publish(
            &shared,
            &key,
            &entry,
            !changes.raised.is_empty() || !changes.cleared.is_empty(),
            now,
        ))
        .await;
        for kind in &changes.raised {
            let detail = entry
                .tracker
                .problems()
                .iter()
                .find(|p| p.kind == *kind)
                .map(|p| p.detail.clone());
            tracing::warn!(site = %target.site, target = %target.label(), problem = kind.as_str(), detail = detail.unwrap_or_default(), "problem raised");
        }
        for kind in &changes.cleared {
            tracing::info!(site = %target.site, target = %target.label(), problem = kind.as_str(), "problem cleared");
        }
    }
}
