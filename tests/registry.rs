//! The registry stage on loopback: the world's RDAP server (with its
//! bootstrap file) and WHOIS server answer per registered domain from
//! fixtures. Single queries show what each answer becomes (facts, or
//! "no answer" for 404, 429, malformed, 5 MB and slow answers); the daemon
//! test shows the kinds, metrics, status and history, and that a restart
//! asks nothing until a domain is due.

use std::sync::OnceLock;
use std::time::Duration;

use mirrorwatch::checks::registry::{self, QueryError, Servers, Source};
use mirrorwatch::world::registry::{Fixture, RegistryWorld};

mod common;
use common::*;

struct Reg {
    env: Env,
    registry: RegistryWorld,
}

fn reg() -> &'static Reg {
    static REG: OnceLock<Reg> = OnceLock::new();
    REG.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let env = start_world();
        let registry = env
            .rt
            .block_on(RegistryWorld::start(&[
                ("active.test", Fixture::Active),
                ("client.test", Fixture::ClientHold),
                ("server.test", Fixture::ServerHold),
                ("soon.test", Fixture::Expiring(10)),
                ("missing.test", Fixture::NotFound),
                ("busyreg.test", Fixture::RateLimited(120)),
                ("broken.test", Fixture::Malformed),
                ("huge.test", Fixture::Huge),
                ("slow.test", Fixture::Slow),
                // The daemon test's domains.
                ("main.test", Fixture::Active),
                ("healthy.test", Fixture::ClientHold),
                ("noisy.test", Fixture::Expiring(10)),
                ("hostile.test", Fixture::NotFound),
                // The probe test's.
                ("stale.test", Fixture::ClientHold),
                // The shutdown test's: answers after 30 s.
                ("redirect.test", Fixture::Slow),
            ]))
            .expect("registry world");
        Reg { env, registry }
    })
}

/// One query for `domain` with the world's bootstrap (or the one without
/// `.test`, so WHOIS answers).
fn ask(domain: &str, whois: bool) -> Result<(registry::DomainFacts, Source), QueryError> {
    let r = reg();
    r.env.rt.block_on(async {
        let client = reqwest::Client::new();
        let url = if whois {
            r.registry.bootstrap_without_test_url()
        } else {
            r.registry.bootstrap_url()
        };
        let url = url::Url::parse(&url).expect("url");
        let (bootstrap, _) = registry::fetch_bootstrap(&client, &url, Duration::from_secs(2))
            .await
            .expect("bootstrap fetched and parsed");
        let servers = Servers {
            bootstrap,
            rdap: Default::default(),
            whois: [("test".to_string(), r.registry.whois.to_string())].into(),
        };
        registry::query(&client, &servers, domain, Duration::from_secs(1)).await
    })
}

fn days_left(expiry: Option<i64>) -> i64 {
    let now = mirrorwatch::ground::time::unix(std::time::SystemTime::now()) as i64;
    (expiry.expect("expiry") - now) / 86400
}

#[test]
fn rdap_answers_become_facts() {
    let (f, source) = ask("active.test", false).expect("answer");
    assert_eq!(source, Source::Rdap("127.0.0.1".into()));
    assert_eq!(
        f.statuses,
        Some(vec![
            "active".to_string(),
            "client transfer prohibited".to_string()
        ])
    );
    assert_eq!(f.registrar.as_deref(), Some("World Registrar"));
    assert_eq!(
        f.nameservers,
        Some(vec![
            "ns1.active.test".to_string(),
            "ns2.active.test".to_string()
        ])
    );
    assert!((364..=365).contains(&days_left(f.expiry)));
    assert_eq!(f.holds(), Some(vec![]));

    let (f, _) = ask("client.test", false).expect("answer");
    assert_eq!(f.holds(), Some(vec!["client hold"]));
    let (f, _) = ask("server.test", false).expect("answer");
    assert_eq!(f.holds(), Some(vec!["server hold"]));
    let (f, _) = ask("soon.test", false).expect("answer");
    assert!((9..=10).contains(&days_left(f.expiry)));
}

