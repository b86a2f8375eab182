//! Parity: is a mirror really a current copy of the main site? Plus seizure
//! and blockpage fingerprints on every address.
//!
//! Runs after the network checks, on the bodies they fetched. The main
//! site's good pages become the site's *reference* (kept across rounds, so
//! mirrors are still compared when the main site is down, with the
//! reference's age reported); each mirror page is normalised and compared
//! with the reference for the same path. Like the checks, this only records
//! facts in the report; `verdict` decides.

pub mod fingerprints;
pub mod freshness;
pub mod normalize;
pub mod similarity;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use url::Url;

use self::fingerprints::{FingerprintMatch, Fingerprints};
use self::freshness::{ArticleMatcher, Clock};
use self::normalize::{Rewrite, decode, normalize};
use crate::checks::RoundReport;
use crate::checks::http::status_ok;
use crate::config::{Config, Role, Target};

/// A main-site page kept as the reference for one path.
#[derive(Debug)]
pub struct Reference {
    /// Only what comparisons read is kept (not the text), since every site
    /// holds one per path.
    pub title: String,
    pub length: usize,
    pub shingles: Vec<u64>,
    pub articles: Vec<String>,
    pub fetched_at: SystemTime,
}

#[derive(Debug, Default)]
struct Memory {
    references: HashMap<String, Arc<Reference>>,
    clock: Clock,
}

struct SiteContent {
    main: Url,
    /// Without mirrors nobody reads the reference, so the main page is not
    /// normalised at all.
    has_mirrors: bool,
    matcher: ArticleMatcher,
    memory: Arc<Mutex<Memory>>,
}

/// Per-site content memory and the fingerprint list, built per config.
pub struct Content {
    fingerprints: Fingerprints,
    sites: HashMap<String, SiteContent>,
}

/// Parity of one mirror page against the reference.
#[derive(Debug, Clone, Serialize)]
pub struct PathParity {
    pub path: String,
    pub title: String,
    pub similarity: f64,
    pub title_match: bool,
    pub length_ratio: f64,
    pub missing_articles: usize,
    pub lag_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_missing: Option<String>,
    pub articles_on_mirror: usize,
    pub articles_on_reference: usize,
    #[serde(with = "crate::timefmt::rfc3339")]
    pub reference_fetched_at: SystemTime,
    pub reference_age_seconds: f64,
}

/// The mirror's parity over all paths: worst similarity, largest lag.
#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    /// The mirror's page title (first path): network text, shown escaped.
    pub mirror_title: Option<String>,
    pub similarity: f64,
    pub title_match: bool,
    pub length_ratio: f64,
    pub missing_articles: usize,
    pub lag_seconds: f64,
    pub reference_age_seconds: f64,
    pub paths: Vec<PathParity>,
}

/// What content analysis found for one address.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ContentReport {
    pub fingerprints: Vec<FingerprintMatch>,
    /// Mirrors only, once the main site has given a reference.
    pub parity: Option<ParityReport>,
}

impl Content {
    /// Content state for `config`. Sites of `previous` whose main URL is
    /// unchanged keep their reference pages and first-seen clock.
    pub fn new(config: &Config, previous: Option<&Content>) -> Self {
        let sites = config
            .sites
            .iter()
            .map(|s| {
                let pattern = s
                    .article_pattern
                    .as_deref()
                    .and_then(|p| regex::Regex::new(p).ok());
                let kept = previous
                    .and_then(|p| p.sites.get(&s.name))
                    .filter(|old| old.main == s.main)
                    .map(|old| old.memory.clone());
                let content = SiteContent {
                    main: s.main.clone(),
                    has_mirrors: !s.mirrors.is_empty(),
                    matcher: ArticleMatcher::new(pattern),
                    memory: kept.unwrap_or_default(),
                };
                (s.name.clone(), content)
            })
            .collect();
        Self {
            fingerprints: Fingerprints::new(&config.fingerprints),
            sites,
        }
    }

    /// Addresses not worth connecting to (known blockpage servers).
    pub fn blocked_ips(&self) -> Vec<std::net::IpAddr> {
        self.fingerprints.blocked_ips()
    }

    /// Whether [`Content::analyse`] will parse this target's pages (mirrors,
    /// and main sites that have mirrors), as opposed to only scanning them
    /// for fingerprints. Parsing a large page is worth moving off the async
    /// workers; a scan is not.
    pub fn parses(&self, target: &Target) -> bool {
        target.role == Role::Mirror || self.sites.get(&target.site).is_some_and(|s| s.has_mirrors)
    }

