//! Problem lifecycle across rounds: a problem is raised after
//! `failure_threshold` consecutive rounds show it and cleared after
//! `success_threshold` consecutive rounds without it. The address's state
//! follows from the raised problems.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use super::{Finding, Kind, Severity};

/// An address's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Unknown,
    Up,
    Degraded,
    Down,
}

impl State {
    pub const ALL: [State; 4] = [State::Unknown, State::Up, State::Degraded, State::Down];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
        }
    }
}

/// A raised problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: Kind,
    pub detail: String,
    /// Start of the run of bad rounds that raised it.
    pub since: SystemTime,
}

#[derive(Debug, Clone, Copy, Default)]
struct Streak {
    bad: u32,
    good: u32,
    first_bad: Option<SystemTime>,
}

/// Threshold bookkeeping for one address.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// One per kind, in [`Kind::ALL`]'s order: inline, where a map took
    /// ~1 KB of heap per address (and was copied with every snapshot).
    streaks: [Streak; Kind::ALL.len()],
    raised: BTreeMap<Kind, Problem>,
    state: State,
    since: SystemTime,
    rounds: u64,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new(SystemTime::now())
    }
}

/// What changed in one round, for alerting and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub raised: Vec<Kind>,
    pub cleared: Vec<Kind>,
    /// The address's state moved: from, to.
    pub state: Option<(State, State)>,
}

impl Tracker {
    pub fn new(now: SystemTime) -> Self {
        Self {
            streaks: [Streak::default(); Kind::ALL.len()],
            raised: BTreeMap::new(),
            state: State::Unknown,
            since: now,
            rounds: 0,
        }
    }

    /// Feeds one round's findings. Kinds in `undetermined` (no evidence
    /// this round) keep their streaks as they are: no evidence never
    /// raises a problem and never counts toward clearing one.
    pub fn apply(
        &mut self,
        findings: &[Finding],
        undetermined: &[Kind],
        failure_threshold: u32,
        success_threshold: u32,
        now: SystemTime,
    ) -> Changes {
        let mut changes = Changes::default();
        self.rounds = self.rounds.saturating_add(1);
        for (kind, streak) in Kind::ALL.into_iter().zip(&mut self.streaks) {
            match findings.iter().find(|f| f.kind == kind) {
                Some(f) => {
                    streak.bad = streak.bad.saturating_add(1);
                    streak.good = 0;
                    let first = *streak.first_bad.get_or_insert(now);
                    if let Some(p) = self.raised.get_mut(&kind) {
                        p.detail.clone_from(&f.detail);
                    } else if streak.bad >= failure_threshold {
                        self.raised.insert(
                            kind,
                            Problem {
                                kind,
                                detail: f.detail.clone(),
                                since: first,
                            },
                        );
                        changes.raised.push(kind);
                    }
                }
                None if undetermined.contains(&kind) => {}
                None => {
                    streak.good = streak.good.saturating_add(1);
                    streak.bad = 0;
                    streak.first_bad = None;
                    if self.raised.contains_key(&kind) && streak.good >= success_threshold {
                        self.raised.remove(&kind);
                        changes.cleared.push(kind);
                    }
                }
            }
        }
        // A round that judged nothing (a vantage whose proxy failed) is no
        // evidence of any state: an address not yet seen stays unknown.
        if super::nothing_judged(findings, undetermined) {
            return changes;
        }
        let state = self.derived_state();
        if state != self.state {
            changes.state = Some((self.state, state));
            self.state = state;
            self.since = now;
        }
        changes
    }

    /// Puts back problems raised before a restart: they stay raised until
    /// `success_threshold` clean rounds clear them, as if never interrupted.
    pub fn restore(&mut self, problems: Vec<Problem>, failure_threshold: u32, now: SystemTime) {
        for p in problems {
            let at = Kind::ALL.iter().position(|k| *k == p.kind);
            if let Some(streak) = at.and_then(|i| self.streaks.get_mut(i)) {
                streak.bad = failure_threshold;
                streak.first_bad = Some(p.since);
            }
            self.raised.insert(p.kind, p);
        }
        self.state = self.derived_state();
        self.since = now;
    }

