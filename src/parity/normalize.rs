//! Page normalisation: bytes → the text, title and links that parity
//! compares.
//!
//! Decodes the charset (header, BOM, `<meta>` prescan, else UTF-8), then runs
//! html5ever's tokenizer, which is linear in the input (no tree building, so
//! no quadratic paths on hostile markup). Text inside script, style,
//! noscript and template is dropped, as are comments. The mirror's host names
//! (in links, scheme-relative links and the title) are rewritten to the main
//! host; link identity is the path with the query removed. The visible text
//! is hashed word by word as it streams out of the tokenizer
//! ([`similarity::WordHasher`]); only tests and the fuzzer keep it as text.

use std::borrow::Cow;
use std::cell::RefCell;

use encoding_rs::{Encoding, UTF_8};
use html5ever::local_name;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use url::Url;

use super::paths::Paths;
use super::similarity::WordHasher;

/// A page reduced to what parity compares.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub title: String,
    /// Hashes of the visible text's words, in order (see `similarity`).
    pub words: Vec<u64>,
    /// Visible text, whitespace collapsed, hosts rewritten: only from
    /// [`normalize_text`] (tests, the fuzzer); empty otherwise.
    pub text: String,
    /// Link paths (query removed) that stay on the page's own site, in order.
    pub links: Paths,
    /// Decoded length of the whole document, bytes.
    pub length: usize,
}

/// Which host names to rewrite, and where links resolve.
pub struct Rewrite<'a> {
    /// The URL the page was fetched from.
    pub base: &'a Url,
    /// Host names (the page's own) to replace by `to`.
    pub from: &'a [String],
    pub to: &'a str,
}

/// Decodes `body` using the charset from `content_type`, a BOM or a
/// `<meta charset>` in the first 1024 bytes; UTF-8 otherwise.
pub fn decode(body: &[u8], content_type: Option<&str>) -> String {
    let declared = content_type
        .and_then(charset_param)
        .or_else(|| meta_charset(&body[..body.len().min(1024)]))
        .and_then(|label| Encoding::for_label(label.as_bytes()))
        .unwrap_or(UTF_8);
    let (text, _, _) = declared.decode(body);
    text.into_owned()
}

/// What [`decode`] reads of the `Content-Type` header: `None` without a
/// charset parameter (the body's BOM or `<meta>` decides), else the encoding
/// the parameter names (`Some(None)`: an unknown label, so UTF-8).
pub fn header_charset(content_type: Option<&str>) -> Option<Option<&'static Encoding>> {
    content_type
        .and_then(charset_param)
        .map(|label| Encoding::for_label(label.as_bytes()))
}

fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

fn meta_charset(head: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let label: String = head[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!label.is_empty()).then_some(label)
}

#[derive(Default)]
struct State {
    skip_depth: u32,
    in_title: bool,
    title: String,
    words: WordHasher,
    /// Kept only when asked for ([`normalize_text`]).
    text: Option<String>,
    links: Paths,
}

struct Sink<'a> {
    state: RefCell<State>,
    rewrite: &'a Rewrite<'a>,
}

/// Elements whose text is not visible.
fn skipped(name: &html5ever::LocalName) -> bool {
    *name == local_name!("script")
        || *name == local_name!("style")
        || *name == local_name!("noscript")
        || *name == local_name!("template")
}

