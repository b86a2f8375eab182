//! What a finished round leaves behind: its count in the hour buffer
//! (flushed every few seconds), its raised problems, its events and the
//! clock change, persisted in one store job when there are any; then the
//! alert engine's comparison of wanted and firing alerts.

use std::collections::HashMap;
use std::time::SystemTime;

use super::Shared;
use crate::outputs::board::Key;
use crate::parity::freshness::ClockDelta;
use crate::store::history::{EventRow, HourCounts};
use crate::store::{ProblemRow, schema};

/// What one round hands to the store besides its entry.
pub(super) struct Persist {
    pub(super) problems_changed: bool,
    /// State transitions and problems raised or cleared this round, for
    /// the store's event history (`/history`).
    pub(super) events: Vec<EventRow>,
    /// A main round's change to its site's first-seen clock: persisted so
    /// a restart keeps the lag clock (and never clears `content_stale` for
    /// want of it).
    pub(super) clock: Option<ClockDelta>,
}

/// The events a round's changes make: problems raised (with their
/// detail) and cleared, then the state move (with the problems now raised).
pub(super) fn events(
    key: &Key,
    entry: &crate::outputs::board::Entry,
    changes: &crate::verdict::state::Changes,
    now: SystemTime,
) -> Vec<EventRow> {
    let at_ms = crate::ground::time::to_ms(now);
    let row = |event: &str, kind: &str, (from, to): (&str, &str), detail: String| EventRow {
        id: 0,
        site: key.site.clone(),
        url: key.url.clone(),
        vantage: key.vantage.clone(),
        at_ms,
        event: event.into(),
        kind: kind.into(),
        from_state: from.into(),
        to_state: to.into(),
        detail,
    };
    let mut out = Vec::new();
    for kind in &changes.raised {
        let detail = entry
            .tracker
            .problem(*kind)
            .map(|p| p.detail.clone())
            .unwrap_or_default();
        out.push(row("raised", kind.as_str(), ("", ""), detail));
    }
    for kind in &changes.cleared {
        out.push(row("cleared", kind.as_str(), ("", ""), String::new()));
    }
    if let Some((from, to)) = changes.state {
        let problems = entry.tracker.problems();
        let kinds: Vec<&str> = problems.iter().map(|p| p.kind.as_str()).collect();
        out.push(row(
            "state",
            "",
            (from.as_str(), to.as_str()),
            kinds.join(", "),
        ));
    }
    out
}

/// Counts the round in the hour buffer, persists what it changed (raised
/// problems, the clock, events) in one store job when it changed anything,
/// and lets the alert engine compare wanted and firing alerts.
pub(super) async fn publish(
    shared: &Shared,
    key: &Key,
    entry: &crate::outputs::board::Entry,
    persist: Persist,
    now: SystemTime,
) {
    let (site, url, vantage) = (key.site.clone(), key.url.clone(), key.vantage.clone());
    let at = crate::ground::time::to_ms(now);
    let state = entry.tracker.state().as_str();
    let rows: Option<Vec<ProblemRow>> = persist.problems_changed.then(|| {
        entry
            .tracker
            .problems()
            .iter()
            .map(|p| ProblemRow {
                site: site.clone(),
                url: url.clone(),
                vantage: vantage.clone(),
                kind: p.kind.as_str().to_string(),
                detail: p.detail.clone(),
                since_ms: (crate::ground::time::unix(p.since) * 1000.0) as i64,
            })
            .collect()
    });
    // The round's count goes to the hour buffer, flushed in one transaction
    // every few seconds ([`PendingHours`]): a round that changed nothing
    // else costs the store nothing. A round that judged nothing (its
    // vantage's proxy failed) is no evidence of uptime either way.
    if !entry.verdict.judged_nothing() {
        shared.hours.add(key, at, state);
    }
    let changed = rows.is_some() || persist.clock.is_some() || !persist.events.is_empty();
    let stored = if changed {
        shared
            .store
            .call(move |c| {
                // Each write stands on its own: one failing skips no other.
                let clock = persist.clock.as_ref().map_or(Ok(()), |d| {
                    crate::store::clock::save_clock(c, &site, &url, d)
                });
                let problems = rows.map_or(Ok(()), |rows| {
                    schema::save_problems(c, &site, &url, &vantage, &rows)
                });
                let events = crate::store::history::add_events(c, &persist.events);
                clock.and(problems).and(events)
            })
            .await
    } else {
        Ok(())
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "saving round state");
    }
    let site = crate::verdict::site::evaluate(&shared.board.site_members(&key.site));
    shared.metrics.set_site_problems(&key.site, &site);
    if let Err(e) = shared.alerts.observe(entry, &site, now).await {
        tracing::error!(error = %e, "alert state not saved; will retry next round");
    }
}

/// Rounds per address and hour by state, waiting for the next flush: at
/// 10,000 addresses a store job per round cost about a tenth of the
/// daemon's CPU. A `kill -9` loses at most one flush interval of counts
/// (the uptime ratios and bars, nothing else); shutdown flushes.
#[derive(Default)]
pub struct PendingHours(std::sync::Mutex<HashMap<(Key, i64), HourCounts>>);

impl PendingHours {
    /// Counts one round of `key` at `at_ms` in state `state`.
    pub fn add(&self, key: &Key, at_ms: i64, state: &str) {
        let hour = at_ms.div_euclid(schema::HOUR_MS);
        let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let c = pending.entry((key.clone(), hour)).or_insert(HourCounts {
            hour,
            ..HourCounts::default()
        });
        match state {
            "up" => c.up += 1,
            "degraded" => c.degraded += 1,
            "down" => c.down += 1,
            _ => {}
        }
        c.total += 1;
    }

    /// Everything counted since the last call.
    fn take(&self) -> Vec<(Key, HourCounts)> {
        let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *pending)
            .into_iter()
            .map(|((k, _), c)| (k, c))
            .collect()
    }

    /// Writes the counts so far in one store transaction; on failure they
    /// are logged and dropped (the store reports itself degraded).
    pub async fn flush(&self, store: &crate::store::Store) {
        let rows = self.take();
        if rows.is_empty() {
            return;
        }
        let written = store
            .call(move |c| {
                let rows: Vec<schema::HourRow<'_>> = rows
                    .iter()
                    .map(|(k, h)| ((k.site.as_str(), k.url.as_str(), k.vantage.as_str()), *h))
                    .collect();
                schema::add_hours(c, &rows)
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "saving round counts");
        }
    }
}
