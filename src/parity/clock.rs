//! The first-seen clock of one site's main articles: when each was first
//! seen, the fetch before that, and which main no longer shows (the rules
//! are in [`super::freshness`]).
//!
//! Layout, for memory (every site keeps one): the ids main shows are the
//! last observation's own sorted array, shared with main's snapshot when
//! the site has one path, so the clock adds only a 4-byte stamp index per
//! shown article; articles main no longer shows are 16-byte [`Entry`]s,
//! a few dozen. Times are kept once each in [`Times`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::entries::{EVER, Entry, Ms, Times, ms, time};
use super::freshness::{ClockDelta, Seen, Window, article_id, id_set, sorted_set};

/// How many articles the clock remembers main showing, counting those
/// it shows now (all of them, however many) and those gone longest after.
pub const SEEN_EVER: usize = 512;

/// First-seen times of the main site's articles (all paths of a site),
/// to the millisecond. Paths are not kept: the store has them (the deltas
/// carry them), and a detail that names an article looks it up there.
#[derive(Debug)]
pub struct Clock {
    /// The articles main showed at the last observation: sorted, distinct.
    shown: Arc<[u64]>,
    /// Per `shown` article, its `(first, absent_at)` in `times.stamps`.
    stamps: Box<[u32]>,
    /// Articles main no longer shows, sorted by id, each with its gone
    /// time: kept while a snapshot may refer to them, then only as
    /// "shown" ([`EVER`]) up to [`SEEN_EVER`] entries in all.
    off: Vec<Entry>,
    times: Times,
    /// Start of the last main observation.
    last: Option<SystemTime>,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            shown: Arc::from(Vec::new()),
            stamps: Box::default(),
            off: Vec::new(),
            times: Times::default(),
            last: None,
        }
    }
}

impl Clock {
    /// A clock restored from the store: the articles main showed at
    /// `last` (the start of the last observation before the restart).
    pub fn restore(
        entries: impl IntoIterator<Item = (String, SystemTime, Option<SystemTime>)>,
        last: Option<SystemTime>,
    ) -> Self {
        let mut times = Times::default();
        // Rows saved by one observation share their times, and come in
        // any order: each distinct pair is kept once.
        let mut interned: HashMap<(Ms, Option<Ms>), u32> = HashMap::new();
        let mut rows: Vec<(u64, u32)> = entries
            .into_iter()
            .map(|(name, first, absent_at)| {
                let stamp = (ms(first), absent_at.map(ms));
                let at = *interned.entry(stamp).or_insert_with(|| {
                    times.stamps.push(stamp);
                    (times.stamps.len() - 1) as u32
                });
                (article_id(&name), at)
            })
            .collect();
        rows.sort_by_key(|r| r.0);
        rows.dedup_by_key(|r| r.0);
        let mut clock = Self {
            shown: rows.iter().map(|r| r.0).collect(),
            stamps: rows.iter().map(|r| r.1).collect(),
            off: Vec::new(),
            times,
            last,
        };
        clock.times.shrink(&mut clock.stamps, &mut clock.off);
        clock
    }

    /// Records that main showed `on_main` (every path) in a fetch over `w`.
    /// Articles gone before `keep_gone_since` leave the clock.
    pub fn observe(
        &mut self,
        on_main: &[String],
        w: Window,
        keep_gone_since: Option<SystemTime>,
    ) -> ClockDelta {
        let named: Vec<(u64, &str)> = on_main
            .iter()
            .map(|n| (article_id(n), n.as_str()))
            .collect();
        let ids = id_set(named.iter().map(|(id, _)| *id).collect());
        self.observe_ids(ids, named, w, keep_gone_since)
    }

