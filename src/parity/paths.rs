//! Many short strings (link and article paths) in one allocation.
//!
//! A parse meets hundreds of links and keeps most of them as article
//! paths; one `String` each was one allocation and one free per link, on
//! the path every changed page takes. Here they sit back to back in one
//! string. A path may hold any character, so they are delimited by their
//! end offsets, not by a separator.

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

#[cfg(test)]
mod tests {
    use super::Paths;
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
    }
}
