//! A busy news homepage, built to behave like the real thing rather than
//! like the parity code expects: an article every 2–5 s (irregular), a lead
//! story and a "latest" rail of a dozen items at the top (each new article
//! pushes the oldest off the rail and off the page), about 30 older section
//! articles below that never change, a rotating "most read" box, and slugs
//! in English, French, Persian and CJK (raw UTF-8 and percent-encoded).
//! A mirror serves the page main serves at that moment, or (stale) the
//! page main served `behind` ago.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Articles on the rail below the lead.
pub const RAIL: usize = 12;
/// Stable section articles below the rail.
pub const SECTIONS: usize = 30;
/// Publication gaps, in milliseconds.
const GAP_MS: std::ops::RangeInclusive<u64> = 2000..=5000;

/// The timeline of one busy site.
#[derive(Debug, Clone)]
pub struct BusyFeed {
    pub start: Instant,
    /// Publication offsets from `start`, in milliseconds (increasing).
    published_ms: Vec<u64>,
}

impl BusyFeed {
    /// A feed whose first `RAIL + 1` articles are already out at `start`,
    /// then one every 2–5 s for `span` (a fixed pseudo-random sequence,
    /// the same in every run).
    pub fn new(start: Instant, span: Duration) -> Self {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut at = 0u64;
        let mut published_ms = vec![0; RAIL + 1];
        let width = GAP_MS.end() - GAP_MS.start() + 1;
        while at < u64::try_from(span.as_millis()).unwrap_or(u64::MAX) {
            // xorshift64*: deterministic, no dependency.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
            at += GAP_MS.start() + r % width;
            published_ms.push(at);
        }
        Self {
            start,
            published_ms,
        }
    }

    /// How many articles are out `behind` before now.
    fn published(&self, behind: Duration) -> usize {
        let now = self.start.elapsed().saturating_sub(behind);
        let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        self.published_ms.partition_point(|&p| p <= now_ms)
    }

    /// The homepage as main served it `behind` ago (`Duration::ZERO`: now).
    pub fn page(&self, title: &str, host: &str, behind: Duration) -> String {
        page_at(self.published(behind), title, host)
    }
}

/// The homepage once `n` articles are out (deterministic, for tests that
/// step through a timeline).
pub fn page_at(n: usize, title: &str, host: &str) -> String {
    let link = |path: &str| format!("https://{host}{path}");
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} | Breaking news</title>\
         <script>window.rendered = {n};</script></head><body>\
         <header><h1>{title}</h1><nav><a href=\"{}\">Home</a> <a href=\"{}\">Iran</a> \
         <a href=\"{}\">World</a></nav></header><main>",
        link("/"),
        link("/Section/Iran"),
        link("/Section/World")
    );
    let mut rail = (0..n).rev().take(RAIL + 1);
    if let Some(lead) = rail.next() {
        let _ = write!(
            out,
            "<article class=\"lead\"><h2><a href=\"{}\">{}</a></h2><p>{}</p></article>",
            link(&path(lead)),
            headline(lead),
            lede(lead)
        );
    }
    out.push_str("<section class=\"latest\"><h2>Latest</h2><ul>");
    for i in rail {
        let _ = write!(
            out,
            "<li><a href=\"{}\">{}</a> <time>{}m ago</time></li>",
            link(&path(i)),
            headline(i),
            (n - i) / 12
        );
    }
    out.push_str("</ul></section>");
    // "Most read": a box that rotates among section articles every
    // page view count, independent of publication.
    out.push_str("<aside class=\"most-read\"><h3>Most read</h3><ol>");
    for k in 0..5 {
        let i = (n + k * 7) % SECTIONS;
        let _ = write!(
            out,
            "<li><a href=\"{}\">{}</a></li>",
            link(&section_path(i)),
            section_headline(i)
        );
    }
    out.push_str("</ol></aside>");
    for (s, name) in ["Iran", "World", "Economy"].iter().enumerate() {
        let _ = write!(out, "<section><h2>{name}</h2><ul>");
        for i in (s * 10)..(s * 10 + 10) {
            let _ = write!(
                out,
                "<li><a href=\"{}\">{}</a><p>{}</p></li>",
                link(&section_path(i)),
                section_headline(i),
                lede(i + 3)
            );
        }
        out.push_str("</ul></section>");
    }
    let _ = writeln!(
        out,
        "</main><footer>Press desk. Rendered at view {n}. Alternate address: \
         {host}</footer></body></html>"
    );
    out
}

