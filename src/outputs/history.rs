//! The event history: `/api/v1/history` (JSON) and `/history` (HTML),
//! newest first and paginated, from the store's state transitions and
//! problem raise/clear events. Query: `site`, `target` (the address's URL
//! or `host[:port]`), `since` (RFC 3339, or a duration back from now such
//! as `24h`), `before` (the cursor: an event id), `limit` (1 to 1000,
//! default 100).

use std::time::SystemTime;

use maud::{DOCTYPE, html};
use serde::{Deserialize, Serialize};

use crate::ground::time::{from_ms, rfc3339};
use crate::store::history::{EventQuery, EventRow};

/// Most events one page lists.
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_LIMIT: usize = 100;

/// The query string, as written.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    pub site: Option<String>,
    pub target: Option<String>,
    pub since: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<usize>,
}

impl Params {
    /// The store query; `Err` names the bad parameter.
    pub fn query(&self, now: SystemTime) -> Result<EventQuery, String> {
        let since_ms = match self.since.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let at = humantime::parse_rfc3339_weak(s)
                    .ok()
                    .or_else(|| {
                        humantime::parse_duration(s)
                            .ok()
                            .and_then(|d| now.checked_sub(d))
                    })
                    .ok_or_else(|| {
                        format!(
                            "since: `{}` is neither an RFC 3339 time nor a duration such as 24h",
                            crate::ground::text::clip(s, 80)
                        )
                    })?;
                Some((crate::ground::time::unix(at) * 1000.0) as i64)
            }
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(format!(
                "limit: {limit} is out of range; expected 1 to {MAX_LIMIT}"
            ));
        }
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        Ok(EventQuery {
            site: nonempty(&self.site),
            target: nonempty(&self.target),
            since_ms,
            before: self.before,
            limit,
        })
    }
}

/// One event, as the API shows it.
#[derive(Debug, Serialize)]
pub struct EventView {
    pub id: i64,
    pub at: String,
    pub site: String,
    pub target: String,
    pub vantage: String,
    /// `state`, `raised`, `cleared`, or `domain` (a registry fact of the
    /// address's domain changed; `kind` says which).
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub detail: String,
}

/// A page of events and the cursor of the next (older) one.
#[derive(Debug, Serialize)]
pub struct HistoryView {
    pub events: Vec<EventView>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// The page of `rows` (fetched with `limit + 1` to know whether more follow).
pub fn view(mut rows: Vec<EventRow>, limit: usize) -> HistoryView {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let some = |s: String| (!s.is_empty()).then_some(s);
    HistoryView {
        next_before: if more {
            rows.last().map(|r| r.id)
        } else {
            None
        },
        events: rows
            .into_iter()
            .map(|r| EventView {
                id: r.id,
                at: rfc3339(from_ms(r.at_ms)),
                site: r.site,
                target: r.url,
                vantage: r.vantage,
                event: r.event,
                kind: some(r.kind),
                from: some(r.from_state),
                to: some(r.to_state),
                detail: r.detail,
            })
            .collect(),
    }
}

/// The `/history` page for `page`, with links that keep the filter.
pub fn render(page: &HistoryView, p: &Params, now: SystemTime) -> String {
    let keep = |before: Option<i64>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("site", &p.site),
            ("target", &p.target),
            ("since", &p.since),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        if let Some(l) = p.limit {
            q.append_pair("limit", &l.to_string());
        }
        if let Some(b) = before {
            q.append_pair("before", &b.to_string());
        }
        q.finish()
    };
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            (super::page::head("mirrorwatch: history", None))
            body {
                h1 { "history" }
                nav {
                    a href="/" { "status" }
                    a href={ "/api/v1/history?" (keep(p.before)) } { "as JSON" }
                    span.muted { "newest first; rendered " (rfc3339(now)) }
                }
                form method="get" action="/history" {
                    input name="site" placeholder="site" value=(p.site.clone().unwrap_or_default());
                    " "
                    input name="target" placeholder="target URL or host" value=(p.target.clone().unwrap_or_default());
                    " "
                    input name="since" placeholder="since (24h or RFC 3339)" value=(p.since.clone().unwrap_or_default());
                    " "
                    button type="submit" { "filter" }
                }
                table.history {
                    thead { tr { th { "time" } th { "site" } th { "address" } th { "event" } th { "detail" } } }
                    tbody {
                        @for e in &page.events {
                            tr.event data-event=(e.event) data-id=(e.id) {
                                td { (e.at) }
                                td { (e.site) }
                                td { (e.target) }
                                td {
                                    @match e.event.as_str() {
                                        "state" => {
                                            span class={ "state " (e.from.clone().unwrap_or_default()) } { (e.from.clone().unwrap_or_default()) }
                                            " → "
                                            span class={ "state " (e.to.clone().unwrap_or_default()) } { (e.to.clone().unwrap_or_default()) }
                                        }
                                        other => { (other) " " span.kind { (e.kind.clone().unwrap_or_default()) } }
                                    }
                                }
                                td { (e.detail) }
                            }
                        }
                    }
                }
                @if page.events.is_empty() { p.muted { "no events" } }
                @if let Some(b) = page.next_before {
                    p { a.next href={ "/history?" (keep(Some(b))) } { "older →" } }
                }
            }
        }
    };
    html.into_string()
}
