//! The round pipeline for one address: checks → parity → verdict, in that
//! order, in one place. [`Pipeline`] owns what rounds share: the checks'
//! `Probes` (resolvers, TLS setups) and parity's `Content` (references,
//! snapshots, the first-seen clock), built per config and carried over a
//! reload. The scheduler and `probe` both call [`Pipeline::run`]; what
//! they do with the verdict (thresholds, board, metrics, store, alerts)
//! stays theirs. A new stage (a vantage, a registry fact) is one more step
//! here.
//!
//! It is also the round's containment boundary: a panic anywhere inside a
//! round (a check, the parser, the verdict) is caught here and becomes an
//! `internal_error` verdict for that round only, so the next unknown bug
//! costs one round, never an address.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, SystemTime};

use std::sync::Arc;

use futures_util::FutureExt;

use crate::checks::registry::Registry;
use crate::checks::{Probes, RoundReport, run_round};
use crate::config::{Config, Target};
use crate::parity::freshness::ClockDelta;
use crate::parity::{Content, ContentReport, SavedClock};
use crate::store::{Store, clock};
use crate::verdict::{self, Verdict};

/// How long a round waits for the store to name its missing articles.
const NAMES_WITHIN: Duration = Duration::from_secs(2);

/// What every round of one config shares.
pub struct Pipeline {
    probes: Probes,
    content: Content,
    /// The registry stage's facts, kept across reloads.
    registry: Arc<Registry>,
    /// Where the paths of the clock's articles are (a detail names the
    /// oldest missing one), kept across reloads; none: no names.
    names: Option<Store>,
}

impl Pipeline {
    /// Builds resolvers and TLS setups for `config`; content memory (and so
    /// the freshness clock) carries over from `previous` for every site
    /// whose main URL is unchanged.
    pub fn new(config: &Config, previous: Option<&Pipeline>) -> anyhow::Result<Self> {
        let content = Content::new(config, previous.map(|p| &p.content));
        let probes = Probes::new(config, content.blocked_ips())?;
        let registry = previous.map(|p| p.registry.clone()).unwrap_or_default();
        registry.set_enabled(config.registry.is_some());
        Ok(Self {
            probes,
            content,
            registry,
            names: previous.and_then(|p| p.names.clone()),
        })
    }

    /// Reads the paths of missing articles from `store`, where the
    /// clock's changes are saved.
    pub fn with_names(mut self, store: Store) -> Self {
        self.names = Some(store);
        self
    }

    /// The registry stage's facts (the watcher writes them).
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Puts back a site's first-seen clock saved before a restart.
    pub fn restore_clock(&self, site: &str, saved: SavedClock) {
        self.content.restore_clock(site, saved);
    }

    /// One round for `target`: checks (cut off at `timeout` + 1 s), content
    /// analysis, then the verdict.
    pub async fn run(&self, target: &Target, offload: Offload) -> Outcome {
        let backstop = target
            .settings
            .timeout
            .saturating_add(Duration::from_secs(1));
        // Boxed: a round's future (DNS, TLS and HTTP state) is large, and
        // inline it would make every idle task that large too.
        let round = Box::pin(AssertUnwindSafe(run_round(&self.probes, target)).catch_unwind());
        let report = match tokio::time::timeout(backstop, round).await {
            Ok(Ok(report)) => report,
            Ok(Err(panic)) => return failed(target, message(&*panic)),
            Err(_) => RoundReport::aborted(
                SystemTime::now()
                    .checked_sub(backstop)
                    .unwrap_or(SystemTime::UNIX_EPOCH),
                backstop,
            ),
        };
        self.judge(target, report, offload).await
    }

    /// Checks only (for `probe`, which orders main and mirror rounds).
    pub async fn check(&self, target: &Target) -> RoundReport {
        run_round(&self.probes, target).await
    }

    /// Parity and verdict on a finished round's report.
    pub async fn judge(
        &self,
        target: &Target,
        mut report: RoundReport,
        offload: Offload,
    ) -> Outcome {
        let now = SystemTime::now();
        report.registry = self
            .registry
            .evidence(target.url.host_str().unwrap_or_default());
        let analysed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if panic_host().is_some_and(|h| target.url.host_str() == Some(h)) {
                panic!("{PANIC_ENV}: test panic for {}", target.url);
            }
            // Fingerprint scan and the shortcuts' checks: cheap, inline.
            let prepared = self.content.prepare(target, &mut report);
            let parses = prepared.parses();
            let analyse = || self.content.analyse(target, prepared, now);
            // Parsing up to max_body_bytes is CPU work: keep it off the
            // worker's async duties so other targets' rounds are not delayed.
            // A reused analysis is cheaper than handing over.
            // block_in_place panics on a current-thread runtime.
            let multi = tokio::runtime::Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
            if offload == Offload::BlockInPlace && multi && parses {
                tokio::task::block_in_place(analyse)
            } else {
                analyse()
            }
        }));
        let (mut content, clock) = match analysed {
            Ok(analysed) => analysed,
            Err(panic) => return caught(target, report, &*panic),
        };
        self.name_oldest(&target.site, &mut content).await;
        match std::panic::catch_unwind(|| verdict::evaluate(target, &report, &content, now)) {
            Ok(verdict) => Outcome {
                report,
                content,
                verdict,
                clock,
                panic: None,
                at: now,
            },
            Err(panic) => caught(target, report, &*panic),
        }
    }

    /// Fills in the path of each compared page's oldest missing article
    /// from the store. A path the store lacks (a failed write) or does not
    /// give within [`NAMES_WITHIN`] stays unnamed; nothing else of the
    /// round depends on it.
    async fn name_oldest(&self, site: &str, content: &mut ContentReport) {
        let (Some(store), Some(parity)) = (&self.names, content.parity.as_mut()) else {
            return;
        };
        let ids: Vec<u64> = parity
            .paths
            .iter()
            .filter_map(|p| p.oldest_missing_id)
            .collect();
        if ids.is_empty() {
            return;
        }
        let site = site.to_string();
        let read = store.call(move |c| clock::article_paths(c, &site, &ids));
        match tokio::time::timeout(NAMES_WITHIN, read).await {
            Ok(Ok(paths)) => {
                let named = parity
                    .paths
                    .iter_mut()
                    .filter(|p| p.oldest_missing_id.is_some());
                for (p, path) in named.zip(paths) {
                    p.oldest_missing = path;
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "reading the paths of missing articles"),
            Err(_) => tracing::warn!("the store gave no paths of missing articles in time"),
        }
    }
}

