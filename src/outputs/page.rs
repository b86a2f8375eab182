//! The status page at `/`: server-rendered HTML (maud, which escapes every
//! interpolated value), one section per site, a row per address with its
//! state, problems, certificate days left, similarity, lag, last check and a
//! strip of recent rounds. It refreshes itself every 30 s. Text from the
//! network (titles, details) is only ever interpolated, never trusted.

use std::time::{Duration, SystemTime};

use maud::{DOCTYPE, Markup, html};

use super::board::Entry;
use crate::config::Role;
use crate::ground::time::rfc3339;
use crate::verdict::state::State;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;width:100%;margin-bottom:2em}th,td{text-align:left;padding:.35em .5em;border-bottom:1px solid #ddd;vertical-align:top}\
.state{font-weight:600;padding:.1em .5em;border-radius:.3em;color:#fff}.up{background:#2e7d32}.degraded{background:#ef6c00}.down{background:#c62828}.unknown{background:#757575}\
.problem{margin:.1em 0}.kind{font-family:monospace}.muted{color:#666}\
.strip{display:flex;gap:1px}.strip span{width:6px;height:14px;display:inline-block}nav a{margin-right:1em}";

/// Renders the page from a board snapshot.
pub fn render(entries: &[Entry], now: SystemTime) -> String {
    let mut sites: Vec<(&str, Vec<&Entry>)> = Vec::new();
    for e in entries {
        match sites.iter_mut().find(|(name, _)| *name == e.target.site) {
            Some((_, list)) => list.push(e),
            None => sites.push((&e.target.site, vec![e])),
        }
    }
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="30";
                title { "mirrorwatch" }
                style { (STYLE) }
            }
            body {
                h1 { "mirrorwatch" }
                nav {
                    a href="/api/v1/status" { "status JSON" }
                    a href="/metrics" { "metrics" }
                    span.muted { "rendered " (rfc3339(now)) ", refreshes every 30 s" }
                }
                @for (site, list) in &sites {
                    section.site id={ "site-" (site) } {
                        h2 { (site) " " img src={ "/badge/" (site) ".svg" } alt={ "state of " (site) }; }
                        table {
                            thead { tr { th { "state" } th { "address" } th { "problems" } th { "certificate" } th { "similarity" } th { "lag" } th { "last check" } th { "recent rounds" } } }
                            tbody { @for e in list { (row(e, now)) } }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

fn row(e: &Entry, now: SystemTime) -> Markup {
    let state = e.tracker.state();
    let last = e.last.as_deref();
    let days_left = last
        .and_then(|r| {
            r.addresses
                .iter()
                .filter_map(|a| a.tls.as_ref()?.not_after)
                .min()
        })
        .map(|na| na.saturating_sub(crate::ground::time::unix(now) as i64) / 86400);
    let parity = e.content.as_deref().and_then(|c| c.parity.as_ref());
    html! {
        tr.target data-url=(e.target.url.as_str()) data-state=(state.as_str()) {
            td { span class={ "state " (state.as_str()) } { (state.as_str()) } }
            td {
                a href=(e.target.url.as_str()) rel="noreferrer nofollow" { (e.target.url.as_str()) }
                br;
                span.muted { (if e.target.role == Role::Main { "main" } else { "mirror" }) }
                @if let Some(p) = parity {
                    @if let Some(title) = &p.mirror_title {
                        br; span.muted.title { "title: " (title) }
                    }
                }
            }
            td {
                @for p in e.tracker.problems() {
                    div.problem {
                        span.kind { (p.kind.as_str()) } " "
                        span.muted { "since " (rfc3339(p.since)) } br;
                        (p.detail)
                    }
                }
                @if e.tracker.problems().is_empty() && state != State::Unknown { span.muted { "none" } }
            }
            td { @if let Some(d) = days_left { (d) " days left" } @else { span.muted { "-" } } }
            td { @if let Some(p) = parity { (format!("{:.2}", p.similarity)) } @else { span.muted { "-" } } }
            td { @if let Some(p) = parity { (humantime::format_duration(Duration::from_secs(p.lag_seconds as u64))) } @else { span.muted { "-" } } }
            td { @if let Some(t) = e.last_check { (rfc3339(t)) } @else { span.muted { "not yet" } } }
            td {
                div.strip {
                    @for past in &e.history {
                        span class=(past.state.as_str()) title={ (rfc3339(past.at)) ": " (past.state.as_str()) ", " (past.findings) " findings" } {}
                    }
                }
            }
        }
    }
}
