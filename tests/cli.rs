//! The command line: `check-config` error reporting and exit codes, `run`
//! refusing a bad config, and `probe` against the simulated world.

mod common;

use std::process::{Command, Output};

fn mirrorwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("mirrorwatch runs")
}

fn check_config(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).expect("write");
    let out = mirrorwatch(&["check-config", path.to_str().expect("utf-8 path")]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SITE: &str = "[[sites]]\nname = \"a\"\nmain = \"https://www.a.test/\"\n";

#[test]
fn shipped_config_is_valid() {
    let out = mirrorwatch(&[
        "check-config",
        concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/mirrorwatch.toml"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 sites, 2 addresses"));
}

/// Each bad config exits 2 and names the key path and `file:line:column`.
#[test]
fn each_config_error_names_key_line_and_column() {
    let cases: [(&str, String, &str, &str); 6] = [
        (
            "unknown key",
            format!("{SITE}colour = \"red\"\n"),
            "bad.toml:4:1:",
            "unknown field `colour`",
        ),
        (
            "bad duration",
            format!("[defaults]\ninterval = \"soon\"\n{SITE}"),
            "bad.toml:2:12: defaults.interval:",
            "not a duration",
        ),
        (
            "bad URL",
            "[[sites]]\nname = \"a\"\nmain = \"https://\"\n".into(),
            "bad.toml:3:8: sites[0].main:",
            "not a URL",
        ),
        (
            "duplicate site",
            format!("{SITE}{SITE}"),
            "bad.toml:5:8: sites[1].name:",
            "duplicate site name `a`",
        ),
        (
            "bad resolver",
            format!("[defaults]\nresolvers = [\"127.0.0.1\", \"dns.example\"]\n{SITE}"),
            "bad.toml:2:27: defaults.resolvers[1]:",
            "not a resolver",
        ),
        (
            "TOML syntax error",
            format!("{SITE}mirrors = [\"https://b.test/\"\n"),
            "bad.toml:4:29:",
            "unclosed array",
        ),
    ];
    for (what, text, location, message) in cases {
        let (code, stderr) = check_config(&text);
        assert_eq!(code, Some(2), "{what}: exit code; stderr: {stderr}");
        assert!(
            stderr.contains(location),
            "{what}: {stderr:?} lacks {location:?}"
        );
        assert!(
            stderr.contains(message),
            "{what}: {stderr:?} lacks {message:?}"
        );
    }
}

#[test]
fn every_value_problem_is_reported_not_just_the_first() {
    let text = "[defaults]\ntimeout = \"x\"\nfailure_threshold = 0\n[[sites]]\nname = \"a b\"\nmain = \"ftp://a.test/\"\nmirrors = [\"https://ok.test/\", \"nope\"]\npaths = [\"index.html\"]\n";
    let (code, stderr) = check_config(text);
    assert_eq!(code, Some(2));
    for key in [
        "defaults.timeout",
        "defaults.failure_threshold",
        "sites[0].name",
        "sites[0].main",
        "sites[0].mirrors[1]",
        "sites[0].paths[0]",
    ] {
        assert!(
            stderr.contains(&format!(": {key}:")),
            "{key} missing from:\n{stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 6, "one line per problem:\n{stderr}");
}

#[test]
fn run_refuses_a_bad_config_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nlisten = \"nowhere\"\n").expect("write");
    let out = mirrorwatch(&["run", "--config", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.listen"));
}

#[test]
fn probe_reports_and_exits_by_state() {
    let env = common::start_world();
    let resolver = env.world.dns.to_string();
    // `probe` against a world host with the world's resolver and CA, plus `extra` flags.
    let probe_with = |host: &str, extra: &[&str]| {
        let url = env.world.url(host);
        let mut args = vec![
            "probe",
            url.as_str(),
            "--resolver",
            resolver.as_str(),
            "--ca-file",
            env.ca_file.as_str(),
            "--timeout",
            "2s",
        ];
        args.extend_from_slice(extra);
        let out = mirrorwatch(&args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let probe = |host: &str, json: bool| probe_with(host, if json { &["--json"] } else { &[] });
    let (code, text) = probe("www.healthy.test", false);
    assert_eq!(code, Some(0), "healthy probe:\n{text}");
    assert!(
        text.contains("state: up") && text.contains("GET / -> 200"),
        "{text}"
    );
    assert!(
        text.contains("TLSv1_3") || text.contains("TLSv1_2"),
        "TLS version shown:\n{text}"
    );

    let (code, text) = probe("www.expired.test", false);
    assert_eq!(code, Some(1), "expired probe:\n{text}");
    assert!(
        text.contains("PROBLEM tls_invalid") && text.contains("certificate expired"),
        "{text}"
    );

    let (code, json) = probe("www.unavailable.test", true);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&json).expect("probe --json is JSON");
    assert_eq!(v["state"], "down");
    assert_eq!(v["problems"][0]["kind"], "http_error");
    assert_eq!(v["report"]["http"][0]["status"], 503);

    // With --reference the URL is judged as a mirror, parity included.
    let main = env.world.url(mirrorwatch::world::MAIN_HOST);
    let with_ref = |host: &str| probe_with(host, &["--reference", main.as_str()]);
    let (code, text) = with_ref("www.noisy.test");
    assert_eq!(code, Some(0), "noisy mirror:\n{text}");
    assert!(
        text.contains("PARITY against")
            && text.contains("title match true")
            && text.contains("missing articles 0"),
        "{text}"
    );
    // The frozen mirror lacks what main published since the world began
    // (one article every 3 s): the probe names the oldest it lacks, read
    // back from the probe's own store (parity keeps no paths).
    let parity = common::wait_for(
        "the probe to find articles missing from the frozen mirror",
        std::time::Duration::from_secs(30),
        || {
            let (_, json) = probe_with("www.stale.test", &["--reference", main.as_str(), "--json"]);
            let v: serde_json::Value = serde_json::from_str(&json).ok()?;
            let p = v["parity"]["paths"][0].clone();
            (p["missing_articles"].as_u64()? > 0).then_some(p)
        },
    );
    let oldest = parity["oldest_missing"].as_str().unwrap_or_default();
    assert!(oldest.starts_with("/Detail/"), "{parity}");
    let (code, text) = with_ref("www.parked.test");
    assert_eq!(code, Some(1), "parked mirror:\n{text}");
    assert!(
        text.contains("PROBLEM content_mismatch") && text.contains("title match false"),
        "{text}"
    );

    // Encrypted resolvers take --ca-file too: the world's DoT answers, the
    // self-signed one is shown with why it was refused.
    let dot = env.world.encrypted.dot_spec();
    let untrusted = format!(
        "tls://{}#{}",
        env.world.encrypted.dot_untrusted,
        mirrorwatch::world::resolvers::DNS_HOST
    );
    let (code, text) = probe_with(
        "www.healthy.test",
        &["--resolver", dot.as_str(), "--resolver", untrusted.as_str()],
    );
    assert_eq!(code, Some(0), "probe through DoT:\n{text}");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("DoT ")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("Answered") && lines[0].contains("127.0.0.1"),
        "{text}"
    );
    assert!(
        lines[1].contains("Unreachable")
            && lines[1].contains("certificate not trusted for dns.test"),
        "{text}"
    );
}

#[test]
fn shards_split_the_sites_between_instances() {
    use mirrorwatch::config::Shard;
    let dir = tempfile::tempdir().expect("tempdir");
    let names: Vec<String> = (0..8).map(|i| format!("site-{i}")).collect();
    let mut seen: Vec<String> = Vec::new();
    for index in 0..2 {
        let listen = format!("127.0.0.1:{}", common::free_port());
        // IP-literal addresses on refused loopback ports: no DNS, no traffic
        // beyond 127.0.0.1.
        let mut config = format!(
            "[server]\nlisten = \"{listen}\"\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nresolvers = [\"127.0.0.1:9\"]\n"
        );
        for (i, n) in names.iter().enumerate() {
            config.push_str(&format!(
                "[[sites]]\nname = \"{n}\"\nmain = \"https://127.0.0.1:{}/\"\n",
                i + 1
            ));
        }
        let path = dir.path().join(format!("shard-{index}.toml"));
        std::fs::write(&path, config).expect("write");
        let shard = format!("{index}/2");
        let d = common::start_daemon_args(&path, &["--shard", &shard], &listen, &[]);
        let status = common::wait_for("status", std::time::Duration::from_secs(10), || {
            let (code, body) = common::get(&format!("{}/api/v1/status", d.base))?;
            (code == 200).then_some(body)
        });
        let status: serde_json::Value = serde_json::from_str(&status).expect("JSON");
        let mine: Vec<String> = status["sites"]
            .as_array()
            .expect("sites")
            .iter()
            .filter_map(|s| s["name"].as_str().map(str::to_string))
            .collect();
        let want: Shard = shard.parse().expect("shard");
        let expected: Vec<String> = names.iter().filter(|n| want.owns(n)).cloned().collect();
        assert_eq!(mine, expected, "shard {shard}");
        seen.extend(mine);
    }
    seen.sort();
    let mut all = names.clone();
    all.sort();
    assert_eq!(seen, all, "every site on exactly one shard");
}

#[test]
fn a_bad_shard_is_refused_with_exit_code_2() {
    let out = mirrorwatch(&["run", "--shard", "2/2", "--config", "/nonexistent.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shard"));
}

/// Absurd values that used to crash `run` (duration overflow, a negative
/// certificate window, an endless CA file) are config errors with key,
/// line and column; echoed values are cut short.
#[test]
fn absurd_configs_are_refused_with_positions_and_short_messages() {
    let (code, err) = check_config(&format!(
        "[defaults]\ninterval = \"500000000000y\"\ntimeout = \"500000000000y\"\ncert_warning = \"99999999999d\"\n\
         ca_file = \"/dev/zero\"\n[storage]\nretention = \"500000000000y\"\n{SITE}"
    ));
    assert_eq!(code, Some(2), "{err}");
    for (key, line) in [
        ("defaults.interval", 2),
        ("defaults.timeout", 3),
        ("defaults.cert_warning", 4),
        ("defaults.ca_file", 5),
        ("storage.retention", 7),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!(":{line}:")) && l.contains(key)),
            "{key} at line {line}:\n{err}"
        );
    }
    assert!(err.contains("out of range"), "{err}");
    assert!(
        err.contains("larger than"),
        "the CA file read is capped:\n{err}"
    );
    let huge = "x".repeat(10 << 20);
    let (code, err) = check_config(&format!(
        "[[sites]]\nname = \"{huge}\"\nmain = \"https://a.test/\"\n"
    ));
    assert_eq!(code, Some(2));
    assert!(err.len() < 4096, "a 10 MB name echoed: {} bytes", err.len());
}