    /// [`Clock::observe`] given the sorted, distinct ids of everything
    /// main showed (kept as they are: a snapshot's array costs nothing
    /// more), and the paths of those that may be new, each with its id
    /// (`article_id(path)`). An id with no path here must already be
    /// shown (a page unchanged since the last observation; parity
    /// guarantees it), else it is ignored.
    pub fn observe_ids<'n>(
        &mut self,
        on_main: Arc<[u64]>,
        names: impl IntoIterator<Item = (u64, &'n str)>,
        w: Window,
        keep_gone_since: Option<SystemTime>,
    ) -> ClockDelta {
        // Kept as it is when sorted and distinct (always, from parity).
        let resorted = match sorted_set(&on_main) {
            Cow::Owned(v) => Some(v),
            Cow::Borrowed(_) => None,
        };
        let on_main = resorted.map_or(on_main, Arc::from);
        let mut delta = ClockDelta {
            observed: Some(w.start),
            fresh: self.is_empty(),
            ..ClockDelta::default()
        };
        if *on_main == *self.shown {
            // The same articles (a page whose text changed, or one of
            // several paths): the new array is the snapshot's, so the
            // clock holds that one and the old one can go.
            self.shown = on_main;
        } else {
            self.advance(on_main, names, w, &mut delta);
        }
        self.expire(keep_gone_since.map(ms), &mut delta.expired);
        self.times.shrink(&mut self.stamps, &mut self.off);
        self.last = Some(w.start);
        delta
    }

    /// Moves the clock from what main showed last to `on_main`: articles
    /// gone go off, articles new or back start their clock.
    fn advance<'n>(
        &mut self,
        on_main: Arc<[u64]>,
        names: impl IntoIterator<Item = (u64, &'n str)>,
        w: Window,
        delta: &mut ClockDelta,
    ) {
        // Paths of the articles that start now. Stable: of two paths with
        // one id, the first stays.
        let mut named: Vec<(u64, &str)> = names
            .into_iter()
            .filter(|(id, _)| on_main.binary_search(id).is_ok() && !self.shows(*id))
            .collect();
        named.sort_by_key(|(id, _)| *id);
        named.dedup_by_key(|(id, _)| *id);

        // Gone: shown before, not now.
        let mut gone_now: Option<u32> = None;
        let mut went: Vec<Entry> = Vec::new();
        for (id, stamp) in self.shown.iter().zip(self.stamps.iter()) {
            if on_main.binary_search(id).is_err() {
                delta.gone.push((*id, time(self.times.stamp(*stamp).0)));
                let times = &mut self.times;
                let gone = *gone_now.get_or_insert_with(|| {
                    times.gone.push(ms(w.start));
                    times.gone.len() as u32
                });
                went.push(Entry {
                    id: *id,
                    stamp: *stamp,
                    gone,
                });
            }
        }

        // Shown now: kept, started (new, or back after an absence), or
        // ignored (no path).
        let stamp = (ms(w.end), self.last.map(ms));
        let mut stamp_now: Option<u32> = None;
        let mut stamps = Vec::with_capacity(on_main.len());
        let mut ignored = false;
        let mut back = false;
        let mut old = self.shown.iter().zip(self.stamps.iter()).peekable();
        for id in on_main.iter() {
            while old.next_if(|(o, _)| *o < id).is_some() {}
            if let Some((_, s)) = old.next_if(|(o, _)| *o == id) {
                stamps.push(*s);
                continue;
            }
            let Ok(i) = named.binary_search_by_key(id, |(n, _)| *n) else {
                ignored = true;
                continue;
            };
            let at = *stamp_now.get_or_insert_with(|| self.times.intern(stamp));
            let (first, absent_at) = stamp;
            let name = named.get(i).map_or("", |(_, n)| *n);
            delta
                .added
                .push((name.to_string(), time(first), absent_at.map(time)));
            if let Some(e) = self.gone_entry(*id) {
                // Back: the store drops its old row (none once expired).
                if e.stamp != EVER {
                    let first = self.times.stamp(e.stamp).0;
                    delta.expired.push((*id, time(first)));
                }
                back = true;
            }
            stamps.push(at);
        }
        self.shown = if ignored {
            // Only what the clock keeps: an article without a path
            // has no clock to start.
            let kept = |id: &u64| {
                self.shown.binary_search(id).is_ok()
                    || named.binary_search_by_key(id, |(n, _)| *n).is_ok()
            };
            on_main.iter().copied().filter(kept).collect()
        } else {
            on_main
        };
        self.stamps = stamps.into_boxed_slice();
        if back {
            let shown = &self.shown;
            self.off.retain(|e| shown.binary_search(&e.id).is_err());
        }
        if !went.is_empty() {
            // Grown by what is added, not by doubling.
            self.off.reserve_exact(went.len());
            self.off.append(&mut went);
            self.off.sort_by_key(|e| e.id);
        }
    }

