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
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use serde::Serialize;
use tokio::time::{Instant, timeout_at};

use super::dns_udp::Reply;
use super::{Flow, Round, RoundReport};
use crate::config::ResolverSpec;
use crate::ground::domain::registered_domain;

/// Per-query timeout: a share of the round's budget, so one silent resolver
/// leaves time for the connect, TLS and HTTP stages.
pub fn query_timeout(round_timeout: Duration) -> Duration {
    (round_timeout.saturating_mul(2) / 5).clamp(Duration::from_millis(50), Duration::from_secs(5))
}

/// How one resolver answered for one name (A and AAAA together).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// At least one address.
    Answered,
    /// NOERROR without any A/AAAA record.
    NoData,
    NxDomain,
    ServFail,
    Refused,
    /// Another error rcode.
    OtherRcode,
    /// No answer within the timeout.
    Timeout,
    /// Could not talk to the resolver at all.
    Unreachable,
}

impl Outcome {
    /// A definite answer from the resolver (as opposed to silence), i.e. one
    /// that counts when comparing resolvers.
    pub fn responded(&self) -> bool {
        !matches!(self, Outcome::Timeout | Outcome::Unreachable)
    }
}

/// One resolver's answer.
#[derive(Debug, Clone, Serialize)]
pub struct ResolverAnswer {
    pub resolver: String,
    pub outcome: Outcome,
    pub rcode: String,
    pub addresses: Vec<IpAddr>,
    /// Smallest TTL among the answers, seconds.
    pub ttl: Option<u32>,
    pub latency_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// NS records of the registered domain, through the first resolver.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NsAnswer {
    pub domain: String,
    pub names: Vec<String>,
    /// The names come from this resolver's answer of an earlier round, still
    /// within its TTL (see [`NS_CACHE_MAX`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DnsReport {
    /// `false` when the target's host is an IP literal (no lookup needed).
    pub looked_up: bool,
    pub resolvers: Vec<ResolverAnswer>,
    pub ns: Option<NsAnswer>,
}

impl DnsReport {
    /// Every address any resolver returned, first-seen order.
    pub fn all_addresses(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for a in self.resolvers.iter().flat_map(|r| &r.addresses) {
            if !out.contains(a) {
                out.push(*a);
            }
        }
        out
    }
}

/// The longest an NS answer is reused. The cache policy: A and AAAA are
/// asked afresh every round (they are what the checks judge); a non-empty
/// NS answer is reused for its TTL, at most this long, since a recursive
/// resolver would itself answer from its cache within the TTL; errors and
/// empty answers are never reused, so a failing resolver shows every round.
pub const NS_CACHE_MAX: Duration = Duration::from_secs(300);

/// A single-server resolver with caching disabled (but see [`NS_CACHE_MAX`]).
pub struct Resolver {
    pub name: String,
    inner: Result<TokioResolver, String>,
    /// For plain `IP[:PORT]` resolvers: questions go straight over UDP (see
    /// `dns_udp`), and through `inner` only when a reply is truncated.
    plain: Option<std::net::SocketAddr>,
    /// How long one question may wait (hickory's `timeout` on the other path).
    query_timeout: Duration,
    /// Registered domain → NS names and when they expire.
    ns_cache: std::sync::Mutex<std::collections::HashMap<String, (Instant, Vec<String>)>>,
}

impl Resolver {
    pub fn new(spec: &ResolverSpec, timeout: Duration) -> Self {
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.cache_size = 0;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ndots = 0;
        opts.edns0 = true;
        let built = build(spec, opts);
        if let Err(e) = &built {
            tracing::warn!(resolver = %spec, error = %e, "resolver unusable");
        }
        Self {
            name: spec.to_string(),
            inner: built,
            plain: match spec {
                ResolverSpec::Plain(addr) => Some(*addr),
                _ => None,
            },
            ns_cache: Default::default(),
            query_timeout: timeout,
        }
    }
}

fn build(spec: &ResolverSpec, opts: ResolverOpts) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let config = match spec {
        ResolverSpec::System => {
            let (config, _) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| format!("reading system resolver config: {e}"))?;
            config
        }
        ResolverSpec::Plain(addr) => {
            let mut udp = ConnectionConfig::new(ProtocolConfig::Udp);
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::new(ProtocolConfig::Tcp);
            tcp.port = addr.port();
            ResolverConfig::from_parts(
                None,
                vec![],
                vec![NameServerConfig::new(addr.ip(), true, vec![udp, tcp])],
            )
        }
        ResolverSpec::Tls { addr, name } => {
            let mut conn = ConnectionConfig::tls(Arc::from(name.as_str()));
            conn.port = addr.port();
            ResolverConfig::from_parts(
                None,
                vec![],
                vec![NameServerConfig::new(addr.ip(), true, vec![conn])],
            )
        }
        ResolverSpec::Https { url } => {
            let host = url.host_str().unwrap_or_default();
            let ip: IpAddr = host
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .map_err(|_| format!("DoH server `{host}` must be given as an IP address"))?;
            let mut conn = ConnectionConfig::https(Arc::from(host), Some(Arc::from(url.path())));
            conn.port = url.port_or_known_default().unwrap_or(443);
            ResolverConfig::from_parts(
                None,
                vec![],
                vec![NameServerConfig::new(ip, true, vec![conn])],
            )
        }
    };
    TokioResolver::builder_with_config(config, provider)
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
    error: Option<String>,
}

/// Why one question got no records, from either path.
enum NoAnswer {
    /// A reply without records of the type, with this code (NOERROR: no
    /// data; NXDOMAIN: no such name).
    Empty(ResponseCode),
    /// A reply with an error code (SERVFAIL, REFUSED, ...).
    Rcode(ResponseCode),
    Timeout,
    /// The resolver could not be reached.
    Failed(String),
}

