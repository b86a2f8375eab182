//! Mirrors the site announces itself: "Press TV's website can also be
//! accessed at the following alternate addresses: www.presstv.co.uk". On a
//! main page, the host names after a text matching the site's
//! `announce_pattern`, in the same block of text (a paragraph, list item,
//! cell, …), and the hosts its links there point to. Read from the page as
//! served (before host names are rewritten for parity), bounded: at most
//! [`MAX_HOSTS`] hosts, from a window of the page around the first few
//! matches. No matching block is no announcement (not "none announced").

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::{LocalName, local_name};
use regex::Regex;

/// Hosts taken from one announcement, at most.
pub const MAX_HOSTS: usize = 32;
/// Matches looked at, at most.
const MAX_MATCHES: usize = 4;
/// Bytes of page read before and after a match.
const BEFORE: usize = 2048;
const AFTER: usize = 8192;

/// The default `announce_pattern`.
pub use crate::config::DEFAULT_ANNOUNCE_PATTERN as DEFAULT_PATTERN;

/// A host as announced: lower case, IDNA (punycode), without scheme,
/// user or path; with `:port` only when one is given that is not the
/// scheme's default. `None` when the text is no host name.
pub fn host_of(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches('.');
    let (scheme, rest) = match t.split_once("://") {
        Some((s, rest)) => (Some(s.to_ascii_lowercase()), rest),
        None => (None, t),
    };
    let rest = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let (name, port) = match rest.rsplit_once(':') {
        Some((n, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
            (n, p.parse::<u16>().ok())
        }
        _ => (rest, None),
    };
    let url::Host::Domain(d) = url::Host::parse(name.trim_end_matches('.')).ok()? else {
        return None;
    };
    let d = d.to_ascii_lowercase();
    let tld = d.rsplit('.').next().unwrap_or_default();
    let tld_ok = match tld.strip_prefix("xn--") {
        Some(p) => !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()),
        None => tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()),
    };
    if !d.contains('.') || !tld_ok {
        return None;
    }
    let default = if scheme.as_deref() == Some("http") {
        80
    } else {
        443
    };
    match port {
        Some(p) if p != default => Some(format!("{d}:{p}")),
        _ => Some(d),
    }
}

/// A host as announcements are compared: [`host_of`] without port and
/// without a leading `www.`.
pub fn comparable(text: &str) -> Option<String> {
    let h = host_of(text)?;
    let h = match h.rsplit_once(':') {
        Some((name, _)) => name.to_string(),
        None => h,
    };
    Some(h.strip_prefix("www.").unwrap_or(&h).to_string())
}

/// Element names that end a block of text.
fn block(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("p")
            | local_name!("div")
            | local_name!("li")
            | local_name!("ul")
            | local_name!("ol")
            | local_name!("td")
            | local_name!("th")
            | local_name!("tr")
            | local_name!("section")
            | local_name!("article")
            | local_name!("footer")
            | local_name!("header")
            | local_name!("aside")
            | local_name!("h1")
            | local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("h5")
            | local_name!("h6")
            | local_name!("body")
            | local_name!("table")
            | local_name!("blockquote")
    )
}

/// A block: its text, and its links with the text offset they follow.
#[derive(Default)]
struct Block {
    text: String,
    links: Vec<(usize, String)>,
}

#[derive(Default)]
struct Blocks {
    done: Vec<Block>,
    current: Block,
    skip: u32,
}

