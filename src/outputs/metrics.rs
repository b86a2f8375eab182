//! Prometheus metrics (SPEC section 6). Updated once per finished round from
//! the judged entry; rendered on scrape. Series known to exist are exported
//! as 0, and per-address series (`ip`, `resolver`) that disappear from a
//! target's answers are removed, so nothing goes stale.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use super::board::Entry;
use crate::config::Role;
use crate::verdict::Kind;
use crate::verdict::state::State;

const BASE: [&str; 3] = ["site", "target", "role"];

/// A target's base label values: site, target, role.
type TargetKey = [String; 3];
/// The `ip` and `resolver` label values last exported for a target.
type DynamicLabels = (Vec<String>, Vec<String>);

/// Every metric mirrorwatch exports.
pub struct Metrics {
    registry: Registry,
    up: IntGaugeVec,
    state: IntGaugeVec,
    problem: IntGaugeVec,
    phase: GaugeVec,
    dns_success: IntGaugeVec,
    dns_consistent: IntGaugeVec,
    address_up: IntGaugeVec,
    cert_not_after: GaugeVec,
    cert_valid: IntGaugeVec,
    http_status: IntGaugeVec,
    http_redirects: IntGaugeVec,
    similarity: GaugeVec,
    lag: GaugeVec,
    missing: IntGaugeVec,
    checks: IntCounterVec,
    notifications: IntCounterVec,
    queue_depth: prometheus::IntGauge,
    alerts_firing: prometheus::IntGauge,
    reload_ok: prometheus::IntGauge,
    /// Per target: the `ip` and `resolver` label values last exported.
    dynamic: Mutex<HashMap<TargetKey, DynamicLabels>>,
}

