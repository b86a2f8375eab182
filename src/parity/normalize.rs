//! Page normalisation: bytes → the text, title and links that parity
//! compares.
//!
//! Decodes the charset (header, BOM, `<meta>` prescan, else UTF-8), then
//! reads the tokens with [`scan`], a fast path that gives up on anything it
//! does not read exactly as html5ever's tokenizer does; a page it gives up
//! on is read by html5ever's tokenizer. Both are linear in the input (no
//! tree building, so no quadratic paths on hostile markup). Text inside script, style,
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
use super::scan::{self, Raw};
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
    let (text, _, _) = declared(body, content_type).decode(body);
    text.into_owned()
}

fn declared(body: &[u8], content_type: Option<&str>) -> &'static Encoding {
    content_type
        .and_then(charset_param)
        .or_else(|| meta_charset(&body[..body.len().min(1024)]))
        .and_then(|label| Encoding::for_label(label.as_bytes()))
        .unwrap_or(UTF_8)
}

/// [`decode`], taking the body: a UTF-8 body without a BOM (which would
/// override the charset) becomes the text without a copy, checked once.
pub fn decode_owned(body: Vec<u8>, content_type: Option<&str>) -> String {
    let plain = declared(&body, content_type) == UTF_8 && Encoding::for_bom(&body).is_none();
    if !plain {
        return decode(&body, content_type);
    }
    String::from_utf8(body).unwrap_or_else(|e| decode(e.as_bytes(), content_type))
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
    /// Kept only when asked for ([`normalize_text`]); collapsed at the end.
    text: Option<String>,
    links: Paths,
}

/// What the normaliser does with the token stream, from html5ever's
/// tokenizer or the fast path's scan ([`scan::Events`]), which must agree.
struct Reader<'a> {
    state: State,
    rewrite: &'a Rewrite<'a>,
}

/// The elements the reader acts on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    A,
    /// Text not visible (script, style, noscript, template), and how
    /// its content is read.
    Hidden(Raw),
    Title,
    Textarea,
    Other,
}

/// A tag name's [`Kind`], in any ASCII case (the length first: a page
/// has thousands of tags).
fn kind(name: &str) -> Kind {
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    match name.len() {
        1 if is("a") => Kind::A,
        5 if is("style") => Kind::Hidden(Raw::Text),
        5 if is("title") => Kind::Title,
        6 if is("script") => Kind::Hidden(Raw::Script),
        8 if is("noscript") || is("template") => Kind::Hidden(Raw::Text),
        8 if is("textarea") => Kind::Textarea,
        _ => Kind::Other,
    }
}

impl Reader<'_> {
    fn tag(&mut self) {
        // A tag separates words.
        self.state.words.end_word();
        if let Some(text) = self.state.text.as_mut() {
            text.push(' ');
        }
    }
}

impl scan::Events for Reader<'_> {
    fn start(&mut self, name: &str, href: Option<&str>, self_closing: bool) -> Option<Raw> {
        self.tag();
        let kind = kind(name);
        let s = &mut self.state;
        if kind == Kind::A
            && let Some(path) = href.and_then(|h| link_path(self.rewrite, h))
        {
            s.links.push(&path);
        }
        if self_closing {
            return None;
        }
        match kind {
            Kind::Hidden(raw) => {
                s.skip_depth += 1;
                Some(raw)
            }
            Kind::Title => {
                s.in_title = true;
                Some(Raw::Rcdata)
            }
            Kind::Textarea => Some(Raw::Rcdata),
            Kind::A | Kind::Other => None,
        }
    }

    fn end(&mut self, name: &str) {
        self.tag();
        let s = &mut self.state;
        match kind(name) {
            Kind::Hidden(_) => s.skip_depth = s.skip_depth.saturating_sub(1),
            Kind::Title => s.in_title = false,
            _ => {}
        }
    }

    fn text(&mut self, t: &str) {
        let s = &mut self.state;
        if s.in_title {
            s.title.push_str(t);
        } else if s.skip_depth == 0 {
            s.words.feed(t);
            if let Some(text) = s.text.as_mut() {
                text.push_str(t);
            }
        }
    }
}

/// html5ever's tokenizer driving a [`Reader`].
struct Sink<'a>(RefCell<Reader<'a>>);

impl TokenSink for Sink<'_> {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        use scan::Events;
        let mut r = self.0.borrow_mut();
        match token {
            Token::TagToken(tag) if tag.kind == TagKind::EndTag => r.end(&tag.name),
            Token::TagToken(tag) => {
                let href = tag
                    .attrs
                    .iter()
                    .find(|a| a.name.local == local_name!("href"))
                    .map(|a| &*a.value);
                return match r.start(&tag.name, href, tag.self_closing) {
                    Some(Raw::Script) => TokenSinkResult::RawData(RawKind::ScriptData),
                    Some(Raw::Text) => TokenSinkResult::RawData(RawKind::Rawtext),
                    Some(Raw::Rcdata) => TokenSinkResult::RawData(RawKind::Rcdata),
                    None => TokenSinkResult::Continue,
                };
            }
            Token::CharacterTokens(t) => r.text(&t),
            _ => {}
        }
        TokenSinkResult::Continue
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
    normalize_fast(html, rw, keep_text).unwrap_or_else(|| normalize_reference(html, rw, keep_text))
}

fn reader<'a>(html: &str, rw: &'a Rewrite<'a>, keep_text: bool) -> Reader<'a> {
    Reader {
        state: State {
            text: keep_text.then(|| String::with_capacity(html.len() / 2)),
            // A news page has about one visible word per 10-20 bytes of
            // HTML: growing the vector by doubling copied it a dozen
            // times (malloc and realloc were a seventh of a changed round).
            words: WordHasher::with_capacity(html.len() / 12),
            // And about one link per 150 bytes, of some 40 bytes.
            links: Paths::with_capacity(html.len() / 4, html.len() / 150),
            ..State::default()
        },
        rewrite: rw,
    }
}

/// html5ever's reading of the whole page: the reference the fast path is
/// held to, and the path for whatever it does not read.
fn tokenize(html: &str, reader: Reader<'_>) -> State {
    let tokenizer = Tokenizer::new(Sink(RefCell::new(reader)), TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.0.into_inner().state
}

fn page(mut s: State, length: usize, rw: &Rewrite<'_>) -> Page {
    s.words.end_word();
    let collapse = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    Page {
        title: rewrite_hosts(&collapse(&s.title), rw),
        words: s.words.into_words(),
        text: s
            .text
            .map(|t| rewrite_hosts(&collapse_ascii(&t), rw))
            .unwrap_or_default(),
        links: s.links,
        length,
    }
}

/// Visible text with runs of ASCII whitespace made one space, trimmed.
fn collapse_ascii(t: &str) -> String {
    t.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`normalize`] (or [`normalize_text`]) through html5ever alone: what
/// the fast path must equal, for the property test, the fuzzer and the
/// parity bench.
#[doc(hidden)]
pub fn normalize_reference(html: &str, rw: &Rewrite<'_>, keep_text: bool) -> Page {
    page(tokenize(html, reader(html, rw, keep_text)), html.len(), rw)
}

/// [`normalize`] (or [`normalize_text`]) through the fast path alone;
/// `None` where it gives up.
#[doc(hidden)]
pub fn normalize_fast(html: &str, rw: &Rewrite<'_>, keep_text: bool) -> Option<Page> {
    let mut r = reader(html, rw, keep_text);
    scan::scan(html, &mut r).ok()?;
    Some(page(r.state, html.len(), rw))
}
