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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;

use crate::alerts::Alerts;
use crate::config::{Role, Target};
use crate::outputs::board::{Board, Key};
use crate::outputs::metrics::Metrics;
use crate::pipeline::{Offload, Pipeline};
use crate::store::Store;

mod publish;
pub mod registry;
pub use publish::PendingHours;
use publish::{Persist, events, publish};

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

/// Test hook: the target task of the address whose host is this
/// variable's value wedges after its first round (an `.await` that never
/// returns), to prove the per-task stall detection.
pub const STALL_ENV: &str = "MIRRORWATCH_TEST_STALL_HOST";

/// Liveness of the scheduler: milliseconds since the Unix epoch of the
/// last beat, and which target task (if any) has stopped finishing rounds.
#[derive(Default)]
pub struct Heartbeat {
    last: AtomicU64,
    stalled: Mutex<Option<String>>,
}

fn now_ms() -> u64 {
    u64::try_from(crate::ground::time::to_ms(SystemTime::now())).unwrap_or(0)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Heartbeat {
    fn beat(&self) {
        self.last.store(now_ms(), Ordering::Relaxed);
    }

    /// How long since the last beat (`None` before the first).
    pub fn age(&self) -> Option<Duration> {
        let last = self.last.load(Ordering::Relaxed);
        (last != 0).then(|| Duration::from_millis(now_ms().saturating_sub(last)))
    }

    /// A target task that has not finished a round within its budget
    /// (`interval + timeout + 5 s`): while there is one, the heartbeat
    /// stops, so `/healthz` fails and systemd's watchdog restarts a wedged
    /// daemon.
    pub fn stalled(&self) -> Option<String> {
        self.stalled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_stalled(&self, what: Option<String>) {
        *self.stalled.lock().unwrap_or_else(|p| p.into_inner()) = what;
    }
}

/// Slack on top of `interval + timeout` before a target task counts as
/// stalled.
pub const TASK_STALL_SLACK: Duration = Duration::from_secs(5);

/// One target task's progress: the time by which it must finish its next
/// round.
struct Life {
    label: String,
    due_ms: AtomicU64,
}

/// Every running target task's [`Life`], by task id.
#[derive(Default)]
struct Lives {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Life>>>,
}

impl Lives {
    fn register(self: &Arc<Self>, label: String, first_due: Duration) -> LifeGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let life = Arc::new(Life {
            label,
            due_ms: AtomicU64::new(now_ms().saturating_add(ms(first_due))),
        });
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, life.clone());
        LifeGuard {
            lives: self.clone(),
            id,
            life,
        }
    }

    /// The first task past its due time, with how late it is.
    fn overdue(&self) -> Option<String> {
        let now = now_ms();
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.values().find_map(|l| {
            let due = l.due_ms.load(Ordering::Relaxed);
            (now > due).then(|| {
                format!(
                    "{} has not finished a round for {}s past its budget",
                    l.label,
                    (now - due) / 1000
                )
            })
        })
    }
}

/// Unregisters a task's [`Life`] when the task ends (or is cancelled).
struct LifeGuard {
    lives: Arc<Lives>,
    id: u64,
    life: Arc<Life>,
}

impl LifeGuard {
    fn finished_round(&self, budget: Duration) {
        self.life
            .due_ms
            .store(now_ms().saturating_add(ms(budget)), Ordering::Relaxed);
    }
}