    /// Analyses the bodies of a finished round and records the result in
    /// `report.content`.
    pub fn analyse(&self, target: &Target, report: &mut RoundReport, now: SystemTime) {
        let ns: Vec<String> = report
            .dns
            .ns
            .as_ref()
            .map(|n| n.names.clone())
            .unwrap_or_default();
        let answers = report.dns.all_addresses();
        let mut matches = self.fingerprints.matches("", &answers, &ns);
        let mut pages = Vec::new();
        for h in &mut report.http {
            if h.body.is_empty() && h.status.is_none() {
                continue;
            }
            // The body is not needed past this point: the board keeps every
            // address's last report, and 10,000 addresses × 100 KB pages
            // would be a gigabyte.
            let body = std::mem::take(&mut h.body);
            let html = decode(&body, h.content_type.as_deref());
            drop(body);
            for m in self.fingerprints.matches(&html, &[], &[]) {
                if !matches.iter().any(|x| x.name == m.name) {
                    matches.push(m);
                }
            }
            let ok = h.error.is_none()
                && h.status
                    .is_some_and(|s| status_ok(s, &target.settings.expect_status));
            if ok {
                pages.push((h.path.clone(), html));
            }
        }
        report.content.fingerprints = matches;
        if !report.content.fingerprints.is_empty() {
            return;
        }
        let Some(site) = self.sites.get(&target.site) else {
            return;
        };
        let main_host = site
            .main
            .host_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match target.role {
            Role::Main => {
                if site.has_mirrors && pages.len() == target.paths.len() {
                    self.remember(site, &main_host, &target.url, pages, now);
                }
            }
            Role::Mirror => {
                report.content.parity = compare(site, &main_host, target, &pages, now);
            }
        }
    }

    fn remember(
        &self,
        site: &SiteContent,
        main_host: &str,
        url: &Url,
        pages: Vec<(String, String)>,
        now: SystemTime,
    ) {
        let mut on_main = Vec::new();
        let mut fresh = Vec::new();
        for (path, html) in pages {
            let base = url.join(&path).unwrap_or_else(|_| url.clone());
            let page = normalize(
                &html,
                &Rewrite {
                    base: &base,
                    from: &[],
                    to: main_host,
                },
            );
            let articles = site.matcher.articles(&page.links);
            on_main.extend(articles.iter().cloned());
            let shingles = similarity::shingles(&page.text);
            fresh.push((
                path,
                Arc::new(Reference {
                    title: page.title,
                    length: page.length,
                    shingles,
                    articles,
                    fetched_at: now,
                }),
            ));
        }
        let mut mem = site.memory.lock().unwrap_or_else(|p| p.into_inner());
        mem.clock.observe(&on_main, now);
        mem.references.extend(fresh);
    }
}

fn compare(
    site: &SiteContent,
    main_host: &str,
    target: &Target,
    pages: &[(String, String)],
    now: SystemTime,
) -> Option<ParityReport> {
    let own_host = target
        .url
        .host_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let from = [own_host];
    let mut paths = Vec::new();
    for (path, html) in pages {
        let base = target.url.join(path).unwrap_or_else(|_| target.url.clone());
        let page = normalize(
            html,
            &Rewrite {
                base: &base,
                from: &from,
                to: main_host,
            },
        );
        let articles = site.matcher.articles(&page.links);
        let found = {
            let mem = site.memory.lock().unwrap_or_else(|p| p.into_inner());
            mem.references
                .get(path)
                .cloned()
                .map(|r| (mem.clock.lag(&r.articles, &articles, now), r))
        };
        let Some((lag, reference)) = found else {
            continue;
        };
        let shingles = similarity::shingles(&page.text);
        paths.push(PathParity {
            path: path.clone(),
            title: page.title.chars().take(300).collect(),
            similarity: similarity::jaccard(&reference.shingles, &shingles),
            title_match: similarity::title_match(&reference.title, &page.title),
            length_ratio: similarity::length_ratio(reference.length, page.length),
            missing_articles: lag.missing,
            lag_seconds: lag.lag.as_secs_f64(),
            oldest_missing: lag.oldest.map(|(a, _)| a),
            articles_on_mirror: articles.len(),
            articles_on_reference: reference.articles.len(),
            reference_fetched_at: reference.fetched_at,
            reference_age_seconds: now
                .duration_since(reference.fetched_at)
                .unwrap_or(Duration::ZERO)
                .as_secs_f64(),
        });
    }
    if paths.is_empty() {
        return None;
    }
    let fold = |f: fn(&PathParity) -> f64, pick: fn(f64, f64) -> f64, start: f64| {
        paths.iter().map(f).fold(start, pick)
    };
    Some(ParityReport {
        mirror_title: paths.first().map(|p| p.title.clone()),
        similarity: fold(|p| p.similarity, f64::min, 1.0),
        title_match: paths.iter().all(|p| p.title_match),
        length_ratio: fold(|p| p.length_ratio, f64::min, 1.0),
        missing_articles: paths.iter().map(|p| p.missing_articles).sum(),
        lag_seconds: fold(|p| p.lag_seconds, f64::max, 0.0),
        reference_age_seconds: fold(|p| p.reference_age_seconds, f64::max, 0.0),
        paths,
    })
}
