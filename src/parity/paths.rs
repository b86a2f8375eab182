//! Many short strings (link and article paths) in one allocation.
//!
//! A parse meets hundreds of links and keeps most of them as article
//! paths; one `String` each was one allocation and one free per link, on
//! the path every changed page takes. Here they sit back to back in one
//! string. A path may hold any character, so they are delimited by their
//! end offsets, not by a separator.

use super::freshness::article_id;

/// Paths in order, in one string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paths {
    text: String,
    ends: Vec<usize>,
}

impl Paths {
    /// Room for `count` paths of `bytes` in all before the first growth.
    pub fn with_capacity(bytes: usize, count: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(count),
        }
    }

    /// The paths' bytes in all.
    pub fn bytes(&self) -> usize {
        self.text.len()
    }

    /// Appends `path`.
    pub fn push(&mut self, path: &str) {
        self.text.push_str(path);
        self.ends.push(self.text.len());
    }

    /// Appends every path of `other`, in order.
    pub fn extend(&mut self, other: &Paths) {
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|e| base + e));
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The paths, in the order they were pushed.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let s = self.text.get(start..end).unwrap_or_default();
            start = end;
            s
        })
    }

    pub fn contains(&self, path: &str) -> bool {
        self.iter().any(|p| p == path)
    }

    /// Releases spare capacity (for paths kept past the parse).
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

impl<'a> FromIterator<&'a str> for Paths {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut p = Paths::default();
        for s in iter {
            p.push(s);
        }
        p
    }
}

/// Article paths in order, each with its id ([`article_id`]), hashed
/// once where the parse finds it: the analysis's id set, the clock and a
/// mirror's kept parse all read these ids, and each used to hash every
/// path again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Articles {
    paths: Paths,
    ids: Vec<u64>,
}

impl Articles {
    /// Room for `count` paths of `bytes` in all before the first growth.
    pub fn with_capacity(bytes: usize, count: usize) -> Self {
        Self {
            paths: Paths::with_capacity(bytes, count),
            ids: Vec::with_capacity(count),
        }
    }

    /// Appends `path` (its id computed here).
    pub fn push(&mut self, path: &str) {
        self.push_with_id(article_id(path), path);
    }

    /// Appends `path` whose id, `article_id(path)`, the caller has.
    fn push_with_id(&mut self, id: u64, path: &str) {
        self.ids.push(id);
        self.paths.push(path);
    }

    /// Appends every article of `other`, in order.
    pub fn extend(&mut self, other: &Articles) {
        self.paths.extend(&other.paths);
        self.ids.extend_from_slice(&other.ids);
    }

    /// The articles `keep` accepts, by id, in order.
    pub fn filter(&self, mut keep: impl FnMut(u64) -> bool) -> Articles {
        let mut out = Articles::default();
        for (id, path) in self.iter().filter(|(id, _)| keep(*id)) {
            out.push_with_id(id, path);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids, in order (repeats as pushed).
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// `(id, path)` in the order they were pushed.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &str)> + '_ {
        self.ids.iter().copied().zip(self.paths.iter())
    }

    /// Releases spare capacity (for articles kept past the parse).
    pub fn shrink_to_fit(&mut self) {
        self.paths.shrink_to_fit();
        self.ids.shrink_to_fit();
    }

    /// The paths, in order.
    pub fn to_vec(&self) -> Vec<String> {
        self.paths.to_vec()
    }
}

impl<'a> FromIterator<&'a str> for Articles {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut a = Articles::default();
        for s in iter {
            a.push(s);
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::{Articles, Paths, article_id};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn paths_come_back_as_they_went_in(
            a in proptest::collection::vec(".*", 0..20),
            b in proptest::collection::vec(".*", 0..20),
        ) {
            let pa: Paths = a.iter().map(String::as_str).collect();
            prop_assert_eq!(pa.to_vec(), a.clone());
            prop_assert_eq!(pa.len(), a.len());
            let mut both = pa.clone();
            both.extend(&b.iter().map(String::as_str).collect());
            let mut ab = a.clone();
            ab.extend(b.iter().cloned());
            prop_assert_eq!(both.to_vec(), ab.clone());
            for s in &ab {
                prop_assert!(both.contains(s));
            }
        }

        /// Each article's id is its path's, through pushes, extends and
        /// filters, in order.
        #[test]
        fn articles_keep_each_path_with_its_id(
            a in proptest::collection::vec(".*", 0..20),
            b in proptest::collection::vec(".*", 0..20),
            odd in any::<bool>(),
        ) {
            let mut both: Articles = a.iter().map(String::as_str).collect();
            both.extend(&b.iter().map(String::as_str).collect());
            let all: Vec<&String> = a.iter().chain(&b).collect();
            let want: Vec<(u64, &str)> = all.iter().map(|p| (article_id(p), p.as_str())).collect();
            prop_assert_eq!(both.iter().collect::<Vec<_>>(), want.clone());
            prop_assert_eq!(both.len(), all.len());
            let kept = both.filter(|id| (id % 2 == 1) == odd);
            let want_kept: Vec<(u64, &str)> =
                want.into_iter().filter(|(id, _)| (id % 2 == 1) == odd).collect();
            prop_assert_eq!(kept.iter().collect::<Vec<_>>(), want_kept);
        }
    }
}