/// 100,000 duplicate site names: every error reported with its position,
/// in linear time (this used to rescan the file per error).
#[test]
fn a_hundred_thousand_errors_are_reported() {
    let mut text = String::with_capacity(6 << 20);
    for _ in 0..100_000 {
        text.push_str("[[sites]]\nname = \"dup\"\nmain = \"https://a.test/\"\n");
    }
    let started = std::time::Instant::now();
    let (code, err) = check_config(&text);
    assert_eq!(code, Some(2));
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("duplicate site name"))
            .count(),
        99_999
    );
    assert!(
        err.contains(":299999:"),
        "the last duplicate's line is named"
    );
    eprintln!("100,000-site check-config: {:?}", started.elapsed());
}

#[test]
fn demo_console_carries_no_dependency_chatter_by_default() {
    // Without RUST_LOG, dependency crates log at warn: the demo world's DNS
    // server used to print a line per query at info, hundreds a minute,
    // over the daemon's own lines.
    let listen = format!("127.0.0.1:{}", common::free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("stderr.log");
    let child = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(["demo", "--listen", &listen])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("demo starts");
    let demo = common::Daemon {
        child,
        base: format!("http://{listen}"),
    };
    // Ready once every address has finished a round: every resolver of
    // the world has been asked by then.
    common::wait_ready(&demo);
    drop(demo);
    let text = std::fs::read_to_string(&log).expect("log");
    let chatter: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("hickory") || l.contains("rustls") || l.contains("hyper"))
        .collect();
    assert!(
        chatter.is_empty(),
        "{} dependency lines, e.g. {:?}",
        chatter.len(),
        chatter.first()
    );
    assert!(
        text.contains("mirrorwatch::"),
        "mirrorwatch's own lines still show:\n{text}"
    );
    // State changes, one line each with from, to and the problems; rounds
    // themselves are not logged.
    let changed = |host: &str| -> Vec<&str> {
        text.lines()
            .filter(|l| l.contains("state changed") && l.contains("site=world") && l.contains(host))
            .collect()
    };
    // The demo's second site watches the healthy mirror from a censoring
    // vantage too; its lines name that vantage.
    assert!(
        text.lines().any(|l| l.contains("site=abroad")
            && l.contains("vantage=censored-net")
            && l.contains("to=\"down\"")),
        "{text}"
    );
    let healthy = changed("www.healthy.test");
    assert_eq!(healthy.len(), 1, "{healthy:?}");
    assert!(
        healthy[0].contains("from=\"unknown\"") && healthy[0].contains("to=\"up\""),
        "{healthy:?}"
    );
    let seized = changed("www.seized.test");
    assert_eq!(seized.len(), 1, "{seized:?}");
    assert!(
        seized[0].contains("to=\"down\"") && seized[0].contains("seized"),
        "{seized:?}"
    );
}

