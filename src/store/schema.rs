//! Schema, migrations and queries. Times are Unix milliseconds.

use rusqlite::{Connection, Transaction, params};

/// Each entry upgrades the schema by one version (index + 1).
pub(super) const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE problems (
         site TEXT NOT NULL, url TEXT NOT NULL, kind TEXT NOT NULL,
         detail TEXT NOT NULL, since INTEGER NOT NULL,
         PRIMARY KEY (site, url, kind));
     CREATE TABLE alerts (
         id TEXT PRIMARY KEY, labels TEXT NOT NULL, annotations TEXT NOT NULL,
         starts_at INTEGER NOT NULL, last_reminder INTEGER NOT NULL);
     CREATE TABLE queue (
         id INTEGER PRIMARY KEY AUTOINCREMENT, receiver TEXT NOT NULL, url TEXT NOT NULL,
         body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
         created INTEGER NOT NULL, last_error TEXT);
     CREATE TABLE history (
         site TEXT NOT NULL, url TEXT NOT NULL, at INTEGER NOT NULL, state TEXT NOT NULL);
     CREATE INDEX history_target ON history (site, url, at);",
    // v2: per-hour counts instead of one row per round. At 10,000
    // addresses and 60 s, a week of rounds was ~100 million rows; per hour
    // it is at most 168 rows per address.
    "CREATE TABLE uptime_hourly (
         site TEXT NOT NULL, url TEXT NOT NULL, hour INTEGER NOT NULL,
         up INTEGER NOT NULL, total INTEGER NOT NULL,
         PRIMARY KEY (site, url, hour)) WITHOUT ROWID;
     INSERT INTO uptime_hourly (site, url, hour, up, total)
         SELECT site, url, at / 3600000, SUM(state = 'up'), COUNT(*)
         FROM history GROUP BY site, url, at / 3600000;
     DROP TABLE history;
     CREATE INDEX uptime_hour ON uptime_hourly (hour);",
    // v3: parity's first-seen clock, so a restart keeps the lag of a stale
    // mirror instead of starting every article's clock again.
    "CREATE TABLE clock_sites (
         site TEXT PRIMARY KEY, main TEXT NOT NULL, last INTEGER);
     CREATE TABLE clock_articles (
         site TEXT NOT NULL, article TEXT NOT NULL, first INTEGER NOT NULL,
         absent_at INTEGER,
         PRIMARY KEY (site, article)) WITHOUT ROWID;",
    // v4: an address is (site, url, vantage); every existing row is the
    // local vantage's. Alert rows keep their ids (local alerts carry no
    // vantage label), so an upgrade neither re-fires nor forgets one.
    "CREATE TABLE problems_v4 (
         site TEXT NOT NULL, url TEXT NOT NULL, vantage TEXT NOT NULL DEFAULT 'local',
         kind TEXT NOT NULL, detail TEXT NOT NULL, since INTEGER NOT NULL,
         PRIMARY KEY (site, url, vantage, kind));
     INSERT INTO problems_v4 (site, url, vantage, kind, detail, since)
         SELECT site, url, 'local', kind, detail, since FROM problems;
     DROP TABLE problems;
     ALTER TABLE problems_v4 RENAME TO problems;
     CREATE TABLE uptime_v4 (
         site TEXT NOT NULL, url TEXT NOT NULL, vantage TEXT NOT NULL DEFAULT 'local',
         hour INTEGER NOT NULL, up INTEGER NOT NULL, total INTEGER NOT NULL,
         PRIMARY KEY (site, url, vantage, hour)) WITHOUT ROWID;
     INSERT INTO uptime_v4 (site, url, vantage, hour, up, total)
         SELECT site, url, 'local', hour, up, total FROM uptime_hourly;
     DROP TABLE uptime_hourly;
     ALTER TABLE uptime_v4 RENAME TO uptime_hourly;
     CREATE INDEX uptime_hour ON uptime_hourly (hour);",
    // v5: the worst state of each hour (bars on the status page), and the
    // state transitions and problem raise/clear events (`/history`).
    "ALTER TABLE uptime_hourly ADD COLUMN degraded INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE uptime_hourly ADD COLUMN down INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE events (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         site TEXT NOT NULL, url TEXT NOT NULL, vantage TEXT NOT NULL,
         at INTEGER NOT NULL, event TEXT NOT NULL, kind TEXT NOT NULL,
         from_state TEXT NOT NULL, to_state TEXT NOT NULL, detail TEXT NOT NULL);
     CREATE INDEX events_at ON events (at);",
    // v6: the registry stage's last answer per registered domain (JSON),
    // and the RDAP bootstrap file (`store::registry`).
    "CREATE TABLE registry (domain TEXT PRIMARY KEY, record TEXT NOT NULL);
     CREATE TABLE registry_bootstrap (url TEXT PRIMARY KEY, body BLOB NOT NULL, fetched_at INTEGER NOT NULL);",
    // v7: mirrors discovered from a site's announcements (`store::registry`).
    "CREATE TABLE discovered (site TEXT NOT NULL, host TEXT NOT NULL, added_at INTEGER NOT NULL,
         withdrawn_since INTEGER, PRIMARY KEY (site, host));",
    // v8: the clock's articles by id, their paths kept only here (the
    // daemon looks a path up when a detail names it), and gone articles
    // kept while the clock may still name them (`store::clock`).
    "CREATE TABLE clock_v8 (
         site TEXT NOT NULL, id INTEGER NOT NULL, article TEXT NOT NULL,
         first INTEGER NOT NULL, absent_at INTEGER, gone INTEGER,
         PRIMARY KEY (site, id)) WITHOUT ROWID;
     INSERT OR REPLACE INTO clock_v8 (site, id, article, first, absent_at)
         SELECT site, article_id(article), article, first, absent_at FROM clock_articles;
     DROP TABLE clock_articles;
     ALTER TABLE clock_v8 RENAME TO clock_articles;",
    // v9: the clock's rows keyed by first sighting before id. An
    // observation's new articles share their first sighting, so its
    // writes touch a page or two of the site's rows, not most of them
    // (scattered by id, each publication rewrote ~9 pages and the WAL
    // checkpoint wrote them again).
    "CREATE TABLE clock_v9 (
         site TEXT NOT NULL, first INTEGER NOT NULL, id INTEGER NOT NULL,
         article TEXT NOT NULL, absent_at INTEGER, gone INTEGER,
         PRIMARY KEY (site, first, id)) WITHOUT ROWID;
     INSERT INTO clock_v9 (site, first, id, article, absent_at, gone)
         SELECT site, first, id, article, absent_at, gone FROM clock_articles;
     DROP TABLE clock_articles;
     ALTER TABLE clock_v9 RENAME TO clock_articles;",
];

