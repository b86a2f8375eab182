//! The state store: SQLite (rusqlite, bundled) at `storage.path`, or in
//! memory. Holds raised problems (so thresholds and alerts survive a
//! restart), alert state, the notification queue and per-address round
//! history (for uptime ratios), with bounded retention.
//!
//! One dedicated thread owns the connection; async callers send it closures
//! and await the answer, so SQLite never blocks the runtime. WAL mode, one
//! transaction per write: a `kill -9` loses at most the write in flight.
//! The schema is versioned with `PRAGMA user_version`; [`migrate`] brings any
//! older file up to date.

pub mod schema;

use std::path::Path;
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

pub use schema::{AlertRow, ProblemRow};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the state store {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("state store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state store thread has stopped")]
    Gone,
    #[error("starting the state store thread: {0}")]
    Thread(std::io::Error),
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A handle to the store thread; cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

impl Store {
    /// Opens (creating and migrating) the database at `path`, or an
    /// in-memory one.
    pub fn open(path: Option<&Path>) -> Result<Self, StoreError> {
        let shown = path.map_or_else(|| ":memory:".to_string(), |p| p.display().to_string());
        let open_err = |source| StoreError::Open {
            path: shown.clone(),
            source,
        };
        let mut conn = match path {
            Some(p) => Connection::open(p).map_err(open_err)?,
            None => Connection::open_in_memory().map_err(open_err)?,
        };
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        schema::migrate(&mut conn).map_err(open_err)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("mirrorwatch-store".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })
            .map_err(StoreError::Thread)?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the store thread and returns its result.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |conn| {
                let _ = tx.send(f(conn));
            }))
            .map_err(|_| StoreError::Gone)?;
        Ok(rx.await.map_err(|_| StoreError::Gone)??)
    }

    /// Runs `f` on the store thread and waits for it, from synchronous code.
    pub fn call_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.jobs
            .send(Box::new(move |conn| {
                let _ = tx.send(f(conn));
            }))
            .map_err(|_| StoreError::Gone)?;
        Ok(rx.recv().map_err(|_| StoreError::Gone)??)
    }
}
