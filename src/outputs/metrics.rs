//! Prometheus metrics (SPEC section 6). Per-address series live in
//! [`super::series`] as pre-rendered text, updated once per finished round
//! from the judged entry, and per-site ones in [`super::site_series`];
//! process-wide series (notifications, queue, alerts, reload, build,
//! schedule slip, vantages) use the `prometheus` crate's registry.
//! Series known to exist are exported as 0, and per-address series (`ip`,
//! `resolver`) that disappear from a target's answers disappear with them,
//! so nothing goes stale.

use crate::verdict::site::SiteVerdict;
use prometheus::{Encoder, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use super::board::Entry;
use super::chunks::Chunks;
use super::series::Series;
use super::site_series::SiteSeries;
use crate::parity::analysis::Analysed;

/// Every metric mirrorwatch exports.
pub struct Metrics {
    registry: Registry,
    series: Series,
    notifications: IntCounterVec,
    queue_depth: prometheus::IntGauge,
    alerts_firing: prometheus::IntGauge,
    reload_ok: prometheus::IntGauge,
    slip: prometheus::Histogram,
    storage_ok: prometheus::IntGauge,
    analyses: IntCounterVec,
    vantage_up: IntGaugeVec,
    /// Per-site series, as text.
    sites: SiteSeries,
    /// The registry stage's series, per registered domain.
    pub domains: super::registry::RegistryMetrics,
    /// The vantage labels exported, for a reload to compare with.
    vantages: std::sync::Mutex<Vec<String>>,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let notifications = IntCounterVec::new(
            Opts::new(
                "mirrorwatch_notifications_total",
                "Alert deliveries by receiver and result (ok/failed).",
            ),
            &["receiver", "result"],
        )?;
        registry.register(Box::new(notifications.clone()))?;
        let queue_depth = prometheus::IntGauge::new(
            "mirrorwatch_notification_queue_depth",
            "Notifications waiting for delivery (or retry).",
        )?;
        registry.register(Box::new(queue_depth.clone()))?;
        let alerts_firing =
            prometheus::IntGauge::new("mirrorwatch_alerts_firing", "Alerts currently firing.")?;
        registry.register(Box::new(alerts_firing.clone()))?;
        let reload_ok = prometheus::IntGauge::new(
            "mirrorwatch_config_last_reload_successful",
            "1 when the last config load or reload succeeded.",
        )?;
        registry.register(Box::new(reload_ok.clone()))?;
        let build = IntGaugeVec::new(
            Opts::new(
                "mirrorwatch_build_info",
                "Always 1; the version label names the build.",
            ),
            &["version"],
        )?;
        registry.register(Box::new(build.clone()))?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let slip = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(
                "mirrorwatch_schedule_slip_seconds",
                "How late rounds start after their scheduled time (waiting for a free slot included).",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )?;
        registry.register(Box::new(slip.clone()))?;
        let storage_ok = prometheus::IntGauge::new(
            "mirrorwatch_storage_healthy",
            "0 while the state store is degraded (a write failed in the last 2 minutes, or the database file is gone); monitoring goes on either way.",
        )?;
        storage_ok.set(1);
        registry.register(Box::new(storage_ok.clone()))?;
        let analyses = IntCounterVec::new(
            Opts::new(
                "mirrorwatch_parity_analyses_total",
                "Pages parity read, by how their analysis was obtained: parsed, unchanged (the same bytes as the address's last analysed page, reused) or identical (a mirror page that is main's page but for host names: main's analysis).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(analyses.clone()))?;
        for how in Analysed::ALL {
            analyses.with_label_values(&[how.as_str()]).inc_by(0);
        }
        let vantage_up = IntGaugeVec::new(
            Opts::new(
                "mirrorwatch_vantage_up",
                "1 while the vantage can probe: always for this machine; for a proxy, 0 after a round whose proxy failed (unreachable, credentials refused, not speaking its protocol).",
            ),
            &["vantage"],
        )?;
        registry.register(Box::new(vantage_up.clone()))?;
        let domains = super::registry::RegistryMetrics::new(&registry)?;
        Ok(Self {
            domains,
            registry,
            sites: SiteSeries::default(),
            vantage_up,
            vantages: Default::default(),
            series: Series::default(),
            notifications,
            queue_depth,
            alerts_firing,
            reload_ok,
            slip,
            storage_ok,
            analyses,
        })
    }

    /// Counts one delivery attempt.
    pub fn notification(&self, receiver: &str, result: &str) {
        self.notifications
            .with_label_values(&[receiver, result])
            .inc();
    }

    /// Exports both results of a receiver at 0 before any delivery.
    pub fn register_receiver(&self, receiver: &str) {
        for r in ["ok", "failed"] {
            self.notifications
                .with_label_values(&[receiver, r])
                .inc_by(0);
        }
    }

    pub fn set_queue_depth(&self, depth: i64) {
        self.queue_depth.set(depth);
    }

    /// Records how late a round started.
    pub fn observe_slip(&self, late: std::time::Duration) {
        self.slip.observe(late.as_secs_f64());
    }

    pub fn set_alerts_firing(&self, n: usize) {
        self.alerts_firing.set(n as i64);
    }

    /// Marks whether the config in force loaded successfully.
    pub fn set_reload_ok(&self, ok: bool) {
        self.reload_ok.set(i64::from(ok));
    }

    /// Whether the state store is healthy.
    pub fn set_storage_ok(&self, ok: bool) {
        self.storage_ok.set(i64::from(ok));
    }

    /// Counts how a round's pages were analysed.
    pub fn parity_analysed(&self, how: &[Analysed]) {
        for h in how {
            self.analyses.with_label_values(&[h.as_str()]).inc();
        }
    }

    /// Counts a round of `site` that panicked.
    pub fn round_panicked(&self, site: &str) {
        self.sites.panicked(site);
    }

    /// Exports the zero series of a target that has not finished a round
    /// (and its site's panic counter at 0).
    pub fn register_target(&self, e: &Entry) {
        self.sites.register(&e.target.site);
        self.series.register(e);
    }

    /// Removes the per-site series of every site not in `sites`.
    pub fn retain_sites(&self, sites: &std::collections::BTreeSet<&str>) {
        self.sites.retain(|s| sites.contains(s));
    }

    /// Removes every series of an address that left the config.
    pub fn forget(&self, e: &Entry) {
        self.series.forget(e);
    }

    /// Updates every series of one address after a round, and its
    /// vantage's health.
    pub fn record(&self, e: &Entry) {
        self.series.record(e);
        if let Some(v) = e.last.as_ref().and_then(|r| r.vantage.as_ref()) {
            self.vantage_up
                .with_label_values(&[v.name.as_str()])
                .set(i64::from(v.fault.is_none()));
        }
    }

    /// Sets a site's problem gauges from its verdict.
    pub fn set_site_problems(&self, site: &str, verdict: &SiteVerdict) {
        self.sites.set_problems(site, &verdict.kinds());
    }

    /// Exports the configured vantages: a new one is up until a round
    /// says otherwise, a kept one keeps its value, one no longer
    /// configured vanishes.
    pub fn set_vantages(&self, labels: &[String]) {
        let mut known = self.vantages.lock().unwrap_or_else(|p| p.into_inner());
        for gone in known.iter().filter(|k| !labels.contains(k)) {
            let _ = self.vantage_up.remove_label_values(&[gone.as_str()]);
        }
        for l in labels.iter().filter(|l| !known.contains(l)) {
            self.vantage_up.with_label_values(&[l.as_str()]).set(1);
        }
        *known = labels.to_vec();
    }

    /// The text exposition format, in chunks (see `Series::render_chunks`);
    /// false when `emit` gave up.
    pub fn render_chunks(&self, emit: &mut dyn FnMut(String) -> bool) -> bool {
        let mut out = Chunks::new(emit);
        if !self.series.render_into(&mut out) || !self.sites.render_into(&mut out) {
            return false;
        }
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out.push(&String::from_utf8_lossy(&buf)) && out.finish()
    }
}

/// `/probe`'s answer: blackbox_exporter's `probe_success` (the address is
/// reachable and serving: up or degraded) and `probe_duration_seconds`,
/// then mirrorwatch's series for the address, judged with thresholds of 1.
pub fn probe_text(
    target: &crate::config::Target,
    outcome: crate::pipeline::Outcome,
    took: std::time::Duration,
) -> String {
    use crate::verdict::state::State;
    let board = super::board::Board::new(&[std::sync::Arc::new(target.clone())]);
    let key = super::board::Key::of(target);
    let recorded = board.record(
        &key,
        outcome.report,
        outcome.content,
        outcome.verdict,
        outcome.at,
    );
    let mut out = String::new();
    let success = recorded
        .as_ref()
        .is_some_and(|(e, _)| matches!(e.tracker.state(), State::Up | State::Degraded));
    let _ = std::fmt::Write::write_fmt(
        &mut out,
        format_args!(
            "# HELP probe_success Whether the probe succeeded: the address is up or degraded.\n# TYPE probe_success gauge\nprobe_success {}\n\
             # HELP probe_duration_seconds How long the probe took, in seconds.\n# TYPE probe_duration_seconds gauge\nprobe_duration_seconds {}\n",
            u8::from(success),
            took.as_secs_f64()
        ),
    );
    if let Some((entry, _)) = recorded {
        let series = Series::default();
        series.record(&entry);
        series.render_chunks(&mut |chunk| {
            out.push_str(&chunk);
            true
        });
    }
    out
}
