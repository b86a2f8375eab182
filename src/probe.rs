//! `mirrorwatch probe URL`: one round against one address, judged with
//! thresholds of 1, printed as a readable report or JSON.

use std::fmt::Write as _;

use serde_json::json;

use crate::checks::RoundReport;
use crate::config::{Settings, Target, Vantage};
use crate::ground::time::unix_rfc3339;
use crate::parity::ContentReport;
use crate::verdict::Verdict;
use crate::verdict::state::{State, Tracker};

/// The outcome of one probe.
pub struct ProbeResult {
    pub target: Target,
    pub reference: Option<url::Url>,
    pub report: RoundReport,
    pub content: ContentReport,
    pub verdict: Verdict,
    pub state: State,
}

/// How `probe --registry` asks the registry.
pub struct RegistryAsk {
    pub bootstrap_url: url::Url,
    /// WHOIS servers by TLD (added to the built-in ones).
    pub whois: std::collections::BTreeMap<String, String>,
    pub timeout: std::time::Duration,
}

/// Probes `url` once with `settings`, from `vantage` (`None`: this
/// machine). With `reference`, the reference is probed first as the main
/// site and `url` is judged as its mirror, parity included. With
/// `registry`, the registered domain's registry is asked first and judged
/// as the registry stage.
pub async fn probe(
    url: url::Url,
    reference: Option<url::Url>,
    settings: Settings,
    vantage: Option<Vantage>,
    registry: Option<RegistryAsk>,
) -> anyhow::Result<ProbeResult> {
    let record = match registry {
        Some(ask) => Some(ask_registry(&url, &settings, ask).await?),
        None => None,
    };
    let (target, outcome) =
        crate::pipeline::once(url, reference.clone(), settings, vantage, record).await?;
    let (report, content, verdict, now) =
        (outcome.report, outcome.content, outcome.verdict, outcome.at);
    let mut tracker = Tracker::new(now);
    tracker.apply(&verdict.findings, &verdict.undetermined, 1, 1, now);
    Ok(ProbeResult {
        state: tracker.state(),
        reference,
        target,
        report,
        content,
        verdict,
    })
}

/// One registry query for `url`'s registered domain, as a record (its
/// failure in `error`).
async fn ask_registry(
    url: &url::Url,
    settings: &Settings,
    ask: RegistryAsk,
) -> anyhow::Result<crate::checks::registry::Record> {
    use crate::checks::registry::{self, Record, Servers};
    let domain = crate::ground::domain::registered_domain(url.host_str().unwrap_or_default());
    let client = registry::client(
        &settings.user_agent,
        settings.ca_file.as_deref(),
        ask.timeout,
    )
    .map_err(|e| anyhow::anyhow!("registry client: {e}"))?;
    let bootstrap = registry::fetch_bootstrap(&client, &ask.bootstrap_url, ask.timeout)
        .await
        .map_or_else(|_| crate::checks::rdap::builtin(), |(b, _)| b);
    let mut whois = crate::config::registry::builtin_whois();
    whois.extend(ask.whois);
    let servers = Servers {
        bootstrap,
        rdap: Default::default(),
        whois,
    };
    let now = crate::ground::time::unix_secs(std::time::SystemTime::now());
    let mut record = Record {
        domain: domain.clone(),
        ..Record::default()
    };
    match registry::query(&client, &servers, &domain, ask.timeout).await {
        Ok((facts, source)) => {
            record.facts = Some(facts);
            record.source = Some(source);
            record.fetched_at = Some(now);
        }
        Err(e) => record.error = Some(e.to_string()),
    }
    Ok(record)
}

impl ProbeResult {
    pub fn json(&self) -> serde_json::Value {
        json!({
            "url": self.target.url.as_str(),
            "state": self.state,
            "problems": self.verdict.findings.iter().map(|f| json!({
                "kind": f.kind, "severity": f.kind.severity(), "detail": f.detail,
            })).collect::<Vec<_>>(),
            "undetermined": self.verdict.undetermined,
            "dns_consistent": self.verdict.dns_consistent,
            "reference": self.reference.as_ref().map(url::Url::as_str),
            "parity": self.content.parity,
            "fingerprints": self.content.fingerprints,
            "report": self.report,
        })
    }

