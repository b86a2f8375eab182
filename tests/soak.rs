//! Soak: the daemon watching the whole world (every hostile scenario, a
//! mirror that flaps every 7 s) at a 1 s interval for
//! `MIRRORWATCH_SOAK_SECONDS` (default 120; 1800 for the long run).
//! Asserts resident memory grows less than 10% after warm-up, file
//! descriptors come back to their baseline, and every state change is one
//! the world explains (the flapping mirror, between `up` and `down` with
//! `http_error`; the frozen mirror, once, to `content_stale`, and within
//! 25 minutes to `content_mismatch` as well). Prints the figures.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

fn seconds() -> u64 {
    std::env::var("MIRRORWATCH_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120)
}

fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(&pid.to_string(), "VmRSS")
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// (state, problem kinds) per target URL.
fn states(d: &Daemon) -> BTreeMap<String, (String, Vec<String>)> {
    let s = status_json(d);
    s["sites"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|site| site["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            let kinds = problem_kinds(&t);
            (
                t["url"].as_str().unwrap_or_default().to_string(),
                (t["state"].as_str().unwrap_or_default().to_string(), kinds),
            )
        })
        .collect()
}

#[test]
fn soak_memory_fds_and_state_changes_stay_explained() {
    let env = start_world();
    let d = start_daemon(&env, "1s", "800ms");
    let pid = d.child.id();
    wait_ready(&d);
    let flappy = env.world.scenario("flappy").expect("flappy").url.clone();
    let stale = env.world.scenario("stale").expect("stale").url.clone();
    let total = Duration::from_secs(seconds());
    let warmup = total / 4;
    let started = Instant::now();
    let mut last = states(&d);
    let mut changes = 0usize;
    let mut flaps = 0usize;
    let mut down = false;
    let mut next_flap = Instant::now() + Duration::from_secs(7);
    let (mut baseline_rss, mut baseline_fds) = (0u64, 0usize);
    let mut samples: Vec<(Duration, u64, usize)> = Vec::new();
    while started.elapsed() < total {
        std::thread::sleep(Duration::from_millis(500));
        if Instant::now() >= next_flap {
            down = !down;
            env.world.set_flappy_down(down);
            next_flap = Instant::now() + Duration::from_secs(7);
        }
        let now = states(&d);
        for (url, (state, kinds)) in &now {
            let (was, _) = &last[url];
            if was == state {
                continue;
            }
            changes += 1;
            // The frozen mirror falls behind once, after the start; once
            // main's articles and those gone since it froze number more
            // than 512 (under 25 min at one every 3 s) its links are no
            // longer main's as far as mirrorwatch remembers, and it reads
            // as another page too.
            if url == &stale
                && ((state == "degraded" && kinds == &["content_stale"])
                    || (state == "down" && kinds == &["content_mismatch", "content_stale"]))
            {
                continue;
            }
            assert_eq!(
                url, &flappy,
                "{url}: {was} -> {state} {kinds:?} unexplained"
            );
            match state.as_str() {
                "down" => assert_eq!(kinds, &["http_error"], "flappy down for another reason"),
                "up" => assert!(kinds.is_empty()),
                other => panic!("flappy went {other}"),
            }
            flaps += 1;
        }
        last = now;
        let at = started.elapsed();
        let (rss, fd) = (rss_kib(pid), fds(pid));
        if baseline_rss == 0 && at >= warmup {
            (baseline_rss, baseline_fds) = (rss, fd);
        }
        samples.push((at, rss, fd));
    }
    env.world.set_flappy_down(false);
    let end: Vec<_> = samples
        .iter()
        .filter(|(at, _, _)| *at >= total - total / 4)
        .collect();
    let end_rss = end.iter().map(|s| s.1).max().unwrap_or(0);
    let min_end_fds = end.iter().map(|s| s.2).min().unwrap_or(0);
    let peak_rss = samples.iter().map(|s| s.1).max().unwrap_or(0);
    eprintln!(
        "soak {}s: RSS baseline {baseline_rss} KiB, end {end_rss} KiB ({:+.1}%), peak {peak_rss} KiB; \
         fds baseline {baseline_fds}, lowest at the end {min_end_fds}; {changes} state changes ({flaps} flaps)",
        total.as_secs(),
        (end_rss as f64 / baseline_rss.max(1) as f64 - 1.0) * 100.0
    );
    assert!(flaps >= 2, "the flapping mirror was seen flapping: {flaps}");
    assert!(
        end_rss * 10 <= baseline_rss * 11,
        "RSS grew more than 10%: {baseline_rss} -> {end_rss} KiB"
    );
    assert!(
        min_end_fds <= baseline_fds + 4,
        "file descriptors did not come back: {baseline_fds} -> {min_end_fds}"
    );
}
