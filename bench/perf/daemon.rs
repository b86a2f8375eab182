//! mirrorwatch under test: writes a config for the benchmark world, starts
//! the release binary on it, waits for `/readyz`, and reads `/metrics`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::procs::{Guard, spawn_owned};
use crate::world::{BenchWorld, DNS_ADDR};

/// The shape of a watched set: `sites` sites of one main and `mirrors`
/// mirrors each, all on the world's names.
pub struct Watch {
    pub addresses: usize,
    pub mirrors: usize,
    pub interval: Duration,
    pub timeout: Duration,
}

pub struct Daemon {
    pub guard: Guard,
    pub base: String,
    pub started: Instant,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The daemon's config: as deployed (README), state in a file.
pub fn config(world: &BenchWorld, ca: &Path, listen: &str, w: &Watch, db: &Path) -> String {
    let mut out = format!(
        "[server]\nlisten = \"{listen}\"\n\n[storage]\npath = \"{}\"\n\n[defaults]\ninterval = \"{}s\"\ntimeout = \"{}s\"\n\
         resolvers = [\"{DNS_ADDR}\"]\nca_file = \"{}\"\n\n",
        db.display(),
        w.interval.as_secs(),
        w.timeout.as_secs(),
        ca.display()
    );
    let per_site = w.mirrors + 1;
    for s in 0..w.addresses / per_site {
        let first = s * per_site;
        let mirrors: Vec<String> = (1..per_site)
            .map(|m| format!("\"{}\"", world.url(first + m)))
            .collect();
        out.push_str(&format!(
            "[[sites]]\nname = \"s{s:05}\"\nmain = \"{}\"\nmirrors = [{}]\n\n",
            world.url(first),
            mirrors.join(", ")
        ));
    }
    out
}

impl Daemon {
    pub async fn start(
        world: &BenchWorld,
        dir: &Path,
        name: &str,
        w: &Watch,
    ) -> anyhow::Result<Self> {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let ca = dir.join("ca.pem");
        let path = dir.join(format!("{name}.toml"));
        let db = dir.join(format!("{name}.db"));
        std::fs::write(&path, config(world, &ca, &listen, w, &db))?;
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        // `BENCH_DAEMON_WRAPPER=heaptrack` (or any command line taking the
        // program as its last argument) runs the daemon under a profiler; the
        // figures then measure the wrapper's process, and a wrapper that
        // does not pass on SIGKILL leaves the daemon running after the
        // benchmark unless it is ended with its process group (as the
        // guard does).
        let wrapper = std::env::var("BENCH_DAEMON_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(w) => {
                let mut c = std::process::Command::new(w);
                c.args(words).arg(crate::mirrorwatch_bin());
                c
            }
            None => std::process::Command::new(crate::mirrorwatch_bin()),
        };
        command
            .arg("run")
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(log);
        let guard = spawn_owned(&mut command)
            .context("starting mirrorwatch (is the release binary built?)")?;
        let d = Daemon {
            guard,
            base: format!("http://{listen}"),
            started: Instant::now(),
        };
        // Every address must finish one round: the spread window (at most
        // one interval) plus a timeout, with room to spare.
        let within = w.interval + w.timeout + Duration::from_secs(60);
        if !crate::answers_ok(&format!("{}/readyz", d.base), within).await {
            bail!(
                "mirrorwatch not ready in time; see {}",
                dir.join(format!("{name}.log")).display()
            );
        }
        Ok(d)
    }

    /// One scrape by a client made for it, timed from request to last
    /// byte: a runtime, a client, a connection and a growing buffer of its
    /// own. The client runs on a thread and runtime of its own, as
    /// Prometheus would be a process of its own: on the benchmark's runtime
    /// it waited behind the world's servers, and that wait was counted as
    /// the daemon's.
    pub async fn metrics(&self) -> anyhow::Result<Scrape> {
        let url = format!("{}/metrics", self.base);
        tokio::task::spawn_blocking(move || {
            let mut scraper = Scraper::new(url)?;
            scraper.scrape()
        })
        .await?
    }
}

/// A scraper kept from scrape to scrape, as Prometheus's scrape loop is:
/// its connection stays open, and the body is read into a buffer sized
/// from the last scrape (Prometheus takes it from a pool by
/// `lastScrapeSize`), so a scrape does not fault in 43 MB of fresh pages.
pub struct Scraper {
    url: String,
    /// Taken only by `drop`, which may run on the benchmark's runtime.
    runtime: Option<tokio::runtime::Runtime>,
    client: reqwest::Client,
    buf: Vec<u8>,
}

