//! Parity: is a mirror really a current copy of the main site? Plus seizure
//! and blockpage fingerprints on every address.
//!
//! Runs after the network checks, on the bodies they fetched. The main
//! site's good pages become the site's *reference* (kept across rounds, so
//! mirrors are still compared when the main site is down, with the
//! reference's age reported); each mirror page is normalised and compared
//! with the reference for the same path. Like the checks, this only records
//! facts in the report; `verdict` decides.

pub mod analysis;
pub mod announce;
pub mod canon;
mod clock;
mod compare;
mod entries;
pub mod fingerprints;
pub mod freshness;
pub mod normalize;
pub mod paths;
mod plan;
mod recent;
mod scan;
#[cfg(test)]
mod scan_tests;
pub mod shingle_set;
#[cfg(test)]
mod shortcut_tests;
pub mod similarity;
mod small;
mod snapshots;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;
use url::Url;

use self::analysis::{Analysed, Analysis, PageKey, RawKey, base_url};
use self::canon::Canon;
use self::fingerprints::{FingerprintMatch, Fingerprints};
use self::freshness::{ArticleMatcher, Clock, ClockDelta, Judged, Pending, Snapshots, Window};
use self::normalize::decode;
use self::paths::Articles;
pub use self::plan::Prepared;
use self::plan::{Fetched, Plan};
use self::small::Small;
use crate::checks::RoundReport;
use crate::checks::http::status_ok;
use crate::config::{Config, Role, Target};
use crate::ground::hash::Digest;

/// A main-site page kept as the reference for one path: its analysis (only
/// what comparisons read, not the text, since every site holds one per
/// path) and its canonical key, which a mirror page matches when it is the
/// same page.
#[derive(Debug)]
pub struct Reference {
    pub analysis: Arc<Analysis>,
    key: PageKey,
    pub fetched_at: SystemTime,
}

/// A page's analysis as parity keeps it; main pages also keep their
/// canonical key (for the reference).
#[derive(Debug, Clone)]
struct Kept {
    analysis: Arc<Analysis>,
    canonical: Option<PageKey>,
}

/// The last analysed page of one address and path, by its raw key.
#[derive(Debug)]
struct Last {
    raw: RawKey,
    kept: Kept,
}

/// Per-site content memory: references for similarity, main snapshots and
/// the first-seen clock for freshness, and mirror fetches waiting to be
/// judged.
#[derive(Debug, Default)]
struct Memory {
    references: Small<String, Arc<Reference>>,
    snapshots: Small<String, Snapshots>,
    clock: Clock,
    /// Per (mirror URL, path).
    pending: Small<(String, String), Pending>,
    /// The last judgement per (mirror URL, path), shown until the next one.
    judged: Small<(String, String), Judged>,
    /// The last analysed page per (address URL, path).
    last: Small<(String, String), Last>,
    /// Per path, the newest pages mirrors parsed (`recent`).
    recent: Small<String, recent::Recents>,
    /// When the clock's observation time was last handed to the store.
    clock_saved: Option<SystemTime>,
    /// The main page's announced alternate addresses, and the body digest
    /// they were read from (an unchanged page is not read again).
    announced: Option<(crate::ground::hash::Digest, Option<Vec<String>>)>,
}

/// How often an observation that changed no article is still written to
/// the store (for its time: the bound on articles new after a restart).
/// Every change is written at once; in between, a restart only makes that
/// bound up to this much looser, never wrong.
const CLOCK_SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

struct SiteContent {
    main: Url,
    /// Without mirrors nobody reads the reference, so the main page is not
    /// normalised at all.
    has_mirrors: bool,
    matcher: ArticleMatcher,
    canon: Canon,
    /// The mirrors' host names (lower case).
    others: Vec<String>,
    /// `announce_pattern`, unless `announce = false`.
    announce: Option<Arc<regex::Regex>>,
    memory: Arc<Mutex<Memory>>,
}

