//! What the clock remembers main showing ([`Clock::known`]), the memory
//! that tells an old copy of main from another page.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;

fn t(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(ms)
}

fn path(i: usize) -> String {
    format!("/n/2026/11/27/{i}")
}

fn known(clock: &Clock, i: usize) -> bool {
    clock.known(&[article_id(&path(i))]) == 1
}

proptest! {
    /// Over random pages, with snapshots kept `keep_back` rounds: whatever
    /// main shows is known; nothing is forgotten until more than
    /// `SEEN_EVER` articles were shown; what is forgotten went off main no
    /// later than anything still remembered; and the clock holds at most
    /// `SEEN_EVER` entries once it has forgotten something.
    #[test]
    fn the_clock_remembers_the_last_articles_main_showed(
        pages in proptest::collection::vec(
            proptest::collection::vec(0usize..900, 0..70), 1..60),
        keep_back in 0u64..4,
    ) {
        let mut clock = Clock::default();
        // Every article ever shown: when it last went off main (None while
        // main shows it).
        let mut shown: HashMap<usize, Option<u64>> = HashMap::new();
        for (round, page) in pages.iter().enumerate() {
            let at = round as u64 * 1000;
            let on_main: Vec<String> = page.iter().map(|&i| path(i)).collect();
            let keep = at.checked_sub(keep_back * 1000).map(t);
            clock.observe(&on_main, Window { start: t(at), end: t(at + 10) }, keep);
            for (i, gone) in shown.iter_mut() {
                if gone.is_none() && !page.contains(i) {
                    *gone = Some(at);
                }
            }
            for &i in page {
                shown.insert(i, None);
            }
            for &i in page {
                prop_assert!(known(&clock, i), "{} is on main", i);
            }
            let forgotten: Vec<u64> = (shown.iter())
                .filter(|(i, _)| !known(&clock, **i))
                .map(|(_, gone)| gone.expect("only gone articles are forgotten"))
                .collect();
            if shown.len() <= SEEN_EVER {
                prop_assert_eq!(forgotten.len(), 0, "round {}", round);
            } else if !forgotten.is_empty() {
                prop_assert!(clock.len() <= SEEN_EVER, "{} entries", clock.len());
            }
            let newest_forgotten = forgotten.iter().max();
            let oldest_kept = (shown.iter())
                .filter(|(i, gone)| gone.is_some() && known(&clock, **i))
                .filter_map(|(_, gone)| *gone)
                .min();
            if let (Some(f), Some(k)) = (newest_forgotten, oldest_kept) {
                prop_assert!(f <= &k, "forgot one gone at {} and kept one gone at {}", f, k);
            }
        }
    }
}

/// Off the clock is not forgotten: an article gone before every kept
/// snapshot has no first sighting any more, but is still known as shown,
/// and a restore knows what main showed at the last observation.
#[test]
fn an_expired_article_is_known_but_off_the_clock() {
    let mut clock = Clock::default();
    let a = vec![path(1)];
    let w = |at: u64| Window {
        start: t(at),
        end: t(at + 10),
    };
    let d = clock.observe(&a, w(0), None);
    clock.observe(&[], w(1000), Some(t(0)));
    assert!(
        clock.get(article_id(&path(1))).is_some(),
        "a snapshot may refer to it"
    );
    clock.observe(&[], w(2000), Some(t(2000)));
    assert_eq!(clock.get(article_id(&path(1))), None);
    assert!(known(&clock, 1));
    let restored = Clock::restore(d.added, Some(t(0)));
    assert!(known(&restored, 1));
    assert!(!known(&restored, 2));
}

/// The clock keeps the ids array it is handed (main's snapshot holds the
/// same one: the memory of a shown article is its stamp, 4 bytes), keeps
/// it across an unchanged observation, and keeps an array of its own only
/// when some id came without the path it needs to start.
#[test]
fn the_clock_shares_main_ids_and_drops_ids_without_a_path() {
    let w = |at: u64| Window {
        start: t(at),
        end: t(at + 10),
    };
    let (p1, p2, p3) = (path(1), path(2), path(3));
    let mut clock = Clock::default();
    let first = ids([&p1, &p2]);
    let named = |ps: &[&String]| -> Vec<(u64, String)> {
        ps.iter().map(|p| (article_id(p), p.to_string())).collect()
    };
    let both = named(&[&p1, &p2]);
    let d = clock.observe_ids(
        first.clone(),
        both.iter().map(|(id, p)| (*id, p.as_str())),
        w(0),
        None,
    );
    assert_eq!(d.added.len(), 2);
    assert!(Arc::ptr_eq(clock.shown(), &first));
    // Unchanged: no path needed, nothing added, the same array.
    let d = clock.observe_ids(first.clone(), [], w(1000), None);
    assert_eq!(d.added, vec![]);
    assert!(Arc::ptr_eq(clock.shown(), &first));
    // The same articles in a new array (the page's text changed): the
    // clock takes the new one, the snapshot's, and lets the old one go.
    let again = ids([&p1, &p2]);
    let d = clock.observe_ids(again.clone(), [], w(1500), None);
    assert_eq!((d.added, d.gone), (vec![], vec![]));
    assert!(Arc::ptr_eq(clock.shown(), &again));
    assert_eq!(Arc::strong_count(&first), 1);
    // p3 came without its path: not started, not shown; p2 went (and a
    // snapshot from before may still refer to it).
    let next = ids([&p1, &p3]);
    let d = clock.observe_ids(next.clone(), [], w(2000), Some(t(0)));
    assert_eq!(d.gone, vec![(article_id(&p2), t(10))]);
    assert!(!Arc::ptr_eq(clock.shown(), &next));
    assert_eq!(&clock.shown()[..], &[article_id(&p1)][..]);
    assert!(clock.get(article_id(&p3)).is_none());
    assert!(clock.is_gone(article_id(&p2)));
    // With its path it starts, and p2 is back with a new first sighting.
    let d = clock.observe_ids(
        ids([&p1, &p2, &p3]),
        named(&[&p3, &p2]).iter().map(|(id, p)| (*id, p.as_str())),
        w(3000),
        Some(t(0)),
    );
    let mut added: Vec<&str> = d.added.iter().map(|(p, ..)| p.as_str()).collect();
    added.sort_unstable();
    assert_eq!(added, vec![p2.as_str(), p3.as_str()]);
    assert_eq!(clock.get(article_id(&p2)).map(|s| s.first), Some(t(3010)));
    assert!(!clock.is_gone(article_id(&p2)));
    assert_eq!(clock.len(), 3);
}
