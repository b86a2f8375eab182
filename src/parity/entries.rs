//! The clock's parts: its entries, the times they share and their paths.
//! [`super::freshness::Clock`] owns the rules; this file owns the compact
//! layout (16 bytes an article, each time kept once, paths packed in the
//! entries' order).

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

/// One article as the clock keeps it: 16 bytes, its times in the clock's
/// [`Times`]; its path is the one at its own index in the clock's packed
/// [`Names`].
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) id: u64,
    /// Its `(first, absent_at)` in [`Times::stamps`]: every article an
    /// observation adds shares that observation's pair. [`EVER`] once it
    /// is gone and only remembered as shown.
    pub(super) stamp: u32,
    /// One more than its place in [`Times::gone`] once an observation no
    /// longer showed it, else 0; gone articles are kept only while a kept
    /// snapshot may still refer to them.
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
    pub(super) fn stamp(&self, e: &Entry) -> (Ms, Option<Ms>) {
        // Every index the clock writes is in range; a miss would read as
        // the oldest time rather than panic.
        self.stamps
            .get(e.stamp as usize)
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

    /// Drops the times no entry refers to once they outnumber the entries
    /// twice over (each entry refers to at most one of each), renumbering
    /// the entries: the tables stay within twice the entries.
    pub(super) fn shrink(&mut self, seen: &mut [Entry]) {
        let bound = seen.len().saturating_mul(2).max(16);
        if self.stamps.len() > bound {
            let mut to = vec![u32::MAX; self.stamps.len()];
            let mut kept = Vec::new();
            for e in seen.iter_mut() {
                let i = e.stamp as usize;
                if let (Some(t), Some(s)) = (to.get_mut(i), self.stamps.get(i)) {
                    if *t == u32::MAX {
                        *t = kept.len() as u32;
                        kept.push(*s);
                    }
                    e.stamp = *t;
                }
            }
            self.stamps = kept;
        }
        if self.gone.len() > bound {
            let mut to = vec![0u32; self.gone.len()];
            let mut kept = Vec::new();
            for e in seen.iter_mut() {
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

/// The clock's paths, one per entry in the entries' order, each after its
/// length (LEB128), LZ4-compressed with the unpacked size first. A path's
/// entry needs no offset into them (8 bytes an article less): the order
/// is the entries', and every change of entries packs them again.
pub(super) struct Names;

impl Names {
    /// `paths` packed; empty for none.
    pub(super) fn pack<'a>(paths: impl IntoIterator<Item = &'a str>) -> Box<[u8]> {
        let mut plain: Vec<u8> = Vec::new();
        for p in paths {
            let mut n = p.len();
            loop {
                let low = (n & 0x7f) as u8;
                n >>= 7;
                plain.push(if n == 0 { low } else { low | 0x80 });
                if n == 0 {
                    break;
                }
            }
            plain.extend_from_slice(p.as_bytes());
        }
        if plain.is_empty() {
            return Box::default();
        }
        lz4_flex::compress_prepend_size(&plain).into_boxed_slice()
    }

    /// The paths of `packed` (our own bytes): `Unpacked` reads them by
    /// index. Bytes that do not read (none can) end the list early, and a
    /// path that is not UTF-8 (none is) reads as empty.
    pub(super) fn unpack(packed: &[u8]) -> Unpacked {
        let plain = if packed.is_empty() {
            Vec::new()
        } else {
            lz4_flex::decompress_size_prepended(packed).unwrap_or_default()
        };
        let mut spans = Vec::new();
        let mut at = 0usize;
        'paths: while at < plain.len() {
            let mut n = 0usize;
            let mut shift = 0u32;
            loop {
                let Some(&b) = plain.get(at) else {
                    break 'paths;
                };
                at += 1;
                let Some(part) = usize::from(b & 0x7f).checked_shl(shift) else {
                    break 'paths;
                };
                n |= part;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let Some(end) = at.checked_add(n).filter(|e| *e <= plain.len()) else {
                break;
            };
            spans.push((at, end));
            at = end;
        }
        Unpacked { plain, spans }
    }
}

/// Paths unpacked, while an observation reads or changes them.
pub(super) struct Unpacked {
    plain: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Unpacked {
    /// The `i`th path; empty past the end.
    pub(super) fn get(&self, i: usize) -> &str {
        self.spans
            .get(i)
            .and_then(|&(a, b)| self.plain.get(a..b))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }

    /// Bytes of the paths themselves.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.spans.iter().map(|(a, b)| b - a).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Paths read back as packed, in order, whatever their length
        /// (lengths of one, two and three LEB128 bytes) and content.
        #[test]
        fn paths_read_back_in_order(
            paths in proptest::collection::vec(
                prop_oneof!["\\PC{0,20}", "[a-z/]{100,300}", "[a-z]{16384,16400}"],
                0..12,
            ),
        ) {
            let packed = Names::pack(paths.iter().map(String::as_str));
            let got = Names::unpack(&packed);
            prop_assert_eq!(got.len(), paths.len());
            for (i, p) in paths.iter().enumerate() {
                prop_assert_eq!(got.get(i), p.as_str());
            }
            prop_assert_eq!(got.get(paths.len()), "");
        }
    }

    /// Bytes that are not a packing read as fewer paths, never a panic.
    #[test]
    fn broken_bytes_read_short() {
        let packed = Names::pack(["/a", "/bb"]);
        assert_eq!(Names::unpack(&packed[..packed.len() - 1]).len(), 0);
        let plain = lz4_flex::compress_prepend_size(&[2, b'/', b'a', 0xff, 0xff, 0xff]);
        let got = Names::unpack(&plain);
        assert_eq!((got.len(), got.get(0)), (1, "/a"));
        let long = lz4_flex::compress_prepend_size(&[0xff; 20]);
        assert_eq!(Names::unpack(&long).len(), 0);
    }

    #[test]
    fn a_clock_entry_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }
}
