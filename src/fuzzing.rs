//! Fuzz harnesses for every parser that sees the network or the config.
//! Each takes arbitrary bytes, must never panic, and checks the
//! invariants its parser promises (a broken invariant panics, which the
//! fuzzer reports). They are driven two ways: coverage-guided by
//! cargo-fuzz (`fuzz/`, one target per harness), and by property tests
//! with committed seeds (`tests/fuzz_smoke.rs`), which CI runs.

use std::net::IpAddr;
use std::path::Path;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use url::Url;

use crate::checks::dns_udp::{self, Reply};
use crate::checks::http::{Redirect, resolve_redirect};
use crate::parity::fingerprints::{Fingerprints, shipped};
use crate::parity::freshness::ArticleMatcher;
use crate::parity::normalize::{Rewrite, decode, normalize, normalize_reference, normalize_text};
use crate::parity::similarity::{jaccard, shingles, shingles_of, title_match};

/// A harness: arbitrary bytes in, a panic on a broken invariant.
pub type Harness = fn(&[u8]);

/// The harnesses, by name (the fuzz target and seed folder names).
pub const TARGETS: [(&str, Harness); 6] = [
    ("html", html),
    ("fingerprints", fingerprints),
    ("dns", dns),
    ("location", location),
    ("config", config),
    ("proxy", proxy),
];

/// Splits `data` at the first `sep` byte.
fn split(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == sep) {
        Some(i) => (&data[..i], data.get(i + 1..).unwrap_or_default()),
        None => (data, &[]),
    }
}

/// Charset decoding, normalisation, article extraction and similarity of
/// an arbitrary page. Input: `content-type \0 body`.
pub fn html(data: &[u8]) {
    let (ct, body) = split(data, 0);
    let ct = String::from_utf8_lossy(ct);
    let text = decode(body, Some(&ct));
    let base = Url::parse("https://www.mirror.test/").expect("static URL");
    let from = ["www.mirror.test".to_string()];
    let rw = Rewrite {
        base: &base,
        from: &from,
        to: "www.main.test",
    };
    let page = normalize(&text, &rw);
    // The normaliser's fast path reads a page as html5ever does, or not at all.
    let (fast, reference) = (
        normalize_text(&text, &rw),
        normalize_reference(&text, &rw, true),
    );
    assert_eq!(
        (&fast.title, &fast.text, &fast.words, &fast.links),
        (
            &reference.title,
            &reference.text,
            &reference.words,
            &reference.links
        ),
        "the fast path differs from html5ever"
    );
    assert_eq!(page.words, fast.words);
    for link in page.links.iter() {
        assert!(!link.contains(['?', '#']), "link keeps a query: {link}");
    }
    let m = ArticleMatcher::default();
    let articles = m.articles(&page.links);
    assert!(articles.len() <= page.links.len());
    let s = shingles_of(&page.words);
    let sim = jaccard(&s, &s);
    assert!(
        s.is_empty() || (sim - 1.0).abs() < 1e-9,
        "self-similarity {sim}"
    );
    let other = jaccard(
        &s,
        &shingles("an unrelated page of text about something else"),
    );
    assert!((0.0..=1.0).contains(&other));
    assert!(title_match(&page.title, &page.title));
}

/// The fingerprint scanner: the shipped list's needle shortcut must never
/// change a result, and evidence stays short.
pub fn fingerprints(data: &[u8]) {
    // Compiling the shipped regexes once keeps the fuzzer on the scanner.
    static FPS: std::sync::OnceLock<(Fingerprints, Vec<crate::config::fingerprint::Fingerprint>)> =
        std::sync::OnceLock::new();
    let (fps, list) = FPS.get_or_init(|| (Fingerprints::new(&[]), shipped()));
    let body = String::from_utf8_lossy(data);
    let matches = fps.matches(
        &body,
        &[IpAddr::from([10, 10, 34, 34])],
        &["ns1.seized.gov.".into()],
    );
    for m in &matches {
        assert!(m.evidence.chars().count() <= 120, "{}", m.evidence);
    }
    // Exactness of the needle shortcut: whatever a shipped regex matches,
    // the scanner reports.
    for f in list {
        if let crate::parity::fingerprints::Matcher::Body(re) = &f.matcher {
            if re.is_match(&body) {
                assert!(
                    matches.iter().any(|m| m.name == f.name),
                    "{} matches but the scanner skipped it",
                    f.name
                );
            }
        }
    }
}