struct Sink(RefCell<Blocks>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut b = self.0.borrow_mut();
        match token {
            Token::TagToken(tag) => {
                let skipped = matches!(tag.name, local_name!("script") | local_name!("style"));
                if skipped {
                    b.skip = if tag.kind == TagKind::StartTag {
                        b.skip.saturating_add(1)
                    } else {
                        b.skip.saturating_sub(1)
                    };
                }
                if block(&tag.name) {
                    let full = std::mem::take(&mut b.current);
                    b.done.push(full);
                } else {
                    b.current.text.push(' ');
                }
                if tag.kind == TagKind::StartTag && tag.name == local_name!("a") {
                    let at = b.current.text.len();
                    if let Some(href) = tag
                        .attrs
                        .iter()
                        .find(|a| a.name.local == local_name!("href"))
                    {
                        let href = href.value.to_string();
                        if b.current.links.len() < MAX_HOSTS {
                            b.current.links.push((at, href));
                        }
                    }
                }
            }
            Token::CharacterTokens(t) if b.skip == 0 && b.current.text.len() < 16 * 1024 => {
                b.current.text.push_str(&t);
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// The hosts `html` announces after `pattern`; `None` when no block of its
/// text matches.
pub fn extract(html: &str, pattern: &Regex) -> Option<Vec<String>> {
    let mut found: Option<Vec<String>> = None;
    for m in pattern.find_iter(html).take(MAX_MATCHES) {
        let mut start = m.start().saturating_sub(BEFORE);
        while !html.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = m.end().saturating_add(AFTER).min(html.len());
        while !html.is_char_boundary(end) {
            end += 1;
        }
        let Some(window) = html.get(start..end) else {
            continue;
        };
        for b in blocks(window) {
            let Some(hit) = pattern.find(&b.text) else {
                continue;
            };
            let list = found.get_or_insert_with(Vec::new);
            let after = b.text.get(hit.end()..).unwrap_or_default();
            // A link names its host more precisely (its port) than the
            // text showing it does.
            let linked: Vec<String> = b
                .links
                .iter()
                .filter(|(at, _)| *at >= hit.start())
                .filter_map(|(_, href)| host_of(href))
                .collect();
            let words = after
                .split(|c: char| c.is_whitespace() || ",;|،、()[]<>\"'".contains(c))
                .map(|w| w.trim_end_matches(['.', ':']))
                .filter_map(host_of)
                .map(|w| {
                    linked
                        .iter()
                        .find(|l| comparable(l) == comparable(&w))
                        .cloned()
                        .unwrap_or(w)
                });
            for host in words.chain(linked.iter().cloned()) {
                if list.len() >= MAX_HOSTS {
                    return found;
                }
                if !list.iter().any(|h| comparable(h) == comparable(&host)) {
                    list.push(host);
                }
            }
        }
        if found.is_some() {
            break;
        }
    }
    found
}

fn blocks(html: &str) -> Vec<Block> {
    let tokenizer = Tokenizer::new(
        Sink(RefCell::new(Blocks::default())),
        TokenizerOpts::default(),
    );
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let mut b = tokenizer.sink.0.into_inner();
    let last = std::mem::take(&mut b.current);
    b.done.push(last);
    for block in &mut b.done {
        block.text = block.text.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    b.done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re() -> Regex {
        Regex::new(DEFAULT_PATTERN).expect("regex")
    }

    #[test]
    fn the_press_tv_footer() {
        let html = "<html><body><div class=article>Some story about alternate routes.</div>\
            <p>Press TV's website can also be accessed at the following alternate addresses:</p>\
            <p>www.presstv.co.uk</p>\
            <div class=footer><p>Press TV's website can also be accessed at the following alternate addresses: \
            <a href=\"https://www.presstv.co.uk/\">www.presstv.co.uk</a>, WWW.PressTV.tv and https://presstv.فارسی/news</p></div>";
        assert_eq!(
            extract(html, &re()),
            Some(vec![
                "www.presstv.co.uk".to_string(),
                "www.presstv.tv".to_string(),
                "presstv.xn--mgbug7c06b".to_string()
            ]),
            "every block holding the text is read (here, one names none); links count too; IDNA applied"
        );
    }

    #[test]
    fn a_line_break_does_not_end_the_block() {
        let html = "<div>Press TV\u{2019}s website can also be accessed at the following alternate addresses:<br><br>\
                    <a href=\"https://www.presstv.co.uk\">www.presstv.co.uk</a></div><div>www.other.test</div>";
        assert_eq!(
            extract(html, &re()),
            Some(vec!["www.presstv.co.uk".to_string()])
        );
        let ported = "<p>alternate addresses: www.a.test, <a href=\"https://www.a.test:8443/\">www.a.test</a></p>";
        assert_eq!(
            extract(ported, &re()),
            Some(vec!["www.a.test:8443".to_string()]),
            "the link's port wins"
        );
    }

    #[test]
    fn no_block_is_no_announcement_and_an_empty_block_is_an_empty_one() {
        assert_eq!(extract("<p>nothing here</p>", &re()), None);
        assert_eq!(
            extract(
                "<p>Our alternate addresses will be published soon.</p>",
                &re()
            ),
            Some(vec![])
        );
        assert_eq!(
            extract(
                "<script>var s='alternate address: evil.test'</script><p>hi</p>",
                &re()
            ),
            None,
            "script text is not a block of the page"
        );
    }

    #[test]
    fn ten_thousand_names_are_capped() {
        let names: Vec<String> = (0..10_000).map(|i| format!("m{i}.hostile.test")).collect();
        let html = format!("<p>alternate addresses: {}</p>", names.join(" "));
        let got = extract(&html, &re()).expect("announcement");
        assert_eq!(got.len(), MAX_HOSTS);
        assert_eq!(got[0], "m0.hostile.test");
        assert_eq!(
            host_of("https://WWW.Example.co.uk:443/x"),
            Some("www.example.co.uk".into())
        );
        assert_eq!(host_of("http://a.test:8080/"), Some("a.test:8080".into()));
    }

    #[test]
    fn comparable_hosts() {
        assert_eq!(
            comparable("https://WWW.Example.co.uk:443/x"),
            Some("example.co.uk".into())
        );
        assert_eq!(comparable("presstv.ir."), Some("presstv.ir".into()));
        for not in [
            "",
            "localhost",
            "10.0.0.1",
            "[::1]",
            "a.b1",
            "https://",
            "addresses",
        ] {
            assert_eq!(comparable(not), None, "{not}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_page_is_bounded_and_never_panics(s in "\\PC{0,400}") {
            if let Some(hosts) = extract(&format!("<p>alternate address {s}"), &re()) {
                proptest::prop_assert!(hosts.len() <= MAX_HOSTS);
            }
            let _ = extract(&s, &re());
        }
    }
}
