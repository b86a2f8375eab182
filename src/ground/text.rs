//! Short texts for details and logs.

use std::time::Duration;

/// `1.5s`: a duration with one decimal, as problem details show stalls.
pub fn fmt_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// At most `max` characters of `s` (an ellipsis marks a cut), with control
/// characters shown as spaces: outside text made fit for a one-line detail.
pub fn clip(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// An error and up to 8 of its sources, `: `-joined: the whole story of a
/// client error in one line, bounded whatever the chain.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    for _ in 0..8 {
        let Some(s) = cur else { break };
        text = format!("{text}: {s}");
        cur = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{clip, error_chain};

    /// An error with `depth` more errors behind it.
    #[derive(Debug)]
    struct Layer(u32);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "e{}", self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            // Leaked once per layer: a test-only chain of any length.
            (self.0 > 0).then(|| &*Box::leak(Box::new(Layer(self.0 - 1))) as _)
        }
    }

    #[test]
    fn error_chain_joins_sources_and_stops_after_eight() {
        assert_eq!(error_chain(&Layer(2)), "e2: e1: e0");
        assert_eq!(
            error_chain(&Layer(20)),
            "e20: e19: e18: e17: e16: e15: e14: e13: e12"
        );
    }

    #[test]
    fn clip_cuts_on_characters_and_blanks_controls() {
        assert_eq!(clip("text/html", 80), "text/html");
        assert_eq!(clip("ab\ncd", 80), "ab cd");
        assert_eq!(clip("شبکهٔ خبری", 4), "شبکه…");
    }
}
