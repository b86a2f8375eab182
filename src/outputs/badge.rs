//! `/badge/<site>.svg`: a small state badge. A site is `up` when every
//! address is up, `down` when none is, `degraded` otherwise (`unknown` until
//! every address has finished a round).

use maud::html;

use super::board::Entry;
use crate::verdict::state::State;

/// The site's overall state, `None` when no such site.
pub fn site_state(entries: &[Entry], site: &str) -> Option<State> {
    let states: Vec<State> = entries
        .iter()
        .filter(|e| e.target.site == site)
        .map(|e| e.tracker.state())
        .collect();
    if states.is_empty() {
        return None;
    }
    Some(overall(&states))
}

/// A site's state from its addresses' (the badge's and the status page
/// header's rule).
pub fn overall(states: &[State]) -> State {
    if states.contains(&State::Unknown) {
        State::Unknown
    } else if states.iter().all(|s| *s == State::Up) {
        State::Up
    } else if !states.contains(&State::Up) {
        State::Down
    } else {
        State::Degraded
    }
}

/// The SVG badge for `site`.
pub fn render(entries: &[Entry], site: &str) -> Option<String> {
    let state = site_state(entries, site)?;
    let colour = match state {
        State::Up => "#2e7d32",
        State::Degraded => "#ef6c00",
        State::Down => "#c62828",
        State::Unknown => "#757575",
    };
    let label_w = 8 + 7 * site.chars().count().min(40) as u32;
    let value_w = 8 + 7 * state.as_str().len() as u32;
    let width = label_w + value_w;
    let svg = html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(width) height="20" role="img" aria-label={ (site) ": " (state.as_str()) } {
            title { (site) ": " (state.as_str()) }
            rect width=(label_w) height="20" fill="#555" {}
            rect x=(label_w) width=(value_w) height="20" fill=(colour) {}
            g fill="#fff" font-family="Verdana,sans-serif" font-size="11" {
                text x="4" y="14" { (site) }
                text x=(label_w + 4) y="14" { (state.as_str()) }
            }
        }
    };
    Some(svg.into_string())
}
