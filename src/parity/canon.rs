//! A site's canonical page text: every one of the site's host names (main
//! and mirrors, any ASCII case) written as the main host, after decoding
//! (so any charset works) and before anything else reads the page.
//!
//! Parity parses the canonical text of every page of a site with the same
//! settings, so two pages with the same canonical text have the same
//! analysis *by construction*. That is what makes the "identical to main"
//! shortcut exact: a mirror page that differs from main's only in which of
//! the site's host names it carries is not parsed, it takes main's analysis.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

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
        // A contiguous NFA: a few hundred bytes per site where the default
        // (a DFA for so few patterns) takes about 8 KB, at 5,000 sites.
        let finder = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&hosts)
            .ok()
            .filter(|_| !hosts.is_empty());
        Self { finder, main }
    }

    /// The main host, lower case: what every site host becomes.
    pub fn main(&self) -> &str {
        &self.main
    }

    /// The canonical text of `text` (borrowed when no host name occurs).
    /// Host names are ASCII, so matches fall on character boundaries.
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(finder) = &self.finder else {
            return Cow::Borrowed(text);
        };
        let mut out: Option<String> = None;
        let mut at = 0;
        for m in finder.find_iter(text) {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(text.get(at..m.start()).unwrap_or_default());
            o.push_str(&self.main);
            at = m.end();
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut o) => {
                o.push_str(text.get(at..).unwrap_or_default());
                Cow::Owned(o)
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
        let page = "<a href=\"https://WWW.Mirror.test/x\">www.mirror.test</a> m.test www.main.test";
        assert_eq!(
            c.apply(page),
            "<a href=\"https://www.main.test/x\">www.main.test</a> www.main.test www.main.test"
        );
        assert!(matches!(c.apply("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_longest_host_wins_where_two_overlap() {
        // A mirror host that contains the main host is replaced whole.
        let c = Canon::new("main.test", &["mirror.main.test.example".into()]);
        assert_eq!(
            c.apply("mirror.main.test.example main.test"),
            "main.test main.test"
        );
    }

    #[test]
    fn no_hosts_leaves_text_alone() {
        let c = Canon::new("", &[]);
        assert_eq!(c.apply("abc"), "abc");
    }

    proptest! {
        #[test]
        fn canonical_text_is_a_fixed_point_and_text_stays_text(
            parts in proptest::collection::vec(
                prop_oneof![
                    "\\PC{0,8}",
                    Just("www.mirror.test".to_string()),
                    Just("WWW.MAIN.TEST".to_string()),
                    Just("m.test".to_string()),
                    Just("ſ".to_string()),
                ],
                0..12,
            )
        ) {
            let c = canon();
            let body = parts.concat();
            let once = c.apply(&body).into_owned();
            let twice = c.apply(&once).into_owned();
            prop_assert_eq!(&twice, &once);
            // Only host names changed: removing every host name from both
            // sides leaves the same text.
            let strip = |t: &str| {
                let mut t = t.to_ascii_lowercase();
                for h in ["www.mirror.test", "www.main.test", "m.test"] {
                    t = t.replace(h, "");
                }
                t
            };
            prop_assert_eq!(strip(&once), strip(&body));
        }
    }
}
