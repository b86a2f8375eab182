//! History for people: state transitions and problem raise/clear events
//! (the `/history` page and `/api/v1/history`), and per-hour counts by
//! state (the status page's bars). Times are Unix milliseconds. Events are
//! pruned with the round history's retention and capped in number.

use rusqlite::{Connection, params};

use super::schema::HOUR_MS;

/// At most this many events are kept (the oldest go first).
pub const MAX_EVENTS: i64 = 1_000_000;

/// One event of one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Increasing with time; the pagination cursor.
    pub id: i64,
    pub site: String,
    pub url: String,
    pub vantage: String,
    pub at_ms: i64,
    /// `state`, `raised` or `cleared`.
    pub event: String,
    /// The problem kind (empty for `state`).
    pub kind: String,
    /// For `state`: the states before and after (empty otherwise).
    pub from_state: String,
    pub to_state: String,
    pub detail: String,
}

/// Records `rows` (their `id` is ignored) in one transaction.
pub fn add_events(conn: &mut Connection, rows: &[EventRow]) -> rusqlite::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for r in rows {
        tx.prepare_cached(
            "INSERT INTO events (site, url, vantage, at, event, kind, from_state, to_state, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            r.site,
            r.url,
            r.vantage,
            r.at_ms,
            r.event,
            r.kind,
            r.from_state,
            r.to_state,
            r.detail
        ])?;
    }
    tx.commit()
}

/// Drops events before `before_ms`, and the oldest beyond [`MAX_EVENTS`].
pub fn prune_events(conn: &mut Connection, before_ms: i64) -> rusqlite::Result<usize> {
    let old = conn.execute("DELETE FROM events WHERE at < ?1", params![before_ms])?;
    let over = conn.execute(
        "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        params![MAX_EVENTS],
    )?;
    Ok(old + over)
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub site: Option<String>,
    /// The address's URL, or its `host[:port]`.
    pub target: Option<String>,
    pub since_ms: Option<i64>,
    /// Only events older than this id (the next page).
    pub before: Option<i64>,
    pub limit: usize,
}

/// Events newest first, at most `q.limit`.
pub fn events(conn: &mut Connection, q: &EventQuery) -> rusqlite::Result<Vec<EventRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, site, url, vantage, at, event, kind, from_state, to_state, detail FROM events
         WHERE (?1 IS NULL OR site = ?1)
           AND (?2 IS NULL OR url = ?2 OR instr(url, '://' || ?2 || '/') > 0)
           AND (?3 IS NULL OR at >= ?3)
           AND (?4 IS NULL OR id < ?4)
         ORDER BY id DESC LIMIT ?5",
    )?;
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(
        params![q.site, q.target, q.since_ms, q.before, limit],
        |r| {
            Ok(EventRow {
                id: r.get(0)?,
                site: r.get(1)?,
                url: r.get(2)?,
                vantage: r.get(3)?,
                at_ms: r.get(4)?,
                event: r.get(5)?,
                kind: r.get(6)?,
                from_state: r.get(7)?,
                to_state: r.get(8)?,
                detail: r.get(9)?,
            })
        },
    )?;
    rows.collect()
}

/// One address's rounds in one hour, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourCounts {
    pub hour: i64,
    pub up: i64,
    pub degraded: i64,
    pub down: i64,
    pub total: i64,
}

/// [`each_hourly`]'s query.
const HOURLY: &str = "SELECT site, url, vantage, hour, up, degraded, down, total
     FROM uptime_hourly NOT INDEXED WHERE hour >= ?1
     ORDER BY site, url, vantage, hour";

/// Every address's counts for the hours from the one holding `since_ms`,
/// one address at a time: `each(site, url, vantage, counts)`, addresses in
/// key order, each address's hours in order. Rows are read in the primary
/// key's order (`NOT INDEXED`: no sort, and the hour index is not wanted
/// here), so only one address's hours are held at once. Collected whole,
/// a week at 10,000 addresses (1.7 million rows, three strings each) was
/// hundreds of megabytes, allocated again at every refresh.
pub fn each_hourly(
    conn: &mut Connection,
    since_ms: i64,
    mut each: impl FnMut(&str, &str, &str, &[HourCounts]),
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(HOURLY)?;
    let mut rows = stmt.query(params![since_ms.div_euclid(HOUR_MS)])?;
    let mut key: [String; 3] = Default::default();
    let mut counts: Vec<HourCounts> = Vec::new();
    while let Some(r) = rows.next()? {
        let row: [&str; 3] = [
            r.get_ref(0)?.as_str()?,
            r.get_ref(1)?.as_str()?,
            r.get_ref(2)?.as_str()?,
        ];
        if key != row {
            if !counts.is_empty() {
                each(&key[0], &key[1], &key[2], &counts);
                counts.clear();
            }
            for (k, v) in key.iter_mut().zip(row) {
                k.clear();
                k.push_str(v);
            }
        }
        counts.push(HourCounts {
            hour: r.get(3)?,
            up: r.get(4)?,
            degraded: r.get(5)?,
            down: r.get(6)?,
            total: r.get(7)?,
        });
    }
    if !counts.is_empty() {
        each(&key[0], &key[1], &key[2], &counts);
    }
    Ok(())
}

