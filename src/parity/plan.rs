//! What a round's fetched pages become before analysis: for each page,
//! its keys and a plan (reuse an analysis, or parse its canonical text),
//! made by [`Content::prepare`](super::Content::prepare) and carried out by
//! [`Content::analyse`](super::Content::analyse).

use url::Url;

use super::Kept;
use super::analysis::{Analysed, PageKey, RawKey};
use super::fingerprints::FingerprintMatch;
use super::freshness::Window;
use super::paths::Articles;

/// A round's pages after [`Content::prepare`].
pub struct Prepared {
    pub(super) fingerprints: Vec<FingerprintMatch>,
    pub(super) pages: Vec<Fetched>,
    pub(super) announced: Option<Vec<String>>,
}

impl Prepared {
    /// Whether [`Content::analyse`] will parse a page (worth moving off the
    /// async workers; a reused analysis is not).
    pub fn parses(&self) -> bool {
        self.fingerprints.is_empty()
            && self
                .pages
                .iter()
                .any(|p| matches!(p.plan, Plan::Parse { .. }))
    }
}

/// How a page will be analysed.
pub(super) enum Plan {
    /// Another analysis is this page's; with the article paths when a
    /// main page takes a mirror's parse (`recent`).
    Reuse(Kept, Analysed, Articles),
    /// The page's canonical text, and its key.
    Parse { canonical: String, key: PageKey },
}

/// One fetched page that parity reads.
pub(super) struct Fetched {
    pub path: String,
    pub window: Window,
    pub raw: RawKey,
    pub base: Url,
    pub plan: Plan,
}
