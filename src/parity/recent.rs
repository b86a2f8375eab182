//! The newest pages mirrors parsed that main's reference is not (yet): a
//! few per site and path.
//!
//! After a publication, whichever address of a site fetches the new page
//! first parses it. When that is a mirror, main's next round fetches the
//! same page (its host names aside) and used to parse it again, as did
//! every other mirror that came before main. A page whose canonical key
//! equals the kept one takes its analysis instead, and main also takes its
//! article paths (the clock needs them). Equal keys mean equal analyses
//! (`analysis`), so this is exact. Main's next round of the path clears
//! the slots whether or not one matched, so a slot lives at most an
//! interval; a mirror that serves a page of its own every round (a noisy
//! copy) takes one of [`KEPT`] slots, not all of them.

use std::sync::Arc;

use super::analysis::{Analysis, PageKey};

/// Parses kept per site and path, newest first.
const KEPT: usize = 4;

/// The newest mirror parses of one path.
#[derive(Debug, Default)]
pub(super) struct Recents(Vec<Recent>);

impl Recents {
    /// Keeps `r`, dropping the oldest beyond [`KEPT`] and any earlier
    /// parse of the same page.
    pub fn push(&mut self, r: Recent) {
        self.0.retain(|x| x.key != r.key);
        self.0.insert(0, r);
        self.0.truncate(KEPT);
    }

    /// The parse of the page with `key`, if kept.
    pub fn find(&self, key: &PageKey) -> Option<&Recent> {
        self.0.iter().find(|r| r.key == *key)
    }
}

/// A mirror's parse of one path, kept for the site's other addresses.
#[derive(Debug)]
pub(super) struct Recent {
    pub key: PageKey,
    pub analysis: Arc<Analysis>,
    names: Paths,
}

impl Recent {
    pub fn new(key: PageKey, analysis: Arc<Analysis>, names: &[String]) -> Self {
        Self {
            key,
            analysis,
            names: Paths::new(names),
        }
    }

    /// The page's article paths, in the order its parse gave them.
    pub fn names(&self) -> Vec<String> {
        self.names.to_vec()
    }
}

/// Article paths in one allocation (a path may hold any character, so
/// they are delimited by their end offsets, not by a separator).
#[derive(Debug)]
struct Paths {
    text: Box<str>,
    ends: Box<[usize]>,
}

impl Paths {
    fn new(names: &[String]) -> Self {
        let mut text = String::with_capacity(names.iter().map(String::len).sum());
        let mut ends = Vec::with_capacity(names.len());
        for n in names {
            text.push_str(n);
            ends.push(text.len());
        }
        Self {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    fn to_vec(&self) -> Vec<String> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let s = self.text.get(start..end).unwrap_or_default().to_string();
                start = end;
                s
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Paths;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn paths_come_back_as_they_went_in(names in proptest::collection::vec(".*", 0..20)) {
            prop_assert_eq!(Paths::new(&names).to_vec(), names);
        }
    }
}