/// A rail article's path: dated, with a slug in one of four scripts.
pub fn path(i: usize) -> String {
    let id = 700_000 + i;
    let day = 1 + i / 400 % 28;
    match i % 4 {
        0 => format!("/Detail/2026/11/{day:02}/{id}/parliament-debates-budget"),
        1 => format!("/Detail/2026/11/{day:02}/{id}/café-owner-arrested-à-paris"),
        2 => format!("/Detail/2026/11/{day:02}/{id}/%D8%AE%D8%A8%D8%B1-%D9%81%D9%88%D8%B1%DB%8C"),
        _ => format!("/Detail/2026/11/{day:02}/{id}/新闻-世界"),
    }
}

fn section_path(i: usize) -> String {
    match i % 3 {
        0 => format!("/Detail/2026/10/02/{}/analysis", 600_000 + i),
        1 => format!("/Detail/2026/10/03/{}/گزارش-ویژه", 600_000 + i),
        _ => format!("/Detail/2026/10/04/{}/東京-報告", 600_000 + i),
    }
}

fn headline(i: usize) -> String {
    const WHO: [&str; 6] = [
        "Parliament",
        "Oil ministry",
        "Central bank",
        "Port authority",
        "Football federation",
        "University council",
    ];
    const WHAT: [&str; 5] = [
        "debates new budget",
        "signs regional accord",
        "postpones reform vote",
        "announces winter schedule",
        "reviews water agreement",
    ];
    format!("{} {} ({})", WHO[i % 6], WHAT[i / 6 % 5], i)
}

fn section_headline(i: usize) -> String {
    format!(
        "In depth: the long road to the {} agreement",
        ["trade", "energy", "water"][i % 3]
    )
}

fn lede(i: usize) -> &'static str {
    const LEDES: [&str; 4] = [
        "Officials said the decision followed weeks of debate among members.",
        "The announcement was welcomed by some groups and criticised by others.",
        "Analysts expect the change to take effect early next year.",
        "A spokesperson declined to comment on the timing of the move.",
    ];
    LEDES[i % 4]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parity::freshness::ArticleMatcher;
    use crate::parity::normalize::{Rewrite, normalize};

    #[test]
    fn rail_rotates_above_stable_sections() {
        let start = Instant::now() - Duration::from_secs(120);
        let feed = BusyFeed::new(start, Duration::from_secs(600));
        let base = url::Url::parse("https://www.busy.test/").expect("url");
        let rw = Rewrite {
            base: &base,
            from: &[],
            to: "www.busy.test",
        };
        let m = ArticleMatcher::default();
        let now = m
            .articles(&normalize(&feed.page("T", "www.busy.test", Duration::ZERO), &rw).links)
            .to_vec();
        let then = m
            .articles(
                &normalize(
                    &feed.page("T", "www.busy.test", Duration::from_secs(60)),
                    &rw,
                )
                .links,
            )
            .to_vec();
        assert_eq!(now.len(), RAIL + 1 + SECTIONS, "{now:?}");
        let shared = now.iter().filter(|a| then.contains(a)).count();
        assert!(
            (SECTIONS..SECTIONS + RAIL).contains(&shared),
            "sections stay, the rail moved: {shared}"
        );
        assert!(now.iter().any(|a| a.contains("café")) && now.iter().any(|a| a.contains("新闻")));
    }
}
