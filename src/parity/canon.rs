//! A site's canonical page bytes: every one of the site's host names (main
//! and mirrors, any ASCII case) written as the main host, before anything
//! else reads the page.
//!
//! Parity parses the canonical bytes of every page of a site with the same
//! settings, so two pages with the same canonical bytes have the same
//! analysis *by construction*. That is what makes the "identical to main"
//! shortcut exact: a mirror page that differs from main's only in which of
//! the site's host names it carries is not parsed, it takes main's analysis.
//! The digest of the canonical bytes is computed in one pass without
//! building them.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::ground::hash::{Digest, Digester};

/// Rewrites a site's host names to its main host.
#[derive(Debug, Clone)]
pub struct Canon {
    /// `None` when no host name can be searched for (none, or the automaton
    /// could not be built): bytes are then canonical as they are.
    finder: Option<AhoCorasick>,
    main: String,
}

impl Canon {
    /// `main` and `others` are host names (`Url::host_str`, so ASCII and
    /// already IDNA-encoded); empty names are ignored.
    pub fn new(main: &str, others: &[String]) -> Self {
        let main = main.to_ascii_lowercase();
        let mut hosts: Vec<String> = std::iter::once(main.clone())
            .chain(others.iter().map(|h| h.to_ascii_lowercase()))
            .filter(|h| !h.is_empty())
            .collect();
        hosts.sort();
        hosts.dedup();
        let finder = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&hosts)
            .ok()
            .filter(|_| !hosts.is_empty());
        Self { finder, main }
    }

    /// The main host, lower case: what every site host becomes.
    pub fn main(&self) -> &str {
        &self.main
    }

    /// The canonical bytes of `body` (borrowed when no host name occurs).
    pub fn apply<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        let Some(finder) = &self.finder else {
            return Cow::Borrowed(body);
        };
        let mut out: Option<Vec<u8>> = None;
        let mut at = 0;
        for m in finder.find_iter(body) {
            let o = out.get_or_insert_with(|| Vec::with_capacity(body.len()));
            o.extend_from_slice(body.get(at..m.start()).unwrap_or_default());
            o.extend_from_slice(self.main.as_bytes());
            at = m.end();
        }
        match out {
            None => Cow::Borrowed(body),
            Some(mut o) => {
                o.extend_from_slice(body.get(at..).unwrap_or_default());
                Cow::Owned(o)
            }
        }
    }

    /// `Digest::of(&self.apply(body))`, without building the canonical
    /// bytes. `raw` is `body`'s own digest when known (reused when no host
    /// name occurs).
    pub fn digest(&self, body: &[u8], raw: Option<Digest>) -> Digest {
        let mut d = Digester::default();
        let mut at = 0;
        let mut found = false;
        if let Some(finder) = &self.finder {
            for m in finder.find_iter(body) {
                found = true;
                d.update(body.get(at..m.start()).unwrap_or_default());
                d.update(self.main.as_bytes());
                at = m.end();
            }
        }
        match raw {
            Some(raw) if !found => raw,
            _ => {
                d.update(body.get(at..).unwrap_or_default());
                d.finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canon() -> Canon {
        Canon::new(
            "www.main.test",
            &["www.mirror.test".into(), "m.test".into()],
        )
    }

    #[test]
    fn every_site_host_in_any_case_becomes_the_main_host() {
        let c = canon();
        let page =
            b"<a href=\"https://WWW.Mirror.test/x\">www.mirror.test</a> m.test www.main.test";
        assert_eq!(
            c.apply(page).as_ref(),
            &b"<a href=\"https://www.main.test/x\">www.main.test</a> www.main.test www.main.test"[..]
        );
        assert!(matches!(c.apply(b"nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_longest_host_wins_where_two_overlap() {
        // A mirror host that contains the main host is replaced whole.
        let c = Canon::new("main.test", &["mirror.main.test.example".into()]);
        assert_eq!(
            c.apply(b"mirror.main.test.example main.test").as_ref(),
            b"main.test main.test"
        );
    }

    #[test]
    fn no_hosts_leaves_bytes_alone() {
        let c = Canon::new("", &[]);
        assert_eq!(c.apply(b"abc").as_ref(), b"abc");
        assert_eq!(c.digest(b"abc", None), Digest::of(b"abc"));
    }

    proptest! {
        #[test]
        fn digest_is_the_digest_of_the_canonical_bytes(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[a-zA-Z .<>/\"=]{0,12}",
                    Just("www.mirror.test".to_string()),
                    Just("WWW.MAIN.TEST".to_string()),
                    Just("m.test".to_string()),
                ],
                0..12,
            )
        ) {
            let c = canon();
            let body = parts.concat();
            let expected = Digest::of(&c.apply(body.as_bytes()));
            prop_assert_eq!(c.digest(body.as_bytes(), None), expected);
            prop_assert_eq!(
                c.digest(body.as_bytes(), Some(Digest::of(body.as_bytes()))),
                expected
            );
            // Canonical bytes are a fixed point.
            let once = c.apply(body.as_bytes()).into_owned();
            let twice = c.apply(&once).into_owned();
            prop_assert_eq!(twice, once);
        }
    }
}