    /// Gone articles no kept snapshot can refer to (gone before `keep`)
    /// leave the clock (their ids go to `expired`) but stay as "shown"
    /// ([`Clock::known`]); past [`SEEN_EVER`] entries in all, those gone
    /// longest are forgotten (a whole observation's at a time), never one
    /// main shows.
    fn expire(&mut self, keep: Option<Ms>, expired: &mut Vec<(u64, SystemTime)>) {
        let times = &self.times;
        for e in self.off.iter_mut() {
            if e.stamp != EVER && times.gone(e).is_some_and(|g| keep.is_none_or(|k| g < k)) {
                expired.push((e.id, time(times.stamp(e.stamp).0)));
                e.stamp = EVER;
            }
        }
        let over = (self.shown.len() + self.off.len()).saturating_sub(SEEN_EVER);
        if over == 0 {
            return;
        }
        let mut ever: Vec<Ms> = (self.off.iter())
            .filter(|e| e.stamp == EVER)
            .filter_map(|e| self.times.gone(e))
            .collect();
        ever.sort_unstable();
        let Some(&cut) = ever.get(over.min(ever.len()).wrapping_sub(1)) else {
            return;
        };
        let times = &self.times;
        self.off
            .retain(|e| e.stamp != EVER || times.gone(e).is_none_or(|g| g > cut));
        self.off.shrink_to_fit();
    }

    /// How many of `ids` main has shown: on the clock, or gone from it
    /// and not yet forgotten (see [`Clock::expire`]).
    pub fn known(&self, ids: &[u64]) -> usize {
        ids.iter()
            .filter(|id| self.shows(**id) || self.gone_entry(**id).is_some())
            .count()
    }

    /// The entry of article `id` if main no longer shows it.
    fn gone_entry(&self, id: u64) -> Option<&Entry> {
        let i = self.off.binary_search_by_key(&id, |e| e.id).ok()?;
        self.off.get(i)
    }

    /// Whether main showed article `id` at the last observation (an
    /// observation needs no path for it).
    pub fn shows(&self, id: u64) -> bool {
        self.shown.binary_search(&id).is_ok()
    }

    /// The first sighting of article `id`, while the clock keeps it: on
    /// main, or gone while a kept snapshot may refer to it.
    pub fn get(&self, id: u64) -> Option<Seen> {
        let at = match self.shown.binary_search(&id) {
            Ok(i) => *self.stamps.get(i)?,
            Err(_) => self.gone_entry(id).map(|e| e.stamp)?,
        };
        if at == EVER {
            return None;
        }
        let (first, absent_at) = self.times.stamp(at);
        Some(Seen {
            first: time(first),
            absent_at: absent_at.map(time),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.shown.is_empty() && self.off.is_empty()
    }

    /// Articles the clock holds in any state (tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shown.len() + self.off.len()
    }

    /// Whether article `id` is on the clock but gone from main (tests).
    #[cfg(test)]
    pub(super) fn is_gone(&self, id: u64) -> bool {
        self.gone_entry(id).is_some_and(|e| e.stamp != EVER)
    }

    /// How many times the clock keeps: stamps, gone times (tests).
    #[cfg(test)]
    pub(super) fn times_kept(&self) -> (usize, usize) {
        (self.times.stamps.len(), self.times.gone.len())
    }

    /// The shown ids' array (tests: whether it is the one passed in).
    #[cfg(test)]
    pub(super) fn shown(&self) -> &Arc<[u64]> {
        &self.shown
    }
}
