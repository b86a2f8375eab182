//! The DNS judgement: `dns_failure` when no resolver gave an address,
//! `dns_inconsistent` when resolvers disagree (SPEC section 3), and which
//! addresses only a disagreeing answer carried (the later stages leave
//! those alone).
//!
//! An answer disagrees when it is an error code while others answer; when
//! it shares no address with the others and none of its addresses
//! completes a valid handshake; or when it carries a bogon (an address in a
//! special-purpose range, for a public name) while another resolver's
//! answer has none. When a plain resolver disagrees with an encrypted one,
//! the detail says which side is which: the encrypted answer cannot have
//! been forged on the path, so on-path tampering is likely.

use std::collections::HashSet;
use std::net::IpAddr;

use super::{Kind, Verdict};
use crate::checks::RoundReport;
use crate::checks::dns::{Outcome, ResolverAnswer};

/// DNS findings; `false` when the address cannot be reached at all.
pub(super) fn judge(report: &RoundReport, v: &mut Verdict) -> bool {
    let answers = &report.dns.resolvers;
    let answered: Vec<&ResolverAnswer> = answers
        .iter()
        .filter(|a| a.outcome == Outcome::Answered)
        .collect();
    if answered.is_empty() {
        let why: Vec<String> = answers
            .iter()
            .map(|a| {
                let reason = a
                    .error
                    .as_deref()
                    .filter(|_| !a.outcome.responded())
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                format!(
                    "{} {}{reason}",
                    a.resolver,
                    outcome_text(&a.outcome, &a.rcode)
                )
            })
            .collect();
        v.push(
            Kind::DnsFailure,
            format!("no resolver returned an address: {}", why.join(", ")),
        );
        return false;
    }
    let mut evidence = Vec::new();
    let first_encrypted = answered
        .iter()
        .find(|a| a.transport.encrypted())
        .unwrap_or(&answered[0]);
    for a in answers
        .iter()
        .filter(|a| a.outcome != Outcome::Answered && a.outcome.responded())
    {
        evidence.push(disagreement(
            a,
            &outcome_text(&a.outcome, &a.rcode),
            first_encrypted,
        ));
    }
    let good: HashSet<IpAddr> = report
        .addresses
        .iter()
        .filter(|a| a.good)
        .filter_map(|a| a.dest.ip())
        .collect();
    let flagged: Vec<usize> = (0..answered.len())
        .filter(|&i| disagrees(&answered, i, &good))
        .collect();
    if flagged.len() < answered.len() {
        let agreeing: Vec<&ResolverAnswer> = answered
            .iter()
            .enumerate()
            .filter(|(j, _)| !flagged.contains(j))
            .map(|(_, a)| *a)
            .collect();
        let witness = agreeing
            .iter()
            .find(|a| a.transport.encrypted())
            .or(agreeing.first())
            .copied();
        for &i in &flagged {
            let a = answered[i];
            let mut tags = Vec::new();
            if !a.bogons.is_empty() {
                let mut ranges: Vec<&str> = a.bogons.iter().map(|b| b.range).collect();
                ranges.dedup();
                tags.push(format!("bogon: {}", ranges.join(", ")));
            }
            if !a.addresses.iter().any(|ip| good.contains(ip)) {
                tags.push("no valid TLS there".to_string());
            }
            let what = format!("{} ({})", join_ips(&a.addresses), tags.join("; "));
            if let Some(w) = witness {
                evidence.push(disagreement(a, &what, w));
            }
        }
        let trusted: HashSet<IpAddr> = agreeing
            .iter()
            .flat_map(|o| o.addresses.iter().copied())
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

/// Whether `answered[i]` disagrees with the others: it shares no address
/// with them and none of its addresses completed a valid handshake, or it
/// carries a bogon while another answer carries none.
fn disagrees(answered: &[&ResolverAnswer], i: usize, good: &HashSet<IpAddr>) -> bool {
    let a = answered[i];
    let others: Vec<&&ResolverAnswer> = answered
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, o)| o)
        .collect();
    let theirs: HashSet<IpAddr> = others
        .iter()
        .flat_map(|o| o.addresses.iter().copied())
        .collect();
    let disjoint = !theirs.is_empty() && a.addresses.iter().all(|ip| !theirs.contains(ip));
    let unproven = !a.addresses.iter().any(|ip| good.contains(ip));
    let bogon = !a.bogons.is_empty() && others.iter().any(|o| o.bogons.is_empty());
    (disjoint && unproven) || bogon
}

/// "`a` answered `what` while `b` returned ...", naming the sides when one
/// is encrypted and the other plain.
fn disagreement(a: &ResolverAnswer, what: &str, b: &ResolverAnswer) -> String {
    let plain_vs_encrypted = !a.transport.encrypted() && b.transport.encrypted();
    if plain_vs_encrypted {
        format!(
            "plain {} answered {what}; {} {} answered {}: on-path tampering likely",
            a.resolver,
            b.transport.label(),
            b.resolver,
            join_ips(&b.addresses)
        )
    } else if a.transport.encrypted() && !b.transport.encrypted() {
        format!(
            "{} {} answered {what} while plain {} returned {}",
            a.transport.label(),
            a.resolver,
            b.resolver,
            join_ips(&b.addresses)
        )
    } else {
        format!(
            "{} answered {what} while {} returned {}",
            a.resolver,
            b.resolver,
            join_ips(&b.addresses)
        )
    }
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
