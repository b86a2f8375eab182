//! Alerting end to end: a real Alertmanager (Debian's
//! `prometheus-alertmanager`, on a loopback port) and a webhook receiver
//! that is down at first; then restarts (SIGTERM and `kill -9`) that must
//! neither re-fire nor forget a resolve.
//!
//! Without Alertmanager the first test says so and passes, unless
//! `MIRRORWATCH_REQUIRE_ALERTMANAGER=1` (CI sets it after installing it).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn count(events: &[(String, String, String)], status: &str, target: &str) -> usize {
    events
        .iter()
        .filter(|(s, n, t)| s == status && n == "MirrorHttpError" && t == target)
        .count()
}

/// A config watching main + flappy every second, thresholds of 1, with
/// `alerting` appended.
fn config(env: &Env, listen: &str, storage: Option<&Path>, alerting: &str) -> String {
    let full = env
        .world
        .config_toml(listen, &env.ca_file, "1s", "800ms", MAX_LAG);
    let head = full.split("mirrors = [").next().unwrap_or_default();
    let flappy = env
        .world
        .scenario("flappy")
        .map(|s| s.url.clone())
        .unwrap_or_default();
    let storage = storage
        .map(|p| format!("[storage]\npath = \"{}\"\n\n", p.display()))
        .unwrap_or_default();
    format!(
        "{storage}{head}mirrors = [\"{flappy}\"]\n\n[alerting]\nresend_interval = \"2s\"\n{alerting}"
    )
}

/// MirrorHttpError alerts for `target` in Alertmanager: (active count, resolved count).
fn am_alerts(base: &str, target: &str) -> Option<(usize, usize)> {
    let (code, body) = get(&format!("{base}/api/v2/alerts"))?;
    if code != 200 {
        return None;
    }
    let list: Vec<Value> = serde_json::from_str(&body).ok()?;
    let mine: Vec<&Value> = list
        .iter()
        .filter(|a| {
            a["labels"]["alertname"] == "MirrorHttpError" && a["labels"]["target"] == target
        })
        .collect();
    let active = mine
        .iter()
        .filter(|a| a["status"]["state"] == "active")
        .count();
    Some((active, mine.len() - active))
}