    fn derived_state(&self) -> State {
        if self
            .raised
            .values()
            .any(|p| p.kind.severity() == Severity::Critical)
        {
            State::Down
        } else if self.raised.is_empty() {
            State::Up
        } else {
            State::Degraded
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// When the current state began.
    pub fn since(&self) -> SystemTime {
        self.since
    }

    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    pub fn is_raised(&self, kind: Kind) -> bool {
        self.raised.contains_key(&kind)
    }

    /// The raised problem of this kind, if any.
    pub fn problem(&self, kind: Kind) -> Option<&Problem> {
        self.raised.get(&kind)
    }

    /// Raised problems, critical first.
    pub fn problems(&self) -> Vec<&Problem> {
        let mut out: Vec<&Problem> = self.raised.values().collect();
        out.sort_by_key(|p| (std::cmp::Reverse(p.kind.severity()), p.kind));
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn f(kind: Kind) -> Finding {
        Finding {
            kind,
            detail: "evidence".into(),
        }
    }

    #[test]
    fn raises_after_failure_threshold_and_clears_after_success_threshold() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let at = |n: u64| t0 + Duration::from_secs(60 * n);
        let mut t = Tracker::new(t0);
        assert_eq!(t.state(), State::Unknown);
        let bad = [f(Kind::HttpError)];
        assert!(t.apply(&bad, &[], 3, 2, at(1)).raised.is_empty());
        assert_eq!(t.state(), State::Up, "one bad round never raises");
        t.apply(&bad, &[], 3, 2, at(2));
        assert_eq!(
            t.apply(&bad, &[], 3, 2, at(3)).raised,
            vec![Kind::HttpError]
        );
        assert_eq!(t.state(), State::Down);
        assert_eq!(
            t.problems()[0].since,
            at(1),
            "since = first bad round of the streak"
        );
        assert!(t.apply(&[], &[], 3, 2, at(4)).cleared.is_empty());
        assert_eq!(t.state(), State::Down, "one good round does not clear");
        assert_eq!(
            t.apply(&[], &[], 3, 2, at(5)).cleared,
            vec![Kind::HttpError]
        );
        assert_eq!(t.state(), State::Up);
        assert_eq!(t.since(), at(5));
    }

    #[test]
    fn changes_name_each_state_move_once_and_no_evidence_moves_nothing() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let at = |n: u64| t0 + Duration::from_secs(60 * n);
        let mut t = Tracker::new(t0);
        let bad = [f(Kind::HttpError)];
        let changes = |raised: Vec<Kind>, cleared: Vec<Kind>, state| Changes {
            raised,
            cleared,
            state,
        };
        assert_eq!(
            t.apply(&[], &[], 2, 2, at(1)),
            changes(vec![], vec![], Some((State::Unknown, State::Up)))
        );
        assert_eq!(
            t.apply(&[], &[], 2, 2, at(2)),
            changes(vec![], vec![], None)
        );
        assert_eq!(
            t.apply(&bad, &[], 2, 2, at(3)),
            changes(vec![], vec![], None)
        );
        assert_eq!(
            t.apply(&bad, &[], 2, 2, at(4)),
            changes(
                vec![Kind::HttpError],
                vec![],
                Some((State::Up, State::Down))
            )
        );
        // A round that cannot judge HTTP neither clears nor moves the state.
        assert_eq!(
            t.apply(&[], &[Kind::HttpError], 2, 2, at(5)),
            changes(vec![], vec![], None)
        );
        assert_eq!(
            t.apply(&[], &[], 2, 2, at(6)),
            changes(vec![], vec![], None)
        );
        assert_eq!(
            t.apply(&[], &[], 2, 2, at(7)),
            changes(
                vec![],
                vec![Kind::HttpError],
                Some((State::Down, State::Up))
            )
        );
    }

    #[test]
    fn restored_problems_stay_until_success_threshold() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let mut t = Tracker::new(now);
        let p = Problem {
            kind: Kind::TlsInvalid,
            detail: "expired".into(),
            since: SystemTime::UNIX_EPOCH,
        };
        t.restore(vec![p], 3, now);
        assert_eq!(t.state(), State::Down);
        let still = t.apply(&[f(Kind::TlsInvalid)], &[], 3, 2, now);
        assert!(still.raised.is_empty(), "no re-raise after restart");
        assert_eq!(t.problems()[0].since, SystemTime::UNIX_EPOCH);
        t.apply(&[], &[], 3, 2, now);
        assert_eq!(t.apply(&[], &[], 3, 2, now).cleared, vec![Kind::TlsInvalid]);
    }

    #[test]
    fn interrupted_streak_restarts() {
        let now = SystemTime::UNIX_EPOCH;
        let mut t = Tracker::new(now);
        let bad = [f(Kind::TlsExpiring)];
        t.apply(&bad, &[], 2, 1, now);
        t.apply(&[], &[], 2, 1, now);
        t.apply(&bad, &[], 2, 1, now);
        assert!(!t.is_raised(Kind::TlsExpiring));
        t.apply(&bad, &[], 2, 1, now);
        assert!(t.is_raised(Kind::TlsExpiring));
        assert_eq!(t.state(), State::Degraded, "a warning alone degrades");
    }
}
