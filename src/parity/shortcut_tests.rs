//! The shortcuts change no result: the same rounds, analysed by a `Content`
//! with shortcuts and one without, give the same parity reports and clock
//! changes, on the world's busy homepage (a rail that moves every few
//! seconds above stable sections, slugs in French, Persian and CJK) served
//! by mirrors that behave differently: a live copy, a cached copy that
//! lags, a noisy copy, one that spells its host in other cases and as
//! character references, one in Latin-1, one whose `Content-Type` flips,
//! with a reload that drops a mirror in the middle.

use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use proptest::prelude::*;

use super::Content;
use super::analysis::Analysed;
use crate::checks::RoundReport;
use crate::checks::http::HttpReport;
use crate::config::{Config, Role, Target};
use crate::ground::hash::Digest;
use crate::world::busy::page_at;
use crate::world::pages::{self, Feed, Noise};

const MAIN: &str = "www.busy.test";
const MIRRORS: [&str; 6] = [
    "live.mirror.test",
    "stale.mirror.test:8443",
    "noisy.mirror.test",
    "cases.mirror.test",
    "latin.mirror.test",
    "flip.mirror.test",
];

/// The site; `pattern`: an `article_pattern` (else the heuristic).
fn config(mirrors: &[&str], pattern: Option<&str>) -> Config {
    let list: Vec<String> = mirrors
        .iter()
        .map(|m| format!("\"https://{m}/\""))
        .collect();
    let pattern = pattern
        .map(|p| format!("article_pattern = '{p}'\n"))
        .unwrap_or_default();
    let text = format!(
        "[[sites]]\nname = \"busy\"\nmain = \"https://{MAIN}/\"\nmirrors = [{}]\npaths = [\"/\", \"/fa/\"]\n{pattern}",
        list.join(", ")
    );
    crate::config::parse(&text, "t.toml", Path::new("/nonexistent")).expect("config")
}

fn t(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
}

/// A round of `target` that fetched `pages` (path, body, content type)
/// over `[start, start + 1 s]`.
fn round(start: SystemTime, pages: Vec<(&str, Vec<u8>, &str)>) -> RoundReport {
    let mut r = RoundReport::empty(start);
    for (path, body, ct) in pages {
        r.http.push(HttpReport {
            path: path.into(),
            ip: None,
            status: Some(200),
            redirects: Vec::new(),
            final_url: String::new(),
            body_bytes: body.len() as u64,
            truncated: false,
            content_encoding: None,
            content_type: Some(ct.into()),
            error: None,
            failed_stage: None,
            stalled: false,
            requested_at: start,
            received_at: start + Duration::from_secs(1),
            body_digest: Some(Digest::of(&body)),
            body: Bytes::from(body),
        });
    }
    r
}

/// What one mirror serves at step `k`, when main shows `n` articles.
fn mirror_body(which: usize, k: usize, n: usize, path: &str) -> (Vec<u8>, &'static str) {
    let host = MIRRORS[which];
    let html = |n: usize| {
        let mut p = page_at(n, "Busy", host);
        if path != "/" {
            p.push_str("<!-- fa -->");
        }
        p
    };
    let utf8 = "text/html; charset=utf-8";
    match which {
        0 => (html(n).into_bytes(), utf8),
        // A cache refreshed every 4 steps: unchanged in between.
        1 => (html(n.saturating_sub(2 + k % 4)).into_bytes(), utf8),
        2 => {
            let feed = Feed {
                start: std::time::Instant::now(),
                initial: 200 + n as u64,
                every: Duration::from_secs(3600),
                shown: 20,
            };
            let noise = Noise {
                swap_blocks: k % 2 == 0,
                cache_busters: true,
                ad: k as u64,
                announce: 0,
                announce_port: 0,
            };
            let stamp = format!("2026-11-27T10:{:02}:00Z", k % 60);
            (
                pages::homepage("Busy", host, &feed.latest(true), &stamp, noise).into_bytes(),
                utf8,
            )
        }
        // Its own host in capitals, and once as character references.
        3 => {
            let p = html(n.saturating_sub(k % 2))
                .replace(
                    "https://cases.mirror.test/Section",
                    "https://CASES.Mirror.TEST/Section",
                )
                .replace(
                    "Alternate address: cases.mirror.test",
                    "Alternate address: cases&#46;mirror&#46;test",
                );
            (p.into_bytes(), utf8)
        }
        // Latin-1, by header: French slugs come out as bytes over 0x7f.
        4 => {
            let text = html(n);
            let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
            (bytes.into_owned(), "text/html; charset=iso-8859-1")
        }
        // The same bytes under a header that names a charset, then one that
        // does not (the page's own <meta> decides): not the same page.
        _ => {
            let ct = if k % 2 == 0 { utf8 } else { "text/html" };
            (html(n.saturating_sub(1)).into_bytes(), ct)
        }
    }
}

