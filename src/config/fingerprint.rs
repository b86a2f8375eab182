//! Fingerprint definitions as the config holds them (kind, how they match).
//! The shipped list and the matching live in `parity::fingerprints`; they
//! are here so the config layer needs nothing above it.

use std::net::IpAddr;

use regex::{Regex, RegexBuilder};
use serde::Serialize;

/// What a match means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FpKind {
    Blockpage,
    Seized,
}

/// How a fingerprint matches.
#[derive(Debug, Clone)]
pub enum Matcher {
    Body(Regex),
    DnsIp(IpAddr),
    NsSuffix(String),
}

#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub name: String,
    pub kind: FpKind,
    pub matcher: Matcher,
    /// For shipped body fingerprints: a lower-case word every match
    /// contains. A page without it (almost every page) skips the regex,
    /// which for case-insensitive patterns is a full scan of the page.
    pub needle: Option<&'static str>,
}

/// Compiles a body regex with bounded size (config and shipped alike).
pub fn body_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
}
