//! The clock's parts: the entries of articles main no longer shows, and
//! the times all articles share. [`super::clock::Clock`] owns the rules
//! and the rest of the layout; this file owns the times (each kept once).

use std::num::NonZeroU64;
use std::time::{Duration, SystemTime};

/// Milliseconds since the Unix epoch, never zero (the niche keeps an
/// `Option` at 8 bytes): the clock holds hundreds of articles per site.
pub(super) type Ms = NonZeroU64;

pub(super) fn ms(t: SystemTime) -> Ms {
    let n = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    NonZeroU64::new(n).unwrap_or(NonZeroU64::MIN)
}

pub(super) fn time(m: Ms) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(m.get())
}

/// An article main no longer shows, as the clock keeps it: 16 bytes, its
/// times in the clock's [`Times`] (its path is in the store only).
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) id: u64,
    /// Its `(first, absent_at)` in [`Times::stamps`]: every article an
    /// observation adds shares that observation's pair. [`EVER`] once it
    /// is gone and only remembered as shown.
    pub(super) stamp: u32,
    /// One more than its place in [`Times::gone`]: when an observation no
    /// longer showed it (0 would be "not gone", which no entry is).
    pub(super) gone: u32,
}

/// The stamp of an entry that is off the clock, kept only as an article
/// main has shown (`Clock::known`).
pub(super) const EVER: u32 = u32::MAX;

/// The times the clock's entries refer to, each kept once: an observation
/// adds at most one stamp and one gone time, whatever the number of
/// articles that came or went. A site holds hundreds of articles and a
/// handful of such times; each entry was 40 bytes with its own.
#[derive(Debug, Default)]
pub(super) struct Times {
    pub(super) stamps: Vec<(Ms, Option<Ms>)>,
    pub(super) gone: Vec<Ms>,
}

impl Times {
    pub(super) fn stamp(&self, at: u32) -> (Ms, Option<Ms>) {
        // Every index the clock writes is in range; a miss would read as
        // the oldest time rather than panic.
        self.stamps
            .get(at as usize)
            .copied()
            .unwrap_or((NonZeroU64::MIN, None))
    }

    pub(super) fn gone(&self, e: &Entry) -> Option<Ms> {
        let i = (e.gone as usize).checked_sub(1)?;
        Some(self.gone.get(i).copied().unwrap_or(NonZeroU64::MIN))
    }

    /// The index of `stamp`, added when new.
    pub(super) fn intern(&mut self, stamp: (Ms, Option<Ms>)) -> u32 {
        if let Some(i) = self.stamps.iter().rposition(|s| *s == stamp) {
            return i as u32;
        }
        self.stamps.push(stamp);
        (self.stamps.len() - 1) as u32
    }

    /// Drops the times nothing refers to once they outnumber the articles
    /// twice over (each refers to at most one of each), renumbering the
    /// references (`shown`: stamps of the articles main shows; `off`:
    /// entries of the others): the tables stay within twice the articles.
    pub(super) fn shrink(&mut self, shown: &mut [u32], off: &mut [Entry]) {
        let bound = (shown.len() + off.len()).saturating_mul(2).max(16);
        if self.stamps.len() > bound {
            let mut to = vec![u32::MAX; self.stamps.len()];
            let mut kept = Vec::new();
            for at in shown.iter_mut().chain(off.iter_mut().map(|e| &mut e.stamp)) {
                let i = *at as usize;
                if let (Some(t), Some(s)) = (to.get_mut(i), self.stamps.get(i)) {
                    if *t == u32::MAX {
                        *t = kept.len() as u32;
                        kept.push(*s);
                    }
                    *at = *t;
                }
            }
            self.stamps = kept;
        }
        if self.gone.len() > bound {
            let mut to = vec![0u32; self.gone.len()];
            let mut kept = Vec::new();
            for e in off.iter_mut() {
                let Some(i) = (e.gone as usize).checked_sub(1) else {
                    continue;
                };
                if let (Some(t), Some(g)) = (to.get_mut(i), self.gone.get(i)) {
                    if *t == 0 {
                        kept.push(*g);
                        *t = kept.len() as u32;
                    }
                    e.gone = *t;
                }
            }
            self.gone = kept;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_entry_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }
}
