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
//!
//! A store that fails (disk full, read-only, the file deleted) never stops
//! monitoring: callers log the error and go on, and [`Health`] reports the
//! store degraded (`/readyz` detail, `mirrorwatch_storage_healthy`).

pub mod clock;
pub mod history;
pub mod registry;
pub mod schema;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

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
    health: Arc<Health>,
}

/// How long a failed store operation keeps the store reported degraded
/// after the last failure.
pub const DEGRADED_FOR: Duration = Duration::from_secs(120);

/// Whether the store is doing its job: the last failure (disk full, read
/// only, I/O error) and whether the database file is still the one opened.
#[derive(Default)]
pub struct Health {
    last_failure: Mutex<Option<(Instant, String)>>,
    /// (path, device, inode) of the file opened, when on disk.
    file: Option<(PathBuf, u64, u64)>,
    replaced: Mutex<Option<String>>,
}

impl Health {
    fn failed(&self, e: &rusqlite::Error) {
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), e.to_string()));
    }

    /// Re-checks that the database file is still the one opened (a
    /// deleted or replaced file means state no longer persists there).
    pub fn check_file(&self) {
        let Some((path, dev, ino)) = &self.file else {
            return;
        };
        let now = match std::fs::metadata(path) {
            Ok(m) if m.dev() == *dev && m.ino() == *ino => None,
            Ok(_) => Some(format!(
                "{} was replaced; state is no longer persisted there",
                path.display()
            )),
            Err(e) => Some(format!(
                "{} is gone ({e}); state is no longer persisted",
                path.display()
            )),
        };
        *self.replaced.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    /// `Some(why)` while the store is degraded.
    pub fn degraded(&self) -> Option<String> {
        if let Some(why) = self
            .replaced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Some(why);
        }
        self.last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < DEGRADED_FOR)
            .map(|(_, e)| format!("a write failed: {e}"))
    }
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
        let file = path.and_then(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((p.to_path_buf(), m.dev(), m.ino()))
        });
        let health = Arc::new(Health {
            file,
            ..Health::default()
        });
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("mirrorwatch-store".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })
            .map_err(StoreError::Thread)?;
        Ok(Self { jobs, health })
    }

    /// The store at `path`, or, when it cannot be opened (read-only or
    /// full filesystem, a broken file), an in-memory one reported degraded
    /// for good: monitoring never waits on the disk.
    pub fn open_or_memory(path: Option<&Path>) -> Result<Self, StoreError> {
        match Self::open(path) {
            Ok(s) => Ok(s),
            Err(e) if path.is_some() => {
                tracing::error!(error = %e, "state store unavailable; keeping state in memory only");
                let s = Self::open(None)?;
                *s.health.replaced.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("{e}; state is kept in memory only"));
                Ok(s)
            }
            Err(e) => Err(e),
        }
    }

    /// The store's health (shared by every handle).
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Runs `f` on the store thread and returns its result.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = oneshot::channel();
        let health = self.health.clone();
        self.jobs
            .send(Box::new(move |conn| {
                let result = f(conn);
                if let Err(e) = &result {
                    health.failed(e);
                }
                let _ = tx.send(result);
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
        let health = self.health.clone();
        self.jobs
            .send(Box::new(move |conn| {
                let result = f(conn);
                if let Err(e) = &result {
                    health.failed(e);
                }
                let _ = tx.send(result);
            }))
            .map_err(|_| StoreError::Gone)?;
        Ok(rx.recv().map_err(|_| StoreError::Gone)??)
    }
}
