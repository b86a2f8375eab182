//! A generated news homepage: masthead, headline list with dated article
//! links, a rotating timestamp and an ad slot, so pages look like the real
//! thing without copying any site.

use std::fmt::Write as _;

/// One article on the homepage.
#[derive(Debug, Clone)]
pub struct Article {
    pub id: u64,
    pub date: (u32, u32, u32),
    pub title: String,
}

impl Article {
    pub fn path(&self) -> String {
        let (y, m, d) = self.date;
        format!(
            "/Detail/{y:04}/{m:02}/{d:02}/{}/{}",
            self.id,
            slug(&self.title)
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
const OBJECTS: [&str; 6] = [
    "new budget plan",
    "regional trade deal",
    "transport reform",
    "summer schedule",
    "water agreement",
    "digital services law",
];

/// `count` articles, newest first, deterministic in `seed`.
pub fn articles(seed: u64, count: usize) -> Vec<Article> {
    (0..count as u64)
        .map(|i| {
            let n = seed + i;
            Article {
                id: 700_000 + n,
                date: (2026, 11, 27 - (i as u32 / 8).min(26)),
                title: format!(
                    "{} {} {}",
                    SUBJECTS[(n % 8) as usize],
                    VERBS[(n / 8 % 6) as usize],
                    OBJECTS[(n / 48 % 6) as usize]
                ),
            }
        })
        .collect()
}

fn slug(title: &str) -> String {
    title.to_ascii_lowercase().replace(' ', "-")
}

/// The homepage of `host` (absolute links use it), with a per-request
/// `stamp` (timestamp) and `ad` slot text.
pub fn homepage(
    site_title: &str,
    host: &str,
    articles: &[Article],
    stamp: &str,
    ad: &str,
) -> String {
    let mut items = String::new();
    for a in articles {
        let _ = writeln!(
            items,
            "<li class=\"story\"><a href=\"https://{host}{}\">{}</a><p>{} reported on the matter in detail today.</p></li>",
            a.path(),
            a.title,
            a.title.split(' ').next().unwrap_or("Officials")
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{site_title} | Latest news</title>\
         <script>var t = \"{stamp}\";</script><style>.story{{margin:1em}}</style></head>\
         <body><header><h1>{site_title}</h1><nav><a href=\"https://{host}/\">Home</a> <a href=\"//{host}/Section/World\">World</a></nav></header>\
         <div class=\"ad\">{ad}</div><main><ul>\n{items}</ul></main>\
         <footer>Updated {stamp}</footer></body></html>\n"
    )
}
