//! "Has main ever shown this article?": the last [`SEEN_EVER`] distinct
//! article ids main has shown, to tell an old copy of main (its links are
//! main's, if old ones) from another page.

/// How many distinct articles are remembered.
pub const SEEN_EVER: usize = 512;

/// Ids of articles main has shown, at most [`SEEN_EVER`], the oldest
/// forgotten first. Two parallel flat arrays sorted by id: the id, and
/// when it came (an insertion count): 6 KB at most per site, no hash
/// table, never grown past [`SEEN_EVER`].
#[derive(Debug, Default)]
pub struct SeenEver {
    sorted: Vec<u64>,
    came: Vec<u32>,
    next: u32,
}

impl SeenEver {
    pub fn insert(&mut self, id: u64) {
        if self.sorted.binary_search(&id).is_ok() {
            return;
        }
        if self.sorted.capacity() == 0 {
            self.sorted.reserve_exact(SEEN_EVER);
            self.came.reserve_exact(SEEN_EVER);
        }
        if self.sorted.len() >= SEEN_EVER
            && let Some(oldest) = (0..self.came.len()).min_by_key(|&i| self.came[i])
        {
            self.sorted.remove(oldest);
            self.came.remove(oldest);
        }
        if self.next == u32::MAX {
            // Renumber by age (once per four billion articles).
            let mut order: Vec<usize> = (0..self.came.len()).collect();
            order.sort_by_key(|&i| self.came[i]);
            for (rank, i) in order.into_iter().enumerate() {
                self.came[i] = rank as u32;
            }
            self.next = self.came.len() as u32;
        }
        let at = self.sorted.binary_search(&id).unwrap_or_else(|at| at);
        self.sorted.insert(at, id);
        self.came.insert(at, self.next);
        self.next += 1;
    }

    /// How many of `ids` main has shown.
    pub fn known(&self, ids: &[u64]) -> usize {
        ids.iter()
            .filter(|id| self.sorted.binary_search(id).is_ok())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `SeenEver` remembers exactly the last `SEEN_EVER` distinct ids, the
        /// oldest forgotten first (a plain queue is the model), also across
        /// the renumbering of its insertion counts.
        #[test]
        fn seen_ever_keeps_the_newest_distinct_ids(
            ids in proptest::collection::vec(0u64..900, 0..2000),
            near_wrap in proptest::bool::ANY,
        ) {
            let mut seen = SeenEver::default();
            if near_wrap {
                seen.next = u32::MAX - 700;
            }
            let mut model: std::collections::VecDeque<u64> = Default::default();
            for id in ids {
                seen.insert(id);
                if !model.contains(&id) {
                    model.push_back(id);
                    if model.len() > SEEN_EVER {
                        model.pop_front();
                    }
                }
                prop_assert!(seen.sorted.len() <= SEEN_EVER);
            }
            for id in 0..900u64 {
                prop_assert_eq!(seen.known(&[id]), usize::from(model.contains(&id)), "id {}", id);
            }
        }
    }
}
