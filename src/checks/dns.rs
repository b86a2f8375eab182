//! DNS check: A and AAAA through every configured resolver, NS of the
//! registered domain through the first.
//!
//! Each resolver is queried on its own (no pooling), so a resolver that
//! lies, fails or stays silent shows as itself. A and AAAA answers and
//! errors are never cached; a non-empty NS answer is reused within its TTL
//! (at most 5 minutes), as a recursive resolver would answer from its cache.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ResolveHosts, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use tokio::time::{Instant, timeout_at};

pub use super::dns_report::{Bogon, DnsReport, NsAnswer, Outcome, ResolverAnswer, Transport};

use super::dns_enc::{Doh, Dot, Fault, Reason};
use super::dns_udp::Reply;
use super::tls::TlsSetup;
use super::{Flow, Round, RoundReport};
use crate::config::{ResolverSpec, Settings};
use crate::ground::bogon;
use crate::ground::domain::{ip_literal, registered_domain};

/// Per-query timeout: a share of the round's budget, so one silent resolver
/// leaves time for the connect, TLS and HTTP stages.
pub fn query_timeout(round_timeout: Duration) -> Duration {
    (round_timeout.saturating_mul(2) / 5).clamp(Duration::from_millis(50), Duration::from_secs(5))
}

/// The longest an NS answer is reused. The cache policy: A and AAAA are
/// asked afresh every round (they are what the checks judge); a non-empty
/// NS answer is reused for its TTL, at most this long, since a recursive
/// resolver would itself answer from its cache within the TTL; errors and
/// empty answers are never reused, so a failing resolver shows every round.
pub const NS_CACHE_MAX: Duration = Duration::from_secs(300);

/// How one resolver is reached.
enum Via {
    /// `IP[:PORT]`: questions go straight over UDP (see `dns_udp`), over
    /// TCP when a reply is truncated.
    Plain(std::net::SocketAddr),
    /// `system`: hickory with the host's configuration.
    System(Box<TokioResolver>),
    Dot(Dot),
    Doh(Box<Doh>),
    /// The resolver could not be set up; every question fails with this.
    Unusable(String),
}

/// A single-server resolver with caching disabled (but see [`NS_CACHE_MAX`]).
pub struct Resolver {
    pub name: String,
    via: Via,
    /// How long one question may wait.
    query_timeout: Duration,
    /// Registered domain → NS names and when they expire.
    ns_cache: std::sync::Mutex<std::collections::HashMap<String, (Instant, Vec<String>)>>,
}

impl Resolver {
    /// A resolver for `spec`; encrypted ones trust what `tls` trusts.
    pub fn new(spec: &ResolverSpec, timeout: Duration, tls: &TlsSetup, user_agent: &str) -> Self {
        let via = match spec {
            ResolverSpec::Plain(addr) => Ok(Via::Plain(*addr)),
            ResolverSpec::System => system(timeout).map(|r| Via::System(Box::new(r))),
            ResolverSpec::Tls { addr, name } => Dot::new(*addr, name, tls).map(Via::Dot),
            ResolverSpec::Https { url } => {
                Doh::new(url, tls, user_agent).map(|d| Via::Doh(Box::new(d)))
            }
        };
        let via = via.unwrap_or_else(|e| {
            tracing::warn!(resolver = %spec, error = %e, "resolver unusable");
            Via::Unusable(e)
        });
        Self {
            name: spec.to_string(),
            via,
            ns_cache: Default::default(),
            query_timeout: timeout,
        }
    }

    pub fn transport(&self) -> Transport {
        match &self.via {
            Via::Plain(_) | Via::Unusable(_) => Transport::Udp,
            Via::System(_) => Transport::System,
            Via::Dot(_) => Transport::Tls,
            Via::Doh(_) => Transport::Https,
        }
    }
}