impl Drop for LifeGuard {
    fn drop(&mut self) {
        self.lives
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// What every target task shares.
pub struct Shared {
    pipeline: RwLock<Arc<Pipeline>>,
    pub board: Arc<Board>,
    pub metrics: Arc<Metrics>,
    pub heartbeat: Arc<Heartbeat>,
    pub store: Store,
    pub alerts: Arc<Alerts>,
    /// Round counts waiting for the next store flush.
    pub hours: PendingHours,
    limit: Semaphore,
    lives: Arc<Lives>,
}

impl Shared {
    pub fn new(
        pipeline: Pipeline,
        board: Arc<Board>,
        metrics: Arc<Metrics>,
        heartbeat: Arc<Heartbeat>,
        store: Store,
        alerts: Arc<Alerts>,
    ) -> Self {
        Self {
            pipeline: RwLock::new(Arc::new(pipeline)),
            board,
            metrics,
            heartbeat,
            store,
            alerts,
            hours: PendingHours::default(),
            limit: Semaphore::new(MAX_CONCURRENT_ROUNDS),
            lives: Arc::default(),
        }
    }

    /// The pipeline in force (swapped on reload).
    pub fn pipeline(&self) -> Arc<Pipeline> {
        self.pipeline
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_pipeline(&self, pipeline: Pipeline) {
        *self.pipeline.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(pipeline);
    }
}

struct Running {
    /// Shared with the task, which holds it across its whole life: one
    /// copy of the address's config, not two.
    target: Arc<Target>,
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
        targets: &[Arc<Target>],
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
    pub fn apply(&mut self, targets: &[Arc<Target>]) -> Applied {
        let mut applied = Applied::default();
        let wanted: HashMap<Key, &Target> = targets.iter().map(|t| (Key::of(t), &**t)).collect();
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
        let fresh: Vec<&Arc<Target>> = targets
            .iter()
            .filter(|t| {
                self.running
                    .get(&Key::of(t))
                    .is_none_or(|r| r.target != **t)
            })
            .collect();
        // A fresh main site's first round goes before its fresh mirrors'
        // (the main whose pages are the reference: the first vantage's).
        let mut mains: HashMap<String, watch::Sender<bool>> = HashMap::new();
        for t in fresh.iter().filter(|t| t.role == Role::Main && t.compared) {
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
                (Role::Main, Some(tx)) if t.compared => FirstRound::Main(tx.clone()),
                (Role::Mirror, Some(tx)) => FirstRound::Mirror(tx.subscribe()),
                _ => FirstRound::Free,
            };
            let token = self.root.child_token();
            let target = t.clone();
            let handle = tokio::spawn(target_loop(
                self.shared.clone(),
                target.clone(),
                spread(t, targets.len()),
                order,
                token.clone(),
            ));
            self.running.insert(
                key,
                Running {
                    target,
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
        // A wedged target task stops the beat: /healthz fails and the
        // watchdog is no longer fed.
        let overdue = shared.lives.overdue();
        if let Some(what) = &overdue {
            tracing::error!(stall = %what, "target task stalled; heartbeat withheld");
        }
        shared.heartbeat.set_stalled(overdue.clone());
        if overdue.is_none() {
            shared.heartbeat.beat();
            on_beat();
        }
        tokio::select! {
            _ = root.cancelled() => return,
            _ = tick.tick() => {}
        }
    }
}

/// The window over which a set of `n` targets spreads its rounds: at least
/// [`MAX_START_SPREAD`] or [`SPREAD_PER_TARGET`] per target, at most the
/// target's interval.
fn spread(target: &Target, n: usize) -> Duration {
    let wide = SPREAD_PER_TARGET.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
    target.settings.interval.min(MAX_START_SPREAD.max(wide))
}

/// A stable offset in `[0, spread)` for this target: its rounds' phase
/// (FNV-1a of site and URL, the same in every run and build).
fn jitter(target: &Target, spread: Duration) -> Duration {
    let h = crate::ground::hash::fnv1a(format!("{}\n{}", target.site, target.url).as_bytes());
    Duration::from_millis(h % ms(spread).max(1))
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
    target: Arc<Target>,
    spread: Duration,
    mut order: FirstRound,
    token: CancellationToken,
) {
    let key = Key::of(&target);
    let phase = jitter(&target, spread);
    let budget = target
        .settings
        .interval
        .saturating_add(target.settings.timeout)
        .saturating_add(TASK_STALL_SLACK);
    // The first round may also wait for the main site's (see FirstRound).
    let first_wait = spread
        .saturating_add(target.settings.timeout)
        .saturating_add(Duration::from_secs(1));
    let life = shared.lives.register(
        format!("{} ({})", target.label(), target.site),
        phase.saturating_add(first_wait).saturating_add(budget),
    );
    let stall_here = std::env::var(STALL_ENV)
        .is_ok_and(|h| !h.is_empty() && target.url.host_str() == Some(h.as_str()));
    let mut ticker = interval_at(Instant::now() + phase, target.settings.interval);
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
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::timeout(first_wait, rx.wait_for(|done| *done)) => {}
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
        // The round lives in its own allocation for its duration: the task
        // itself, parked between rounds, stays small (10,000 of them).
        if !Box::pin(round(
            &shared, &target, &key, &life, budget, &mut order, &token,
        ))
        .await
        {
            return;
        }
        if stall_here {
            tracing::warn!("{STALL_ENV}: target task wedged on purpose");
            std::future::pending::<()>().await;
        }
    }
}

/// One round of `target` and everything that follows from it (board,
/// metrics, store, alerts, logs). False when cancelled.
async fn round(
    shared: &Shared,
    target: &Target,
    key: &Key,
    life: &LifeGuard,
    budget: Duration,
    order: &mut FirstRound,
    token: &CancellationToken,
) -> bool {
    let pipeline = shared.pipeline();
    let outcome = tokio::select! {
        _ = token.cancelled() => return false,
        o = pipeline.run(target, Offload::BlockInPlace) => o,
    };
    life.finished_round(budget);
    if outcome.panic.is_some() {
        shared.metrics.round_panicked(&target.site);
    }
    shared.metrics.parity_analysed(&outcome.content.analyses);
    if let FirstRound::Main(tx) = &*order {
        tx.send_replace(true);
        *order = FirstRound::Free;
    }
    let now = outcome.at;
    let (report, content, verdict) = (outcome.report, outcome.content, outcome.verdict);
    let Some((entry, changes)) = shared.board.record(key, report, content, verdict, now) else {
        return true;
    };
    shared.metrics.record(&entry);
    let persist = Persist {
        problems_changed: !changes.raised.is_empty() || !changes.cleared.is_empty(),
        events: events(key, &entry, &changes, now),
        clock: outcome.clock,
    };
    publish(shared, key, &entry, persist, now).await;
    for kind in &changes.raised {
        let detail = entry
            .tracker
            .problem(*kind)
            .map_or("", |p| p.detail.as_str());
        tracing::warn!(site = %target.site, target = %target.label(), vantage = %target.vantage, problem = kind.as_str(), detail, "problem raised");
    }
    for kind in &changes.cleared {
        tracing::info!(site = %target.site, target = %target.label(), vantage = %target.vantage, problem = kind.as_str(), "problem cleared");
    }
    // One line per state change (never one per round).
    if let Some((from, to)) = changes.state {
        let kinds: Vec<&str> = entry
            .tracker
            .problems()
            .iter()
            .map(|p| p.kind.as_str())
            .collect();
        tracing::info!(site = %target.site, target = %target.label(), vantage = %target.vantage, from = from.as_str(), to = to.as_str(), problems = kinds.join(","), "state changed");
    }
    true
}
