//! Parity cost: CPU time and peak heap to normalise and compare a pair of
//! ~500 KB pages (the main page and a noisy mirror copy), end to end as the
//! daemon does it: canonical host names, decode, tokenize, shingle, Jaccard,
//! title, length ratio, article extraction and lag; and what the shortcuts
//! cost instead (the canonical digest that finds an identical page), and
//! what a kept reference weighs.
//!
//! Run: `cargo bench --bench parity`. Prints figures; asserts nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use mirrorwatch::ground::hash::Digest;
use mirrorwatch::parity::analysis::{self, Analysis, Site, base_url};
use mirrorwatch::parity::canon::Canon;
use mirrorwatch::parity::freshness::{self, ArticleMatcher, Clock, Snapshot, Window};
use mirrorwatch::parity::normalize::{Rewrite, decode, normalize_fast, normalize_reference};
use mirrorwatch::parity::similarity::{jaccard_sets, length_ratio, title_match};
use mirrorwatch::world::pages::{Feed, Noise, homepage};

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// CPU time of this thread (ns), from the scheduler's own accounting.
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// The main page analysed once, as the daemon keeps it per main round.
struct Reference {
    analysis: Analysis,
    snapshot: Snapshot,
}

fn site<'a>(canon: &'a Canon, others: &'a [String], matcher: &'a ArticleMatcher) -> Site<'a> {
    Site {
        canon,
        others,
        matcher,
    }
}

const CT: Option<&str> = Some("text/html; charset=utf-8");

fn analyse(site: &Site<'_>, url: &str, body: &[u8]) -> Analysis {
    let url = url::Url::parse(url).expect("url");
    let base = base_url(&url, "/", site.canon.main());
    let html = decode(body, CT);
    analysis::parse(site, &site.canon.apply(&html), &base).0
}

fn reference(site: &Site<'_>, main_html: &[u8]) -> Reference {
    let analysis = analyse(site, "https://www.main.test/", main_html);
    Reference {
        snapshot: Snapshot {
            window: Window::at(SystemTime::now()),
            ids: analysis.ids.clone(),
        },
        analysis,
    }
}

/// One mirror comparison against a kept reference: what the daemon does
/// per mirror round that must parse.
fn compare(r: &Reference, site: &Site<'_>, mirror_html: &[u8], clock: &Clock) -> f64 {
    let b = analyse(site, "https://www.mirror.test/", mirror_html);
    let sim = jaccard_sets(&r.analysis.shingles, &b.shingles);
    let lag = freshness::judge(
        Window::at(SystemTime::now()),
        &b.ids,
        &r.snapshot.ids,
        &r.snapshot.ids,
        clock,
    );
    let _ = (
        title_match(&r.analysis.title, &b.title),
        length_ratio(r.analysis.length, b.length),
        lag,
    );
    sim
}

/// Mean thread CPU and wall time of `f` over `n` runs (after 3 warm-ups).
fn measure(n: u32, mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..3 {
        f();
    }
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    for _ in 0..n {
        f();
    }
    ((thread_cpu() - cpu0) / n, wall0.elapsed() / n)
}

