//! A scrape on its way out: metric families appended as text and handed
//! to the HTTP response in chunks of about [`CHUNK`] bytes, so that a
//! scrape of 10,000 addresses (~43 MB) never sits in memory whole and its
//! first bytes leave at once.

use std::fmt::Write as _;

/// Bytes per chunk a scrape hands to the HTTP response.
pub const CHUNK: usize = 256 * 1024;

/// How many fragments ahead [`column`] asks the CPU to load.
const AHEAD: usize = 8;

/// The fragments of family `family`, one per row of `table`, in order.
/// Each row's fragment lies wherever its address's text was allocated, so
/// the copy of every one would wait on memory; the CPU is asked to start
/// loading the fragment [`AHEAD`] rows on while this one is copied.
pub fn column<'t, const N: usize>(
    table: &'t [[&'t str; N]],
    family: usize,
) -> impl Iterator<Item = &'t str> + 't {
    table
        .iter()
        .enumerate()
        .filter_map(move |(row, fragments)| {
            if let Some(ahead) = table.get(row + AHEAD).and_then(|r| r.get(family)) {
                prefetch(ahead.as_ptr());
            }
            fragments.get(family).copied()
        })
}

/// Asks the CPU to start loading the cache line at `p`. A hint: it never
/// faults and reads nothing into the program, whatever the address.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 has no architectural effect beyond the cache (no
    // fault, even for an invalid address), and SSE, which it needs, is part
    // of every x86_64 target.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A scrape being written: families appended as text, handed out in
/// chunks of about [`CHUNK`] bytes.
pub struct Chunks<'a> {
    buf: String,
    emit: &'a mut dyn FnMut(String) -> bool,
}

impl<'a> Chunks<'a> {
    pub fn new(emit: &'a mut dyn FnMut(String) -> bool) -> Self {
        Self {
            buf: String::with_capacity(CHUNK + CHUNK / 8),
            emit,
        }
    }

    /// One family (`name` without the prefix): its HELP and TYPE, then its
    /// non-empty fragments; nothing at all when every fragment is empty.
    /// False when the client went away.
    pub fn family<'f>(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        fragments: impl Iterator<Item = &'f str>,
    ) -> bool {
        let mut header = false;
        for fragment in fragments.filter(|f| !f.is_empty()) {
            if !header {
                self.header(name, kind, help);
                header = true;
            }
            if !self.push(fragment) {
                return false;
            }
        }
        true
    }

    /// One family whose rows keep their lines without the part every
    /// line of a row shares: each row is `(labels, tails)`, and each line
    /// of `tails` (ending in `\n`) is written as `mirrorwatch_{name}{`,
    /// the row's labels, then the line. Nothing at all when every row's
    /// tails are empty. False when the client went away.
    pub fn family_rows<'f>(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        rows: impl Iterator<Item = (&'f str, &'f str)>,
    ) -> bool {
        let mut header = false;
        // `mirrorwatch_{name}{`, written once, then each row's labels after
        // it: each line is two copies rather than five.
        let mut head = format!("mirrorwatch_{name}{{");
        let prefix = head.len();
        for (labels, tails) in rows.filter(|(_, t)| !t.is_empty()) {
            if !header {
                self.header(name, kind, help);
                header = true;
            }
            head.truncate(prefix);
            head.push_str(labels);
            for line in tails.split_inclusive('\n') {
                self.buf.push_str(&head);
                self.buf.push_str(line);
            }
            if !self.spill() {
                return false;
            }
        }
        true
    }

    /// A family's HELP and TYPE lines.
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(
            self.buf,
            "# HELP mirrorwatch_{name} {help}\n# TYPE mirrorwatch_{name} {kind}"
        );
    }

    /// Appends text as is (another encoder's output).
    pub fn push(&mut self, text: &str) -> bool {
        self.buf.push_str(text);
        self.spill()
    }

    /// Hands out the buffer once it holds a chunk.
    fn spill(&mut self) -> bool {
        if self.buf.len() < CHUNK {
            return true;
        }
        let full = std::mem::replace(&mut self.buf, String::with_capacity(CHUNK + CHUNK / 8));
        (self.emit)(full)
    }

    /// Hands out what is left.
    pub fn finish(self) -> bool {
        self.buf.is_empty() || (self.emit)(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A column is the family's fragments of every row, in row order,
        /// whatever the table's size.
        #[test]
        fn column_is_every_rows_fragment_in_order(
            rows in proptest::collection::vec(proptest::array::uniform3("\\PC{0,6}"), 0..40),
            family in 0..3usize,
        ) {
            let table: Vec<[&str; 3]> = rows
                .iter()
                .map(|r| [r[0].as_str(), r[1].as_str(), r[2].as_str()])
                .collect();
            let got: Vec<&str> = column(&table, family).collect();
            let expected: Vec<&str> = rows.iter().map(|r| r[family].as_str()).collect();
            prop_assert_eq!(got, expected);
        }
    }

    proptest! {
        /// Every line of every row comes out whole, prefix and labels
        /// first, in row order, under one header; chunks cut only between
        /// rows.
        #[test]
        fn rows_expand_to_their_lines(
            rows in proptest::collection::vec(
                ("[a-z=\",]{0,12}", proptest::collection::vec("[^\n]{0,8}", 0..4)),
                0..30,
            ),
        ) {
            let mut got: Vec<String> = Vec::new();
            let mut emit = |c: String| {
                got.push(c);
                true
            };
            let tails: Vec<(String, String)> = rows
                .iter()
                .map(|(l, lines)| (l.clone(), lines.iter().map(|t| format!("{t}\n")).collect()))
                .collect();
            let mut out = Chunks::new(&mut emit);
            prop_assert!(out.family_rows(
                "f",
                "gauge",
                "help",
                tails.iter().map(|(l, t)| (l.as_str(), t.as_str())),
            ));
            prop_assert!(out.finish());
            let mut expected = String::new();
            for (labels, lines) in &rows {
                for t in lines {
                    expected.push_str(&format!("mirrorwatch_f{{{labels}{t}\n"));
                }
            }
            if !expected.is_empty() {
                expected.insert_str(0, "# HELP mirrorwatch_f help\n# TYPE mirrorwatch_f gauge\n");
            }
            prop_assert_eq!(got.concat(), expected);
        }
    }

    /// Fragments are handed out in chunks once a chunk's worth is written,
    /// each family under one header, and nothing is lost at the end.
    #[test]
    fn chunks_hold_every_fragment_once() {
        let fragment = "x".repeat(1000) + "\n";
        let mut got: Vec<String> = Vec::new();
        let mut emit = |c: String| {
            got.push(c);
            true
        };
        let mut out = Chunks::new(&mut emit);
        let fragments = vec![fragment.as_str(); 600];
        assert!(out.family("f", "gauge", "help", fragments.iter().copied()));
        assert!(out.family("empty", "gauge", "help", ["", ""].into_iter()));
        assert!(out.finish());
        assert_eq!(got.len(), 3, "600 kB: two full chunks and the rest");
        assert!(got[..2].iter().all(|c| c.len() >= CHUNK));
        let all = got.concat();
        assert_eq!(all.matches("# HELP mirrorwatch_f help\n").count(), 1);
        assert!(
            !all.contains("empty"),
            "a family without fragments has no header"
        );
        assert_eq!(all.matches(&fragment).count(), 600);
    }
}