/// A database at schema `version`, as that release left it (tests of the
/// migrations).
#[cfg(test)]
pub(super) fn at_version(version: usize) -> Connection {
    let c = Connection::open_in_memory().expect("db");
    super::clock::register(&c).expect("functions");
    for sql in &MIGRATIONS[..version] {
        c.execute_batch(sql).expect("migration");
    }
    c.pragma_update(None, "user_version", version as i64)
        .expect("version");
    c
}

/// Milliseconds per uptime bucket.
pub const HOUR_MS: i64 = 3_600_000;

/// Brings the database to the newest schema, one transaction per step.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    super::clock::register(conn)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// A raised problem, as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemRow {
    pub site: String,
    pub url: String,
    pub vantage: String,
    pub kind: String,
    pub detail: String,
    pub since_ms: i64,
}

/// Replaces the raised problems of one address.
pub fn save_problems(
    conn: &mut Connection,
    site: &str,
    url: &str,
    vantage: &str,
    rows: &[ProblemRow],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM problems WHERE site = ?1 AND url = ?2 AND vantage = ?3",
        params![site, url, vantage],
    )?;
    for r in rows {
        tx.execute(
            "INSERT INTO problems (site, url, vantage, kind, detail, since) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![r.site, r.url, r.vantage, r.kind, r.detail, r.since_ms],
        )?;
    }
    tx.commit()
}

