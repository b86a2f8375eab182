//! Per-address series, kept as text. Each address owns a slot holding its
//! series already in the exposition format but for the part every line of
//! the address shares (`mirrorwatch_<family>{` and its labels), one
//! fragment of line tails per metric family, rewritten after each of its
//! rounds under the slot's own lock. A scrape walks the families and
//! writes every slot's lines, its labels before each tail, so rendering
//! 10,000 addresses (about 375,000 series) is a run of small copies rather
//! than 375,000 label-set lookups, and a round never waits on a global
//! lock: the map of slots is written only when an address is added or
//! removed. The shared part was three quarters of the kept text (~3 KB an
//! address).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};

use super::board::Entry;
use super::chunks::{Chunks, column};
use crate::checks::dns::Outcome;
use crate::config::Role;
use crate::verdict::Kind;
use crate::verdict::state::State;

/// The per-address families: name (without prefix), type, help.
pub const FAMILIES: [(&str, &str, &str); 15] = [
    ("up", "gauge", "1 when the address's state is up."),
    (
        "state",
        "gauge",
        "1 for the address's current state, 0 for the others.",
    ),
    (
        "problem",
        "gauge",
        "1 while that problem is raised on the address.",
    ),
    (
        "probe_duration_seconds",
        "gauge",
        "Last round's phase timings.",
    ),
    (
        "dns_lookup_success",
        "gauge",
        "1 when that resolver answered with addresses.",
    ),
    ("dns_consistent", "gauge", "1 when the resolvers agree."),
    (
        "address_up",
        "gauge",
        "Connect and TLS result per resolved address.",
    ),
    (
        "tls_cert_not_after_timestamp_seconds",
        "gauge",
        "Earliest not_after in the presented chain.",
    ),
    (
        "tls_cert_valid",
        "gauge",
        "1 when the chain validates for the host.",
    ),
    (
        "http_status_code",
        "gauge",
        "Final HTTP status, 0 when none.",
    ),
    ("http_redirects", "gauge", "Redirects followed."),
    (
        "content_similarity_ratio",
        "gauge",
        "Mirror's text similarity to the main site (0-1).",
    ),
    (
        "content_lag_seconds",
        "gauge",
        "Age of the oldest main-site article the mirror lacks.",
    ),
    (
        "content_missing_articles",
        "gauge",
        "Main-site articles the mirror lacks.",
    ),
    (
        "checks_total",
        "counter",
        "Rounds completed, by result (ok: no finding; failed: at least one).",
    ),
];

const UP: usize = 0;
const STATE: usize = 1;
const PROBLEM: usize = 2;
const PHASE: usize = 3;
const DNS_SUCCESS: usize = 4;
const DNS_CONSISTENT: usize = 5;
const ADDRESS_UP: usize = 6;
const NOT_AFTER: usize = 7;
const CERT_VALID: usize = 8;
const HTTP_STATUS: usize = 9;
const REDIRECTS: usize = 10;
const SIMILARITY: usize = 11;
const LAG: usize = 12;
const MISSING: usize = 13;
const CHECKS: usize = 14;

