//! `GET /api/v1/status` (SPEC section 5), version 1: view types of their own,
//! built from the internal reports, so renaming a field inside the checks
//! never changes what people script against. `docs/status-v1.schema.json`
//! is generated from these types (schemars) and checked in; a test keeps
//! the file and the types in step and validates a live daemon against it.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::Serialize;

use super::board::Entry;
use crate::checks::tls::Handshake;
use crate::ground::time::{rfc3339, unix_rfc3339};

/// The version of this view; bumped only for incompatible changes.
pub const API_VERSION: u32 = 1;

/// `GET /api/v1/status`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// Always [`API_VERSION`].
    pub api_version: u32,
    pub sites: Vec<SiteView>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteView {
    pub name: String,
    /// Site-level problems over every address and vantage
    /// (`blocked_somewhere`).
    pub problems: Vec<SiteProblemView>,
    pub targets: Vec<TargetView>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteProblemView {
    pub kind: String,
    /// `warning`.
    pub severity: String,
    /// Which address is down from which vantages, and reachable from which.
    pub detail: String,
}

/// How the last round went through its vantage's proxy.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyView {
    /// The proxy URL, without its password.
    pub proxy: String,
    /// The proxy resolves names: DNS and per-address results are not
    /// observable from this vantage.
    pub dns_hidden: bool,
    /// The proxy itself failed: the round gave no evidence about the site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetView {
    pub url: String,
    /// Host, with `:port` when not the scheme's default.
    pub target: String,
    /// `main` or `mirror`.
    pub role: String,
    /// Where it is probed from (`local`: this machine, directly).
    pub vantage: String,
    /// Set for a vantage that probes through a proxy, after its first round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyView>,
    /// `unknown`, `up`, `degraded` or `down`.
    pub state: String,
    /// RFC 3339: when the current state began.
    pub since: String,
    pub last_check: Option<String>,
    pub rounds: u64,
    pub uptime: Uptime,
    /// Raised problems (after thresholds), critical first.
    pub problems: Vec<ProblemView>,
    /// What the last round showed, before thresholds.
    pub findings: Vec<FindingView>,
    pub dns: Option<DnsView>,
    pub tls: Option<TlsView>,
    pub http: Option<HttpView>,
    /// Mirrors, once compared with the main site.
    pub parity: Option<ParityView>,
    pub fingerprints: Option<Vec<FingerprintView>>,
    pub last_round: Option<LastRound>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Uptime {
    #[serde(rename = "1h")]
    pub h1: Option<f64>,
    #[serde(rename = "24h")]
    pub h24: Option<f64>,
    #[serde(rename = "7d")]
    pub d7: Option<f64>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemView {
    pub kind: String,
    /// `warning` or `critical`.
    pub severity: String,
    pub detail: String,
    pub since: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingView {
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsView {
    pub consistent: bool,
    pub resolvers: Vec<ResolverView>,
    pub ns: Option<NsView>,
    pub suspect_addresses: Vec<IpAddr>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolverView {
    pub resolver: String,
    /// `answered`, `no_data`, `nx_domain`, `serv_fail`, `refused`,
    /// `other_rcode`, `timeout` or `unreachable`.
    pub outcome: String,
    pub rcode: String,
    pub addresses: Vec<IpAddr>,
    pub ttl: Option<u32>,
    pub latency_seconds: f64,
    /// `udp`, `system`, `tls` (DoT) or `https` (DoH).
    pub transport: String,
    /// Why there was no answer: `timeout`, `connect`, `tls_certificate`,
    /// `tls_handshake`, `http_status`, `content_type`, `bad_reply` or
    /// `host_unresolved`; `error` says it in a line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Addresses in special-purpose ranges (RFC 6890) answered for a
    /// public name, with the range's name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bogons: Vec<BogonView>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BogonView {
    pub ip: IpAddr,
    /// `private`, `loopback`, `link-local`, `CGNAT`, `documentation`, ...
    pub range: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NsView {
    pub domain: String,
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsView {
    pub valid: bool,
    pub not_after: Option<String>,
    pub addresses: Vec<AddressView>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressView {
    /// The address; absent when a proxy resolved the name (`host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The host name a vantage's proxy resolved and connected to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub resolvers: Vec<String>,
    pub tcp: TcpView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<HandshakeView>,
    pub good: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpView {
    pub ok: bool,
    pub seconds: f64,
    pub stalled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandshakeView {
    /// `ok`, `failed` or `stalled`.
    pub handshake: String,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub version: Option<String>,
    pub cipher: Option<String>,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_error: Option<String>,
    pub hostname_match: bool,
    /// Unix seconds.
    pub not_after: Option<i64>,
    pub chain: Vec<CertView>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertView {
    pub subject: String,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    pub sans: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpView {
    /// Final status of the first path.
    pub status: Option<u16>,
    pub redirects: usize,
    pub timings: Timings,
    pub paths: Vec<PathView>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    pub dns: f64,
    pub connect: f64,
    pub tls: f64,
    pub ttfb: f64,
    pub transfer: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathView {
    pub path: String,
    pub ip: Option<IpAddr>,
    pub status: Option<u16>,
    pub redirects: Vec<HopView>,
    pub final_url: String,
    pub body_bytes: u64,
    pub truncated: bool,
    pub content_encoding: Option<String>,
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_stage: Option<String>,
    pub stalled: bool,
    pub requested_at: String,
    pub received_at: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HopView {
    pub url: String,
    pub status: u16,
    pub location: String,
    pub offsite: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParityView {
    pub mirror_title: Option<String>,
    pub similarity: f64,
    pub title_match: bool,
    pub length_ratio: f64,
    pub missing_articles: usize,
    pub lag_seconds: f64,
    pub reference_age_seconds: f64,
    pub paths: Vec<PathParityView>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathParityView {
    pub path: String,
    pub title: String,
    pub similarity: f64,
    pub title_match: bool,
    pub length_ratio: f64,
    pub missing_articles: usize,
    /// Lower bound of the lag of the last judged fetch.
    pub lag_seconds: f64,
    /// Its upper bound; null when unbounded.
    pub lag_upper_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_missing: Option<String>,
    /// This round judged a fetch; otherwise the figures are older evidence.
    pub freshness_judged: bool,
    pub freshness_observed_at: Option<String>,
    pub articles_on_mirror: usize,
    pub articles_shared: usize,
    pub articles_on_reference: usize,
    pub reference_fetched_at: String,
    pub reference_age_seconds: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FingerprintView {
    pub name: String,
    /// `blockpage` or `seized`.
    pub kind: String,
    pub evidence: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LastRound {
    pub started: String,
    pub duration_seconds: f64,
    pub deadline_hit: bool,
}

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
        s.problems = crate::verdict::site::evaluate(members)
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

/// The JSON Schema of [`Status`] (draft 2020-12), as committed in
/// `docs/status-v1.schema.json`.
pub fn schema() -> serde_json::Value {
    // The contract is what the daemon serializes (optional fields are the
    // ones it may leave out), not what a parser would accept.
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    serde_json::to_value(generator.into_root_schema_for::<Status>()).unwrap_or_default()
}
