//! The newest pages mirrors parsed that main's reference is not (yet): a
//! few per site and path.
//!
//! After a publication, whichever address of a site fetches the new page
//! first parses it. When that is a mirror, main's next round fetches the
//! same page (its host names aside) and used to parse it again, as did
//! every other mirror that came before main. A page whose canonical key
//! equals the kept one takes its analysis instead, and main also takes the
//! paths of its articles the clock does not show (only those: the clock
//! needs a path only to start an article; the rest of a page's ~350 paths
//! were most of a slot). Equal keys mean equal analyses (`analysis`), so
//! this is exact; main takes a slot only if its paths still cover every
//! article the clock does not show (else it parses). Main's next round of the path clears
//! the slots whether or not one matched, so a slot lives at most an
//! interval; a mirror that serves a page of its own every round (a noisy
//! copy) takes one of [`KEPT`] slots, not all of them.

use std::sync::Arc;

use super::analysis::{Analysis, PageKey};
use super::freshness::Clock;
use super::paths::Articles;

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
    names: Articles,
}

impl Recent {
    /// A mirror's parse, with the paths of its articles that `clock` does
    /// not show (of the page's `names`, in their order).
    pub fn new(key: PageKey, analysis: Arc<Analysis>, names: &Articles, clock: &Clock) -> Self {
        let mut kept = names.filter(|id| !clock.shows(id));
        kept.shrink_to_fit();
        Self {
            key,
            analysis,
            names: kept,
        }
    }

    /// The paths main needs to observe this page with `clock`: those kept,
    /// if they cover every article of the page `clock` does not show;
    /// `None` when the clock has changed so that they do not.
    pub fn names_for(&self, clock: &Clock) -> Option<Articles> {
        let kept = self.names.ids();
        let covered = (self.analysis.ids.iter())
            .filter(|id| !clock.shows(**id))
            .all(|id| kept.contains(id));
        covered.then(|| self.names.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::hash::Digest;
    use crate::parity::freshness::{Window, article_id, ids};

    fn page(names: &[&str]) -> (Arc<Analysis>, Articles) {
        let paths: Articles = names.iter().copied().collect();
        let analysis = Analysis {
            title: String::new(),
            length: 0,
            shingles: Default::default(),
            ids: ids(names),
            articles: names.len(),
        };
        (Arc::new(analysis), paths)
    }

    fn observe(clock: &mut Clock, names: &[&str], at: u64) {
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(at);
        let shown: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        clock.observe(&shown, Window::at(t), None);
    }

    /// A slot keeps the paths of what the clock does not show, and hands
    /// them to main only while they still cover the page's articles the
    /// clock does not show.
    #[test]
    fn a_slot_keeps_only_the_paths_main_would_need() {
        let (a, b, c) = ("/n/2026/11/27/1", "/n/2026/11/27/2", "/fa/2026/11/27/خبر-3");
        let mut clock = Clock::default();
        observe(&mut clock, &[a, b], 1);
        let (analysis, names) = page(&[c, b, a]);
        let key = PageKey::new(
            Digest::of(b"page"),
            &"https://m.test/".parse().expect("url"),
        );
        let slot = Recent::new(key, analysis, &names, &clock);
        let kept = slot.names_for(&clock).expect("covered");
        assert_eq!(kept.iter().collect::<Vec<_>>(), vec![(article_id(c), c)]);
        // b went off main since: main would need b's path, which the slot
        // did not keep, so main parses the page instead.
        observe(&mut clock, &[a], 2);
        assert!(slot.names_for(&clock).is_none());
    }
}
