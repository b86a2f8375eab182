//! The status page in a real browser: `mirrorwatch demo` (the simulated
//! world plus the daemon), loaded by headless Chromium; assertions run on the
//! rendered DOM (`--dump-dom`), and a screenshot is saved to
//! `target/artifacts/status-page.png`.
//!
//! Without Chromium the test says so and passes, unless
//! `MIRRORWATCH_REQUIRE_BROWSER=1` (CI sets it, after installing Debian's
//! `chromium`), which makes a missing browser a failure.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Runs headless Chromium with `args` + `url`; stdout, killed after 60 s.
fn run_chromium(bin: &str, profile: &std::path::Path, args: &[&str], url: &str) -> String {
    let child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while guard.0.try_wait().ok().flatten().is_none() {
        assert!(
            Instant::now() < deadline,
            "chromium did not finish within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = String::new();
    if let Some(mut stdout) = guard.0.stdout.take() {
        use std::io::Read;
        let _ = stdout.read_to_string(&mut out);
    }
    out
}

#[test]
fn status_page_renders_every_target_and_keeps_hostile_titles_inert() {
    let Some(bin) = tool_or_skip(
        &["chromium", "chromium-browser"],
        "MIRRORWATCH_REQUIRE_BROWSER",
        "chromium",
    ) else {
        return;
    };
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let demo = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(["demo", "--listen", &listen])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("demo starts");
    let demo = Daemon {
        child: demo,
        base: format!("http://{listen}"),
    };
    wait_ready(&demo);
    let status = status_json(&demo);
    let profile = tempfile::tempdir().expect("profile dir");
    let url = format!("{}/", demo.base);
    let dom = run_chromium(&bin, profile.path(), &["--dump-dom"], &url);
    assert!(
        dom.contains("<h1>mirrorwatch</h1>"),
        "rendered page:\n{}",
        &dom[..dom.len().min(2000)]
    );
    let targets: Vec<&serde_json::Value> = status["sites"][0]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .collect();
    assert!(targets.len() >= 17, "the demo watches every scenario");
    for t in &targets {
        let url = t["url"].as_str().expect("url");
        let row = dom
            .split("<tr")
            .find(|r| r.contains(&format!("data-url=\"{url}\"")))
            .unwrap_or_else(|| panic!("{url} not on the page"));
        let state = ["up", "degraded", "down", "unknown"]
            .into_iter()
            .find(|s| row.contains(&format!("data-state=\"{s}\"")))
            .unwrap_or_else(|| panic!("{url} shows no state"));
        if matches!(t["state"].as_str(), Some("down")) && t["problems"][0]["kind"] == "tls_invalid"
        {
            assert_eq!(state, "down", "{url}");
        }
    }
    // The hostile title is text: escaped in the DOM, and its handler never ran.
    assert!(
        dom.contains("World News &lt;img src=x onerror="),
        "hostile title not shown as text"
    );
    let body_tag = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or_default();
    assert!(
        !body_tag.contains("data-pwned"),
        "hostile handler ran: <body{body_tag}>"
    );
    assert!(
        !dom.contains("<img src=\"x\""),
        "hostile markup became an element"
    );

    // Shoot into our own temp dir, check it, then move it into place.
    let shot = profile.path().join("status-page.png");
    run_chromium(
        &bin,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,1800",
            "--hide-scrollbars",
        ],
        &url,
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot saved ({size} bytes)");
    let artefact =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts/status-page.png");
    std::fs::create_dir_all(artefact.parent().expect("parent")).expect("artifacts dir");
    let staged = artefact.with_extension(format!("{}.png", std::process::id()));
    std::fs::copy(&shot, &staged).expect("stage screenshot");
    std::fs::rename(&staged, &artefact).expect("publish screenshot");
}
