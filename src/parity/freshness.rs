//! Freshness: which article links the main site shows, when mirrorwatch first
//! saw each, and how far behind a mirror is.
//!
//! The lag clock of an article starts when it is first seen on the main
//! site. A mirror's lag is the age of the oldest article still on the main
//! site that the mirror lacks; 0 when it lacks none. Articles that leave the
//! main site are forgotten, so memory stays bounded by the main pages.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use regex::Regex;

/// Picks article links out of a page's links.
#[derive(Debug, Clone, Default)]
pub struct ArticleMatcher {
    pattern: Option<Regex>,
}

impl ArticleMatcher {
    pub fn new(pattern: Option<Regex>) -> Self {
        Self { pattern }
    }

    /// With a pattern: the path matches it. Without: the heuristic, a path of
    /// two or more segments carrying a date (`/2026/11/27/`, `2026-11-27`)
    /// or a numeric id of five or more digits.
    pub fn is_article(&self, path: &str) -> bool {
        if let Some(re) = &self.pattern {
            return re.is_match(path);
        }
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if segments.len() < 2 {
            return false;
        }
        let is_year =
            |s: &str| s.len() == 4 && s.starts_with("20") && s.bytes().all(|b| b.is_ascii_digit());
        let two = |s: &str| s.len() <= 2 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let dated = segments
            .windows(3)
            .any(|w| is_year(w[0]) && two(w[1]) && two(w[2]));
        let iso = segments.iter().any(|s| {
            s.len() >= 10
                && is_year(&s[..4])
                && s.as_bytes().get(4) == Some(&b'-')
                && s.as_bytes().get(7) == Some(&b'-')
        });
        let numeric_id = segments.iter().any(|s| {
            let digits = s
                .split(|c: char| !c.is_ascii_digit())
                .map(str::len)
                .max()
                .unwrap_or(0);
            digits >= 5
        });
        dated || iso || numeric_id
    }

    /// The distinct article paths among `links`, first-seen order.
    pub fn articles(&self, links: &[String]) -> Vec<String> {
        let mut seen = HashSet::new();
        links
            .iter()
            .filter(|l| self.is_article(l) && seen.insert(l.as_str()))
            .cloned()
            .collect()
    }
}

/// What a mirror is missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lag {
    pub missing: usize,
    pub lag: Duration,
    /// The oldest missing article and when it was first seen.
    pub oldest: Option<(String, SystemTime)>,
}

/// First-seen times of the main site's current articles.
#[derive(Debug, Default)]
pub struct Clock {
    first_seen: HashMap<String, SystemTime>,
}

impl Clock {
    /// Records the articles the main site shows now; forgets the rest.
    pub fn observe(&mut self, on_main: &[String], now: SystemTime) {
        let current: HashSet<&str> = on_main.iter().map(String::as_str).collect();
        self.first_seen.retain(|k, _| current.contains(k.as_str()));
        for a in on_main {
            self.first_seen.entry(a.clone()).or_insert(now);
        }
    }

    /// Lag of a mirror showing `on_mirror`, against the main articles
    /// `reference` (in the main page's order, newest first).
    ///
    /// Only articles listed before the last one both pages share count as
    /// missing: a missing tail means the mirror's page is newer than the
    /// reference (the oldest items rotated off) or simply shorter, not that
    /// the mirror is behind.
    pub fn lag(&self, reference: &[String], on_mirror: &[String], now: SystemTime) -> Lag {
        let mirror: HashSet<&str> = on_mirror.iter().map(String::as_str).collect();
        let considered = match reference.iter().rposition(|a| mirror.contains(a.as_str())) {
            Some(last_shared) => &reference[..=last_shared],
            None => reference,
        };
        let mut out = Lag::default();
        for a in considered.iter().filter(|a| !mirror.contains(a.as_str())) {
            out.missing += 1;
            let Some(seen) = self.first_seen.get(a) else {
                continue;
            };
            if out.oldest.as_ref().is_none_or(|(_, t)| seen < t) {
                out.oldest = Some((a.clone(), *seen));
            }
        }
        if let Some((_, t)) = &out.oldest {
            out.lag = now.duration_since(*t).unwrap_or_default();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heuristic_recognises_article_paths() {
        let m = ArticleMatcher::default();
        assert!(m.is_article("/Detail/2026/11/27/700001/parliament-approves"));
        assert!(m.is_article("/news/2026-11-27-budget"));
        assert!(m.is_article("/story/1234567"));
        assert!(!m.is_article("/Section/World"));
        assert!(!m.is_article("/"));
        assert!(!m.is_article("/2026"));
    }

    #[test]
    fn lag_is_age_of_oldest_missing_article() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut c = Clock::default();
        let a = |s: &str| s.to_string();
        c.observe(&[a("/n/1/00001"), a("/n/2/00002")], t0);
        c.observe(
            &[a("/n/1/00001"), a("/n/2/00002"), a("/n/3/00003")],
            t0 + Duration::from_secs(60),
        );
        // Main page order: newest first.
        let main = [a("/n/3/00003"), a("/n/2/00002"), a("/n/1/00001")];
        let now = t0 + Duration::from_secs(100);
        assert_eq!(c.lag(&main, &main, now), Lag::default());
        let l = c.lag(&main, &[a("/n/1/00001")], now);
        assert_eq!((l.missing, l.lag), (2, Duration::from_secs(100)));
        let l = c.lag(&main, &[a("/n/2/00002"), a("/n/1/00001")], now);
        assert_eq!((l.missing, l.lag), (1, Duration::from_secs(40)));
        let l = c.lag(&main, &[], now);
        assert_eq!(l.missing, 3, "sharing nothing, everything is missing");
        c.observe(&[a("/n/3/00003")], now);
        assert_eq!(
            c.lag(&[a("/n/3/00003")], &[], now).lag,
            Duration::from_secs(40),
            "dropped articles are forgotten, kept ones keep their clock"
        );
    }
}
