//! Many instances as vantages, with a real Prometheus and a real
//! Alertmanager (Debian packages `prometheus` and
//! `prometheus-alertmanager`, on loopback ports). Two daemons run with
//! different `--vantage` names and different views of the world: `de`
//! asks the honest resolver, `ir` a resolver that points a mirror at an
//! interception box. Prometheus scrapes both with the shipped rules (their
//! `for:` shortened), and the shipped "blocked from one vantage only"
//! alert fires for that mirror, naming `ir`. Both daemons push to one
//! Alertmanager: a site alert both raise shows once there, while each
//! vantage's address alert shows on its own.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod common;
use common::*;

const REQUIRE: &str = "MIRRORWATCH_REQUIRE_PROMETHEUS";

/// The shipped rules with every `for:` at 0s, so a test need not wait
/// minutes; the expressions are the shipped ones.
fn rules_without_for() -> String {
    let shipped = include_str!("../deploy/prometheus/alerts.yml");
    shipped
        .lines()
        .map(|l| match l.split_once("for: ") {
            Some((indent, _)) if indent.trim().is_empty() => format!("{indent}for: 0s"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn daemon_config(env: &Env, listen: &str, resolver: &str, am: &str) -> String {
    format!(
        "[server]\nlisten = \"{listen}\"\n\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         resolvers = [\"{resolver}\"]\nca_file = \"{}\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\n\
         [[sites]]\nname = \"news\"\nmain = \"{}\"\nmirrors = [\"{}\"]\n\n\
         [[sites]]\nname = \"gone\"\nmain = \"{}\"\n\n\
         [alerting]\nresend_interval = \"2s\"\n[[alerting.alertmanager]]\nurl = \"{am}\"\n",
        env.ca_file,
        env.world.url("www.main.test"),
        env.world.url("www.tampered.test"),
        env.world.url("www.gone.test"),
    )
}

fn spawn(bin: &str, args: &[String]) -> Guard {
    Guard(
        Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} starts: {e}")),
    )
}

fn json(url: &str) -> Option<Value> {
    let (code, body) = get(url)?;
    (code == 200).then(|| serde_json::from_str(&body).ok())?
}

#[test]
fn two_instances_as_vantages_one_prometheus_one_alertmanager() {
    let Some(prom_bin) = tool_or_skip(&["prometheus"], REQUIRE, "prometheus") else {
        return;
    };
    let Some(am_bin) = tool_or_skip(
        &["prometheus-alertmanager", "alertmanager"],
        REQUIRE,
        "prometheus-alertmanager",
    ) else {
        return;
    };
    let env = start_world();
    let dir = env.dir.path();

    let am_port = free_port();
    let am_dir = dir.join("am");
    std::fs::create_dir_all(&am_dir).expect("am dir");
    std::fs::write(
        am_dir.join("alertmanager.yml"),
        "route:\n  receiver: blackhole\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: blackhole\n",
    )
    .expect("write");
    let _am = spawn(
        &am_bin,
        &[
            format!(
                "--config.file={}",
                am_dir.join("alertmanager.yml").display()
            ),
            format!("--storage.path={}", am_dir.display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
    );
    let am = format!("http://127.0.0.1:{am_port}");

    let mut daemons = Vec::new();
    let mut listens = Vec::new();
    for (vantage, resolver) in [
        ("de", env.world.dns.to_string()),
        ("ir", env.world.tamper_dns.to_string()),
    ] {
        let listen = format!("127.0.0.1:{}", free_port());
        let path = dir.join(format!("{vantage}.toml"));
        std::fs::write(&path, daemon_config(&env, &listen, &resolver, &am)).expect("config");
        daemons.push(start_daemon_args(
            &path,
            &["--vantage", vantage],
            &listen,
            &[],
        ));
        listens.push(listen);
    }

    let prom_port = free_port();
    let prom_dir = dir.join("prom");
    std::fs::create_dir_all(&prom_dir).expect("prom dir");
    std::fs::write(prom_dir.join("alerts.yml"), rules_without_for()).expect("rules");
    let targets: Vec<String> = listens.iter().map(|l| format!("'{l}'")).collect();
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - alerts.yml\n\
             scrape_configs:\n  - job_name: mirrorwatch\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .expect("prometheus.yml");
    let _prom = spawn(
        &prom_bin,
        &[
            format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", prom_dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
    );
    let prom = format!("http://127.0.0.1:{prom_port}");

    let mirror = format!("www.tampered.test:{}", env.world.port);
    let alert = wait_for(
        "MirrorBlockedFromOneVantage firing in Prometheus",
        Duration::from_secs(90),
        || {
            let doc = json(&format!("{prom}/api/v1/alerts"))?;
            doc["data"]["alerts"]
                .as_array()?
                .iter()
                .find(|a| {
                    a["labels"]["alertname"] == "MirrorBlockedFromOneVantage"
                        && a["labels"]["target"] == mirror.as_str()
                        && a["state"] == "firing"
                })
                .cloned()
        },
    );
    assert_eq!(
        alert["annotations"]["description"],
        format!(
            "{mirror} is down from ir and reachable from the others: blocked there, or that vantage's network is broken."
        )
    );
    // The main site is up from both: the rule names only the mirror.
    let doc = json(&format!("{prom}/api/v1/alerts")).expect("alerts");
    let blocked: Vec<&Value> = doc["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["labels"]["alertname"] == "MirrorBlockedFromOneVantage")
        .collect();
    assert_eq!(blocked.len(), 1, "{blocked:?}");

    // Alertmanager: the site alert both instances raise shows once; the
    // address alert shows once per vantage.
    wait_for("alerts in Alertmanager", Duration::from_secs(30), || {
        let list = json(&format!("{am}/api/v2/alerts"))?;
        let list = list.as_array()?;
        let named = |name: &str| {
            list.iter()
                .filter(|a| a["labels"]["alertname"] == name && a["labels"]["site"] == "gone")
                .collect::<Vec<_>>()
        };
        let site = named("SiteAllAddressesDown");
        let mut vantages: Vec<&str> = named("MirrorDnsFailure")
            .iter()
            .filter_map(|a| a["labels"]["vantage"].as_str())
            .collect();
        vantages.sort_unstable();
        (site.len() == 1 && vantages == ["de", "ir"]).then_some(())
    });
}
