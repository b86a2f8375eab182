//! The registry stage's own cadence: one query per registered domain every
//! `registry.interval` (with jitter), never per round and never per
//! address; the RDAP bootstrap file at start and daily. Answers go to the
//! shared [`Registry`] (rounds read it), the store (a restart asks nothing
//! until a domain is due), the metrics, and, when the registrar,
//! nameservers, statuses or expiry changed, each address's history. A
//! failed query keeps the last good answer, counts against its server and
//! backs off; HTTP 429 waits at least its `Retry-After`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::checks::rdap::{self, Bootstrap};
use crate::checks::registry::{self, DomainFacts, QueryError, Record, Registry, Servers, Source};
use crate::config::Config;
use crate::config::registry::RegistryConfig;
use crate::ground::domain::registered_domain;
use crate::outputs::board::Key;
use crate::outputs::metrics::Metrics;
use crate::store::Store;
use crate::store::history::EventRow;

/// What the watcher needs from the config in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub config: RegistryConfig,
    /// Each registered domain and the addresses under it.
    pub domains: BTreeMap<String, Vec<Key>>,
    pub user_agent: String,
    /// Extra trust anchors for RDAP over HTTPS (`defaults.ca_file`).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Setup {
    /// `None` when the config has no `[registry]`.
    pub fn of(config: &Config) -> Option<Self> {
        let rc = config.registry.clone()?;
        let mut domains: BTreeMap<String, Vec<Key>> = BTreeMap::new();
        for t in config.targets() {
            let host = t.url.host_str().unwrap_or_default();
            if host.is_empty() || crate::ground::domain::ip_literal(host).is_some() {
                continue;
            }
            domains
                .entry(registered_domain(host))
                .or_default()
                .push(Key::of(&t));
        }
        Some(Self {
            config: rc,
            domains,
            user_agent: config.defaults.user_agent.clone(),
            ca_file: config.defaults.ca_file.clone(),
        })
    }
}

/// A day: how often the bootstrap file is fetched again.
const BOOTSTRAP_EVERY: i64 = 86400;

fn now_s() -> i64 {
    crate::ground::time::unix_secs(SystemTime::now())
}

/// Loads stored records into `registry` and the metrics (before rounds start).
pub async fn restore(registry: &Registry, store: &Store, metrics: &Metrics) {
    match store.call(crate::store::registry::load).await {
        Ok(records) => {
            for r in records {
                metrics.domains.record(&r);
                registry.put(r);
            }
        }
        Err(e) => tracing::error!(error = %e, "loading registry records"),
    }
}

