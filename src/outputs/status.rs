//! `GET /api/v1/status`: the JSON view of the board (SPEC section 5).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::board::Entry;
use crate::checks::tls::Handshake;
use crate::ground::time::{rfc3339, unix_rfc3339};

#[derive(Serialize)]
pub struct Status {
    pub sites: Vec<SiteStatus>,
}

#[derive(Serialize)]
pub struct SiteStatus {
    pub name: String,
    pub targets: Vec<Value>,
}

/// Builds the status document from a board snapshot (config order kept).
pub fn build(entries: &[Entry]) -> Status {
    let mut order: Vec<String> = Vec::new();
    let mut by_site: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in entries {
        if !by_site.contains_key(&e.target.site) {
            order.push(e.target.site.clone());
        }
        by_site
            .entry(e.target.site.clone())
            .or_default()
            .push(target(e));
    }
    let sites = order
        .into_iter()
        .map(|name| {
            let targets = by_site.remove(&name).unwrap_or_default();
            SiteStatus { name, targets }
        })
        .collect();
    Status { sites }
}

fn target(e: &Entry) -> Value {
    let problems: Vec<Value> = e
        .tracker
        .problems()
        .iter()
        .map(|p| {
            json!({
                "kind": p.kind,
                "severity": p.kind.severity(),
                "detail": p.detail,
                "since": rfc3339(p.since),
            })
        })
        .collect();
    let last = e.last.as_deref();
    let dns = last.map(|r| {
        json!({
            "consistent": e.verdict.dns_consistent,
            "resolvers": r.dns.resolvers,
            "ns": r.dns.ns,
            "suspect_addresses": e.verdict.suspect_addresses,
        })
    });
    let tls = last.filter(|_| e.target.url.scheme() == "https").map(|r| {
        let valid: Vec<_> = r.addresses.iter().filter_map(|a| a.tls.as_ref()).collect();
        let not_after = valid
            .iter()
            .filter(|t| t.handshake == Handshake::Ok)
            .filter_map(|t| t.not_after)
            .min();
        json!({
            "valid": r.addresses.iter().any(|a| a.good),
            "not_after": not_after.map(unix_rfc3339),
            "addresses": r.addresses,
        })
    });
    let http = last.map(|r| {
        let first = r.http.first();
        json!({
            "status": first.and_then(|h| h.status),
            "redirects": first.map_or(0, |h| h.redirects.len()),
            "timings": r.timings,
            "paths": r.http,
        })
    });
    let last_round = last.map(|r| {
        json!({
            "started": rfc3339(r.started),
            "duration_seconds": r.duration_seconds,
            "deadline_hit": r.deadline_hit,
        })
    });
    json!({
        "url": e.target.url.as_str(),
        "target": e.target.label(),
        "role": e.target.role,
        "state": e.tracker.state(),
        "since": rfc3339(e.tracker.since()),
        "last_check": e.last_check.map(rfc3339),
        "rounds": e.tracker.rounds(),
        "uptime": { "1h": e.uptime[0], "24h": e.uptime[1], "7d": e.uptime[2] },
        "problems": problems,
        "findings": e.verdict.findings,
        "dns": dns,
        "tls": tls,
        "http": http,
        "parity": e.content.as_deref().and_then(|c| c.parity.as_ref()),
        "fingerprints": e.content.as_deref().map(|c| &c.fingerprints),
        "last_round": last_round,
    })
}
