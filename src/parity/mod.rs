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
use self::freshness::{
    ArticleMatcher, Clock, ClockDelta, Judged, Pending, SeenEver, Snapshot, Snapshots, Window,
};
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
    pub articles: usize,
    pub fetched_at: SystemTime,
}

/// Per-site content memory: references for similarity, main snapshots and
/// the first-seen clock for freshness, and mirror fetches waiting to be
/// judged.
#[derive(Debug, Default)]
struct Memory {
    references: HashMap<String, Arc<Reference>>,
    snapshots: HashMap<String, Snapshots>,
    clock: Clock,
    seen_ever: SeenEver,
    /// Per (mirror URL, path).
    pending: HashMap<(String, String), Pending>,
    /// The last judgement per (mirror URL, path), shown until the next one.
    judged: HashMap<(String, String), Judged>,
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
    /// Freshness figures of the last judged fetch of this path (see
    /// `freshness`): articles missing, lag (lower bound) and its upper
    /// bound (`None`: unbounded).
    pub missing_articles: usize,
    pub lag_seconds: f64,
    pub lag_upper_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_missing: Option<String>,
    /// This round judged a fetch (its own or an earlier one waiting for a
    /// later main snapshot). When `false` the figures above are older
    /// evidence, or none: the round says nothing about freshness.
    pub freshness_judged: bool,
    #[serde(with = "crate::ground::time::rfc3339_opt")]
    pub freshness_observed_at: Option<SystemTime>,
    pub articles_on_mirror: usize,
    /// The mirror's articles main has shown (among its last 512): a page
    /// that is mostly main's articles is a copy of main, if maybe an old
    /// one.
    pub articles_shared: usize,
    pub articles_on_reference: usize,
    #[serde(with = "crate::ground::time::rfc3339")]
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

/// The first-seen clock of one site as the store keeps it.
#[derive(Debug, Clone, Default)]
pub struct SavedClock {
    pub main: String,
    pub last: Option<SystemTime>,
    pub articles: Vec<(String, SystemTime, Option<SystemTime>)>,
}

/// The window a fetch of one path took (its page was generated inside it).
fn window_of(h: &crate::checks::http::HttpReport) -> Window {
    Window {
        start: h.requested_at,
        end: h.received_at.max(h.requested_at),
    }
}

impl Content {
    /// Content state for `config`. Sites of `previous` whose main URL is
    /// unchanged keep their reference pages, snapshots and first-seen clock.
    pub fn new(config: &Config, previous: Option<&Content>) -> Self {
        let sites = config
            .sites
            .iter()
            .map(|s| {
                let kept = previous
                    .and_then(|p| p.sites.get(&s.name))
                    .filter(|old| old.main == s.main)
                    .map(|old| old.memory.clone());
                if let Some(m) = &kept {
                    // Forget fetches of mirrors the new config dropped.
                    let mirrors: Vec<String> = s.mirrors.iter().map(Url::to_string).collect();
                    let mut m = m.lock().unwrap_or_else(|p| p.into_inner());
                    m.pending.retain(|(u, _), _| mirrors.contains(u));
                    m.judged.retain(|(u, _), _| mirrors.contains(u));
                }
                let content = SiteContent {
                    main: s.main.clone(),
                    has_mirrors: !s.mirrors.is_empty(),
                    matcher: ArticleMatcher::new(s.article_regex.clone()),
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

    /// Puts back a site's first-seen clock saved before a restart, when it
    /// belongs to the same main URL and nothing was observed since.
    pub fn restore_clock(&self, site: &str, saved: SavedClock) {
        let Some(s) = self.sites.get(site) else {
            return;
        };
        if s.main.as_str() != saved.main {
            return;
        }
        let mut mem = s.memory.lock().unwrap_or_else(|p| p.into_inner());
        if mem.clock.is_empty() {
            mem.clock = Clock::restore(saved.articles, saved.last);
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

    /// Analyses the bodies of a finished round (taking them out of the
    /// report: nothing keeps them). For a main site with mirrors, also
    /// returns what changed on the first-seen clock, for the store.
    pub fn analyse(
        &self,
        target: &Target,
        report: &mut RoundReport,
        now: SystemTime,
    ) -> (ContentReport, Option<ClockDelta>) {
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
                pages.push(Fetched {
                    path: h.path.clone(),
                    window: window_of(h),
                    html,
                });
            }
        }
        let mut out = ContentReport {
            fingerprints: matches,
            parity: None,
        };
        if !out.fingerprints.is_empty() {
            return (out, None);
        }
        let Some(site) = self.sites.get(&target.site) else {
            return (out, None);
        };
        let main_host = site
            .main
            .host_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match target.role {
            Role::Main => {
                let delta = (site.has_mirrors && pages.len() == target.paths.len())
                    .then(|| remember(site, &main_host, &target.url, pages));
                (out, delta)
            }
            Role::Mirror => {
                out.parity = compare(site, &main_host, target, pages, now);
                (out, None)
            }
        }
    }
}

/// One fetched page that parity may read.
struct Fetched {
    path: String,
    window: Window,
    html: String,
}

/// Makes a main round's pages the site's references and snapshots, and
/// advances the first-seen clock.
fn remember(site: &SiteContent, main_host: &str, url: &Url, pages: Vec<Fetched>) -> ClockDelta {
    let mut on_main = Vec::new();
    let mut fresh = Vec::new();
    let mut whole: Option<Window> = None;
    for p in pages {
        let base = url.join(&p.path).unwrap_or_else(|_| url.clone());
        let page = normalize(
            &p.html,
            &Rewrite {
                base: &base,
                from: &[],
                to: main_host,
            },
        );
        let articles = site.matcher.articles(&page.links);
        let snapshot = Snapshot {
            window: p.window,
            ids: freshness::ids(&articles),
        };
        let reference = Reference {
            title: page.title,
            length: page.length,
            shingles: similarity::shingles(&page.text),
            articles: articles.len(),
            fetched_at: p.window.end,
        };
        on_main.extend(articles);
        whole = Some(whole.map_or(p.window, |w| Window {
            start: w.start.min(p.window.start),
            end: w.end.max(p.window.end),
        }));
        fresh.push((p.path, Arc::new(reference), snapshot));
    }
    let mut mem = site.memory.lock().unwrap_or_else(|p| p.into_inner());
    for (path, reference, snapshot) in fresh {
        for id in &snapshot.ids {
            mem.seen_ever.insert(*id);
        }
        mem.snapshots
            .entry(path.clone())
            .or_default()
            .push(snapshot);
        mem.references.insert(path, reference);
    }
    let keep_gone_since = mem.snapshots.values().filter_map(Snapshots::oldest).min();
    match whole {
        Some(w) => mem.clock.observe(&on_main, w, keep_gone_since),
        None => ClockDelta::default(),
    }
}

fn compare(
    site: &SiteContent,
    main_host: &str,
    target: &Target,
    pages: Vec<Fetched>,
    now: SystemTime,
) -> Option<ParityReport> {
    let own_host = target
        .url
        .host_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let from = [own_host];
    let mut paths = Vec::new();
    for p in pages {
        let base = target
            .url
            .join(&p.path)
            .unwrap_or_else(|_| target.url.clone());
        let page = normalize(
            &p.html,
            &Rewrite {
                base: &base,
                from: &from,
                to: main_host,
            },
        );
        let articles = site.matcher.articles(&page.links);
        let key = (target.url.to_string(), p.path.clone());
        let found = {
            let mut mem = site.memory.lock().unwrap_or_else(|p| p.into_inner());
            let mem = &mut *mem;
            let ids = freshness::ids(&articles);
            let shared = mem.seen_ever.known(&ids);
            let pending = mem.pending.entry(key.clone()).or_default();
            pending.push(p.window, ids);
            let judged = mem
                .snapshots
                .get(&p.path)
                .and_then(|snaps| pending.judge(snaps, &mem.clock));
            let this_round = judged.is_some();
            if let Some(j) = judged {
                mem.judged.insert(key.clone(), j);
            }
            let last: Option<Judged> = mem.judged.get(&key).cloned();
            mem.references
                .get(&p.path)
                .cloned()
                .map(|r| (r, last, this_round, shared))
        };
        let Some((reference, last, this_round, shared)) = found else {
            continue;
        };
        let shingles = similarity::shingles(&page.text);
        paths.push(PathParity {
            path: p.path,
            title: page.title.chars().take(300).collect(),
            similarity: similarity::jaccard(&reference.shingles, &shingles),
            title_match: similarity::title_match(&reference.title, &page.title),
            length_ratio: similarity::length_ratio(reference.length, page.length),
            missing_articles: last.as_ref().map_or(0, |j| j.missing),
            lag_seconds: last.as_ref().map_or(0.0, |j| j.lag.as_secs_f64()),
            lag_upper_seconds: last
                .as_ref()
                .and_then(|j| j.lag_upper)
                .map(|d| d.as_secs_f64()),
            oldest_missing: last.as_ref().and_then(|j| j.oldest.clone()),
            freshness_judged: this_round,
            freshness_observed_at: last.as_ref().map(|j| j.observed.start),
            articles_on_mirror: articles.len(),
            articles_shared: shared,
            articles_on_reference: reference.articles,
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