/// Share of rounds `up` in the hours from the one holding `since_ms`
/// (`None` without rounds there). Hour granularity: a "1 h" window covers
/// the current and the previous clock hour.
pub fn up_share(counts: &[HourCounts], since_ms: i64) -> Option<f64> {
    let from = since_ms.div_euclid(HOUR_MS);
    let (up, total) = counts
        .iter()
        .filter(|h| h.hour >= from)
        .fold((0i64, 0i64), |(u, t), h| {
            (u.saturating_add(h.up), t.saturating_add(h.total))
        });
    (total > 0).then(|| up as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::{add_history, migrate};

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().expect("db");
        migrate(&mut c).expect("migrate");
        c
    }

    fn event(url: &str, at_ms: i64, event: &str) -> EventRow {
        EventRow {
            id: 0,
            site: "s".into(),
            url: url.into(),
            vantage: "local".into(),
            at_ms,
            event: event.into(),
            kind: if event == "state" {
                ""
            } else {
                "content_stale"
            }
            .into(),
            from_state: String::new(),
            to_state: String::new(),
            detail: "d".into(),
        }
    }

    #[test]
    fn events_come_newest_first_filtered_and_paginated() {
        let mut c = db();
        let rows: Vec<EventRow> = (0..5)
            .map(|i| {
                event(
                    if i % 2 == 0 {
                        "https://a.test/"
                    } else {
                        "https://b.test:8443/"
                    },
                    i * 1000,
                    "raised",
                )
            })
            .collect();
        add_events(&mut c, &rows).expect("add");
        fn all(c: &mut Connection, q: &EventQuery) -> Vec<i64> {
            events(c, q)
                .expect("query")
                .iter()
                .map(|e| e.at_ms)
                .collect()
        }
        let q = EventQuery {
            limit: 10,
            ..Default::default()
        };
        assert_eq!(all(&mut c, &q), [4000, 3000, 2000, 1000, 0]);
        let page1 = events(
            &mut c,
            &EventQuery {
                limit: 2,
                ..Default::default()
            },
        )
        .expect("page");
        assert_eq!(
            page1.iter().map(|e| e.at_ms).collect::<Vec<_>>(),
            [4000, 3000]
        );
        let next = EventQuery {
            limit: 2,
            before: page1.last().map(|e| e.id),
            ..Default::default()
        };
        assert_eq!(all(&mut c, &next), [2000, 1000]);
        let by_label = EventQuery {
            limit: 10,
            target: Some("b.test:8443".into()),
            ..Default::default()
        };
        assert_eq!(all(&mut c, &by_label), [3000, 1000]);
        let by_url = EventQuery {
            limit: 10,
            target: Some("https://a.test/".into()),
            since_ms: Some(1000),
            ..Default::default()
        };
        assert_eq!(all(&mut c, &by_url), [4000, 2000]);
        let other_site = EventQuery {
            limit: 10,
            site: Some("t".into()),
            ..Default::default()
        };
        assert_eq!(all(&mut c, &other_site), Vec::<i64>::new());
        assert_eq!(prune_events(&mut c, 2000).expect("prune"), 2);
        assert_eq!(all(&mut c, &q), [4000, 3000, 2000]);
    }

    /// Addresses come one at a time, in key order, each with all of its
    /// hours in the window and only those, whatever order the rows were
    /// written in; and the rows are read in the table's own order, never
    /// sorted into a temporary tree (which would hold the week at once).
    #[test]
    fn hours_come_one_address_at_a_time() {
        let mut c = db();
        let keys = [
            ("s2", "https://b.test/", "local"),
            ("s1", "https://a.test/", "remote"),
            ("s1", "https://a.test/", "local"),
        ];
        for hour in [5, 1, 3] {
            for k in keys {
                add_history(&mut c, k, hour * HOUR_MS, "up").expect("add");
            }
        }
        let mut got: Vec<(String, Vec<i64>)> = Vec::new();
        each_hourly(&mut c, 2 * HOUR_MS, |site, url, vantage, hours| {
            got.push((
                format!("{site} {url} {vantage}"),
                hours.iter().map(|h| h.hour).collect(),
            ));
        })
        .expect("hourly");
        assert_eq!(
            got,
            [
                ("s1 https://a.test/ local".to_string(), vec![3, 5]),
                ("s1 https://a.test/ remote".to_string(), vec![3, 5]),
                ("s2 https://b.test/ local".to_string(), vec![3, 5]),
            ]
        );
        let plan: Vec<String> = c
            .prepare(&format!("EXPLAIN QUERY PLAN {HOURLY}"))
            .expect("plan")
            .query_map([0], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan");
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
    }

    #[test]
    fn hours_count_rounds_by_state() {
        let mut c = db();
        let key = ("s", "https://a.test/", "local");
        for (at, state) in [(0, "up"), (10, "down"), (20, "degraded"), (HOUR_MS, "up")] {
            add_history(&mut c, key, at, state).expect("add");
        }
        let mut counts: Vec<HourCounts> = Vec::new();
        each_hourly(&mut c, 0, |site, url, vantage, hours| {
            assert_eq!((site, url, vantage), key);
            counts.extend_from_slice(hours);
        })
        .expect("hourly");
        assert_eq!(
            counts,
            [
                HourCounts {
                    hour: 0,
                    up: 1,
                    degraded: 1,
                    down: 1,
                    total: 3
                },
                HourCounts {
                    hour: 1,
                    up: 1,
                    degraded: 0,
                    down: 0,
                    total: 1
                },
            ]
        );
    }
}
