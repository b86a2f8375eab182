//! Verdicts: the only place that decides what a round's facts mean.
//!
//! [`evaluate`] turns one [`RoundReport`] into the round's [`Finding`]s, one
//! root cause per address (a failed stage hides the stages that depend on
//! it). [`state`] applies the failure/success thresholds across rounds and
//! derives the address's state. Neither touches metrics or formats output.

pub mod discover;
mod dns;
mod kind;
mod registry;
pub mod site;
pub mod state;

pub use kind::{Kind, Severity};

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::checks::RoundReport;
use crate::checks::http::{FailStage, status_ok};
use crate::checks::tls::Handshake;
use crate::config::{Role, Target};
use crate::ground::time as timefmt;
use crate::parity::ContentReport;
use crate::parity::fingerprints::FpKind;

/// One problem seen in one round, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub detail: String,
}

/// The verdict on one round: its findings, the kinds it could not judge,
/// and the facts derived on the way that outputs show (DNS consistency).
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub findings: Vec<Finding>,
    /// Kinds this round gives no evidence about, either way: a stage that
    /// did not run (an earlier one failed), or could not judge (no
    /// reference yet, no later main snapshot, an unbounded clock). They
    /// neither raise nor count toward clearing (`state::Tracker`).
    /// In `Kind::ALL` order; never a kind that is also a finding.
    pub undetermined: Vec<Kind>,
    /// Resolvers agree (SPEC section 3); `true` when no lookup was needed.
    pub dns_consistent: bool,
    /// Addresses returned only by a disagreeing resolver.
    pub suspect_addresses: Vec<IpAddr>,
}

/// The kinds each stage judges, in stage order.
const DNS: &[Kind] = &[Kind::DnsFailure, Kind::DnsInconsistent];
const CONNECT: &[Kind] = &[
    Kind::ConnectFailure,
    Kind::PartialOutage,
    Kind::TlsInvalid,
    Kind::TlsExpiring,
];
const HTTP: &[Kind] = &[Kind::HttpError, Kind::RedirectOffsite];
const FINGERPRINTS: &[Kind] = &[Kind::Seized, Kind::Blockpage];
const CONTENT: &[Kind] = &[Kind::ContentMismatch, Kind::ContentStale];

impl Verdict {
    fn push(&mut self, kind: Kind, detail: String) {
        debug_assert!(
            !self.findings.iter().any(|f| f.kind == kind),
            "{kind:?} pushed twice"
        );
        if !self.findings.iter().any(|f| f.kind == kind) {
            self.findings.push(Finding { kind, detail });
        }
    }

    /// Marks `kinds` as not judged this round (findings win).
    fn unknown(&mut self, kinds: &[Kind]) {
        for &k in kinds {
            if !self.undetermined.contains(&k) {
                self.undetermined.push(k);
            }
        }
    }

    /// Puts `undetermined` in `Kind::ALL` order and drops found kinds.
    fn finish(mut self) -> Self {
        let found: Vec<Kind> = self.findings.iter().map(|f| f.kind).collect();
        self.undetermined.retain(|k| !found.contains(k));
        self.undetermined.sort();
        self
    }

    /// The round gave no evidence at all: no finding, every kind not
    /// judged (a vantage whose proxy failed).
    pub fn judged_nothing(&self) -> bool {
        nothing_judged(&self.findings, &self.undetermined)
    }

    /// The verdict on a round that failed inside mirrorwatch (a caught
    /// panic): `internal_error` and no evidence about anything else.
    pub fn internal_error(message: &str) -> Self {
        let mut v = Verdict {
            dns_consistent: true,
            ..Default::default()
        };
        let msg: String = message.chars().take(300).collect();
        v.push(
            Kind::InternalError,
            format!("round failed inside mirrorwatch: {msg}"),
        );
        v.unknown(&Kind::ALL);
        v.finish()
    }
}

/// No finding and every kind not judged: a round without evidence.
pub(crate) fn nothing_judged(findings: &[Finding], undetermined: &[Kind]) -> bool {
    findings.is_empty() && Kind::ALL.iter().all(|k| undetermined.contains(k))
}

