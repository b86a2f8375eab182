//! Builds the status document's view types from the board's entries: the
//! internal reports are mapped field by field, so the public JSON changes
//! only when the view types do.

use serde::Serialize;

use super::*;
use crate::checks::tls::Handshake;
use crate::ground::time::{rfc3339, unix_rfc3339};
use crate::outputs::board::Entry;

/// A serde value's name (`"nx_domain"`): the wire names of internal enums.
fn name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Builds the status document from a board snapshot (config order kept).
pub fn build(entries: &[Entry]) -> Status {
    let mut sites: Vec<SiteView> = Vec::new();
    let mut members: Vec<Vec<crate::verdict::site::Member>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for e in entries {
        let i = *index.entry(e.target.site.clone()).or_insert_with(|| {
            sites.push(SiteView {
                name: e.target.site.clone(),
                problems: Vec::new(),
                announced: None,
                targets: Vec::new(),
            });
            sites.len() - 1
        });
        if let Some(s) = sites.get_mut(i) {
            s.targets.push(target(e));
        }
        if members.len() <= i {
            members.resize_with(i + 1, Vec::new);
        }
        if let Some(m) = members.get_mut(i) {
            m.push(e.member());
        }
    }
    for (s, members) in sites.iter_mut().zip(&members) {
        let verdict = crate::verdict::site::evaluate(members);
        s.announced = verdict.announced.as_ref().map(|a| {
            a.iter()
                .map(|h| AnnouncedView {
                    host: h.clone(),
                    watched: !verdict.unwatched.contains(h),
                })
                .collect()
        });
        s.problems = verdict
            .problems()
            .into_iter()
            .map(|(kind, detail)| SiteProblemView {
                kind: kind.as_str().to_string(),
                severity: kind.severity().as_str().to_string(),
                detail,
            })
            .collect();
    }
    Status {
        api_version: API_VERSION,
        sites,
    }
}

fn target(e: &Entry) -> TargetView {
    let last = e.last.as_deref();
    TargetView {
        url: e.target.url.to_string(),
        target: e.target.label(),
        role: name(&e.target.role),
        vantage: e.target.vantage.clone(),
        discovered: e.target.discovered,
        registry: last.and_then(|r| r.registry.as_ref()).map(registry),
        proxy: last.and_then(|r| r.vantage.as_ref()).map(|v| ProxyView {
            proxy: v.proxy.clone(),
            dns_hidden: v.dns_hidden,
            fault: v.fault.clone(),
        }),
        state: e.tracker.state().as_str().to_string(),
        since: rfc3339(e.tracker.since()),
        last_check: e.last_check.map(rfc3339),
        rounds: e.tracker.rounds(),
        uptime: Uptime {
            h1: e.uptime[0],
            h24: e.uptime[1],
            d7: e.uptime[2],
        },
        problems: e
            .tracker
            .problems()
            .iter()
            .map(|p| ProblemView {
                kind: p.kind.as_str().to_string(),
                severity: p.kind.severity().as_str().to_string(),
                detail: p.detail.clone(),
                since: rfc3339(p.since),
            })
            .collect(),
        findings: e
            .verdict
            .findings
            .iter()
            .map(|f| FindingView {
                kind: f.kind.as_str().to_string(),
                detail: f.detail.clone(),
            })
            .collect(),
        dns: last.map(|r| DnsView {
            consistent: e.verdict.dns_consistent,
            resolvers: r
                .dns
                .resolvers
                .iter()
                .map(|a| ResolverView {
                    resolver: a.resolver.clone(),
                    outcome: name(&a.outcome),
                    rcode: a.rcode.clone(),
                    addresses: a.addresses.clone(),
                    ttl: a.ttl,
                    latency_seconds: a.latency_seconds,
                    transport: name(&a.transport),
                    reason: a.reason.as_ref().map(name),
                    error: a.error.clone(),
                    bogons: a
                        .bogons
                        .iter()
                        .map(|b| BogonView {
                            ip: b.ip,
                            range: b.range.to_string(),
                        })
                        .collect(),
                })
                .collect(),
            ns: r.dns.ns.as_ref().map(|n| NsView {
                domain: n.domain.clone(),
                names: n.names.clone(),
                cached: n.cached,
                error: n.error.clone(),
            }),
            suspect_addresses: e.verdict.suspect_addresses.clone(),
        }),
        tls: last
            .filter(|_| e.target.url.scheme() == "https")
            .map(|r| TlsView {
                valid: r.addresses.iter().any(|a| a.good),
                not_after: r
                    .addresses
                    .iter()
                    .filter_map(|a| a.tls.as_ref())
                    .filter(|t| t.handshake == Handshake::Ok)
                    .filter_map(|t| t.not_after)
                    .min()
                    .map(unix_rfc3339),
                addresses: r.addresses.iter().map(address).collect(),
            }),
        http: last.map(|r| {
            let first = r.http.first();
            HttpView {
                status: first.and_then(|h| h.status),
                redirects: first.map_or(0, |h| h.redirects.len()),
                timings: Timings {
                    dns: r.timings.dns,
                    connect: r.timings.connect,
                    tls: r.timings.tls,
                    ttfb: r.timings.ttfb,
                    transfer: r.timings.transfer,
                },
                paths: r.http.iter().map(path).collect(),
            }
        }),
        parity: e
            .content
            .as_deref()
            .and_then(|c| c.parity.as_ref())
            .map(parity),
        fingerprints: e.content.as_deref().map(|c| {
            c.fingerprints
                .iter()
                .map(|f| FingerprintView {
                    name: f.name.clone(),
                    kind: name(&f.kind),
                    evidence: f.evidence.clone(),
                })
                .collect()
        }),
        last_round: last.map(|r| LastRound {
            started: rfc3339(r.started),
            duration_seconds: r.duration_seconds,
            deadline_hit: r.deadline_hit,
        }),
    }
}

