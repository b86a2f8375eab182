//! Freshness: which article links the main site shows, when mirrorwatch first
//! saw each, and whether a mirror's fetch lacked any of them.
//!
//! **The rule.** An article counts as *missing* from a mirror's fetch at time
//! T only when a main snapshot taken wholly before T and the first main
//! snapshot taken wholly after T both show it, and the mirror's page at T
//! lacks it. An article that rotated off main in between, or appeared on main
//! after T, is not missing, whatever the page order (rails above stable
//! sections are the norm). So a mirror fetch is judged only once a later main
//! snapshot exists: it waits in a short queue ([`Freshness`]) until then.
//!
//! **The clock.** Each article's first sighting on main is kept with the
//! start of the previous main fetch that did *not* show it, so its age at T is
//! known within bounds: at least `T - first_seen`, at most `T - absent_at`
//! (unbounded when nothing is known before the first sighting). The bounds
//! travel to the verdict, which raises `content_stale` only when the lower
//! bound exceeds `max_lag` and counts a round as evidence of freshness only
//! when the upper bound does not. The clock is persisted (the scheduler
//! writes [`ClockDelta`]s to the store) so a restart keeps it.
//!
//! Articles are identified by their path (query removed, see `normalize`)
//! and kept as 64-bit hashes. No path is kept in memory: the deltas carry
//! them to the store, which keeps each while the clock can name it, and
//! the pipeline reads the oldest missing article's path from there.
//!
//! The clock is also the memory of what main has shown ([`Clock::known`],
//! to tell an old copy of main from another page): a gone article stays
//! as "shown" after it leaves the clock, up to [`SEEN_EVER`] entries.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use regex::Regex;

use super::entries::{EVER, Entry, Ms, Times, ms, time};
use super::paths::Paths;

/// Main snapshots kept per path: enough to bracket every pending mirror
/// fetch when main and mirror run at the same interval.
pub const SNAPSHOTS: usize = 4;
/// Mirror fetches waiting for a later main snapshot, per mirror and path.
pub const PENDING: usize = 4;

/// Picks article links out of a page's links.
#[derive(Debug, Clone, Default)]
pub struct ArticleMatcher {
    pattern: Option<Arc<Regex>>,
}

impl ArticleMatcher {
    pub fn new(pattern: Option<Arc<Regex>>) -> Self {
        Self { pattern }
    }

    /// Whether `other` picks the same articles (the same pattern, or both
    /// the heuristic).
    pub fn same_as(&self, other: &ArticleMatcher) -> bool {
        self.pattern.as_deref().map(Regex::as_str) == other.pattern.as_deref().map(Regex::as_str)
    }

    /// With a pattern: the path matches it. Without: the heuristic, a path of
    /// two or more segments carrying a date (`/2026/11/27/`, `2026-11-27`)
    /// or a numeric id of five or more digits. Works on bytes, so any UTF-8
    /// (Persian, CJK, accented slugs) is safe.
    pub fn is_article(&self, path: &str) -> bool {
        if let Some(re) = &self.pattern {
            return re.is_match(path);
        }
        // One pass over the segments, the two before kept for the date
        // test: no allocation per link (a page has hundreds).
        let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
        let is_year = |s: &[u8]| s.len() == 4 && s.starts_with(b"20") && digits(s);
        let two = |s: &[u8]| s.len() <= 2 && digits(s);
        let (mut count, mut found) = (0usize, false);
        let (mut before, mut last): (&[u8], &[u8]) = (&[], &[]);
        for s in path.split('/').filter(|s| !s.is_empty()).map(str::as_bytes) {
            count += 1;
            let dated = count >= 3 && is_year(before) && two(last) && two(s);
            let iso = s.len() >= 10
                && is_year(&s[..4])
                && s.get(4) == Some(&b'-')
                && s.get(7) == Some(&b'-');
            let numeric_id = s.split(|b| !b.is_ascii_digit()).any(|run| run.len() >= 5);
            found |= dated || iso || numeric_id;
            (before, last) = (last, s);
        }
        count >= 2 && found
    }

    /// The distinct article paths among `links`, first-seen order; a
    /// repeated link (a headline and its picture) is matched once.
    pub fn articles(&self, links: &Paths) -> Paths {
        let mut seen = HashSet::with_capacity(links.len());
        let mut out = Paths::with_capacity(links.bytes(), links.len());
        for l in links.iter() {
            if seen.insert(l) && self.is_article(l) {
                out.push(l);
            }
        }
        out
    }
}

