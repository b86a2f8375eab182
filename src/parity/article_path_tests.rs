//! The article-path heuristic (`ArticleMatcher::is_article`): examples,
//! any UTF-8, and the one-pass version against the first one written.

use proptest::prelude::*;

use super::*;

#[test]
fn heuristic_recognises_article_paths() {
    let m = ArticleMatcher::default();
    assert!(m.is_article("/Detail/2026/11/27/700001/parliament-approves"));
    assert!(m.is_article("/news/2026-11-27-budget"));
    assert!(m.is_article("/story/1234567"));
    assert!(!m.is_article("/Section/World"));
    assert!(!m.is_article("/"));
    assert!(!m.is_article("/2026"));
}

#[test]
fn heuristic_is_safe_on_any_utf8() {
    let m = ArticleMatcher::default();
    // A multi-byte character straddling byte 4 used to panic (`&s[..4]`).
    assert!(!m.is_article("/news/café-owner-arrested"));
    assert!(!m.is_article("/x/20é6-11-27-a"));
    assert!(m.is_article("/fa/خبر/۱۴۰۵/1234567"));
    assert!(m.is_article("/zh/新闻/2026/11/27/报道"));
    assert!(!m.is_article("/zh/新闻报道新闻报道/世界"));
}

/// The heuristic as first written (segments collected, then tested):
/// the one-pass version must agree with it.
fn heuristic_model(path: &str) -> bool {
    let segments: Vec<&[u8]> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::as_bytes)
        .collect();
    if segments.len() < 2 {
        return false;
    }
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let is_year = |s: &[u8]| s.len() == 4 && s.starts_with(b"20") && digits(s);
    let two = |s: &[u8]| s.len() <= 2 && digits(s);
    let dated = segments
        .windows(3)
        .any(|w| is_year(w[0]) && two(w[1]) && two(w[2]));
    let iso = segments.iter().any(|s| {
        s.len() >= 10 && is_year(&s[..4]) && s.get(4) == Some(&b'-') && s.get(7) == Some(&b'-')
    });
    let numeric_id = segments.iter().any(|s| {
        s.split(|b| !b.is_ascii_digit())
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0)
            >= 5
    });
    dated || iso || numeric_id
}

proptest! {
    #[test]
    fn heuristic_never_panics(path in "\\PC{0,40}") {
        let _ = ArticleMatcher::default().is_article(&path);
    }

    /// Paths built from the pieces the heuristic looks at (years, short
    /// numbers, dates, long ids, empty segments, non-ASCII digits).
    #[test]
    fn heuristic_agrees_with_its_model(
        pieces in proptest::collection::vec(
            prop_oneof![
                Just("2026".to_string()),
                Just("11".to_string()),
                Just("7".to_string()),
                Just("".to_string()),
                Just("2026-11-27-a".to_string()),
                Just("۱۴۰۵".to_string()),
                "[0-9]{1,7}",
                "[a-z0-9é-]{0,12}",
            ],
            0..8,
        ),
    ) {
        let path = format!("/{}", pieces.join("/"));
        prop_assert_eq!(ArticleMatcher::default().is_article(&path), heuristic_model(&path));
    }
}
