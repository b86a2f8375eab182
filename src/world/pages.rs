//! Generated pages for the world: a news homepage whose feed grows over
//! time, its noisy-but-equal variant, and the pages of seized, parked and
//! blocked domains. Everything is made up here; nothing is copied from any
//! site.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// One article.
#[derive(Debug, Clone)]
pub struct Article {
    pub id: u64,
    pub title: String,
}

impl Article {
    pub fn path(&self) -> String {
        let day = 1 + (self.id / 10) % 27;
        format!(
            "/Detail/2026/11/{day:02}/{}/{}",
            700_000 + self.id,
            self.title.to_ascii_lowercase().replace(' ', "-")
        )
    }
}

const SUBJECTS: [&str; 8] = [
    "Parliament",
    "Central bank",
    "Football league",
    "Oil ministry",
    "University council",
    "Port authority",
    "Weather service",
    "Health ministry",
];
const VERBS: [&str; 6] = [
    "approves",
    "rejects",
    "reviews",
    "announces",
    "postpones",
    "expands",
];
const OBJECTS: [&str; 7] = [
    "new budget plan",
    "regional trade deal",
    "transport reform",
    "summer schedule",
    "water agreement",
    "digital services law",
    "housing programme",
];
const LEDES: [&str; 5] = [
    "Officials said the decision followed weeks of debate among members.",
    "The announcement was welcomed by some groups and criticised by others.",
    "Analysts expect the change to take effect early next year.",
    "Details of the plan were published on the official website.",
    "A spokesperson declined to comment on the timing of the move.",
];

/// Article number `n` (stable).
pub fn article(n: u64) -> Article {
    Article {
        id: n,
        title: format!(
            "{} {} {}",
            SUBJECTS[(n % 8) as usize],
            VERBS[(n / 8 % 6) as usize],
            OBJECTS[(n / 48 % 7) as usize]
        ),
    }
}

/// A feed that publishes one article every `every` from `start`.
#[derive(Debug, Clone)]
pub struct Feed {
    pub start: Instant,
    pub initial: u64,
    pub every: Duration,
    /// How many of the newest articles the homepage shows.
    pub shown: u64,
}

impl Feed {
    /// Articles published by now (or at the start, when `frozen`), newest first.
    pub fn latest(&self, frozen: bool) -> Vec<Article> {
        let elapsed = if frozen {
            Duration::ZERO
        } else {
            self.start.elapsed()
        };
        let published = self.initial + (elapsed.as_millis() / self.every.as_millis().max(1)) as u64;
        (published.saturating_sub(self.shown)..published)
            .rev()
            .map(article)
            .collect()
    }
}

/// How a homepage differs from the plain one without changing its content.
#[derive(Debug, Clone, Copy, Default)]
pub struct Noise {
    /// Put the "More news" block before "Top stories".
    pub swap_blocks: bool,
    /// Add `?utm=...&v=...` to links and use scheme-relative links.
    pub cache_busters: bool,
    /// Which ad to show.
    pub ad: u64,
    /// End with the site's list of alternate addresses, as Press TV's
    /// pages do: the first this many of [`ANNOUNCED`] (0: no list).
    pub announce: usize,
    /// The port the list's links name (0: the scheme's default).
    pub announce_port: u16,
}

/// The alternate addresses an announcing page lists: one the world
/// watches as a mirror, one it does not.
pub const ANNOUNCED: [&str; 2] = ["www.healthy.test", "www.fresh-mirror.test"];

/// The homepage of `host` listing `articles`, with a timestamp `stamp`.
pub fn homepage(
    site_title: &str,
    host: &str,
    articles: &[Article],
    stamp: &str,
    noise: Noise,
) -> String {
    let link = |path: &str| {
        if noise.cache_busters {
            format!(
                "//{host}{path}?utm_source=home&v={}",
                stamp.len() as u64 * 7919 + noise.ad
            )
        } else {
            format!("https://{host}{path}")
        }
    };
    let block = |title: &str, items: &[Article]| {
        let mut out = format!("<section><h2>{title}</h2><ul>\n");
        for a in items {
            let _ = writeln!(
                out,
                "<li class=\"story\"><a href=\"{}\">{}</a><p>{}</p></li>",
                link(&a.path()),
                a.title,
                LEDES[(a.id % 5) as usize]
            );
        }
        out.push_str("</ul></section>\n");
        out
    };
    let half = articles.len() / 2;
    let (top, more) = (
        block("Top stories", &articles[..half]),
        block("More news", &articles[half..]),
    );
    let body = if noise.swap_blocks {
        format!("{more}{top}")
    } else {
        format!("{top}{more}")
    };
    let ads = [
        "Save on flights to Istanbul",
        "New phones at low prices",
        "Learn a language in 30 days",
    ];
    let ad = ads[(noise.ad % 3) as usize];
    let announce = if noise.announce > 0 {
        let list: Vec<String> = ANNOUNCED
            .iter()
            .take(noise.announce)
            .map(|h| match noise.announce_port {
                0 => format!("<a href=\"https://{h}/\">{h}</a>"),
                p => format!("<a href=\"https://{h}:{p}/\">{h}</a>"),
            })
            .collect();
        format!(
            "<p class=\"alternate\">{site_title}'s website can also be accessed at the following alternate addresses:<br>{}</p>",
            list.join(", ")
        )
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{site_title} | Latest news</title>\
         <script>var t = \"{stamp}\"; if (a<b) {{ document.write('<p>not text</p>'); }}</script>\
         <style>.story{{margin:1em}}</style></head>\
         <body><header><h1>{site_title}</h1><nav><a href=\"{}\">Home</a> <a href=\"{}\">World</a></nav></header>\
         <!-- build {stamp} --><div class=\"ad\">Advertisement: {ad}</div><main>\n{body}</main>\
         <footer>Updated {stamp}. Follow us for the latest headlines and analysis.{announce}</footer></body></html>\n",
        link("/"),
        link("/Section/World")
    )
}

/// A US-style seizure banner.
pub fn seized() -> String {
    "<!DOCTYPE html><html><head><title>Domain seized</title></head><body><h1>THIS DOMAIN HAS BEEN SEIZED</h1>\
     <p>This domain has been seized by the United States Government in accordance with a seizure warrant \
     issued by a United States District Court.</p></body></html>\n"
        .into()
}

/// A parked "domain for sale" page.
pub fn parked(host: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><title>{host} is for sale</title></head><body><h1>{host}</h1>\
         <p>This premium domain may be available for purchase. Make an offer today through our secure broker.</p>\
         <p>Related searches: cheap hosting, domain names, web design, email marketing.</p></body></html>\n"
    )
}

/// An Iranian-style blockpage: the page only frames the filter's address.
pub fn blockpage() -> String {
    "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1256\"><title>M1-6</title></head>\
     <body><iframe src=\"http://10.10.34.34?type=Invalid Site&policy=MainPolicy\" style=\"width: 100%; height: 100%\" \
     scrolling=\"no\" marginwidth=\"0\" marginheight=\"0\" frameborder=\"0\" vspace=\"0\" hspace=\"0\"></iframe></body></html>\n"
        .into()
}
