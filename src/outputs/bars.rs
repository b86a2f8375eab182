//! Uptime bars for the status page: the last 24 hours one cell per hour,
//! and the last 7 days one cell per day, each from the store's per-hour
//! counts of rounds by state and coloured by the worst state it saw.

use std::sync::Arc;

use crate::store::history::HourCounts;
use crate::verdict::state::State;

/// Cells in the hourly bar and in the daily bar.
pub const HOURS: usize = 24;
pub const DAYS: usize = 7;

/// Rounds in one stretch of time, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    /// The first hour the cell covers (hours since the Unix epoch).
    pub first_hour: i64,
    /// How many hours it covers.
    pub hours: i64,
    pub up: i64,
    pub degraded: i64,
    pub down: i64,
    pub total: i64,
}

impl Cell {
    /// The worst state among its rounds; `None` without rounds (or with
    /// only rounds before the first verdict).
    pub fn worst(&self) -> Option<State> {
        if self.down > 0 {
            Some(State::Down)
        } else if self.degraded > 0 {
            Some(State::Degraded)
        } else if self.up > 0 {
            Some(State::Up)
        } else {
            None
        }
    }

    /// Share of its rounds that were `up`.
    pub fn up_ratio(&self) -> Option<f64> {
        (self.total > 0).then(|| self.up as f64 / self.total as f64)
    }

    /// The rounds of all `cells` together.
    pub fn sum(cells: impl IntoIterator<Item = Cell>) -> Cell {
        let mut all = Cell::default();
        for c in cells {
            all.up = all.up.saturating_add(c.up);
            all.degraded = all.degraded.saturating_add(c.degraded);
            all.down = all.down.saturating_add(c.down);
            all.total = all.total.saturating_add(c.total);
        }
        all
    }
}

/// Rounds in one cell as kept: a week of rounds at one a second is
/// 604,800, so 32 bits each. Every address keeps 31 cells: 16 bytes each
/// here, against 48 for a [`Cell`] with its span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Counts {
    up: u32,
    degraded: u32,
    down: u32,
    total: u32,
}

impl Counts {
    fn add(&mut self, h: &HourCounts) {
        // Counts come from the store: a corrupt one reads as 0 or the top.
        let n = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        self.up = self.up.saturating_add(n(h.up));
        self.degraded = self.degraded.saturating_add(n(h.degraded));
        self.down = self.down.saturating_add(n(h.down));
        self.total = self.total.saturating_add(n(h.total));
    }

    fn cell(self, first_hour: i64, hours: i64) -> Cell {
        Cell {
            first_hour,
            hours,
            up: self.up.into(),
            degraded: self.degraded.into(),
            down: self.down.into(),
            total: self.total.into(),
        }
    }
}

/// One address's bars: the counts of each cell, in one allocation of
/// ~500 bytes (10,000 addresses keep one each, and a refresh builds the
/// new beside the old); [`Bars::hours`] and [`Bars::days`] give the cells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bars {
    /// The hour the last hourly cell covers (hours since the Unix epoch).
    now_hour: i64,
    hours: [Counts; HOURS],
    days: [Counts; DAYS],
}

const DAY: i64 = HOURS as i64;

impl Bars {
    /// The bars ending with the hour `now_hour`, from one address's counts
    /// (any order; hours outside the 7 days are ignored).
    pub fn build(counts: &[HourCounts], now_hour: i64) -> Self {
        let mut bars = Self {
            now_hour,
            ..Self::default()
        };
        for h in counts {
            // Hours come from the store: a corrupt one must not overflow.
            let Some(back) = now_hour.checked_sub(h.hour).filter(|b| *b >= 0) else {
                continue;
            };
            let slot = |n: usize, span: i64| {
                let i = usize::try_from(back / span).ok()?;
                n.checked_sub(1 + i)
            };
            if let Some(c) = slot(HOURS, 1).and_then(|i| bars.hours.get_mut(i)) {
                c.add(h);
            }
            if let Some(c) = slot(DAYS, DAY).and_then(|i| bars.days.get_mut(i)) {
                c.add(h);
            }
        }
        bars
    }

    /// The last 24 hours, one cell each, oldest first.
    pub fn hours(&self) -> [Cell; HOURS] {
        let first = self.now_hour.saturating_sub(HOURS as i64 - 1);
        std::array::from_fn(|i| self.hours[i].cell(first.saturating_add(i as i64), 1))
    }

