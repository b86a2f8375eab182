//! Verdicts: the only place that decides what a round's facts mean.
//!
//! [`evaluate`] turns one [`RoundReport`] into the round's [`Finding`]s, one
//! root cause per address (a failed stage hides the stages that depend on
//! it). [`state`] applies the failure/success thresholds across rounds and
//! derives the address's state. Neither touches metrics or formats output.

pub mod state;

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::checks::RoundReport;
use crate::checks::dns::Outcome;
use crate::checks::http::{FailStage, status_ok};
use crate::checks::tls::Handshake;
use crate::config::{Role, Target};
use crate::parity::fingerprints::FpKind;
use crate::timefmt;

/// The fixed problem vocabulary (SPEC section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    DnsFailure,
    DnsInconsistent,
    ConnectFailure,
    PartialOutage,
    TlsInvalid,
    TlsExpiring,
    HttpError,
    RedirectOffsite,
    Seized,
    Blockpage,
    ContentMismatch,
    ContentStale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::DnsFailure,
        Kind::DnsInconsistent,
        Kind::ConnectFailure,
        Kind::PartialOutage,
        Kind::TlsInvalid,
        Kind::TlsExpiring,
        Kind::HttpError,
        Kind::RedirectOffsite,
        Kind::Seized,
        Kind::Blockpage,
        Kind::ContentMismatch,
        Kind::ContentStale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DnsFailure => "dns_failure",
            Kind::DnsInconsistent => "dns_inconsistent",
            Kind::ConnectFailure => "connect_failure",
            Kind::PartialOutage => "partial_outage",
            Kind::TlsInvalid => "tls_invalid",
            Kind::TlsExpiring => "tls_expiring",
            Kind::HttpError => "http_error",
            Kind::RedirectOffsite => "redirect_offsite",
            Kind::Seized => "seized",
            Kind::Blockpage => "blockpage",
            Kind::ContentMismatch => "content_mismatch",
            Kind::ContentStale => "content_stale",
        }
    }

    /// Parses `as_str`'s output back.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The alert name: `Mirror` + the kind in CamelCase (`MirrorDnsFailure`).
    pub fn alert_name(self) -> String {
        let camel: String = self
            .as_str()
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        format!("Mirror{camel}")
    }

    pub fn severity(self) -> Severity {
        match self {
            Kind::DnsInconsistent
            | Kind::PartialOutage
            | Kind::TlsExpiring
            | Kind::ContentStale => Severity::Warning,
            _ => Severity::Critical,
        }
    }
}

/// One problem seen in one round, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub detail: String,
}

/// The verdict on one round: its findings and the facts derived on the way
/// that outputs show (DNS consistency).
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub findings: Vec<Finding>,
    /// Resolvers agree (SPEC section 3); `true` when no lookup was needed.
    pub dns_consistent: bool,
    /// Addresses returned only by a disagreeing resolver.
    pub suspect_addresses: Vec<IpAddr>,
}

impl Verdict {
    fn push(&mut self, kind: Kind, detail: String) {
        self.findings.push(Finding { kind, detail });
    }
}

/// Decides the problems one round shows.
pub fn evaluate(target: &Target, report: &RoundReport, now: SystemTime) -> Verdict {
    let mut v = Verdict {
        dns_consistent: true,
        ..Default::default()
    };
    if report.aborted {
        let took = crate::checks::tls::fmt_secs(Duration::from_secs_f64(report.duration_seconds));
        v.push(
            Kind::HttpError,
            format!("round stalled: did not finish within {took}"),
        );
        return v;
    }
    // Fingerprints win: a seizure banner served with 403 is `seized`, and
    // neither kind ever also raises a content problem.
    if fingerprints(report, &mut v) {
        return v;
    }
    if report.dns.looked_up && !dns(report, &mut v) {
        return v;
    }
    if !connect(target, report, &mut v, now) {
        return v;
    }
    if http(target, report, &mut v) {
        content(target, report, &mut v);
    }
    v
}

/// `seized`/`blockpage` from matched fingerprints; `true` when any matched.
fn fingerprints(report: &RoundReport, v: &mut Verdict) -> bool {
    for (kind, fp) in [
        (Kind::Seized, FpKind::Seized),
        (Kind::Blockpage, FpKind::Blockpage),
    ] {
        let hits: Vec<String> = report
            .content
            .fingerprints
            .iter()
            .filter(|m| m.kind == fp)
            .map(|m| format!("fingerprint {} matched: {}", m.name, m.evidence))
            .collect();
        if !hits.is_empty() {
            v.push(kind, hits.join("; "));
        }
    }
    !v.findings.is_empty()
}

