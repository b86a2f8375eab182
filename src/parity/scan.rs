//! The normaliser's fast path: a scanner for the HTML news pages are made
//! of, which hands the normaliser exactly what html5ever's tokenizer would,
//! or gives up.
//!
//! It reads start and end tags with their attributes, text, comments,
//! doctypes and bogus comments, the raw-text elements the normaliser
//! switches to (script, style, noscript, template, title, textarea), and
//! the character references that have one reading (`&name;` from the HTML
//! table, `&#N;` and `&#xH;` outside the code points the spec replaces).
//! Anything else returns [`Bail`] and the caller runs html5ever on the whole
//! page: a NUL, a reference without its semicolon that a legacy name could
//! match, `<!--` inside a script (the escaped states), a tag cut off by the
//! end of the document, a carriage return inside a link. A property test
//! and the `html` fuzz harness hold it to html5ever's output.
//!
//! Every step moves forward, so the scan is linear in the page; positions
//! are found by searching for ASCII bytes (always character boundaries),
//! and every slice is taken with `get`, so a mistake bails, never panics.

use html5ever::data::NAMED_ENTITIES;
use memchr::{memchr, memchr2, memmem};

/// The scan met something it does not reproduce exactly.
#[derive(Debug, PartialEq, Eq)]
pub struct Bail;

/// How the content of an element the receiver asked to switch is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    /// Script data: up to `</script`; `<!--` inside bails.
    Script,
    /// Style and the like: up to the end tag, nothing decoded.
    Text,
    /// Title, textarea: up to the end tag, references decoded.
    Rcdata,
}

/// What the scan reports, in document order (html5ever's token stream, as
/// the normaliser's sink reads it).
pub trait Events {
    /// A start tag (`name` as written; compare without ASCII case), its
    /// first `href` decoded; returns how to read its content, if not as
    /// markup.
    fn start(&mut self, name: &str, href: Option<&str>, self_closing: bool) -> Option<Raw>;
    fn end(&mut self, name: &str);
    /// Text, in pieces (a reference is a piece of its own).
    fn text(&mut self, text: &str);
}

/// Tag-state whitespace; a carriage return reads as the line feed
/// html5ever's input stream turns it into.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

fn from(s: &str, i: usize) -> Result<&str, Bail> {
    s.get(i..).ok_or(Bail)
}

fn span(s: &str, a: usize, b: usize) -> Result<&str, Bail> {
    s.get(a..b).ok_or(Bail)
}

/// Scans `html`, reporting to `ev`. On [`Bail`], what `ev` received so far
/// is to be thrown away.
pub fn scan<E: Events>(html: &str, ev: &mut E) -> Result<(), Bail> {
    if memchr(0, html.as_bytes()).is_some() {
        return Err(Bail);
    }
    let mut i = 0;
    while i < html.len() {
        let rest = from(html, i)?;
        let Some(at) = memchr2(b'<', b'&', rest.as_bytes()) else {
            ev.text(rest);
            break;
        };
        if at > 0 {
            ev.text(span(rest, 0, at)?);
        }
        i += at;
        let rest = from(html, i)?;
        if rest.starts_with('&') {
            i += reference(rest, &mut |t| ev.text(t))?;
            continue;
        }
        i += markup(rest, ev)?;
    }
    Ok(())
}

/// `rest` starts with `<`: reads one piece of markup (and, for a raw-text
/// element, its content and end tag); returns the bytes consumed.
fn markup<E: Events>(rest: &str, ev: &mut E) -> Result<usize, Bail> {
    let b = rest.as_bytes();
    let to_gt = |from: usize| -> usize {
        b.get(from..)
            .and_then(|t| memchr(b'>', t))
            .map_or(b.len(), |p| from + p + 1)
    };
    match b.get(1).copied() {
        None => {
            ev.text("<");
            Ok(1)
        }
        Some(b'!') => {
            if b.get(2..4) == Some(b"--") {
                Ok(comment(b))
            } else {
                // A doctype, or a bogus comment: both end at the first `>`.
                Ok(to_gt(2))
            }
        }
        Some(b'?') => Ok(to_gt(1)),
        Some(b'/') => match b.get(2).copied() {
            Some(c) if c.is_ascii_alphabetic() => {
                let (tag, used) = tag(from(rest, 2)?, false)?;
                ev.end(tag.name);
                Ok(2 + used)
            }
            Some(b'>') => Ok(3),
            Some(_) => Ok(to_gt(2)),
            None => {
                ev.text("</");
                Ok(2)
            }
        },
        Some(c) if c.is_ascii_alphabetic() => {
            let (tag, used) = tag(from(rest, 1)?, true)?;
            let href = match tag.href {
                Some(raw) => Some(attribute(raw)?),
                None => None,
            };
            let raw = ev.start(tag.name, href.as_deref(), tag.self_closing);
            let mut used = 1 + used;
            if let Some(kind) = raw {
                used += content(from(rest, used)?, tag.name, kind, ev)?;
            }
            Ok(used)
        }
        Some(_) => {
            ev.text("<");
            Ok(1)
        }
    }
}

