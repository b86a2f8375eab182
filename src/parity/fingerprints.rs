//! Seizure and blockpage fingerprints: a shipped list plus the config's.
//!
//! A fingerprint matches a response body (regex over the decoded document,
//! any status), an address in a DNS answer, or the NS delegation of the
//! registered domain. Matching is a fact; `verdict` turns it into `seized` or
//! `blockpage`.

use std::net::IpAddr;

use serde::Serialize;

use super::normalize::decode_owned;

pub use crate::config::fingerprint::{Fingerprint, FpKind, Matcher, body_regex};

/// One fingerprint that matched, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FingerprintMatch {
    pub name: String,
    pub kind: FpKind,
    pub evidence: String,
}

/// The shipped list (see README, "Fingerprints").
pub fn shipped() -> Vec<Fingerprint> {
    let body = |name: &str, kind, needle: &'static str, re: &str| {
        body_regex(re).ok().map(|r| Fingerprint {
            name: name.into(),
            kind,
            matcher: Matcher::Body(r),
            needle: Some(needle),
        })
    };
    let mut out: Vec<Fingerprint> = [
        body(
            "us-seizure-banner",
            FpKind::Seized,
            "seiz",
            // Each alternative starts with a rare word: the regex engine
            // scans for the alternatives' first words, and a common one
            // ("in", "this") would make it stop every few bytes of a page.
            r"(?i)been\s+seized\s+by\s+the\s+united\s+states\s+government|accordance\s+with\s+a\s+seizure\s+warrant|domain\s+has\s+been\s+seized",
        ),
        body(
            "iran-10.10.34.34-blockpage",
            FpKind::Blockpage,
            "10.10.34.3",
            r"10\.10\.34\.3[4-6]",
        ),
        body(
            "russia-rkn-blockpage",
            FpKind::Blockpage,
            "rkn.gov.ru",
            r"(?i)eais\.rkn\.gov\.ru",
        ),
        body(
            "indonesia-internet-positif",
            FpKind::Blockpage,
            "positif",
            r"(?i)internet-?positif\.(?:id|info)",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    for suffix in ["seized.gov", "seizedservers.com"] {
        out.push(Fingerprint {
            name: format!("ns-{suffix}"),
            kind: FpKind::Seized,
            matcher: Matcher::NsSuffix(suffix.into()),
            needle: None,
        });
    }
    for ip in ["10.10.34.34", "10.10.34.35", "10.10.34.36"] {
        if let Ok(ip) = ip.parse() {
            out.push(Fingerprint {
                name: "iran-10.10.34.34-dns".into(),
                kind: FpKind::Blockpage,
                matcher: Matcher::DnsIp(ip),
                needle: None,
            });
        }
    }
    out
}

/// The active list: shipped plus configured.
#[derive(Debug, Clone)]
pub struct Fingerprints(Vec<Fingerprint>);

impl Fingerprints {
    pub fn new(configured: &[Fingerprint]) -> Self {
        let mut all = shipped();
        all.extend_from_slice(configured);
        Self(all)
    }

    /// Addresses known to be blockpage servers: not worth connecting to.
    pub fn blocked_ips(&self) -> Vec<IpAddr> {
        self.0
            .iter()
            .filter_map(|f| match f.matcher {
                Matcher::DnsIp(ip) => Some(ip),
                _ => None,
            })
            .collect()
    }

    /// Decodes a body and adds the fingerprints it matches to `matches`;
    /// returns the decoded text and its bytes in ASCII lower case (what
    /// the fingerprints and the canonical text search).
    pub(super) fn scan(
        &self,
        body: Vec<u8>,
        ct: Option<&str>,
        matches: &mut Vec<FingerprintMatch>,
    ) -> (String, Vec<u8>) {
        let html = decode_owned(body, ct);
        let lower = html.as_bytes().to_ascii_lowercase();
        for m in self.matches_lowered(&html, &lower, &[], &[]) {
            if !matches.iter().any(|x| x.name == m.name) {
                matches.push(m);
            }
        }
        (html, lower)
    }

    /// Every fingerprint that matches this round's body, answers or NS.
    pub fn matches(&self, body: &str, answers: &[IpAddr], ns: &[String]) -> Vec<FingerprintMatch> {
        self.matches_lowered(body, &body.as_bytes().to_ascii_lowercase(), answers, ns)
    }

    /// [`Fingerprints::matches`] given `page`, the body's bytes in ASCII
    /// lower case (the site's canonical text searches the same bytes).
    pub fn matches_lowered(
        &self,
        body: &str,
        page: &[u8],
        answers: &[IpAddr],
        ns: &[String],
    ) -> Vec<FingerprintMatch> {
        let mut out = Vec::new();
        // `(?i)` folds U+017F (long s) to `s` and U+212A (Kelvin) to `k`;
        // an ASCII-lowercased page cannot show those as the needle, so on
        // such a page the shortcut is not trusted.
        let mut folds: Option<bool> = None;
        for f in &self.0 {
            let evidence = match &f.matcher {
                Matcher::Body(re) => {
                    let folds = *folds.get_or_insert_with(|| {
                        let b = body.as_bytes();
                        memchr::memmem::find(b, "\u{017F}".as_bytes()).is_some()
                            || memchr::memmem::find(b, "\u{212A}".as_bytes()).is_some()
                    });
                    let absent = !folds
                        && f.needle
                            .is_some_and(|n| memchr::memmem::find(page, n.as_bytes()).is_none());
                    if absent {
                        None
                    } else {
                        re.find(body)
                            .map(|m| format!("page contains \"{}\"", excerpt(m.as_str())))
                    }
                }
                Matcher::DnsIp(ip) => answers.contains(ip).then(|| format!("DNS answer {ip}")),
                Matcher::NsSuffix(suffix) => ns
                    .iter()
                    .find(|n| {
                        n.trim_end_matches('.') == suffix
                            || n.trim_end_matches('.').ends_with(&format!(".{suffix}"))
                    })
                    .map(|n| format!("NS delegated to {n}")),
            };
            if let Some(evidence) = evidence {
                if !out.iter().any(|m: &FingerprintMatch| m.name == f.name) {
                    out.push(FingerprintMatch {
                        name: f.name.clone(),
                        kind: f.kind,
                        evidence,
                    });
                }
            }
        }
        out
    }
}

fn excerpt(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    cut.split_whitespace().collect::<Vec<_>>().join(" ")
}
