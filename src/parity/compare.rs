//! A round's analysed pages put to use: a main site's become its
//! references and snapshots and advance the first-seen clock; a mirror's
//! are compared with the references and queued for the freshness judgement.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::freshness::{ClockDelta, Judged, Snapshot, Snapshots, Window};
use super::paths::Articles;
use super::{Kept, ParityReport, PathParity, Reference, SiteContent, similarity};
use crate::config::Target;

/// One page of a round, analysed.
pub(super) struct Done {
    pub path: String,
    pub window: Window,
    pub kept: Kept,
    /// Article paths of a parsed main page (empty otherwise).
    pub names: Articles,
}

/// Makes a main round's pages the site's references and snapshots, and
/// advances the first-seen clock.
pub(super) fn remember(site: &SiteContent, pages: Vec<Done>) -> ClockDelta {
    // Paths of parsed pages (their articles may be new); an unchanged
    // page's articles are all on the clock since the last observation.
    let mut names = Articles::default();
    let mut shown: Vec<Arc<[u64]>> = Vec::with_capacity(pages.len());
    let mut whole: Option<Window> = None;
    let mut mem = site.memory();
    for p in pages {
        let a = &p.kept.analysis;
        names.extend(&p.names);
        shown.push(a.ids.clone());
        mem.snapshots.get_or_default(&p.path).push(Snapshot {
            window: p.window,
            ids: a.ids.clone(),
        });
        if let Some(key) = p.kept.canonical {
            let reference = Reference {
                analysis: a.clone(),
                key,
                fetched_at: p.window.end,
            };
            mem.references.insert(p.path, Arc::new(reference));
        }
        whole = Some(whole.map_or(p.window, |w| Window {
            start: w.start.min(p.window.start),
            end: w.end.max(p.window.end),
        }));
    }
    let keep_gone_since = mem.snapshots.values().filter_map(Snapshots::oldest).min();
    // One path: the clock keeps the snapshot's own array.
    let on_main: Arc<[u64]> = match shown.as_slice() {
        [one] => one.clone(),
        all => {
            let mut union: Vec<u64> = all.iter().flat_map(|ids| ids.iter().copied()).collect();
            union.sort_unstable();
            union.dedup();
            union.into()
        }
    };
    match whole {
        Some(w) => mem
            .clock
            .observe_ids(on_main, names.iter(), w, keep_gone_since),
        None => ClockDelta::default(),
    }
}

/// Compares a mirror round's pages with the references, and judges
/// freshness of any fetch now bracketed by main snapshots.
pub(super) fn compare(
    site: &SiteContent,
    target: &Target,
    pages: Vec<Done>,
    now: SystemTime,
) -> Option<ParityReport> {
    // The board keeps every mirror's last report: room for one entry a
    // path, not the four a first `push` makes.
    let mut paths = Vec::with_capacity(pages.len());
    for p in pages {
        let a = p.kept.analysis;
        let key = (
            super::address_key(&target.vantage, &target.url),
            p.path.clone(),
        );
        let found = {
            let mut mem = site.memory();
            let mem = &mut *mem;
            let shared = mem.clock.known(&a.ids);
            let pending = mem.pending.get_or_default(&key);
            pending.push(p.window, a.ids.clone());
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
        let r = &reference.analysis;
        // The same analysis (an identical page) compares as equal without
        // a merge: Jaccard, title and length of a page with itself.
        let same = Arc::ptr_eq(r, &a);
        paths.push(PathParity {
            path: p.path,
            title: a.title.chars().take(300).collect(),
            similarity: if same {
                1.0
            } else {
                similarity::jaccard_sets(&r.shingles, &a.shingles)
            },
            title_match: same || similarity::title_match(&r.title, &a.title),
            length_ratio: if same {
                1.0
            } else {
                similarity::length_ratio(r.length, a.length)
            },
            missing_articles: last.as_ref().map_or(0, |j| j.missing),
            lag_seconds: last.as_ref().map_or(0.0, |j| j.lag.as_secs_f64()),
            lag_upper_seconds: last
                .as_ref()
                .and_then(|j| j.lag_upper)
                .map(|d| d.as_secs_f64()),
            oldest_missing: None,
            oldest_missing_id: last.as_ref().and_then(|j| j.oldest),
            freshness_judged: this_round,
            freshness_observed_at: last.as_ref().map(|j| j.observed.start),
            articles_on_mirror: a.articles,
            articles_shared: shared,
            articles_on_reference: r.articles,
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
