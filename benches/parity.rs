//! Parity cost: CPU time and peak heap to normalise and compare a pair of
//! ~500 KB pages (the main page and a noisy mirror copy), end to end as the
//! daemon does it: decode, tokenize, shingle, Jaccard, title, length ratio,
//! article extraction and lag.
//!
//! Run: `cargo bench --bench parity`. Prints figures; asserts nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use mirrorwatch::parity::freshness::{self, ArticleMatcher, Clock, Snapshot, Window};
use mirrorwatch::parity::normalize::{Rewrite, decode, normalize};
use mirrorwatch::parity::similarity::{jaccard, length_ratio, shingles, title_match};
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

/// The main page normalised once, as the daemon keeps it per main round.
struct Reference {
    page: mirrorwatch::parity::normalize::Page,
    shingles: Vec<u64>,
    articles: Vec<String>,
    snapshot: Snapshot,
}

fn reference(main_html: &[u8], matcher: &ArticleMatcher) -> Reference {
    let url = url::Url::parse("https://www.main.test/").expect("url");
    let text = decode(main_html, Some("text/html; charset=utf-8"));
    let page = normalize(
        &text,
        &Rewrite {
            base: &url,
            from: &[],
            to: "www.main.test",
        },
    );
    let articles = matcher.articles(&page.links);
    Reference {
        shingles: shingles(&page.text),
        snapshot: Snapshot {
            window: Window::at(SystemTime::now()),
            ids: freshness::ids(&articles),
        },
        articles,
        page,
    }
}

/// One mirror comparison against a kept reference: what the daemon does
/// per mirror per round.
fn compare(r: &Reference, mirror_html: &[u8], matcher: &ArticleMatcher, clock: &Clock) -> f64 {
    let url = url::Url::parse("https://www.mirror.test/").expect("url");
    let text = decode(mirror_html, Some("text/html; charset=utf-8"));
    let from = ["www.mirror.test".to_string()];
    let b = normalize(
        &text,
        &Rewrite {
            base: &url,
            from: &from,
            to: "www.main.test",
        },
    );
    let sim = jaccard(&r.shingles, &shingles(&b.text));
    let on_mirror = freshness::ids(&matcher.articles(&b.links));
    let lag = freshness::judge(
        Window::at(SystemTime::now()),
        &on_mirror,
        &r.snapshot,
        &r.snapshot,
        clock,
    );
    let _ = (
        title_match(&r.page.title, &b.title),
        length_ratio(r.page.length, b.length),
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
        },
    );
    let matcher = ArticleMatcher::default();
    let mut clock = Clock::default();
    let kept = reference(main.as_bytes(), &matcher);
    clock.observe(&kept.articles, Window::at(SystemTime::now()), None);

    let n = 50;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut sim = 0.0;
    let (steady_cpu, steady_wall) = measure(n, || {
        sim = compare(&kept, mirror.as_bytes(), &matcher, &clock)
    });
    let (cold_cpu, cold_wall) = measure(n, || {
        let r = reference(main.as_bytes(), &matcher);
        sim = compare(&r, mirror.as_bytes(), &matcher, &clock);
    });
    let (floor_cpu, _) = measure(n, || tokenize_only(&mirror));
    let steady_peak = peak_heap(|| {
        compare(&kept, mirror.as_bytes(), &matcher, &clock);
    });
    let cold_peak = peak_heap(|| {
        let r = reference(main.as_bytes(), &matcher);
        compare(&r, mirror.as_bytes(), &matcher, &clock);
    });
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