impl Scraper {
    pub fn new(url: String) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Its own client too: pooled connections belong to the runtime
        // that opened them.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            url,
            runtime: Some(runtime),
            client,
            buf: Vec::new(),
        })
    }

    /// The scraper for `d`'s `/metrics`.
    pub fn of(d: &Daemon) -> anyhow::Result<Self> {
        Self::new(format!("{}/metrics", d.base))
    }

    /// One scrape, timed to the last byte, as Prometheus's scrape duration
    /// is; the text is checked and parsed after the clock stops. Blocks:
    /// call it off the benchmark's runtime.
    pub fn scrape(&mut self) -> anyhow::Result<Scrape> {
        let mut body = std::mem::take(&mut self.buf);
        let last = body.len();
        body.clear();
        body.reserve(last);
        let runtime = self.runtime.as_ref().context("the scraper's runtime")?;
        let took = runtime.block_on(async {
            let started = Instant::now();
            let mut response = self
                .client
                .get(&self.url)
                .send()
                .await?
                .error_for_status()?;
            while let Some(chunk) = response.chunk().await? {
                body.extend_from_slice(&chunk);
            }
            anyhow::Ok(started.elapsed())
        });
        let scrape = took.and_then(|took| Ok(Scrape::parse(std::str::from_utf8(&body)?, took)));
        self.buf = body;
        scrape
    }
}

impl Drop for Scraper {
    /// A runtime dropped in an async context panics; this one has nothing
    /// left to wait for.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What the benchmark reads from one `/metrics` scrape.
#[derive(Debug, Default, Clone)]
pub struct Scrape {
    pub took: Duration,
    pub bytes: usize,
    pub series: usize,
    /// Rounds per target (both results), keyed by the target's labels.
    pub rounds: std::collections::HashMap<String, u64>,
    pub failed: u64,
    /// `mirrorwatch_parity_analyses_total` by result.
    pub analyses: std::collections::BTreeMap<String, u64>,
    /// `(le, cumulative count)` of the slip histogram.
    pub slip: Vec<(f64, u64)>,
}

impl Scrape {
    fn parse(text: &str, took: Duration) -> Self {
        let mut s = Scrape {
            took,
            bytes: text.len(),
            ..Default::default()
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            s.series += 1;
            let Some((name_labels, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value: f64 = value.parse().unwrap_or(0.0);
            if let Some(result) =
                name_labels.strip_prefix("mirrorwatch_parity_analyses_total{result=\"")
            {
                let result = result.trim_end_matches("\"}").to_string();
                s.analyses.insert(result, value as u64);
            } else if let Some(labels) = name_labels.strip_prefix("mirrorwatch_checks_total{") {
                let target: Vec<&str> = labels
                    .trim_end_matches('}')
                    .split(',')
                    .filter(|l| !l.starts_with("result="))
                    .collect();
                *s.rounds.entry(target.join(",")).or_default() += value as u64;
                if labels.contains("result=\"failed\"") {
                    s.failed += value as u64;
                }
            } else if let Some(le) =
                name_labels.strip_prefix("mirrorwatch_schedule_slip_seconds_bucket{le=\"")
            {
                let le = le.trim_end_matches("\"}");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(0.0)
                };
                s.slip.push((le, value as u64));
            }
        }
        s
    }

    pub fn total_rounds(&self) -> u64 {
        self.rounds.values().sum()
    }
}

/// The `q` quantile of slips between two scrapes, as the upper bound of the
/// histogram bucket it falls in (so "p99 ≤ 1 s" is exact at that bucket).
pub fn slip_quantile(before: &Scrape, after: &Scrape, q: f64) -> Option<f64> {
    let delta: Vec<(f64, u64)> = after
        .slip
        .iter()
        .map(|(le, n)| {
            let old = before
                .slip
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0, |(_, n)| *n);
            (*le, n.saturating_sub(old))
        })
        .collect();
    let total = delta.last()?.1;
    if total == 0 {
        return None;
    }
    let want = (total as f64 * q).ceil() as u64;
    delta.iter().find(|(_, n)| *n >= want).map(|(le, _)| *le)
}