/// Mirror content against the main site's reference.
fn content(target: &Target, report: &RoundReport, v: &mut Verdict) {
    let Some(p) = report
        .content
        .parity
        .as_ref()
        .filter(|_| target.role == Role::Mirror)
    else {
        return;
    };
    let age = if p.reference_age_seconds >= 1.0 {
        format!(
            " (reference page {} old)",
            humantime::format_duration(Duration::from_secs(p.reference_age_seconds as u64))
        )
    } else {
        String::new()
    };
    if p.similarity < target.parity.min_similarity {
        v.push(
            Kind::ContentMismatch,
            format!(
                "similarity {:.2} < {:.2} to the main site{age}; title match {}, length ratio {:.2}",
                p.similarity, target.parity.min_similarity, p.title_match, p.length_ratio
            ),
        );
        return;
    }
    let max_lag = target.parity.max_lag.as_secs_f64();
    if p.lag_seconds > max_lag {
        let oldest = p
            .paths
            .iter()
            .find_map(|x| x.oldest_missing.clone())
            .unwrap_or_default();
        v.push(
            Kind::ContentStale,
            format!(
                "lags the main site by {} (max {}): missing {} articles, oldest {oldest}{age}",
                humantime::format_duration(Duration::from_secs(p.lag_seconds.ceil() as u64)),
                humantime::format_duration(target.parity.max_lag),
                p.missing_articles
            ),
        );
    }
}

/// DNS findings; `false` when the address cannot be reached at all.
fn dns(report: &RoundReport, v: &mut Verdict) -> bool {
    let answers = &report.dns.resolvers;
    let answered: Vec<_> = answers
        .iter()
        .filter(|a| a.outcome == Outcome::Answered)
        .collect();
    if answered.is_empty() {
        let why: Vec<String> = answers
            .iter()
            .map(|a| format!("{} {}", a.resolver, outcome_text(&a.outcome, &a.rcode)))
            .collect();
        v.push(
            Kind::DnsFailure,
            format!("no resolver returned an address: {}", why.join(", ")),
        );
        return false;
    }
    let mut evidence = Vec::new();
    for a in answers
        .iter()
        .filter(|a| a.outcome != Outcome::Answered && a.outcome.responded())
    {
        evidence.push(format!(
            "{} answered {} while {} returned {}",
            a.resolver,
            outcome_text(&a.outcome, &a.rcode),
            answered[0].resolver,
            join_ips(&answered[0].addresses)
        ));
    }
    // An answer sharing no address with the others, none of whose addresses
    // completes a valid handshake, is a disagreeing answer.
    let good: HashSet<IpAddr> = report
        .addresses
        .iter()
        .filter(|a| a.good)
        .map(|a| a.ip)
        .collect();
    let mut flagged = Vec::new();
    for (i, a) in answered.iter().enumerate() {
        let others: HashSet<IpAddr> = answered
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, o)| o.addresses.iter().copied())
            .collect();
        let disjoint = !others.is_empty() && a.addresses.iter().all(|ip| !others.contains(ip));
        if disjoint && !a.addresses.iter().any(|ip| good.contains(ip)) {
            flagged.push(i);
        }
    }
    if flagged.len() < answered.len() {
        for &i in &flagged {
            let a = answered[i];
            let agreeing = answered
                .iter()
                .enumerate()
                .find(|(j, _)| !flagged.contains(j))
                .map(|(_, o)| format!("{} returned {}", o.resolver, join_ips(&o.addresses)))
                .unwrap_or_default();
            evidence.push(format!(
                "{} returned {} (no valid TLS there) while {agreeing}",
                a.resolver,
                join_ips(&a.addresses)
            ));
        }
        let trusted: HashSet<IpAddr> = answered
            .iter()
            .enumerate()
            .filter(|(j, _)| !flagged.contains(j))
            .flat_map(|(_, o)| o.addresses.iter().copied())
            .collect();
        v.suspect_addresses = report
            .dns
            .all_addresses()
            .into_iter()
            .filter(|ip| !trusted.contains(ip))
            .collect();
    }
    if !evidence.is_empty() {
        v.dns_consistent = false;
        v.push(Kind::DnsInconsistent, evidence.join("; "));
    }
    true
}