impl SiteContent {
    fn settings(&self) -> analysis::Site<'_> {
        analysis::Site {
            canon: &self.canon,
            others: &self.others,
            matcher: &self.matcher,
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The hosts a main page with body `digest` announces: read again only
    /// when the body changed.
    fn announcement(
        &self,
        digest: crate::ground::hash::Digest,
        html: impl FnOnce() -> String,
    ) -> Option<Vec<String>> {
        let pattern = self.announce.as_ref()?;
        if let Some((d, list)) = &self.memory().announced
            && *d == digest
        {
            return list.clone();
        }
        let list = announce::extract(&html(), pattern);
        self.memory().announced = Some((digest, list.clone()));
        list
    }
}

/// Per-site content memory and the fingerprint list, built per config.
pub struct Content {
    fingerprints: Fingerprints,
    sites: HashMap<String, SiteContent>,
    /// Off only to prove the shortcuts change no result (tests).
    shortcuts: bool,
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
    /// The path of the missing article with the largest lag: read from
    /// the store by the pipeline (`oldest_missing_id`), as parity keeps
    /// no paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_missing: Option<String>,
    #[serde(skip)]
    pub oldest_missing_id: Option<u64>,
    /// This round judged a fetch (its own or an earlier one waiting for a
    /// later main snapshot). When `false` the figures above are older
    /// evidence, or none: the round says nothing about freshness.
    pub freshness_judged: bool,
    #[serde(with = "crate::ground::time::rfc3339_opt")]
    pub freshness_observed_at: Option<SystemTime>,
    pub articles_on_mirror: usize,
    /// The mirror's articles main has shown (all it shows now, and those
    /// gone most recently, up to 512 in all): a page that is mostly main's
    /// articles is a copy of main, if maybe an old one.
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
    /// How each page parity read was analysed, for
    /// `mirrorwatch_parity_analyses_total`.
    #[serde(skip)]
    pub analyses: Vec<Analysed>,
    /// Main site, first vantage: the alternate addresses its page
    /// announces (comparable hosts); `None` when it announces none (no
    /// matching text), announcements are off, or the page matched a
    /// fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announced: Option<Vec<String>>,
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
                let host = |u: &Url| u.host_str().unwrap_or_default().to_ascii_lowercase();
                let others: Vec<String> = s.all_mirrors().map(host).collect();
                let matcher = ArticleMatcher::new(s.article_regex.clone());
                let old = previous
                    .and_then(|p| p.sites.get(&s.name))
                    .filter(|old| old.main == s.main);
                if let Some(old) = old {
                    // Forget fetches of mirrors the new config dropped, and
                    // every kept analysis: fingerprints or the site's host
                    // names (what canonical bytes are) may have changed.
                    let vantages = config.vantage_labels();
                    let kept: Vec<String> = s
                        .all_mirrors()
                        .flat_map(|m| vantages.iter().map(move |v| address_key(v, m)))
                        .collect();
                    let mut m = old.memory();
                    m.pending.retain(|(a, _), _| kept.contains(a));
                    m.judged.retain(|(a, _), _| kept.contains(a));
                    m.last.clear();
                    m.recent.clear();
                    // The pattern may have changed: read announcements again.
                    m.announced = None;
                    // References were analysed with the old host names and
                    // article pattern; a mirror must not be handed one.
                    if old.others != others || !old.matcher.same_as(&matcher) {
                        m.references.clear();
                    }
                }
                let content = SiteContent {
                    main: s.main.clone(),
                    has_mirrors: s.all_mirrors().next().is_some(),
                    matcher,
                    canon: Canon::new(&host(&s.main), &others),
                    others,
                    announce: s.announce.clone(),
                    memory: old.map(|o| o.memory.clone()).unwrap_or_default(),
                };
                (s.name.clone(), content)
            })
            .collect();
        Self {
            fingerprints: Fingerprints::new(&config.fingerprints),
            sites,
            shortcuts: true,
        }
    }

    /// Turns the shortcuts off (every page parsed): for tests that prove
    /// they change no result.
    pub fn without_shortcuts(mut self) -> Self {
        self.shortcuts = false;
        self
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

    /// Takes the bodies out of a finished round (nothing keeps them), scans
    /// them for fingerprints and decides how each page parity reads will be
    /// analysed: reused (unchanged, identical) or parsed. Cheap; the parse
    /// itself is left to [`Content::analyse`], which the caller may move
    /// off the async workers when [`Prepared::parses`].
    pub fn prepare(&self, target: &Target, report: &mut RoundReport) -> Prepared {
        let ns: Vec<String> = report
            .dns
            .ns
            .as_ref()
            .map(|n| n.names.clone())
            .unwrap_or_default();
        let answers = report.dns.all_addresses();
        let mut matches = self.fingerprints.matches("", &answers, &ns);
        let site = self.sites.get(&target.site).filter(|_| target.compared);
        let announcing = self
            .sites
            .get(&target.site)
            .filter(|s| s.announce.is_some() && target.announces);
        let mut announced = None;
        let mut pages = Vec::new();
        for h in &mut report.http {
            if h.body.is_empty() && h.status.is_none() {
                continue;
            }
            // The body is not needed past this point: the board keeps every
            // address's last report, and 10,000 addresses × 100 KB pages
            // would be a gigabyte.
            let body = std::mem::take(&mut h.body);
            let ok = h.error.is_none()
                && h.status
                    .is_some_and(|s| status_ok(s, &target.settings.expect_status));
            let ct = h.content_type.as_deref();
            if let (Some(a), Some(digest), true, None) = (announcing, h.body_digest, ok, &announced)
            {
                announced = a.announcement(digest, || decode(&body, ct));
            }
            let Some((site, digest)) = site.zip(h.body_digest).filter(|_| ok) else {
                self.fingerprints.scan(body.into(), ct, &mut matches);
                continue;
            };
            let base = base_url(&target.url, &h.path, site.canon.main());
            let raw = RawKey::new(digest, ct, &base);
            let unchanged = self.shortcuts.then(|| {
                let mem = site.memory();
                let last = mem
                    .last
                    .get(&(address_key(&target.vantage, &target.url), h.path.clone()))?;
                (last.raw == raw).then(|| last.kept.clone())
            });
            let plan = match unchanged.flatten() {
                // The same bytes as the last analysed page, which matched
                // no fingerprint: neither decoded nor scanned again.
                Some(kept) => Plan::Reuse(kept, Analysed::Unchanged, Articles::default()),
                None => {
                    let (html, lower) = self.fingerprints.scan(body.into(), ct, &mut matches);
                    self.plan(site, target, &h.path, &base, html, &lower)
                }
            };
            pages.push(Fetched {
                path: h.path.clone(),
                window: window_of(h),
                raw,
                base,
                plan,
            });
        }
        Prepared {
            fingerprints: matches,
            pages,
            announced,
        }
    }

    /// A page that is not unchanged: its canonical text and key; a mirror
    /// page whose key is that of main's reference for the path takes
    /// main's analysis, anything else is parsed.
    fn plan(
        &self,
        site: &SiteContent,
        target: &Target,
        path: &str,
        base: &Url,
        html: String,
        lower: &[u8],
    ) -> Plan {
        let canonical = site.canon.apply_lowered(&html, lower);
        let key = PageKey::new(Digest::of(canonical.as_bytes()), base);
        let owned = match canonical {
            Cow::Owned(c) => Some(c),
            Cow::Borrowed(_) => None,
        };
        if self.shortcuts {
            let main = target.role == Role::Main;
            let mem = site.memory();
            if !main
                && let Some(reference) = mem.references.get(path)
                && reference.key == key
            {
                let kept = Kept {
                    analysis: reference.analysis.clone(),
                    canonical: None,
                };
                return Plan::Reuse(kept, Analysed::Identical, Articles::default());
            }
            // A mirror's parse of this very page: its analysis, and for
            // main its article paths too.
            let recent = mem.recent.get(path).and_then(|r| r.find(&key));
            let names = recent.and_then(|r| {
                if main {
                    r.names_for(&mem.clock)
                } else {
                    Some(Articles::default())
                }
            });
            if let (Some(r), Some(names)) = (recent, names) {
                let kept = Kept {
                    analysis: r.analysis.clone(),
                    canonical: main.then_some(key),
                };
                return Plan::Reuse(kept, Analysed::Identical, names);
            }
        }
        Plan::Parse {
            canonical: owned.unwrap_or(html),
            key,
        }
    }

    /// Analyses a prepared round: parses what must be parsed, then makes a
    /// main site's pages its references (returning what changed on the
    /// first-seen clock, for the store) or compares a mirror's with them.
    pub fn analyse(
        &self,
        target: &Target,
        prepared: Prepared,
        now: SystemTime,
    ) -> (ContentReport, Option<ClockDelta>) {
        let mut out = ContentReport {
            fingerprints: prepared.fingerprints,
            parity: None,
            analyses: Vec::new(),
            announced: None,
        };
        // A seized or blocked page announces nothing worth believing.
        if !out.fingerprints.is_empty() {
            return (out, None);
        }
        out.announced = prepared.announced;
        let Some(site) = self.sites.get(&target.site) else {
            return (out, None);
        };
        let mut pages = Vec::new();
        let mut lasts = Vec::new();
        let main = target.role == Role::Main;
        for p in prepared.pages {
            // Article paths come only from a parse (or a mirror's parse of
            // the same page), and are not kept past this round: the clock
            // has them.
            let (kept, names, how) = match p.plan {
                Plan::Reuse(kept, how, names) => (kept, names, how),
                Plan::Parse { canonical, key } => {
                    let (a, names) = analysis::parse(&site.settings(), &canonical, &p.base);
                    let analysis = Arc::new(a);
                    // Main keeps its key and paths; a mirror's parse goes
                    // to the site's recent parses, with the paths of the
                    // articles the clock does not show.
                    let (canonical, names) = if main {
                        (Some(key), names)
                    } else {
                        if self.shortcuts {
                            let mut mem = site.memory();
                            let r = recent::Recent::new(key, analysis.clone(), &names, &mem.clock);
                            mem.recent.get_or_default(&p.path).push(r);
                        }
                        (None, Articles::default())
                    };
                    (
                        Kept {
                            analysis,
                            canonical,
                        },
                        names,
                        Analysed::Parsed,
                    )
                }
            };
            if main {
                // Taken or not, a mirror's parse is of no use past main's
                // round: main's page is the reference now.
                site.memory().recent.remove(&p.path);
            }
            out.analyses.push(how);
            lasts.push(Last {
                raw: p.raw,
                kept: kept.clone(),
            });
            pages.push(compare::Done {
                path: p.path,
                window: p.window,
                kept,
                names,
            });
        }
        // A main page is kept as "last analysed" only when the round is
        // observed (every path fetched), so an unchanged main page's
        // articles are always on the clock.
        let complete = pages.len() == target.paths.len();
        if target.role == Role::Mirror || complete {
            let mut mem = site.memory();
            for (last, p) in lasts.into_iter().zip(&pages) {
                mem.last.insert(
                    (address_key(&target.vantage, &target.url), p.path.clone()),
                    last,
                );
            }
        }
        match target.role {
            Role::Main => {
                let delta = (site.has_mirrors && complete)
                    .then(|| compare::remember(site, pages))
                    .filter(|d| worth_saving(site, d, now));
                (out, delta)
            }
            Role::Mirror => {
                out.parity = compare::compare(site, target, pages, now);
                (out, None)
            }
        }
    }
}

/// Whether a clock change goes to the store now: when articles came or
/// went, or the last saved observation is [`CLOCK_SAVE_EVERY`] old.
fn worth_saving(site: &SiteContent, delta: &ClockDelta, now: SystemTime) -> bool {
    let mut mem = site.memory();
    let due = mem
        .clock_saved
        .is_none_or(|at| now.duration_since(at).unwrap_or_default() >= CLOCK_SAVE_EVERY);
    let save =
        due || !delta.added.is_empty() || !delta.gone.is_empty() || !delta.expired.is_empty();
    if save {
        mem.clock_saved = Some(now);
    }
    save
}

/// What parity's per-address memory is keyed by: the address as seen from
/// one vantage, so fetches of one mirror from two vantages never mix.
pub(crate) fn address_key(vantage: &str, url: &Url) -> String {
    format!("{vantage} {url}")
}