/// hickory with the host's resolver configuration and no caching.
fn system(timeout: Duration) -> Result<TokioResolver, String> {
    let mut opts = ResolverOpts::default();
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.cache_size = 0;
    opts.positive_max_ttl = Some(Duration::ZERO);
    opts.negative_max_ttl = Some(Duration::ZERO);
    opts.use_hosts_file = ResolveHosts::Never;
    opts.ndots = 0;
    opts.edns0 = true;
    let (config, _) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| format!("reading system resolver config: {e}"))?;
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| e.to_string())
}

/// Result of one record-type query.
struct Query {
    outcome: Outcome,
    rcode: ResponseCode,
    addresses: Vec<IpAddr>,
    ttl: Option<u32>,
    reason: Option<Reason>,
    error: Option<String>,
}

/// Why one question got no records, from any path.
enum NoAnswer {
    /// A reply without records of the type, with this code (NOERROR: no
    /// data; NXDOMAIN: no such name).
    Empty(ResponseCode),
    /// A reply with an error code (SERVFAIL, REFUSED, ...).
    Rcode(ResponseCode),
    Timeout,
    /// The resolver could not be reached, or did not give a DNS answer.
    Failed(Fault),
}

impl From<NetError> for NoAnswer {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Dns(DnsError::NoRecordsFound(nr)) => NoAnswer::Empty(nr.response_code),
            NetError::Dns(DnsError::ResponseCode(code)) => NoAnswer::Rcode(code),
            NetError::Timeout => NoAnswer::Timeout,
            other => NoAnswer::Failed(Fault {
                reason: Reason::Connect,
                detail: other.to_string(),
            }),
        }
    }
}

impl From<Fault> for NoAnswer {
    fn from(f: Fault) -> Self {
        if f.reason == Reason::Timeout {
            NoAnswer::Timeout
        } else {
            NoAnswer::Failed(f)
        }
    }
}

fn classify(result: Result<Vec<(RData, u32)>, NoAnswer>) -> Query {
    let failed = |outcome, rcode, reason, error: String| Query {
        outcome,
        rcode,
        addresses: Vec::new(),
        ttl: None,
        reason,
        error: Some(error),
    };
    match result {
        Ok(records) => {
            let mut addresses = Vec::new();
            let mut ttl: Option<u32> = None;
            for (data, record_ttl) in records {
                let ip = match data {
                    RData::A(a) => IpAddr::V4(a.0),
                    RData::AAAA(a) => IpAddr::V6(a.0),
                    _ => continue,
                };
                addresses.push(ip);
                ttl = Some(ttl.map_or(record_ttl, |t| t.min(record_ttl)));
            }
            let outcome = if addresses.is_empty() {
                Outcome::NoData
            } else {
                Outcome::Answered
            };
            Query {
                outcome,
                rcode: ResponseCode::NoError,
                addresses,
                ttl,
                reason: None,
                error: None,
            }
        }
        Err(NoAnswer::Empty(ResponseCode::NXDomain)) => failed(
            Outcome::NxDomain,
            ResponseCode::NXDomain,
            None,
            "NXDOMAIN: no such name".into(),
        ),
        Err(NoAnswer::Empty(code)) => failed(
            Outcome::NoData,
            code,
            None,
            format!("{code}: no records of this type"),
        ),
        Err(NoAnswer::Rcode(code)) => {
            let outcome = match code {
                ResponseCode::ServFail => Outcome::ServFail,
                ResponseCode::Refused => Outcome::Refused,
                ResponseCode::NXDomain => Outcome::NxDomain,
                _ => Outcome::OtherRcode,
            };
            failed(outcome, code, None, format!("resolver answered {code}"))
        }
        Err(NoAnswer::Timeout) => failed(
            Outcome::Timeout,
            ResponseCode::NoError,
            Some(Reason::Timeout),
            "no answer before the query timeout".into(),
        ),
        Err(NoAnswer::Failed(f)) => failed(
            Outcome::Unreachable,
            ResponseCode::NoError,
            Some(f.reason),
            f.detail,
        ),
    }
}

