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
    // Read while it runs: a DOM larger than the pipe's buffer would
    // otherwise block chromium's write, and it would never exit.
    let reader = guard.0.stdout.take().map(|mut stdout| {
        std::thread::spawn(move || {
            use std::io::Read;
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        })
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while guard.0.try_wait().ok().flatten().is_none() {
        assert!(
            Instant::now() < deadline,
            "chromium did not finish within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.and_then(|r| r.join().ok()).unwrap_or_default()
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
        let row = row_of(&dom, url);
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

    // Bars and sparklines: wait until the uptime refresh has filled the
    // bars, then every row has 24 hourly and 7 daily cells, the current
    // hour coloured by the worst state the address has had, and a
    // sparkline with one point per recent round.
    wait_for("bars filled", Duration::from_secs(60), || {
        let s = status_json(&demo);
        s["sites"][0]["targets"]
            .as_array()?
            .iter()
            .all(|t| !t["uptime"]["24h"].is_null())
            .then_some(())
    });
    let dom = run_chromium(&bin, profile.path(), &["--dump-dom"], &url);
    for t in &targets {
        let url = t["url"].as_str().expect("url");
        let row = row_of(&dom, url);
        let bar = |which: &str| -> Vec<String> {
            let part = row
                .split(&format!("class=\"bar {which}\""))
                .nth(1)
                .and_then(|b| b.split("</div>").next())
                .unwrap_or_else(|| panic!("{url}: no {which} bar"));
            let declared: usize = part
                .split("data-cells=\"")
                .nth(1)
                .and_then(|n| n.split('"').next())
                .and_then(|n| n.parse().ok())
                .expect("data-cells");
            let classes: Vec<String> = part
                .split("<span class=\"")
                .skip(1)
                .filter_map(|c| c.split('"').next().map(str::to_string))
                .collect();
            assert_eq!(classes.len(), declared, "{url} {which}");
            classes
        };
        let hours = bar("hours");
        assert_eq!(hours.len(), 24, "{url}");
        assert_eq!(bar("days").len(), 7, "{url}");
        let now_cell = hours.last().expect("current hour");
        if t["state"] == "down" && t["problems"][0]["kind"] == "dns_failure" {
            assert_eq!(now_cell, "down", "{url}: down since its first round");
        }
        assert_ne!(now_cell, "nodata", "{url}: rounds this hour");
        let rounds: usize = row
            .split("data-rounds=\"")
            .nth(1)
            .and_then(|n| n.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{url}: no sparkline"));
        let points = row
            .split("<polyline points=\"")
            .nth(1)
            .and_then(|p| p.split('"').next())
            .expect("polyline");
        assert!(rounds >= 1, "{url}");
        assert_eq!(points.split_whitespace().count(), rounds, "{url}");
    }

    // Screenshots of the page and of /history, light and dark; the dark
    // ones really are dark (the page background), the light ones light.
    for (page, name) in [
        (url.clone(), "status-page"),
        (format!("{}/history", demo.base), "history"),
    ] {
        for dark in [false, true] {
            let file = if dark {
                format!("{name}-dark.png")
            } else {
                format!("{name}.png")
            };
            let shot = profile.path().join(&file);
            let mut args = vec![
                format!("--screenshot={}", shot.display()),
                "--window-size=1400,1800".to_string(),
                "--hide-scrollbars".to_string(),
            ];
            if dark {
                args.push("--force-dark-mode".into());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_chromium(&bin, profile.path(), &args, &page);
            let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
            assert!(size > 10_000, "{file} saved ({size} bytes)");
            let luma = corner_luma(&shot);
            if dark {
                assert!(luma < 60, "{file}: background luma {luma}, not dark");
            } else {
                assert!(luma > 200, "{file}: background luma {luma}, not light");
            }
            publish(&shot, &file);
        }
    }
    let (code, history) = get(&format!("{}/history", demo.base)).expect("history page");
    assert_eq!(code, 200);
    assert!(
        history.contains("data-event=\"state\""),
        "transitions listed"
    );
}

/// The rendered `<tr>` of the address `url` (up to the next row).
fn row_of<'a>(dom: &'a str, url: &str) -> &'a str {
    dom.split("<tr")
        .find(|r| r.contains(&format!("data-url=\"{url}\"")))
        .unwrap_or_else(|| panic!("{url} not on the page"))
}

/// The luma (0-255) of a screenshot's top-left pixel: the page background.
fn corner_luma(path: &std::path::Path) -> u32 {
    let file = std::fs::File::open(path).expect("screenshot");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "an RGB screenshot");
    let (r, g, b) = (u32::from(buf[0]), u32::from(buf[1]), u32::from(buf[2]));
    let _ = channels;
    (299 * r + 587 * g + 114 * b) / 1000
}

/// Moves a screenshot into `target/artifacts/` (the CI artefacts).
fn publish(shot: &std::path::Path, file: &str) {
    let artefact = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/artifacts")
        .join(file);
    std::fs::create_dir_all(artefact.parent().expect("parent")).expect("artifacts dir");
    let staged = artefact.with_extension(format!("{}.png", std::process::id()));
    std::fs::copy(shot, &staged).expect("stage screenshot");
    std::fs::rename(&staged, &artefact).expect("publish screenshot");
}