/// site, target (host with non-default port), vantage, role.
type TargetKey = (String, String, String, &'static str);

/// An address's fragments of line tails, one per family, back to back in
/// one string of exactly their size.
#[derive(Debug)]
struct Packed {
    text: Box<str>,
    /// Where each family's fragment ends in `text`.
    ends: [u32; FAMILIES.len()],
}

impl Packed {
    fn new(parts: &Fragments) -> Self {
        let mut text = String::with_capacity(parts.iter().map(String::len).sum());
        let mut ends = [0u32; FAMILIES.len()];
        for (end, part) in ends.iter_mut().zip(parts) {
            // A fragment is a few hundred bytes per resolver and address;
            // past 4 GiB a family is dropped rather than an offset wrapped.
            let total = text.len().checked_add(part.len());
            if total.is_some_and(|t| u32::try_from(t).is_ok()) {
                text.push_str(part);
            }
            *end = text.len() as u32;
        }
        Self {
            text: text.into_boxed_str(),
            ends,
        }
    }

    fn family(&self, i: usize) -> &str {
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        self.text
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }
}

struct Slot {
    /// `site="…",target="…",role="…",vantage="…"`, escaped once.
    labels: Arc<str>,
    /// Shared with scrapes in progress, which copy it without the lock.
    text: Arc<Packed>,
    ok: u64,
    failed: u64,
}

/// Text slots by key, each under its own lock: the map is written only
/// when a key is added or removed, a slot only by its own updates, and a
/// scrape takes every slot's text with one lock each.
pub struct Slots<K, S>(RwLock<BTreeMap<K, Arc<Mutex<S>>>>);

impl<K, S> Default for Slots<K, S> {
    fn default() -> Self {
        Self(RwLock::default())
    }
}

impl<K: Ord, S> Slots<K, S> {
    /// The slot of `key`, made by `make` when there is none.
    pub fn get_or_insert<Q>(&self, key: &Q, make: impl FnOnce() -> (K, S)) -> Arc<Mutex<S>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        if let Some(s) = self.0.read().unwrap_or_else(|p| p.into_inner()).get(key) {
            return s.clone();
        }
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = map.get(key) {
            return s.clone();
        }
        let (k, slot) = make();
        let slot = Arc::new(Mutex::new(slot));
        map.insert(k, slot.clone());
        slot
    }

    pub fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Drops every slot whose key `keep` refuses.
    pub fn retain(&self, keep: impl Fn(&K) -> bool) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| keep(k));
    }

    /// `take` of every slot, in key order.
    pub fn each<T>(&self, take: impl Fn(&S) -> T) -> Vec<T> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|s| take(&s.lock().unwrap_or_else(|p| p.into_inner())))
            .collect()
    }
}

#[derive(Default)]
pub struct Series {
    slots: Slots<TargetKey, Slot>,
}

fn key(e: &Entry) -> TargetKey {
    (
        e.target.site.clone(),
        e.target.label(),
        e.target.vantage.clone(),
        e.target.role.as_str(),
    )
}

/// A label value escaped for the exposition format.
pub(super) fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    let mut out = String::with_capacity(v.len() + 8);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.into()
}

/// Appends a sample value: integers without a fraction, and the spellings
/// Prometheus expects for the special values.
fn value(out: &mut String, v: f64) {
    if v == 0.0 {
        out.push('0');
    } else if v == 1.0 {
        out.push('1');
    } else if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// One fragment per family, while an address's series are rendered.
type Fragments = [String; FAMILIES.len()];

std::thread_local! {
    /// Each thread's fragments, reused from one render to the next so that
    /// their capacity stays: grown from empty every round, the fifteen
    /// strings' reallocations and copies were ~3% of the daemon's CPU at
    /// 10,000 addresses.
    static SCRATCH: std::cell::RefCell<Fragments> = std::cell::RefCell::default();
}

/// `f` given this thread's fragments, emptied.
fn with_scratch<T>(f: impl FnOnce(&mut Fragments) -> T) -> T {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut text) => {
            text.iter_mut().for_each(String::clear);
            f(&mut text)
        }
        // Not reached (a render does not nest); fresh strings if it were.
        Err(_) => f(&mut Fragments::default()),
    })
}

/// Lines as kept: each line's tail, after the address's labels.
struct Lines<'a> {
    text: &'a mut Fragments,
}

