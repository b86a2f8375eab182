//! The status page at `/`: server-rendered HTML (maud, which escapes every
//! interpolated value), readable without JavaScript and with none shipped.
//! One section per site: its overall state, 24 h and 7 d uptime and how
//! many addresses are up, degraded and down; then a row per address with
//! its state, problems, an uptime bar for the last 24 hours (one cell per
//! hour) and the last 7 days (one per day) coloured by each stretch's worst
//! state, a response-time sparkline (inline SVG) of the recent rounds,
//! certificate days left, similarity, lag and last check. Light and dark
//! through `prefers-color-scheme`. It refreshes itself every 30 s. Text
//! from the network (titles, details) is only ever interpolated.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::bars::Cell;
use super::board::Entry;
use crate::config::Role;
use crate::ground::time::rfc3339;
use crate::verdict::state::State;

/// Shared by `/` and `/history` (through [`head`]).
const STYLE: &str = ":root{color-scheme:light dark;--fg:#222;--bg:#fff;--muted:#666;--line:#ddd;--none:#e0e0e0;--spark:#1565c0}\
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e6;--bg:#16181c;--muted:#9aa0a6;--line:#33363b;--none:#2c2f34;--spark:#64b5f6}}\
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:var(--fg);background:var(--bg)}a{color:inherit}\
table{border-collapse:collapse;width:100%;margin-bottom:2em}th,td{text-align:left;padding:.35em .5em;border-bottom:1px solid var(--line);vertical-align:top}\
.state{font-weight:600;padding:.1em .5em;border-radius:.3em;color:#fff}.up{background:#2e7d32}.degraded{background:#ef6c00}.down{background:#c62828}.unknown{background:#757575}.nodata{background:var(--none)}\
.problem{margin:.1em 0}.kind{font-family:monospace}.muted{color:var(--muted)}\
.bar{display:flex;gap:1px;margin:.15em 0}.bar span{width:7px;height:16px;display:inline-block;border-radius:1px}.bar.days span{width:19px}\
.summary span{margin-right:1em}.spark polyline{fill:none;stroke:var(--spark);stroke-width:1.5}nav a{margin-right:1em}";

/// The `<head>` of the server's pages: `title`, the shared style, and a
/// self-refresh every `refresh` seconds if given.
pub fn head(title: &str, refresh: Option<u32>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if let Some(secs) = refresh {
                meta http-equiv="refresh" content=(secs);
            }
            title { (title) }
            style { (PreEscaped(STYLE)) }
        }
    }
}

/// The site header's numbers.
struct Summary {
    state: State,
    day: Option<f64>,
    week: Option<f64>,
    counts: [usize; 3],
}

fn summary(list: &[&Entry]) -> Summary {
    let states: Vec<State> = list.iter().map(|e| e.tracker.state()).collect();
    let state = super::badge::overall(&states);
    // The site's share of rounds up: all its addresses' rounds together.
    let day = Cell::sum(list.iter().flat_map(|e| e.bars.hours())).up_ratio();
    let week = Cell::sum(list.iter().flat_map(|e| e.bars.days())).up_ratio();
    let count = |s: State| states.iter().filter(|x| **x == s).count();
    Summary {
        state,
        day,
        week,
        counts: [count(State::Up), count(State::Degraded), count(State::Down)],
    }
}

