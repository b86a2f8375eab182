//! The status board: per address, the problem tracker, the last round's
//! report and verdict, and a short history of recent rounds. The scheduler
//! writes one entry per finished round; the HTTP endpoints read snapshots; a
//! reload re-synchronises the set of entries, keeping the state of every
//! address that survives it. Locks are never held across `.await`.

use super::bars::Bars;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::checks::RoundReport;
use crate::config::Target;
use crate::parity::ContentReport;
use crate::verdict::Verdict;
use crate::verdict::state::{Changes, State, Tracker};

/// Rounds kept per address for the status page's history strip.
pub const HISTORY: usize = 60;

/// Identity of an address across reloads and restarts: site name, URL and
/// vantage (`local` until vantage points exist). The board, the store's
/// rows and the alert labels all use it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub site: String,
    pub url: String,
    pub vantage: String,
}

impl Key {
    pub fn of(t: &Target) -> Self {
        Self {
            site: t.site.clone(),
            url: t.url.to_string(),
            vantage: t.vantage.clone(),
        }
    }
}

/// Hours since the Unix epoch (the store's uptime buckets).
pub fn hour_of(t: SystemTime) -> i64 {
    (crate::ground::time::unix(t) / 3600.0).floor() as i64
}

/// An address's share of rounds up over 1 h, 24 h and 7 d, and its bars.
/// The bars are built in their own allocation: a refresh's map of every
/// address holds a pointer each, not 500 bytes of counts.
pub type Uptime = ([Option<f64>; 3], Arc<Bars>);

/// One address as last seen.
#[derive(Clone)]
pub struct Entry {
    /// Shared by every copy of the entry (a round's, a snapshot's).
    pub target: Arc<Target>,
    pub tracker: Tracker,
    pub last: Option<Arc<RoundReport>>,
    /// The last round's fingerprints and parity (set with `last`).
    pub content: Option<Arc<ContentReport>>,
    pub verdict: Verdict,
    pub last_check: Option<SystemTime>,
    /// The last [`HISTORY`] rounds' durations, seconds, oldest first
    /// (the status page's sparkline).
    pub durations: VecDeque<f32>,
    /// Share of rounds `up` over 1 h, 24 h, 7 d (from the store's history).
    pub uptime: [Option<f64>; 3],
    /// The last 24 hours and 7 days by worst state (from the store).
    pub bars: Arc<Bars>,
}

impl Entry {
    /// This address from this vantage, as the site verdict reads it.
    pub fn member(&self) -> crate::verdict::site::Member {
        crate::verdict::site::Member {
            address: self.target.label(),
            vantage: self.target.vantage.clone(),
            state: self.tracker.state(),
            problems: self.tracker.problems().iter().map(|p| p.kind).collect(),
            role: self.target.role,
            primary: self.target.primary,
            host: self.target.url.host_str().unwrap_or_default().to_string(),
            announced: self.content.as_ref().and_then(|c| c.announced.clone()),
        }
    }

    fn new(target: Arc<Target>, now: SystemTime) -> Self {
        Self {
            target,
            tracker: Tracker::new(now),
            last: None,
            content: None,
            verdict: Verdict::default(),
            last_check: None,
            durations: VecDeque::with_capacity(HISTORY),
            uptime: [None; 3],
            bars: Arc::new(Bars::build(&[], hour_of(now))),
        }
    }
}

/// What a re-synchronisation changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resync {
    pub added: Vec<Entry>,
    pub removed: Vec<Entry>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("target", &self.target.url.as_str())
            .field("state", &self.tracker.state())
            .finish()
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.target == other.target
    }
}

impl Eq for Entry {}

/// Every address, in config order, with indexes so that a round's update
/// and a site's states cost the same with 10 addresses or 10,000.
pub struct Board {
    entries: RwLock<Entries>,
}

#[derive(Default)]
struct Entries {
    list: Vec<Entry>,
    by_key: HashMap<Key, usize>,
    by_site: HashMap<String, Vec<usize>>,
}

impl Entries {
    fn new(list: Vec<Entry>) -> Self {
        let mut by_key = HashMap::with_capacity(list.len());
        let mut by_site: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in list.iter().enumerate() {
            by_key.insert(Key::of(&e.target), i);
            by_site.entry(e.target.site.clone()).or_default().push(i);
        }
        Self {
            list,
            by_key,
            by_site,
        }
    }

    fn get_mut(&mut self, key: &Key) -> Option<&mut Entry> {
        let i = *self.by_key.get(key)?;
        self.list.get_mut(i)
    }
}

impl std::ops::Deref for Entries {
    type Target = Vec<Entry>;
    fn deref(&self) -> &Vec<Entry> {
        &self.list
    }
}

impl Board {
    /// The board for `targets`; each entry shares its target with the
    /// scheduler's task (one copy of an address's settings, not two).
    pub fn new(targets: &[Arc<Target>]) -> Self {
        let now = SystemTime::now();
        let list = targets.iter().map(|t| Entry::new(t.clone(), now)).collect();
        Self {
            entries: RwLock::new(Entries::new(list)),
        }
    }

