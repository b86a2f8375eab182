//! mirrorwatch's performance benchmark (issue 6): CPU per probe against
//! blackbox_exporter and a minimal floor client, 10,000 addresses at a 60 s
//! interval, and `/metrics` under scrape. Loopback only: the world (DNS on
//! 127.0.53.1:53, HTTPS on 127.0.0.1) runs in this process; mirrorwatch,
//! blackbox_exporter and the floor each run as their own process, and each
//! is measured by its own utime + stime from /proc.
//!
//! Run through `bench/run [--quick]`, which installs blackbox_exporter and
//! builds the release binary first. Prints figures; asserts nothing.

mod blackbox;
mod daemon;
mod floor;
mod procs;
mod scale;
mod world;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Semaphore;

use daemon::{Daemon, Watch};
use procs::cpu_seconds;
use scale::scale;
use world::{BenchWorld, Pages};

/// How big and how long.
struct Plan {
    quick: bool,
    /// `--scale-only`: figures 3 and 4 alone (for iterating on them).
    scale_only: bool,
    names: usize,
    /// Figure 1: probes per contender, and their rate.
    probes: usize,
    rate: f64,
    /// Figure 3: addresses, mirrors per site, interval, and the windows
    /// measured without and with a scrape every second.
    scale: usize,
    mirrors: usize,
    interval: Duration,
    quiet: Duration,
    scraping: Duration,
}

impl Plan {
    fn new(args: &[String]) -> Self {
        let quick = args.iter().any(|a| a == "--quick");
        let scale_only = args.iter().any(|a| a == "--scale-only");
        let mirrors = args
            .iter()
            .position(|a| a == "--mirrors")
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(1);
        if quick {
            Plan {
                quick,
                scale_only,
                names: 2_000,
                probes: 2_000,
                rate: 200.0,
                scale: 2_000,
                mirrors,
                interval: Duration::from_secs(10),
                quiet: Duration::from_secs(20),
                scraping: Duration::from_secs(15),
            }
        } else {
            Plan {
                quick,
                scale_only,
                names: 10_000,
                probes: 4_000,
                rate: 100.0,
                scale: 10_000,
                mirrors,
                interval: Duration::from_secs(60),
                quiet: Duration::from_secs(180),
                scraping: Duration::from_secs(120),
            }
        }
    }
}

pub fn mirrorwatch_bin() -> std::path::PathBuf {
    std::env::var_os("MIRRORWATCH_BIN")
        .map(Into::into)
        .unwrap_or_else(|| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/mirrorwatch").into()
        })
}

/// One plain-HTTP client for talking to the contenders' endpoints.
pub fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default()
    })
}