/// DNS reply handling: any bytes as a reply to a question for
/// `www.site.test` A. Only records of the asked type, owned by the name or
/// its CNAME chain, may come out.
pub fn dns(data: &[u8]) {
    let qname = hickory_proto::rr::Name::from_ascii("www.site.test.").expect("static name");
    let id = data.get(..2).map_or(0, |b| {
        u16::from_be_bytes([b[0], b.get(1).copied().unwrap_or(0)])
    });
    if let Some(Reply::Answer { records, .. }) = dns_udp::parse(data, id, &qname, RecordType::A) {
        assert!(records.iter().all(|r| r.record_type() == RecordType::A));
    }
    if let Ok(msg) = Message::from_vec(data) {
        if let Some(q) = msg.queries.first() {
            for r in dns_udp::owned(&msg.answers, q.name(), q.query_type()) {
                assert_eq!(r.record_type(), q.query_type());
            }
        }
    }
}

/// Redirect resolution: `from-url \0 location`.
pub fn location(data: &[u8]) {
    let (from, loc) = split(data, 0);
    let from = String::from_utf8_lossy(from);
    let loc = String::from_utf8_lossy(loc);
    let base = Url::parse(&from)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .unwrap_or_else(|| Url::parse("https://www.mirror.test/a/b").expect("static URL"));
    match resolve_redirect(&base, &loc, "mirror.test") {
        Redirect::Web { next, .. } => {
            assert!(matches!(next.scheme(), "http" | "https"));
            assert!(next.host_str().is_some_and(|h| !h.is_empty()));
        }
        Redirect::OtherScheme { shown, scheme } => {
            assert!(!matches!(scheme.as_str(), "http" | "https"));
            assert!(shown.chars().count() <= 200);
        }
        Redirect::Invalid => {}
    }
}

/// The config loader on arbitrary text: errors, never a panic, always
/// with a position; a config it accepts has targets for every address.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match crate::config::parse(text, "fuzz.toml", Path::new("/nonexistent")) {
        Ok(c) => {
            let targets = c.targets();
            let addresses: usize = c
                .sites
                .iter()
                .map(|s| {
                    let vantages = c
                        .vantages
                        .iter()
                        .filter(|v| {
                            s.settings
                                .vantages
                                .as_ref()
                                .is_none_or(|n| n.contains(&v.name))
                        })
                        .count();
                    (1 + s.mirrors.len()) * vantages
                })
                .sum();
            assert_eq!(targets.len(), addresses);
            assert!(!c.vantages.is_empty());
            for t in &targets {
                assert!(t.settings.timeout <= t.settings.interval);
            }
        }
        Err(e) => {
            assert!(!e.errors.is_empty());
            for err in &e.errors {
                assert!(err.position.line >= 1 && err.position.column >= 1);
                assert!(err.message.chars().count() <= 2000, "{}", err.message.len());
            }
        }
    }
}

/// A vantage's proxy URL and a proxy's CONNECT answer: `url \0 head`.
/// An accepted URL never shows its password; a parsed status is a real
/// HTTP status with a bounded, printable reason.
pub fn proxy(data: &[u8]) {
    let (url, head) = split(data, 0);
    if let Ok(text) = std::str::from_utf8(url)
        && let Ok(p) = crate::config::vantage::parse_proxy(text)
    {
        // Shown as scheme, user and address only: never the password.
        let user = p
            .auth
            .as_ref()
            .map(|(u, _)| format!("{u}@"))
            .unwrap_or_default();
        let want = format!("{}://{user}{}", p.kind.scheme(), p.addr);
        assert_eq!(p.to_string(), want);
        assert_eq!(format!("{p:?}"), format!("Proxy({want})"));
    }
    if let Some((code, reason)) = crate::checks::proxy::parse_status(head) {
        assert!((100..=599).contains(&code));
        assert!(reason.chars().count() <= 80 && !reason.chars().any(char::is_control));
    }
}