#[test]
fn what_is_not_an_answer_is_no_answer() {
    let failed = |domain: &str| match ask(domain, false) {
        Err(QueryError::Failed { message, .. }) => message,
        other => panic!("{domain}: {other:?}"),
    };
    assert!(failed("missing.test").contains("HTTP 404"));
    assert!(failed("broken.test").contains("not JSON"));
    assert!(failed("huge.test").contains("larger than"));
    assert!(failed("slow.test").contains("no answer within 1s"));
    assert_eq!(
        ask("busyreg.test", false),
        Err(QueryError::RateLimited {
            server: "127.0.0.1".into(),
            retry_after: Some(Duration::from_secs(120)),
        })
    );
}

#[test]
fn whois_answers_where_rdap_has_no_server() {
    let (f, source) = ask("soon.test", true).expect("answer");
    assert_eq!(source, Source::Whois(reg().registry.whois.to_string()));
    // WHOIS gives a date: its midnight is 9 to 10 days away, or just under
    // 9 when the answer came before midnight UTC and this check after it.
    assert!((8..=10).contains(&days_left(f.expiry)), "{:?}", f.expiry);
    assert_eq!(f.statuses, None, "the .ir style lists no status: unknown");
    assert_eq!(
        f.nameservers,
        Some(vec![
            "ns1.soon.test".to_string(),
            "ns2.soon.test".to_string()
        ])
    );
    assert!(
        matches!(ask("missing.test", true), Err(QueryError::Failed { message, .. }) if message.contains("no record"))
    );
}

fn target_of<'a>(status: &'a serde_json::Value, host: &str) -> &'a serde_json::Value {
    status["sites"][0]["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["target"].as_str().is_some_and(|x| x.starts_with(host)))
        .unwrap_or_else(|| panic!("{host} in status"))
}