    /// Makes the board hold exactly `targets`, in their order: surviving
    /// addresses keep their tracker, history and last round (with the new
    /// settings), new ones start `unknown`, missing ones are dropped.
    pub fn sync(&self, targets: &[Arc<Target>]) -> Resync {
        let now = SystemTime::now();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let mut old: HashMap<Key, Entry> = std::mem::take(&mut entries.list)
            .into_iter()
            .map(|e| (Key::of(&e.target), e))
            .collect();
        let mut out = Resync::default();
        let mut list = Vec::with_capacity(targets.len());
        for t in targets {
            match old.remove(&Key::of(t)) {
                // An unchanged address keeps the allocation its running
                // task shares (the scheduler restarts only changed ones).
                Some(mut e) => {
                    if e.target != *t {
                        e.target = t.clone();
                    }
                    list.push(e);
                }
                None => {
                    let e = Entry::new(t.clone(), now);
                    out.added.push(e.clone());
                    list.push(e);
                }
            }
        }
        *entries = Entries::new(list);
        out.removed = old.into_values().collect();
        out
    }

    /// Stores a judged round for `key`, feeding its findings to the
    /// address's threshold tracker; returns the updated entry and what
    /// changed. `None` when the address is no longer on the board.
    pub fn record(
        &self,
        key: &Key,
        report: RoundReport,
        content: ContentReport,
        verdict: Verdict,
        now: SystemTime,
    ) -> Option<(Entry, Changes)> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get_mut(key)?;
        let s = &entry.target.settings;
        let changes = entry.tracker.apply(
            &verdict.findings,
            &verdict.undetermined,
            s.failure_threshold,
            s.success_threshold,
            now,
        );
        if entry.durations.len() == HISTORY {
            entry.durations.pop_front();
        }
        entry.durations.push_back(report.duration_seconds as f32);
        entry.verdict = verdict;
        entry.last = Some(Arc::new(report));
        entry.content = Some(Arc::new(content));
        entry.last_check = Some(now);
        Some((entry.clone(), changes))
    }

    /// Puts back problems raised before a restart (see `Tracker::restore`).
    pub fn restore(&self, rows: Vec<crate::store::ProblemRow>) {
        let now = SystemTime::now();
        let mut by_key: HashMap<Key, Vec<crate::store::ProblemRow>> = HashMap::new();
        for r in rows {
            let key = Key {
                site: r.site.clone(),
                url: r.url.clone(),
                vantage: r.vantage.clone(),
            };
            by_key.entry(key).or_default().push(r);
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        for (key, rows) in by_key {
            let Some(e) = entries.get_mut(&key) else {
                continue;
            };
            let mine: Vec<crate::verdict::state::Problem> = rows
                .iter()
                .filter_map(|r| {
                    Some(crate::verdict::state::Problem {
                        kind: crate::verdict::Kind::parse(&r.kind)?,
                        detail: r.detail.clone(),
                        since: SystemTime::UNIX_EPOCH
                            + std::time::Duration::from_millis(
                                u64::try_from(r.since_ms).unwrap_or(0),
                            ),
                    })
                })
                .collect();
            if !mine.is_empty() {
                e.tracker
                    .restore(mine, e.target.settings.failure_threshold, now);
            }
        }
    }

    /// How many addresses are in each state, in `State::ALL` order, without
    /// copying the board.
    pub fn state_counts(&self) -> [usize; 4] {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let mut counts = [0; 4];
        for e in entries.iter() {
            if let Some(i) = State::ALL.iter().position(|s| *s == e.tracker.state()) {
                counts[i] += 1;
            }
        }
        counts
    }

    /// The states of every address of `site`.
    pub fn site_members(&self, site: &str) -> Vec<crate::verdict::site::Member> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .by_site
            .get(site)
            .into_iter()
            .flatten()
            .filter_map(|i| entries.list.get(*i))
            .map(Entry::member)
            .collect()
    }

    /// Sets the uptime ratios and bars of every address (none for those
    /// absent from the store).
    pub fn set_uptimes(&self, mut all: HashMap<Key, Uptime>, now: SystemTime) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let Entries { list, by_key, .. } = &mut *entries;
        for (key, i) in by_key.iter() {
            if let Some(e) = list.get_mut(*i) {
                let (shares, bars) = all.remove(key).unwrap_or_else(|| {
                    (Default::default(), Arc::new(Bars::build(&[], hour_of(now))))
                });
                e.uptime = shares;
                e.bars = bars;
            }
        }
    }

    /// A copy of every entry.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .list
            .clone()
    }

    /// Every address has finished at least one round.
    pub fn all_checked(&self) -> bool {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .all(|e| e.last_check.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use crate::verdict::fixtures::target;

    /// A reload keeps the allocation of an unchanged address (the task the
    /// scheduler left running holds it) and takes the new one of a changed
    /// address (whose task is restarted with it).
    #[test]
    fn a_resync_shares_targets_with_the_scheduler() {
        let first = [target(Role::Main), target(Role::Mirror)].map(Arc::new);
        let board = Board::new(&first);
        let mut changed = target(Role::Mirror);
        Arc::make_mut(&mut changed.settings).failure_threshold += 1;
        let second = [Arc::new(target(Role::Main)), Arc::new(changed)];
        board.sync(&second);
        let held = board.snapshot();
        assert!(Arc::ptr_eq(&held[0].target, &first[0]));
        assert!(Arc::ptr_eq(&held[1].target, &second[1]));
    }
}