/// The records of a wire-format reply, or why there are none.
fn records(reply: Reply) -> Result<Vec<(RData, u32)>, NoAnswer> {
    match reply {
        Reply::Answer {
            rcode,
            records,
            ttl,
        } => match rcode {
            ResponseCode::NoError | ResponseCode::NXDomain if records.is_empty() => {
                Err(NoAnswer::Empty(rcode))
            }
            ResponseCode::NoError => {
                let ttl = ttl.unwrap_or(0);
                Ok(records.into_iter().map(|r| (r, ttl)).collect())
            }
            code => Err(NoAnswer::Rcode(code)),
        },
        Reply::Timeout => Err(NoAnswer::Timeout),
        Reply::Failed(e) => Err(NoAnswer::Failed(Fault {
            reason: Reason::Connect,
            detail: e,
        })),
        Reply::Truncated => Err(NoAnswer::Failed(Fault {
            reason: Reason::BadReply,
            detail: "reply truncated over TCP".into(),
        })),
    }
}

/// One question through a plain resolver (UDP or the system's); `None`
/// for an encrypted one.
async fn lookup_plain(
    resolver: &Resolver,
    name: &str,
    rtype: RecordType,
    deadline: Instant,
) -> Option<Result<Vec<(RData, u32)>, NoAnswer>> {
    // The same per-question budget on every path, so a silent resolver
    // leaves time for the later stages.
    let until = deadline.min(Instant::now() + resolver.query_timeout);
    match &resolver.via {
        Via::Plain(server) => {
            let reply = super::dns_udp::ask(*server, name, rtype, until).await;
            Some(records(fitted(reply, *server, name, rtype, until).await))
        }
        Via::System(inner) => Some(
            inner
                .lookup(name, rtype)
                .await
                .map(|l| {
                    l.answers()
                        .iter()
                        .map(|r| (r.data.clone(), r.ttl))
                        .collect()
                })
                .map_err(NoAnswer::from),
        ),
        _ => None,
    }
}

/// A and AAAA through a plain resolver, both from one socket (see
/// [`super::dns_udp::ask_both`]), each asked again over TCP when its
/// reply did not fit; the same per-question budget as [`lookup_plain`].
async fn plain_both(
    resolver: &Resolver,
    server: std::net::SocketAddr,
    name: &str,
    deadline: Instant,
) -> (
    Result<Vec<(RData, u32)>, NoAnswer>,
    Result<Vec<(RData, u32)>, NoAnswer>,
) {
    use super::dns_udp::{BOTH, ask_both};
    let until = deadline.min(Instant::now() + resolver.query_timeout);
    let [a, aaaa] = ask_both(server, name, until).await;
    let (a, aaaa) = tokio::join!(
        fitted(a, server, name, BOTH[0], until),
        fitted(aaaa, server, name, BOTH[1], until)
    );
    (records(a), records(aaaa))
}

/// `reply`, or when it did not fit UDP, the same question over TCP.
async fn fitted(
    reply: Reply,
    server: std::net::SocketAddr,
    name: &str,
    rtype: RecordType,
    until: Instant,
) -> Reply {
    match reply {
        Reply::Truncated => super::dns_udp::ask_tcp(server, name, rtype, until).await,
        reply => reply,
    }
}

/// The answer records of one question, or why there are none, whichever
/// path asked. `peers` (the round's resolvers) resolve a DoH server's host.
async fn lookup(
    resolver: &Resolver,
    name: &str,
    rtype: RecordType,
    deadline: Instant,
    peers: &[Arc<Resolver>],
) -> Result<Vec<(RData, u32)>, NoAnswer> {
    if let Some(result) = lookup_plain(resolver, name, rtype, deadline).await {
        return result;
    }
    let until = deadline.min(Instant::now() + resolver.query_timeout);
    match &resolver.via {
        Via::Dot(dot) => records(dot.ask(name, rtype, until).await?),
        Via::Doh(doh) => {
            if let Some(host) = doh.needs_pin() {
                doh.pin(&pin_addresses(host, peers, until).await?)?;
            }
            records(doh.ask(name, rtype, until).await?)
        }
        Via::Unusable(e) => Err(NoAnswer::Failed(Fault {
            reason: Reason::Connect,
            detail: e.clone(),
        })),
        Via::Plain(_) | Via::System(_) => Err(NoAnswer::Timeout),
    }
}

