//! Operations: live reload (SIGHUP and `POST /-/reload`), systemd
//! notifications and watchdog (fake `NOTIFY_SOCKET`), endpoint TLS and basic
//! auth, and the status page and badge over HTTP.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Command;

use rustls::pki_types::pem::PemObject;
use std::time::{Duration, Instant};

use common::*;

fn sighup(d: &Daemon) {
    let ok = Command::new("kill")
        .args(["-HUP", &d.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

fn post(url: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let r = http_client()
            .post(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("POST answers");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    })
}

/// A config over part of the world: main plus the named scenarios.
fn partial_config(env: &Env, listen: &str, scenarios: &[&str]) -> String {
    let full = env
        .world
        .config_toml(listen, &env.ca_file, "1s", "800ms", MAX_LAG);
    let head = full.split("mirrors = [").next().unwrap_or_default();
    let urls: Vec<String> = scenarios
        .iter()
        .map(|n| {
            format!(
                "\"{}\"",
                env.world
                    .scenario(n)
                    .map(|s| s.url.clone())
                    .unwrap_or_default()
            )
        })
        .collect();
    format!("{head}mirrors = [{}]\n", urls.join(", "))
}

fn rounds(status: &serde_json::Value, url: &str) -> u64 {
    target(status, url)
        .and_then(|t| t["rounds"].as_u64())
        .unwrap_or(0)
}

#[test]
fn reload_applies_valid_configs_in_place_and_refuses_broken_ones() {
    let env = start_world();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let path = env.dir.path().join("reload.toml");
    // A second site, which the reload removes (its name need not resolve).
    let extra = "\n[[sites]]\nname = \"extra\"\nmain = \"https://www.extra.test/\"\n";
    std::fs::write(
        &path,
        partial_config(&env, &listen, &["healthy", "expired_cert"]) + extra,
    )
    .expect("write");
    let daemon = start_daemon_with(&path, &listen, &[]);
    wait_ready(&daemon);
    let url = |n: &str| {
        env.world
            .scenario(n)
            .map(|s| s.url.clone())
            .unwrap_or_default()
    };
    let before = wait_for("two rounds everywhere", Duration::from_secs(20), || {
        let s = status_json(&daemon);
        (rounds(&s, &url("main")) >= 2 && rounds(&s, &url("expired_cert")) >= 2).then_some(s)
    });
    let expired_since = target(&before, &url("expired_cert")).map(|t| t["since"].clone());
    let extra_series = "mirrorwatch_round_panics_total{site=\"extra\"}";
    assert!(metrics_text(&daemon).contains(extra_series));

    // Add a mirror, and "break" another: healthy's URL now points at a name that does not resolve.
    let text = partial_config(
        &env,
        &listen,
        &["expired_cert", "noisy_in_sync", "nxdomain"],
    );
    std::fs::write(&path, text).expect("write");
    sighup(&daemon);
    let after = wait_for(
        "the reloaded targets to be checked",
        Duration::from_secs(20),
        || {
            let s = status_json(&daemon);
            let gone = target(&s, &url("nxdomain"))?;
            let noisy = target(&s, &url("noisy_in_sync"))?;
            (gone["state"] == "down" && noisy["state"] == "up").then_some(s)
        },
    );
    assert!(
        target(&after, &url("healthy")).is_none(),
        "removed target still listed"
    );
    let gone = target(&after, &url("nxdomain")).expect("broken target");
    assert_eq!(gone["problems"][0]["kind"], "dns_failure");
    // Unchanged addresses kept their state: the round count did not restart
    // (it was at least 2 before) and `since` is the same.
    assert!(rounds(&after, &url("expired_cert")) >= rounds(&before, &url("expired_cert")));
    assert_eq!(
        target(&after, &url("expired_cert")).map(|t| t["since"].clone()),
        expired_since
    );
    let metrics = metrics_text(&daemon);
    let healthy_label = env
        .world
        .scenario("healthy")
        .map(|s| s.label.clone())
        .unwrap_or_default();
    assert!(
        !metrics.contains(&format!("target=\"{healthy_label}\"")),
        "removed target's series dropped"
    );
    // The removed site's series go too: a site problem raised before the
    // reload would otherwise stay exported (and alerting) for good.
    assert!(
        !metrics.contains("site=\"extra\""),
        "removed site's series dropped"
    );
    assert_eq!(
        metric(&metrics, "mirrorwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );

    // A broken config: the running one stays, the metric drops, the endpoint says why.
    std::fs::write(&path, "[[sites]\nname = \"x\"\n").expect("write");
    sighup(&daemon);
    wait_for("reload failure metric", Duration::from_secs(10), || {
        (metric(
            &metrics_text(&daemon),
            "mirrorwatch_config_last_reload_successful",
            &[],
        ) == Some(0.0))
        .then_some(())
    });
    let (code, body) = post(&format!("{}/-/reload", daemon.base));
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("reload.toml:1:") && body.contains("TOML syntax error"),
        "{body}"
    );
    let s = status_json(&daemon);
    assert!(
        target(&s, &url("noisy_in_sync")).is_some() && target(&s, &url("expired_cert")).is_some()
    );

    // Fixed again through the endpoint.
    std::fs::write(&path, partial_config(&env, &listen, &["expired_cert"])).expect("write");
    let (code, body) = post(&format!("{}/-/reload", daemon.base));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("0 added, 2 removed, 0 restarted"), "{body}");
    assert_eq!(
        metric(
            &metrics_text(&daemon),
            "mirrorwatch_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );
}

#[test]
fn systemd_ready_status_and_watchdog_until_wedged() {
    let env = start_world();
    let socket_path = env.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let listen = format!("127.0.0.1:{}", free_port());
    let path = env.dir.path().join("notify.toml");
    std::fs::write(&path, partial_config(&env, &listen, &["healthy"])).expect("write");
    let notify = socket_path.display().to_string();
    let daemon = start_daemon_with(
        &path,
        &listen,
        &[
            ("NOTIFY_SOCKET", notify.as_str()),
            ("WATCHDOG_USEC", "300000"),
            ("MIRRORWATCH_TEST_WEDGE_AFTER", "3s"),
        ],
    );
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let mut recv = || {
        socket
            .recv(&mut buf)
            .ok()
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    let mut messages: Vec<(Duration, String)> = Vec::new();
    // READY=1 comes once the server is listening.
    wait_for("READY=1", Duration::from_secs(20), || {
        let m = recv()?;
        messages.push((started.elapsed(), m.clone()));
        m.lines().any(|l| l == "READY=1").then_some(())
    });
    let (code, _) = get(&format!("{}/healthz", daemon.base))
        .expect("server answers as soon as READY=1 is sent");
    assert_eq!(code, 200);
    // Watchdog pings keep coming (every ~100 ms) until the wedge at 3 s.
    while started.elapsed() < Duration::from_secs(6) {
        if let Some(m) = recv() {
            messages.push((started.elapsed(), m));
        }
    }
    let pings: Vec<Duration> = messages
        .iter()
        .filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(t, _)| *t)
        .collect();
    let early = pings
        .iter()
        .filter(|t| **t < Duration::from_secs(2))
        .count();
    assert!(early >= 5, "watchdog pings before the wedge: {early}");
    let last = pings.last().copied().unwrap_or_default();
    assert!(
        last < Duration::from_secs(5),
        "pings stopped after the wedge (last at {last:?})"
    );
    assert!(
        messages
            .iter()
            .any(|(_, m)| m.contains("STATUS=") && m.contains("addresses:")),
        "a STATUS= summary line: {messages:?}"
    );
}

#[test]
fn endpoint_tls_and_basic_auth_protect_all_but_health() {
    let env = start_world();
    let (cert_pem, key_pem) = env.world.issue("localhost").expect("server cert");
    let cert = env.dir.path().join("server.pem");
    let key = env.dir.path().join("server.key");
    std::fs::write(&cert, cert_pem).expect("write");
    std::fs::write(&key, key_pem).expect("write");
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let listen = format!("127.0.0.1:{}", free_port());
    let base_config = partial_config(&env, &listen, &["healthy"]);
    let text = base_config.replacen(
        "\n\n[defaults]",
        &format!(
            "\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[server.basic_auth.users]\nops = \"{hash}\"\n\n[defaults]",
            cert.display(),
            key.display()
        ),
        1,
    );
    let path = env.dir.path().join("secure.toml");
    std::fs::write(&path, text).expect("write");
    let _daemon = start_daemon_with(&path, &listen, &[]);
    let base = format!(
        "https://localhost:{}",
        listen.rsplit(':').next().unwrap_or_default()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let client = {
        let mut roots = rustls::RootCertStore::empty();
        for c in
            rustls::pki_types::CertificateDer::pem_slice_iter(env.world.ca_pem.as_bytes()).flatten()
        {
            roots.add(c).expect("CA");
        }
        let tls =
            rustls::ClientConfig::builder_with_provider(mirrorwatch::ground::crypto::provider())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .resolve("localhost", listen.parse().expect("addr"))
            .build()
            .expect("client")
    };
    let fetch = |path: &str, auth: Option<(&str, &str)>| {
        rt.block_on(async {
            let mut req = client
                .get(format!("{base}{path}"))
                .timeout(Duration::from_secs(5));
            if let Some((u, p)) = auth {
                req = req.basic_auth(u, Some(p));
            }
            req.send().await.ok().map(|r| r.status().as_u16())
        })
    };
    wait_for("the HTTPS endpoint", Duration::from_secs(20), || {
        fetch("/healthz", None).filter(|c| *c == 200)
    });
    assert_eq!(
        fetch("/readyz", None).map(|c| c == 200 || c == 503),
        Some(true),
        "readyz stays open"
    );
    assert_eq!(fetch("/metrics", None), Some(401));
    assert_eq!(fetch("/api/v1/status", Some(("ops", "wrong"))), Some(401));
    assert_eq!(fetch("/metrics", Some(("ops", "s3cret"))), Some(200));
    assert_eq!(fetch("/", Some(("ops", "s3cret"))), Some(200));
    // `mirrorwatch status` over TLS with --ca-file and credentials from
    // the environment; wrong credentials cannot ask (exit 2).
    let status = |password: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
            .args([
                "status",
                "--url",
                &format!("{base}/"),
                "--ca-file",
                &env.ca_file,
            ])
            .env("MIRRORWATCH_USER", "ops")
            .env("MIRRORWATCH_PASSWORD", password)
            .output()
            .expect("status runs")
    };
    let out = wait_for(
        "status: the healthy mirror up",
        Duration::from_secs(20),
        || {
            let out = status("s3cret");
            (out.status.code() == Some(0)).then_some(out)
        },
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.lines().count(), 2, "main and one mirror:\n{text}");
    assert!(text.lines().all(|l| l.starts_with("up ")), "{text}");
    let out = status("wrong");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));
}

#[test]
fn status_page_and_badge_show_every_target_escaped() {
    let env = start_world();
    let daemon = start_daemon(&env, "2s", "1500ms");
    wait_ready(&daemon);
    let (code, html) = get(&format!("{}/", daemon.base)).expect("page");
    assert_eq!(code, 200);
    for s in &env.world.scenarios {
        assert!(
            html.contains(&format!("data-url=\"{}\"", s.url)),
            "{} missing from the page",
            s.name
        );
    }
    assert!(
        !html.contains("<img src=x"),
        "hostile title must not become markup"
    );
    assert!(
        html.contains("World News &lt;img src=x onerror="),
        "hostile title shown as text"
    );
    let (code, svg) = get(&format!("{}/badge/world.svg", daemon.base)).expect("badge");
    assert_eq!(code, 200);
    assert!(
        svg.starts_with("<svg") && svg.contains("world: degraded"),
        "{svg}"
    );
    assert_eq!(
        get(&format!("{}/badge/nope.svg", daemon.base)).map(|(c, _)| c),
        Some(404)
    );
}

/// A round that panics costs that round, never the address: the panic
/// shows as `internal_error` on the address, is counted, rounds go on, and
/// the other addresses, `/readyz` and `/healthz` are unaffected.
#[test]
fn a_panicking_round_is_contained_and_shown() {
    let env = start_world();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let path = env.dir.path().join("panic.toml");
    std::fs::write(
        &path,
        partial_config(&env, &listen, &["healthy", "noisy_in_sync"]),
    )
    .expect("write config");
    let healthy = env.world.scenario("healthy").expect("healthy").url.clone();
    let noisy = env
        .world
        .scenario("noisy_in_sync")
        .expect("noisy")
        .url
        .clone();
    let d = start_daemon_with(
        &path,
        &listen,
        &[("MIRRORWATCH_TEST_PANIC_HOST", "www.healthy.test")],
    );
    wait_ready(&d);
    let kinds_of = |status: &serde_json::Value, url: &str| -> Vec<String> {
        target(status, url).map(problem_kinds).unwrap_or_default()
    };
    let first = wait_for(
        "internal_error on the panicking address",
        Duration::from_secs(20),
        || {
            let s = status_json(&d);
            (kinds_of(&s, &healthy) == ["internal_error"]).then_some(s)
        },
    );
    let t = target(&first, &healthy).expect("target");
    assert_eq!(t["state"], "down");
    assert!(
        t["problems"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("test panic"),
        "{t}"
    );
    assert_eq!(
        kinds_of(&first, &noisy),
        Vec::<String>::new(),
        "others unaffected"
    );
    let before = rounds(&first, &healthy);
    wait_for(
        "more rounds of the panicking address",
        Duration::from_secs(20),
        || (rounds(&status_json(&d), &healthy) >= before + 2).then_some(()),
    );
    let text = metrics_text(&d);
    let panics = metric(
        &text,
        "mirrorwatch_round_panics_total",
        &[("site", "world")],
    )
    .unwrap_or(0.0);
    assert!(panics >= 2.0, "panics counted: {panics}");
    assert_eq!(
        metric(
            &text,
            "mirrorwatch_problem",
            &[
                ("target", &env.world.scenario("healthy").expect("s").label),
                ("kind", "internal_error")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(get(&format!("{}/healthz", d.base)).map(|r| r.0), Some(200));
    assert_eq!(get(&format!("{}/readyz", d.base)).map(|r| r.0), Some(200));
}

/// A target task that stops finishing rounds is a stall: `/healthz` names
/// it and the heartbeat (systemd's watchdog) stops.
#[test]
fn a_wedged_target_task_fails_healthz() {
    let env = start_world();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let path = env.dir.path().join("stall.toml");
    std::fs::write(&path, partial_config(&env, &listen, &["healthy"])).expect("write config");
    let d = start_daemon_with(
        &path,
        &listen,
        &[("MIRRORWATCH_TEST_STALL_HOST", "www.healthy.test")],
    );
    wait_ready(&d);
    assert_eq!(get(&format!("{}/healthz", d.base)).map(|r| r.0), Some(200));
    // interval 1 s + timeout 0.8 s + 5 s of slack. On a loaded machine
    // another task may be reported late for a moment first (CI once saw
    // the main site's, its rounds starved for 10 s by the other tests):
    // what must come is a report that names the wedged one.
    let body = wait_for(
        "/healthz to report the wedged task's stall",
        Duration::from_secs(30),
        || {
            get(&format!("{}/healthz", d.base))
                .filter(|(c, b)| *c == 503 && b.contains("www.healthy.test"))
                .map(|(_, b)| b)
        },
    );
    assert!(body.contains("stalled"), "{body}");
}

/// A reload validates off the daemon's main loop: SIGTERM during a slow
/// reload (a 300,000-site config) still stops the daemon within 5 s.
#[test]
fn sigterm_during_a_slow_reload_exits_within_five_seconds() {
    let env = start_world();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let path = env.dir.path().join("slow.toml");
    std::fs::write(&path, partial_config(&env, &listen, &["healthy"])).expect("write config");
    let mut d = start_daemon_with(&path, &listen, &[]);
    wait_ready(&d);
    let mut big = format!("[server]\nlisten = \"{listen}\"\n");
    for i in 0..300_000 {
        big.push_str(&format!(
            "[[sites]]\nname = \"s{}\"\nmain = \"https://a{i}.test/\"\n",
            i % 1000
        ));
    }
    std::fs::write(&path, big).expect("write big config");
    sighup(&d);
    std::thread::sleep(Duration::from_millis(300));
    let ok = Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let started = Instant::now();
    let status = wait_for("the daemon to exit", Duration::from_secs(30), || {
        d.child.try_wait().ok().flatten()
    });
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(status.success(), "{status:?}");
}

#[test]
fn history_lists_transitions_newest_first_and_paginates() {
    let env = start_world();
    let daemon = start_daemon(&env, "1s", "800ms");
    wait_ready(&daemon);
    let gone = &env
        .world
        .scenario("nxdomain")
        .expect("nxdomain scenario")
        .label;
    let api = |query: &str| {
        let (code, body) =
            get(&format!("{}/api/v1/history?{query}", daemon.base)).expect("history");
        let json = serde_json::from_str::<serde_json::Value>(&body).ok();
        (code, json, body)
    };
    let (code, json, body) = api(&format!("target={gone}"));
    assert_eq!(code, 200, "{body}");
    let json = json.expect("JSON");
    let events: Vec<(String, String)> = json["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            let what = match e["event"].as_str() {
                Some("state") => format!(
                    "{}->{}",
                    e["from"].as_str().unwrap_or(""),
                    e["to"].as_str().unwrap_or("")
                ),
                _ => e["kind"].as_str().unwrap_or("").to_string(),
            };
            (e["event"].as_str().unwrap_or("").to_string(), what)
        })
        .collect();
    assert_eq!(
        events,
        [
            ("state".to_string(), "unknown->down".to_string()),
            ("raised".to_string(), "dns_failure".to_string()),
        ],
        "newest first"
    );
    assert!(json.get("next_before").is_none(), "one page holds both");
    // One per page: the cursor leads to the older one, then ends.
    let (_, first, _) = api(&format!("target={gone}&limit=1"));
    let first = first.expect("JSON");
    assert_eq!(first["events"][0]["event"], "state");
    let cursor = first["next_before"].as_i64().expect("a next page");
    let (_, second, _) = api(&format!("target={gone}&limit=1&before={cursor}"));
    let second = second.expect("JSON");
    assert_eq!(second["events"][0]["event"], "raised");
    assert!(second.get("next_before").is_none());
    // Bad parameters are refused with the reason.
    let (code, _, body) = api("since=yesterday");
    assert_eq!(code, 400);
    assert!(body.contains("since"), "{body}");
    assert_eq!(api("limit=0").0, 400);
    assert_eq!(api("since=1h").0, 200);
    // The page lists the same events, with markup from outside escaped.
    let (code, html) = get(&format!("{}/history?site=world", daemon.base)).expect("page");
    assert_eq!(code, 200);
    assert!(html.contains("data-event=\"raised\""));
    assert!(!html.contains("<img src=x"), "details are text");
}
