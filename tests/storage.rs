//! A state store that fails under the daemon: the file deleted, the
//! filesystem full, the filesystem read-only. Monitoring goes on, and
//! `/readyz`'s detail and `mirrorwatch_storage_healthy` say the store is
//! degraded. The full and read-only cases mount a small tmpfs, which needs
//! root (CI runs as root); elsewhere they say so and pass.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

fn config(env: &Env, listen: &str, db: &Path) -> String {
    let full = env
        .world
        .config_toml(listen, &env.ca_file, "1s", "800ms", MAX_LAG);
    let head = full.split("mirrors = [").next().unwrap_or_default();
    let healthy = env.world.scenario("healthy").expect("healthy").url.clone();
    format!(
        "[storage]\npath = \"{}\"\n\n{head}mirrors = [\"{healthy}\"]\n",
        db.display()
    )
}

fn rounds(d: &Daemon, url: &str) -> u64 {
    target(&status_json(d), url)
        .and_then(|t| t["rounds"].as_u64())
        .unwrap_or(0)
}

/// Waits until the store is reported degraded, then checks that rounds
/// still advance.
fn assert_degraded_but_monitoring(d: &Daemon, url: &str, words: &str) {
    let body = wait_for(
        "/readyz to say the store is degraded",
        Duration::from_secs(30),
        || {
            get(&format!("{}/readyz", d.base))
                .filter(|(c, b)| *c == 200 && b.contains("storage degraded"))
                .map(|(_, b)| b)
        },
    );
    assert!(body.contains(words), "{body}");
    wait_for(
        "mirrorwatch_storage_healthy 0",
        Duration::from_secs(5),
        || {
            (metric(&metrics_text(d), "mirrorwatch_storage_healthy", &[]) == Some(0.0))
                .then_some(())
        },
    );
    let before = rounds(d, url);
    wait_for("rounds to go on", Duration::from_secs(20), || {
        (rounds(d, url) >= before + 2).then_some(())
    });
    assert_eq!(get(&format!("{}/healthz", d.base)).map(|r| r.0), Some(200));
}

fn start(env: &Env, db: &Path) -> (Daemon, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let path = db.with_extension("toml");
    std::fs::write(&path, config(env, &listen, db)).expect("write config");
    let d = start_daemon_with(&path, &listen, &[]);
    wait_ready(&d);
    let main = env.world.url(mirrorwatch::world::MAIN_HOST);
    assert_eq!(
        metric(&metrics_text(&d), "mirrorwatch_storage_healthy", &[]),
        Some(1.0)
    );
    (d, main)
}

#[test]
fn a_deleted_store_file_is_reported_and_monitoring_goes_on() {
    let env = start_world();
    let db = env.dir.path().join("state.db");
    let (d, main) = start(&env, &db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    assert_degraded_but_monitoring(&d, &main, "is gone");
}

/// A tmpfs mounted for the test; unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .ok()?
            .success();
        ok.then(|| Self(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_or_read_only_filesystem_is_reported_and_monitoring_goes_on() {
    let env = start_world();
    let at = env.dir.path().join("small");
    let Some(mount) = Mount::tmpfs(&at, "2m") else {
        eprintln!("SKIP: cannot mount a tmpfs here (needs root)");
        return;
    };
    let db = mount.0.join("state.db");
    let (d, main) = start(&env, &db);
    // Fill the filesystem.
    let filler = mount.0.join("filler");
    let mut f = std::fs::File::create(&filler).expect("filler");
    let block = vec![7u8; 64 * 1024];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    drop(f);
    assert_degraded_but_monitoring(&d, &main, "a write failed");
    drop(d);

    // Read-only: the same store, its filesystem remounted read-only (no
    // writer may hold it open for that), under a new daemon.
    std::fs::remove_file(&filler).expect("remove filler");
    let ok = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&mount.0)
        .status()
        .expect("mount")
        .success();
    assert!(ok, "remount read-only");
    let listen = format!("127.0.0.1:{}", free_port());
    let path = env.dir.path().join("ro.toml");
    std::fs::write(&path, config(&env, &listen, &db)).expect("write config");
    let d = start_daemon_with(&path, &listen, &[]);
    wait_ready(&d);
    assert_degraded_but_monitoring(&d, &main, "read");
}

/// Round counts wait in memory between flushes; SIGTERM flushes them, so
/// every round the daemon reported is in the store after it exits.
#[test]
fn sigterm_flushes_every_round_count_to_the_store() {
    let env = start_world();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let db = env.dir.path().join("counts.db");
    let path = env.dir.path().join("counts.toml");
    std::fs::write(&path, config(&env, &listen, &db)).expect("write config");
    let mut d = start_daemon_with(&path, &listen, &[]);
    wait_ready(&d);
    let healthy = env.world.scenario("healthy").expect("healthy").url.clone();
    wait_for("three rounds", Duration::from_secs(30), || {
        (rounds(&d, &healthy) >= 3).then_some(())
    });
    let reported = rounds(&d, &healthy) as i64;
    let pid = d.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let exit = wait_for("exit after SIGTERM", Duration::from_secs(5), || {
        d.child.try_wait().ok().flatten()
    });
    assert_eq!(exit.code(), Some(0));
    // Rounds reported before the signal; at most the ones in flight more.
    let conn = rusqlite::Connection::open(&db).expect("open store");
    let total: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(total), 0) FROM uptime_hourly WHERE url = ?1",
            [&healthy],
            |r| r.get(0),
        )
        .expect("count");
    assert!(
        total >= reported,
        "{total} rounds stored, {reported} reported before SIGTERM"
    );
}
