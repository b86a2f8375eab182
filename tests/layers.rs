//! The layers point down. Every `crate::<module>` reference in the
//! library's non-test code must name a module on a strictly lower layer
//! than its own (ARCHITECTURE.md, "Layers"), which also rules out import
//! cycles between modules. Test code (`#[cfg(test)]` onwards, `tests.rs`,
//! `*_tests.rs`) may build worlds and is not checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layer of each top-level module; a module may use only lower ones.
const LAYERS: &[(&str, u32)] = &[
    ("ground", 0),
    ("config", 1),
    ("checks", 2),
    ("parity", 3),
    ("store", 4),
    ("verdict", 4),
    ("pipeline", 5),
    ("outputs", 6),
    ("alerts", 7),
    ("scheduler", 8),
    ("server", 9),
    ("daemon", 10),
    ("probe", 10),
    ("admin", 10),
    ("fuzzing", 10),
    ("world", 10),
    ("demo", 11),
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_module_uses_only_lower_layers() {
    let layers: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut violations = Vec::new();
    let mut checked = 0;
    for path in all {
        let rel = path.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs"))
            .unwrap_or_default();
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if matches!(top, "lib" | "main") || name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let Some(&own) = layers.get(top) else {
            violations.push(format!("{}: module `{top}` has no layer", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("read");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let used: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                checked += 1;
                if used == top {
                    continue;
                }
                match layers.get(used.as_str()) {
                    Some(&l) if l < own => {}
                    Some(&l) => violations.push(format!(
                        "{}:{}: `{top}` (layer {own}) uses `{used}` (layer {l})",
                        rel.display(),
                        n + 1
                    )),
                    None => violations.push(format!(
                        "{}:{}: `crate::{used}` is not a known module",
                        rel.display(),
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} references found");
    assert!(violations.is_empty(), "\n{}", violations.join("\n"));
}
