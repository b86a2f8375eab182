//! The domain layer's memory: each registered domain's record (the last
//! good answer, what changed when, when to ask again), so a restart asks
//! nothing until a domain is due; the RDAP bootstrap file, so a bootstrap
//! that cannot be fetched falls back to the last one; and the mirrors
//! discovered from announcements, so they survive a restart.

use rusqlite::{Connection, OptionalExtension, params};

use crate::checks::registry::Record;

/// Every stored record; rows that no longer parse are skipped (and
/// replaced by the next answer).
pub fn load(conn: &mut Connection) -> rusqlite::Result<Vec<Record>> {
    let mut stmt = conn.prepare("SELECT record FROM registry ORDER BY domain")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for text in rows {
        if let Ok(r) = serde_json::from_str::<Record>(&text?) {
            out.push(r);
        }
    }
    Ok(out)
}

pub fn save(conn: &mut Connection, record: &Record) -> rusqlite::Result<()> {
    let text = serde_json::to_string(record).unwrap_or_default();
    conn.execute(
        "INSERT INTO registry (domain, record) VALUES (?1, ?2)
         ON CONFLICT (domain) DO UPDATE SET record = excluded.record",
        params![record.domain, text],
    )?;
    Ok(())
}

/// The stored bootstrap file for `url`: (body, fetched at, Unix seconds).
pub fn load_bootstrap(
    conn: &mut Connection,
    url: &str,
) -> rusqlite::Result<Option<(Vec<u8>, i64)>> {
    conn.query_row(
        "SELECT body, fetched_at FROM registry_bootstrap WHERE url = ?1",
        params![url],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

pub fn save_bootstrap(
    conn: &mut Connection,
    url: &str,
    body: &[u8],
    at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO registry_bootstrap (url, body, fetched_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (url) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at",
        params![url, body, at],
    )?;
    Ok(())
}

/// A mirror discovered from a site's announcements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredRow {
    pub site: String,
    /// As announced (comparable form: no `www.`).
    pub host: String,
    /// Unix seconds.
    pub added_at: i64,
    /// Since when the main page no longer announces it (Unix seconds).
    pub withdrawn_since: Option<i64>,
}

pub fn load_discovered(conn: &mut Connection) -> rusqlite::Result<Vec<DiscoveredRow>> {
    let mut stmt = conn
        .prepare("SELECT site, host, added_at, withdrawn_since FROM discovered ORDER BY rowid")?;
    let rows = stmt.query_map([], |r| {
        Ok(DiscoveredRow {
            site: r.get(0)?,
            host: r.get(1)?,
            added_at: r.get(2)?,
            withdrawn_since: r.get(3)?,
        })
    })?;
    rows.collect()
}

/// Replaces every discovered mirror with `rows`, in one transaction.
pub fn save_discovered(conn: &mut Connection, rows: &[DiscoveredRow]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM discovered", [])?;
    for r in rows {
        tx.execute(
            "INSERT INTO discovered (site, host, added_at, withdrawn_since) VALUES (?1, ?2, ?3, ?4)",
            params![r.site, r.host, r.added_at, r.withdrawn_since],
        )?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_bootstrap_round_trip() {
        let mut c = Connection::open_in_memory().expect("db");
        crate::store::schema::migrate(&mut c).expect("migrate");
        let mut r = Record {
            domain: "news.test".into(),
            next_due: 42,
            ..Record::default()
        };
        r.changed.insert("nameservers".into(), 7);
        save(&mut c, &r).expect("save");
        r.next_due = 43;
        save(&mut c, &r).expect("save again");
        assert_eq!(load(&mut c).expect("load"), vec![r]);
        c.execute(
            "INSERT INTO registry (domain, record) VALUES ('bad.test', '{')",
            [],
        )
        .expect("corrupt row");
        assert_eq!(
            load(&mut c).expect("load").len(),
            1,
            "a corrupt row is skipped"
        );
        assert_eq!(load_bootstrap(&mut c, "u").expect("load"), None);
        save_bootstrap(&mut c, "u", b"{}", 5).expect("save");
        assert_eq!(
            load_bootstrap(&mut c, "u").expect("load"),
            Some((b"{}".to_vec(), 5))
        );
    }
}
