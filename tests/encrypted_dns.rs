//! Encrypted DNS end to end, one `probe` round per case against the
//! world's DoT and DoH servers (hickory-server for DoT and HTTP/2 DoH, a
//! hand-made HTTP/1.1-only DoH), all with certificates from the world's
//! private CA given as `ca_file`: sites resolved only through an encrypted
//! resolver, resolver failures that say why, and a plain resolver injecting
//! a bogon while DoH answers the truth. Loopback only.

use std::sync::OnceLock;
use std::time::Duration;

use mirrorwatch::checks::dns::Outcome;
use mirrorwatch::checks::dns::{ResolverAnswer, Transport};
use mirrorwatch::checks::dns_enc::Reason;
use mirrorwatch::config::{Settings, validate_resolver};
use mirrorwatch::probe::{ProbeResult, probe};
use mirrorwatch::verdict::Kind;
use mirrorwatch::verdict::state::State;
use mirrorwatch::world::resolvers::DNS_HOST;
use mirrorwatch::world::{PUBLIC_BOGON, PUBLIC_HOST};

mod common;
use common::{Env, start_world};

/// One world for the whole binary (the shared test world of `common`).
fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        start_world()
    })
}

/// One probe of `host` on the world's HTTPS port through `resolvers`.
fn run(host: &str, resolvers: &[String], tweak: impl FnOnce(&mut Settings)) -> ProbeResult {
    let e = env();
    let mut settings = Settings {
        resolvers: resolvers
            .iter()
            .map(|r| validate_resolver(r).expect("resolver"))
            .collect(),
        ca_file: Some(e.ca_file.clone().into()),
        timeout: Duration::from_secs(3),
        ..Settings::default()
    };
    tweak(&mut settings);
    let url = url::Url::parse(&e.world.url(host)).expect("url");
    e.rt.block_on(probe(url, None, settings, None, None))
        .expect("probe")
}

fn kinds(r: &ProbeResult) -> Vec<Kind> {
    r.verdict.findings.iter().map(|f| f.kind).collect()
}

fn answer(r: &ProbeResult, i: usize) -> &ResolverAnswer {
    &r.report.dns.resolvers[i]
}

fn plain() -> String {
    env().world.dns.to_string()
}

const HEALTHY: &str = "www.healthy.test";

#[test]
fn a_site_resolved_only_through_dot_is_up() {
    let r = run(HEALTHY, &[env().world.encrypted.dot_spec()], |_| {});
    assert_eq!(kinds(&r), vec![], "{:?}", r.verdict.findings);
    assert_eq!(r.state, State::Up);
    let a = answer(&r, 0);
    assert_eq!(a.transport, Transport::Tls);
    assert_eq!(a.outcome, Outcome::Answered, "{:?}", a.error);
    assert_eq!(
        a.addresses,
        vec!["127.0.0.1".parse::<std::net::IpAddr>().expect("ip")]
    );
}

#[test]
fn a_site_resolved_only_through_doh_over_http2_is_up() {
    let r = run(HEALTHY, &[env().world.encrypted.doh_spec()], |_| {});
    assert_eq!(kinds(&r), vec![], "{:?}", r.verdict.findings);
    assert_eq!(r.state, State::Up);
    assert_eq!(answer(&r, 0).transport, Transport::Https);
    assert_eq!(
        answer(&r, 0).outcome,
        Outcome::Answered,
        "{:?}",
        answer(&r, 0).error
    );
}

#[test]
fn doh_over_http1_only_works_by_address_and_by_pinned_host_name() {
    let e = env();
    let by_ip = format!("https://{}/dns-query", e.world.encrypted.doh_h1);
    let r = run(HEALTHY, &[by_ip], |_| {});
    assert_eq!(kinds(&r), vec![], "{:?}", r.verdict.findings);
    assert_eq!(
        answer(&r, 0).outcome,
        Outcome::Answered,
        "{:?}",
        answer(&r, 0).error
    );
    // Named by host: resolved through the plain resolver, then pinned.
    let by_name = format!(
        "https://{DNS_HOST}:{}/dns-query",
        e.world.encrypted.doh_h1.port()
    );
    let r = run(HEALTHY, &[plain(), by_name], |_| {});
    assert_eq!(kinds(&r), vec![], "{:?}", r.verdict.findings);
    let doh = answer(&r, 1);
    assert_eq!(doh.transport, Transport::Https);
    assert_eq!(doh.outcome, Outcome::Answered, "{:?}", doh.error);
}