fn address(a: &crate::checks::connect::AddressReport) -> AddressView {
    AddressView {
        ip: a.dest.ip(),
        host: match &a.dest {
            crate::checks::proxy::Dest::Name(n) => Some(n.clone()),
            crate::checks::proxy::Dest::Ip(_) => None,
        },
        resolvers: a.resolvers.clone(),
        tcp: TcpView {
            ok: a.tcp.ok,
            seconds: a.tcp.seconds,
            stalled: a.tcp.stalled,
            error: a.tcp.error.clone(),
        },
        tls: a.tls.as_ref().map(|t| HandshakeView {
            handshake: name(&t.handshake),
            seconds: t.seconds,
            error: t.error.clone(),
            version: t.version.clone(),
            cipher: t.cipher.clone(),
            valid: t.valid,
            validation_error: t.validation_error.clone(),
            hostname_match: t.hostname_match,
            not_after: t.not_after,
            chain: t
                .chain
                .iter()
                .map(|c| CertView {
                    subject: c.subject.clone(),
                    issuer: c.issuer.clone(),
                    not_before: c.not_before,
                    not_after: c.not_after,
                    sans: c.sans.clone(),
                })
                .collect(),
        }),
        good: a.good,
    }
}

fn path(h: &crate::checks::http::HttpReport) -> PathView {
    PathView {
        path: h.path.clone(),
        ip: h.ip,
        status: h.status,
        redirects: h
            .redirects
            .iter()
            .map(|x| HopView {
                url: x.url.clone(),
                status: x.status,
                location: x.location.clone(),
                offsite: x.offsite,
            })
            .collect(),
        final_url: h.final_url.clone(),
        body_bytes: h.body_bytes,
        truncated: h.truncated,
        content_encoding: h.content_encoding.clone(),
        content_type: h.content_type.clone(),
        error: h.error.clone(),
        failed_stage: h.failed_stage.as_ref().map(name),
        stalled: h.stalled,
        requested_at: rfc3339(h.requested_at),
        received_at: rfc3339(h.received_at),
    }
}

fn parity(p: &crate::parity::ParityReport) -> ParityView {
    ParityView {
        mirror_title: p.mirror_title.clone(),
        similarity: p.similarity,
        title_match: p.title_match,
        length_ratio: p.length_ratio,
        missing_articles: p.missing_articles,
        lag_seconds: p.lag_seconds,
        reference_age_seconds: p.reference_age_seconds,
        paths: p
            .paths
            .iter()
            .map(|x| PathParityView {
                path: x.path.clone(),
                title: x.title.clone(),
                similarity: x.similarity,
                title_match: x.title_match,
                length_ratio: x.length_ratio,
                missing_articles: x.missing_articles,
                lag_seconds: x.lag_seconds,
                lag_upper_seconds: x.lag_upper_seconds,
                oldest_missing: x.oldest_missing.clone(),
                freshness_judged: x.freshness_judged,
                freshness_observed_at: x.freshness_observed_at.map(rfc3339),
                articles_on_mirror: x.articles_on_mirror,
                articles_shared: x.articles_shared,
                articles_on_reference: x.articles_on_reference,
                reference_fetched_at: rfc3339(x.reference_fetched_at),
                reference_age_seconds: x.reference_age_seconds,
            })
            .collect(),
    }
}

fn registry(e: &crate::checks::registry::Evidence) -> RegistryView {
    use crate::checks::registry::Source;
    let f = e.facts.as_ref();
    RegistryView {
        domain: e.domain.clone(),
        protocol: e.source.as_ref().map(|s| {
            match s {
                Source::Rdap(_) => "rdap",
                Source::Whois(_) => "whois",
            }
            .to_string()
        }),
        server: e.source.as_ref().map(|s| s.server().to_string()),
        fetched_at: e.fetched_at.map(unix_rfc3339),
        expiry: f.and_then(|f| f.expiry).map(unix_rfc3339),
        statuses: f.and_then(|f| f.statuses.clone()),
        registrar: f.and_then(|f| f.registrar.clone()),
        nameservers: f.and_then(|f| f.nameservers.clone()),
        changed: e
            .changed
            .iter()
            .map(|(k, v)| (k.clone(), unix_rfc3339(*v)))
            .collect(),
        error: e.error.clone(),
    }
}