/// A DoH server's addresses: the first plain resolver among `peers` (in
/// their order) that answers A or AAAA for `host`.
async fn pin_addresses(
    host: &str,
    peers: &[Arc<Resolver>],
    deadline: Instant,
) -> Result<Vec<IpAddr>, Fault> {
    let name = format!("{}.", host.trim_end_matches('.'));
    let mut tried = Vec::new();
    for peer in peers {
        let mut found = Vec::new();
        for rtype in [RecordType::A, RecordType::AAAA] {
            if let Some(Ok(records)) = lookup_plain(peer, &name, rtype, deadline).await {
                found.extend(classify(Ok(records)).addresses);
            }
        }
        if !found.is_empty() {
            return Ok(found);
        }
        if !peer.transport().encrypted() {
            tried.push(peer.name.clone());
        }
    }
    Err(Fault {
        reason: Reason::HostUnresolved,
        detail: format!(
            "DoH host {host} did not resolve through the plain resolvers ({})",
            if tried.is_empty() {
                "none configured".to_string()
            } else {
                tried.join(", ")
            }
        ),
    })
}

/// Which of two per-type outcomes describes the name best.
fn rank(o: &Outcome) -> u8 {
    match o {
        Outcome::Answered => 7,
        Outcome::NxDomain => 6,
        Outcome::ServFail => 5,
        Outcome::Refused => 4,
        Outcome::OtherRcode => 3,
        Outcome::NoData => 2,
        Outcome::Unreachable => 1,
        Outcome::Timeout => 0,
    }
}

/// Where an answer is asked: the round's resolvers and, for bogons, the
/// settings that say which names are public.
struct Asking<'a> {
    peers: &'a [Arc<Resolver>],
    settings: Option<&'a Settings>,
    deadline: Instant,
}

async fn ask(resolver: &Resolver, host: &str, at: &Asking<'_>) -> ResolverAnswer {
    let start = Instant::now();
    let name = format!("{}.", host.trim_end_matches('.'));
    let both = async {
        if let Via::Plain(server) = &resolver.via {
            return plain_both(resolver, *server, &name, at.deadline).await;
        }
        tokio::join!(
            lookup(resolver, &name, RecordType::A, at.deadline, at.peers),
            lookup(resolver, &name, RecordType::AAAA, at.deadline, at.peers)
        )
    };
    let Ok((a, aaaa)) = timeout_at(at.deadline, both).await else {
        return ResolverAnswer {
            resolver: resolver.name.clone(),
            transport: resolver.transport(),
            outcome: Outcome::Timeout,
            rcode: String::new(),
            addresses: Vec::new(),
            ttl: None,
            latency_seconds: start.elapsed().as_secs_f64(),
            reason: Some(Reason::Timeout),
            error: Some("no answer before the round deadline".into()),
            bogons: Vec::new(),
        };
    };
    let (a, aaaa) = (classify(a), classify(aaaa));
    let best = if rank(&aaaa.outcome) > rank(&a.outcome) {
        &aaaa
    } else {
        &a
    };
    let mut addresses = a.addresses.clone();
    addresses.extend(aaaa.addresses.iter().copied());
    let ttl = match (a.ttl, aaaa.ttl) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    let bogons = match at.settings {
        Some(s) => addresses
            .iter()
            .filter_map(|ip| {
                bogon::classify(*ip, host, &s.public_suffixes, &s.bogon_exempt)
                    .map(|range| Bogon { ip: *ip, range })
            })
            .collect(),
        None => Vec::new(),
    };
    let answered = best.outcome == Outcome::Answered;
    ResolverAnswer {
        resolver: resolver.name.clone(),
        transport: resolver.transport(),
        outcome: best.outcome.clone(),
        rcode: best.rcode.to_string(),
        addresses,
        ttl,
        latency_seconds: start.elapsed().as_secs_f64(),
        reason: if answered { None } else { best.reason },
        error: if answered { None } else { best.error.clone() },
        bogons,
    }
}