#[test]
fn status_prints_every_address_and_exits_by_state() {
    let env = common::start_world();
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let config = env
        .world
        .config_toml(&listen, &env.ca_file, "1s", "800ms", common::MAX_LAG);
    let path = env.dir.path().join("status.toml");
    std::fs::write(&path, config).expect("write config");
    let daemon = common::start_daemon_with(&path, &listen, &[]);
    common::wait_ready(&daemon);
    let status = |extra: &[&str]| {
        let mut args = vec!["status", "--config", path.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        let out = mirrorwatch(&args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // The world has addresses that are down: exit 1, one line each, no
    // colour when stdout is not a terminal.
    let (code, text) = status(&[]);
    assert_eq!(code, Some(1), "{text}");
    let watched = env.world.scenarios.len();
    assert_eq!(text.lines().count(), watched, "{text}");
    assert!(!text.contains('\x1b'));
    let gone = text
        .lines()
        .find(|l| l.contains("www.gone.test"))
        .expect("nxdomain line");
    assert!(
        gone.starts_with("down ") && gone.contains("dns_failure"),
        "{gone}"
    );
    let (code, json) = status(&["--json"]);
    assert_eq!(code, Some(1));
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), watched);
    assert!(rows.iter().all(|r| r["site"] == "world"));
    drop(daemon);
    // Nobody listening: exit 2.
    let out = mirrorwatch(&[
        "status",
        "--url",
        &format!("http://{listen}/"),
        "--timeout",
        "2s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mirrorwatch status:"));
}

#[test]
fn assets_are_a_man_page_per_command_and_completions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mirrorwatch(&["assets", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "_mirrorwatch",
            "mirrorwatch-check-config.1",
            "mirrorwatch-demo.1",
            "mirrorwatch-probe.1",
            "mirrorwatch-run.1",
            "mirrorwatch-status.1",
            "mirrorwatch.1",
            "mirrorwatch.bash",
            "mirrorwatch.fish",
        ]
    );
    let page = std::fs::read_to_string(dir.path().join("mirrorwatch.1")).expect("page");
    assert!(page.contains(".TH mirrorwatch 1"), "{page}");
    assert!(
        page.contains("mirrorwatch\\-status"),
        "status listed:\n{page}"
    );
    let status = std::fs::read_to_string(dir.path().join("mirrorwatch-status.1")).expect("page");
    assert!(status.contains("\\-\\-ca\\-file"), "{status}");
    let bash = std::fs::read_to_string(dir.path().join("mirrorwatch.bash")).expect("bash");
    assert!(bash.contains("check-config") && bash.contains("status"));
}

