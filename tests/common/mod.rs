//! Shared helpers for the end-to-end tests: a world on its own runtime, a
//! daemon subprocess, and HTTP polling with deadlines.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mirrorwatch::world::World;
use serde_json::Value;

/// The world plus the runtime that drives it.
pub struct Env {
    pub rt: tokio::runtime::Runtime,
    pub world: World,
    pub dir: tempfile::TempDir,
    pub ca_file: String,
}

pub fn start_world() -> Env {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let world = rt.block_on(World::start()).expect("world starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &world.ca_pem).expect("write CA");
    Env {
        rt,
        world,
        ca_file: ca_file.display().to_string(),
        dir,
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Any child process, killed (and reaped) on drop.
pub struct Guard(pub std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The path of the first of `names` found on PATH.
pub fn which(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        let out = Command::new("which").arg(n).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    })
}

/// The first of `names` on PATH. When none is there the test should skip:
/// this says so on stderr and returns `None`, unless `require_var` is `1`
/// (CI sets it after installing `package`), which fails the test instead.
pub fn tool_or_skip(names: &[&str], require_var: &str, package: &str) -> Option<String> {
    let found = which(names);
    if found.is_none() {
        let required = std::env::var(require_var).is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{require_var}=1 but none of {names:?} is on PATH"
        );
        eprintln!(
            "SKIPPED: {} not installed (apt-get install {package}); set {require_var}=1 to require it",
            names[0]
        );
    }
    found
}

/// A daemon subprocess, killed on drop.
pub struct Daemon {
    pub child: Child,
    pub base: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Max lag the world's config gives parity (the main site publishes every 3 s).
pub const MAX_LAG: &str = "4s";

/// The daemon on a config watching the whole world.
pub fn start_daemon(env: &Env, interval: &str, timeout: &str) -> Daemon {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let config = env
        .world
        .config_toml(&listen, &env.ca_file, interval, timeout, MAX_LAG);
    let path = env.dir.path().join(format!("mirrorwatch-{port}.toml"));
    std::fs::write(&path, config).expect("write config");
    start_daemon_with(&path, &listen, &[])
}

/// The daemon on the config at `path` (which listens on `listen`), with
/// extra environment variables.
pub fn start_daemon_with(path: &std::path::Path, listen: &str, env: &[(&str, &str)]) -> Daemon {
    start_daemon_args(path, &[], listen, env)
}

/// As [`start_daemon_with`], with extra arguments to `run`.
pub fn start_daemon_args(
    path: &std::path::Path,
    args: &[&str],
    listen: &str,
    env: &[(&str, &str)],
) -> Daemon {
    let child = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(["run", "--config"])
        .arg(path)
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("daemon starts");
    Daemon {
        child,
        base: format!("http://{listen}"),
    }
}

/// An HTTP client for the tests (ring as rustls's provider, as in the daemon).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("HTTP client")
}

/// GET `url` (5 s timeout): status and body, or `None` when nothing answers.
pub fn get(url: &str) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let resp = http_client()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.text().await.ok()?))
    })
}

/// Polls `check` every 100 ms until it returns `Some`, or panics naming
/// `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn wait_ready(d: &Daemon) {
    let url = format!("{}/readyz", d.base);
    wait_for("/readyz to answer 200", Duration::from_secs(60), || {
        get(&url).filter(|(s, _)| *s == 200).map(|_| ())
    });
}

pub fn status_json(d: &Daemon) -> serde_json::Value {
    let (code, body) = get(&format!("{}/api/v1/status", d.base)).expect("status answers");
    assert_eq!(code, 200);
    serde_json::from_str(&body).expect("status is JSON")
}

pub fn metrics_text(d: &Daemon) -> String {
    let (code, body) = get(&format!("{}/metrics", d.base)).expect("metrics answer");
    assert_eq!(code, 200);
    body
}

/// The value of the series `name{labels...}` whose labels include all of
/// `want` (as `key="value"` pairs).
pub fn metric(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let all = want
                .iter()
                .all(|(k, v)| labels.split(',').any(|p| p == format!("{k}=\"{v}\"")));
            if all { value.parse().ok() } else { None }
        })
}

/// The status entry of the target whose URL is `url`.
pub fn target<'a>(status: &'a serde_json::Value, url: &str) -> Option<&'a serde_json::Value> {
    status["sites"]
        .as_array()?
        .iter()
        .flat_map(|s| s["targets"].as_array().into_iter().flatten())
        .find(|t| t["url"] == url)
}

/// A webhook receiver recording every POSTed body; stops when dropped.
pub struct Webhook {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Value>>>,
    /// How the receiver answers: [`HOOK_OK`], [`HOOK_FAIL`] or [`HOOK_HANG`].
    pub mode: Arc<std::sync::atomic::AtomicU8>,
    /// Every POST that arrived, whatever the answer.
    pub attempts: Arc<std::sync::atomic::AtomicUsize>,
    _rt: tokio::runtime::Runtime,
}

/// Records the body and answers 200.
pub const HOOK_OK: u8 = 0;
/// Answers 500 without recording.
pub const HOOK_FAIL: u8 = 1;
/// Records the body, then never answers (a minute).
pub const HOOK_HANG: u8 = 2;

pub fn start_webhook(addr: SocketAddr) -> Webhook {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let mode: Arc<std::sync::atomic::AtomicU8> = Arc::default();
    let attempts: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
    let (store, how, tries) = (got.clone(), mode.clone(), attempts.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .expect("bind webhook");
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let (store, how, tries) = (store.clone(), how.clone(), tries.clone());
            async move {
                use std::sync::atomic::Ordering::SeqCst;
                tries.fetch_add(1, SeqCst);
                let mode = how.load(SeqCst);
                if mode == HOOK_FAIL {
                    return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down");
                }
                if let Ok(v) = serde_json::from_str(&body) {
                    store.lock().expect("lock").push(v);
                }
                if mode == HOOK_HANG {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                (axum::http::StatusCode::OK, "ok")
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await });
    Webhook {
        addr,
        got,
        mode,
        attempts,
        _rt: rt,
    }
}

/// (status, alertname, target) of every alert in every webhook body.
pub fn webhook_events(w: &Webhook) -> Vec<(String, String, String)> {
    let got = w.got.lock().expect("lock");
    got.iter()
        .flat_map(|b| {
            let status = b["status"].as_str().unwrap_or_default().to_string();
            b["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |a| {
                    let l = &a["labels"];
                    (
                        status.clone(),
                        l["alertname"].as_str().unwrap_or_default().to_string(),
                        l["target"].as_str().unwrap_or_default().to_string(),
                    )
                })
        })
        .collect()
}

/// The kinds of a status target's raised problems, in order.
pub fn problem_kinds(t: &Value) -> Vec<String> {
    t["problems"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| p["kind"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A `/proc/<pid>/status` field in KiB (`pid` may be `self`); 0 if absent.
pub fn proc_status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