impl Lines<'_> {
    fn put(&mut self, family: usize, extra: Option<(&str, &str)>, v: f64) {
        let out = &mut self.text[family];
        if let Some((k, x)) = extra {
            out.push(',');
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(&escape(x));
            out.push('"');
        }
        out.push_str("} ");
        value(out, v);
        out.push('\n');
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Every series of `e` into `text` (empty); `round` is false before its
/// first round.
fn render(text: &mut Fragments, e: &Entry, round: bool) {
    let mut l = Lines { text };
    let state = if round {
        e.tracker.state()
    } else {
        State::Unknown
    };
    l.put(UP, None, flag(state == State::Up));
    for s in State::ALL {
        l.put(STATE, Some(("state", s.as_str())), flag(s == state));
    }
    for k in Kind::ALL {
        l.put(
            PROBLEM,
            Some(("kind", k.as_str())),
            flag(round && e.tracker.is_raised(k)),
        );
    }
    // Mirrors: zeros before the first comparison; a round without one (the
    // mirror was down) leaves the last values, see `Series::record`.
    let parity = e.content.as_deref().and_then(|c| c.parity.as_ref());
    if e.target.role == Role::Mirror && (parity.is_some() || !round) {
        let p = parity.filter(|_| round);
        l.put(SIMILARITY, None, p.map_or(0.0, |p| p.similarity));
        l.put(LAG, None, p.map_or(0.0, |p| p.lag_seconds));
        l.put(MISSING, None, p.map_or(0.0, |p| p.missing_articles as f64));
    }
    if !round {
        return;
    }
    l.put(DNS_CONSISTENT, None, flag(e.verdict.dns_consistent));
    let Some(r) = e.last.as_deref() else {
        return;
    };
    for (phase, secs) in r.timings.phases() {
        l.put(PHASE, Some(("phase", phase)), secs);
    }
    for a in &r.dns.resolvers {
        l.put(
            DNS_SUCCESS,
            Some(("resolver", &a.resolver)),
            flag(a.outcome == Outcome::Answered),
        );
    }
    for a in &r.addresses {
        if let Some(ip) = a.dest.ip() {
            l.put(ADDRESS_UP, Some(("ip", &ip.to_string())), flag(a.good));
        }
    }
    if e.target.url.scheme() == "https" {
        let not_after = r
            .addresses
            .iter()
            .filter_map(|a| a.tls.as_ref()?.not_after)
            .min();
        if let Some(na) = not_after {
            l.put(NOT_AFTER, None, na as f64);
        }
        l.put(CERT_VALID, None, flag(r.addresses.iter().any(|a| a.good)));
    }
    let first = r.http.first();
    l.put(
        HTTP_STATUS,
        None,
        first.and_then(|h| h.status).map_or(0.0, f64::from),
    );
    l.put(
        REDIRECTS,
        None,
        first.map_or(0.0, |h| h.redirects.len() as f64),
    );
}

/// The `checks_total` fragment for these counts, in place of `text`'s.
fn checks(text: &mut Fragments, ok: u64, failed: u64) {
    text[CHECKS].clear();
    let mut l = Lines { text };
    l.put(CHECKS, Some(("result", "ok")), ok as f64);
    l.put(CHECKS, Some(("result", "failed")), failed as f64);
}

impl Series {
    fn slot(&self, e: &Entry) -> Arc<Mutex<Slot>> {
        let key = key(e);
        self.slots.get_or_insert(&key, || {
            let (site, target, vantage, role) = &key;
            let labels = format!(
                "site=\"{}\",target=\"{}\",role=\"{role}\",vantage=\"{}\"",
                escape(site),
                escape(target),
                escape(vantage)
            );
            let text = with_scratch(|text| {
                render(text, e, false);
                checks(text, 0, 0);
                Packed::new(text)
            });
            let slot = Slot {
                labels: labels.into(),
                text: Arc::new(text),
                ok: 0,
                failed: 0,
            };
            (key.clone(), slot)
        })
    }

    /// Exports the zero series of an address that has not finished a round.
    pub fn register(&self, e: &Entry) {
        self.slot(e);
    }

    /// Rewrites an address's series after a round and counts the round.
    pub fn record(&self, e: &Entry) {
        let slot = self.slot(e);
        with_scratch(|text| {
            render(text, e, true);
            let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
            if e.verdict.findings.is_empty() {
                s.ok += 1;
            } else {
                s.failed += 1;
            }
            for f in [SIMILARITY, LAG, MISSING] {
                if text[f].is_empty() {
                    text[f].push_str(s.text.family(f));
                }
            }
            checks(text, s.ok, s.failed);
            s.text = Arc::new(Packed::new(text));
        });
    }

    /// Drops every series of an address that left the config.
    pub fn forget(&self, e: &Entry) {
        self.slots.remove(&key(e));
    }

    /// Hands out every family, addresses in (site, target, role) order, in
    /// chunks of about [`CHUNK`](super::chunks::CHUNK) bytes, so a scrape of 10,000 addresses
    /// (~30 MB) never sits in memory whole and its first bytes leave at
    /// once. Each slot is locked once, to take its current fragments.
    /// Stops early when `emit` returns false (the client went away).
    pub fn render_chunks(&self, emit: &mut dyn FnMut(String) -> bool) -> bool {
        let mut out = Chunks::new(emit);
        self.render_into(&mut out) && out.finish()
    }

    /// [`Series::render_chunks`] into a scrape in progress.
    pub fn render_into(&self, out: &mut Chunks<'_>) -> bool {
        let texts = self.slots.each(|s| (s.labels.clone(), s.text.clone()));
        // Where every fragment is, taken in one pass over the slots: the
        // family passes then read this table in order instead of visiting
        // each slot's text 15 times (at 10,000 addresses, 150,000 cache
        // misses, most of a scrape's time).
        let table: Vec<[&str; FAMILIES.len()]> = texts
            .iter()
            .map(|(_, t)| std::array::from_fn(|i| t.family(i)))
            .collect();
        FAMILIES.iter().enumerate().all(|(i, (name, kind, help))| {
            let labels = texts.iter().map(|(l, _)| &**l);
            out.family_rows(name, kind, help, labels.zip(column(&table, i)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::board::{Board, Key};
    use crate::verdict::Verdict;
    use crate::verdict::fixtures::{healthy, now, target};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packed_fragments_read_back_as_written(parts in proptest::array::uniform15("\\PC{0,40}")) {
            let packed = Packed::new(&parts);
            for (i, part) in parts.iter().enumerate() {
                prop_assert_eq!(packed.family(i), part.as_str());
            }
            prop_assert_eq!(packed.text.len(), parts.iter().map(String::len).sum::<usize>());
        }
    }

    fn scrape(series: &Series) -> String {
        let mut out = String::new();
        assert!(series.render_chunks(&mut |c| {
            out.push_str(&c);
            true
        }));
        out
    }

    /// A main site and a mirror after one healthy round each: every family
    /// is one block under its HELP and TYPE, every sample line is
    /// well-formed, and the counts are SPEC §6's (every kind on every
    /// target, content gauges on the mirror only).
    #[test]
    fn exposition_of_a_main_site_and_a_mirror() {
        let targets = [target(Role::Main), target(Role::Mirror)].map(Arc::new);
        let board = Board::new(&targets);
        let series = Series::default();
        for t in &targets {
            let round = healthy(t.role);
            let (entry, _) = board
                .record(
                    &Key::of(t),
                    round.report,
                    round.content,
                    Verdict::default(),
                    now(),
                )
                .expect("on the board");
            series.record(&entry);
        }
        let text = scrape(&series);
        let sample = regex::Regex::new(
            r#"^mirrorwatch_([a-z_]+)\{site="s",target="www\.(main|mirror)\.test",role="(main|mirror)",vantage="local"(,[a-z]+="[^"]*")?\} (0|1|[0-9.e+-]+)$"#,
        )
        .expect("regex");
        let mut families: Vec<&str> = Vec::new();
        let mut count = std::collections::BTreeMap::<&str, usize>::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some(help) = line.strip_prefix("# HELP mirrorwatch_") {
                let name = help.split(' ').next().expect("name");
                let typ = lines.next().expect("TYPE after HELP");
                assert!(
                    typ.starts_with(&format!("# TYPE mirrorwatch_{name} ")),
                    "{typ}"
                );
                assert!(!families.contains(&name), "{name} twice");
                families.push(name);
                continue;
            }
            let caps = sample
                .captures(line)
                .unwrap_or_else(|| panic!("bad line: {line}"));
            let family = caps.get(1).expect("name").as_str();
            assert_eq!(Some(&family), families.last(), "{line} outside its block");
            *count.entry(family).or_default() += 1;
        }
        assert_eq!(count["up"], 2);
        assert_eq!(count["state"], 2 * State::ALL.len());
        assert_eq!(count["problem"], 2 * Kind::ALL.len());
        assert_eq!(count["content_similarity_ratio"], 1, "mirror only");
        assert_eq!(count["checks_total"], 4);
        assert!(text.contains(
            "mirrorwatch_checks_total{site=\"s\",target=\"www.mirror.test\",role=\"mirror\",vantage=\"local\",result=\"ok\"} 1\n"
        ));
    }
}