/// Runs until `token` is cancelled.
pub async fn run(
    registry: Arc<Registry>,
    mut setup: watch::Receiver<Option<Setup>>,
    store: Store,
    metrics: Arc<Metrics>,
    token: CancellationToken,
) {
    let mut bootstrap: Option<(String, Bootstrap, i64)> = None;
    // The HTTP client, built again only when the setup changes.
    let mut built: Option<(Setup, reqwest::Client)> = None;
    loop {
        let current = setup.borrow_and_update().clone();
        let wait = match current {
            None => Duration::from_secs(3600),
            Some(s) => 'pass: {
                if built.as_ref().is_none_or(|(b, _)| *b != s) {
                    built = client(&s).map(|c| (s.clone(), c));
                }
                let Some((_, client)) = &built else {
                    break 'pass Duration::from_secs(3600);
                };
                let client = client.clone();
                tokio::select! {
                    _ = token.cancelled() => return,
                    () = ensure_bootstrap(&mut bootstrap, &s, &client, &store, &metrics) => {}
                }
                let servers = Servers {
                    bootstrap: bootstrap
                        .as_ref()
                        .map(|b| b.1.clone())
                        .unwrap_or_else(rdap::builtin),
                    rdap: s.config.rdap_servers.clone(),
                    whois: s.config.whois_servers.clone(),
                };
                let kept: BTreeSet<String> = s.domains.keys().cloned().collect();
                metrics.domains.retain(&kept);
                let now = now_s();
                let due: Vec<String> = s
                    .domains
                    .keys()
                    .filter(|d| registry.get(d).is_none_or(|r| r.next_due <= now))
                    .cloned()
                    .collect();
                let timeout = s.config.timeout;
                // Each answer is applied as it comes; shutdown does not wait
                // for queries in flight (they are asked again when due).
                let mut answers = futures_util::stream::iter(due)
                    .map(|d| {
                        let (client, servers) = (&client, &servers);
                        async move {
                            let got = registry::query(client, servers, &d, timeout).await;
                            (d, got)
                        }
                    })
                    .buffer_unordered(s.config.concurrency);
                loop {
                    let next = tokio::select! {
                        _ = token.cancelled() => return,
                        next = answers.next() => next,
                    };
                    let Some((domain, got)) = next else { break };
                    apply(&registry, &s, &store, &metrics, &domain, got).await;
                }
                let next = s
                    .domains
                    .keys()
                    .filter_map(|d| registry.get(d).map(|r| r.next_due))
                    .min()
                    .unwrap_or(now + 60);
                let bootstrap_due = bootstrap
                    .as_ref()
                    .map_or(now + 60, |b| b.2.saturating_add(BOOTSTRAP_EVERY));
                let at = next.min(bootstrap_due);
                Duration::from_secs(
                    u64::try_from(at.saturating_sub(now_s()))
                        .unwrap_or(0)
                        .clamp(1, 3600),
                )
            }
        };
        tokio::select! {
            _ = token.cancelled() => return,
            changed = setup.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn client(s: &Setup) -> Option<reqwest::Client> {
    registry::client(&s.user_agent, s.ca_file.as_deref(), s.config.timeout)
        .inspect_err(|e| tracing::error!(error = %e, "registry HTTP client"))
        .ok()
}

/// The bootstrap file: fetched when missing or a day old; the stored copy
/// (or the built-in map) when the fetch fails.
async fn ensure_bootstrap(
    current: &mut Option<(String, Bootstrap, i64)>,
    s: &Setup,
    client: &reqwest::Client,
    store: &Store,
    metrics: &Metrics,
) {
    let url = s.config.bootstrap_url.to_string();
    let now = now_s();
    if current
        .as_ref()
        .is_some_and(|(u, _, at)| *u == url && now.saturating_sub(*at) < BOOTSTRAP_EVERY)
    {
        return;
    }
    if current.as_ref().is_none_or(|(u, _, _)| *u != url) {
        let key = url.clone();
        if let Ok(Some((body, at))) = store
            .call(move |c| crate::store::registry::load_bootstrap(c, &key))
            .await
            && let Ok(b) = Bootstrap::parse(&body)
        {
            *current = Some((url.clone(), b, at));
            if now.saturating_sub(at) < BOOTSTRAP_EVERY {
                return;
            }
        }
    }
    let fetched =
        registry::fetch_bootstrap(client, &s.config.bootstrap_url, s.config.timeout).await;
    match fetched {
        Ok((b, body)) => {
            let key = url.clone();
            if let Err(e) = store
                .call(move |c| crate::store::registry::save_bootstrap(c, &key, &body, now))
                .await
            {
                tracing::error!(error = %e, "saving the RDAP bootstrap file");
            }
            *current = Some((url, b, now));
        }
        Err(e) => {
            metrics.domains.failed(e.server());
            tracing::warn!(error = %e, "RDAP bootstrap file not fetched; using the last one or the built-in map");
            // Try again in an hour, not at every pass.
            let b = current
                .take()
                .filter(|(u, _, _)| *u == url)
                .map_or_else(rdap::builtin, |(_, b, _)| b);
            *current = Some((url, b, now.saturating_sub(BOOTSTRAP_EVERY - 3600)));
        }
    }
}

/// Up to a tenth of `interval`, from the domain's name: spread, stable.
fn jitter(domain: &str, interval: Duration) -> i64 {
    let h = crate::ground::hash::fnv1a(domain.as_bytes());
    let tenth = (interval.as_secs() / 10).max(1);
    i64::try_from(h % tenth).unwrap_or(0)
}

/// What changed between two answers; a field unknown on either side is
/// not a change.
fn changes(old: &DomainFacts, new: &DomainFacts) -> Vec<(&'static str, String)> {
    let list = |v: &Option<Vec<String>>| {
        v.as_ref().map(|l| {
            if l.is_empty() {
                "none".to_string()
            } else {
                l.join(", ")
            }
        })
    };
    let date = |v: Option<i64>| v.map(crate::ground::time::unix_rfc3339);
    let mut out = Vec::new();
    for (what, a, b) in [
        ("registrar", old.registrar.clone(), new.registrar.clone()),
        (
            "nameservers",
            list(&old.nameservers),
            list(&new.nameservers),
        ),
        ("statuses", list(&old.statuses), list(&new.statuses)),
        ("expiry", date(old.expiry), date(new.expiry)),
    ] {
        if let (Some(a), Some(b)) = (a, b)
            && a != b
        {
            out.push((what, format!("{what} changed from {a} to {b}")));
        }
    }
    out
}

async fn apply(
    registry: &Registry,
    s: &Setup,
    store: &Store,
    metrics: &Metrics,
    domain: &str,
    got: Result<(DomainFacts, Source), QueryError>,
) {
    let now = now_s();
    let mut rec = registry.get(domain).unwrap_or_else(|| Record {
        domain: domain.to_string(),
        ..Record::default()
    });
    let interval = i64::try_from(s.config.interval.as_secs()).unwrap_or(i64::MAX);
    let mut events = Vec::new();
    match got {
        Ok((facts, source)) => {
            if let Some(old) = &rec.facts {
                for (what, detail) in changes(old, &facts) {
                    tracing::warn!(domain, what, detail, "registry fact changed");
                    rec.changed.insert(what.to_string(), now);
                    for key in s.domains.get(domain).into_iter().flatten() {
                        events.push(EventRow {
                            id: 0,
                            site: key.site.clone(),
                            url: key.url.clone(),
                            vantage: key.vantage.clone(),
                            at_ms: now.saturating_mul(1000),
                            event: "domain".into(),
                            kind: what.into(),
                            from_state: String::new(),
                            to_state: String::new(),
                            detail: format!("{domain}: {detail} ({source})"),
                        });
                    }
                }
            }
            rec.facts = Some(facts);
            rec.source = Some(source);
            rec.fetched_at = Some(now);
            rec.error = None;
            rec.failures = 0;
            rec.next_due = now
                .saturating_add(interval)
                .saturating_add(jitter(domain, s.config.interval));
        }
        Err(e) => {
            metrics.domains.failed(e.server());
            rec.failures = rec.failures.saturating_add(1);
            rec.error = Some(crate::ground::text::clip(&e.to_string(), 300));
            let backoff = 60i64
                .saturating_mul(1 << rec.failures.min(10))
                .min(interval);
            let wait = match &e {
                QueryError::RateLimited {
                    retry_after: Some(d),
                    ..
                } => backoff.max(i64::try_from(d.as_secs()).unwrap_or(86400)),
                _ => backoff,
            };
            tracing::info!(domain, error = %e, retry_in_s = wait, "registry query failed; keeping the last answer");
            rec.next_due = now.saturating_add(wait);
        }
    }
    registry.put(rec.clone());
    metrics.domains.record(&rec);
    let saved = store
        .call(move |c| {
            crate::store::registry::save(c, &rec)?;
            crate::store::history::add_events(c, &events)
        })
        .await;
    if let Err(e) = saved {
        tracing::error!(error = %e, "saving a registry record");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_fields_can_change() {
        let old = DomainFacts {
            registrar: Some("A".into()),
            nameservers: Some(vec!["ns1.a.test".into()]),
            statuses: None,
            expiry: Some(0),
        };
        let new = DomainFacts {
            registrar: Some("B".into()),
            nameservers: None,
            statuses: Some(vec!["client hold".into()]),
            expiry: Some(86400),
        };
        assert_eq!(
            changes(&old, &new),
            vec![
                ("registrar", "registrar changed from A to B".to_string()),
                (
                    "expiry",
                    "expiry changed from 1970-01-01T00:00:00Z to 1970-01-02T00:00:00Z".to_string()
                ),
            ]
        );
        assert!(jitter("news.test", Duration::from_secs(3600)) < 360);
    }
}
