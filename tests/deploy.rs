//! The shipped deploy files agree with the daemon: every metric the Grafana
//! dashboard and the Prometheus rules query is one the daemon exports
//! (checked against a running daemon's `/metrics`).

mod common;

use std::collections::BTreeSet;

use common::*;

/// Every `mirrorwatch_*` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("mirrorwatch_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/mirrorwatch.json"
    ))
    .expect("dashboard");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard is valid JSON");
    assert_eq!(dash["uid"], "mirrorwatch");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    let mut exprs: Vec<String> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect();
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(q) = v["query"]["query"].as_str() {
            exprs.push(q.to_string());
        }
    }
    exprs
}

#[test]
fn dashboard_and_rules_query_only_exported_metrics() {
    let exprs = dashboard_exprs();
    let wanted_by_dashboard: BTreeSet<String> =
        exprs.iter().flat_map(|e| metric_names(e)).collect();
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/alerts.yml"
    ))
    .expect("rules");
    let wanted_by_rules = metric_names(&rules);
    for m in [
        "mirrorwatch_state",
        "mirrorwatch_problem",
        "mirrorwatch_tls_cert_not_after_timestamp_seconds",
        "mirrorwatch_content_lag_seconds",
        "mirrorwatch_content_similarity_ratio",
        "mirrorwatch_probe_duration_seconds",
    ] {
        assert!(wanted_by_dashboard.contains(m), "the dashboard shows {m}");
    }

    // Recording rules the dashboard reads are recorded by the shipped rules.
    for e in &exprs {
        for name in e
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| w.starts_with("mirrorwatch:"))
        {
            assert!(
                rules.contains(&format!("record: {name}")),
                "the dashboard reads {name}, which no shipped rule records"
            );
        }
    }

    // A daemon on the world with a receiver configured, so every family has series.
    let env = start_world();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut config = env
        .world
        .config_toml(&listen, &env.ca_file, "2s", "1500ms", MAX_LAG);
    config.push_str(&format!(
        "\n[alerting]\n[[alerting.webhook]]\nurl = \"http://127.0.0.1:{}/hook\"\n",
        free_port()
    ));
    // A registry too, with one domain it does not know, so the registry
    // families (failures included) have series.
    let registry = env
        .rt
        .block_on(mirrorwatch::world::registry::RegistryWorld::start(&[(
            "gone.test",
            mirrorwatch::world::registry::Fixture::NotFound,
        )]))
        .expect("registry world");
    config.push_str(&format!("\n{}", registry.config_section()));
    let path = env.dir.path().join("deploy.toml");
    std::fs::write(&path, config).expect("write");
    let daemon = start_daemon_with(&path, &listen, &[]);
    wait_ready(&daemon);
    wait_for(
        "registry answers",
        std::time::Duration::from_secs(20),
        || {
            metrics_text(&daemon)
                .contains("mirrorwatch_registry_query_failures_total{")
                .then_some(())
        },
    );
    let exported: BTreeSet<String> = metrics_text(&daemon)
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let missing: Vec<&String> = wanted_by_dashboard
        .union(&wanted_by_rules)
        .filter(|m| !exported.contains(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:?}\nexported: {exported:?}"
    );
}