/// A stable 64-bit id for an article path (FNV-1a: fixed across runs and
/// builds, unlike std's `DefaultHasher`).
pub fn article_id(path: &str) -> u64 {
    crate::ground::hash::fnv1a(path.as_bytes())
}

/// Sorted, deduplicated ids of `articles`.
pub fn ids<S: AsRef<str>>(articles: impl IntoIterator<Item = S>) -> Arc<[u64]> {
    let mut v: Vec<u64> = articles
        .into_iter()
        .map(|a| article_id(a.as_ref()))
        .collect();
    v.sort_unstable();
    v.dedup();
    v.into()
}

/// When a page was fetched: it was generated somewhere in `[start, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: SystemTime,
    pub end: SystemTime,
}

impl Window {
    pub fn at(t: SystemTime) -> Self {
        Self { start: t, end: t }
    }
}

/// One article on the clock, as [`Clock::get`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// End of the main fetch that first showed it.
    pub first: SystemTime,
    /// Start of the main fetch before that, which did not show it; `None`
    /// when nothing is known (first round ever, or the clock was lost).
    pub absent_at: Option<SystemTime>,
}

/// What a main observation changed, for the store (`store::clock`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClockDelta {
    /// Articles whose clock starts (new, or back): path, first sighting,
    /// the fetch before it.
    pub added: Vec<(String, SystemTime, Option<SystemTime>)>,
    /// Articles main stopped showing: kept, since the clock may still
    /// name them, but not restored after a restart.
    pub gone: Vec<u64>,
    /// Gone articles the clock no longer names (no kept snapshot can
    /// refer to them): the store drops them.
    pub expired: Vec<u64>,
    /// Start of this observation: the `absent_at` of anything new next time.
    pub observed: Option<SystemTime>,
}

/// First-seen times of the main site's articles (all paths of a site),
/// to the millisecond: a flat array sorted by article id, 16 bytes an
/// article. Paths are not kept: the store has them (the deltas carry
/// them), and a detail that names an article looks it up there.
#[derive(Debug, Default)]
pub struct Clock {
    seen: Vec<Entry>,
    times: Times,
    /// Start of the last main observation.
    last: Option<SystemTime>,
}

