//! The newest pages mirrors parsed that main's reference is not (yet): a
//! few per site and path.
//!
//! After a publication, whichever address of a site fetches the new page
//! first parses it. When that is a mirror, main's next round fetches the
//! same page (its host names aside) and used to parse it again, as did
//! every other mirror that came before main. A page whose canonical key
//! equals the kept one takes its analysis instead, and main also takes its
//! article paths (the clock needs them). Equal keys mean equal analyses
//! (`analysis`), so this is exact. Main's next round of the path clears
//! the slots whether or not one matched, so a slot lives at most an
//! interval; a mirror that serves a page of its own every round (a noisy
//! copy) takes one of [`KEPT`] slots, not all of them.

use std::sync::Arc;

use super::analysis::{Analysis, PageKey};
use super::paths::Paths;

/// Parses kept per site and path, newest first.
const KEPT: usize = 4;

/// The newest mirror parses of one path.
#[derive(Debug, Default)]
pub(super) struct Recents(Vec<Recent>);

impl Recents {
    /// Keeps `r`, dropping the oldest beyond [`KEPT`] and any earlier
    /// parse of the same page.
    pub fn push(&mut self, r: Recent) {
        self.0.retain(|x| x.key != r.key);
        self.0.insert(0, r);
        self.0.truncate(KEPT);
    }

    /// The parse of the page with `key`, if kept.
    pub fn find(&self, key: &PageKey) -> Option<&Recent> {
        self.0.iter().find(|r| r.key == *key)
    }
}

/// A mirror's parse of one path, kept for the site's other addresses.
#[derive(Debug)]
pub(super) struct Recent {
    pub key: PageKey,
    pub analysis: Arc<Analysis>,
    names: Paths,
}

impl Recent {
    pub fn new(key: PageKey, analysis: Arc<Analysis>, mut names: Paths) -> Self {
        names.shrink_to_fit();
        Self {
            key,
            analysis,
            names,
        }
    }

    /// The page's article paths, in the order its parse gave them.
    pub fn names(&self) -> Paths {
        self.names.clone()
    }
}
