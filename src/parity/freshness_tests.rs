//! Freshness: examples of the rule, and properties over simulated news
//! homepages (a rotating rail above stable sections, random publication
//! gaps, fetch orders, fetch durations and restarts).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;

fn t(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(ms)
}

fn win(start: u64, end: u64) -> Window {
    Window {
        start: t(start),
        end: t(end),
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn rotation_between_fetches_is_not_missing() {
    // Main at 0 s shows a..e; the mirror at 1 s shows b..f (a rotated off,
    // f published); main at 2 s shows c..g.
    let mut clock = Clock::default();
    let mut snaps = Snapshots::default();
    let main0 = names(&[
        "/n/a/00001",
        "/n/b/00002",
        "/n/c/00003",
        "/n/d/00004",
        "/n/e/00005",
    ]);
    let mirror = names(&[
        "/n/b/00002",
        "/n/c/00003",
        "/n/d/00004",
        "/n/e/00005",
        "/n/f/00006",
    ]);
    let main2 = names(&[
        "/n/c/00003",
        "/n/d/00004",
        "/n/e/00005",
        "/n/f/00006",
        "/n/g/00007",
    ]);
    snaps.push(Snapshot {
        window: win(0, 100),
        ids: ids(&main0),
    });
    clock.observe(&main0, win(0, 100), snaps.oldest());
    let mut pending = Pending::default();
    pending.push(win(1000, 1100), ids(&mirror));
    assert_eq!(
        pending.judge(&snaps, &clock),
        None,
        "no main snapshot after the fetch yet"
    );
    snaps.push(Snapshot {
        window: win(2000, 2100),
        ids: ids(&main2),
    });
    clock.observe(&main2, win(2000, 2100), snaps.oldest());
    let j = pending.judge(&snaps, &clock).expect("bracketed now");
    assert_eq!(
        (j.missing, j.lag, j.lag_upper),
        (0, Duration::ZERO, Some(Duration::ZERO))
    );
    assert!(pending.is_empty());
}

#[test]
fn missing_article_lag_is_bounded_by_the_clock() {
    let mut clock = Clock::default();
    let mut snaps = Snapshots::default();
    let a = names(&["/n/a/00001"]);
    let ab = names(&["/n/a/00001", "/n/b/00002"]);
    // a is there from the start (no earlier fetch: unbounded above); b
    // appears between the fetch at 10 s and the one at 20 s.
    for (w, shown) in [
        (win(0, 50), &a),
        (win(10_000, 10_050), &a),
        (win(20_000, 20_050), &ab),
    ] {
        snaps.push(Snapshot {
            window: w,
            ids: ids(shown),
        });
        clock.observe(shown, w, snaps.oldest());
    }
    snaps.push(Snapshot {
        window: win(60_000, 60_050),
        ids: ids(&ab),
    });
    clock.observe(&ab, win(60_000, 60_050), snaps.oldest());
    // The mirror at 50 s has a, lacks b: b had been on main 29.95..40.05 s.
    let kept = snaps.each();
    let (before, after) = (&kept[2].1, &kept[3].1);
    let j = judge(win(50_000, 50_100), &ids(&a), before, after, &clock);
    assert_eq!(j.missing, 1);
    assert_eq!(j.lag, Duration::from_millis(29_950));
    assert_eq!(j.lag_upper, Some(Duration::from_millis(40_100)));
    assert_eq!(j.oldest, Some(article_id("/n/b/00002")));
    // Lacking a too: a's first sighting has nothing before it.
    let j = judge(win(50_000, 50_100), &[], before, after, &clock);
    assert_eq!(j.missing, 2);
    assert_eq!(j.lag, Duration::from_millis(49_950));
    assert_eq!(
        j.lag_upper, None,
        "an article seen from the first fetch has no upper bound"
    );
}

/// An article back while its gone row is kept: the delta drops that row
/// by its old key and adds one under the new first sighting.
#[test]
fn an_article_back_replaces_its_row() {
    let mut clock = Clock::default();
    let a = names(&["/n/a/00001"]);
    let id = article_id("/n/a/00001");
    assert!(clock.observe(&a, win(0, 10), None).fresh, "nothing before");
    let d = clock.observe(&[], win(1000, 1010), Some(t(0)));
    assert!(!d.fresh);
    assert_eq!((d.gone, d.expired), (vec![(id, t(10))], vec![]));
    let d = clock.observe(&a, win(2000, 2010), Some(t(0)));
    assert_eq!(d.expired, vec![(id, t(10))]);
    assert_eq!(
        d.added,
        vec![("/n/a/00001".to_string(), t(2010), Some(t(1000)))]
    );
}

#[test]
fn clock_restarts_for_an_article_that_comes_back_and_survives_restore() {
    let mut clock = Clock::default();
    let a = names(&["/n/a/00001"]);
    let d1 = clock.observe(&a, win(0, 10), None);
    assert_eq!(d1.added, vec![("/n/a/00001".to_string(), t(10), None)]);
    let d2 = clock.observe(&[], win(1000, 1010), None);
    assert_eq!(d2.gone, vec![(article_id("/n/a/00001"), t(10))]);
    assert_eq!(
        clock.get(article_id("/n/a/00001")),
        None,
        "gone and no snapshot refers to it"
    );
    let d3 = clock.observe(&a, win(2000, 2010), None);
    assert_eq!(
        d3.added,
        vec![("/n/a/00001".to_string(), t(2010), Some(t(1000)))]
    );
    let restored = Clock::restore(d3.added.clone(), d3.observed);
    let seen = restored.get(article_id("/n/a/00001")).expect("restored");
    assert_eq!((seen.first, seen.absent_at), (t(2010), Some(t(1000))));
    let mut restored = restored;
    let d4 = restored.observe(&names(&["/n/a/00001", "/n/b/00002"]), win(9000, 9010), None);
    assert_eq!(
        d4.added,
        vec![("/n/b/00002".to_string(), t(9010), Some(t(2000)))],
        "new since the restart: bounded by the last fetch before it"
    );
}

/// The store as `store::clock` keeps the clock's deltas: by id and first
/// sighting, the path, `absent_at`, and whether main stopped showing it.
/// A delta that marks or drops a row names one the store holds.
#[derive(Default)]
struct Saved(HashMap<(u64, SystemTime), (String, Option<SystemTime>, bool)>);

impl Saved {
    fn apply(&mut self, d: &ClockDelta) {
        if d.fresh {
            self.0.clear();
        }
        for key in &d.expired {
            assert!(self.0.remove(key).is_some(), "expired {key:?}: no row");
        }
        for key in &d.gone {
            let row = self.0.get_mut(key);
            // Gone and expired at once (no snapshot to keep it for).
            assert!(
                row.is_some() || d.expired.contains(key),
                "gone {key:?}: no row"
            );
            if let Some(row) = row {
                row.2 = true;
            }
        }
        for (a, first, absent_at) in &d.added {
            self.0
                .insert((article_id(a), *first), (a.clone(), *absent_at, false));
        }
    }

    /// What a restart restores (and keeps: gone rows are dropped).
    fn restart(&mut self) -> Vec<(String, SystemTime, Option<SystemTime>)> {
        self.0.retain(|_, row| !row.2);
        (self.0.iter())
            .map(|((_, first), (a, absent_at, _))| (a.clone(), *first, *absent_at))
            .collect()
    }
}

proptest! {
    /// Paths live only in the store: whatever comes and goes (non-ASCII
    /// paths, returns, expiry, a restart), the store holds a row for
    /// exactly the articles the clock can name (`get`), with their own
    /// path, marked gone exactly when main stopped showing them.
    #[test]
    fn the_store_names_every_article_on_the_clock(
        pages in proptest::collection::vec(proptest::collection::vec(0usize..60, 0..25), 1..30),
        keep_back in 0u64..3,
        restart_at in 0usize..30,
    ) {
        let mut clock = Clock::default();
        let mut saved = Saved::default();
        for (round, page) in pages.iter().enumerate() {
            let shown: Vec<String> = page.iter().map(|&i| name(i)).collect();
            let at = round as u64 * 1000;
            let keep = at.checked_sub(keep_back * 1000).map(t);
            let d = clock.observe(&shown, win(at, at + 10), keep);
            saved.apply(&d);
            if round == restart_at {
                clock = Clock::restore(saved.restart(), d.observed);
            }
            let mut on_clock: Vec<(u64, bool)> = (0..60)
                .map(|i| article_id(&name(i)))
                .filter(|id| clock.get(*id).is_some())
                .map(|id| (id, clock.is_gone(id)))
                .collect();
            on_clock.sort();
            // One row per article (a return drops the old one), keyed
            // by the clock's own first sighting.
            let mut rows: Vec<(u64, bool)> =
                saved.0.iter().map(|((id, _), r)| (*id, r.2)).collect();
            rows.sort();
            prop_assert_eq!(on_clock, rows, "round {}", round);
            for ((id, first), (path, ..)) in &saved.0 {
                prop_assert_eq!(article_id(path), *id);
                prop_assert_eq!(clock.get(*id).map(|s| s.first), Some(*first));
            }
        }
    }
}

/// A simulated news site: articles published at `pub_ms`, a homepage
/// showing the lead and a rail of the `rail` newest, then stable section
/// articles published before the simulation began, in a shuffled order.
struct Site {
    pub_ms: Vec<u64>,
    rail: usize,
    sections: Vec<String>,
    order_seed: u64,
}

fn name(i: usize) -> String {
    // Slugs in French, Persian and CJK, each a valid article path.
    match i % 4 {
        0 => format!("/Detail/2026/11/27/{}/parliament", 700_000 + i),
        1 => format!("/fr/2026/11/27/café-{i}"),
        2 => format!("/fa/خبر/{}", 1_000_000 + i),
        _ => format!("/zh/2026/11/27/新闻-{i}"),
    }
}

impl Site {
    fn page(&self, at_ms: i64) -> Vec<String> {
        let published = self
            .pub_ms
            .iter()
            .take_while(|&&p| i64::try_from(p).unwrap_or(i64::MAX) <= at_ms)
            .count();
        let lead_and_rail = published.saturating_sub(self.rail + 1)..published;
        let mut page: Vec<String> = lead_and_rail.rev().map(name).collect();
        page.extend(self.sections.iter().cloned());
        // Order must not matter: rotate by a per-page amount.
        let k = (self.order_seed as usize + published) % page.len().max(1);
        page.rotate_left(k);
        page
    }

    fn published_at(&self, article: &str) -> Option<u64> {
        (0..self.pub_ms.len())
            .find(|&i| name(i) == article)
            .map(|i| self.pub_ms[i])
    }
}

#[derive(Debug, Clone)]
struct Plan {
    gaps: Vec<u64>,
    rail: usize,
    interval: u64,
    main_phase: u64,
    mirror_phase: u64,
    durations: Vec<u64>,
    gen_frac: Vec<u8>,
    behind_ms: u64,
    restarts: Vec<u64>,
    order_seed: u64,
}

fn plan(stale: bool) -> impl Strategy<Value = Plan> {
    (
        prop::collection::vec(2000u64..=5000, 120),
        5usize..=15,
        2000u64..=6000,
        0u64..6000,
        0u64..6000,
        prop::collection::vec(0u64..=600, 200),
        prop::collection::vec(0u8..=100, 200),
        if stale { 1000u64..=30_000 } else { 0u64..=0 },
        prop::collection::vec(0u64..240_000, 0..3),
        any::<u64>(),
    )
        .prop_map(
            |(
                gaps,
                rail,
                interval,
                mp,
                rp,
                durations,
                gen_frac,
                behind_ms,
                restarts,
                order_seed,
            )| {
                Plan {
                    gaps,
                    rail,
                    interval,
                    main_phase: mp % interval,
                    mirror_phase: rp % interval,
                    durations,
                    gen_frac,
                    behind_ms,
                    restarts,
                    order_seed,
                }
            },
        )
}

/// What the simulation saw: every judgement, and the true age of the
/// oldest missing article for each (by publication time).
struct Run {
    judged: Vec<(Judged, Option<u64>)>,
}

fn simulate(p: &Plan) -> Run {
    let mut pub_ms = Vec::new();
    let mut at = 0u64;
    for g in &p.gaps {
        at += g;
        pub_ms.push(at);
    }
    let site = Site {
        pub_ms,
        rail: p.rail,
        sections: (0..30)
            .map(|i| format!("/Detail/2025/01/01/{}/archive", 500_000 + i))
            .collect(),
        order_seed: p.order_seed,
    };
    // Fetch events: (start, end, generated, is_main), handled at `end`.
    let mut events = Vec::new();
    let mut k = 0usize;
    for (phase, is_main) in [(p.main_phase, true), (p.mirror_phase, false)] {
        let mut s = 10_000 + phase;
        while s < 300_000 {
            let d = p.durations[k % p.durations.len()];
            let g = s + d * u64::from(p.gen_frac[k % p.gen_frac.len()]) / 100;
            events.push((s, s + d, g, is_main));
            s += p.interval;
            k += 1;
        }
    }
    events.sort_by_key(|e| (e.1, e.0));
    // The store: what ClockDeltas persisted.
    let mut store = Saved::default();
    let mut store_last = None;
    let mut clock = Clock::default();
    let mut snaps = Snapshots::default();
    let mut pending = Pending::default();
    let mut restarts = p.restarts.clone();
    restarts.sort_unstable();
    let mut restarts = restarts.into_iter().peekable();
    let mut gen_of: HashMap<(u64, u64), u64> = HashMap::new();
    let mut out = Run { judged: Vec::new() };
    for (s, e, g, is_main) in events {
        if restarts.peek().is_some_and(|&r| r < e) {
            restarts.next();
            clock = Clock::restore(store.restart(), store_last);
            snaps = Snapshots::default();
            pending = Pending::default();
        }
        let w = win(s, e);
        if is_main {
            let shown = site.page(i64::try_from(g).unwrap_or(0));
            snaps.push(Snapshot {
                window: w,
                ids: ids(&shown),
            });
            let d = clock.observe(&shown, w, snaps.oldest());
            store.apply(&d);
            store_last = d.observed.or(store_last);
        } else {
            let behind = i64::try_from(g).unwrap_or(0) - i64::try_from(p.behind_ms).unwrap_or(0);
            let shown = site.page(behind);
            gen_of.insert((s, e), g);
            pending.push(w, ids(&shown));
            if let Some(j) = pending.judge(&snaps, &clock) {
                // The detail's path is the store's: it has every one the
                // clock can name.
                if let Some(id) = j.oldest {
                    assert!(
                        store.0.keys().any(|(k, _)| *k == id),
                        "the store names the oldest missing"
                    );
                }
                let key = (
                    j.observed
                        .start
                        .duration_since(t(0))
                        .unwrap_or_default()
                        .as_millis() as u64,
                    j.observed
                        .end
                        .duration_since(t(0))
                        .unwrap_or_default()
                        .as_millis() as u64,
                );
                let gm = gen_of[&key];
                // Ground truth: the oldest article main showed both before
                // and after that the mirror's page lacked.
                let (before, after) = snaps.bracket(j.observed).expect("judged, so bracketed");
                let mirror_page = ids(site.page(
                    i64::try_from(gm).unwrap_or(0) - i64::try_from(p.behind_ms).unwrap_or(0),
                ));
                let truth = (0..site.pub_ms.len())
                    .map(name)
                    .filter(|a| {
                        let id = article_id(a);
                        before.binary_search(&id).is_ok()
                            && after.binary_search(&id).is_ok()
                            && mirror_page.binary_search(&id).is_err()
                    })
                    .filter_map(|a| site.published_at(&a))
                    .map(|p| gm.saturating_sub(p))
                    .max();
                out.judged.push((j, truth));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A mirror serving main's current page is never behind, whatever the
    /// rail size, the publication gaps, the fetch order and restarts.
    #[test]
    fn a_mirror_serving_mains_current_page_is_never_behind(p in plan(false)) {
        let run = simulate(&p);
        prop_assert!(run.judged.len() > 20, "too few judgements: {}", run.judged.len());
        for (j, _) in &run.judged {
            prop_assert_eq!(j.missing, 0, "judged {:?}", j);
            prop_assert_eq!(j.lag_upper, Some(Duration::ZERO));
        }
    }

    /// A mirror serving main's page from N seconds ago: the true lag (age
    /// of the oldest missing article) always lies within the reported
    /// bounds, and once the clock is bounded, the lag is N within one
    /// interval plus one publication gap.
    #[test]
    fn a_stale_mirror_is_behind_by_n_within_the_bounds(p in plan(true)) {
        let run = simulate(&p);
        prop_assert!(run.judged.len() > 20);
        // The oldest article published after the mirror's copy was made
        // is at most one gap younger than N; its sighting is at most one
        // interval and two fetch durations late. That article must still
        // be on main's rail at the bracketing fetches for it to count.
        let slack = p.interval + 5000 + 1200;
        let rail_holds = p.behind_ms + 2 * p.interval + 1200 < p.rail as u64 * 2000;
        let mut bounded = 0;
        for (j, truth) in &run.judged {
            let truth = Duration::from_millis(truth.unwrap_or(0));
            prop_assert!(j.lag <= truth, "lower bound {:?} above the truth {:?}", j.lag, truth);
            if let Some(u) = j.lag_upper {
                prop_assert!(truth <= u, "upper bound {:?} below the truth {:?}", u, truth);
                bounded += 1;
                if j.missing > 0 && rail_holds {
                    prop_assert!(
                        j.lag + Duration::from_millis(slack) >= Duration::from_millis(p.behind_ms),
                        "lag {:?} far below N = {} ms", j.lag, p.behind_ms
                    );
                }
            }
            prop_assert!(j.lag <= Duration::from_millis(p.behind_ms + 600));
        }
        prop_assert!(bounded > 10, "the clock stays unbounded: {}", bounded);
        if p.behind_ms > 2 * p.interval + 6200 {
            prop_assert!(
                run.judged.iter().any(|(j, _)| j.missing > 0 && j.lag > Duration::ZERO),
                "a mirror {} ms behind was never found missing anything", p.behind_ms
            );
        }
    }
}

/// What the clock keeps of one article in the model below.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Modelled {
    first: SystemTime,
    absent_at: Option<SystemTime>,
    gone: Option<SystemTime>,
}

proptest! {
    /// The compact clock (times kept once, dropped and renumbered when
    /// unused) answers exactly as a plain map of every article's times:
    /// over random churn, returns after an absence, forgetting and a
    /// restore, long enough for its tables to be shrunk many times.
    #[test]
    fn compact_clock_answers_as_a_plain_map(
        pages in proptest::collection::vec(proptest::collection::vec(0usize..40, 0..12), 1..80),
        keep_back in 0u64..5,
        restore_at in 0usize..80,
    ) {
        let mut clock = Clock::default();
        let mut model: HashMap<String, Modelled> = HashMap::new();
        let mut last: Option<SystemTime> = None;
        for (round, page) in pages.iter().enumerate() {
            let shown: Vec<String> = page.iter().map(|&i| name(i)).collect();
            let at = round as u64 * 1000;
            let w = win(at, at + 10);
            let keep = at.checked_sub(keep_back * 1000).map(t);
            clock.observe(&shown, w, keep);
            for (n, m) in model.iter_mut() {
                if m.gone.is_none() && !shown.contains(n) {
                    m.gone = Some(w.start);
                }
            }
            for n in &shown {
                let back = model.get(n).is_none_or(|m| m.gone.is_some());
                if back {
                    model.insert(n.clone(), Modelled { first: w.end, absent_at: last, gone: None });
                }
            }
            model.retain(|_, m| m.gone.is_none_or(|g| keep.is_some_and(|k| g >= k)));
            last = Some(w.start);
            if round == restore_at {
                // A restart restores what the store holds: the articles on
                // main at the last observation.
                model.retain(|_, m| m.gone.is_none());
                let saved = model.iter().map(|(n, m)| (n.clone(), m.first, m.absent_at));
                clock = Clock::restore(saved.collect::<Vec<_>>(), last);
            }
            for i in 0..40 {
                let n = name(i);
                let want = model.get(&n).map(|m| Seen { first: m.first, absent_at: m.absent_at });
                prop_assert_eq!(clock.get(article_id(&n)), want, "{} after round {}", n, round);
            }
            let bound = (2 * clock.len()).max(16);
            let (stamps, gone) = clock.times_kept();
            prop_assert!(stamps <= bound, "stamps {}", stamps);
            prop_assert!(gone <= bound, "gone times {}", gone);
        }
    }
}