fn labels<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = BASE.to_vec();
    v.extend_from_slice(extra);
    v
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let ig =
            |name: &str, help: &str, extra: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
                let g = IntGaugeVec::new(
                    Opts::new(format!("mirrorwatch_{name}"), help),
                    &labels(extra),
                )?;
                registry.register(Box::new(g.clone()))?;
                Ok(g)
            };
        let fg = |name: &str, help: &str, extra: &[&str]| -> Result<GaugeVec, prometheus::Error> {
            let g = GaugeVec::new(
                Opts::new(format!("mirrorwatch_{name}"), help),
                &labels(extra),
            )?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let checks = IntCounterVec::new(
            Opts::new(
                "mirrorwatch_checks_total",
                "Rounds completed, by result (ok: no finding; failed: at least one).",
            ),
            &labels(&["result"]),
        )?;
        registry.register(Box::new(checks.clone()))?;
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
        Ok(Self {
            up: ig("up", "1 when the address's state is up.", &[])?,
            state: ig(
                "state",
                "1 for the address's current state, 0 for the others.",
                &["state"],
            )?,
            problem: ig(
                "problem",
                "1 while that problem is raised on the address.",
                &["kind"],
            )?,
            phase: fg(
                "probe_duration_seconds",
                "Last round's phase timings.",
                &["phase"],
            )?,
            dns_success: ig(
                "dns_lookup_success",
                "1 when that resolver answered with addresses.",
                &["resolver"],
            )?,
            dns_consistent: ig("dns_consistent", "1 when the resolvers agree.", &[])?,
            address_up: ig(
                "address_up",
                "Connect and TLS result per resolved address.",
                &["ip"],
            )?,
            cert_not_after: fg(
                "tls_cert_not_after_timestamp_seconds",
                "Earliest not_after in the presented chain.",
                &[],
            )?,
            cert_valid: ig(
                "tls_cert_valid",
                "1 when the chain validates for the host.",
                &[],
            )?,
            http_status: ig("http_status_code", "Final HTTP status, 0 when none.", &[])?,
            http_redirects: ig("http_redirects", "Redirects followed.", &[])?,
            similarity: fg(
                "content_similarity_ratio",
                "Mirror's text similarity to the main site (0-1).",
                &[],
            )?,
            lag: fg(
                "content_lag_seconds",
                "Age of the oldest main-site article the mirror lacks.",
                &[],
            )?,
            missing: ig(
                "content_missing_articles",
                "Main-site articles the mirror lacks.",
                &[],
            )?,
            checks,
            notifications,
            queue_depth,
            alerts_firing,
            reload_ok,
            registry,
            dynamic: Mutex::new(HashMap::new()),
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

    pub fn set_alerts_firing(&self, n: usize) {
        self.alerts_firing.set(n as i64);
    }

    /// Marks whether the config in force loaded successfully.
    pub fn set_reload_ok(&self, ok: bool) {
        self.reload_ok.set(i64::from(ok));
    }

    /// Exports the zero series of a target that has not finished a round.
    pub fn register_target(&self, e: &Entry) {
        let base = base(e);
        let b = [base[0].as_str(), base[1].as_str(), base[2].as_str()];
        self.up.with_label_values(&b).set(0);
        for s in State::ALL {
            self.state
                .with_label_values(&with(&b, s.as_str()))
                .set(i64::from(s == State::Unknown));
        }
        for k in Kind::ALL {
            self.problem.with_label_values(&with(&b, k.as_str())).set(0);
        }
        for r in ["ok", "failed"] {
            self.checks.with_label_values(&with(&b, r)).inc_by(0);
        }
        if e.target.role == Role::Mirror {
            self.similarity.with_label_values(&b).set(0.0);
            self.lag.with_label_values(&b).set(0.0);
            self.missing.with_label_values(&b).set(0);
        }
    }

    /// Removes every series of an address that left the config.
    pub fn forget(&self, e: &Entry) {
        let base = base(e);
        let b = [base[0].as_str(), base[1].as_str(), base[2].as_str()];
        for g in [
            &self.up,
            &self.dns_consistent,
            &self.cert_valid,
            &self.http_status,
            &self.http_redirects,
            &self.missing,
        ] {
            let _ = g.remove_label_values(&b);
        }
        for g in [&self.cert_not_after, &self.similarity, &self.lag] {
            let _ = g.remove_label_values(&b);
        }
        for s in State::ALL {
            let _ = self.state.remove_label_values(&with(&b, s.as_str()));
        }
        for k in Kind::ALL {
            let _ = self.problem.remove_label_values(&with(&b, k.as_str()));
        }
        for (phase, _) in crate::checks::Timings::default().phases() {
            let _ = self.phase.remove_label_values(&with(&b, phase));
        }
        for r in ["ok", "failed"] {
            let _ = self.checks.remove_label_values(&with(&b, r));
        }
        self.forget_stale(base.clone(), Vec::new(), Vec::new());
        self.dynamic
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&base);
    }

    /// Updates every series of one address after a round.
    pub fn record(&self, e: &Entry) {
        let base = base(e);
        let b = [base[0].as_str(), base[1].as_str(), base[2].as_str()];
        let state = e.tracker.state();
        self.up
            .with_label_values(&b)
            .set(i64::from(state == State::Up));
        for s in State::ALL {
            self.state
                .with_label_values(&with(&b, s.as_str()))
                .set(i64::from(s == state));
        }
        for k in Kind::ALL {
            self.problem
                .with_label_values(&with(&b, k.as_str()))
                .set(i64::from(e.tracker.is_raised(k)));
        }
        let result = if e.verdict.findings.is_empty() {
            "ok"
        } else {
            "failed"
        };
        self.checks.with_label_values(&with(&b, result)).inc();
        self.dns_consistent
            .with_label_values(&b)
            .set(i64::from(e.verdict.dns_consistent));
        let Some(r) = e.last.as_deref() else { return };
        for (phase, secs) in r.timings.phases() {
            self.phase.with_label_values(&with(&b, phase)).set(secs);
        }
        let resolvers: Vec<String> = r.dns.resolvers.iter().map(|a| a.resolver.clone()).collect();
        for a in &r.dns.resolvers {
            let ok = a.outcome == crate::checks::dns::Outcome::Answered;
            self.dns_success
                .with_label_values(&with(&b, &a.resolver))
                .set(i64::from(ok));
        }
        let ips: Vec<String> = r.addresses.iter().map(|a| a.ip.to_string()).collect();
        for a in &r.addresses {
            self.address_up
                .with_label_values(&with(&b, &a.ip.to_string()))
                .set(i64::from(a.good));
        }
        if e.target.url.scheme() == "https" {
            let tls: Vec<_> = r.addresses.iter().filter_map(|a| a.tls.as_ref()).collect();
            match tls.iter().filter_map(|t| t.not_after).min() {
                Some(na) => self.cert_not_after.with_label_values(&b).set(na as f64),
                None => {
                    let _ = self.cert_not_after.remove_label_values(&b);
                }
            }
            self.cert_valid
                .with_label_values(&b)
                .set(i64::from(r.addresses.iter().any(|a| a.good)));
        }
        let first = r.http.first();
        self.http_status
            .with_label_values(&b)
            .set(first.and_then(|h| h.status).map_or(0, i64::from));
        self.http_redirects
            .with_label_values(&b)
            .set(first.map_or(0, |h| h.redirects.len() as i64));
        if let Some(p) = r
            .content
            .parity
            .as_ref()
            .filter(|_| e.target.role == Role::Mirror)
        {
            self.similarity.with_label_values(&b).set(p.similarity);
            self.lag.with_label_values(&b).set(p.lag_seconds);
            self.missing
                .with_label_values(&b)
                .set(p.missing_articles as i64);
        }
        self.forget_stale(base, ips, resolvers);
    }

    /// Removes `ip`/`resolver` series the target no longer has.
    fn forget_stale(&self, base: [String; 3], ips: Vec<String>, resolvers: Vec<String>) {
        let b = [base[0].as_str(), base[1].as_str(), base[2].as_str()];
        let mut dynamic = self.dynamic.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((old_ips, old_resolvers)) = dynamic.get(&base) {
            for ip in old_ips.iter().filter(|ip| !ips.contains(ip)) {
                let _ = self.address_up.remove_label_values(&with(&b, ip));
            }
            for r in old_resolvers.iter().filter(|r| !resolvers.contains(r)) {
                let _ = self.dns_success.remove_label_values(&with(&b, r));
            }
        }
        dynamic.insert(base, (ips, resolvers));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

fn base(e: &Entry) -> [String; 3] {
    [
        e.target.site.clone(),
        e.target.label(),
        e.target.role.as_str().to_string(),
    ]
}

fn with<'a>(b: &[&'a str; 3], extra: &'a str) -> [&'a str; 4] {
    [b[0], b[1], b[2], extra]
}
