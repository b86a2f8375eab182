//! A page's shingle set as parity keeps it: sorted, distinct 32-bit hashes,
//! Elias-Fano coded.
//!
//! Every site keeps its reference's set (~1,250 shingles for a 100 KB
//! page), and a mirror whose page differs keeps its own. As plain `u32`s
//! that is 4 bytes a shingle; here each keeps its low `l` bits as they are
//! (`l` = ⌊log₂(2³² / n)⌋, 21 for 1,250) and its high bits in unary
//! (under 3 bits a value): ~2.9 bytes a shingle, a quarter less. Reading
//! is one pass in order, which is all a Jaccard merge needs.

use super::freshness::sorted_set;

/// Sorted, distinct `u32`s, Elias-Fano coded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShingleSet {
    len: u32,
    /// Low bits kept per value (0..=32).
    low: u8,
    /// The `len × low` low bits, then the high parts in unary: value `i`
    /// with high part `h` sets bit `h + i` of the second part.
    bits: Box<[u64]>,
}

fn get_bits(words: &[u64], at: usize, n: u8) -> u64 {
    if n == 0 {
        return 0;
    }
    let (w, b) = (at / 64, at % 64);
    let lo = words.get(w).copied().unwrap_or(0) >> b;
    let hi = if b + usize::from(n) > 64 {
        words.get(w + 1).copied().unwrap_or(0) << (64 - b)
    } else {
        0
    };
    let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    (lo | hi) & mask
}

fn set_bits(words: &mut [u64], at: usize, n: u8, v: u64) {
    if n == 0 {
        return;
    }
    let (w, b) = (at / 64, at % 64);
    if let Some(x) = words.get_mut(w) {
        *x |= v << b;
    }
    if b + usize::from(n) > 64
        && let Some(x) = words.get_mut(w + 1)
    {
        *x |= v >> (64 - b);
    }
}

impl ShingleSet {
    /// The set of `values` (sorted and distinct, as `shingles_of` gives
    /// them; anything else is sorted and de-duplicated first).
    pub fn new(values: &[u32]) -> Self {
        let sorted = sorted_set(values);
        let Ok(len) = u32::try_from(sorted.len()) else {
            return Self::default();
        };
        if len == 0 {
            return Self::default();
        }
        // ⌊log₂(2³² / n)⌋: 32 for one value, 0 past 2³¹.
        let low = (1u64 << 32) / u64::from(len);
        let low = (63 - low.leading_zeros()) as u8;
        let n = sorted.len();
        let low_total = n * usize::from(low);
        let high_max = (u64::from(u32::MAX) >> low) as usize;
        let total = low_total + n + high_max + 1;
        let mut bits = vec![0u64; total.div_ceil(64)].into_boxed_slice();
        let mask = if low == 32 {
            u64::from(u32::MAX)
        } else {
            (1u64 << low) - 1
        };
        for (i, v) in sorted.iter().enumerate() {
            let v = u64::from(*v);
            set_bits(&mut bits, i * usize::from(low), low, v & mask);
            let at = low_total + (v >> low) as usize + i;
            set_bits(&mut bits, at, 1, 1);
        }
        Self { len, low, bits }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values, in order.
    pub fn iter(&self) -> Iter<'_> {
        let start = self.len() * usize::from(self.low);
        let word = start / 64;
        let first = self.bits.get(word).copied().unwrap_or(0);
        Iter {
            set: self,
            i: 0,
            word,
            cur: first & (u64::MAX << (start % 64)),
        }
    }

    /// Heap bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.bits.len() * 8
    }
}

/// [`ShingleSet::iter`]: the high parts' set bits a word at a time.
pub struct Iter<'a> {
    set: &'a ShingleSet,
    i: usize,
    word: usize,
    /// The current word's bits not yet read.
    cur: u64,
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let set = self.set;
        if self.i >= set.len() {
            return None;
        }
        while self.cur == 0 {
            self.word += 1;
            self.cur = *set.bits.get(self.word)?;
        }
        let at = self.word * 64 + self.cur.trailing_zeros() as usize;
        self.cur &= self.cur - 1;
        let low_total = set.len() * usize::from(set.low);
        let high = at.checked_sub(low_total)?.checked_sub(self.i)? as u64;
        let low = get_bits(&set.bits, self.i * usize::from(set.low), set.low);
        self.i += 1;
        u32::try_from((high << set.low) | low).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.set.len().saturating_sub(self.i);
        (0, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges_round_trip() {
        for v in [
            vec![],
            vec![0],
            vec![u32::MAX],
            vec![0, u32::MAX],
            vec![0, 1, 2, 3],
            vec![u32::MAX - 2, u32::MAX - 1, u32::MAX],
        ] {
            let s = ShingleSet::new(&v);
            assert_eq!(s.iter().collect::<Vec<_>>(), v);
            assert_eq!(s.len(), v.len());
        }
        // Unsorted input is sorted first.
        let s = ShingleSet::new(&[5, 1, 5, 3]);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![1, 3, 5]);
    }

    #[test]
    fn a_page_of_shingles_takes_under_three_bytes_each() {
        // 1,250 hashes spread as a page's are.
        let mut v: Vec<u32> = (0..1250u32)
            .map(|i| i.wrapping_mul(2_654_435_761) ^ (i << 7))
            .collect();
        v.sort_unstable();
        v.dedup();
        let s = ShingleSet::new(&v);
        assert_eq!(s.iter().collect::<Vec<_>>(), v);
        assert!(
            s.heap_bytes() * 100 < v.len() * 300,
            "{} bytes for {}",
            s.heap_bytes(),
            v.len()
        );
    }

    proptest! {
        #[test]
        fn any_set_round_trips(mut v in proptest::collection::vec(any::<u32>(), 0..3000), dense in any::<bool>()) {
            if dense {
                // Values close together: low widths near 0.
                v.iter_mut().for_each(|x| *x %= 4096);
            }
            let s = ShingleSet::new(&v);
            v.sort_unstable();
            v.dedup();
            prop_assert_eq!(s.iter().collect::<Vec<_>>(), v.clone());
            prop_assert_eq!(s.len(), v.len());
        }

        /// Similarity of kept sets is exactly that of the plain ones.
        #[test]
        fn kept_sets_compare_as_plain_ones(
            a in proptest::collection::btree_set(0u32..5000, 0..400),
            b in proptest::collection::btree_set(0u32..5000, 0..400),
        ) {
            let (a, b): (Vec<u32>, Vec<u32>) = (a.into_iter().collect(), b.into_iter().collect());
            let (sa, sb) = (ShingleSet::new(&a), ShingleSet::new(&b));
            prop_assert_eq!(
                crate::parity::similarity::jaccard_sets(&sa, &sb),
                crate::parity::similarity::jaccard(&a, &b)
            );
        }
    }
}
