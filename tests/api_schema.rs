//! `/api/v1/status` has a versioned schema: `docs/status-v1.schema.json`
//! is generated from the view types (`outputs::status`) and must match
//! them, and a live daemon watching the whole world answers documents that
//! validate against it (no field missing, none undeclared).
//!
//! After an intended change to the view, regenerate the file with
//! `MIRRORWATCH_WRITE_SCHEMA=1 cargo test --test api_schema`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/status-v1.schema.json")
}

#[test]
fn committed_schema_matches_the_view_types() {
    let generated = mirrorwatch::outputs::status::schema();
    let text = serde_json::to_string_pretty(&generated).expect("schema JSON") + "\n";
    if std::env::var_os("MIRRORWATCH_WRITE_SCHEMA").is_some() {
        std::fs::write(schema_path(), &text).expect("write schema");
    }
    let committed = std::fs::read_to_string(schema_path()).expect("docs/status-v1.schema.json");
    assert_eq!(
        committed, text,
        "the view types changed: regenerate with MIRRORWATCH_WRITE_SCHEMA=1 cargo test --test api_schema"
    );
}

#[test]
fn a_live_daemon_answers_what_the_schema_says() {
    let env = start_world();
    let d = start_daemon(&env, "1s", "800ms");
    wait_ready(&d);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).expect("schema"))
            .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    // Several reads, so parity (judged one round late) is filled in too.
    let mut with_parity = false;
    for _ in 0..5 {
        let doc = status_json(&d);
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .take(10)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        assert_eq!(doc["api_version"], 1);
        with_parity |= doc["sites"][0]["targets"]
            .as_array()
            .is_some_and(|ts| ts.iter().any(|t| t["parity"].is_object()));
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(with_parity, "some mirror's parity was validated");
    // The schema rejects an undeclared field.
    let mut doc = status_json(&d);
    doc["sites"][0]["targets"][0]["surprise"] = serde_json::json!(1);
    assert!(!validator.is_valid(&doc));
}
