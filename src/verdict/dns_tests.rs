//! The DNS judgement on hand-built rounds: bogons, and how a disagreement
//! between plain and encrypted resolvers is worded. Exact finding lists.

use std::net::IpAddr;

use super::Kind::*;
use super::fixtures::{R, address, answer, healthy, ip, now, target, tls_ok};
use super::{Kind, Verdict, evaluate};
use crate::checks::dns::{Bogon, Outcome, ResolverAnswer, Transport};
use crate::config::Role;

fn judge(r: &R) -> Verdict {
    evaluate(&target(Role::Main), &r.report, &r.content, now())
}

fn kinds(v: &Verdict) -> Vec<Kind> {
    v.findings.iter().map(|f| f.kind).collect()
}

fn bogon(a: &mut ResolverAnswer, ip: IpAddr, range: &'static str) {
    a.addresses.push(ip);
    a.bogons.push(Bogon { ip, range });
}

fn private() -> IpAddr {
    "10.10.34.34".parse().expect("ip")
}

#[test]
fn a_bogon_beside_the_real_address_is_evidence_when_another_resolver_has_none() {
    let mut r = healthy(Role::Main);
    bogon(&mut r.dns.resolvers[1], private(), "private");
    let v = judge(&r);
    assert_eq!(kinds(&v), vec![DnsInconsistent]);
    assert_eq!(
        v.findings[0].detail,
        "b answered 127.0.0.1, 10.10.34.34 (bogon: private) while a returned 127.0.0.1"
    );
    assert_eq!(v.suspect_addresses, vec![private()]);
    assert!(!v.dns_consistent);
}

#[test]
fn a_bogon_every_resolver_returns_is_no_disagreement() {
    let mut r = healthy(Role::Main);
    for i in 0..2 {
        bogon(&mut r.dns.resolvers[i], private(), "private");
    }
    let v = judge(&r);
    assert_eq!(kinds(&v), vec![], "the site's own answer, not a tamperer's");
    assert!(v.dns_consistent);
}

#[test]
fn plain_injection_against_doh_names_the_encrypted_side() {
    let mut r = healthy(Role::Main);
    r.dns.resolvers[0] = answer("192.0.2.53", Outcome::Answered, &[]);
    bogon(&mut r.dns.resolvers[0], private(), "private");
    r.dns.resolvers[1] = answer("https://127.0.0.1/dns-query", Outcome::Answered, &[ip(1)]);
    r.dns.resolvers[1].transport = Transport::Https;
    let v = judge(&r);
    assert_eq!(kinds(&v), vec![DnsInconsistent]);
    assert_eq!(
        v.findings[0].detail,
        "plain 192.0.2.53 answered 10.10.34.34 (bogon: private; no valid TLS there); \
         DoH https://127.0.0.1/dns-query answered 127.0.0.1: on-path tampering likely"
    );
}

#[test]
fn plain_nxdomain_against_dot_names_the_encrypted_side() {
    let mut r = healthy(Role::Main);
    r.dns.resolvers[0] = answer("192.0.2.53", Outcome::NxDomain, &[]);
    r.dns.resolvers[1].transport = Transport::Tls;
    let v = judge(&r);
    assert_eq!(kinds(&v), vec![DnsInconsistent]);
    assert_eq!(
        v.findings[0].detail,
        "plain 192.0.2.53 answered NXDOMAIN; DoT b answered 127.0.0.1: on-path tampering likely"
    );
}

#[test]
fn an_encrypted_resolver_disagreeing_with_plain_ones_is_said_so() {
    let mut r = healthy(Role::Main);
    r.dns.resolvers[1] = answer("tls://127.0.0.9#dns.test", Outcome::Answered, &[ip(4)]);
    r.dns.resolvers[1].transport = Transport::Tls;
    let mut hijack = address(4, true, Some(tls_ok(0)));
    hijack.good = false;
    r.addresses.push(hijack);
    let v = judge(&r);
    assert_eq!(kinds(&v), vec![DnsInconsistent]);
    assert_eq!(
        v.findings[0].detail,
        "DoT tls://127.0.0.9#dns.test answered 127.0.0.4 (no valid TLS there) while plain a returned 127.0.0.1"
    );
}

#[test]
fn a_failed_resolver_alone_gives_dns_failure_with_its_reason() {
    let mut r = healthy(Role::Main);
    let mut dot = answer("tls://127.0.0.9#dns.test", Outcome::Unreachable, &[]);
    dot.error =
        Some("certificate not trusted for dns.test (unknown issuer) at 127.0.0.9:853".into());
    r.dns.resolvers = vec![dot];
    r.addresses.clear();
    r.http.clear();
    let v = judge(&r);
    assert_eq!(kinds(&v), vec![DnsFailure]);
    assert_eq!(
        v.findings[0].detail,
        "no resolver returned an address: tls://127.0.0.9#dns.test unreachable \
         (certificate not trusted for dns.test (unknown issuer) at 127.0.0.9:853)"
    );
}
