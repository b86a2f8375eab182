//! The registry stage's metrics, per registered domain: expiry, EPP
//! statuses, when each fact last changed, the registrar and nameservers as
//! an info series, and failed queries per server. A domain's series are
//! rewritten whole after each answer, so a status that went away vanishes.

use std::collections::BTreeSet;
use std::sync::Mutex;

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::checks::registry::Record;

/// Per domain: the (family index, label values) of each series exported.
type Exported = Vec<(String, Vec<(usize, Vec<String>)>)>;

pub struct RegistryMetrics {
    expiry: IntGaugeVec,
    status: IntGaugeVec,
    last_change: IntGaugeVec,
    info: IntGaugeVec,
    failures: IntCounterVec,
    /// Label sets exported per domain, to remove on the next answer.
    exported: Mutex<Exported>,
}

fn gauge(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, prometheus::Error> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

impl RegistryMetrics {
    pub fn new(r: &Registry) -> Result<Self, prometheus::Error> {
        let failures = IntCounterVec::new(
            Opts::new(
                "mirrorwatch_registry_query_failures_total",
                "Registry queries (RDAP, WHOIS, the bootstrap file) that gave no answer, by server: a fact about the registry, never a problem on a site.",
            ),
            &["server"],
        )?;
        r.register(Box::new(failures.clone()))?;
        Ok(Self {
            expiry: gauge(
                r,
                "mirrorwatch_domain_expiry_timestamp_seconds",
                "When the registered domain expires, as its registry last said.",
                &["domain"],
            )?,
            status: gauge(
                r,
                "mirrorwatch_domain_status",
                "1 for each EPP status (RDAP words, e.g. client hold) the registry last gave the domain.",
                &["domain", "status"],
            )?,
            last_change: gauge(
                r,
                "mirrorwatch_domain_last_change_timestamp_seconds",
                "When mirrorwatch last saw the domain's registrar, nameservers, statuses or expiry change.",
                &["domain", "what"],
            )?,
            info: gauge(
                r,
                "mirrorwatch_domain_info",
                "1, labelled with the domain's registrar and delegated nameservers as its registry last said (unknown when not said).",
                &["domain", "registrar", "nameservers"],
            )?,
            failures,
            exported: Mutex::new(Vec::new()),
        })
    }

    /// Counts a query to `server` that gave no answer.
    pub fn failed(&self, server: &str) {
        self.failures.with_label_values(&[server]).inc();
    }

    fn families(&self) -> [&IntGaugeVec; 4] {
        [&self.expiry, &self.status, &self.last_change, &self.info]
    }

    fn forget(&self, exported: &mut Exported, domain: &str) {
        if let Some(i) = exported.iter().position(|(d, _)| d == domain) {
            let (_, sets) = exported.swap_remove(i);
            for (family, labels) in sets {
                let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
                if let Some(f) = self.families().get(family) {
                    let _ = f.remove_label_values(&refs);
                }
            }
        }
    }

    /// Rewrites the series of `r`'s domain from its last good answer.
    pub fn record(&self, r: &Record) {
        let mut exported = self.exported.lock().unwrap_or_else(|p| p.into_inner());
        self.forget(&mut exported, &r.domain);
        let d = r.domain.clone();
        let mut sets: Vec<(usize, Vec<String>, i64)> = Vec::new();
        if let Some(f) = &r.facts {
            if let Some(e) = f.expiry {
                sets.push((0, vec![d.clone()], e));
            }
            for s in f.statuses.iter().flatten() {
                sets.push((1, vec![d.clone(), s.clone()], 1));
            }
            let registrar = f.registrar.clone().unwrap_or_else(|| "unknown".into());
            let ns = f
                .nameservers
                .as_ref()
                .map(|n| crate::ground::text::clip(&n.join(","), 1024))
                .unwrap_or_else(|| "unknown".into());
            sets.push((3, vec![d.clone(), registrar, ns], 1));
        }
        for (what, at) in &r.changed {
            sets.push((2, vec![d.clone(), what.clone()], *at));
        }
        let mut kept = Vec::new();
        for (family, labels, value) in sets {
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            if let Some(f) = self.families().get(family) {
                f.with_label_values(&refs).set(value);
            }
            kept.push((family, labels));
        }
        exported.push((d, kept));
    }

    /// Drops the series of domains no longer watched.
    pub fn retain(&self, domains: &BTreeSet<String>) {
        let mut exported = self.exported.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = exported
            .iter()
            .map(|(d, _)| d.clone())
            .filter(|d| !domains.contains(d))
            .collect();
        for d in gone {
            self.forget(&mut exported, &d);
        }
    }
}