/// Decides the problems one round shows, and which kinds it cannot judge.
pub fn evaluate(
    target: &Target,
    report: &RoundReport,
    content: &ContentReport,
    now: SystemTime,
) -> Verdict {
    let mut v = Verdict {
        dns_consistent: true,
        ..Default::default()
    };
    judge(target, report, content, now, &mut v);
    v.finish()
}

fn judge(
    target: &Target,
    report: &RoundReport,
    content: &ContentReport,
    now: SystemTime,
    v: &mut Verdict,
) {
    // Content kinds only ever apply to mirrors: on the main site they are
    // always judged (absent).
    let content_kinds = match target.role {
        Role::Mirror => CONTENT,
        Role::Main => &[],
    };
    // A vantage whose proxy failed saw nothing of the site: no evidence
    // about anything, this round.
    if report.vantage.as_ref().is_some_and(|x| x.fault.is_some()) {
        v.unknown(&Kind::ALL);
        return;
    }
    // Through a proxy that resolves names, DNS is the proxy's, and there is
    // one connection (to the name), so no address can be partly out.
    if report.vantage.as_ref().is_some_and(|x| x.dns_hidden) {
        v.unknown(DNS);
        v.unknown(&[Kind::PartialOutage]);
    }
    // The registry first: a held domain explains whatever the later stages
    // show (its name is out of the zone, or about to be). As with a
    // fingerprint, every later kind then counts as judged absent: one root
    // cause.
    if !registry::judge(target, report, v, now) {
        return;
    }
    if report.aborted {
        let took = crate::ground::text::fmt_secs(Duration::from_secs_f64(report.duration_seconds));
        v.push(
            Kind::HttpError,
            format!("round stalled: did not finish within {took}"),
        );
        for stage in [DNS, CONNECT, FINGERPRINTS, content_kinds, HTTP] {
            v.unknown(stage);
        }
        return;
    }
    // Fingerprints win: a seizure banner served with 403 is `seized`, and
    // neither kind ever also raises a content problem. A match explains
    // the whole address, so every other kind counts as judged absent.
    if fingerprints(content, v) {
        return;
    }
    // Without a response body, only DNS-based fingerprints were checked.
    if !report.http.iter().any(|h| h.status.is_some()) {
        v.unknown(FINGERPRINTS);
    }
    if report.dns.looked_up && !dns::judge(report, v) {
        v.unknown(CONNECT);
        v.unknown(HTTP);
        v.unknown(content_kinds);
        return;
    }
    if !connect(target, report, v, now) {
        v.unknown(HTTP);
        v.unknown(content_kinds);
        return;
    }
    if http(target, report, v) {
        parity(target, content, v);
    } else {
        v.unknown(content_kinds);
    }
}

/// `seized`/`blockpage` from matched fingerprints; `true` when any matched.
fn fingerprints(content: &ContentReport, v: &mut Verdict) -> bool {
    let mut matched = false;
    for (kind, fp) in [
        (Kind::Seized, FpKind::Seized),
        (Kind::Blockpage, FpKind::Blockpage),
    ] {
        let hits: Vec<String> = content
            .fingerprints
            .iter()
            .filter(|m| m.kind == fp)
            .map(|m| format!("fingerprint {} matched: {}", m.name, m.evidence))
            .collect();
        if !hits.is_empty() {
            v.push(kind, hits.join("; "));
            matched = true;
        }
    }
    matched
}