pub fn load_problems(conn: &mut Connection) -> rusqlite::Result<Vec<ProblemRow>> {
    let mut stmt = conn.prepare("SELECT site, url, vantage, kind, detail, since FROM problems")?;
    let rows = stmt.query_map([], |r| {
        Ok(ProblemRow {
            site: r.get(0)?,
            url: r.get(1)?,
            vantage: r.get(2)?,
            kind: r.get(3)?,
            detail: r.get(4)?,
            since_ms: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// An open (firing) alert, as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: String,
    /// JSON object.
    pub labels: String,
    /// JSON object.
    pub annotations: String,
    pub starts_at_ms: i64,
    pub last_reminder_ms: i64,
}

pub fn load_alerts(conn: &mut Connection) -> rusqlite::Result<Vec<AlertRow>> {
    let mut stmt =
        conn.prepare("SELECT id, labels, annotations, starts_at, last_reminder FROM alerts")?;
    let rows = stmt.query_map([], |r| {
        Ok(AlertRow {
            id: r.get(0)?,
            labels: r.get(1)?,
            annotations: r.get(2)?,
            starts_at_ms: r.get(3)?,
            last_reminder_ms: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// A notification to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub receiver: String,
    pub url: String,
    pub body: String,
}

/// The queue holds at most this many notifications; past it the oldest are
/// dropped, and `transition` reports how many so the caller can say so.
pub const MAX_QUEUE: i64 = 100_000;

/// Records firing and resolved alerts and queues their notifications, in
/// one transaction: either all of it happens or none. Returns how many old
/// notifications had to be dropped to keep the queue bounded.
pub fn transition(
    conn: &mut Connection,
    firing: &[AlertRow],
    resolved: &[String],
    reminded: &[String],
    outgoing: &[Outgoing],
    now_ms: i64,
) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    for a in firing {
        tx.execute(
            "INSERT OR REPLACE INTO alerts (id, labels, annotations, starts_at, last_reminder) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![a.id, a.labels, a.annotations, a.starts_at_ms, a.last_reminder_ms],
        )?;
    }
    for id in resolved {
        tx.execute("DELETE FROM alerts WHERE id = ?1", params![id])?;
    }
    for id in reminded {
        tx.execute(
            "UPDATE alerts SET last_reminder = ?2 WHERE id = ?1",
            params![id, now_ms],
        )?;
    }
    enqueue(&tx, outgoing, now_ms)?;
    let dropped = tx.execute(
        "DELETE FROM queue WHERE id IN (SELECT id FROM queue ORDER BY id LIMIT MAX(0, (SELECT COUNT(*) FROM queue) - ?1))",
        params![MAX_QUEUE],
    )?;
    tx.commit()?;
    Ok(dropped)
}

fn enqueue(tx: &Transaction<'_>, outgoing: &[Outgoing], now_ms: i64) -> rusqlite::Result<()> {
    for o in outgoing {
        tx.execute(
            "INSERT INTO queue (receiver, url, body, next_at, created) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![o.receiver, o.url, o.body, now_ms],
        )?;
    }
    Ok(())
}

/// A queued notification.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub receiver: String,
    pub url: String,
    pub body: String,
    pub attempts: u32,
}

/// Up to `limit` notifications due now, oldest first.
pub fn due(conn: &mut Connection, now_ms: i64, limit: usize) -> rusqlite::Result<Vec<Queued>> {
    let mut stmt = conn.prepare("SELECT id, receiver, url, body, attempts FROM queue WHERE next_at <= ?1 ORDER BY id LIMIT ?2")?;
    let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
        Ok(Queued {
            id: r.get(0)?,
            receiver: r.get(1)?,
            url: r.get(2)?,
            body: r.get(3)?,
            attempts: r.get(4)?,
        })
    })?;
    rows.collect()
}

pub fn delivered(conn: &mut Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM queue WHERE id = ?1", params![id])
        .map(|_| ())
}

pub fn retry_later(
    conn: &mut Connection,
    id: i64,
    next_at_ms: i64,
    error: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE queue SET attempts = attempts + 1, next_at = ?2, last_error = ?3 WHERE id = ?1",
        params![id, next_at_ms, error],
    )
    .map(|_| ())
}

pub fn queue_depth(conn: &mut Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM queue", [], |r| r.get(0))
}

/// (site, url, vantage) and the rounds to add in one hour.
pub type HourRow<'a> = (
    (&'a str, &'a str, &'a str),
    crate::store::history::HourCounts,
);

/// Adds rounds to their hours, in one transaction.
pub fn add_hours(conn: &mut Connection, rows: &[HourRow<'_>]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for ((site, url, vantage), h) in rows {
        tx.prepare_cached(
            "INSERT INTO uptime_hourly (site, url, vantage, hour, up, degraded, down, total)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (site, url, vantage, hour) DO UPDATE SET up = up + excluded.up,
             degraded = degraded + excluded.degraded, down = down + excluded.down,
             total = total + excluded.total",
        )?
        .execute(params![
            site, url, vantage, h.hour, h.up, h.degraded, h.down, h.total
        ])?;
    }
    tx.commit()
}

/// Counts one round of an address in its hour.
pub fn add_history(
    conn: &mut Connection,
    key: (&str, &str, &str),
    at_ms: i64,
    state: &str,
) -> rusqlite::Result<()> {
    let h = crate::store::history::HourCounts {
        hour: at_ms.div_euclid(HOUR_MS),
        up: i64::from(state == "up"),
        degraded: i64::from(state == "degraded"),
        down: i64::from(state == "down"),
        total: 1,
    };
    add_hours(conn, &[(key, h)])
}

/// Drops the hours that ended before `before_ms`.
pub fn prune_history(conn: &mut Connection, before_ms: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM uptime_hourly WHERE hour < ?1",
        params![before_ms.div_euclid(HOUR_MS)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every address's share of rounds up from the hour holding `since`,
    /// as the daemon computes it: `history::each_hourly`, then
    /// `history::up_share` per address; by (site, url, vantage).
    fn uptime_all(
        c: &mut Connection,
        since: i64,
    ) -> rusqlite::Result<Vec<(String, String, String, f64)>> {
        use crate::store::history::{each_hourly, up_share};
        let mut all = Vec::new();
        each_hourly(c, since, |s, u, v, counts| {
            if let Some(share) = up_share(counts, since) {
                all.push((s.to_string(), u.to_string(), v.to_string(), share));
            }
        })?;
        Ok(all)
    }

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().expect("db");
        migrate(&mut c).expect("migrate");
        c
    }

    #[test]
    fn migrations_are_idempotent_and_versioned() {
        let mut c = db();
        migrate(&mut c).expect("again");
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    #[test]
    fn transition_is_atomic_and_queue_drains() {
        let mut c = db();
        let alert = AlertRow {
            id: "a".into(),
            labels: "{}".into(),
            annotations: "{}".into(),
            starts_at_ms: 5,
            last_reminder_ms: 5,
        };
        let out = Outgoing {
            receiver: "webhook-0".into(),
            url: "http://127.0.0.1:1/".into(),
            body: "{}".into(),
        };
        transition(
            &mut c,
            std::slice::from_ref(&alert),
            &[],
            &[],
            std::slice::from_ref(&out),
            10,
        )
        .expect("tx");
        assert_eq!(load_alerts(&mut c).expect("alerts"), vec![alert]);
        assert_eq!(queue_depth(&mut c).expect("depth"), 1);
        let q = due(&mut c, 10, 10).expect("due");
        retry_later(&mut c, q[0].id, 1000, "refused").expect("retry");
        assert!(
            due(&mut c, 999, 10).expect("due").is_empty(),
            "backoff respected"
        );
        let q = due(&mut c, 1000, 10).expect("due");
        assert_eq!(q[0].attempts, 1);
        delivered(&mut c, q[0].id).expect("done");
        assert_eq!(queue_depth(&mut c).expect("depth"), 0);
        transition(&mut c, &[], &["a".into()], &[], &[], 20).expect("resolve");
        assert!(load_alerts(&mut c).expect("alerts").is_empty());
    }

    #[test]
    fn uptime_is_share_of_up_rounds_in_window() {
        let mut c = db();
        let h = HOUR_MS;
        for (at, s) in [
            (1, "down"),
            (2, "up"),
            (h, "up"),
            (h + 5, "up"),
            (h + 9, "degraded"),
        ] {
            add_history(&mut c, ("s", "u", "local"), at, s).expect("add");
        }
        add_history(&mut c, ("t", "v", "local"), 7, "up").expect("add");
        assert_eq!(
            uptime_all(&mut c, 0).expect("q"),
            vec![
                ("s".into(), "u".into(), "local".into(), 0.6),
                ("t".into(), "v".into(), "local".into(), 1.0)
            ]
        );
        // From inside hour 1: hour 1 only.
        assert_eq!(
            uptime_all(&mut c, h + 3).expect("q"),
            vec![("s".into(), "u".into(), "local".into(), 2.0 / 3.0)]
        );
        // Hour 0 ended before h + 1: its two buckets go.
        assert_eq!(prune_history(&mut c, h + 1).expect("prune"), 2);
    }

    #[test]
    fn v1_history_is_rolled_up_by_the_v2_migration() {
        let mut c = at_version(1);
        for (at, s) in [(10, "up"), (20, "down"), (HOUR_MS * 2, "up")] {
            c.execute(
                "INSERT INTO history (site, url, at, state) VALUES ('s', 'u', ?1, ?2)",
                params![at, s],
            )
            .expect("insert");
        }
        migrate(&mut c).expect("v2");
        assert_eq!(
            uptime_all(&mut c, 0).expect("q"),
            vec![("s".into(), "u".into(), "local".into(), 2.0 / 3.0)]
        );
        assert_eq!(
            uptime_all(&mut c, HOUR_MS * 2).expect("q"),
            vec![("s".into(), "u".into(), "local".into(), 1.0)]
        );
    }

    /// An upgrade from the last release's database (v2: before the clock
    /// and vantages) keeps every raised problem, alert and uptime count, as
    /// the local vantage's.
    #[test]
    fn v2_state_survives_the_clock_and_vantage_migrations() {
        // v2 is what the last release wrote.
        let mut c = at_version(2);
        c.execute(
            "INSERT INTO problems (site, url, kind, detail, since) VALUES ('s', 'https://m.test/', 'content_stale', 'lags', 42)",
            [],
        )
        .expect("problem");
        c.execute(
            "INSERT INTO uptime_hourly (site, url, hour, up, total) VALUES ('s', 'https://m.test/', 5, 3, 4)",
            [],
        )
        .expect("uptime");
        c.execute(
            "INSERT INTO alerts (id, labels, annotations, starts_at, last_reminder) VALUES ('a=1', '{}', '{}', 7, 7)",
            [],
        )
        .expect("alert");
        migrate(&mut c).expect("v4");
        assert_eq!(
            load_problems(&mut c).expect("problems"),
            vec![ProblemRow {
                site: "s".into(),
                url: "https://m.test/".into(),
                vantage: "local".into(),
                kind: "content_stale".into(),
                detail: "lags".into(),
                since_ms: 42,
            }]
        );
        assert_eq!(
            uptime_all(&mut c, 0).expect("uptime"),
            vec![("s".into(), "https://m.test/".into(), "local".into(), 0.75)]
        );
        assert_eq!(load_alerts(&mut c).expect("alerts")[0].id, "a=1");
        // Two vantages of one address are two addresses.
        add_history(&mut c, ("s", "https://m.test/", "uk"), 5 * HOUR_MS, "down").expect("add");
        assert_eq!(uptime_all(&mut c, 0).expect("uptime").len(), 2);
    }
}
