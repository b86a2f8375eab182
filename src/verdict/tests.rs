//! Table-driven tests of [`evaluate`] on hand-built reports, in the style
//! of blackbox_exporter's prober tests: one row per problem kind and per
//! interaction, each asserting the exact list of findings and the exact
//! list of kinds the round could not judge.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::state::{Problem, State, Tracker};
use super::{Finding, Kind, Verdict, evaluate};
use crate::checks::RoundReport;
use crate::checks::connect::AddressReport;
use crate::checks::dns::{DnsReport, Outcome, ResolverAnswer};
use crate::checks::http::{FailStage, Hop, HttpReport};
use crate::checks::net::TcpReport;
use crate::checks::tls::{Handshake, TlsReport};
use crate::config::{ParityConfig, Role, Settings, Target};
use crate::parity::fingerprints::{FingerprintMatch, FpKind};
use crate::parity::{ContentReport, ParityReport, PathParity};

use Kind::*;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn now_s() -> i64 {
    1_800_000_000
}

fn target(role: Role) -> Target {
    let url = match role {
        Role::Main => "https://www.main.test/",
        Role::Mirror => "https://www.mirror.test/",
    };
    Target {
        site: "s".into(),
        url: url::Url::parse(url).expect("url"),
        vantage: crate::config::LOCAL_VANTAGE.into(),
        role,
        paths: vec!["/".into()],
        parity: ParityConfig {
            min_similarity: 0.6,
            max_lag: Duration::from_secs(12),
        },
        settings: Settings::default(),
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn answer(resolver: &str, outcome: Outcome, addresses: &[IpAddr]) -> ResolverAnswer {
    ResolverAnswer {
        resolver: resolver.into(),
        rcode: match outcome {
            Outcome::NxDomain => "NXDomain".into(),
            _ => "NoError".into(),
        },
        outcome,
        addresses: addresses.to_vec(),
        ttl: Some(60),
        latency_seconds: 0.001,
        error: None,
    }
}

fn tls_ok(not_after: i64) -> TlsReport {
    TlsReport {
        handshake: Handshake::Ok,
        seconds: 0.01,
        error: None,
        version: Some("TLSv1_3".into()),
        cipher: None,
        valid: true,
        validation_error: None,
        hostname_match: true,
        not_after: Some(not_after),
        chain: Vec::new(),
    }
}

fn address(last: u8, tcp: bool, tls: Option<TlsReport>) -> AddressReport {
    let good = tcp && tls.as_ref().is_some_and(|t| t.valid);
    AddressReport {
        ip: ip(last),
        resolvers: vec!["a".into()],
        tcp: TcpReport {
            ok: tcp,
            seconds: 0.001,
            stalled: false,
            error: (!tcp).then(|| "connection refused".into()),
        },
        tls,
        good,
    }
}

fn page(status: u16) -> HttpReport {
    HttpReport {
        path: "/".into(),
        ip: Some(ip(1)),
        status: Some(status),
        redirects: Vec::new(),
        final_url: "https://www.mirror.test/".into(),
        body_bytes: 1000,
        truncated: false,
        content_encoding: None,
        content_type: Some("text/html".into()),
        error: None,
        failed_stage: None,
        stalled: false,
        requested_at: now(),
        received_at: now(),
        body: bytes::Bytes::new(),
    }
}

fn parity(similarity: f64, judged: bool, lag: f64, upper: Option<f64>) -> ParityReport {
    let path = PathParity {
        path: "/".into(),
        title: "World News".into(),
        similarity,
        title_match: true,
        length_ratio: 1.0,
        missing_articles: usize::from(lag > 0.0),
        lag_seconds: lag,
        lag_upper_seconds: upper,
        oldest_missing: (lag > 0.0).then(|| "/Detail/2026/11/27/700001/x".into()),
        freshness_judged: judged,
        freshness_observed_at: judged.then(now),
        articles_on_mirror: 40,
        articles_shared: 40,
        articles_on_reference: 40,
        reference_fetched_at: now(),
        reference_age_seconds: 0.0,
    };
    ParityReport {
        mirror_title: Some(path.title.clone()),
        similarity,
        title_match: true,
        length_ratio: 1.0,
        missing_articles: path.missing_articles,
        lag_seconds: lag,
        reference_age_seconds: 0.0,
        paths: vec![path],
    }
}

/// A round's report and its content analysis, as `evaluate` takes them;
/// derefs to the report so rows edit both alike.
struct R {
    report: RoundReport,
    content: ContentReport,
}

impl std::ops::Deref for R {
    type Target = RoundReport;
    fn deref(&self) -> &RoundReport {
        &self.report
    }
}

impl std::ops::DerefMut for R {
    fn deref_mut(&mut self) -> &mut RoundReport {
        &mut self.report
    }
}

/// A round where everything worked: two agreeing resolvers, one good
/// address, a 200, and (for a mirror) an identical, judged-fresh page.
fn healthy(role: Role) -> R {
    let mut r = R {
        report: RoundReport::empty(now()),
        content: ContentReport::default(),
    };
    r.dns = DnsReport {
        looked_up: true,
        resolvers: vec![
            answer("a", Outcome::Answered, &[ip(1)]),
            answer("b", Outcome::Answered, &[ip(1)]),
        ],
        ns: None,
    };
    r.addresses = vec![address(1, true, Some(tls_ok(now_s() + 90 * 86400)))];
    r.http = vec![page(200)];
    if role == Role::Mirror {
        r.content.parity = Some(parity(0.97, true, 0.0, Some(0.0)));
    }
    r
}

/// Sets how many of the mirror's 40 articles main showed.
fn shared(r: &mut R, n: usize) {
    if let Some(p) = r.content.parity.as_mut() {
        p.paths[0].articles_shared = n;
    }
}

fn fingerprint(kind: FpKind) -> FingerprintMatch {
    FingerprintMatch {
        name: "fp".into(),
        kind,
        evidence: "banner".into(),
    }
}

type Row = (
    &'static str,
    Role,
    fn(&mut R, &mut Target),
    &'static [Kind],
    &'static [Kind],
);

/// Kinds a round that stopped at DNS cannot judge.
const AFTER_DNS: &[Kind] = &[
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
];
const AFTER_CONNECT: &[Kind] = &[
    HttpError,
    RedirectOffsite,
    Seized,
    Blockpage,
    ContentMismatch,
    ContentStale,
];
const CONTENT: &[Kind] = &[ContentMismatch, ContentStale];

const ROWS: &[Row] = &[
    ("healthy main", Role::Main, |_, _| {}, &[], &[]),
    ("healthy mirror", Role::Mirror, |_, _| {}, &[], &[]),
    (
        "nxdomain everywhere",
        Role::Mirror,
        |r, _| {
            r.dns.resolvers = vec![
                answer("a", Outcome::NxDomain, &[]),
                answer("b", Outcome::NxDomain, &[]),
            ];
            r.addresses.clear();
            r.http.clear();
        },
        &[DnsFailure],
        AFTER_DNS,
    ),
    (
        "every resolver silent",
        Role::Mirror,
        |r, _| {
            r.dns.resolvers = vec![
                answer("a", Outcome::Timeout, &[]),
                answer("b", Outcome::Unreachable, &[]),
            ];
            r.addresses.clear();
            r.http.clear();
        },
        &[DnsFailure],
        AFTER_DNS,
    ),
    (
        "one resolver says NXDOMAIN",
        Role::Main,
        |r, _| {
            r.dns.resolvers[1] = answer("b", Outcome::NxDomain, &[]);
        },
        &[DnsInconsistent],
        &[],
    ),
    (
        "a resolver timing out is not tampering",
        Role::Mirror,
        |r, _| {
            r.dns.resolvers[1] = answer("b", Outcome::Timeout, &[]);
        },
        &[],
        &[],
    ),
    (
        "tampered answer counts for dns_inconsistent only",
        Role::Main,
        |r, _| {
            r.dns.resolvers[1] = answer("b", Outcome::Answered, &[ip(4)]);
            let mut hijack = address(4, true, Some(tls_ok(now_s() + 86400)));
            hijack.good = false;
            if let Some(t) = hijack.tls.as_mut() {
                t.valid = false;
                t.validation_error = Some("certificate not trusted".into());
            }
            r.addresses.push(hijack);
        },
        &[DnsInconsistent],
        &[],
    ),
    (
        "no address accepts TCP",
        Role::Mirror,
        |r, _| {
            r.addresses = vec![address(1, false, None), address(2, false, None)];
            r.http.clear();
        },
        &[ConnectFailure],
        AFTER_CONNECT,
    ),
    (
        "one dead address of two",
        Role::Main,
        |r, _| {
            r.addresses.push(address(2, false, None));
        },
        &[PartialOutage],
        &[],
    ),
    (
        "expired certificate everywhere",
        Role::Mirror,
        |r, _| {
            let mut t = tls_ok(now_s() - 86400);
            t.valid = false;
            t.validation_error = Some("certificate expired".into());
            r.addresses = vec![address(1, true, Some(t))];
            r.http.clear();
        },
        &[TlsInvalid],
        AFTER_CONNECT,
    ),
    (
        "handshake stalls everywhere (blackhole)",
        Role::Mirror,
        |r, _| {
            let mut t = tls_ok(0);
            t.handshake = Handshake::Stalled;
            t.valid = false;
            t.not_after = None;
            t.error = Some("no answer".into());
            r.addresses = vec![address(1, true, Some(t))];
            r.http.clear();
        },
        &[HttpError],
        &[
            RedirectOffsite,
            Seized,
            Blockpage,
            ContentMismatch,
            ContentStale,
        ],
    ),
    (
        "certificate expiring in 3 days",
        Role::Main,
        |r, _| {
            r.addresses = vec![address(1, true, Some(tls_ok(now_s() + 3 * 86400)))];
        },
        &[TlsExpiring],
        &[],
    ),
    (
        "an absurd cert_warning never wraps",
        Role::Main,
        |r, t| {
            t.settings.cert_warning = Duration::from_secs(u64::MAX);
            r.addresses = vec![address(1, true, Some(tls_ok(now_s() + 19 * 86400)))];
        },
        &[TlsExpiring],
        &[],
    ),
    (
        "HTTP 503",
        Role::Mirror,
        |r, _| r.http = vec![page(503)],
        &[HttpError],
        CONTENT,
    ),
    (
        "503 is accepted when expected",
        Role::Main,
        |r, t| {
            t.settings.expect_status = vec![503];
            r.http = vec![page(503)];
        },
        &[],
        &[],
    ),
    (
        "200 outside expect_status",
        Role::Main,
        |_, t| t.settings.expect_status = vec![204],
        &[HttpError],
        &[],
    ),
    (
        "response headers never came",
        Role::Mirror,
        |r, _| {
            let mut p = page(200);
            p.status = None;
            p.error = Some("no response".into());
            p.failed_stage = Some(FailStage::ResponseHeaders);
            p.stalled = true;
            r.http = vec![p];
        },
        &[HttpError],
        &[Seized, Blockpage, ContentMismatch, ContentStale],
    ),
    (
        "mirror redirects to the main domain: one finding",
        Role::Mirror,
        |r, _| {
            let mut p = page(301);
            p.redirects = vec![Hop {
                url: "https://www.mirror.test/".into(),
                status: 301,
                location: "https://www.main.test/".into(),
                offsite: true,
            }];
            r.http = vec![p];
            r.content.parity = None;
        },
        &[RedirectOffsite],
        CONTENT,
    ),
    (
        "main may redirect anywhere",
        Role::Main,
        |r, _| {
            r.http[0].redirects = vec![Hop {
                url: "https://www.main.test/".into(),
                status: 302,
                location: "https://cdn.other.test/".into(),
                offsite: true,
            }];
        },
        &[],
        &[],
    ),
    (
        "seizure banner served with 403",
        Role::Mirror,
        |r, _| {
            r.http = vec![page(403)];
            r.content.parity = None;
            r.content.fingerprints = vec![fingerprint(FpKind::Seized)];
        },
        &[Seized],
        &[],
    ),
    (
        "blockpage never also raises content_mismatch",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.0, true, 0.0, Some(0.0)));
            r.content.fingerprints = vec![fingerprint(FpKind::Blockpage)];
        },
        &[Blockpage],
        &[],
    ),
    (
        "seizure NS with NXDOMAIN: seized wins",
        Role::Mirror,
        |r, _| {
            r.dns.resolvers = vec![answer("a", Outcome::NxDomain, &[])];
            r.addresses.clear();
            r.http.clear();
            r.content.fingerprints = vec![fingerprint(FpKind::Seized)];
        },
        &[Seized],
        &[],
    ),
    (
        "unrelated page",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.05, true, 0.0, Some(0.0)));
            shared(r, 0);
        },
        &[ContentMismatch],
        &[ContentStale],
    ),
    (
        "stale and mismatched, not a copy of main: mismatch only",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.1, true, 600.0, Some(700.0)));
            shared(r, 3);
        },
        &[ContentMismatch],
        &[ContentStale],
    ),
    (
        "an old copy of main: the lag explains the low similarity",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.45, true, 600.0, Some(700.0)));
            shared(r, 30);
        },
        &[ContentStale],
        &[],
    ),
    (
        "a current copy with other content is a mismatch",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.3, true, 0.0, Some(0.0)));
            shared(r, 40);
        },
        &[ContentMismatch],
        &[ContentStale],
    ),
    (
        "an old copy or other content: unknown before freshness is judged",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.45, false, 0.0, None));
            shared(r, 30);
        },
        &[],
        CONTENT,
    ),
    (
        "stale mirror",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.95, true, 300.0, Some(305.0)));
        },
        &[ContentStale],
        &[],
    ),
    (
        "stale by the lower bound even when unbounded above",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.95, true, 300.0, None));
        },
        &[ContentStale],
        &[],
    ),
    (
        "behind, but within max_lag",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.95, true, 5.0, Some(11.0)));
        },
        &[],
        &[],
    ),
    (
        "lag may exceed max_lag: no evidence",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.95, true, 5.0, Some(20.0)));
        },
        &[],
        &[ContentStale],
    ),
    (
        "missing article with no clock bound: no evidence",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.95, true, 5.0, None));
        },
        &[],
        &[ContentStale],
    ),
    (
        "no later main snapshot yet: no freshness evidence",
        Role::Mirror,
        |r, _| {
            r.content.parity = Some(parity(0.95, false, 300.0, Some(305.0)));
        },
        &[],
        &[ContentStale],
    ),
    (
        "no reference yet (restart, reload): no content evidence",
        Role::Mirror,
        |r, _| {
            r.content.parity = None;
        },
        &[],
        CONTENT,
    ),
    (
        "content kinds never apply to the main site",
        Role::Main,
        |r, _| {
            r.content.parity = None;
        },
        &[],
        &[],
    ),
    (
        "round cut off by the backstop",
        Role::Mirror,
        |r, _| {
            r.report = RoundReport::aborted(now(), Duration::from_secs(11));
        },
        &[HttpError],
        &[
            DnsFailure,
            DnsInconsistent,
            ConnectFailure,
            PartialOutage,
            TlsInvalid,
            TlsExpiring,
            RedirectOffsite,
            Seized,
            Blockpage,
            ContentMismatch,
            ContentStale,
        ],
    ),
];