/// `b` starts with `<!--`: the bytes up to the comment's end (or all).
/// The end is the first `-->` or `--!>`; each `--` is looked at once, so
/// a page of comments is read in linear time.
fn comment(b: &[u8]) -> usize {
    let body = b.get(4..).unwrap_or_default();
    if body.starts_with(b">") {
        return 5;
    }
    if body.starts_with(b"->") {
        return 6;
    }
    let mut at = 0;
    while let Some(p) = body.get(at..).and_then(|t| memmem::find(t, b"--")) {
        let p = at + p;
        match body.get(p + 2..) {
            Some([b'>', ..]) => return 4 + p + 3,
            Some([b'!', b'>', ..]) => return 4 + p + 4,
            // Dashes overlap: `--->` ends at its second dash.
            _ => at = p + 1,
        }
    }
    b.len()
}

/// A tag, read from just after `<` or `</`.
struct Tag<'a> {
    name: &'a str,
    /// The first `href` attribute's value, undecoded.
    href: Option<&'a str>,
    self_closing: bool,
}

/// Reads a tag's name and attributes up to its `>`; returns the tag and
/// the bytes consumed. A tag the document ends inside bails.
fn tag(s: &str, start: bool) -> Result<(Tag<'_>, usize), Bail> {
    let b = s.as_bytes();
    let name_end = b
        .iter()
        .position(|&c| is_space(c) || c == b'/' || c == b'>')
        .ok_or(Bail)?;
    let name = span(s, 0, name_end)?;
    let is_a = start && name.eq_ignore_ascii_case("a");
    let mut tag = Tag {
        name,
        href: None,
        self_closing: false,
    };
    let mut i = name_end;
    let at = |i: usize| b.get(i).copied().ok_or(Bail);
    loop {
        while is_space(at(i)?) {
            i += 1;
        }
        match at(i)? {
            b'>' => return Ok((tag, i + 1)),
            b'/' => {
                if at(i + 1)? == b'>' {
                    tag.self_closing = true;
                    return Ok((tag, i + 2));
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        // An attribute name: its first byte may be `=`.
        let name_start = i;
        i += 1;
        while !matches!(at(i)?, b'/' | b'>' | b'=') && !is_space(at(i)?) {
            i += 1;
        }
        let attr = span(s, name_start, i)?;
        while is_space(at(i)?) {
            i += 1;
        }
        if at(i)? != b'=' {
            continue;
        }
        i += 1;
        while is_space(at(i)?) {
            i += 1;
        }
        let value = match at(i)? {
            b'>' => "",
            q @ (b'"' | b'\'') => {
                let len = b.get(i + 1..).and_then(|t| memchr(q, t)).ok_or(Bail)?;
                let v = span(s, i + 1, i + 1 + len)?;
                i += len + 2;
                v
            }
            _ => {
                let start = i;
                while !is_space(at(i)?) && at(i)? != b'>' {
                    i += 1;
                }
                span(s, start, i)?
            }
        };
        if is_a && tag.href.is_none() && attr.eq_ignore_ascii_case("href") {
            tag.href = Some(value);
        }
    }
}

/// An attribute value with its references decoded.
fn attribute(raw: &str) -> Result<std::borrow::Cow<'_, str>, Bail> {
    if raw.contains('\r') {
        return Err(Bail);
    }
    if !raw.contains('&') {
        return Ok(raw.into());
    }
    let mut out = String::with_capacity(raw.len());
    decoded(raw, &mut |t| out.push_str(t))?;
    Ok(out.into())
}

/// Passes `s` to `out` in pieces, its character references decoded.
fn decoded(s: &str, out: &mut dyn FnMut(&str)) -> Result<(), Bail> {
    let mut i = 0;
    while let Some(at) = memchr(b'&', from(s, i)?.as_bytes()) {
        if at > 0 {
            out(span(s, i, i + at)?);
        }
        i += at;
        i += reference(from(s, i)?, out)?;
    }
    if i < s.len() {
        out(from(s, i)?);
    }
    Ok(())
}

/// The content of a raw-text element named `name`, and its end tag; the
/// bytes consumed. Without an end tag, the rest of the document.
fn content<E: Events>(s: &str, name: &str, kind: Raw, ev: &mut E) -> Result<usize, Bail> {
    let b = s.as_bytes();
    let finder = memmem::Finder::new(b"</");
    let mut search = 0;
    let end = loop {
        let Some(p) = b.get(search..).and_then(|t| finder.find(t)) else {
            break None;
        };
        let p = search + p;
        let after = p + 2 + name.len();
        let named = b
            .get(p + 2..after)
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()));
        if named {
            match b.get(after).copied() {
                None => return Err(Bail),
                Some(c) if is_space(c) || c == b'/' || c == b'>' => break Some(p),
                Some(_) => {}
            }
        }
        search = p + 2;
    };
    let inner = span(s, 0, end.unwrap_or(b.len()))?;
    if kind == Raw::Script && memmem::find(inner.as_bytes(), b"<!--").is_some() {
        return Err(Bail);
    }
    if kind == Raw::Rcdata {
        decoded(inner, &mut |t| ev.text(t))?;
    } else if !inner.is_empty() {
        ev.text(inner);
    }
    let Some(p) = end else {
        return Ok(b.len());
    };
    let (tag, used) = tag(from(s, p + 2)?, false)?;
    ev.end(tag.name);
    Ok(p + 2 + used)
}

