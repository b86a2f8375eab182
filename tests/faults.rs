//! The fault suite: one `probe` round against each hostile server of
//! `world::faults`, asserting the exact verdict, that the round finished
//! within its timeout (plus the backstop's second), and that memory stayed
//! bounded. Loopback only.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mirrorwatch::config::{ResolverSpec, Settings, validate_resolver};
use mirrorwatch::probe::{ProbeResult, probe};
use mirrorwatch::world::faults::{self, FaultWorld, GARBAGE_HOST, SELF_CA_HOST};

const TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BODY: u64 = 1 << 20;

struct Env {
    rt: tokio::runtime::Runtime,
    world: FaultWorld,
    ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let world = rt.block_on(FaultWorld::start()).expect("fault world");
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &world.ca_pem).expect("CA");
        Env {
            rt,
            world,
            ca_file,
            _dir: dir,
        }
    })
}

fn resolver(addr: std::net::SocketAddr) -> ResolverSpec {
    validate_resolver(&addr.to_string()).expect("resolver")
}

fn settings(e: &Env, resolvers: Vec<ResolverSpec>) -> Settings {
    Settings {
        timeout: TIMEOUT,
        resolvers,
        ca_file: Some(e.ca_file.clone()),
        max_body_bytes: MAX_BODY,
        ..Settings::default()
    }
}

/// Peak resident memory of this process, KiB.
fn peak_rss_kib() -> u64 {
    common::proc_status_kib("self", "VmHWM")
}

/// One probe; panics if it took longer than its bound.
fn run(url: &str, reference: Option<&str>, s: Settings) -> (ProbeResult, Duration) {
    let e = env();
    let url = url::Url::parse(url).expect("url");
    let reference = reference.map(|r| url::Url::parse(r).expect("url"));
    // With a reference, probe runs main, the mirror and main again.
    let rounds = if reference.is_some() { 3 } else { 1 };
    let started = Instant::now();
    let result =
        e.rt.block_on(probe(url.clone(), reference, s, None, None))
            .expect("probe runs");
    let took = started.elapsed();
    let bound = (TIMEOUT + Duration::from_secs(1)) * rounds;
    assert!(took <= bound, "{url}: took {took:?}, bound {bound:?}");
    (result, took)
}

fn kinds(r: &ProbeResult) -> Vec<&'static str> {
    r.verdict.findings.iter().map(|f| f.kind.as_str()).collect()
}