    /// A readable multi-line report.
    pub fn text(&self) -> String {
        let r = &self.report;
        let mut o = String::new();
        let _ = writeln!(o, "{}  state: {}", self.target.url, self.state.as_str());
        if self.verdict.findings.is_empty() {
            let _ = writeln!(o, "  no problems");
        }
        if !self.verdict.undetermined.is_empty() {
            let kinds: Vec<&str> = self
                .verdict
                .undetermined
                .iter()
                .map(|k| k.as_str())
                .collect();
            let _ = writeln!(o, "  not judged this round: {}", kinds.join(", "));
        }
        for f in &self.verdict.findings {
            let _ = writeln!(
                o,
                "  PROBLEM {} [{}]: {}",
                f.kind.as_str(),
                format!("{:?}", f.kind.severity()).to_lowercase(),
                f.detail
            );
        }
        if let Some(g) = &r.registry {
            let _ = writeln!(o, "REGISTRY  {}", g.domain);
            if let Some(s) = &g.source {
                let _ = writeln!(o, "  source      {s}");
            }
            if let Some(e) = &g.error {
                let _ = writeln!(o, "  error       {e}");
            }
            let unknown = || "unknown".to_string();
            let f = g.facts.as_ref();
            let _ = writeln!(
                o,
                "  expiry      {}",
                f.and_then(|f| f.expiry)
                    .map(unix_rfc3339)
                    .unwrap_or_else(unknown)
            );
            let _ = writeln!(
                o,
                "  statuses    {}",
                f.and_then(|f| f.statuses.as_ref())
                    .map(|s| s.join(", "))
                    .unwrap_or_else(unknown)
            );
            let _ = writeln!(
                o,
                "  registrar   {}",
                f.and_then(|f| f.registrar.clone()).unwrap_or_else(unknown)
            );
            let _ = writeln!(
                o,
                "  nameservers {}",
                f.and_then(|f| f.nameservers.as_ref())
                    .map(|s| s.join(", "))
                    .unwrap_or_else(unknown)
            );
        }
        let _ = writeln!(o, "DNS");
        if !r.dns.looked_up {
            let _ = writeln!(o, "  (address literal, no lookup)");
        }
        for a in &r.dns.resolvers {
            let ips: Vec<String> = a
                .addresses
                .iter()
                .map(|ip| match a.bogons.iter().find(|b| b.ip == *ip) {
                    Some(b) => format!("{ip} (bogon: {})", b.range),
                    None => ip.to_string(),
                })
                .collect();
            let _ = writeln!(
                o,
                "  {:<5} {:<28} {:<10} {:>7.1} ms  ttl {:<6} {}",
                a.transport.label(),
                a.resolver,
                format!("{:?}", a.outcome),
                a.latency_seconds * 1000.0,
                a.ttl.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                if ips.is_empty() {
                    a.error.clone().unwrap_or_default()
                } else {
                    ips.join(" ")
                }
            );
        }
        if let Some(ns) = &r.dns.ns {
            let _ = writeln!(
                o,
                "  NS {}: {}",
                ns.domain,
                if ns.names.is_empty() {
                    ns.error.clone().unwrap_or_else(|| "none".into())
                } else {
                    ns.names.join(" ")
                }
            );
        }
        let _ = writeln!(o, "ADDRESSES");
        for a in &r.addresses {
            let tcp = if a.tcp.ok {
                format!("tcp {:.1} ms", a.tcp.seconds * 1000.0)
            } else {
                a.tcp.error.clone().unwrap_or_default()
            };
            let _ = write!(o, "  {:<40} {}", a.dest.to_string(), tcp);
            if let Some(t) = &a.tls {
                let cert = match (t.valid, &t.validation_error, &t.error) {
                    (true, _, _) => "valid".to_string(),
                    (false, Some(v), _) => v.clone(),
                    (false, None, Some(e)) => e.clone(),
                    _ => "invalid".into(),
                };
                let _ = write!(
                    o,
                    "  tls {} {} {:.1} ms, cert {}, expires {}",
                    t.version.as_deref().unwrap_or("-"),
                    t.cipher.as_deref().unwrap_or("-"),
                    t.seconds * 1000.0,
                    cert,
                    t.not_after.map(unix_rfc3339).unwrap_or_else(|| "-".into())
                );
            }
            let _ = writeln!(o);
        }
        let _ = writeln!(o, "HTTP");
        for h in &r.http {
            for hop in &h.redirects {
                let _ = writeln!(
                    o,
                    "  {} -> {} {}{}",
                    hop.url,
                    hop.status,
                    hop.location,
                    if hop.offsite { " (offsite)" } else { "" }
                );
            }
            let status = h
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "no response".into());
            let _ = writeln!(
                o,
                "  GET {} -> {status}, {} bytes{}{}",
                h.path,
                h.body_bytes,
                if h.truncated { " (truncated)" } else { "" },
                h.error
                    .as_ref()
                    .map(|e| format!(", {e}"))
                    .unwrap_or_default()
            );
        }
        if let Some(reference) = &self.reference {
            let _ = writeln!(o, "PARITY against {reference}");
            match &self.content.parity {
                None => {
                    let _ = writeln!(
                        o,
                        "  not compared (no good reference page, or the mirror page failed)"
                    );
                }
                Some(p) => {
                    let _ = writeln!(
                        o,
                        "  similarity {:.3}, title match {}, length ratio {:.3}, missing articles {}, lag {:.0} s",
                        p.similarity,
                        p.title_match,
                        p.length_ratio,
                        p.missing_articles,
                        p.lag_seconds
                    );
                }
            }
        }
        for m in &self.content.fingerprints {
            let _ = writeln!(o, "FINGERPRINT {} ({:?}): {}", m.name, m.kind, m.evidence);
        }
        let t = &r.timings;
        let _ = writeln!(
            o,
            "TIMINGS dns {:.1} ms, connect {:.1} ms, tls {:.1} ms, ttfb {:.1} ms, transfer {:.1} ms; round {:.1} ms",
            t.dns * 1000.0,
            t.connect * 1000.0,
            t.tls * 1000.0,
            t.ttfb * 1000.0,
            t.transfer * 1000.0,
            r.duration_seconds * 1000.0
        );
        o
    }
}