#[test]
fn the_daemon_judges_registry_facts_keeps_them_across_a_restart_and_records_changes() {
    let r = reg();
    let env = &r.env;
    let db = env.dir.path().join("registry.db");
    let listen = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "[server]\nlisten = \"{listen}\"\n\n[storage]\npath = \"{}\"\n\n{}\n\
         [defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nresolvers = [\"{}\"]\nca_file = \"{}\"\n\
         failure_threshold = 1\nsuccess_threshold = 1\n\n\
         [[sites]]\nname = \"news\"\nmain = \"{}\"\nmirrors = [\"{}\", \"{}\", \"{}\"]\n",
        db.display(),
        r.registry.config_section(),
        env.world.dns,
        env.ca_file,
        env.world.url("www.main.test"),
        env.world.url("www.healthy.test"),
        env.world.url("www.noisy.test"),
        env.world.url("www.hostile.test"),
    );
    let path = env.dir.path().join("registry.toml");
    std::fs::write(&path, &config).expect("config");
    let d = start_daemon_with(&path, &listen, &[]);
    wait_ready(&d);
    let kinds_of = |d: &Daemon, host: &str| problem_kinds(target_of(&status_json(d), host));
    wait_for("registry kinds", Duration::from_secs(20), || {
        let s = status_json(&d);
        let k = |h| problem_kinds(target_of(&s, h));
        (k("www.healthy.test") == ["domain_hold"] && k("www.noisy.test") == ["domain_expiring"])
            .then_some(())
    });
    let s = status_json(&d);
    assert_eq!(
        problem_kinds(target_of(&s, "www.main.test")),
        Vec::<String>::new()
    );
    assert_eq!(
        problem_kinds(target_of(&s, "www.hostile.test")),
        Vec::<String>::new(),
        "a 404 from the registry is no evidence"
    );
    let hostile = &target_of(&s, "www.hostile.test")["registry"];
    assert_eq!(hostile["statuses"], serde_json::Value::Null);
    assert!(
        hostile["error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 404")),
        "{hostile}"
    );
    let held = target_of(&s, "www.healthy.test");
    assert_eq!(held["state"], "down");
    let detail = held["problems"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail
            .starts_with("healthy.test has registry status client hold, per RDAP 127.0.0.1 as of "),
        "{detail}"
    );
    assert_eq!(held["registry"]["registrar"], "World Registrar");
    assert_eq!(target_of(&s, "www.noisy.test")["state"], "degraded");

    let m = metrics_text(&d);
    assert_eq!(
        metric(
            &m,
            "mirrorwatch_domain_status",
            &[("domain", "healthy.test"), ("status", "client hold")]
        ),
        Some(1.0)
    );
    assert!(
        metric(
            &m,
            "mirrorwatch_domain_expiry_timestamp_seconds",
            &[("domain", "noisy.test")]
        )
        .is_some()
    );
    assert_eq!(
        metric(
            &m,
            "mirrorwatch_registry_query_failures_total",
            &[("server", "127.0.0.1")]
        ),
        Some(1.0),
        "the 404, once: one query per domain, not per round"
    );
    assert_eq!(
        metric(
            &m,
            "mirrorwatch_problem",
            &[
                ("target", &format!("www.healthy.test:{}", env.world.port)),
                ("kind", "dns_failure")
            ]
        ),
        Some(0.0)
    );
    let asked =
        ["main.test", "healthy.test", "noisy.test", "hostile.test"].map(|dm| r.registry.asked(dm));
    assert_eq!(asked, [1, 1, 1, 1], "one query per registered domain");

    // A restart asks nothing that is not due, and keeps the problems.
    drop(d);
    r.registry.set("main.test", Fixture::Moved);
    let d = start_daemon_with(&path, &listen, &[]);
    wait_ready(&d);
    assert_eq!(kinds_of(&d, "www.healthy.test"), ["domain_hold"]);
    assert_eq!(
        r.registry.asked("main.test"),
        1,
        "not due: not asked after the restart"
    );

    // Made due (as if the interval had passed): the change is recorded.
    drop(d);
    let conn = rusqlite::Connection::open(&db).expect("db");
    let text: String = conn
        .query_row(
            "SELECT record FROM registry WHERE domain = 'main.test'",
            [],
            |row| row.get(0),
        )
        .expect("stored record");
    let mut rec: serde_json::Value = serde_json::from_str(&text).expect("record JSON");
    rec["next_due"] = 0.into();
    conn.execute(
        "UPDATE registry SET record = ?1 WHERE domain = 'main.test'",
        [rec.to_string()],
    )
    .expect("update");
    drop(conn);
    let d = start_daemon_with(&path, &listen, &[]);
    wait_ready(&d);
    let events = wait_for(
        "registrar change in the history",
        Duration::from_secs(20),
        || {
            let (code, body) = get(&format!("{}/api/v1/history?site=news", d.base))?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let domain: Vec<serde_json::Value> = v["events"]
                .as_array()?
                .iter()
                .filter(|e| e["event"] == "domain")
                .cloned()
                .collect();
            (code == 200 && domain.len() >= 2).then_some(domain)
        },
    );
    let details: Vec<&str> = events.iter().filter_map(|e| e["detail"].as_str()).collect();
    assert!(
        details.contains(&"main.test: registrar changed from World Registrar to Seizure Registrar (RDAP 127.0.0.1)"),
        "{details:?}"
    );
    assert!(
        details.contains(&"main.test: nameservers changed from ns1.main.test, ns2.main.test to ns1.seizedservers.com, ns2.seizedservers.com (RDAP 127.0.0.1)"),
        "{details:?}"
    );
    let m = metrics_text(&d);
    assert!(
        metric(
            &m,
            "mirrorwatch_domain_last_change_timestamp_seconds",
            &[("domain", "main.test"), ("what", "registrar")]
        )
        .is_some()
    );
    assert_eq!(
        metric(
            &m,
            "mirrorwatch_domain_info",
            &[("domain", "main.test"), ("registrar", "Seizure Registrar")]
        ),
        Some(1.0)
    );
    let s = status_json(&d);
    assert!(target_of(&s, "www.main.test")["registry"]["changed"]["nameservers"].is_string());
}

