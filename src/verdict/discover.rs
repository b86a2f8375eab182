//! `discover = "watch"`: which announced hosts become mirrors, which
//! discovered ones go. Decided from the site verdict's announcements, only
//! when the main page that announced them is trusted (not raised `seized`,
//! `blockpage`, `content_mismatch` or `tls_invalid`): a tampered page can
//! add a host, but it is then judged like any mirror, so a phishing host
//! shows as `content_mismatch`, never as a trusted copy. A host no longer
//! announced is dropped after `grace`; a page that announces nothing is no
//! evidence either way.

use super::Kind;
use crate::parity::announce::comparable;

/// Discovered mirrors per site, at most.
pub const MAX_DISCOVERED: usize = 16;

/// The kinds on the announcing main page that make its list untrusted.
pub const UNTRUSTED: [Kind; 4] = [
    Kind::Seized,
    Kind::Blockpage,
    Kind::ContentMismatch,
    Kind::TlsInvalid,
];

/// A discovered mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// As announced (with `www.`, and a port when one was given).
    pub host: String,
    /// Unix seconds.
    pub added_at: i64,
    pub withdrawn_since: Option<i64>,
}

/// What the site looks like to discovery now.
pub struct Input<'a> {
    /// The main page's announced hosts (`None`: it announces none).
    pub announced: Option<&'a [String]>,
    /// Raised problems of the main address (first vantage).
    pub main_problems: &'a [Kind],
    /// The main address's host, and the configured mirrors' hosts.
    pub main_host: &'a str,
    pub configured: &'a [String],
    pub now: i64,
    pub grace_seconds: i64,
}

/// The discovered mirrors after this look, from `current`.
pub fn next(current: &[Found], input: &Input<'_>) -> Vec<Found> {
    let same = |a: &str, b: &str| comparable(a).is_some() && comparable(a) == comparable(b);
    let configured =
        |h: &str| same(h, input.main_host) || input.configured.iter().any(|c| same(h, c));
    let trusted = !input.main_problems.iter().any(|k| UNTRUSTED.contains(k));
    let mut out: Vec<Found> = current
        .iter()
        // An operator who configures the host takes it over.
        .filter(|f| !configured(&f.host))
        .cloned()
        .collect();
    if let (Some(list), true) = (input.announced, trusted) {
        for f in &mut out {
            if list.iter().any(|h| same(h, &f.host)) {
                f.withdrawn_since = None;
            } else {
                f.withdrawn_since.get_or_insert(input.now);
            }
        }
        for h in list {
            if out.len() >= MAX_DISCOVERED {
                break;
            }
            if !configured(h) && !out.iter().any(|f| same(&f.host, h)) {
                out.push(Found {
                    host: h.clone(),
                    added_at: input.now,
                    withdrawn_since: None,
                });
            }
        }
    }
    out.retain(|f| {
        f.withdrawn_since
            .is_none_or(|since| input.now.saturating_sub(since) < input.grace_seconds)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(announced: Option<&'a [String]>, problems: &'a [Kind], now: i64) -> Input<'a> {
        Input {
            announced,
            main_problems: problems,
            main_host: "www.main.test",
            configured: &[],
            now,
            grace_seconds: 100,
        }
    }

    fn hosts(v: &[Found]) -> Vec<&str> {
        v.iter().map(|f| f.host.as_str()).collect()
    }

    #[test]
    fn announced_hosts_come_and_withdrawn_ones_go_after_the_grace() {
        let a: Vec<String> = ["www.main.test", "www.new.test:8443", "alt.test"]
            .map(String::from)
            .to_vec();
        let v = next(&[], &input(Some(&a), &[], 0));
        assert_eq!(
            hosts(&v),
            ["www.new.test:8443", "alt.test"],
            "main itself is not a mirror"
        );
        let only_alt = vec!["alt.test".to_string()];
        let v = next(&v, &input(Some(&only_alt), &[], 10));
        assert_eq!(v[0].withdrawn_since, Some(10));
        let v = next(&v, &input(None, &[], 50));
        assert_eq!(
            v[0].withdrawn_since,
            Some(10),
            "no announcement: no evidence"
        );
        let v = next(&v, &input(Some(&only_alt), &[], 109));
        assert_eq!(hosts(&v), ["www.new.test:8443", "alt.test"]);
        let v = next(&v, &input(Some(&only_alt), &[], 110));
        assert_eq!(hosts(&v), ["alt.test"]);
        let back = next(&v, &input(Some(&a), &[], 111));
        assert_eq!(hosts(&back), ["alt.test", "www.new.test:8443"]);
    }

    #[test]
    fn an_untrusted_page_adds_nothing_and_the_cap_holds() {
        let a: Vec<String> = (0..40).map(|i| format!("m{i}.test")).collect();
        assert_eq!(next(&[], &input(Some(&a), &[Kind::Seized], 0)), vec![]);
        assert_eq!(next(&[], &input(Some(&a), &[Kind::TlsInvalid], 0)), vec![]);
        assert_eq!(
            next(&[], &input(Some(&a), &[Kind::ContentStale], 0)).len(),
            MAX_DISCOVERED
        );
        let configured = vec!["https://www.m0.test/".to_string()];
        let mut i = input(Some(&a), &[], 0);
        i.configured = &configured;
        assert_eq!(
            next(&[], &i)[0].host,
            "m1.test",
            "a configured mirror is not discovered"
        );
    }
}
