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

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clip_cuts_on_characters_and_blanks_controls() {
        assert_eq!(clip("text/html", 80), "text/html");
        assert_eq!(clip("ab\ncd", 80), "ab cd");
        assert_eq!(clip("شبکهٔ خبری", 4), "شبکه…");
    }
}