/// Mirror content against the main site's reference. Similarity is judged
/// whenever a reference exists; freshness only for paths whose mirror fetch
/// was judged this round against bracketing main snapshots (`parity`).
fn parity(target: &Target, content: &ContentReport, v: &mut Verdict) {
    if target.role != Role::Mirror {
        return;
    }
    let Some(p) = content.parity.as_ref() else {
        // No reference yet (first rounds, after a restart or a reload), or
        // no page parity could read: no evidence either way.
        v.unknown(CONTENT);
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
    let max_lag = target.parity.max_lag.as_secs_f64();
    let stale: Vec<_> = p
        .paths
        .iter()
        .filter(|x| x.freshness_judged && x.lag_seconds > max_lag)
        .collect();
    // Evidence of freshness needs every path judged, with a bounded lag
    // within max_lag.
    let fresh = p
        .paths
        .iter()
        .all(|x| x.freshness_judged && x.lag_upper_seconds.is_some_and(|u| u <= max_lag));
    // A page made mostly of main's own articles is a copy of main, if
    // maybe an old one: on a busy homepage an old copy is not very similar.
    let copy = p
        .paths
        .iter()
        .all(|x| x.articles_on_mirror > 0 && x.articles_shared * 2 >= x.articles_on_mirror);
    let low = p.similarity < target.parity.min_similarity;
    let mismatch = || {
        format!(
            "similarity {:.2} < {:.2} to the main site{age}; title match {}, length ratio {:.2}",
            p.similarity, target.parity.min_similarity, p.title_match, p.length_ratio
        )
    };
    if low && (!copy || fresh) {
        // A different page (or a current copy with other content) is not
        // a late copy: staleness is not judged.
        v.push(Kind::ContentMismatch, mismatch());
        v.unknown(&[Kind::ContentStale]);
        return;
    }
    let Some(worst) = stale
        .iter()
        .max_by(|a, b| a.lag_seconds.total_cmp(&b.lag_seconds))
    else {
        if low {
            // An old copy or a different page: unknown until freshness is
            // judged.
            v.unknown(CONTENT);
        } else if !fresh {
            v.unknown(&[Kind::ContentStale]);
        }
        return;
    };
    // One root cause: the lag explains a low similarity of a copy.
    let explained = if low {
        format!(
            "; similarity {:.2} < {:.2}, explained by the lag",
            p.similarity, target.parity.min_similarity
        )
    } else {
        String::new()
    };
    let missing: usize = stale.iter().map(|x| x.missing_articles).sum();
    v.push(
        Kind::ContentStale,
        format!(
            "lags the main site by {} (max {}): missing {missing} articles, oldest {}{age}{explained}",
            humantime::format_duration(Duration::from_secs(worst.lag_seconds.ceil() as u64)),
            humantime::format_duration(target.parity.max_lag),
            worst.oldest_missing.as_deref().unwrap_or("-"),
        ),
    );
}

/// Connect/TLS findings; `false` when no address can serve HTTP.
fn connect(target: &Target, report: &RoundReport, v: &mut Verdict, now: SystemTime) -> bool {
    let port = target.url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<_> = report
        .addresses
        .iter()
        .filter(|a| {
            !a.dest
                .ip()
                .is_some_and(|ip| v.suspect_addresses.contains(&ip))
        })
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
        format!("{} ({why})", a.dest)
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
                v.push(Kind::TlsInvalid, format!("{why} on {}{expiry}", a.dest));
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
                .map(|na| (na, &a.dest))
        })
        .min();
    if let Some((not_after, ip)) = earliest {
        let left = not_after.saturating_sub(timefmt::unix_secs(now));
        let warn = i64::try_from(target.settings.cert_warning.as_secs()).unwrap_or(i64::MAX);
        if left < warn {
            let days = u64::try_from(left).unwrap_or(0) / 86400;
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
                let web =
                    hop.location.starts_with("http://") || hop.location.starts_with("https://");
                let why = if web {
                    "outside the mirror's domain"
                } else {
                    "an unsupported scheme (only http and https are followed)"
                };
                offsite.push(format!(
                    "GET {} redirects ({}) to {}, {why}",
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
    let clean = offsite.is_empty() && errors.is_empty();
    if !offsite.is_empty() {
        v.push(Kind::RedirectOffsite, offsite.join("; "));
    }
    if !errors.is_empty() {
        v.push(Kind::HttpError, errors.join("; "));
    }
    clean
}

#[cfg(test)]
mod dns_tests;
#[cfg(test)]
mod evidence_tests;
#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
