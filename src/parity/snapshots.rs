//! Main's snapshots of one path: which articles each of the last few main
//! fetches showed, to bracket a mirror fetch (the rule is in
//! [`super::freshness`]).
//!
//! Layout, for memory (every site keeps them): the newest snapshot keeps
//! its page's own ids array (shared with the analysis and the clock); each
//! older one only how it differs from the newest, which between two
//! publications is a few articles, or nothing at all. Without this, every
//! site held its previous page's whole array for [`SNAPSHOTS`] rounds
//! after each publication.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use super::freshness::{SNAPSHOTS, Window};

/// A main page's articles at one fetch.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub window: Window,
    /// Shared with the page's analysis: an unchanged page costs no copy.
    pub ids: Arc<[u64]>,
}

/// A snapshot's articles: the newest's array, or an older one's rebuilt.
type Ids<'a> = Cow<'a, [u64]>;

/// An older snapshot, as it differs from the newest: its articles are the
/// newest's without `lacking`, with `extra` (both sorted, distinct).
#[derive(Debug)]
struct Older {
    window: Window,
    extra: Box<[u64]>,
    lacking: Box<[u64]>,
}

/// Main snapshots of one path, at most [`SNAPSHOTS`].
#[derive(Debug, Default)]
pub struct Snapshots {
    /// Oldest first.
    older: VecDeque<Older>,
    newest: Option<Snapshot>,
}

/// `a` without what is in `b` (both sorted): linear.
fn minus(a: &[u64], b: &[u64]) -> Box<[u64]> {
    let mut out = Vec::new();
    let mut rest = b.iter().peekable();
    for x in a {
        while rest.next_if(|y| *y < x).is_some() {}
        if rest.peek() != Some(&x) {
            out.push(*x);
        }
    }
    out.into_boxed_slice()
}

/// The sorted union of two sorted, disjoint arrays.
fn union(a: impl Iterator<Item = u64>, b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(b.len());
    let mut b = b.iter().copied().peekable();
    for x in a {
        while let Some(y) = b.next_if(|y| *y < x) {
            out.push(y);
        }
        out.push(x);
    }
    out.extend(b);
    out
}

impl Older {
    /// `ids`, kept as it differs from `newest`.
    fn of(window: Window, ids: &[u64], newest: &[u64]) -> Self {
        Self {
            window,
            extra: minus(ids, newest),
            lacking: minus(newest, ids),
        }
    }

    /// Its articles, given the newest snapshot's (borrowed when the same).
    fn ids<'a>(&self, newest: &'a [u64]) -> Ids<'a> {
        if self.extra.is_empty() && self.lacking.is_empty() {
            return Cow::Borrowed(newest);
        }
        let kept = newest
            .iter()
            .copied()
            .filter(|id| self.lacking.binary_search(id).is_err());
        Cow::Owned(union(kept, &self.extra))
    }
}

impl Snapshots {
    pub fn push(&mut self, s: Snapshot) {
        if let Some(n) = self.newest.take() {
            if !Arc::ptr_eq(&n.ids, &s.ids) && n.ids != s.ids {
                // Each older one now differs from the new newest.
                for o in self.older.iter_mut() {
                    let ids = o.ids(&n.ids);
                    *o = Older::of(o.window, &ids, &s.ids);
                }
            }
            self.older.push_back(Older::of(n.window, &n.ids, &s.ids));
        }
        while self.older.len() >= SNAPSHOTS {
            self.older.pop_front();
        }
        self.newest = Some(s);
    }

    /// Start of the oldest kept snapshot.
    pub fn oldest(&self) -> Option<SystemTime> {
        self.windows().next().map(|w| w.start)
    }

    /// Windows, oldest first.
    fn windows(&self) -> impl Iterator<Item = Window> + '_ {
        (self.older.iter().map(|o| o.window)).chain(self.newest.as_ref().map(|n| n.window))
    }

    /// The articles of the `i`th kept snapshot, oldest first.
    fn ids(&self, i: usize) -> Option<Ids<'_>> {
        let newest = self.newest.as_ref()?;
        match self.older.get(i) {
            Some(o) => Some(o.ids(&newest.ids)),
            None => (i == self.older.len()).then(|| Cow::Borrowed(&newest.ids[..])),
        }
    }

    /// The articles of the latest snapshot taken wholly before `w` and of
    /// the first taken wholly after it (only those two are rebuilt).
    pub(super) fn bracket(&self, w: Window) -> Option<(Ids<'_>, Ids<'_>)> {
        let (before, _) = (self.windows().enumerate())
            .filter(|(_, s)| s.end <= w.start)
            .last()?;
        let after = self.windows().position(|s| s.start >= w.end)?;
        Some((self.ids(before)?, self.ids(after)?))
    }

    /// Every kept snapshot's window and articles, oldest first (tests).
    #[cfg(test)]
    pub(super) fn each(&self) -> Vec<(Window, Vec<u64>)> {
        (self.windows().enumerate())
            .filter_map(|(i, w)| Some((w, self.ids(i)?.into_owned())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn win(i: u64) -> Window {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000 + i * 60);
        Window {
            start: t,
            end: t + Duration::from_secs(1),
        }
    }

    proptest! {
        /// Whatever main showed, the kept snapshots are the last
        /// [`SNAPSHOTS`] pushed, each with exactly its articles, and an
        /// older snapshot of an unchanged page keeps no array.
        #[test]
        fn snapshots_keep_exactly_what_main_showed(
            pages in proptest::collection::vec(
                proptest::collection::btree_set(0u64..40, 0..12), 1..12),
        ) {
            let mut snaps = Snapshots::default();
            let mut model: VecDeque<(Window, Vec<u64>)> = VecDeque::new();
            let mut last: Option<Arc<[u64]>> = None;
            for (i, page) in pages.iter().enumerate() {
                let ids: Arc<[u64]> = page.iter().copied().collect();
                // An unchanged page is the same array (its analysis).
                let ids = match &last {
                    Some(l) if **l == *ids => l.clone(),
                    _ => ids,
                };
                last = Some(ids.clone());
                snaps.push(Snapshot { window: win(i as u64), ids: ids.clone() });
                model.push_back((win(i as u64), ids.to_vec()));
                if model.len() > SNAPSHOTS {
                    model.pop_front();
                }
                prop_assert_eq!(snaps.each(), Vec::from(model.clone()));
                prop_assert_eq!(snaps.oldest(), model.front().map(|m| m.0.start));
                for o in &snaps.older {
                    let changed = !o.extra.is_empty() || !o.lacking.is_empty();
                    let differs = snaps.newest.as_ref().is_some_and(|n| {
                        model.iter().any(|(w, ids)| *w == o.window && ids[..] != n.ids[..])
                    });
                    prop_assert_eq!(changed, differs);
                }
            }
        }
    }
}