#[test]
fn an_untrusted_dot_certificate_is_a_resolver_fact_with_its_reason() {
    let e = env();
    let untrusted = format!("tls://{}#{DNS_HOST}", e.world.encrypted.dot_untrusted);
    let r = run(HEALTHY, &[plain(), untrusted.clone()], |_| {});
    assert_eq!(kinds(&r), vec![], "a failing resolver is no site problem");
    assert_eq!(r.state, State::Up);
    let dot = answer(&r, 1);
    assert_eq!(dot.outcome, Outcome::Unreachable);
    assert_eq!(dot.reason, Some(Reason::TlsCertificate));
    let why = dot.error.as_deref().unwrap_or_default();
    assert!(
        why.contains("certificate not trusted for dns.test"),
        "{why}"
    );
    assert_eq!(
        r.json()["report"]["dns"]["resolvers"][1]["reason"],
        "tls_certificate"
    );
    // The daemon's trust reaches DoT: the same server name with a name
    // the certificate does not carry is refused for that reason.
    let wrong = format!("tls://{}#other.test", e.world.encrypted.dot);
    let r = run(HEALTHY, &[plain(), wrong], |_| {});
    let why = answer(&r, 1).error.clone().unwrap_or_default();
    assert!(
        why.contains("certificate not valid for other.test"),
        "{why}"
    );
    // Alone, the untrusted resolver leaves no address: dns_failure, and
    // the detail carries the reason.
    let r = run(HEALTHY, &[untrusted], |_| {});
    assert_eq!(kinds(&r), vec![Kind::DnsFailure]);
    assert!(
        r.verdict.findings[0]
            .detail
            .contains("certificate not trusted"),
        "{}",
        r.verdict.findings[0].detail
    );
}

#[test]
fn doh_answering_500_or_html_is_a_resolver_fact_with_its_reason() {
    let e = env();
    let cases = [
        (
            e.world.encrypted.doh_500,
            Reason::HttpStatus,
            "DoH answered HTTP 500",
        ),
        (
            e.world.encrypted.doh_html,
            Reason::ContentType,
            "reply was not application/dns-message (text/html",
        ),
    ];
    for (addr, reason, text) in cases {
        let doh = format!("https://{addr}/dns-query");
        let r = run(HEALTHY, &[plain(), doh], |_| {});
        assert_eq!(kinds(&r), vec![], "{text}: {:?}", r.verdict.findings);
        assert_eq!(r.state, State::Up);
        let a = answer(&r, 1);
        assert_eq!(a.outcome, Outcome::Unreachable, "{text}");
        assert_eq!(a.reason, Some(reason), "{text}");
        let why = a.error.as_deref().unwrap_or_default();
        assert!(why.contains(text), "{why}");
    }
}

fn public(s: &mut Settings) {
    s.public_suffixes = vec!["pub.test".into()];
    s.bogon_exempt = vec!["127.0.0.1/32".parse().expect("net")];
}

#[test]
fn a_plain_resolver_injecting_a_bogon_against_doh_is_named_as_tampering() {
    let e = env();
    let tamperer = e.world.tamper_dns.to_string();
    let r = run(
        PUBLIC_HOST,
        &[tamperer.clone(), e.world.encrypted.doh_spec()],
        public,
    );
    assert_eq!(
        kinds(&r),
        vec![Kind::DnsInconsistent],
        "{:?}",
        r.verdict.findings
    );
    assert_eq!(r.state, State::Degraded);
    let bogons = &answer(&r, 0).bogons;
    assert_eq!(bogons.len(), 1);
    assert_eq!((bogons[0].ip, bogons[0].range), (PUBLIC_BOGON, "loopback"));
    assert!(answer(&r, 1).bogons.is_empty(), "127.0.0.1 is exempt here");
    let detail = &r.verdict.findings[0].detail;
    let want = format!(
        "plain {tamperer} answered {PUBLIC_BOGON} (bogon: loopback; no valid TLS there); \
         DoH {} answered 127.0.0.1: on-path tampering likely",
        e.world.encrypted.doh_spec()
    );
    assert_eq!(detail, &want);
    assert_eq!(r.verdict.suspect_addresses, vec![PUBLIC_BOGON]);
    // Under a suffix nobody declared public, the same answer is no bogon:
    // it still disagrees (no valid TLS there), without the bogon mark.
    let r = run(
        PUBLIC_HOST,
        &[tamperer, e.world.encrypted.doh_spec()],
        |_| {},
    );
    assert_eq!(kinds(&r), vec![Kind::DnsInconsistent]);
    assert!(answer(&r, 0).bogons.is_empty());
    assert!(!r.verdict.findings[0].detail.contains("bogon"));
}

#[test]
fn a_poisoned_pin_for_a_doh_host_fails_on_the_certificate_not_on_the_site() {
    let e = env();
    // Through the tampering resolver alone, www.tampered.test pins to the
    // hijacker (127.0.0.4), whose certificate is self-signed.
    let poisoned = format!("https://www.tampered.test:{}/dns-query", e.world.port);
    let tamperer = e.world.tamper_dns.to_string();
    let r = run(HEALTHY, &[tamperer, poisoned], |_| {});
    assert_eq!(kinds(&r), vec![], "{:?}", r.verdict.findings);
    let doh = answer(&r, 1);
    assert_eq!(doh.outcome, Outcome::Unreachable);
    let why = doh.error.as_deref().unwrap_or_default();
    assert_eq!(doh.reason, Some(Reason::TlsCertificate), "{why}");
    assert!(
        why.contains("certificate not trusted for www.tampered.test"),
        "{why}"
    );
    assert!(doh.addresses.is_empty(), "no address from a poisoned pin");
}