async fn ns(resolver: &Resolver, host: &str, at: &Asking<'_>) -> NsAnswer {
    let domain = registered_domain(host);
    let mut out = NsAnswer {
        domain: domain.clone(),
        ..Default::default()
    };
    if let Via::Unusable(_) = resolver.via {
        out.error = Some("resolver unusable".into());
        return out;
    }
    let cache = || resolver.ns_cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((until, names)) = cache().get(&domain)
        && Instant::now() < *until
    {
        out.names = names.clone();
        out.cached = true;
        return out;
    }
    let name = format!("{domain}.");
    let asked = lookup(resolver, &name, RecordType::NS, at.deadline, at.peers);
    match timeout_at(at.deadline, asked).await {
        Err(_) => out.error = Some("no answer before the round deadline".into()),
        Ok(Err(e)) => out.error = classify(Err(e)).error,
        Ok(Ok(records)) => {
            let mut ttl = u32::MAX;
            for (data, record_ttl) in records {
                if let RData::NS(ns) = data {
                    out.names
                        .push(ns.0.to_string().trim_end_matches('.').to_ascii_lowercase());
                    ttl = ttl.min(record_ttl);
                }
            }
            if !out.names.is_empty() {
                let keep = Duration::from_secs(u64::from(ttl)).min(NS_CACHE_MAX);
                cache().insert(domain, (Instant::now() + keep, out.names.clone()));
            }
        }
    }
    out
}

/// The DNS stage. Continues when at least one resolver returned an address.
pub async fn run(round: &Round<'_>, report: &mut RoundReport) -> Flow {
    let host = round.target.url.host_str().unwrap_or_default();
    // A literal address needs no lookup; through a proxy that resolves
    // names, the lookup is the proxy's and not observable from here.
    if ip_literal(host).is_some() || round.proxy_resolves() {
        report.dns.looked_up = false;
        return Flow::Continue;
    }
    report.dns.looked_up = true;
    let start = Instant::now();
    let at = Asking {
        peers: &round.resolvers,
        settings: Some(&round.target.settings),
        deadline: round.deadline,
    };
    let answers = futures_util::future::join_all(round.resolvers.iter().map(|r| ask(r, host, &at)));
    let ns_lookup = async {
        match round.resolvers.first() {
            Some(r) => Some(ns(r, host, &at).await),
            None => None,
        }
    };
    let (answers, ns_answer) = tokio::join!(answers, ns_lookup);
    report.dns.resolvers = answers;
    report.dns.ns = ns_answer;
    report.timings.dns = report
        .dns
        .resolvers
        .iter()
        .find(|a| a.outcome == Outcome::Answered)
        .map(|a| a.latency_seconds)
        .unwrap_or_else(|| start.elapsed().as_secs_f64());
    if report
        .dns
        .resolvers
        .iter()
        .any(|a| a.outcome == Outcome::Answered)
    {
        Flow::Continue
    } else {
        Flow::Stop
    }
}

/// Resolves `host` for a redirect hop: the first resolver that returns an
/// address wins.
pub async fn resolve_any(round: &Round<'_>, host: &str) -> Option<IpAddr> {
    if let Some(ip) = ip_literal(host) {
        return Some(ip);
    }
    let at = Asking {
        peers: &round.resolvers,
        settings: None,
        deadline: round.deadline,
    };
    for r in &round.resolvers {
        let answer = ask(r, host, &at).await;
        if let Some(ip) = answer.addresses.first() {
            return Some(*ip);
        }
    }
    None
}