impl From<NetError> for NoAnswer {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Dns(DnsError::NoRecordsFound(nr)) => NoAnswer::Empty(nr.response_code),
            NetError::Dns(DnsError::ResponseCode(code)) => NoAnswer::Rcode(code),
            NetError::Timeout => NoAnswer::Timeout,
            other => NoAnswer::Failed(other.to_string()),
        }
    }
}

fn classify(result: Result<Vec<(RData, u32)>, NoAnswer>) -> Query {
    let failed = |outcome, rcode, error: String| Query {
        outcome,
        rcode,
        addresses: Vec::new(),
        ttl: None,
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
                error: None,
            }
        }
        Err(NoAnswer::Empty(ResponseCode::NXDomain)) => failed(
            Outcome::NxDomain,
            ResponseCode::NXDomain,
            "NXDOMAIN: no such name".into(),
        ),
        Err(NoAnswer::Empty(code)) => failed(
            Outcome::NoData,
            code,
            format!("{code}: no records of this type"),
        ),
        Err(NoAnswer::Rcode(code)) => {
            let outcome = match code {
                ResponseCode::ServFail => Outcome::ServFail,
                ResponseCode::Refused => Outcome::Refused,
                ResponseCode::NXDomain => Outcome::NxDomain,
                _ => Outcome::OtherRcode,
            };
            failed(outcome, code, format!("resolver answered {code}"))
        }
        Err(NoAnswer::Timeout) => failed(
            Outcome::Timeout,
            ResponseCode::NoError,
            "no answer before the query timeout".into(),
        ),
        Err(NoAnswer::Failed(e)) => failed(Outcome::Unreachable, ResponseCode::NoError, e),
    }
}

/// The answer records of one question, or why there are none, whichever
/// path asked.
async fn lookup(
    resolver: &Resolver,
    inner: &TokioResolver,
    name: &str,
    rtype: RecordType,
    deadline: Instant,
) -> Result<Vec<(RData, u32)>, NoAnswer> {
    if let Some(server) = resolver.plain {
        // The same per-question budget as hickory's path, so a silent
        // resolver leaves time for the later stages.
        let until = deadline.min(Instant::now() + resolver.query_timeout);
        let mut reply = super::dns_udp::ask(server, name, rtype, until).await;
        if matches!(reply, Reply::Truncated) {
            reply = super::dns_udp::ask_tcp(server, name, rtype, until).await;
        }
        return match reply {
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
            Reply::Failed(e) => Err(NoAnswer::Failed(e)),
            Reply::Truncated => Err(NoAnswer::Failed("reply truncated over TCP".into())),
        };
    }
    inner
        .lookup(name, rtype)
        .await
        .map(|l| {
            l.answers()
                .iter()
                .map(|r| (r.data.clone(), r.ttl))
                .collect()
        })
        .map_err(NoAnswer::from)
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

async fn ask(resolver: &Resolver, host: &str, deadline: Instant) -> ResolverAnswer {
    let start = Instant::now();
    let fail = |outcome, error: String| ResolverAnswer {
        resolver: resolver.name.clone(),
        outcome,
        rcode: String::new(),
        addresses: Vec::new(),
        ttl: None,
        latency_seconds: start.elapsed().as_secs_f64(),
        error: Some(error),
    };
    let inner = match &resolver.inner {
        Ok(r) => r,
        Err(e) => return fail(Outcome::Unreachable, e.clone()),
    };
    let name = format!("{}.", host.trim_end_matches('.'));
    let both = async {
        tokio::join!(
            lookup(resolver, inner, &name, RecordType::A, deadline),
            lookup(resolver, inner, &name, RecordType::AAAA, deadline)
        )
    };
    let Ok((a, aaaa)) = timeout_at(deadline, both).await else {
        return fail(
            Outcome::Timeout,
            "no answer before the round deadline".into(),
        );
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
    ResolverAnswer {
        resolver: resolver.name.clone(),
        outcome: best.outcome.clone(),
        rcode: best.rcode.to_string(),
        addresses,
        ttl,
        latency_seconds: start.elapsed().as_secs_f64(),
        error: if best.outcome == Outcome::Answered {
            None
        } else {
            best.error.clone()
        },
    }
}

async fn ns(resolver: &Resolver, host: &str, deadline: Instant) -> NsAnswer {
    let domain = registered_domain(host);
    let mut out = NsAnswer {
        domain: domain.clone(),
        ..Default::default()
    };
    let Ok(inner) = &resolver.inner else {
        out.error = Some("resolver unusable".into());
        return out;
    };
    let cache = || resolver.ns_cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((until, names)) = cache().get(&domain)
        && Instant::now() < *until
    {
        out.names = names.clone();
        out.cached = true;
        return out;
    }
    let name = format!("{domain}.");
    let asked = lookup(resolver, inner, &name, RecordType::NS, deadline);
    match timeout_at(deadline, asked).await {
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
    let bare = host.trim_matches(|c| c == '[' || c == ']');
    if bare.parse::<IpAddr>().is_ok() {
        report.dns.looked_up = false;
        return Flow::Continue;
    }
    report.dns.looked_up = true;
    let start = Instant::now();
    let answers = futures_util::future::join_all(
        round.resolvers.iter().map(|r| ask(r, host, round.deadline)),
    );
    let ns_lookup = async {
        match round.resolvers.first() {
            Some(r) => Some(ns(r, host, round.deadline).await),
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
    let bare = host.trim_matches(|c| c == '[' || c == ']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ip);
    }
    for r in &round.resolvers {
        let answer = ask(r, host, round.deadline).await;
        if let Some(ip) = answer.addresses.first() {
            return Some(*ip);
        }
    }
    None
}