/// An article (new, or back after an absence) starting its clock with
/// `stamp`, at index `at_stamp` in the clock's times; its addition is
/// recorded for the store.
fn fresh(
    delta: &mut ClockDelta,
    (id, name): (u64, &str),
    stamp: (Ms, Option<Ms>),
    at_stamp: u32,
) -> Entry {
    let (first, absent_at) = stamp;
    delta
        .added
        .push((name.to_string(), time(first), absent_at.map(time)));
    Entry {
        id,
        stamp: at_stamp,
        gone: 0,
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
        let mut stamps: HashMap<(Ms, Option<Ms>), u32> = HashMap::new();
        let mut seen: Vec<Entry> = entries
            .into_iter()
            .map(|(name, first, absent_at)| {
                let stamp = (ms(first), absent_at.map(ms));
                let stamp = *stamps.entry(stamp).or_insert_with(|| {
                    times.stamps.push(stamp);
                    (times.stamps.len() - 1) as u32
                });
                Entry {
                    id: article_id(&name),
                    stamp,
                    gone: 0,
                }
            })
            .collect();
        seen.sort_by_key(|e| e.id);
        seen.dedup_by_key(|e| e.id);
        seen.shrink_to_fit();
        times.shrink(&mut seen);
        Self { seen, times, last }
    }

    /// Records that main showed `on_main` (every path) in a fetch over `w`.
    /// Articles gone before `keep_gone_since` leave the clock.
    pub fn observe(
        &mut self,
        on_main: &[String],
        w: Window,
        keep_gone_since: Option<SystemTime>,
    ) -> ClockDelta {
        let names = on_main.iter().map(String::as_str);
        self.observe_ids(&ids(names.clone()), names, w, keep_gone_since)
    }

    /// [`Clock::observe`] given the sorted ids of everything main showed,
    /// and the paths of those that may be new. An id with no path here
    /// must already be on the clock and not gone (a page unchanged since
    /// the last observation; parity guarantees it), else it is ignored.
    pub fn observe_ids<'n>(
        &mut self,
        on_main: &[u64],
        names: impl IntoIterator<Item = &'n str>,
        w: Window,
        keep_gone_since: Option<SystemTime>,
    ) -> ClockDelta {
        let mut delta = ClockDelta {
            observed: Some(w.start),
            ..ClockDelta::default()
        };
        // This observation's gone time, kept with its first removal.
        let mut gone_now: Option<u32> = None;
        for e in self.seen.iter_mut() {
            if e.gone == 0 && on_main.binary_search(&e.id).is_err() {
                delta.gone.push(e.id);
                let times = &mut self.times;
                e.gone = *gone_now.get_or_insert_with(|| {
                    times.gone.push(ms(w.start));
                    times.gone.len() as u32
                });
            }
        }
        let stamp = (ms(w.end), self.last.map(ms));
        // This observation's stamp, kept with its first article.
        let mut stamp_now: Option<u32> = None;
        let mut new: Vec<(u64, &str)> = Vec::new();
        for name in names {
            let id = article_id(name);
            if on_main.binary_search(&id).is_err() {
                continue;
            }
            match self.seen.binary_search_by_key(&id, |e| e.id) {
                Ok(i) if self.seen[i].gone == 0 => {}
                // Back after an absence (or only remembered as shown):
                // the clock starts again.
                Ok(i) => {
                    let at = *stamp_now.get_or_insert_with(|| self.times.intern(stamp));
                    self.seen[i] = fresh(&mut delta, (id, name), stamp, at);
                }
                Err(_) => new.push((id, name)),
            }
        }
        // Stable: of two paths with one id, the first stays.
        new.sort_by_key(|(id, _)| *id);
        new.dedup_by_key(|(id, _)| *id);
        if !new.is_empty() {
            let at = *stamp_now.get_or_insert_with(|| self.times.intern(stamp));
            // Grown by what is added, not by doubling; two sorted runs
            // merge in linear time.
            self.seen.reserve_exact(new.len());
            for (id, name) in new {
                let e = fresh(&mut delta, (id, name), stamp, at);
                self.seen.push(e);
            }
            self.seen.sort_by_key(|e| e.id);
        }
        self.expire(keep_gone_since.map(ms), &mut delta.expired);
        self.times.shrink(&mut self.seen);
        self.last = Some(w.start);
        delta
    }

    /// Gone articles no kept snapshot can refer to (gone before `keep`)
    /// leave the clock (their ids go to `expired`) but stay as "shown"
    /// ([`Clock::known`]); past [`SEEN_EVER`] entries in all, those gone
    /// longest are forgotten (a whole observation's at a time), never one
    /// main shows.
    fn expire(&mut self, keep: Option<Ms>, expired: &mut Vec<u64>) {
        let times = &self.times;
        for e in self.seen.iter_mut() {
            if e.stamp != EVER && times.gone(e).is_some_and(|g| keep.is_none_or(|k| g < k)) {
                e.stamp = EVER;
                expired.push(e.id);
            }
        }
        let over = self.seen.len().saturating_sub(SEEN_EVER);
        if over == 0 {
            return;
        }
        let mut ever: Vec<Ms> = (self.seen.iter())
            .filter(|e| e.stamp == EVER)
            .filter_map(|e| self.times.gone(e))
            .collect();
        ever.sort_unstable();
        let Some(&cut) = ever.get(over.min(ever.len()).wrapping_sub(1)) else {
            return;
        };
        let times = &self.times;
        self.seen
            .retain(|e| e.stamp != EVER || times.gone(e).is_none_or(|g| g > cut));
    }

    /// How many of `ids` main has shown: on the clock, or gone from it
    /// and not yet forgotten (see [`Clock::expire`]).
    pub fn known(&self, ids: &[u64]) -> usize {
        ids.iter().filter(|id| self.entry(**id).is_some()).count()
    }

    /// Article `id`'s entry, in any state.
    fn entry(&self, id: u64) -> Option<&Entry> {
        let i = self.seen.binary_search_by_key(&id, |e| e.id).ok()?;
        self.seen.get(i)
    }

    /// Whether main showed article `id` at the last observation (an
    /// observation needs no path for it).
    pub fn shows(&self, id: u64) -> bool {
        self.entry(id).is_some_and(|e| e.gone == 0)
    }

    /// The first sighting of article `id`, while the clock keeps it: on
    /// main, or gone while a kept snapshot may refer to it.
    pub fn get(&self, id: u64) -> Option<Seen> {
        let e = self.entry(id).filter(|e| e.stamp != EVER)?;
        let (first, absent_at) = self.times.stamp(e);
        Some(Seen {
            first: time(first),
            absent_at: absent_at.map(time),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// How many articles the clock remembers main showing, counting those
/// it shows now (all of them, however many) and those gone longest after.
pub const SEEN_EVER: usize = 512;

/// A main page's articles at one fetch.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub window: Window,
    /// Shared with the page's analysis: an unchanged page costs no copy.
    pub ids: Arc<[u64]>,
}

/// Main snapshots of one path, oldest first, at most [`SNAPSHOTS`].
#[derive(Debug, Default)]
pub struct Snapshots(VecDeque<Snapshot>);

impl Snapshots {
    pub fn push(&mut self, s: Snapshot) {
        if self.0.len() == SNAPSHOTS {
            self.0.pop_front();
        }
        self.0.push_back(s);
    }

    /// Start of the oldest kept snapshot.
    pub fn oldest(&self) -> Option<SystemTime> {
        self.0.front().map(|s| s.window.start)
    }

    /// The latest snapshot taken wholly before `w` and the first taken
    /// wholly after it.
    fn bracket(&self, w: Window) -> Option<(&Snapshot, &Snapshot)> {
        let before = self.0.iter().rev().find(|s| s.window.end <= w.start)?;
        let after = self.0.iter().find(|s| s.window.start >= w.end)?;
        Some((before, after))
    }
}

/// The judgement of one mirror fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// When the judged mirror page was fetched.
    pub observed: Window,
    pub missing: usize,
    /// Lower bound of the lag: the longest any missing article had surely
    /// been on main at the mirror's fetch.
    pub lag: Duration,
    /// Upper bound; `None` when some missing article's first sighting has
    /// no earlier main fetch to bound it.
    pub lag_upper: Option<Duration>,
    /// The missing article with the largest lower bound (its id: the
    /// store has its path).
    pub oldest: Option<u64>,
}

/// Mirror fetches of one path waiting for a main snapshot after them.
#[derive(Debug, Default)]
pub struct Pending(VecDeque<(Window, Arc<[u64]>)>);

impl Pending {
    pub fn push(&mut self, w: Window, ids: Arc<[u64]>) {
        if self.0.len() == PENDING {
            self.0.pop_front();
        }
        self.0.push_back((w, ids));
    }

    /// Judges the newest waiting fetch that main snapshots now bracket, and
    /// drops it and every older one. `None` when none can be judged yet.
    pub fn judge(&mut self, main: &Snapshots, clock: &Clock) -> Option<Judged> {
        let (i, judged) = self
            .0
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, (w, on_mirror))| {
                let (before, after) = main.bracket(*w)?;
                Some((i, judge(*w, on_mirror, before, after, clock)))
            })?;
        self.0.drain(..=i);
        Some(judged)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The rule: missing = shown by both bracketing main snapshots, absent from
/// the mirror. An article the clock does not know gives no bound at all.
pub fn judge(
    w: Window,
    on_mirror: &[u64],
    before: &Snapshot,
    after: &Snapshot,
    clock: &Clock,
) -> Judged {
    let mut out = Judged {
        observed: w,
        missing: 0,
        lag: Duration::ZERO,
        lag_upper: Some(Duration::ZERO),
        oldest: None,
    };
    for id in before
        .ids
        .iter()
        .filter(|id| after.ids.binary_search(id).is_ok() && on_mirror.binary_search(id).is_err())
    {
        out.missing += 1;
        let Some(seen) = clock.get(*id) else {
            out.lag_upper = None;
            continue;
        };
        let low = w.start.duration_since(seen.first).unwrap_or_default();
        if out.oldest.is_none() || low > out.lag {
            out.lag = low;
            out.oldest = Some(*id);
        }
        let high = seen
            .absent_at
            .map(|a| w.end.duration_since(a).unwrap_or_default());
        out.lag_upper = match (out.lag_upper, high) {
            (Some(u), Some(h)) => Some(u.max(h)),
            _ => None,
        };
    }
    out
}

#[cfg(test)]
#[path = "freshness_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "known_tests.rs"]
mod known_tests;