/// One round on demand (`probe`, `/probe`): `url` alone as a main site, or
/// with `reference` as its mirror (main, mirror, main again: a mirror's
/// freshness needs main snapshots on both sides of its fetch). From
/// `vantage` (`None`: this machine); with `registry`, that answer is the
/// registry stage's. The target judged, and its outcome.
pub async fn once(
    url: url::Url,
    reference: Option<url::Url>,
    settings: crate::config::Settings,
    vantage: Option<crate::config::Vantage>,
    registry: Option<crate::checks::registry::Record>,
) -> anyhow::Result<(Target, Outcome)> {
    use crate::config::{LOCAL_VANTAGE, Site, Vantage};
    let path = if url.path().is_empty() {
        "/".to_string()
    } else {
        url.path().to_string()
    };
    let site = Site {
        name: "probe".into(),
        main: reference.clone().unwrap_or_else(|| url.clone()),
        mirrors: reference
            .as_ref()
            .map(|_| vec![url.clone()])
            .unwrap_or_default(),
        paths: vec![path],
        article_regex: None,
        announce: None,
        discover: None,
        discovered: Vec::new(),
        parity: crate::config::ParityConfig::default(),
        settings,
    };
    let config = Config::single(
        site,
        vantage.unwrap_or(Vantage {
            name: LOCAL_VANTAGE.into(),
            proxy: None,
        }),
    );
    // The clock's changes go to a store of this probe's own, where the
    // mirror's judgement reads the paths it names.
    let store = Store::open(None)?;
    let pipeline = Pipeline::new(&config, None)?.with_names(store.clone());
    let main_round = async |main: &Target| {
        let outcome = pipeline.run(main, Offload::Inline).await;
        if let Some(d) = outcome.clock {
            let (site, url) = (main.site.clone(), main.url.to_string());
            store
                .call(move |c| clock::save_clock(c, &site, &url, &d))
                .await?;
        }
        anyhow::Ok(())
    };
    if let Some(r) = registry {
        pipeline.registry.set_enabled(true);
        pipeline.registry.put(r);
    }
    let targets = config.targets();
    let outcome = match &targets[..] {
        [main, mirror] => {
            main_round(main).await?;
            let report = pipeline.check(mirror).await;
            main_round(main).await?;
            pipeline.judge(mirror, report, Offload::Inline).await
        }
        [only] => pipeline.run(only, Offload::Inline).await,
        _ => anyhow::bail!("a probe builds one or two targets"),
    };
    let target = targets
        .last()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no target"))?;
    Ok((target, outcome))
}

/// One judged round.
pub struct Outcome {
    pub report: RoundReport,
    /// Fingerprints and parity.
    pub content: ContentReport,
    pub verdict: Verdict,
    /// What the round changed on its site's first-seen clock (main sites
    /// with mirrors), for the store.
    pub clock: Option<ClockDelta>,
    /// The panic message, when the round failed inside mirrorwatch.
    pub panic: Option<String>,
    /// When the round was judged.
    pub at: SystemTime,
}

/// A round whose analysis or verdict panicked: its report, and the
/// panic as its verdict.
fn caught(target: &Target, report: RoundReport, panic: &(dyn Any + Send)) -> Outcome {
    let mut out = failed(target, message(panic));
    out.report = report;
    out
}

/// Test hook: rounds of the address whose host is this variable's value
/// panic inside the analysis, to prove containment (see `tests/ops.rs`).
pub const PANIC_ENV: &str = "MIRRORWATCH_TEST_PANIC_HOST";

fn panic_host() -> Option<&'static str> {
    static HOST: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HOST.get_or_init(|| std::env::var(PANIC_ENV).ok().filter(|h| !h.is_empty()))
        .as_deref()
}

/// How [`Pipeline::run`] treats parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offload {
    /// Parse in `block_in_place` (multi-threaded runtime, the daemon).
    BlockInPlace,
    /// Parse inline (one-shot use).
    Inline,
}

fn failed(target: &Target, msg: String) -> Outcome {
    let now = SystemTime::now();
    tracing::error!(site = %target.site, url = %target.url, panic = %msg, "round panicked; the address goes on with its next round");
    Outcome {
        report: RoundReport::empty(now),
        content: ContentReport::default(),
        verdict: Verdict::internal_error(&msg),
        clock: None,
        panic: Some(msg),
        at: now,
    }
}

/// The text of a caught panic.
fn message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_recovered() {
        let p = std::panic::catch_unwind(|| panic!("byte index 4 is not a char boundary"))
            .expect_err("panicked");
        assert_eq!(message(&*p), "byte index 4 is not a char boundary");
        let n = 3;
        let p = std::panic::catch_unwind(|| panic!("overflow {n}")).expect_err("panicked");
        assert_eq!(message(&*p), "overflow 3");
    }
}
