//! Figures 3 and 4: many addresses at a long interval (CPU, RSS, schedule
//! slip), then `/metrics` scraped every second, by turns by a scraper kept
//! from scrape to scrape (as Prometheus's is) and by a client made for the
//! one scrape.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::Plan;
use crate::daemon::{Daemon, Scraper, Watch, slip_quantile};
use crate::procs::{cpu_seconds, status_kib};
use crate::world::BenchWorld;

/// Figures 3 and 4.
pub struct Scale {
    addresses: usize,
    ready_after: Duration,
    cpu_share: f64,
    rss_kib: u64,
    hwm_kib: u64,
    slip_p99_quiet: Option<f64>,
    slip_p99_scraping: Option<f64>,
    rounds_min: u64,
    rounds_max: u64,
    rounds_expected: f64,
    failed: u64,
    /// The kept scraper's scrapes.
    scrape_p50: Duration,
    scrape_max: Duration,
    /// The scrapes of a client made for each.
    fresh_p50: Duration,
    fresh_max: Duration,
    scrape_bytes: usize,
    scrape_series: usize,
    scrape_cpu_share: f64,
}

pub async fn scale(
    world: &BenchWorld,
    plan: &Plan,
    dir: &std::path::Path,
) -> anyhow::Result<Scale> {
    let watch = Watch {
        addresses: plan.scale,
        mirrors: plan.mirrors,
        interval: plan.interval,
        timeout: Duration::from_secs(10),
    };
    let d = Daemon::start(world, dir, "scale", &watch).await?;
    let ready_after = d.started.elapsed();
    println!(
        "scale: {} addresses ready after {:.1} s",
        plan.scale,
        ready_after.as_secs_f64()
    );
    let m0 = d.metrics().await?;
    let c0 = cpu_seconds(d.guard.pid())?;
    tokio::time::sleep(plan.quiet).await;
    let c1 = cpu_seconds(d.guard.pid())?;
    let rss_kib = status_kib(d.guard.pid(), "VmRSS")?;
    let m1 = d.metrics().await?;
    println!(
        "scale: quiet window done, CPU {:.1}% of a core",
        (c1 - c0) / plan.quiet.as_secs_f64() * 100.0
    );

    let mut took = Vec::new();
    let mut fresh = Vec::new();
    let mut last = m1.clone();
    let mut kept = Some(Scraper::of(&d)?);
    let s0 = Instant::now();
    let c2 = cpu_seconds(d.guard.pid())?;
    while s0.elapsed() < plan.scraping {
        let tick = Instant::now();
        // By turns, so that both kinds see the same daemon at the same
        // rate of one scrape a second.
        if took.len() <= fresh.len() {
            let mut scraper = kept.take().context("the kept scraper")?;
            let (scraper, scrape) = tokio::task::spawn_blocking(move || {
                let scrape = scraper.scrape();
                (scraper, scrape)
            })
            .await?;
            kept = Some(scraper);
            last = scrape?;
            took.push(last.took);
        } else {
            last = d.metrics().await?;
            fresh.push(last.took);
        }
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed())).await;
    }
    let c3 = cpu_seconds(d.guard.pid())?;
    let (scrape_p50, scrape_max) = p50_max(&mut took);
    let (fresh_p50, fresh_max) = p50_max(&mut fresh);
    let per_target: Vec<u64> = last
        .rounds
        .iter()
        .map(|(t, n)| n - m0.rounds.get(t).copied().unwrap_or(0))
        .collect();
    let measured = plan.quiet + s0.elapsed();
    Ok(Scale {
        addresses: last.rounds.len(),
        ready_after,
        cpu_share: (c1 - c0) / plan.quiet.as_secs_f64(),
        rss_kib,
        hwm_kib: status_kib(d.guard.pid(), "VmHWM")?,
        slip_p99_quiet: slip_quantile(&m0, &m1, 0.99),
        slip_p99_scraping: slip_quantile(&m1, &last, 0.99),
        rounds_min: per_target.iter().copied().min().unwrap_or(0),
        rounds_max: per_target.iter().copied().max().unwrap_or(0),
        rounds_expected: measured.as_secs_f64() / plan.interval.as_secs_f64(),
        failed: last.failed - m0.failed,
        scrape_p50,
        scrape_max,
        fresh_p50,
        fresh_max,
        scrape_bytes: last.bytes,
        scrape_series: last.series,
        scrape_cpu_share: (c3 - c2) / s0.elapsed().as_secs_f64(),
    })
}

/// The median and the largest of `took` (zero when empty).
fn p50_max(took: &mut [Duration]) -> (Duration, Duration) {
    took.sort();
    (
        took.get(took.len() / 2).copied().unwrap_or_default(),
        took.last().copied().unwrap_or_default(),
    )
}

impl Scale {
    pub fn rows(&self, plan: &Plan, row: &dyn Fn(&str, String, String, String, String)) {
        let na = || "-".to_string();
        let secs = |s: Option<f64>| s.map_or("none".into(), |s| format!("<= {s} s"));
        row(
            &format!(
                "3. addresses at {} s ({} mirrors/site)",
                plan.interval.as_secs(),
                plan.mirrors
            ),
            self.addresses.to_string(),
            na(),
            na(),
            format!("ready after {:.0} s", self.ready_after.as_secs_f64()),
        );
        row(
            &format!(
                "3. rounds per address in {:.0} s",
                self.rounds_expected * plan.interval.as_secs_f64()
            ),
            format!("{}..{}", self.rounds_min, self.rounds_max),
            na(),
            na(),
            format!(
                "expected ~{:.1}; {} failed",
                self.rounds_expected, self.failed
            ),
        );
        row(
            "3. schedule slip p99",
            secs(self.slip_p99_quiet),
            na(),
            na(),
            "< 1 s".into(),
        );
        row(
            "3. CPU, % of one core",
            format!("{:.1}%", self.cpu_share * 100.0),
            na(),
            na(),
            "< 25%".into(),
        );
        row(
            "3. RSS (peak)",
            format!("{:.0} MB", self.rss_kib as f64 / 1024.0),
            na(),
            na(),
            format!("< 200 MB (peak {:.0} MB)", self.hwm_kib as f64 / 1024.0),
        );
        row(
            "3. memory per address",
            format!(
                "{:.1} KB",
                self.rss_kib as f64 / self.addresses.max(1) as f64
            ),
            na(),
            na(),
            "RSS / addresses".into(),
        );
        row(
            &format!(
                "4. /metrics ({} series, {} MB)",
                self.scrape_series,
                self.scrape_bytes / 1_000_000
            ),
            format!("{:.0} ms p50", self.scrape_p50.as_secs_f64() * 1000.0),
            na(),
            na(),
            format!(
                "kept client, max {:.0} ms (p50 < 50 ms)",
                self.scrape_max.as_secs_f64() * 1000.0
            ),
        );
        row(
            "4. /metrics, new client each scrape",
            format!("{:.0} ms p50", self.fresh_p50.as_secs_f64() * 1000.0),
            na(),
            na(),
            format!(
                "max {:.0} ms (every other scrape)",
                self.fresh_max.as_secs_f64() * 1000.0
            ),
        );
        row(
            "4. slip p99 while scraping every 1 s",
            secs(self.slip_p99_scraping),
            na(),
            na(),
            format!("< 1 s; CPU {:.1}%", self.scrape_cpu_share * 100.0),
        );
    }
}
