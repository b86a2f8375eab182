//! A short smoke pass of every fuzz harness (`mirrorwatch::fuzzing`):
//! first the committed seeds (`fuzz/seeds/<target>/`, also the corpus
//! cargo-fuzz starts from), then generated inputs shaped like each
//! parser's input, and mutations of the seeds.
//!
//! `MIRRORWATCH_FUZZ_CASES` sets the generated cases per target (default
//! 200); the long mode is e.g. `MIRRORWATCH_FUZZ_CASES=200000 cargo test
//! --release --test fuzz_smoke`. Coverage-guided runs: `fuzz/README.md`.

use std::path::PathBuf;

use mirrorwatch::fuzzing;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases() -> u32 {
    std::env::var("MIRRORWATCH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("seed"))
        .collect()
}

fn harness(target: &str) -> fn(&[u8]) {
    fuzzing::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .map(|(_, f)| *f)
        .expect("known target")
}

/// Seeds, then `strategy`'s inputs, then byte mutations of the seeds.
fn drive(target: &str, strategy: impl Strategy<Value = Vec<u8>>) {
    let f = harness(target);
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "{target}: no seeds");
    for s in &seeds {
        f(s);
    }
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |input| {
            f(&input);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    let mutated = (
        prop::sample::select(seeds),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
    )
        .prop_map(|(mut seed, edits)| {
            for (at, byte, op) in edits {
                if seed.is_empty() {
                    seed.push(byte);
                    continue;
                }
                let i = at.index(seed.len());
                match op {
                    0 => seed[i] = byte,
                    1 => seed.insert(i, byte),
                    2 => {
                        seed.remove(i);
                    }
                    _ => seed.truncate(i),
                }
            }
            seed
        });
    runner
        .run(&mutated, |input| {
            f(&input);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{target} (mutated seeds): {e}"));
}

fn joined(parts: impl Strategy<Value = String>, n: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(parts, 0..n).prop_map(|v| v.concat())
}

#[test]
fn html() {
    let token = prop_oneof![
        Just("<a href=\"".to_string()),
        Just("\">".to_string()),
        Just("</a>".to_string()),
        Just("<script>".to_string()),
        Just("</script>".to_string()),
        Just("<title>".to_string()),
        Just("<!--".to_string()),
        Just("-->".to_string()),
        Just("<style>".to_string()),
        Just("https://www.mirror.test".to_string()),
        Just("//www.mirror.test".to_string()),
        Just("/Detail/2026/11/27/".to_string()),
        Just("café-é".to_string()),
        Just("خبر".to_string()),
        Just("新闻".to_string()),
        Just("?utm=1#x".to_string()),
        "\\PC{0,12}",
    ];
    let ct = prop_oneof![
        Just("text/html; charset=utf-8".to_string()),
        Just("text/html; charset=windows-1256".to_string()),
        Just("text/html; charset=\"shift_jis\"".to_string()),
        "[a-z/;= -]{0,30}",
    ];
    drive(
        "html",
        (ct, joined(token, 120)).prop_map(|(c, b)| [c.as_bytes(), &[0], b.as_bytes()].concat()),
    );
}

#[test]
fn fingerprints() {
    let part = prop_oneof![
        Just("domain has been seized".to_string()),
        Just("SEIZED".to_string()),
        Just("10.10.34.34".to_string()),
        Just("seizure warrant".to_string()),
        Just("İſK".to_string()),
        "\\PC{0,16}",
    ];
    drive(
        "fingerprints",
        joined(part, 40).prop_map(String::into_bytes),
    );
}

#[test]
fn dns() {
    drive("dns", prop::collection::vec(any::<u8>(), 0..600));
}

#[test]
fn location() {
    let base = prop_oneof![
        Just("https://www.mirror.test/a/b".to_string()),
        Just("http://www.mirror.test:8080/".to_string()),
        "\\PC{0,20}",
    ];
    let part = prop_oneof![
        Just("ftp:".to_string()),
        Just("https:".to_string()),
        Just("javascript:".to_string()),
        Just("//".to_string()),
        Just("\\\\".to_string()),
        Just("../".to_string()),
        Just(":99999".to_string()),
        Just("@".to_string()),
        Just("[::1]".to_string()),
        Just("www.main.test".to_string()),
        Just("café".to_string()),
        "\\PC{0,10}",
    ];
    drive(
        "location",
        (base, joined(part, 12)).prop_map(|(b, l)| [b.as_bytes(), &[0], l.as_bytes()].concat()),
    );
}

#[test]
fn config() {
    let line = prop_oneof![
        Just("[[sites]]\n".to_string()),
        Just("name = \"a\"\n".to_string()),
        Just("main = \"https://a.test/\"\n".to_string()),
        Just("mirrors = [\"https://b.test/\", \"https://b.test/\"]\n".to_string()),
        Just("interval = \"500000000000y\"\n".to_string()),
        Just("timeout = \"3s\"\n".to_string()),
        Just("[defaults]\n".to_string()),
        Just("[storage]\nretention = \"99999999d\"\n".to_string()),
        Just("[sites.parity]\nmax_lag = \"1h\"\n".to_string()),
        Just("article_pattern = \"((\"\n".to_string()),
        Just("resolvers = [\"tls://1.2.3.4#\", \"127.0.0.1:53\"]\n".to_string()),
        Just("[[vantages]]\nname = \"uk\"\nproxy = \"socks5h://127.0.0.1:1080\"\n".to_string()),
        Just("local = false\n".to_string()),
        Just("vantages = [\"uk\", \"local\"]\n".to_string()),
        "[a-z_]{1,10} = \"\\PC{0,12}\"\n",
        "\\PC{0,20}\n",
    ];
    drive("config", joined(line, 30).prop_map(String::into_bytes));
}

#[test]
fn proxy() {
    let url = prop_oneof![
        Just("socks5h://127.0.0.1:1080".to_string()),
        Just("socks5://u:p%40ss@[::1]".to_string()),
        Just("http://user:secret@127.0.0.1:3128".to_string()),
        "(socks5h?|http|ftp)://\\PC{0,12}@?[0-9.:\\[\\]]{0,20}",
        "\\PC{0,30}",
    ];
    let head = prop_oneof![
        Just("HTTP/1.1 200 Connection established\r\n\r\n".to_string()),
        Just("HTTP/1.0 407 Proxy Authentication Required\r\n\r\n".to_string()),
        "HTTP/1\\.[01] [0-9]{1,4} \\PC{0,100}\r\n",
        "\\PC{0,40}",
    ];
    drive(
        "proxy",
        (url, head).prop_map(|(u, h)| [u.as_bytes(), &[0], h.as_bytes()].concat()),
    );
}
