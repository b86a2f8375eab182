//! What the daemon asks of glibc's allocator, which otherwise holds on to
//! memory the daemon has freed: one arena per core, not eight (glibc's
//! default for 64-bit), and freed pages handed back to the kernel on a
//! schedule. A round allocates and frees a 100 KB body, its decoded text
//! and a parse's temporaries; spread over many arenas, the freed space
//! stays resident. Measured with `cargo bench --bench perf -- --quick
//! --scale-only` (2,000 addresses): RSS 136 → 115 MB, CPU unchanged. Other
//! allocators (musl's) get no-ops.

/// Limits glibc to one malloc arena per core, unless the operator set
/// `MALLOC_ARENA_MAX` (which glibc reads itself). Call before any thread
/// starts. Whether the limit was set.
pub fn limit_arenas() -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    set_arena_max(i32::try_from(cores).unwrap_or(i32::MAX))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_arena_max(n: i32) -> bool {
    // SAFETY: mallopt takes two integers and changes only malloc's settings.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, n) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_n: i32) -> bool {
    false
}

/// Returns the free memory of every arena to the kernel. Walks the heap:
/// call it from a blocking thread, at most every few seconds. Whether any
/// memory went back.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes an integer and touches only free memory.
    unsafe {
        libc::malloc_trim(0) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }

    /// glibc accepts the setting (mallopt answers 1 on success, 0 for a
    /// parameter it refuses); and memory freed between blocks still in
    /// use, which `free` cannot give back (the heap only shrinks from its
    /// top), goes back to the kernel when trimmed.
    #[test]
    fn glibc_takes_the_arena_limit_and_trimming_returns_freed_holes() {
        // SAFETY: as in `set_arena_max`.
        assert_eq!(unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) }, 1);
        // 64 MiB in 1 KiB blocks; every 8th stays, so the freed 7 KiB
        // holes hold whole pages but never reach the heap's top.
        let mut blocks: Vec<Vec<u8>> = (0..65_536).map(|i| vec![i as u8; 1024]).collect();
        let mut i = 0;
        blocks.retain(|_| {
            i += 1;
            i % 8 == 0
        });
        let before = rss_kib();
        super::trim();
        let after = rss_kib();
        assert_eq!(blocks.len(), 8_192);
        assert!(
            before.saturating_sub(after) >= 16 * 1024,
            "RSS {before} KiB before the trim, {after} KiB after"
        );
    }
}