/// Vantage mistakes are config errors at their key, and `run --vantage`
/// cannot name a vantage the config turns off or already has.
#[test]
fn vantage_errors_name_key_line_and_column() {
    let text = "local = false\n\n[[vantages]]\nname = \"uk\"\nproxy = \"socks5h://proxy.test:1080\"\n\n\
                [[vantages]]\nname = \"uk\"\nproxy = \"socks5://127.0.0.1:1080\"\n\n\
                [[vantages]]\nname = \"tor\"\nproxy = \"socks4://127.0.0.1:9050\"\n\n\
                [[sites]]\nname = \"a\"\nmain = \"https://a.test/\"\nvantages = [\"tor\", \"mars\"]\n";
    let (code, stderr) = check_config(text);
    assert_eq!(code, Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "one line per problem, the unusable vantage leaves no trace beyond its own:\n{stderr}"
    );
    for (location, message) in [
        (
            "bad.toml:5:9: vantages[0].proxy:",
            "must be given by IP address",
        ),
        (
            "bad.toml:8:8: vantages[1].name:",
            "duplicate vantage name `uk`",
        ),
        (
            "bad.toml:13:9: vantages[2].proxy:",
            "unsupported proxy scheme `socks4`",
        ),
        (
            "bad.toml:18:20: sites[0].vantages[1]:",
            "`mars` is not a vantage",
        ),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(location) && l.contains(message)),
            "{location} {message} missing from:\n{stderr}"
        );
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("off.toml");
    std::fs::write(
        &path,
        format!(
            "local = false\n[[vantages]]\nname = \"uk\"\nproxy = \"socks5h://127.0.0.1:1\"\n{SITE}"
        ),
    )
    .expect("write");
    let out = mirrorwatch(&[
        "run",
        "--config",
        path.to_str().expect("utf-8"),
        "--vantage",
        "de",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--vantage names the local vantage"));
}

/// `[registry]` mistakes name their key, line and column.
#[test]
fn registry_errors_name_key_line_and_column() {
    let text = format!(
        "[registry]\ninterval = \"10m\"\nbootstrap_url = \"ftp:\"\nwhois_servers = {{ ir = \"whois.nic.ir\" }}\nconcurrency = 0\n\n{SITE}domain_warning = \"soon\"\n"
    );
    let (code, stderr) = check_config(&text);
    assert_eq!(code, Some(2), "{stderr}");
    for (location, message) in [
        ("bad.toml:2:12: registry.interval:", "out of range"),
        ("bad.toml:3:17: registry.bootstrap_url:", ""),
        (
            "bad.toml:4:",
            "registry.whois_servers.ir: `whois.nic.ir` is not HOST:PORT",
        ),
        ("bad.toml:5:15: registry.concurrency:", "expected 1 to 64"),
        ("bad.toml:10:18: sites[0].domain_warning:", "not a duration"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(location) && l.contains(message)),
            "{location} {message} missing from:\n{stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 5, "{stderr}");
}

/// Discovery needs announcements, and a known mode.
#[test]
fn discover_errors_name_key_line_and_column() {
    let text = format!(
        "{SITE}discover = \"maybe\"\n\n[[sites]]\nname = \"b\"\nmain = \"https://www.b.test/\"\nannounce = false\ndiscover = \"watch\"\ndiscover_grace = \"0s\"\n"
    );
    let (code, stderr) = check_config(&text);
    assert_eq!(code, Some(2), "{stderr}");
    for (location, message) in [
        (
            "bad.toml:4:12: sites[0].discover:",
            "`maybe` is not a discovery mode",
        ),
        (
            "bad.toml:10:12: sites[1].discover:",
            "it needs announce = true",
        ),
        ("bad.toml:11:18: sites[1].discover_grace:", "out of range"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(location) && l.contains(message)),
            "{location} {message} missing from:\n{stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
}
