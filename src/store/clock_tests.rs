use std::time::{Duration, SystemTime};

use rusqlite::Connection;

use super::*;
use crate::parity::freshness::article_id;
use crate::store::schema::{at_version, migrate};

fn t(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_000 + ms)
}

fn db() -> Connection {
    let mut c = Connection::open_in_memory().expect("db");
    migrate(&mut c).expect("migrate");
    c
}

const A: &str = "/fr/2026/11/27/café-1";
const B: &str = "/fa/2026/11/27/خبر-2";

fn paths(c: &mut Connection, ids: &[&str]) -> Vec<Option<String>> {
    let ids: Vec<u64> = ids.iter().map(|p| article_id(p)).collect();
    article_paths(c, "s", &ids).expect("paths")
}

/// A gone article keeps its path (the clock may still name it) but is not
/// restored; an expired one is dropped; a new main URL starts afresh.
#[test]
fn the_store_names_what_the_clock_may_name() {
    let mut c = db();
    let added = |p: &str, at: u64| (p.to_string(), t(at), Some(t(0)));
    let d = ClockDelta {
        added: vec![added(A, 10), added(B, 10)],
        observed: Some(t(5)),
        ..ClockDelta::default()
    };
    save_clock(&mut c, "s", "https://m.test/", &d).expect("save");
    let d = ClockDelta {
        gone: vec![(article_id(B), t(10))],
        observed: Some(t(1000)),
        ..ClockDelta::default()
    };
    save_clock(&mut c, "s", "https://m.test/", &d).expect("gone");
    assert_eq!(paths(&mut c, &[B, A]), vec![Some(B.into()), Some(A.into())]);
    let d = ClockDelta {
        expired: vec![(article_id(A), t(10))],
        observed: Some(t(2000)),
        ..ClockDelta::default()
    };
    save_clock(&mut c, "s", "https://m.test/", &d).expect("expired");
    assert_eq!(paths(&mut c, &[A, B]), vec![None, Some(B.into())]);
    // Back: its clock starts again (the old row goes), and it is restored.
    let d = ClockDelta {
        added: vec![added(B, 3010)],
        expired: vec![(article_id(B), t(10))],
        observed: Some(t(3000)),
        ..ClockDelta::default()
    };
    save_clock(&mut c, "s", "https://m.test/", &d).expect("back");
    let saved = load_clocks(&mut c).expect("load");
    assert_eq!(saved.len(), 1);
    assert_eq!(
        saved[0].1.articles,
        vec![(B.to_string(), t(3010), Some(t(0)))]
    );
    assert_eq!(saved[0].1.last, Some(t(3000)));
    // Gone again: kept for naming until a restart's load drops it.
    let d = ClockDelta {
        gone: vec![(article_id(B), t(3010))],
        observed: Some(t(4000)),
        ..ClockDelta::default()
    };
    save_clock(&mut c, "s", "https://m.test/", &d).expect("gone again");
    assert_eq!(paths(&mut c, &[B]), vec![Some(B.into())]);
    assert_eq!(load_clocks(&mut c).expect("load")[0].1.articles, vec![]);
    assert_eq!(drop_gone(&mut c).expect("drop"), 1);
    assert_eq!(paths(&mut c, &[B]), vec![None]);
    // Another main URL: nothing of the old clock is kept.
    let d = ClockDelta {
        added: vec![added(A, 10)],
        observed: Some(t(5000)),
        ..ClockDelta::default()
    };
    save_clock(&mut c, "s", "https://m.test/", &d).expect("again");
    save_clock(&mut c, "s", "https://other.test/", &ClockDelta::default()).expect("moved");
    assert_eq!(paths(&mut c, &[A]), vec![None]);
}

/// The last release's rows (keyed by path) come through the v8 migration
/// keyed by the id parity computes, non-ASCII paths included.
#[test]
fn v7_clock_rows_are_keyed_by_id() {
    let mut c = at_version(7);
    c.execute(
        "INSERT INTO clock_sites (site, main, last) VALUES ('s', 'https://m.test/', 7)",
        [],
    )
    .expect("site");
    for p in [A, B] {
        c.execute(
            "INSERT INTO clock_articles (site, article, first, absent_at) VALUES ('s', ?1, 1800000000010, NULL)",
            [p],
        )
        .expect("article");
    }
    migrate(&mut c).expect("v8");
    assert_eq!(paths(&mut c, &[A, B]), vec![Some(A.into()), Some(B.into())]);
    let mut restored = load_clocks(&mut c).expect("load")[0].1.articles.clone();
    restored.sort();
    assert_eq!(
        restored,
        vec![(B.to_string(), t(10), None), (A.to_string(), t(10), None)]
    );
}

/// The v8 rows (keyed by site and id) come through the v9 migration
/// whole: gone marks and times kept, found by the keys deltas now carry.
#[test]
fn v8_clock_rows_are_keyed_by_first_sighting() {
    let mut c = at_version(8);
    c.execute(
        "INSERT INTO clock_sites (site, main, last) VALUES ('s', 'https://m.test/', 7)",
        [],
    )
    .expect("site");
    for (p, first, gone) in [(A, 10i64, None), (B, 20, Some(30i64))] {
        c.execute(
            "INSERT INTO clock_articles (site, id, article, first, absent_at, gone)
             VALUES ('s', ?1, ?2, ?3, NULL, ?4)",
            params![key(article_id(p)), p, 1_800_000_000_000 + first, gone],
        )
        .expect("article");
    }
    migrate(&mut c).expect("v9");
    assert_eq!(paths(&mut c, &[A, B]), vec![Some(A.into()), Some(B.into())]);
    assert_eq!(
        load_clocks(&mut c).expect("load")[0].1.articles,
        vec![(A.to_string(), t(10), None)]
    );
    // A's row answers to its (id, first sighting); B's old row goes.
    let d = ClockDelta {
        gone: vec![(article_id(A), t(10))],
        expired: vec![(article_id(B), t(20))],
        observed: Some(t(40)),
        ..ClockDelta::default()
    };
    save_clock(&mut c, "s", "https://m.test/", &d).expect("save");
    assert_eq!(paths(&mut c, &[A, B]), vec![Some(A.into()), None]);
    assert_eq!(load_clocks(&mut c).expect("load")[0].1.articles, vec![]);
}

/// A clock that starts from nothing (a site back in the config, a clock
/// not restored) owns no earlier row: keyed by first sighting, an old row
/// of an article it adds again would stay beside the new one.
#[test]
fn a_fresh_clock_drops_the_rows_it_does_not_hold() {
    let mut c = db();
    let added = |p: &str, at: u64| (p.to_string(), t(at), None);
    let d = ClockDelta {
        added: vec![added(A, 10), added(B, 10)],
        observed: Some(t(5)),
        fresh: true,
        ..ClockDelta::default()
    };
    save_clock(&mut c, "s", "https://m.test/", &d).expect("first");
    let d = ClockDelta {
        added: vec![added(A, 5010)],
        observed: Some(t(5000)),
        fresh: true,
        ..ClockDelta::default()
    };
    save_clock(&mut c, "s", "https://m.test/", &d).expect("again");
    assert_eq!(
        load_clocks(&mut c).expect("load")[0].1.articles,
        vec![(A.to_string(), t(5010), None)]
    );
    assert_eq!(paths(&mut c, &[B]), vec![None]);
}
