//! Table-driven tests of [`evaluate`] on hand-built reports, in the style
//! of blackbox_exporter's prober tests: one row per problem kind and per
//! interaction, each asserting the exact list of findings and the exact
//! list of kinds the round could not judge.

use std::time::Duration;

use super::fixtures::*;
use super::{Finding, Kind, Verdict, evaluate};
use crate::checks::RoundReport;
use crate::checks::dns::Outcome;
use crate::checks::http::{FailStage, Hop};
use crate::checks::tls::Handshake;
use crate::config::{Role, Target};
use crate::parity::fingerprints::FpKind;

use Kind::*;

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
            std::sync::Arc::make_mut(&mut t.settings).cert_warning = Duration::from_secs(u64::MAX);
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
            std::sync::Arc::make_mut(&mut t.settings).expect_status = vec![503];
            r.http = vec![page(503)];
        },
        &[],
        &[],
    ),
    (
        "200 outside expect_status",
        Role::Main,
        |_, t| std::sync::Arc::make_mut(&mut t.settings).expect_status = vec![204],
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