    /// The last 7 days, one cell each (the last ends with this hour),
    /// oldest first.
    pub fn days(&self) -> [Cell; DAYS] {
        let first = self
            .now_hour
            .saturating_add(1)
            .saturating_sub(DAY * DAYS as i64);
        std::array::from_fn(|i| self.days[i].cell(first.saturating_add(DAY * i as i64), DAY))
    }

    /// Share of rounds up over the last 24 hours and the last 7 days.
    pub fn uptime(&self) -> (Option<f64>, Option<f64>) {
        (
            Cell::sum(self.hours()).up_ratio(),
            Cell::sum(self.days()).up_ratio(),
        )
    }
}

/// Bars handed out once per distinct value, for one refresh of every
/// address: addresses with the same bars share one allocation (every
/// healthy address at one interval has the same counts: at 10,000
/// addresses, 5 MB of copies).
#[derive(Debug, Default)]
pub struct SameBars(std::collections::HashSet<Arc<Bars>>);

impl SameBars {
    /// `bars`, shared with any equal bars handed out before.
    pub fn of(&mut self, bars: Bars) -> Arc<Bars> {
        if let Some(same) = self.0.get(&bars) {
            return same.clone();
        }
        let bars = Arc::new(bars);
        self.0.insert(bars.clone());
        bars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bars_share_one_allocation() {
        let mut same = SameBars::default();
        let a = same.of(Bars::build(&[h(10, 60, 0, 0)], 10));
        let b = same.of(Bars::build(&[h(10, 60, 0, 0)], 10));
        let c = same.of(Bars::build(&[h(10, 59, 1, 0)], 10));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(*a, Bars::build(&[h(10, 60, 0, 0)], 10));
        assert_eq!(c.hours()[HOURS - 1].degraded, 1);
    }

    fn h(hour: i64, up: i64, degraded: i64, down: i64) -> HourCounts {
        HourCounts {
            hour,
            up,
            degraded,
            down,
            total: up + degraded + down,
        }
    }

    #[test]
    fn cells_take_the_worst_state_of_their_hours() {
        let now = 1000;
        let counts = [
            h(now, 5, 0, 0),
            h(now - 1, 3, 1, 0),
            h(now - 2, 3, 1, 1),
            h(now - 30, 1, 0, 1),
            h(now - 200, 9, 9, 9),
        ];
        let b = Bars::build(&counts, now);
        let (hours, days) = (b.hours(), b.days());
        let worst: Vec<Option<State>> = hours[HOURS - 3..].iter().map(Cell::worst).collect();
        assert_eq!(
            worst,
            [Some(State::Down), Some(State::Degraded), Some(State::Up)]
        );
        assert_eq!(hours[0].worst(), None, "an hour without rounds");
        assert_eq!(hours[HOURS - 1].first_hour, now);
        assert_eq!(hours[0].first_hour, now - 23);
        assert!(hours.iter().all(|c| c.hours == 1) && days.iter().all(|c| c.hours == 24));
        // Today's cell holds the last 24 hours, yesterday's the 30th hour back.
        assert_eq!(days[DAYS - 1].total, 5 + 4 + 5);
        assert_eq!(days[DAYS - 1].first_hour, now - 23);
        assert_eq!(days[DAYS - 2].worst(), Some(State::Down));
        assert_eq!(days[0].first_hour, now + 1 - 24 * 7);
        assert_eq!(
            days.iter().map(|c| c.total).sum::<i64>(),
            16,
            "hour -200 is past 7 days"
        );
        let (day, week) = b.uptime();
        assert_eq!(day, Some(11.0 / 14.0));
        assert_eq!(week, Some(12.0 / 16.0));
        // Hours a corrupt store could hold: ignored, never a panic.
        let odd = [
            h(i64::MIN, 1, 0, 0),
            h(i64::MAX, 1, 0, 0),
            h(now + 1, 1, 0, 0),
        ];
        let b = Bars::build(&odd, now);
        assert!(b.hours().iter().chain(&b.days()).all(|c| c.total == 0));
        // Counts a corrupt store could hold: clamped, never wrapped.
        let b = Bars::build(&[h(now, -5, 0, 0), h(now, i64::MAX, 0, 0)], now);
        assert_eq!(b.hours()[HOURS - 1].up, i64::from(u32::MAX));
    }
}