fn detail(r: &ProbeResult) -> String {
    r.verdict
        .findings
        .iter()
        .map(|f| f.detail.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn http_faults_get_exact_verdicts_in_bounded_time_and_memory() {
    let e = env();
    let honest = vec![resolver(e.world.dns)];
    let before = peak_rss_kib();
    // (host, as a mirror?, kinds, words the detail must contain)
    let rows: &[(&str, bool, &[&str], &[&str])] = &[
        ("www.healthy.fault.test", false, &[], &[]),
        ("www.nonascii.fault.test", false, &[], &[]),
        ("www.nonascii.fault.test", true, &[], &[]),
        (
            "www.silent.fault.test",
            false,
            &["http_error"],
            &["stalled at response headers"],
        ),
        (
            "www.drip.fault.test",
            false,
            &["http_error"],
            &["body transfer"],
        ),
        ("www.bomb.fault.test", false, &[], &[]),
        ("www.chunked.fault.test", false, &[], &[]),
        (
            "www.loop.fault.test",
            false,
            &["http_error"],
            &["more than 10 redirects"],
        ),
        (
            "www.ftp.fault.test",
            false,
            &["http_error"],
            &["unsupported scheme `ftp:`"],
        ),
        (
            "www.gopher.fault.test",
            false,
            &["http_error"],
            &["`gopher:`"],
        ),
        ("www.wss.fault.test", false, &["http_error"], &["`wss:`"]),
        ("www.file.fault.test", false, &["http_error"], &["`file:`"]),
        (
            "www.js.fault.test",
            false,
            &["http_error"],
            &["`javascript:`"],
        ),
        (
            "www.ftp.fault.test",
            true,
            &["redirect_offsite"],
            &["ftp://", "unsupported scheme"],
        ),
        (
            "www.wss.fault.test",
            true,
            &["redirect_offsite"],
            &["wss://"],
        ),
        (
            "www.malformed.fault.test",
            false,
            &["http_error"],
            &["response headers"],
        ),
        (
            "www.hugehead.fault.test",
            false,
            &["http_error"],
            &["response headers"],
        ),
        (
            "www.reset.fault.test",
            false,
            &["http_error"],
            &["body transfer"],
        ),
        (GARBAGE_HOST, false, &["tls_invalid"], &["handshake"]),
        (
            SELF_CA_HOST,
            false,
            &["tls_invalid"],
            &["presents a CA certificate as its own"],
        ),
    ];
    let mut failures = Vec::new();
    for (host, mirror, want, words) in rows {
        let url = e.world.url(host);
        let reference = mirror.then(|| e.world.url("www.healthy.fault.test"));
        let (r, took) = run(&url, reference.as_deref(), settings(e, honest.clone()));
        let d = detail(&r);
        if kinds(&r) != *want || !words.iter().all(|w| d.contains(w)) {
            failures.push(format!(
                "{host} (mirror: {mirror}): {:?} in {took:?}: {d}",
                kinds(&r)
            ));
        }
        for h in &r.report.http {
            assert!(
                h.body_bytes <= MAX_BODY,
                "{host}: body {} bytes",
                h.body_bytes
            );
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    let bomb = run(
        &e.world.url("www.bomb.fault.test"),
        None,
        settings(e, honest.clone()),
    )
    .0;
    assert!(
        bomb.report.http[0].truncated,
        "the bomb is cut at max_body_bytes"
    );
    assert_eq!(bomb.report.http[0].body_bytes, MAX_BODY);
    let grew = peak_rss_kib().saturating_sub(before);
    assert!(grew < 96 * 1024, "peak RSS grew by {grew} KiB");
}

/// (host, lying resolver, kinds, detail words, the liar's outcome)
type DnsRow<'a> = (
    &'a str,
    &'a ResolverSpec,
    &'a [&'a str],
    &'a [&'a str],
    &'a str,
);

#[test]
fn dns_faults_are_facts_about_the_resolver_or_exact_site_problems() {
    let e = env();
    let honest = resolver(e.world.dns);
    let fault = resolver(e.world.fault_dns);
    let udp_only = resolver(e.world.fault_dns_udp_only);
    let rows: &[DnsRow] = &[
        ("www.dns-silent.fault.test", &fault, &[], &[], "timeout"),
        (
            "www.dns-servfail.fault.test",
            &fault,
            &["dns_inconsistent"],
            &["SERVFAIL"],
            "serv_fail",
        ),
        (
            "www.dns-refused.fault.test",
            &fault,
            &["dns_inconsistent"],
            &["REFUSED"],
            "refused",
        ),
        ("www.dns-truncated.fault.test", &fault, &[], &[], "answered"),
        (
            "www.dns-truncated.fault.test",
            &udp_only,
            &[],
            &[],
            "unreachable",
        ),
        (
            "www.dns-cnameloop.fault.test",
            &fault,
            &["dns_inconsistent"],
            &["no address"],
            "no_data",
        ),
        (
            "www.dns-wrongname.fault.test",
            &fault,
            &["dns_inconsistent"],
            &["no address"],
            "no_data",
        ),
        ("www.dns-oversized.fault.test", &fault, &[], &[], "answered"),
        ("www.dns-wrongid.fault.test", &fault, &[], &[], "timeout"),
        ("www.dns-wrongport.fault.test", &fault, &[], &[], "timeout"),
        // The first datagram lost: the query sent again is answered.
        ("www.dns-lossy.fault.test", &fault, &[], &[], "answered"),
    ];
    let mut failures = Vec::new();
    for (host, liar, want, words, outcome) in rows {
        let url = e.world.url(host);
        let (r, took) = run(
            &url,
            None,
            settings(e, vec![(*liar).clone(), honest.clone()]),
        );
        let d = detail(&r);
        let got = r.report.dns.resolvers.first().map(|a| {
            serde_json::to_value(&a.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        });
        let ok = kinds(&r) == *want
            && words.iter().all(|w| d.contains(w))
            && (got.as_deref() == Some(*outcome)
                || (*outcome == "unreachable" && got.as_deref() == Some("timeout")));
        if !ok {
            failures.push(format!("{host}: {:?} {got:?} in {took:?}: {d}", kinds(&r)));
        }
        // The liar never puts a wrong address into the round.
        for a in &r.report.addresses {
            assert_eq!(a.dest.to_string(), "127.0.0.1", "{host}: probed {}", a.dest);
        }
    }
    // A silent resolver alone: dns_failure, within the timeout.
    let (r, _) = run(
        &e.world.url("www.dns-silent.fault.test"),
        None,
        settings(e, vec![fault.clone()]),
    );
    if kinds(&r) != ["dns_failure"] {
        failures.push(format!("silent alone: {:?}: {}", kinds(&r), detail(&r)));
    }
    // A resolver that loses datagrams, alone: nothing to report.
    let (r, _) = run(
        &e.world.url("www.dns-lossy.fault.test"),
        None,
        settings(e, vec![fault.clone()]),
    );
    if !kinds(&r).is_empty() {
        failures.push(format!("lossy alone: {:?}: {}", kinds(&r), detail(&r)));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_fault_host_is_listed_in_a_test_row() {
    // Keeps the world and this suite in step: a new fault needs a row.
    assert_eq!(faults::http_hosts().len(), 15);
    assert_eq!(faults::dns_hosts().len(), 10);
}
