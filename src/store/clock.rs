//! Parity's first-seen clock in the store (v3, by id since v8, by first
//! sighting and id since v9): a row per
//! article, with its path, while main shows it or the clock may still name
//! it (gone, but a kept snapshot may refer to it). A restart restores what
//! main showed; a detail that names an article reads its path here, so the
//! daemon keeps no paths in memory.

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OptionalExtension, params};

use crate::ground::time::{from_ms, to_ms};
use crate::parity::SavedClock;
use crate::parity::freshness::{ClockDelta, article_id};

/// An article id (FNV-1a, 64 bits) as SQLite keeps it: the same bits as
/// an `i64`.
fn key(id: u64) -> i64 {
    i64::from_ne_bytes(id.to_ne_bytes())
}

/// `article_id(path)` in SQL (the v8 migration keys existing rows by it).
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "article_id",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(key(article_id(&ctx.get::<String>(0)?))),
    )
}

/// Applies one main round's change to a site's first-seen clock. A new
/// main URL for the site starts its clock afresh.
pub fn save_clock(
    conn: &mut Connection,
    site: &str,
    main: &str,
    delta: &ClockDelta,
) -> rusqlite::Result<()> {
    // Every statement cached (the store's connection keeps rusqlite's
    // default 16; the store uses fewer): where main publishes between
    // rounds this runs every main round, and preparing statements anew
    // was 1.7% of the daemon's CPU in the every-page-changed benchmark.
    let tx = conn.transaction()?;
    let known: Option<String> = tx
        .prepare_cached("SELECT main FROM clock_sites WHERE site = ?1")?
        .query_row(params![site], |r| r.get(0))
        .optional()?;
    // Rows of another main URL, or of no clock the daemon holds (keyed by
    // first sighting, they would stay beside the new clock's own rows).
    if known.as_deref() != Some(main) || delta.fresh {
        tx.prepare_cached("DELETE FROM clock_articles WHERE site = ?1")?
            .execute(params![site])?;
    }
    let observed = delta.observed.map(to_ms);
    tx.prepare_cached(
        "INSERT INTO clock_sites (site, main, last) VALUES (?1, ?2, ?3)
         ON CONFLICT (site) DO UPDATE SET main = ?2, last = COALESCE(?3, last)",
    )?
    .execute(params![site, main, observed])?;
    {
        // Rows by (site, first, id): one observation's additions share
        // their first sighting, so they land on the site's last page, and
        // what goes (main's oldest) on its first ones.
        let mut del = tx.prepare_cached(
            "DELETE FROM clock_articles WHERE site = ?1 AND first = ?2 AND id = ?3",
        )?;
        for (id, first) in &delta.expired {
            del.execute(params![site, to_ms(*first), key(*id)])?;
        }
        let mut gone = tx.prepare_cached(
            "UPDATE clock_articles SET gone = COALESCE(?4, 0)
             WHERE site = ?1 AND first = ?2 AND id = ?3",
        )?;
        for (id, first) in &delta.gone {
            gone.execute(params![site, to_ms(*first), key(*id), observed])?;
        }
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO clock_articles (site, first, id, article, absent_at, gone)
             VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
        )?;
        for (a, first, absent_at) in &delta.added {
            let id = key(article_id(a));
            put.execute(params![site, to_ms(*first), id, a, absent_at.map(to_ms)])?;
        }
    }
    tx.commit()
}

/// Every site's saved first-seen clock: the articles main showed at the
/// last saved observation (not those gone since: see [`drop_gone`]).
/// Only reads, so a read-only store still restores.
pub fn load_clocks(conn: &mut Connection) -> rusqlite::Result<Vec<(String, SavedClock)>> {
    let mut out: Vec<(String, SavedClock)> = Vec::new();
    let mut sites = conn.prepare("SELECT site, main, last FROM clock_sites ORDER BY site")?;
    let rows = sites.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    })?;
    let mut index = std::collections::HashMap::new();
    for row in rows {
        let (site, main, last) = row?;
        index.insert(site.clone(), out.len());
        out.push((
            site,
            SavedClock {
                main,
                last: last.map(from_ms),
                articles: Vec::new(),
            },
        ));
    }
    let mut arts = conn
        .prepare("SELECT site, article, first, absent_at FROM clock_articles WHERE gone IS NULL")?;
    let rows = arts.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<i64>>(3)?,
        ))
    })?;
    for row in rows {
        let (site, article, first, absent_at) = row?;
        if let Some((_, c)) = index.get(&site).and_then(|&i| out.get_mut(i)) {
            c.articles
                .push((article, from_ms(first), absent_at.map(from_ms)));
        }
    }
    Ok(out)
}

/// Drops the rows of gone articles, once the clocks are restored: a
/// restored clock starts from what main showed and never names them.
pub fn drop_gone(conn: &mut Connection) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM clock_articles WHERE gone IS NOT NULL", [])
}

/// The paths of articles `ids` of `site`, in order; `None` for an id the
/// store does not hold (never saved, or a failed write). Each looks
/// through the site's rows (a few hundred): only a detail that names a
/// missing article asks.
pub fn article_paths(
    conn: &mut Connection,
    site: &str,
    ids: &[u64],
) -> rusqlite::Result<Vec<Option<String>>> {
    let mut get =
        conn.prepare_cached("SELECT article FROM clock_articles WHERE site = ?1 AND id = ?2")?;
    ids.iter()
        .map(|id| {
            get.query_row(params![site, key(*id)], |r| r.get(0))
                .optional()
        })
        .collect()
}

#[cfg(test)]
#[path = "clock_tests.rs"]
mod tests;