#[test]
fn alertmanager_gets_one_alert_and_its_resolve_and_a_late_webhook_loses_nothing() {
    let Some(am_bin) = tool_or_skip(
        &["prometheus-alertmanager", "alertmanager"],
        "MIRRORWATCH_REQUIRE_ALERTMANAGER",
        "prometheus-alertmanager",
    ) else {
        return;
    };
    let env = start_world();
    let am_port = free_port();
    let am_dir = env.dir.path().join("am");
    std::fs::create_dir_all(&am_dir).expect("am dir");
    let am_config = am_dir.join("alertmanager.yml");
    std::fs::write(&am_config, "route:\n  receiver: blackhole\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: blackhole\n").expect("write");
    let _am = Guard(
        Command::new(&am_bin)
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!("--storage.path={}", am_dir.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alertmanager starts"),
    );
    let am = format!("http://127.0.0.1:{am_port}");
    wait_for("alertmanager ready", Duration::from_secs(30), || {
        get(&format!("{am}/-/ready")).filter(|(c, _)| *c == 200)
    });

    let hook_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let listen = format!("127.0.0.1:{}", free_port());
    let alerting = format!(
        "[[alerting.alertmanager]]\nurl = \"{am}\"\n[[alerting.webhook]]\nurl = \"http://{hook_addr}/hook\"\n"
    );
    let path = env.dir.path().join("alerts.toml");
    std::fs::write(&path, config(&env, &listen, None, &alerting)).expect("write");
    let daemon = start_daemon_with(&path, &listen, &[]);
    wait_ready(&daemon);
    let flappy = env
        .world
        .scenario("flappy")
        .map(|s| s.label.clone())
        .unwrap_or_default();

    env.world.set_flappy_down(true);
    wait_for(
        "one active MirrorHttpError in Alertmanager",
        Duration::from_secs(30),
        || am_alerts(&am, &flappy).filter(|(a, _)| *a == 1),
    );
    let (code, body) = get(&format!("{am}/api/v2/alerts")).expect("alerts");
    assert_eq!(code, 200);
    let list: Vec<Value> = serde_json::from_str(&body).expect("json");
    let ours: Vec<&Value> = list
        .iter()
        .filter(|a| a["labels"]["target"] == flappy.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "exactly one alert for the target: {ours:?}");
    let labels = &ours[0]["labels"];
    assert_eq!(labels["alertname"], "MirrorHttpError");
    assert_eq!(labels["site"], "world");
    assert_eq!(labels["role"], "mirror");
    assert_eq!(labels["severity"], "critical");
    assert!(
        ours[0]["annotations"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("503"))
    );
    assert!(
        ours[0]["generatorURL"]
            .as_str()
            .is_some_and(|u| u.starts_with(&daemon.base))
    );

    // The webhook comes up only now: the queued firing notification arrives once.
    std::thread::sleep(Duration::from_secs(2));
    let hook = start_webhook(hook_addr);
    wait_for("the firing webhook", Duration::from_secs(30), || {
        (count(&webhook_events(&hook), "firing", &flappy) == 1).then_some(())
    });

    env.world.set_flappy_down(false);
    wait_for(
        "the alert resolved in Alertmanager",
        Duration::from_secs(30),
        || am_alerts(&am, &flappy).filter(|(a, _)| *a == 0),
    );
    wait_for("the resolved webhook", Duration::from_secs(30), || {
        (count(&webhook_events(&hook), "resolved", &flappy) == 1).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let events = webhook_events(&hook);
    assert_eq!(
        (
            count(&events, "firing", &flappy),
            count(&events, "resolved", &flappy)
        ),
        (1, 1),
        "no duplicates: {events:?}"
    );
    let metrics = metrics_text(&daemon);
    assert!(
        metric(
            &metrics,
            "mirrorwatch_notifications_total",
            &[("receiver", "webhook-0"), ("result", "failed")]
        )
        .is_some_and(|v| v >= 1.0)
    );
    assert!(
        metric(
            &metrics,
            "mirrorwatch_notifications_total",
            &[("receiver", "webhook-0"), ("result", "ok")]
        )
        .is_some_and(|v| v >= 2.0)
    );
    assert!(
        metric(
            &metrics,
            "mirrorwatch_notifications_total",
            &[("receiver", "alertmanager-0"), ("result", "ok")]
        )
        .is_some_and(|v| v >= 2.0)
    );
    assert_eq!(
        metric(&metrics, "mirrorwatch_notification_queue_depth", &[]),
        Some(0.0)
    );
}

fn rounds_of(d: &Daemon, url: &str) -> u64 {
    target(&status_json(d), url)
        .and_then(|t| t["rounds"].as_u64())
        .unwrap_or(0)
}

#[test]
fn restarts_neither_refire_nor_forget_a_resolve() {
    let env = start_world();
    let hook_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let hook = start_webhook(hook_addr);
    let listen = format!("127.0.0.1:{}", free_port());
    let db = env.dir.path().join("state.db");
    let alerting = format!("[[alerting.webhook]]\nurl = \"http://{hook_addr}/hook\"\n");
    let path = env.dir.path().join("restart.toml");
    std::fs::write(&path, config(&env, &listen, Some(&db), &alerting)).expect("write");
    let flappy = env.world.scenario("flappy").cloned().expect("flappy");

    for (round, signal) in [(1, "-TERM"), (2, "-KILL")] {
        let mut daemon = start_daemon_with(&path, &listen, &[]);
        wait_ready(&daemon);
        env.world.set_flappy_down(true);
        wait_for("the firing webhook", Duration::from_secs(30), || {
            (count(&webhook_events(&hook), "firing", &flappy.label) == round).then_some(())
        });
        let ok = Command::new("kill")
            .args([signal, &daemon.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
        wait_for("the daemon to exit", Duration::from_secs(10), || {
            daemon.child.try_wait().ok().flatten()
        });
        drop(daemon);

        let daemon = start_daemon_with(&path, &listen, &[]);
        wait_ready(&daemon);
        let st = status_json(&daemon);
        let t = target(&st, &flappy.url).expect("flappy");
        assert_eq!(
            t["problems"][0]["kind"], "http_error",
            "{signal}: the raised problem survived the restart"
        );
        wait_for(
            "three rounds after the restart",
            Duration::from_secs(20),
            || (rounds_of(&daemon, &flappy.url) >= 3).then_some(()),
        );
        assert_eq!(
            count(&webhook_events(&hook), "firing", &flappy.label),
            round,
            "{signal}: no duplicate firing after restart"
        );

        env.world.set_flappy_down(false);
        wait_for(
            "the resolve after the restart",
            Duration::from_secs(30),
            || (count(&webhook_events(&hook), "resolved", &flappy.label) == round).then_some(()),
        );
        drop(daemon);
    }
}

#[test]
fn removing_an_address_by_reload_resolves_its_alerts() {
    let env = start_world();
    let hook_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let hook = start_webhook(hook_addr);
    let listen = format!("127.0.0.1:{}", free_port());
    let alerting = format!("[[alerting.webhook]]\nurl = \"http://{hook_addr}/hook\"\n");
    let path = env.dir.path().join("retain.toml");
    std::fs::write(&path, config(&env, &listen, None, &alerting)).expect("write");
    let daemon = start_daemon_with(&path, &listen, &[]);
    wait_ready(&daemon);
    let flappy = env.world.scenario("flappy").cloned().expect("flappy");
    env.world.set_flappy_down(true);
    wait_for("the firing webhook", Duration::from_secs(30), || {
        (count(&webhook_events(&hook), "firing", &flappy.label) == 1).then_some(())
    });
    // The mirror leaves the config while its alert fires.
    let without =
        config(&env, &listen, None, &alerting).replace(&format!("\"{}\"", flappy.url), "");
    std::fs::write(&path, without).expect("write");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let code = rt.block_on(async {
        http_client()
            .post(format!("{}/-/reload", daemon.base))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(code.ok(), Some(200));
    wait_for(
        "the resolve of the removed address",
        Duration::from_secs(30),
        || (count(&webhook_events(&hook), "resolved", &flappy.label) == 1).then_some(()),
    );
    assert!(target(&status_json(&daemon), &flappy.url).is_none());
}

/// A webhook that fails, then hangs with the notification received but
/// unanswered while the daemon is killed (-9) mid-delivery: after the
/// restart the firing notification is delivered again (at least once,
/// never lost) and the resolve follows exactly once.
#[test]
fn failing_and_hanging_webhooks_and_kill_9_mid_delivery_lose_nothing() {
    use std::sync::atomic::Ordering::SeqCst;
    let env = start_world();
    let hook_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let hook = start_webhook(hook_addr);
    hook.mode.store(HOOK_FAIL, SeqCst);
    let listen = format!("127.0.0.1:{}", free_port());
    let db = env.dir.path().join("state.db");
    let alerting = format!("[[alerting.webhook]]\nurl = \"http://{hook_addr}/hook\"\n");
    let path = env.dir.path().join("hang.toml");
    std::fs::write(&path, config(&env, &listen, Some(&db), &alerting)).expect("write");
    let flappy = env.world.scenario("flappy").cloned().expect("flappy");
    let mut daemon = start_daemon_with(&path, &listen, &[]);
    wait_ready(&daemon);
    env.world.set_flappy_down(true);
    wait_for("a failed delivery", Duration::from_secs(30), || {
        let m = metrics_text(&daemon);
        let failed = metric(
            &m,
            "mirrorwatch_notifications_total",
            &[("result", "failed")],
        );
        (failed.unwrap_or(0.0) >= 1.0).then_some(())
    });
    hook.mode.store(HOOK_HANG, SeqCst);
    wait_for(
        "the notification to reach the hanging webhook",
        Duration::from_secs(30),
        || (count(&webhook_events(&hook), "firing", &flappy.label) == 1).then_some(()),
    );
    let ok = Command::new("kill")
        .args(["-KILL", &daemon.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let _ = daemon.child.wait();
    hook.mode.store(HOOK_OK, SeqCst);
    daemon = start_daemon_with(&path, &listen, &[]);
    wait_ready(&daemon);
    wait_for(
        "the firing notification again after the restart",
        Duration::from_secs(30),
        || (count(&webhook_events(&hook), "firing", &flappy.label) == 2).then_some(()),
    );
    env.world.set_flappy_down(false);
    wait_for("the resolve", Duration::from_secs(30), || {
        (count(&webhook_events(&hook), "resolved", &flappy.label) == 1).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let events = webhook_events(&hook);
    assert_eq!(count(&events, "firing", &flappy.label), 2, "{events:?}");
    assert_eq!(count(&events, "resolved", &flappy.label), 1, "{events:?}");
    assert!(
        hook.attempts.load(SeqCst) >= 4,
        "failed, hung, then delivered"
    );
    drop(daemon);
}
