//! The fast path ([`super::scan`]) held to html5ever: on any document it
//! either gives up or yields the very page html5ever's tokenizer yields.
//! Documents are built from the constructs news pages use and the ones
//! the scanner must refuse or read carefully.

use proptest::prelude::*;
use url::Url;

use super::normalize::{Page, Rewrite, normalize_fast, normalize_reference, normalize_text};
use crate::world::busy;
use crate::world::pages::{self, Feed, Noise};

const MAIN: &str = "www.main.test";
const MIRROR: &str = "www.mirror.test";

/// Runs `f` with the rewrite every test here uses (a mirror's page, its
/// host written as main's).
fn rewritten<R>(f: impl FnOnce(&Rewrite<'_>) -> R) -> R {
    let base = Url::parse(&format!("https://{MIRROR}/section/")).expect("url");
    let from = [MIRROR.to_string()];
    f(&Rewrite {
        base: &base,
        from: &from,
        to: MAIN,
    })
}

fn pair(html: &str) -> (Page, Page) {
    rewritten(|rw| {
        (
            normalize_text(html, rw),
            normalize_reference(html, rw, true),
        )
    })
}

fn assert_same(html: &str) {
    let (fast, reference) = pair(html);
    assert_eq!(fast.title, reference.title, "title of {html:?}");
    assert_eq!(fast.text, reference.text, "text of {html:?}");
    assert_eq!(fast.words, reference.words, "words of {html:?}");
    assert_eq!(fast.links, reference.links, "links of {html:?}");
    assert_eq!(fast.length, reference.length);
}

/// Whether the fast path reads `html` (as the normaliser drives it).
fn reads(html: &str) -> bool {
    rewritten(|rw| normalize_fast(html, rw, false).is_some())
}

/// Constructs the scan must read (alone or in any order).
const READ: &[&str] = &[
    "<a href=\"/news/2026/11/27/1234/\">",
    "<A HREF='https://www.mirror.test/a?x=1&amp;y=2'>",
    "<a href=//www.mirror.test/b#top>",
    "<a href=\"/c&#47;d\" href=\"/second\">",
    "<a href=\"/e&notin;f\">",
    "<a href=\"/i&b=2\">",
    "<a href=>",
    "<a =x href=\"/k\"/>",
    "<a/href=\"/l\">",
    "<a\rhref=/m\n>",
    "</a>",
    "<div class=\"rail\" data-x='1'>",
    "</div>",
    "<p>",
    "<br/>",
    "<img src=x alt=\"a > b\">",
    "<script>var s = '</scr' + 'ipt>'; if (a < b) {}</script>",
    "</script>",
    "</SCRIPT >",
    "<script/>",
    "<style>p { margin: 0 }</style>",
    "<noscript><img src=/pixel></noscript>",
    "<template><p>hidden</p></template>",
    "<title>",
    "</title>",
    "<title>News &amp; views | www.mirror.test</title>",
    "<textarea>a &lt; b</textarea>",
    "<!-- a comment -->",
    "<!---->",
    "<!-->",
    "<!--->",
    "<!-- x --!> y",
    "<!-- <!-- nested --> -->",
    "<!DOCTYPE html>",
    "<!doctype html public \"a>b\">",
    "<![CDATA[ x ]]>",
    "<?xml version=\"1.0\"?>",
    "</>",
    "</ x>",
    "</3>",
    "a < b",
    "<",
    "</",
    "&",
    "&amp;",
    "&AMP;",
    "&nbsp;",
    "&hellip;",
    "&#65;",
    "&#x41;",
    "&#X1F600;",
    "&bogus;",
    "AT&T",
    "\r\n",
    "\r",
    " ",
    "\n\t",
    "Breaking news",
    "خبر فوری",
    "Actualités à la une",
    "最新ニュース",
    "2026-11-27T10:00:00Z",
    "www.mirror.test",
    "<div",
    "<p id=x",
];

/// Constructs it may refuse (html5ever reads the page instead).
const REFUSED: &[&str] = &[
    // Refused when a `<!--` follows before its end tag.
    "<script type=\"text/javascript\">",
    "<a href=\"/g&not=1\">",
    "<a href=\"/h&copy\">",
    "<a\rhref=\"/j\r\n\">",
    "<a href=\"/unterminated",
    "<script>/* <!-- */</script>",
    "&copy",
    "&notit;",
    "&#0;",
    "&#128;",
    "&#xD800;",
    "&#65",
    "&#;",
    "\0",
];

fn fragments(from: Vec<&'static str>) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(from), 0..40).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_fast_path_reads_a_page_as_html5ever_does(html in fragments(READ.to_vec())) {
        // A document that ends inside a tag is html5ever's to read: the
        // `>` closes whatever tag the fragments left open.
        let html = format!("{html}>");
        prop_assert!(reads(&html), "bailed on {html:?}");
        assert_same(&html);
    }

    #[test]
    fn refused_constructs_leave_the_page_to_html5ever(
        html in fragments([READ, REFUSED].concat())
    ) {
        assert_same(&html);
    }

    #[test]
    fn any_text_reads_as_html5ever_does(html in r#"[<>&#;a-zA-Z0-9="'/!?\[\] \r\n\t\x0C-]{0,80}"#) {
        assert_same(&html);
    }
}

#[test]
fn the_worlds_pages_take_the_fast_path() {
    let feed = Feed {
        start: std::time::Instant::now(),
        initial: 200,
        every: std::time::Duration::from_secs(3600),
        shown: 40,
    };
    let mut seen = 0;
    for frozen in [false, true] {
        for noise in [
            Noise::default(),
            Noise {
                swap_blocks: true,
                cache_busters: true,
                ad: 1,
                ..Noise::default()
            },
        ] {
            let articles = feed.latest(frozen);
            let html = pages::homepage(
                "World News",
                MIRROR,
                &articles,
                "2026-11-27T10:00:00Z",
                noise,
            );
            assert!(reads(&html), "the world's homepage bailed");
            assert_same(&html);
            seen += 1;
        }
    }
    // The busy site: rotating rails, links in Persian, French and CJK.
    for n in [0, 7, 40] {
        let html = busy::page_at(n, "Busy News", MIRROR);
        assert!(reads(&html), "the busy page bailed");
        assert_same(&html);
        seen += 1;
    }
    assert_eq!(seen, 7);
}

#[test]
fn what_it_cannot_read_exactly_bails() {
    for html in [
        "a\0b",
        "&copy 2026",
        "&#65 ",
        "<script><!-- x --></script>",
        "<p class=x",
        "<a href=\"/x\r\">",
        "<title>x</title",
    ] {
        assert!(!reads(html), "{html:?}");
        assert_same(html);
    }
}

#[test]
fn comments_end_at_their_first_closing_dashes() {
    for html in [
        "a<!--->b",
        "a<!---->b",
        "a<!-- x --->b",
        "a<!-- x ---!>b",
        "a<!-- x -- y -->b",
        "a<!-- x --!-->b",
        "<p id=x<script>/* <!-- */</script>c<!---><a>&AMP;",
    ] {
        assert!(reads(html), "{html:?}");
        assert_same(html);
    }
}