#[test]
fn probe_shows_the_registry_section_with_registry() {
    let r = reg();
    let env = &r.env;
    let run = |host: &str, extra: &[String]| {
        let mut args = vec![
            "probe".to_string(),
            env.world.url(host),
            "--resolver".into(),
            env.world.dns.to_string(),
            "--ca-file".into(),
            env.ca_file.clone(),
            "--timeout".into(),
            "2s".into(),
            "--registry".into(),
        ];
        args.extend_from_slice(extra);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
            .args(&args)
            .env("RUST_LOG", "error")
            .output()
            .expect("probe runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = run(
        "www.stale.test",
        &["--registry-bootstrap".into(), r.registry.bootstrap_url()],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("PROBLEM domain_hold [critical]: stale.test has registry status client hold"),
        "{text}"
    );
    assert!(
        text.contains("REGISTRY  stale.test\n  source      RDAP 127.0.0.1\n"),
        "{text}"
    );
    assert!(text.contains("  statuses    client hold\n"), "{text}");
    let (code, text) = run(
        "www.flappy.test",
        &[
            "--registry-bootstrap".into(),
            r.registry.bootstrap_without_test_url(),
            "--whois-server".into(),
            format!("test={}", r.registry.whois),
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("  source      WHOIS {}\n", r.registry.whois)),
        "{text}"
    );
    assert!(text.contains("  statuses    unknown\n"), "{text}");
    assert!(
        text.contains("not judged this round: domain_hold"),
        "{text}"
    );
}

/// The main page's announced alternate addresses against the watched
/// mirrors: one announced and watched, one announced and not watched
/// (`mirror_unwatched`), one watched and not announced
/// (`mirror_withdrawn`); notices only, no address's state moves.
/// The tests that use the announcing page (one changes what it lists).
fn announcer() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn announced_mirrors_are_compared_with_the_watched_ones() {
    let _page = announcer();
    let r = reg();
    let env = &r.env;
    let hook = start_webhook(format!("127.0.0.1:{}", free_port()).parse().expect("addr"));
    let listen = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "[server]\nlisten = \"{listen}\"\n\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nresolvers = [\"{}\"]\nca_file = \"{}\"\n\
         failure_threshold = 1\nsuccess_threshold = 1\n\n\
         [[sites]]\nname = \"news\"\nmain = \"{}\"\nmirrors = [\"{}\", \"{}\"]\n\n\
         [[alerting.webhook]]\nurl = \"http://{}/hook\"\n",
        env.world.dns,
        env.ca_file,
        env.world.url(mirrorwatch::world::ANNOUNCER_HOST),
        env.world.url("www.healthy.test"),
        env.world.url("www.flappy.test"),
        hook.addr,
    );
    let path = env.dir.path().join("announce.toml");
    std::fs::write(&path, config).expect("config");
    let d = start_daemon_with(&path, &listen, &[]);
    wait_ready(&d);
    let site = wait_for("announcement notices", Duration::from_secs(20), || {
        let s = status_json(&d);
        let site = s["sites"][0].clone();
        (site["problems"].as_array()?.len() == 2).then_some(site)
    });
    let problems: Vec<(String, String, String)> = site["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let f = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (f("kind"), f("severity"), f("detail"))
        })
        .collect();
    assert_eq!(
        problems,
        vec![
            (
                "mirror_unwatched".to_string(),
                "info".to_string(),
                format!(
                    "the main page announces www.fresh-mirror.test:{} as alternate addresses; not watched",
                    env.world.port
                )
            ),
            (
                "mirror_withdrawn".to_string(),
                "info".to_string(),
                "watched as mirrors, no longer announced by the main page: www.flappy.test"
                    .to_string()
            ),
        ]
    );
    assert_eq!(
        site["announced"],
        serde_json::json!([
            {"host": format!("www.healthy.test:{}", env.world.port), "watched": true},
            {"host": format!("www.fresh-mirror.test:{}", env.world.port), "watched": false},
        ])
    );
    for host in ["www.announcer.test", "www.healthy.test", "www.flappy.test"] {
        assert_eq!(
            target_of(&status_json(&d), host)["state"],
            "up",
            "{host}: notices move no state"
        );
    }
    let m = metrics_text(&d);
    assert_eq!(
        metric(
            &m,
            "mirrorwatch_site_problem",
            &[("site", "news"), ("kind", "mirror_unwatched")]
        ),
        Some(1.0)
    );
    wait_for("MirrorUnwatched alert", Duration::from_secs(10), || {
        let got = hook.got.lock().expect("lock");
        got.iter()
            .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
            .any(|a| {
                a["labels"]["alertname"] == "MirrorUnwatched" && a["labels"]["severity"] == "info"
            })
            .then_some(())
    });
}