fn kinds(v: &Verdict) -> Vec<Kind> {
    v.findings.iter().map(|f| f.kind).collect()
}

#[test]
fn evaluate_table() {
    let mut failures = Vec::new();
    for (name, role, edit, want, undetermined) in ROWS {
        let mut t = target(*role);
        let mut r = healthy(*role);
        edit(&mut r, &mut t);
        let v = evaluate(&t, &r.report, &r.content, now());
        if kinds(&v) != *want || v.undetermined != *undetermined {
            failures.push(format!(
                "{name}:\n  findings {:?} (want {want:?})\n  undetermined {:?} (want {undetermined:?})",
                v.findings, v.undetermined
            ));
        }
        for f in &v.findings {
            assert!(!f.detail.is_empty(), "{name}: {:?} has no detail", f.kind);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn details_name_their_evidence() {
    let t = target(Role::Mirror);
    let mut r = healthy(Role::Mirror);
    r.content.parity = Some(parity(0.95, true, 26.0, Some(30.0)));
    let v = evaluate(&t, &r.report, &r.content, now());
    assert_eq!(
        v.findings,
        vec![Finding {
            kind: ContentStale,
            detail: "lags the main site by 26s (max 12s): missing 1 articles, oldest /Detail/2026/11/27/700001/x".into(),
        }]
    );
    let mut r = healthy(Role::Main);
    r.addresses.push(address(2, false, None));
    let v = evaluate(&target(Role::Main), &r.report, &r.content, now());
    assert_eq!(
        v.findings[0].detail,
        "1 of 2 addresses failing: 127.0.0.2 (connection refused)"
    );
}

#[test]
fn internal_error_judges_nothing_else() {
    let v = Verdict::internal_error("byte index 4 is not a char boundary");
    assert_eq!(kinds(&v), vec![InternalError]);
    assert!(v.findings[0].detail.contains("byte index 4"));
    let mut all: Vec<Kind> = Kind::ALL.to_vec();
    all.retain(|k| *k != InternalError);
    assert_eq!(v.undetermined, all);
}

fn raised(t: &Tracker) -> Vec<Kind> {
    t.problems().iter().map(|p| p.kind).collect()
}

/// After a restart the raised `content_stale` comes back from the store;
/// rounds that cannot judge freshness must not clear it, and it stays
/// raised once they can.
#[test]
fn no_evidence_after_a_restart_never_clears() {
    let m = target(Role::Mirror);
    let mut tracker = Tracker::new(now());
    tracker.restore(
        vec![Problem {
            kind: ContentStale,
            detail: "lags".into(),
            since: now(),
        }],
        2,
        now(),
    );
    let mut no_reference = healthy(Role::Mirror);
    no_reference.content.parity = None;
    let mut not_bracketed = healthy(Role::Mirror);
    not_bracketed.content.parity = Some(parity(0.95, false, 0.0, Some(0.0)));
    let mut stale = healthy(Role::Mirror);
    stale.content.parity = Some(parity(0.95, true, 300.0, Some(305.0)));
    for r in [
        &no_reference,
        &no_reference,
        &not_bracketed,
        &not_bracketed,
        &stale,
        &not_bracketed,
    ] {
        let v = evaluate(&m, &r.report, &r.content, now());
        let c = tracker.apply(&v.findings, &v.undetermined, 2, 2, now());
        assert!(c.cleared.is_empty() && c.raised.is_empty(), "{c:?}");
        assert_eq!(raised(&tracker), vec![ContentStale]);
        assert_eq!(tracker.state(), State::Degraded);
    }
    // Real evidence of freshness clears it after success_threshold rounds.
    let fresh = healthy(Role::Mirror);
    let v = evaluate(&m, &fresh.report, &fresh.content, now());
    assert!(
        tracker
            .apply(&v.findings, &v.undetermined, 2, 2, now())
            .cleared
            .is_empty()
    );
    let v = evaluate(&m, &fresh.report, &fresh.content, now());
    assert_eq!(
        tracker
            .apply(&v.findings, &v.undetermined, 2, 2, now())
            .cleared,
        vec![ContentStale]
    );
}

/// An outage hides content: `content_stale` stays raised under a
/// `dns_failure` rather than being resolved and fired again later.
#[test]
fn an_earlier_stage_failing_keeps_later_problems() {
    let m = target(Role::Mirror);
    let mut tracker = Tracker::new(now());
    let mut stale = healthy(Role::Mirror);
    stale.content.parity = Some(parity(0.95, true, 300.0, Some(305.0)));
    let mut nx = healthy(Role::Mirror);
    nx.dns.resolvers = vec![answer("a", Outcome::NxDomain, &[])];
    nx.http.clear();
    nx.addresses.clear();
    for r in [&stale, &stale] {
        let v = evaluate(&m, &r.report, &r.content, now());
        tracker.apply(&v.findings, &v.undetermined, 2, 1, now());
    }
    assert_eq!(raised(&tracker), vec![ContentStale]);
    for _ in 0..3 {
        let v = evaluate(&m, &nx.report, &nx.content, now());
        tracker.apply(&v.findings, &v.undetermined, 2, 1, now());
    }
    assert_eq!(raised(&tracker), vec![DnsFailure, ContentStale]);
    assert_eq!(tracker.state(), State::Down);
}

/// No evidence never raises either: a stale finding, then rounds that
/// cannot judge, then another stale finding is two bad rounds, not three.
#[test]
fn no_evidence_neither_raises_nor_breaks_a_streak() {
    let m = target(Role::Mirror);
    let mut tracker = Tracker::new(now());
    let mut stale = healthy(Role::Mirror);
    stale.content.parity = Some(parity(0.95, true, 300.0, Some(305.0)));
    let mut unknown = healthy(Role::Mirror);
    unknown.content.parity = Some(parity(0.95, false, 300.0, Some(305.0)));
    let mut feed = |r: &R| {
        let v = evaluate(&m, &r.report, &r.content, now());
        tracker.apply(&v.findings, &v.undetermined, 3, 2, now())
    };
    feed(&stale);
    for _ in 0..5 {
        assert!(feed(&unknown).raised.is_empty());
    }
    feed(&stale);
    assert_eq!(feed(&stale).raised, vec![ContentStale]);
}
