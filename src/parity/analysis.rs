//! One page's analysis (what comparisons and freshness read of it), how it
//! is made, and when it need not be made again.
//!
//! A body is decoded (the charset its header or bytes name), then made
//! canonical (`canon`: every site host as the main host) and parsed with
//! the site's settings, which are the same for the main site and every
//! mirror. The analysis is therefore a function of the canonical text and
//! of where relative links resolve (scheme and path): [`PageKey`]. From
//! the raw body, it is a function of the bytes, the charset the header
//! names, and the base: [`RawKey`]. Equal keys mean equal analyses, so the
//! shortcuts are exact:
//!
//! - **unchanged**: the page's raw key (its digest computed while it
//!   streamed in) is that of this address's last analysed page of the same
//!   path: that analysis is reused, with no decode and no scan;
//! - **identical**: a mirror page's key equals the key of main's current
//!   reference for the path: main's analysis is the mirror's; or any
//!   page's key equals that of a page a mirror of the site parsed since
//!   main's last round of the path (`recent`): that parse is the page's,
//!   with its article paths when the page is main's;
//! - otherwise the page is **parsed**.
//!
//! Digests are BLAKE3, so a hostile page cannot be made to collide.

use std::sync::Arc;

use encoding_rs::Encoding;
use url::Url;

use super::canon::Canon;
use super::freshness::{self, ArticleMatcher};
use super::normalize::{Rewrite, header_charset, normalize};
use super::paths::Articles;
use super::shingle_set::ShingleSet;
use super::similarity;
use crate::ground::hash::Digest;

/// Longest title kept (characters): comparisons read at most this much.
pub const TITLE_CHARS: usize = 1024;

/// How a page's analysis was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Analysed {
    Parsed,
    Unchanged,
    Identical,
}

impl Analysed {
    pub const ALL: [Analysed; 3] = [Self::Parsed, Self::Unchanged, Self::Identical];

    /// The `result` label of `mirrorwatch_parity_analyses_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parsed => "parsed",
            Self::Unchanged => "unchanged",
            Self::Identical => "identical",
        }
    }
}

/// What parity reads of a page.
#[derive(Debug, PartialEq)]
pub struct Analysis {
    pub title: String,
    /// Decoded length of the canonical document, bytes.
    pub length: usize,
    /// Sorted, distinct shingle hashes of the visible text.
    pub shingles: ShingleSet,
    /// Sorted, distinct article ids.
    pub ids: Arc<[u64]>,
    /// Distinct article paths.
    pub articles: usize,
}

/// Everything a page's analysis depends on: its canonical text (by
/// digest) and where its relative links resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    digest: Digest,
    base: String,
}

impl PageKey {
    pub fn new(canonical: Digest, base: &Url) -> Self {
        Self {
            digest: canonical,
            base: base_key(base),
        }
    }
}

/// Everything a page's analysis depends on, from the raw body: its bytes
/// (by digest), what the `Content-Type` header says of its charset (the
/// rest is in the bytes), and where its relative links resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawKey {
    digest: Digest,
    charset: Option<Option<&'static Encoding>>,
    base: String,
}

impl RawKey {
    pub fn new(body: Digest, content_type: Option<&str>, base: &Url) -> Self {
        Self {
            digest: body,
            charset: header_charset(content_type),
            base: base_key(base),
        }
    }
}

/// Where relative links of a page resolve, as far as a link's path can
/// tell: the scheme and path of its URL (host and port never reach a path).
fn base_key(base: &Url) -> String {
    format!("{}:{}", base.scheme(), base.path())
}

/// The URL a page's relative links resolve against: where it was fetched,
/// with the main host (every site host is the main host in canonical bytes).
pub fn base_url(url: &Url, path: &str, main_host: &str) -> Url {
    let mut base = url.join(path).unwrap_or_else(|_| url.clone());
    if base.set_host(Some(main_host)).is_err() {
        return url.join(path).unwrap_or_else(|_| url.clone());
    }
    base
}

/// Parses a page's canonical text: normalise, shingles, articles. Returns
/// the analysis and the article paths (for main's first-seen clock).
pub fn parse(site: &Site<'_>, canonical: &str, base: &Url) -> (Analysis, Articles) {
    let page = normalize(
        canonical,
        &Rewrite {
            base,
            from: site.others,
            to: site.canon.main(),
        },
    );
    let articles = site.matcher.articles(&page.links);
    let analysis = Analysis {
        title: page.title.chars().take(TITLE_CHARS).collect(),
        length: page.length,
        shingles: ShingleSet::new(&similarity::shingles_of(&page.words)),
        ids: freshness::id_set(articles.ids().to_vec()),
        articles: articles.len(),
    };
    (analysis, articles)
}

/// A site's parse settings, the same for every one of its addresses.
pub struct Site<'a> {
    pub canon: &'a Canon,
    /// The site's host names other than main (lower case).
    pub others: &'a [String],
    pub matcher: &'a ArticleMatcher,
}
