//! No evidence is not success: rounds that cannot judge never clear and
//! never raise, fed through `evaluate` and the tracker together. Builders
//! come from `tests.rs`.

use super::Kind::*;
use super::fixtures::{R, answer, healthy, now, parity, target};
use super::state::{Problem, State, Tracker};
use super::{Kind, evaluate};
use crate::checks::dns::Outcome;
use crate::config::Role;

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

/// A vantage whose proxy failed saw nothing: the round judges nothing, so a
/// raised problem stays, an unseen address stays `unknown`, and a down
/// address does not come up.
#[test]
fn a_failed_vantage_proxy_judges_nothing_and_moves_no_state() {
    let m = target(Role::Mirror);
    let mut r = healthy(Role::Mirror);
    r.report.addresses.clear();
    r.report.http.clear();
    r.content.parity = None;
    r.report.vantage = Some(crate::checks::VantageReport {
        name: "uk".into(),
        proxy: "socks5h://127.0.0.1:1080".into(),
        dns_hidden: true,
        fault: Some("proxy socks5h://127.0.0.1:1080 unreachable: refused".into()),
    });
    let v = evaluate(&m, &r.report, &r.content, now());
    assert_eq!(v.findings, vec![]);
    assert_eq!(v.undetermined, Kind::ALL.to_vec());
    assert!(v.judged_nothing());
    let mut fresh = Tracker::new(now());
    fresh.apply(&v.findings, &v.undetermined, 1, 1, now());
    assert_eq!(fresh.state(), State::Unknown, "no evidence is not up");
    let mut down = Tracker::new(now());
    let bad = vec![super::Finding {
        kind: ConnectFailure,
        detail: "refused".into(),
    }];
    down.apply(&bad, &[], 1, 1, now());
    for _ in 0..3 {
        down.apply(&v.findings, &v.undetermined, 1, 1, now());
    }
    assert_eq!(down.state(), State::Down);
    assert_eq!(raised(&down), vec![ConnectFailure]);
}

/// Through a proxy that resolves names, DNS and partial outages are not
/// judged; everything the tunnel shows still is.
#[test]
fn a_name_resolving_proxy_hides_dns_and_partial_outage_only() {
    let m = target(Role::Mirror);
    let mut r = healthy(Role::Mirror);
    r.report.dns.looked_up = false;
    r.report.dns.resolvers.clear();
    r.report.vantage = Some(crate::checks::VantageReport {
        name: "tor".into(),
        proxy: "socks5h://127.0.0.1:9050".into(),
        dns_hidden: true,
        fault: None,
    });
    let v = evaluate(&m, &r.report, &r.content, now());
    assert_eq!(v.findings, vec![], "{:?}", v.findings);
    assert_eq!(
        v.undetermined,
        vec![DnsFailure, DnsInconsistent, PartialOutage]
    );
    r.report.addresses[0].tcp.ok = false;
    r.report.addresses[0].good = false;
    r.report.http.clear();
    let v = evaluate(&m, &r.report, &r.content, now());
    let kinds: Vec<Kind> = v.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec![ConnectFailure]);
}