/// `s` starts with `&`: passes what it stands for to `out` and returns the
/// bytes consumed. A `&` that starts no reference is itself.
fn reference(s: &str, out: &mut dyn FnMut(&str)) -> Result<usize, Bail> {
    let b = s.as_bytes();
    let literal = |out: &mut dyn FnMut(&str)| {
        out("&");
        Ok(1)
    };
    match b.get(1).copied() {
        Some(b'#') => numeric(s, out),
        Some(c) if c.is_ascii_alphanumeric() => {
            let len = b
                .get(1..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            let name = span(s, 1, 1 + len)?;
            // The longest name in the table is 32 bytes.
            if len <= 40 && b.get(1 + len) == Some(&b';') {
                let full = span(s, 1, 2 + len)?;
                if let Some(&(c1, c2)) = NAMED_ENTITIES.get(full)
                    && c1 != 0
                {
                    emit_chars(c1, c2, out)?;
                    return Ok(2 + len);
                }
            }
            // No `name;`: html5ever would try every prefix of the name,
            // legacy names without `;` among them, whose reading depends
            // on what follows (and on being in an attribute). A match of
            // any prefix bails; none at all leaves the `&` as text.
            for k in 1..=len {
                match NAMED_ENTITIES.get(span(name, 0, k)?) {
                    None => return literal(out),
                    Some(&(0, _)) => {}
                    Some(_) => return Err(Bail),
                }
            }
            literal(out)
        }
        _ => literal(out),
    }
}

fn emit_chars(c1: u32, c2: u32, out: &mut dyn FnMut(&str)) -> Result<(), Bail> {
    let mut buf = [0u8; 8];
    let a = char::from_u32(c1).ok_or(Bail)?;
    let mut n = a.encode_utf8(&mut buf).len();
    if c2 != 0 {
        let c = char::from_u32(c2).ok_or(Bail)?;
        n += c.encode_utf8(buf.get_mut(n..).ok_or(Bail)?).len();
    }
    out(std::str::from_utf8(buf.get(..n).ok_or(Bail)?).map_err(|_| Bail)?);
    Ok(())
}

/// `&#…`: decimal or hex digits and `;`, naming a code point the spec
/// passes through unchanged; anything else bails.
fn numeric(s: &str, out: &mut dyn FnMut(&str)) -> Result<usize, Bail> {
    let b = s.as_bytes();
    let hex = matches!(b.get(2), Some(b'x' | b'X'));
    let start = if hex { 3 } else { 2 };
    let radix = if hex { 16 } else { 10 };
    let mut n: u32 = 0;
    let mut i = start;
    while let Some(d) = b.get(i).and_then(|&c| char::from(c).to_digit(radix)) {
        n = n
            .checked_mul(radix)
            .and_then(|n| n.checked_add(d))
            .ok_or(Bail)?;
        i += 1;
    }
    if i == start || b.get(i) != Some(&b';') {
        return Err(Bail);
    }
    let plain = matches!(n, 0x09 | 0x0A | 0x0C | 0x20..=0x7E)
        || (n >= 0xA0 && !(0xFDD0..=0xFDEF).contains(&n) && n & 0xFFFE != 0xFFFE);
    if !plain {
        return Err(Bail);
    }
    emit_chars(n, 0, out)?;
    Ok(i + 1)
}