/// Connect/TLS findings; `false` when no address can serve HTTP.
fn connect(target: &Target, report: &RoundReport, v: &mut Verdict, now: SystemTime) -> bool {
    let port = target.url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<_> = report
        .addresses
        .iter()
        .filter(|a| !v.suspect_addresses.contains(&a.ip))
        .collect();
    let describe = |a: &crate::checks::connect::AddressReport| -> String {
        let why = a
            .tcp
            .error
            .clone()
            .or_else(|| {
                a.tls
                    .as_ref()
                    .and_then(|t| t.error.clone().or_else(|| t.validation_error.clone()))
            })
            .unwrap_or_else(|| "failed".into());
        format!("{} ({why})", a.ip)
    };
    if addrs.is_empty() {
        v.push(Kind::ConnectFailure, "no address to connect to".into());
        return false;
    }
    if !addrs.iter().any(|a| a.tcp.ok) {
        let list: Vec<String> = addrs.iter().map(|a| describe(a)).collect();
        v.push(
            Kind::ConnectFailure,
            format!(
                "no address accepted TCP on port {port}: {}",
                list.join("; ")
            ),
        );
        return false;
    }
    let good: Vec<_> = addrs.iter().filter(|a| a.good).collect();
    if good.is_empty() {
        let invalid = addrs.iter().find(|a| {
            a.tls
                .as_ref()
                .is_some_and(|t| t.handshake != Handshake::Stalled)
        });
        match invalid {
            Some(a) => {
                let t = a.tls.as_ref();
                let why = t
                    .and_then(|t| t.validation_error.clone().or_else(|| t.error.clone()))
                    .unwrap_or_else(|| "handshake failed".into());
                let expiry = t
                    .and_then(|t| t.not_after)
                    .map(|na| format!(", not_after {}", timefmt::unix_rfc3339(na)))
                    .unwrap_or_default();
                v.push(Kind::TlsInvalid, format!("{why} on {}{expiry}", a.ip));
            }
            None => {
                let a = addrs
                    .iter()
                    .find(|a| a.tls.is_some())
                    .map(|a| describe(a))
                    .unwrap_or_default();
                v.push(Kind::HttpError, format!("stalled at TLS handshake: {a}"));
            }
        }
        return false;
    }
    if good.len() < addrs.len() {
        let bad: Vec<String> = addrs
            .iter()
            .filter(|a| !a.good)
            .map(|a| describe(a))
            .collect();
        v.push(
            Kind::PartialOutage,
            format!(
                "{} of {} addresses failing: {}",
                bad.len(),
                addrs.len(),
                bad.join("; ")
            ),
        );
    }
    let earliest = good
        .iter()
        .filter_map(|a| {
            a.tls
                .as_ref()
                .and_then(|t| t.not_after)
                .map(|na| (na, a.ip))
        })
        .min();
    if let Some((not_after, ip)) = earliest {
        let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        let left = not_after - now_s;
        if left < target.settings.cert_warning.as_secs() as i64 {
            let days = Duration::from_secs(left.max(0) as u64).as_secs() / 86400;
            v.push(
                Kind::TlsExpiring,
                format!(
                    "certificate expires {} (in {days} days) on {ip}",
                    timefmt::unix_rfc3339(not_after)
                ),
            );
        }
    }
    true
}

/// HTTP findings over every fetched path; `true` when there were none.
fn http(target: &Target, report: &RoundReport, v: &mut Verdict) -> bool {
    let mut errors = Vec::new();
    let mut offsite = Vec::new();
    for h in &report.http {
        if target.role == Role::Mirror {
            if let Some(hop) = h.redirects.iter().find(|r| r.offsite) {
                offsite.push(format!(
                    "GET {} redirects ({}) to {}, outside the mirror's domain",
                    h.path, hop.status, hop.location
                ));
                continue;
            }
        }
        match (&h.error, h.status) {
            (Some(e), _) => {
                let stage = match h.failed_stage {
                    Some(FailStage::Tls) => "TLS handshake",
                    Some(FailStage::Connect) => "connect",
                    Some(FailStage::ResponseHeaders | FailStage::Request) => "response headers",
                    Some(FailStage::Body) => "body transfer",
                    Some(FailStage::Redirect) | None => "redirect",
                };
                let how = if h.stalled { "stalled at" } else { "failed at" };
                errors.push(format!("GET {} {how} {stage}: {e}", h.path));
            }
            (None, Some(status)) if !status_ok(status, &target.settings.expect_status) => {
                errors.push(format!("GET {} returned {status}", h.path));
            }
            (None, None) => errors.push(format!("GET {}: no response", h.path)),
            _ => {}
        }
    }
    if !offsite.is_empty() {
        v.push(Kind::RedirectOffsite, offsite.join("; "));
    }
    let clean = offsite.is_empty() && errors.is_empty();
    if !offsite.is_empty() {
        v.push(Kind::RedirectOffsite, offsite.join("; "));
    }
    if !errors.is_empty() {
        v.push(Kind::HttpError, errors.join("; "));
    }
    clean
}

fn outcome_text(o: &Outcome, rcode: &str) -> String {
    match o {
        Outcome::Answered => "answered".into(),
        Outcome::NoData => "NOERROR with no address".into(),
        Outcome::NxDomain => "NXDOMAIN".into(),
        Outcome::ServFail => "SERVFAIL".into(),
        Outcome::Refused => "REFUSED".into(),
        Outcome::OtherRcode => rcode.to_string(),
        Outcome::Timeout => "no answer (timeout)".into(),
        Outcome::Unreachable => "unreachable".into(),
    }
}

fn join_ips(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
