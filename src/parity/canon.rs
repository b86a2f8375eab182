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

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind, packed};

/// Rewrites a site's host names to its main host.
#[derive(Debug, Clone)]
pub struct Canon {
    /// The site's hosts, lower case, distinct and non-empty; the searcher
    /// that finds them is built for each page (see [`Canon::packed`]).
    hosts: Box<[Box<str>]>,
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
        Self {
            hosts: hosts.into_iter().map(String::into_boxed_str).collect(),
            main,
        }
    }

    /// Finds the site's hosts in ASCII lower case, leftmost first and,
    /// where two start at one place, the longer: a packed (SIMD) searcher
    /// run over a lower-cased copy of the page. `None` where the CPU has
    /// no such searcher, where the site has more host names than it takes
    /// (128 at most, fewer by its own heuristics), or none.
    ///
    /// Built for each page, not kept: every site would keep one (8 MB at
    /// 5,000 sites for the automaton this replaced), and building one for
    /// a site's few names costs less than a microsecond. An ASCII-case-
    /// insensitive automaton over the page as it is (the fallback,
    /// [`Canon::automaton`]) cost ~30 µs to build and ~55 µs to search a
    /// 100 KiB page in the every-page-changed benchmark; lower-casing a
    /// copy and a packed search take a fraction of that.
    fn packed(&self) -> Option<packed::Searcher> {
        if self.hosts.is_empty() {
            return None;
        }
        packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostLongest)
            .builder()
            .extend(self.hosts.iter().map(|h| h.as_bytes()))
            .build()
    }

    /// The fallback finder: the site's hosts in any ASCII case, with the
    /// same match rule, over the page as it is. Building fails only past
    /// limits (billions of states) that a site's host names cannot reach;
    /// such a site would be compared without rewriting rather than stop
    /// the daemon.
    fn automaton(&self) -> Option<AhoCorasick> {
        if self.hosts.is_empty() {
            return None;
        }
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(self.hosts.iter().map(|h| h.as_bytes()))
            .ok()
    }

    /// The main host, lower case: what every site host becomes.
    pub fn main(&self) -> &str {
        &self.main
    }

    /// The canonical text of `text` (borrowed when no host name occurs
    /// other than the main host as written here): leftmost match first,
    /// the longest host where two start together, searching on after each
    /// match, in any ASCII case. Host names are ASCII, so every match
    /// falls on character boundaries of `text` (lower-casing ASCII keeps
    /// every byte where it was and leaves other bytes alone). Linear in
    /// the text, and no copy of it unless a name changes beyond the
    /// lower-cased one searched.
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.apply_lowered(text, &text.as_bytes().to_ascii_lowercase())
    }

    /// [`Canon::apply`] given `lowered`, the text's bytes in ASCII lower
    /// case, which the daemon's caller has (the fingerprint scan makes
    /// them): the page is not lower-cased twice. Bytes of another length
    /// than the text's are not the text's: the automaton searches the
    /// text itself, as where there is no packed searcher.
    pub fn apply_lowered<'a>(&self, text: &'a str, lowered: &[u8]) -> Cow<'a, str> {
        match self.packed() {
            Some(searcher) if lowered.len() == text.len() => self.rewrite(
                text,
                searcher.find_iter(lowered).map(|m| m.start()..m.end()),
            ),
            _ => self.apply_automaton(text),
        }
    }

    /// [`Canon::apply`] through the fallback automaton.
    fn apply_automaton<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.automaton() {
            Some(ac) => self.rewrite(text, ac.find_iter(text).map(|m| m.start()..m.end())),
            None => Cow::Borrowed(text),
        }
    }

    /// `text` with each of `found` (non-overlapping host names, in order)
    /// written as the main host.
    fn rewrite<'a>(
        &self,
        text: &'a str,
        found: impl Iterator<Item = std::ops::Range<usize>>,
    ) -> Cow<'a, str> {
        let mut out: Option<String> = None;
        let mut at = 0;
        for m in found {
            if text.get(m.clone()) == Some(self.main.as_str()) {
                // Already the main host: kept as it is.
                continue;
            }
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(text.get(at..m.start).unwrap_or_default());
            o.push_str(&self.main);
            at = m.end;
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
        // The main host as written here is already canonical.
        assert!(matches!(
            c.apply("<a href=\"https://www.main.test/\">"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_site_keeps_its_names_not_an_automaton() {
        // Every site keeps one `Canon`: its host names, ~100 bytes here,
        // where a kept automaton took ~1.6 KB (a DFA ~8.8 KB).
        let c = Canon::new(
            "www.presstv.ir",
            &["www.presstv.co.uk".into(), "presstv.com".into()],
        );
        let kept: usize = c.hosts.iter().map(|h| h.len() + 16).sum::<usize>() + c.main.capacity();
        assert!(kept < 128, "{kept} bytes");
        assert_eq!(c.apply("https://PRESSTV.com/x"), "https://www.presstv.ir/x");
    }

    #[test]
    fn a_site_with_more_hosts_than_the_packed_searcher_takes_still_rewrites() {
        // 200 mirrors: past the packed searcher's limit, so `apply` goes
        // through the automaton, with the same result. `m1000.test` is
        // no site host (`m100` and `m10` run on into `0`), so it stays.
        let mirrors: Vec<String> = (0..200).map(|i| format!("m{i}.test")).collect();
        let c = Canon::new("www.main.test", &mirrors);
        assert!(c.packed().is_none());
        assert_eq!(
            c.apply("<a href=\"https://M150.Test/x\">m7.test</a> m1000.test"),
            "<a href=\"https://www.main.test/x\">www.main.test</a> m1000.test"
        );
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

    /// The rule, one position at a time: where a host starts (any ASCII
    /// case), the longest such host becomes the main host and the scan
    /// goes on after it; anything else is kept.
    fn model(text: &str, hosts: &[&str], main: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let host = hosts
                .iter()
                .filter(|h| {
                    rest.len() >= h.len()
                        && rest.as_bytes()[..h.len()].eq_ignore_ascii_case(h.as_bytes())
                })
                .max_by_key(|h| h.len());
            match host {
                Some(h) => {
                    out.push_str(main);
                    rest = &rest[h.len()..];
                }
                None => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        out
    }

    proptest! {
        /// Overlapping and nested hosts (`a.test` inside `aa.test`, one
        /// host the suffix or the prefix of another), in any case, among
        /// any text.
        #[test]
        fn rewriting_follows_the_rule(
            parts in proptest::collection::vec(
                prop_oneof![
                    "\\PC{0,6}",
                    "[aA.]{0,8}",
                    Just("aa.test".to_string()),
                    Just("A.TEST".to_string()),
                    Just("b.aa.test".to_string()),
                    Just("a.Test.B".to_string()),
                    Just("é".to_string()),
                ],
                0..12,
            )
        ) {
            let hosts = ["a.test", "aa.test", "b.aa.test", "test", "a.test.b"];
            let c = Canon::new("a.test", &hosts[1..].iter().map(|h| h.to_string()).collect::<Vec<_>>());
            let body = parts.concat();
            let want = model(&body, &hosts, "a.test");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("ssse3") {
                prop_assert!(c.packed().is_some(), "a packed searcher on this CPU");
            }
            prop_assert_eq!(c.apply(&body).into_owned(), want.clone());
            let lowered = body.as_bytes().to_ascii_lowercase();
            prop_assert_eq!(c.apply_lowered(&body, &lowered).into_owned(), want.clone());
            // Bytes that are not the text's are ignored, not searched.
            prop_assert_eq!(c.apply_lowered(&body, b"x").into_owned(), want.clone());
            prop_assert_eq!(c.apply_automaton(&body).into_owned(), want);
        }

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