/// Runs `steps` rounds (step k: main shows `13 + ns[k]` articles; a reload
/// dropping mirror 2 at step `reload`; the mirrors' rounds before main's at
/// the steps `mirrors_first` says) through both contents and checks they
/// agree; returns the shortcut content's analysis counts per host.
fn agree(
    ns: &[usize],
    reload: usize,
    mirrors_first: impl Fn(usize) -> bool,
) -> std::collections::BTreeMap<String, [usize; 3]> {
    let mut fast = Content::new(&config(&MIRRORS, None), None);
    let mut slow = Content::new(&config(&MIRRORS, None), None).without_shortcuts();
    let mut counts = std::collections::BTreeMap::<String, [usize; 3]>::new();
    let mut clock = 0;
    for (k, &grow) in ns.iter().enumerate() {
        // Two reloads: one narrows what counts as an article (rail stories
        // only), so references analysed before it are stale; a later one
        // also drops a mirror.
        let pattern = Some("^/Detail/2026/11/");
        if k == reload {
            fast = Content::new(&config(&MIRRORS, pattern), Some(&fast));
            slow = Content::new(&config(&MIRRORS, pattern), Some(&slow)).without_shortcuts();
        }
        if k == reload + 4 {
            let smaller: Vec<&str> = MIRRORS
                .iter()
                .copied()
                .filter(|m| !m.starts_with("noisy"))
                .collect();
            fast = Content::new(&config(&smaller, pattern), Some(&fast));
            slow = Content::new(&config(&smaller, pattern), Some(&slow)).without_shortcuts();
        }
        let n = 13 + grow;
        let mut targets: Vec<Target> = config(&MIRRORS, None).targets();
        if mirrors_first(k) {
            // Mirrors before main (live last): they meet the references of
            // the step before, or none right after a reload.
            targets.reverse();
        }
        for target in targets {
            if k >= reload + 4 && target.url.host_str() == Some("noisy.mirror.test") {
                continue;
            }
            clock += 2;
            let now = t(clock);
            let pages: Vec<(&str, Vec<u8>, &str)> = ["/", "/fa/"]
                .into_iter()
                .map(|path| match target.role {
                    Role::Main => {
                        let mut p = page_at(n, "Busy", MAIN);
                        if path != "/" {
                            p.push_str("<!-- fa -->");
                        }
                        (path, p.into_bytes(), "text/html; charset=utf-8")
                    }
                    Role::Mirror => {
                        let host = target.url.host_str().unwrap_or_default();
                        let which = MIRRORS
                            .iter()
                            .position(|m| m.starts_with(host))
                            .unwrap_or(0);
                        let (b, ct) = mirror_body(which, k, n, path);
                        (path, b, ct)
                    }
                })
                .collect();
            let mut a = round(now, pages.clone());
            let mut b = round(now, pages);
            let prepared = fast.prepare(&target, &mut a);
            let (ra, ca) = fast.analyse(&target, prepared, now + Duration::from_secs(1));
            let prepared = slow.prepare(&target, &mut b);
            let (rb, cb) = slow.analyse(&target, prepared, now + Duration::from_secs(1));
            assert!(
                rb.analyses.iter().all(|h| *h == Analysed::Parsed),
                "without shortcuts every page is parsed"
            );
            let json = |r: &super::ContentReport| serde_json::to_string(r).expect("json");
            let (ja, jb) = (json(&ra), json(&rb));
            assert!(ja == jb, "step {k}, {}:\n{ja}\n{jb}", target.url);
            // The clock's changes come in hash-map order: compare them sorted.
            let sorted = |c: Option<super::ClockDelta>| {
                c.map(|mut c| {
                    c.added.sort();
                    c.gone.sort();
                    c.expired.sort();
                    format!("{c:?}")
                })
            };
            let (ca, cb) = (sorted(ca), sorted(cb));
            assert!(
                ca == cb,
                "clock, step {k}: {} vs {} bytes",
                ca.map_or(0, |c| c.len()),
                cb.map_or(0, |c| c.len())
            );
            let host = target.url.host_str().unwrap_or_default().to_string();
            let c = counts.entry(host).or_default();
            for h in ra.analyses {
                c[Analysed::ALL.iter().position(|x| *x == h).unwrap_or(0)] += 1;
            }
        }
    }
    counts
}

