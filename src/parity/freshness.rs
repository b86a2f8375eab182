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

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use regex::Regex;

pub use super::clock::{Clock, SEEN_EVER};
use super::paths::{Articles, Paths};
pub use super::snapshots::{Snapshot, Snapshots};

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
        // A run of five or more ASCII digits.
        let numeric_id = |s: &[u8]| {
            let mut run = 0;
            s.iter().any(|b| {
                run = if b.is_ascii_digit() { run + 1 } else { 0 };
                run >= 5
            })
        };
        let (mut count, mut found) = (0usize, false);
        let (mut before, mut last): (&[u8], &[u8]) = (&[], &[]);
        for s in path
            .as_bytes()
            .split(|b| *b == b'/')
            .filter(|s| !s.is_empty())
        {
            count += 1;
            // Once found, only the segment count is left to see.
            found = found
                || (count >= 3 && is_year(before) && two(last) && two(s))
                || (s.len() >= 10
                    && s.get(..4).is_some_and(is_year)
                    && s.get(4) == Some(&b'-')
                    && s.get(7) == Some(&b'-'))
                || numeric_id(s);
            if found && count >= 2 {
                return true;
            }
            (before, last) = (last, s);
        }
        false
    }

    /// The distinct article paths among `links`, first-seen order; a
    /// repeated link (a headline and its picture) is matched once.
    ///
    /// Only article links are hashed, and with foldhash (seeded per
    /// process, so a page cannot pick colliding paths ahead of time):
    /// std's SipHash over every link was ~1% of the daemon's CPU when
    /// every page changed.
    pub fn articles(&self, links: &Paths) -> Articles {
        let mut seen: HashSet<&str, foldhash::fast::RandomState> =
            HashSet::with_capacity_and_hasher(links.len(), Default::default());
        let mut out = Articles::with_capacity(links.bytes(), links.len());
        for l in links.iter() {
            if self.is_article(l) && seen.insert(l) {
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

/// `v` as a sorted set: borrowed when it already is one (sorted and
/// distinct, as every producer here makes it), else a sorted,
/// de-duplicated copy. For article ids and shingle hashes alike.
pub fn sorted_set<T: Ord + Copy>(v: &[T]) -> std::borrow::Cow<'_, [T]> {
    if v.windows(2).all(|w| w[0] < w[1]) {
        return std::borrow::Cow::Borrowed(v);
    }
    let mut owned = v.to_vec();
    owned.sort_unstable();
    owned.dedup();
    std::borrow::Cow::Owned(owned)
}

/// Sorted, deduplicated ids of `articles`.
pub fn ids<S: AsRef<str>>(articles: impl IntoIterator<Item = S>) -> Arc<[u64]> {
    id_set(
        articles
            .into_iter()
            .map(|a| article_id(a.as_ref()))
            .collect(),
    )
}

/// `v` sorted and deduplicated, as an analysis keeps article ids.
pub fn id_set(mut v: Vec<u64>) -> Arc<[u64]> {
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
    /// name them, but not restored after a restart. Each by the store's
    /// key for it: its id and first sighting.
    pub gone: Vec<(u64, SystemTime)>,
    /// Rows the store drops, by the same key: gone articles the clock no
    /// longer names (no kept snapshot can refer to them), and the old row
    /// of an article that is back (its clock starts again).
    pub expired: Vec<(u64, SystemTime)>,
    /// Start of this observation: the `absent_at` of anything new next time.
    pub observed: Option<SystemTime>,
    /// The clock held nothing before this observation (a site new to the
    /// config, a first round, a clock not restored): any rows the store
    /// has for the site are not this clock's, and go first.
    pub fresh: bool,
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
                Some((i, judge(*w, on_mirror, &before, &after, clock)))
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
pub fn judge(w: Window, on_mirror: &[u64], before: &[u64], after: &[u64], clock: &Clock) -> Judged {
    let mut out = Judged {
        observed: w,
        missing: 0,
        lag: Duration::ZERO,
        lag_upper: Some(Duration::ZERO),
        oldest: None,
    };
    for id in before
        .iter()
        .filter(|id| after.binary_search(id).is_ok() && on_mirror.binary_search(id).is_err())
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

#[cfg(test)]
#[path = "article_path_tests.rs"]
mod article_path_tests;