impl TokenSink for Sink<'_> {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut s = self.state.borrow_mut();
        match token {
            Token::TagToken(tag) => {
                let name = &tag.name;
                // A tag separates words.
                s.words.end_word();
                if let Some(text) = s.text.as_mut()
                    && !text.ends_with(' ')
                {
                    text.push(' ');
                }
                if tag.kind == TagKind::EndTag {
                    if skipped(name) {
                        s.skip_depth = s.skip_depth.saturating_sub(1);
                    } else if *name == local_name!("title") {
                        s.in_title = false;
                    }
                    return TokenSinkResult::Continue;
                }
                if *name == local_name!("a") {
                    let href = tag
                        .attrs
                        .iter()
                        .find(|a| a.name.local == local_name!("href"));
                    if let Some(path) = href.and_then(|h| link_path(self.rewrite, &h.value)) {
                        s.links.push(&path);
                    }
                }
                if tag.self_closing {
                    return TokenSinkResult::Continue;
                }
                if skipped(name) {
                    s.skip_depth += 1;
                    let kind = if *name == local_name!("script") {
                        RawKind::ScriptData
                    } else {
                        RawKind::Rawtext
                    };
                    return TokenSinkResult::RawData(kind);
                }
                if *name == local_name!("title") {
                    s.in_title = true;
                    return TokenSinkResult::RawData(RawKind::Rcdata);
                }
                if *name == local_name!("textarea") {
                    return TokenSinkResult::RawData(RawKind::Rcdata);
                }
            }
            Token::CharacterTokens(t) => {
                if s.in_title {
                    s.title.push_str(&t);
                } else if s.skip_depth == 0 {
                    s.words.feed(&t);
                    if let Some(text) = s.text.as_mut() {
                        push_collapsed(text, &t);
                    }
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

fn push_collapsed(out: &mut String, t: &StrTendril) {
    for word in t.split_ascii_whitespace() {
        if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        out.push_str(word);
    }
    if t.ends_with(|c: char| c.is_ascii_whitespace()) && !out.ends_with(' ') {
        out.push(' ');
    }
}

/// The identity of an `href` on this page: its path (query and fragment
/// removed), when it points at the page's own site (after rewriting).
/// Root-relative, scheme-relative and absolute http(s) links take a fast
/// path; anything else is resolved with `Url::join`.
fn link_path<'h>(rw: &Rewrite<'_>, href: &'h str) -> Option<Cow<'h, str>> {
    let href = href.trim();
    // Borrowed from the attribute: no allocation for the common links.
    let strip = |p: &'h str| -> Cow<'h, str> {
        let end = p.find(['?', '#']).unwrap_or(p.len());
        Cow::Borrowed(p.get(..end).filter(|s| !s.is_empty()).unwrap_or("/"))
    };
    let own = |host: &str| {
        let host = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        host.eq_ignore_ascii_case(rw.to) || rw.from.iter().any(|f| host.eq_ignore_ascii_case(f))
    };
    let after_scheme = href
        .strip_prefix("https://")
        .or_else(|| href.strip_prefix("http://"))
        .or_else(|| href.strip_prefix("//"));
    if let Some(rest) = after_scheme {
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, path) = rest.split_at(split);
        let simple = !host.is_empty()
            && !host.contains(['@', '\\', '%'])
            && !path.contains(['\\', '%'])
            && !path.contains("/.");
        if simple {
            return own(host).then(|| strip(path));
        }
    } else if href.starts_with('/') && !href.contains(['\\', '%']) && !href.contains("/.") {
        return Some(strip(href));
    }
    let url = rw.base.join(href).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    own(url.host_str()?).then(|| Cow::Owned(url.path().to_string()))
}

fn rewrite_hosts(text: &str, rw: &Rewrite<'_>) -> String {
    let mut out = text.to_string();
    for h in rw
        .from
        .iter()
        .filter(|h| !h.is_empty() && h.as_str() != rw.to)
    {
        if out.contains(h.as_str()) {
            out = out.replace(h.as_str(), rw.to);
        }
    }
    out
}

/// Normalises a decoded document (its text as word hashes only).
pub fn normalize(html: &str, rw: &Rewrite<'_>) -> Page {
    run(html, rw, false)
}

/// [`normalize`], also keeping the visible text (for tests and the fuzzer).
pub fn normalize_text(html: &str, rw: &Rewrite<'_>) -> Page {
    run(html, rw, true)
}

fn run(html: &str, rw: &Rewrite<'_>, keep_text: bool) -> Page {
    let sink = Sink {
        state: RefCell::new(State {
            text: keep_text.then(|| String::with_capacity(html.len() / 2)),
            // A news page has about one visible word per 10-20 bytes of
            // HTML: growing the vector by doubling copied it a dozen
            // times (malloc and realloc were a seventh of a changed round).
            words: WordHasher::with_capacity(html.len() / 12),
            ..State::default()
        }),
        rewrite: rw,
    };
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let mut s = tokenizer.sink.state.into_inner();
    s.words.end_word();
    Page {
        title: rewrite_hosts(
            s.title
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .as_str(),
            rw,
        ),
        words: s.words.into_words(),
        text: s
            .text
            .map(|t| rewrite_hosts(t.trim(), rw))
            .unwrap_or_default(),
        links: s.links,
        length: html.len(),
    }
}