/// Peak heap above the current level while running `f` once.
fn peak_heap(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

fn main() {
    let feed = Feed {
        start: Instant::now(),
        initial: 3000,
        every: Duration::from_secs(3600),
        shown: 2150,
    };
    let articles = feed.latest(false);
    let main = homepage(
        "World News Network",
        "www.main.test",
        &articles,
        "2026-11-27T10:00:00Z",
        Noise::default(),
    );
    let mirror = homepage(
        "World News Network",
        "www.mirror.test",
        &articles,
        "2026-11-27T10:04:31Z",
        Noise {
            swap_blocks: true,
            cache_busters: true,
            ad: 1,
            announce: 0,
            announce_port: 0,
        },
    );
    let matcher = ArticleMatcher::default();
    let others = vec!["www.mirror.test".to_string()];
    let canon = Canon::new("www.main.test", &others);
    let site = site(&canon, &others, &matcher);
    let mut clock = Clock::default();
    let kept = reference(&site, main.as_bytes());
    let names: Vec<String> = {
        let url = url::Url::parse("https://www.main.test/").expect("url");
        let html = decode(main.as_bytes(), CT);
        analysis::parse(&site, &canon.apply(&html), &url).1.to_vec()
    };
    clock.observe(&names, Window::at(SystemTime::now()), None);
    // A live mirror's copy: main's page with the mirror's host.
    let live = main.replace("www.main.test", "www.mirror.test");

    let n = 50;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut sim = 0.0;
    let (steady_cpu, steady_wall) =
        measure(n, || sim = compare(&kept, &site, mirror.as_bytes(), &clock));
    let (cold_cpu, cold_wall) = measure(n, || {
        let r = reference(&site, main.as_bytes());
        sim = compare(&r, &site, mirror.as_bytes(), &clock);
    });
    let (floor_cpu, _) = measure(n, || tokenize_only(&mirror));
    // The normaliser alone on the mirror page, side by side: its fast
    // path, and html5ever's tokenizer driving the same reader.
    let mirror_url = url::Url::parse("https://www.mirror.test/").expect("url");
    let rw = Rewrite {
        base: &mirror_url,
        from: &others,
        to: "www.main.test",
    };
    let (fast_cpu, _) = measure(n, || {
        std::hint::black_box(
            normalize_fast(&mirror, &rw, false).expect("the fast path reads the page"),
        );
    });
    let (html5ever_cpu, _) = measure(n, || {
        std::hint::black_box(normalize_reference(&mirror, &rw, false));
    });
    // The identical shortcut: decode, canonical text and its digest (equal
    // to main's), instead of a parse.
    let key = |body: &str| Digest::of(canon.apply(&decode(body.as_bytes(), CT)).as_bytes());
    let main_key = key(&main);
    let (digest_cpu, _) = measure(n, || {
        assert_eq!(key(std::hint::black_box(&live)), main_key);
    });
    // The streamed digest alone (the unchanged shortcut's only cost).
    let (raw_cpu, _) = measure(n, || {
        std::hint::black_box(Digest::of(std::hint::black_box(live.as_bytes())));
    });
    let steady_peak = peak_heap(|| {
        compare(&kept, &site, mirror.as_bytes(), &clock);
    });
    let cold_peak = peak_heap(|| {
        let r = reference(&site, main.as_bytes());
        compare(&r, &site, mirror.as_bytes(), &clock);
    });
    // What one kept reference weighs (its analysis: shingles, ids, title).
    let base = LIVE.load(Ordering::Relaxed);
    let weighed = reference(&site, main.as_bytes());
    let reference_bytes = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    let shingle_count = weighed.analysis.shingles.len();
    drop(weighed);
    let mb = (main.len() + mirror.len()) as f64 / (1024.0 * 1024.0);

    println!(
        "parity benchmark: a ~500 KB main page and a noisy mirror copy (swapped blocks, other ad, cache-busters)"
    );
    println!(
        "  page sizes                 {:>7.1} KB + {:.1} KB, {} articles each; similarity {sim:.3}",
        main.len() as f64 / 1024.0,
        mirror.len() as f64 / 1024.0,
        articles.len()
    );
    println!("  figure                            CPU ms   wall ms   peak heap MB");
    println!(
        "  per mirror, reference kept      {:>8.2}  {:>8.2}  {:>8.2}   (what the daemon pays per mirror per round)",
        ms(steady_cpu),
        ms(steady_wall),
        steady_peak as f64 / 1048576.0
    );
    println!(
        "  cold pair, both normalised      {:>8.2}  {:>8.2}  {:>8.2}   ({:.1} ms CPU per MB of HTML)",
        ms(cold_cpu),
        ms(cold_wall),
        cold_peak as f64 / 1048576.0,
        ms(cold_cpu) / mb
    );
    println!(
        "  floor: html5ever tokenizer only {:>8.2}            -        (mirror page, no sink work)",
        ms(floor_cpu)
    );
    println!(
        "  normalise the mirror page: fast path {:.2} ms, html5ever {:.2} ms ({:.2}x)",
        ms(fast_cpu),
        ms(html5ever_cpu),
        fast_cpu.as_secs_f64() / html5ever_cpu.as_secs_f64().max(1e-9)
    );
    println!(
        "  identical page: decode, canonical text, digest {:>6.3}      (instead of a parse: {:.0}x cheaper)",
        ms(digest_cpu),
        steady_cpu.as_secs_f64() / digest_cpu.as_secs_f64().max(1e-9)
    );
    println!(
        "  unchanged page: body digest      {:>7.3}            -        (computed while the body streams in)",
        ms(raw_cpu)
    );
    println!(
        "  a kept reference: {:.0} KB ({shingle_count} shingles, {} article ids)",
        reference_bytes as f64 / 1024.0,
        kept.analysis.ids.len()
    );
    println!(
        "  target: < 10 ms per pair; mean of {n} runs, thread CPU time from /proc/thread-self/schedstat"
    );
}

/// html5ever's tokenizer with a sink that does nothing: the parser's own cost.
fn tokenize_only(html: &str) {
    use html5ever::tendril::StrTendril;
    use html5ever::tokenizer::{
        BufferQueue, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
    };
    struct Nothing;
    impl TokenSink for Nothing {
        type Handle = ();
        fn process_token(&self, _: Token, _: u64) -> TokenSinkResult<()> {
            TokenSinkResult::Continue
        }
    }
    let t = Tokenizer::new(Nothing, TokenizerOpts::default());
    let q = BufferQueue::default();
    q.push_back(StrTendril::from_slice(html));
    let _ = t.feed(&q);
    t.end();
}