#[test]
fn shortcuts_give_the_same_results_as_parsing_every_page() {
    // Main publishes every other step.
    let ns: Vec<usize> = (0..24).map(|k| k / 2).collect();
    let counts = agree(&ns, 13, |k| k == 13);
    // [parsed, unchanged, identical] per host. The shortcuts were really
    // taken: main's page is parsed when it changed (12 changes, 2 paths)
    // and once more after each reload (a reload forgets every kept
    // analysis), except right after the first (step 13), where the mirrors
    // come first and main takes the live copy's parse of its page; the
    // live copy is unchanged when main did not publish and identical when
    // it did, and parsed only at step 13, where it meets no reference (the
    // reload dropped main's, analysed with the old article pattern); the
    // cached copy is unchanged between refreshes; the noisy one is parsed
    // every time until the second reload drops it.
    let get = |h: &str| counts.get(h).copied().unwrap_or_default();
    assert_eq!(get(MAIN), [26, 20, 2], "{counts:?}");
    assert_eq!(get("live.mirror.test"), [2, 20, 26], "{counts:?}");
    let [_, stale_unchanged, _] = get("stale.mirror.test");
    assert!(stale_unchanged > 0, "{counts:?}");
    assert_eq!(get("noisy.mirror.test"), [34, 0, 0], "{counts:?}");
}

#[test]
fn a_page_a_mirror_parsed_first_is_not_parsed_again() {
    // Main publishes every other step, and every mirror fetches before
    // main, the live copy last: it parses each new page (main's reference
    // is the step before's), and main takes that parse, article paths and
    // all (the clocks agree, see `agree`). Noisy, Latin-1 and the flipping
    // copy parse pages of their own and crowd no slot out: the live copy's
    // parse is the newest.
    let ns: Vec<usize> = (0..24).map(|k| k / 2).collect();
    let counts = agree(&ns, 13, |_| true);
    let get = |h: &str| counts.get(h).copied().unwrap_or_default();
    assert_eq!(get(MAIN), [0, 20, 28], "{counts:?}");
    assert_eq!(get("live.mirror.test"), [28, 20, 0], "{counts:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn any_publication_timeline_agrees(
        gaps in proptest::collection::vec(0usize..3, 4..10),
        reload in 0usize..12,
        order in proptest::collection::vec(any::<bool>(), 10),
    ) {
        // Main's article count over the steps: never decreasing, some steps
        // publishing several at once.
        let ns: Vec<usize> = gaps
            .iter()
            .scan(0, |acc, g| {
                *acc += g;
                Some(*acc)
            })
            .collect();
        agree(&ns, reload, |k| order.get(k).copied().unwrap_or(false));
    }
}

/// Announcements are read from the main page (first vantage), once per
/// distinct body; a seized page announces nothing, whatever it lists.
#[test]
fn announcements_come_only_from_a_main_page_that_matches_no_fingerprint() {
    let config = config(&MIRRORS, None);
    let content = Content::new(&config, None);
    let targets = config.targets();
    let main = targets.iter().find(|t| t.role == Role::Main).expect("main");
    let footer = "<p>Busy's website can also be accessed at the following alternate addresses: \
                  www.live.mirror.test, https://www.new.mirror.test/</p>";
    let page = format!("{}{footer}", page_at(40, "Busy", MAIN));
    let announced = |body: &str| {
        let mut r = round(t(0), vec![("/", body.as_bytes().to_vec(), "text/html")]);
        let prepared = content.prepare(main, &mut r);
        content.analyse(main, prepared, t(1)).0.announced
    };
    // The busy page's own footer names its host as an alternate address
    // (the site verdict leaves main itself out); then the added footer.
    let want = Some(vec![
        "www.busy.test".to_string(),
        "www.live.mirror.test".to_string(),
        "www.new.mirror.test".to_string(),
    ]);
    assert_eq!(announced(&page), want);
    assert_eq!(announced(&page), want, "the same body: the same list");
    let seized =
        format!("<h1>This domain has been seized by the United States Government</h1>{footer}");
    assert_eq!(announced(&seized), None, "a seized page announces nothing");
    let mirror = targets
        .iter()
        .find(|t| t.role == Role::Mirror)
        .expect("mirror");
    let mut r = round(t(0), vec![("/", page.into_bytes(), "text/html")]);
    let prepared = content.prepare(mirror, &mut r);
    assert_eq!(
        content.analyse(mirror, prepared, t(1)).0.announced,
        None,
        "mirrors announce nothing"
    );
}
