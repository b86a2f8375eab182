//! The registry stage of the verdict, first in the one-root-cause order:
//! `domain_hold` (a client or server hold, redemption, pending delete)
//! explains everything after it, `domain_expiring` is a warning beside
//! whatever else the round shows. Only what the registry said counts: a
//! domain it never answered for, or a field it left out, is not judged.

use std::time::SystemTime;

use super::{Kind, Verdict};
use crate::checks::RoundReport;
use crate::config::Target;
use crate::ground::time::unix_rfc3339;

pub(super) const REGISTRY: &[Kind] = &[Kind::DomainHold, Kind::DomainExpiring];

/// Judges the registry's facts; `false` when the domain is held (later
/// stages are explained by it).
pub(super) fn judge(
    target: &Target,
    report: &RoundReport,
    v: &mut Verdict,
    now: SystemTime,
) -> bool {
    // The stage is off (or the host is an address): nothing to judge, as
    // content kinds on a main site.
    let Some(r) = &report.registry else {
        return true;
    };
    let Some(f) = &r.facts else {
        v.unknown(REGISTRY);
        return true;
    };
    let asof = match (&r.source, r.fetched_at) {
        (Some(s), Some(at)) => format!(", per {s} as of {}", unix_rfc3339(at)),
        _ => String::new(),
    };
    match f.expiry {
        None => v.unknown(&[Kind::DomainExpiring]),
        Some(expiry) => {
            let left = expiry.saturating_sub(crate::ground::time::unix_secs(now));
            let warn = i64::try_from(target.settings.domain_warning.as_secs()).unwrap_or(i64::MAX);
            if left < warn {
                let when = if left < 0 {
                    format!(
                        "expired on {} ({} days ago)",
                        unix_rfc3339(expiry),
                        left.unsigned_abs() / 86400
                    )
                } else {
                    // Whole days, rounded up: 9.5 days left is "in 10 days".
                    format!(
                        "expires {} (in {} days)",
                        unix_rfc3339(expiry),
                        left.saturating_add(86399) / 86400
                    )
                };
                v.push(
                    Kind::DomainExpiring,
                    format!(
                        "{} {when}; warning at {} days{asof}",
                        r.domain,
                        target.settings.domain_warning.as_secs() / 86400
                    ),
                );
            }
        }
    }
    match f.holds() {
        None => {
            v.unknown(&[Kind::DomainHold]);
            true
        }
        Some(h) if h.is_empty() => true,
        Some(h) => {
            v.push(
                Kind::DomainHold,
                format!("{} has registry status {}{asof}", r.domain, h.join(", ")),
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{healthy, now, now_s, target};
    use super::super::{Kind, evaluate};
    use crate::checks::registry::{DomainFacts, Evidence, Source};
    use crate::config::Role;

    fn evidence(facts: Option<DomainFacts>) -> Evidence {
        Evidence {
            domain: "mirror.test".into(),
            facts,
            source: Some(Source::Rdap("rdap.test".into())),
            fetched_at: Some(now_s() - 60),
            ..Evidence::default()
        }
    }

    fn kinds(v: &super::Verdict) -> Vec<Kind> {
        v.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn a_hold_is_the_one_root_cause_and_explains_a_dead_address() {
        let m = target(Role::Mirror);
        let mut r = healthy(Role::Mirror);
        r.report.addresses.clear();
        r.report.http.clear();
        r.report.registry = Some(evidence(Some(DomainFacts {
            statuses: Some(vec![
                "client transfer prohibited".into(),
                "server hold".into(),
            ]),
            expiry: Some(now_s() + 400 * 86400),
            ..DomainFacts::default()
        })));
        let v = evaluate(&m, &r.report, &r.content, now());
        assert_eq!(kinds(&v), vec![Kind::DomainHold]);
        assert!(
            v.findings[0].detail.starts_with(
                "mirror.test has registry status server hold, per RDAP rdap.test as of "
            ),
            "{}",
            v.findings[0].detail
        );
        assert_eq!(v.undetermined, vec![]);
    }

    #[test]
    fn expiring_is_a_warning_beside_the_rest_and_unknown_fields_are_not_judged() {
        let m = target(Role::Mirror);
        let mut r = healthy(Role::Mirror);
        r.report.registry = Some(evidence(Some(DomainFacts {
            expiry: Some(now_s() + 10 * 86400 - 3600),
            ..DomainFacts::default()
        })));
        let v = evaluate(&m, &r.report, &r.content, now());
        assert_eq!(kinds(&v), vec![Kind::DomainExpiring]);
        assert!(
            v.findings[0]
                .detail
                .contains("(in 10 days); warning at 30 days"),
            "{}",
            v.findings[0].detail
        );
        assert_eq!(
            v.undetermined,
            vec![Kind::DomainHold],
            "statuses unknown: hold not judged"
        );

        r.report.registry = Some(evidence(Some(DomainFacts {
            statuses: Some(vec!["active".into()]),
            expiry: Some(now_s() - 3 * 86400),
            ..DomainFacts::default()
        })));
        let v = evaluate(&m, &r.report, &r.content, now());
        assert!(
            v.findings[0].detail.contains("expired on"),
            "{}",
            v.findings[0].detail
        );
        assert_eq!(v.undetermined, vec![]);
    }

    /// An expiring domain explains nothing else: the later stages are
    /// judged as always (here: an expiring certificate too).
    #[test]
    fn an_expiring_domain_hides_no_later_finding() {
        let m = target(Role::Mirror);
        let mut r = healthy(Role::Mirror);
        r.report.addresses = vec![super::super::fixtures::address(
            1,
            true,
            Some(super::super::fixtures::tls_ok(now_s() + 5 * 86400)),
        )];
        r.report.registry = Some(evidence(Some(DomainFacts {
            statuses: Some(vec!["active".into()]),
            expiry: Some(now_s() + 12 * 86400),
            ..DomainFacts::default()
        })));
        let v = evaluate(&m, &r.report, &r.content, now());
        assert_eq!(kinds(&v), vec![Kind::DomainExpiring, Kind::TlsExpiring]);
    }

    #[test]
    fn never_answered_is_no_evidence_and_off_is_nothing_to_judge() {
        let m = target(Role::Mirror);
        let mut r = healthy(Role::Mirror);
        r.report.registry = Some(evidence(None));
        let v = evaluate(&m, &r.report, &r.content, now());
        assert_eq!(kinds(&v), vec![]);
        assert_eq!(v.undetermined, vec![Kind::DomainHold, Kind::DomainExpiring]);
        r.report.registry = None;
        let v = evaluate(&m, &r.report, &r.content, now());
        assert_eq!(v.undetermined, vec![]);
    }
}