/// Polls `url` every 100 ms until it answers 2xx (true) or `within` has
/// passed (false).
pub async fn answers_ok(url: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = http().get(url).send().await
            && r.status().is_success()
        {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `count` jobs at `rate` per second, at most `concurrency` at once;
/// returns (succeeded, failed).
pub async fn paced<F, Fut>(count: usize, rate: f64, concurrency: usize, job: F) -> (usize, usize)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(concurrency));
    let start = tokio::time::Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for i in 0..count {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let fut = job(i);
        running.spawn(async move {
            let ok = fut.await;
            drop(slot);
            ok
        });
    }
    let (mut ok, mut failed) = (0, 0);
    while let Some(r) = running.join_next().await {
        if r.unwrap_or(false) {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    (ok, failed)
}

/// CPU per probe of one contender.
struct PerProbe {
    cpu: f64,
    ok: usize,
    failed: usize,
    /// mirrorwatch only: pages analysed in the window, by result.
    analyses: String,
}

impl PerProbe {
    fn ms(&self) -> f64 {
        self.cpu / (self.ok + self.failed).max(1) as f64 * 1000.0
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("floor") {
        return floor::main(floor::Args::parse(&args[1..])?);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let plan = Plan::new(&args);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(plan))
}

async fn run(plan: Plan) -> anyhow::Result<()> {
    let began = Instant::now();
    let dir = tempfile::tempdir()?;
    let world = BenchWorld::start(plan.names).await?;
    let ca = world.write_ca(dir.path())?;
    println!(
        "world: {} names, {} byte page, DNS {}, HTTPS 127.0.0.1:{}; {} mode",
        world.names.len(),
        world.page_bytes,
        world::DNS_ADDR,
        world.https_port,
        if plan.quick { "quick" } else { "full" }
    );

    if plan.scale_only {
        world.serve(Pages::Hosted(Duration::from_secs(120)));
        let sc = scale(&world, &plan, dir.path()).await?;
        sc.rows(&plan, &|fig, m, _, _, r| {
            println!("| {fig:<44} | {m:>12} | {r} |")
        });
        return Ok(());
    }
    let dir_path = dir.path();
    let run = |pages, mirrors, what| measured(&plan, &world, dir_path, &ca, pages, mirrors, what);
    if args_has("--steady-only") {
        run(Pages::Hosted(Duration::from_secs(3600)), 1, "steady").await?;
        return Ok(());
    }
    if args_has("--published-only") {
        // Quick windows are 10 s long: a publication every 10 s (every
        // other round) so that each window holds some.
        let every = Duration::from_secs(if plan.quick { 10 } else { 60 });
        let what = format!("a publication every {} s", every.as_secs());
        run(Pages::Hosted(every), 1, &what).await?;
        return Ok(());
    }
    if args_has("--changed-only") {
        run(Pages::Changing, 1, "every page changed").await?;
        return Ok(());
    }
    if args_has("--main-only") {
        run(Pages::Same, 0, "main rounds").await?;
        return Ok(());
    }
    let mw = run(Pages::Same, 0, "main rounds (sites without mirrors)").await?;
    // One mirror per site: half the rounds are mirror rounds. Pages carry
    // the requested host. First no publication during the window: every
    // page is unchanged.
    let hour = Pages::Hosted(Duration::from_secs(3600));
    let steady = run(hour, 1, "sites with a mirror, pages unchanged").await?;
    // Then a publication every 60 s (12 rounds at 5 s): main parses each
    // new page once, a mirror's copy is identical to it, or parsed when
    // the mirror fetched it before main did. Measured over one period
    // (`measured`): one publication per window.
    let minute = Pages::Hosted(Duration::from_secs(60));
    let mixed = run(minute, 1, "sites with a mirror, a publication every 60 s").await?;
    // Every request a new page: every round parses 100 KiB.
    let changed = run(
        Pages::Changing,
        1,
        "sites with a mirror, every page changed",
    )
    .await?;
    world.serve(Pages::Same);
    let bb = blackbox_per_probe(&world, &plan, dir.path(), &ca).await?;
    let bb_floor = floor_per_probe(&world, &plan, &ca)?;
    println!(
        "blackbox_exporter: {:.3} ms CPU per probe ({} ok, {} failed); floor beside it {:.3} ms",
        bb.ms(),
        bb.ok,
        bb.failed,
        bb_floor.ms()
    );
    // The scale test: pages that change every 2 minutes, as a busy
    // homepage's do, on mirrors that follow main.
    world.serve(Pages::Hosted(Duration::from_secs(120)));
    let sc = scale(&world, &plan, dir.path()).await?;

    let row = |fig: &str, m: String, b: String, f: String, ratio: String| {
        println!("| {fig:<44} | {m:>12} | {b:>17} | {f:>8} | {ratio:<26} |");
    };
    println!();
    row(
        "figure",
        "mirrorwatch".into(),
        "blackbox_exporter".into(),
        "floor".into(),
        "ratio (target)".into(),
    );
    println!(
        "|{:-<46}|{:-<14}|{:-<19}|{:-<10}|{:-<28}|",
        "", "", "", "", ""
    );
    // Each window is divided by the floor measured right after it, so a
    // ratio compares two contenders minutes apart at most once.
    row(
        &format!("1-2. main round, CPU ms (N = {})", plan.probes),
        format!("{:.3}", mw.daemon.ms()),
        format!("{:.3}", bb.ms()),
        format!("{:.3}", mw.floor.ms()),
        format!(
            "{:.2}x bb (<= 0.5), {:.2}x floor (<= 1.15)",
            mw.ratio() / (bb.ms() / bb_floor.ms()),
            mw.ratio()
        ),
    );
    // A site with one mirror runs one main and one mirror round per
    // interval: the mirror round is what the pair costs beyond a main
    // round, each in units of its own floor.
    let mirror_row = |figure: &str, pair: &Window, target: &str| {
        let mirror = 2.0 * pair.daemon.ms() - mw.daemon.ms();
        row(
            figure,
            format!("{mirror:.3}"),
            "-".into(),
            format!("{:.3}", pair.floor.ms()),
            format!(
                "{:.2}x floor{target}; pair {:.2}x",
                2.0 * pair.ratio() - mw.ratio(),
                pair.ratio()
            ),
        );
    };
    mirror_row("1. mirror round, page unchanged", &steady, " (<= 1.3)");
    mirror_row("1. mirror round, a publication every 12 rounds", &mixed, "");
    row(
        "1. any round, every page changed (parsed)",
        format!("{:.3}", changed.daemon.ms()),
        "-".into(),
        format!("{:.3}", changed.floor.ms()),
        format!(
            "{:.2}x floor (<= 2.0); changed/unchanged {:.2}x",
            changed.ratio(),
            changed.daemon.ms() / steady.daemon.ms()
        ),
    );
    sc.rows(&plan, &row);
    println!(
        "\nmachine: {} CPUs, {}; took {:.0} s",
        num_cpus(),
        cpu_model(),
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One daemon window and the floor measured right after it.
struct Window {
    daemon: PerProbe,
    floor: PerProbe,
}

impl Window {
    /// The daemon's CPU per round in units of the floor beside it.
    fn ratio(&self) -> f64 {
        self.daemon.ms() / self.floor.ms()
    }
}

/// [`mirrorwatch_per_probe`] with the world serving `pages`, then the floor
/// at the same rate (the world serving its plain page, as for every floor)
/// once the daemon is gone; prints both. This VM shares its host: a floor
/// measured minutes later moved ratios by up to 0.7.
async fn measured(
    plan: &Plan,
    world: &BenchWorld,
    dir: &std::path::Path,
    ca: &std::path::Path,
    pages: Pages,
    mirrors: usize,
    what: &str,
) -> anyhow::Result<Window> {
    world.serve(pages);
    // A window of one publication period holds exactly one publication,
    // whatever its phase (a shorter one held one or none, depending on
    // how long the windows before it took).
    let window = match pages {
        Pages::Hosted(every) if every < Duration::from_secs(600) => every,
        _ => Duration::from_secs_f64(plan.probes as f64 / plan.rate),
    };
    let m = mirrorwatch_per_probe(world, dir, mirrors, plan.rate, window).await?;
    world.serve(Pages::Same);
    let floor = floor_per_probe(world, plan, ca)?;
    println!(
        "mirrorwatch, {what}: {:.3} ms CPU per round ({} ok, {} failed; analyses {}); \
         floor beside it {:.3} ms ({} ok, {} failed): {:.2}x",
        m.ms(),
        m.ok,
        m.failed,
        m.analyses,
        floor.ms(),
        floor.ok,
        floor.failed,
        m.ms() / floor.ms()
    );
    Ok(Window { daemon: m, floor })
}

/// mirrorwatch's CPU per round at `rate` rounds a second over `window`,
/// watching sites with `mirrors` mirrors each.
async fn mirrorwatch_per_probe(
    world: &BenchWorld,
    dir: &std::path::Path,
    mirrors: usize,
    rate: f64,
    window: Duration,
) -> anyhow::Result<PerProbe> {
    let interval = Duration::from_secs(5);
    let watch = Watch {
        addresses: (rate * interval.as_secs_f64()) as usize,
        mirrors,
        interval,
        timeout: Duration::from_secs(5),
    };
    // Each run its own config and state file.
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("per-probe-{run}-{mirrors}");
    let d = Daemon::start(world, dir, &name, &watch).await?;
    // One interval of steady state before measuring.
    tokio::time::sleep(interval).await;
    let m0 = d.metrics().await?;
    let c0 = cpu_seconds(d.guard.pid())?;
    tokio::time::sleep(window).await;
    let c1 = cpu_seconds(d.guard.pid())?;
    let m1 = d.metrics().await?;
    let rounds = m1.total_rounds() - m0.total_rounds();
    let failed = m1.failed - m0.failed;
    let analyses: Vec<String> = m1
        .analyses
        .iter()
        .map(|(k, v)| format!("{k} {}", v - m0.analyses.get(k).copied().unwrap_or(0)))
        .collect();
    Ok(PerProbe {
        cpu: c1 - c0,
        ok: (rounds - failed) as usize,
        failed: failed as usize,
        analyses: analyses.join(", "),
    })
}

async fn blackbox_per_probe(
    world: &BenchWorld,
    plan: &Plan,
    dir: &std::path::Path,
    ca: &std::path::Path,
) -> anyhow::Result<PerProbe> {
    let bb = blackbox::Blackbox::start(dir, ca, Duration::from_secs(5)).await?;
    let urls: Arc<Vec<String>> = Arc::new((0..world.names.len()).map(|i| world.url(i)).collect());
    let probe = |i: usize| blackbox::Blackbox::probe(bb.base.clone(), urls[i % urls.len()].clone());
    // Warm up (Go's runtime and GC settle), then measure.
    paced(200, plan.rate, 64, probe).await;
    let c0 = cpu_seconds(bb.guard.pid())?;
    let (ok, failed) = paced(plan.probes, plan.rate, 64, probe).await;
    let c1 = cpu_seconds(bb.guard.pid())?;
    Ok(PerProbe {
        cpu: c1 - c0,
        ok,
        failed,
        analyses: String::new(),
    })
}

fn floor_per_probe(
    world: &BenchWorld,
    plan: &Plan,
    ca: &std::path::Path,
) -> anyhow::Result<PerProbe> {
    let args = floor::Args {
        dns: world::DNS_ADDR,
        ca: ca.to_path_buf(),
        port: world.https_port,
        names: world.names.len(),
        count: plan.probes,
        rate: plan.rate,
    };
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("floor")
        .args(args.to_vec())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace();
    let mut next = || f.next().context("floor printed nothing");
    Ok(PerProbe {
        cpu: next()?.parse()?,
        ok: next()?.parse()?,
        failed: next()?.parse()?,
        analyses: String::new(),
    })
}

/// Whether the command line has `flag` (for runs that profile one part).
fn args_has(flag: &str) -> bool {
    std::env::args().any(|a| a == flag)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