/// `discover = "watch"`: announced hosts become mirrors at run time,
/// marked `discovered`, judged like any mirror (the one that does not
/// resolve is `dns_failure`), kept across a restart, and dropped once
/// withdrawn for `discover_grace`.
#[test]
fn discovered_mirrors_are_watched_kept_across_a_restart_and_dropped_when_withdrawn() {
    let _page = announcer();
    let r = reg();
    let env = &r.env;
    let db = env.dir.path().join("discover.db");
    let listen = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "[server]\nlisten = \"{listen}\"\n\n[storage]\npath = \"{}\"\n\n{}\n\
         [defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nresolvers = [\"{}\"]\nca_file = \"{}\"\n\
         failure_threshold = 1\nsuccess_threshold = 1\n\n\
         [[sites]]\nname = \"news\"\nmain = \"{}\"\ndiscover = \"watch\"\ndiscover_grace = \"2s\"\n",
        db.display(),
        r.registry.config_section(),
        env.world.dns,
        env.ca_file,
        env.world.url(mirrorwatch::world::ANNOUNCER_HOST),
    );
    let path = env.dir.path().join("discover.toml");
    std::fs::write(&path, config).expect("config");
    let healthy = format!("www.healthy.test:{}", env.world.port);
    let fresh = format!("www.fresh-mirror.test:{}", env.world.port);
    let mirrors = |d: &Daemon| -> Vec<(String, bool, String, Vec<String>)> {
        let s = status_json(d);
        s["sites"][0]["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["role"] == "mirror")
            .map(|t| {
                (
                    t["target"].as_str().unwrap_or_default().to_string(),
                    t["discovered"] == true,
                    t["state"].as_str().unwrap_or_default().to_string(),
                    problem_kinds(t),
                )
            })
            .collect()
    };
    let d = start_daemon_with(&path, &listen, &[]);
    wait_ready(&d);
    // healthy.test is on client hold at the world's registry: a
    // discovered mirror is asked about like any other.
    let want = vec![
        (
            healthy.clone(),
            true,
            "down".to_string(),
            vec!["domain_hold".to_string()],
        ),
        (
            fresh.clone(),
            true,
            "down".to_string(),
            vec!["dns_failure".to_string()],
        ),
    ];
    wait_for("discovered mirrors judged", Duration::from_secs(30), || {
        (mirrors(&d) == want).then_some(())
    });
    assert!(
        r.registry.asked("fresh-mirror.test") >= 1,
        "the discovered mirror's registry is asked"
    );
    assert_eq!(
        status_json(&d)["sites"][0]["problems"],
        serde_json::json!([]),
        "every announced host is watched"
    );

    drop(d);
    let d = start_daemon_with(&path, &listen, &[]);
    wait_for("the API answers", Duration::from_secs(20), || {
        get(&format!("{}/api/v1/status", d.base)).filter(|(c, _)| *c == 200)
    });
    // Before any round: the discovered mirrors are there from the store.
    let listed: Vec<String> = mirrors(&d).into_iter().map(|m| m.0).collect();
    assert_eq!(
        listed,
        [healthy.clone(), fresh.clone()],
        "kept across the restart"
    );

    env.world.set_announced(1);
    let left = wait_for(
        "the withdrawn mirror dropped after the grace",
        Duration::from_secs(30),
        || {
            let m = mirrors(&d);
            (m.len() == 1).then_some(m)
        },
    );
    env.world.set_announced(2);
    assert_eq!(left[0].0, healthy);
}

/// SIGTERM stops the daemon within 5 s while a registry query hangs.
#[test]
fn a_hanging_registry_query_does_not_hold_shutdown() {
    let r = reg();
    let env = &r.env;
    let listen = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "[server]\nlisten = \"{listen}\"\n\n[registry]\nbootstrap_url = \"{}\"\ntimeout = \"60s\"\n\n\
         [defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nresolvers = [\"{}\"]\nca_file = \"{}\"\n\n\
         [[sites]]\nname = \"news\"\nmain = \"{}\"\n",
        r.registry.bootstrap_url(),
        env.world.dns,
        env.ca_file,
        env.world.url("www.redirect.test"),
    );
    let path = env.dir.path().join("hang.toml");
    std::fs::write(&path, config).expect("config");
    let mut d = start_daemon_with(&path, &listen, &[]);
    wait_for("the slow query under way", Duration::from_secs(20), || {
        (r.registry.asked("redirect.test") > 0).then_some(())
    });
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let started = std::time::Instant::now();
    let status = wait_for("the daemon to exit", Duration::from_secs(30), || {
        d.child.try_wait().ok().flatten()
    });
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(status.success(), "{status:?}");
}
