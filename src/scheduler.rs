//! The scheduler: one task per address, each running a round every
//! `interval`, starting at a stable per-address offset (jitter) so rounds do
//! not burst. A global semaphore caps rounds in flight; every round is bounded
//! by its `timeout` (plus a 1 s backstop), so a hung address never delays
//! another. Cancelling the shutdown token stops every task, cancelling rounds
//! in flight.
//!
//! After each round the scheduler has `parity` analyse the bodies, asks
//! `verdict` for the findings, stores them
//! on the board and updates metrics. It also beats a heartbeat that
//! `/healthz` reads.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use std::collections::HashMap;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;

use crate::checks::{Probes, RoundReport, run_round};
use crate::config::{Role, Target};
use crate::outputs::board::Board;
use crate::outputs::metrics::Metrics;
use crate::verdict;

/// Rounds allowed in flight at once, across all addresses.
pub const MAX_CONCURRENT_ROUNDS: usize = 256;
/// First rounds are spread over at most this window after start.
pub const MAX_START_SPREAD: Duration = Duration::from_secs(10);
/// `/healthz` fails when the heartbeat is older than this.
pub const STALL_AFTER: Duration = Duration::from_secs(10);

/// Liveness of the scheduler loop, as milliseconds since the Unix epoch of
/// the last beat.
#[derive(Default)]
pub struct Heartbeat(AtomicU64);

impl Heartbeat {
    fn beat(&self) {
        let now = crate::timefmt::unix(SystemTime::now());
        self.0.store((now * 1000.0) as u64, Ordering::Relaxed);
    }

    /// How long since the last beat (`None` before the first).
    pub fn age(&self) -> Option<Duration> {
        let last = self.0.load(Ordering::Relaxed);
        if last == 0 {
            return None;
        }
        let now = (crate::timefmt::unix(SystemTime::now()) * 1000.0) as u64;
        Some(Duration::from_millis(now.saturating_sub(last)))
    }
}

/// What every target task shares.
pub struct Shared {
    pub probes: Probes,
    pub board: Arc<Board>,
    pub metrics: Arc<Metrics>,
    pub heartbeat: Arc<Heartbeat>,
    pub limit: Semaphore,
}

/// Spawns the heartbeat and one task per target; they run until `token` is
/// cancelled.
pub fn spawn(shared: Arc<Shared>, targets: Vec<Target>, token: CancellationToken) -> JoinSet<()> {
    let mut set = JoinSet::new();
    {
        let shared = shared.clone();
        let token = token.clone();
        set.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                shared.heartbeat.beat();
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
            }
        });
    }
    let mut mains: HashMap<String, watch::Sender<bool>> = HashMap::new();
    for t in targets.iter().filter(|t| t.role == Role::Main) {
        mains.insert(t.site.clone(), watch::channel(false).0);
    }
    for (index, target) in targets.into_iter().enumerate() {
        let order = match (target.role, mains.get(&target.site)) {
            (Role::Main, Some(tx)) => FirstRound::Main(tx.clone()),
            (Role::Mirror, Some(tx)) => FirstRound::Mirror(tx.subscribe()),
            _ => FirstRound::Free,
        };
        set.spawn(target_loop(
            shared.clone(),
            index,
            target,
            order,
            token.clone(),
        ));
    }
    set
}

/// Ordering of a site's first rounds: a mirror's first round waits (at most
/// its timeout + 1 s) for the main site's, so there is a reference page to
/// compare it with.
enum FirstRound {
    Main(watch::Sender<bool>),
    Mirror(watch::Receiver<bool>),
    Free,
}

/// A stable offset in `[0, min(interval, MAX_START_SPREAD))` for this target.
fn jitter(target: &Target) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&target.site, target.url.as_str()).hash(&mut h);
    let window = target
        .settings
        .interval
        .min(MAX_START_SPREAD)
        .as_millis()
        .max(1) as u64;
    Duration::from_millis(h.finish() % window)
}

async fn target_loop(
    shared: Arc<Shared>,
    index: usize,
    target: Target,
    mut order: FirstRound,
    token: CancellationToken,
) {
    let mut ticker = interval_at(Instant::now() + jitter(&target), target.settings.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let FirstRound::Mirror(rx) = &mut order {
            let wait = target.settings.timeout + Duration::from_secs(1);
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::timeout(wait, rx.wait_for(|done| *done)) => {}
            }
            order = FirstRound::Free;
        }
        let _permit = tokio::select! {
            _ = token.cancelled() => return,
            p = shared.limit.acquire() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let backstop = target.settings.timeout + Duration::from_secs(1);
        let mut report = tokio::select! {
            _ = token.cancelled() => return,
            r = tokio::time::timeout(backstop, run_round(&shared.probes, &target)) => match r {
                Ok(report) => report,
                Err(_) => RoundReport::aborted(SystemTime::now() - backstop, backstop),
            },
        };
        let now = SystemTime::now();
        // Parsing up to max_body_bytes is CPU work: keep it off the worker's
        // async duties so other targets' rounds are not delayed.
        tokio::task::block_in_place(|| shared.probes.content.analyse(&target, &mut report, now));
        if let FirstRound::Main(tx) = &order {
            tx.send_replace(true);
            order = FirstRound::Free;
        }
        let verdict = verdict::evaluate(&target, &report, now);
        if let Some((entry, changes)) = shared.board.record(index, report, verdict, now) {
            shared.metrics.record(&entry);
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
}
