//! The status board: per address, the problem tracker, the last round's
//! report and verdict. The scheduler writes one entry per finished round;
//! the HTTP endpoints read snapshots. Locks are never held across `.await`.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::checks::RoundReport;
use crate::config::Target;
use crate::verdict::Verdict;
use crate::verdict::state::{Changes, Tracker};

/// One address as last seen.
#[derive(Clone)]
pub struct Entry {
    pub target: Target,
    pub tracker: Tracker,
    pub last: Option<Arc<RoundReport>>,
    pub verdict: Verdict,
    pub last_check: Option<SystemTime>,
}

/// Every address, in config order.
pub struct Board {
    entries: RwLock<Vec<Entry>>,
}

impl Board {
    pub fn new(targets: &[Target]) -> Self {
        let now = SystemTime::now();
        let entries = targets
            .iter()
            .map(|t| Entry {
                target: t.clone(),
                tracker: Tracker::new(now),
                last: None,
                verdict: Verdict::default(),
                last_check: None,
            })
            .collect();
        Self {
            entries: RwLock::new(entries),
        }
    }

    /// Stores a judged round for address `index`, feeding its findings to
    /// the address's threshold tracker; returns the updated entry and what
    /// changed.
    pub fn record(
        &self,
        index: usize,
        report: RoundReport,
        verdict: Verdict,
        now: SystemTime,
    ) -> Option<(Entry, Changes)> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get_mut(index)?;
        let s = &entry.target.settings;
        let changes = entry.tracker.apply(
            &verdict.findings,
            s.failure_threshold,
            s.success_threshold,
            now,
        );
        entry.verdict = verdict;
        entry.last = Some(Arc::new(report));
        entry.last_check = Some(now);
        Some((entry.clone(), changes))
    }

    /// A copy of every entry.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
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
