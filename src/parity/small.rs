//! A map for the few entries a site's parity memory keeps per path and per
//! address: a vector of exactly its length, searched in order.
//!
//! A site has one to a few paths and addresses, and keeps six such maps.
//! A `HashMap` with one entry allocates room for four plus its control
//! bytes (~0.6 KB for a 150-byte entry); at 5,000 sites that was ~10 MB of
//! a daemon's heap for entries it never had. A search here compares a few
//! short strings.

use std::borrow::Borrow;

/// Entries in insertion order; at most one per key.
#[derive(Debug)]
pub(super) struct Small<K, V>(Vec<(K, V)>);

impl<K, V> Default for Small<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: Eq, V> Small<K, V> {
    fn position<Q>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.0.iter().position(|(k, _)| k.borrow() == key)
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.position(key)
            .and_then(|i| self.0.get(i))
            .map(|(_, v)| v)
    }

    /// The value of `key`, made with `V::default()` (and the key cloned)
    /// only when there is none.
    pub fn get_or_default<Q>(&mut self, key: &Q) -> &mut V
    where
        K: Borrow<Q>,
        Q: Eq + ToOwned<Owned = K> + ?Sized,
        V: Default,
    {
        let i = match self.position(key) {
            Some(i) => i,
            None => self.push(key.to_owned(), V::default()),
        };
        &mut self.0[i].1
    }

    /// Sets `key`'s value, returning the old one.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.push(key, value);
                None
            }
        }
    }

    /// Appends a new entry, growing by exactly one; its index.
    fn push(&mut self, key: K, value: V) -> usize {
        self.0.reserve_exact(1);
        self.0.push((key, value));
        self.0.len() - 1
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let i = self.position(key)?;
        let (_, v) = self.0.remove(i);
        self.0.shrink_to_fit();
        Some(v)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
        self.0.shrink_to_fit();
    }

    pub fn clear(&mut self) {
        self.0 = Vec::new();
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    /// Room it holds, in entries (tests: exactly its length).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Bump(u8),
        Remove(u8),
        Retain(u8),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0u8..6).prop_map(Op::Bump),
            (0u8..6).prop_map(Op::Remove),
            (0u8..6).prop_map(Op::Retain),
            Just(Op::Clear),
        ]
    }

    proptest! {
        /// Whatever the operations, it holds what a `HashMap` would, in
        /// exactly the room it needs.
        #[test]
        fn it_behaves_as_a_map_and_holds_no_spare_room(ops in proptest::collection::vec(op(), 0..40)) {
            let mut small: Small<String, u32> = Small::default();
            let mut model: HashMap<String, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        prop_assert_eq!(small.insert(k.to_string(), v), model.insert(k.to_string(), v));
                    }
                    Op::Bump(k) => {
                        *small.get_or_default(k.to_string().as_str()) += 1;
                        *model.entry(k.to_string()).or_default() += 1;
                    }
                    Op::Remove(k) => {
                        prop_assert_eq!(small.remove(k.to_string().as_str()), model.remove(&k.to_string()));
                    }
                    Op::Retain(k) => {
                        small.retain(|key, _| *key != k.to_string());
                        model.retain(|key, _| *key != k.to_string());
                    }
                    Op::Clear => {
                        small.clear();
                        model.clear();
                    }
                }
                for k in 0u8..6 {
                    prop_assert_eq!(small.get(k.to_string().as_str()), model.get(&k.to_string()));
                }
                let mut values: Vec<u32> = small.values().copied().collect();
                let mut want: Vec<u32> = model.values().copied().collect();
                values.sort_unstable();
                want.sort_unstable();
                prop_assert_eq!(values, want);
                prop_assert_eq!(small.capacity(), model.len());
            }
        }
    }
}
