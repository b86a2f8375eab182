//! Maps a key path such as `sites[1].mirrors[0]` to a line and column in the
//! config text, using toml's span-preserving parse tree.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Line and column of a byte offset in `text`, by a scan from the top
/// (the reference [`Lines`] is tested against).
#[cfg(test)]
fn position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    Position { line, column }
}

/// One step of a key path.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(n) = idx.trim_end_matches(']').parse() {
                out.push(Step::Index(n));
            }
        }
    }
    out
}

/// Byte offsets where each line starts, for positions in O(log n) rather
/// than a scan from the top per error (100,000 errors in a large file
/// must not take minutes).
pub struct Lines<'i> {
    text: &'i str,
    starts: Vec<usize>,
}

impl<'i> Lines<'i> {
    pub fn new(text: &'i str) -> Self {
        let starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
            .collect();
        Self { text, starts }
    }

    /// Line and column of a byte offset (columns count characters).
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        Position { line, column }
    }
}

/// Resolves key paths against one parsed document.
pub struct Locator<'i> {
    lines: Lines<'i>,
    root: Option<Spanned<DeTable<'i>>>,
}

impl<'i> Locator<'i> {
    pub fn new(text: &'i str) -> Self {
        let (root, _errors) = DeTable::parse_recoverable(text);
        Self {
            lines: Lines::new(text),
            root: Some(root),
        }
    }

    /// Line and column of a byte offset in the document.
    pub fn position(&self, offset: usize) -> Position {
        self.lines.position(offset)
    }

    /// Position of the deepest part of `path` that exists in the document
    /// (the value itself, or its parent table when the key is missing).
    pub fn find(&self, path: &str) -> Position {
        let Some(root) = &self.root else {
            return Position { line: 1, column: 1 };
        };
        let mut span = root.span();
        let mut table: Option<&DeTable<'i>> = Some(root.get_ref());
        let mut array: Option<&[Spanned<DeValue<'i>>]> = None;
        for step in steps(path) {
            let next: Option<&Spanned<DeValue<'i>>> = match step {
                Step::Key(k) => table.and_then(|t| {
                    t.iter()
                        .find(|(key, _)| key.get_ref().as_ref() == k)
                        .map(|(_, v)| v)
                }),
                Step::Index(i) => array.and_then(|a| a.get(i)),
            };
            let Some(value) = next else { break };
            span = value.span();
            table = None;
            array = None;
            match value.get_ref() {
                DeValue::Table(t) => table = Some(t),
                DeValue::Array(a) => array = Some(a.as_ref()),
                _ => {}
            }
        }
        self.lines.position(span.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_array_values() {
        let text = "[server]\nlisten = \"x\"\n\n[[sites]]\nname = \"a\"\n\n[[sites]]\nname = \"b\"\nmirrors = [\"u1\", \"u2\"]\n";
        let loc = Locator::new(text);
        assert_eq!(
            loc.find("server.listen"),
            Position {
                line: 2,
                column: 10
            }
        );
        assert_eq!(loc.find("sites[1].name"), Position { line: 8, column: 8 });
        assert_eq!(
            loc.find("sites[1].mirrors[1]"),
            Position {
                line: 9,
                column: 18
            }
        );
    }

    #[test]
    fn positions_agree_with_a_scan() {
        let text = "a = 1\nbé = \"x\"\n\n[t]\nk = 'ü'\n";
        let lines = Lines::new(text);
        for offset in 0..=text.len() + 3 {
            if text.is_char_boundary(offset.min(text.len())) {
                assert_eq!(
                    lines.position(offset),
                    position(text, offset),
                    "at {offset}"
                );
            }
        }
    }

    #[test]
    fn missing_key_points_at_parent() {
        let text = "[[sites]]\nname = \"a\"\n";
        let loc = Locator::new(text);
        assert_eq!(loc.find("sites[0].main").line, 1);
    }
}