fn percent(r: Option<f64>) -> String {
    r.map(|r| format!("{:.2}%", r * 100.0))
        .unwrap_or_else(|| "no data".into())
}

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
            (head("mirrorwatch", Some(30)))
            body {
                h1 { "mirrorwatch" }
                nav {
                    a href="/history" { "history" }
                    a href="/api/v1/status" { "status JSON" }
                    a href="/metrics" { "metrics" }
                    span.muted { "rendered " (rfc3339(now)) ", refreshes every 30 s" }
                }
                @for (site, list) in &sites {
                    @let sum = summary(list);
                    @let members: Vec<_> = list.iter().map(|e| e.member()).collect();
                    @let site_problems = crate::verdict::site::evaluate(&members).problems();
                    @let multi = list.iter().any(|e| e.target.vantage != list[0].target.vantage);
                    section.site id={ "site-" (site) } data-site=(site) {
                        h2 {
                            (site) " "
                            span class={ "state " (sum.state.as_str()) } { (sum.state.as_str()) }
                        }
                        p.summary {
                            span { "uptime 24 h " strong.uptime-day { (percent(sum.day)) } }
                            span { "7 d " strong.uptime-week { (percent(sum.week)) } }
                            span { (sum.counts[0]) " up, " (sum.counts[1]) " degraded, " (sum.counts[2]) " down" }
                            a href={ "/history?site=" (site) } { "history" }
                        }
                        @for (kind, detail) in &site_problems {
                            p.site-problem data-kind=(kind.as_str()) {
                                span class={ "state " (if kind.severity() == crate::verdict::Severity::Info { "unknown" } else { "degraded" }) } { (kind.as_str()) } " " (detail)
                            }
                        }
                        table {
                            thead { tr { th { "state" } th { "address" } th { "problems" } th { "last 24 h / 7 d" } th { "response time" } th { "certificate" } th { "similarity" } th { "lag" } th { "last check" } } }
                            tbody { @for e in list { (row(e, now, multi)) } }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

/// `when: worst state, x% up (n rounds)` for a cell's tooltip.
fn cell_title(c: &Cell) -> String {
    let start = UNIX_EPOCH + Duration::from_secs(u64::try_from(c.first_hour).unwrap_or(0) * 3600);
    let what = match (c.worst(), c.up_ratio()) {
        (Some(w), Some(r)) => format!(
            "worst {}, {:.1}% up ({} rounds)",
            w.as_str(),
            r * 100.0,
            c.total
        ),
        _ => "no rounds".into(),
    };
    let span = if c.hours == 1 { "hour" } else { "day" };
    format!("{span} from {}: {what}", rfc3339(start))
}

fn bar(cells: &[Cell], which: &str) -> Markup {
    html! {
        div class={ "bar " (which) } data-cells=(cells.len()) {
            @for c in cells {
                span class=(c.worst().map_or("nodata", |s| s.as_str())) title=(cell_title(c)) {}
            }
        }
    }
}

/// An inline SVG line of the recent rounds' durations (oldest left), or
/// nothing before the first round.
fn sparkline(e: &Entry) -> Markup {
    let secs: Vec<f64> = e
        .durations
        .iter()
        .map(|&s| f64::from(s))
        .filter(|s| s.is_finite())
        .collect();
    let (w, h) = (120.0, 24.0);
    let max = secs.iter().copied().fold(0.0_f64, f64::max).max(1e-3);
    let step = if secs.len() > 1 {
        w / (secs.len() - 1) as f64
    } else {
        0.0
    };
    let points: Vec<String> = secs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - 1.0 - (s / max) * (h - 2.0)
            )
        })
        .collect();
    let last = secs.last().copied();
    html! {
        @if let Some(last) = last {
            svg.spark width="120" height="24" viewBox="0 0 120 24" role="img" data-rounds=(secs.len())
                aria-label={ (secs.len()) " rounds, last " (format!("{:.0}", last * 1000.0)) " ms" } {
                title { (secs.len()) " rounds, last " (format!("{:.0}", last * 1000.0)) " ms, slowest " (format!("{:.0}", max * 1000.0)) " ms" }
                polyline points=(points.join(" ")) {}
            }
            br; span.muted { (format!("{:.0}", last * 1000.0)) " ms" }
        } @else {
            span.muted { "-" }
        }
    }
}

/// One address's row; with `multi` (the site is seen from several
/// vantages) it names its vantage.
fn row(e: &Entry, now: SystemTime, multi: bool) -> Markup {
    let state = e.tracker.state();
    let last = e.last.as_deref();
    let days_left = last
        .and_then(|r| {
            r.addresses
                .iter()
                .filter_map(|a| a.tls.as_ref()?.not_after)
                .min()
        })
        .map(|na| na.saturating_sub(crate::ground::time::unix_secs(now)) / 86400);
    let parity = e.content.as_deref().and_then(|c| c.parity.as_ref());
    html! {
        tr.target data-url=(e.target.url.as_str()) data-vantage=(e.target.vantage) data-state=(state.as_str()) {
            td { span class={ "state " (state.as_str()) } { (state.as_str()) } }
            td {
                a href=(e.target.url.as_str()) rel="noreferrer nofollow" { (e.target.url.as_str()) }
                br;
                span.muted { (if e.target.role == Role::Main { "main" } else { "mirror" }) }
                @if e.target.discovered {
                    span.muted.discovered { " · discovered" }
                }
                @if multi || e.target.proxy.is_some() {
                    span.muted.vantage { " · from " (e.target.vantage) }
                }
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
                @if let Some(fault) = last.and_then(|r| r.vantage.as_ref()).and_then(|v| v.fault.as_ref()) {
                    div.muted.vantage-fault { "vantage down, no evidence this round: " (fault) }
                }
                @if e.tracker.problems().is_empty() && state != State::Unknown { span.muted { "none" } }
            }
            td {
                (bar(&e.bars.hours(), "hours"))
                (bar(&e.bars.days(), "days"))
            }
            td { (sparkline(e)) }
            td { @if let Some(d) = days_left { (d) " days left" } @else { span.muted { "-" } } }
            td { @if let Some(p) = parity { (format!("{:.2}", p.similarity)) } @else { span.muted { "-" } } }
            td { @if let Some(p) = parity { (humantime::format_duration(Duration::from_secs(p.lag_seconds as u64))) } @else { span.muted { "-" } } }
            td { @if let Some(t) = e.last_check { (rfc3339(t)) } @else { span.muted { "not yet" } } }
        }
    }
}
