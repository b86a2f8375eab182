//! Child processes and what /proc says about them: CPU seconds (utime +
//! stime), resident memory, and a guard that ends a child (and whatever it
//! started) with the benchmark, however the benchmark ends.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use anyhow::Context;

/// utime + stime of `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> { Ok(f.get(i).context("short stat")?.parse()?) };
    // After ')': state is index 0, so utime (field 14) is 11 and stime 12.
    Ok((ticks(11)? + ticks(12)?) / clock_ticks())
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} for {pid}"))
}

/// Starts `command` as a child the benchmark owns: in a process group of
/// its own (the guard ends the group, so a profiler's daemon goes with the
/// profiler), and sent SIGTERM by the kernel if the benchmark dies without
/// dropping the guard (killed, or a panic that aborts). Before this, a
/// benchmark killed mid-run left its daemon probing the world's addresses,
/// and later runs measured beside it.
///
/// The death signal follows the thread that spawns, not the process: call
/// this from a thread that lives as long as the benchmark (the main thread
/// or a runtime worker, never a `spawn_blocking` thread).
pub fn spawn_owned(command: &mut Command) -> std::io::Result<Guard> {
    let parent = std::process::id();
    command.process_group(0);
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe functions (prctl, getppid, raise).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The benchmark died between fork and prctl.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                libc::raise(libc::SIGTERM);
            }
            Ok(())
        });
    }
    command.spawn().map(Guard)
}

/// Ends the child's process group (SIGTERM, then SIGKILL to the child) when
/// dropped.
pub struct Guard(Child);

impl Guard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let pid = self.0.id();
        // The whole group (`-PID`): a wrapper's children too.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pid}")])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
