//! Checks: DNS, connect (TCP + TLS on every address) and HTTP.
//!
//! Every check has the same shape, `async fn run(&Round, &mut RoundReport) ->
//! Flow`: it reads what earlier stages wrote into the report, adds its own
//! section, and says whether the stages that depend on it may run. A new check
//! is one new file plus one line in [`run_round`]. Checks only gather facts:
//! they never decide problems (that is `verdict`) and never touch metrics or
//! the status board (that is `outputs`).

pub mod connect;
pub mod dns;
pub mod dns_enc;
pub mod dns_report;
pub mod dns_udp;
pub mod http;
pub mod net;
pub mod proxy;
pub mod rdap;
pub mod registry;
pub mod tls;
pub mod tls_valid;
pub mod whois;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use crate::config::{Config, ResolverSpec, Target};

/// Whether later stages may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Everything one round learned about one address.
#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    #[serde(with = "crate::ground::time::rfc3339")]
    pub started: SystemTime,
    pub duration_seconds: f64,
    pub dns: dns::DnsReport,
    /// One entry per resolved address probed (connect and TLS).
    pub addresses: Vec<connect::AddressReport>,
    /// One entry per configured path, in order.
    pub http: Vec<http::HttpReport>,
    /// Phase timings of the HTTP fetch of the first path, in seconds.
    pub timings: Timings,
    /// Set when the round hit its deadline before finishing.
    pub deadline_hit: bool,
    /// The round was cut off by the scheduler's backstop: nothing in it is
    /// trustworthy beyond "it did not finish".
    pub aborted: bool,
    /// Set when the round went through a vantage's proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vantage: Option<VantageReport>,
    /// The registry's last answer for the address's registered domain;
    /// `None` when the registry stage is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<registry::Evidence>,
}

/// What a round through a proxy learned about the vantage itself.
#[derive(Debug, Clone, Serialize)]
pub struct VantageReport {
    pub name: String,
    /// The proxy, without its password.
    pub proxy: String,
    /// The proxy resolves names (`socks5h`, HTTP CONNECT): this machine's
    /// resolvers are not what the vantage sees, and there is one
    /// connection per round, to the name.
    pub dns_hidden: bool,
    /// The proxy itself failed (unreachable, credentials refused, not
    /// speaking its protocol): the round says nothing about the site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

impl RoundReport {
    /// A report with nothing in it yet.
    pub fn empty(started: SystemTime) -> Self {
        Self {
            started,
            duration_seconds: 0.0,
            dns: dns::DnsReport::default(),
            addresses: Vec::new(),
            http: Vec::new(),
            timings: Timings::default(),
            deadline_hit: false,
            aborted: false,
            vantage: None,
            registry: None,
        }
    }

    /// A round that had to be abandoned after `took`.
    pub fn aborted(started: SystemTime, took: Duration) -> Self {
        Self {
            duration_seconds: took.as_secs_f64(),
            deadline_hit: true,
            aborted: true,
            ..Self::empty(started)
        }
    }
}

/// Phase timings (seconds) of one fetch, as the spec's `phase` label.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub dns: f64,
    pub connect: f64,
    pub tls: f64,
    pub ttfb: f64,
    pub transfer: f64,
}

impl Timings {
    pub fn phases(&self) -> [(&'static str, f64); 5] {
        [
            ("dns", self.dns),
            ("connect", self.connect),
            ("tls", self.tls),
            ("ttfb", self.ttfb),
            ("transfer", self.transfer),
        ]
    }
}

/// What one round needs besides the target: resolvers and TLS setups built
/// once per config load and shared by every target.
pub struct Probes {
    /// By spec and `ca_file`: an encrypted resolver trusts what its site trusts.
    resolvers: HashMap<(ResolverSpec, Option<std::path::PathBuf>), Arc<dns::Resolver>>,
    tls: HashMap<Option<std::path::PathBuf>, Arc<tls::TlsSetup>>,
    /// Known blockpage addresses: never connected to.
    skip: Vec<IpAddr>,
}

impl Probes {
    /// Builds a resolver per distinct resolver spec and a TLS setup per
    /// distinct `ca_file` in the config; `skip` lists addresses never to
    /// connect to (known blockpage servers).
    pub fn new(config: &Config, skip: Vec<IpAddr>) -> Result<Self, tls::TlsSetupError> {
        let mut resolvers = HashMap::new();
        let mut tls = HashMap::new();
        for site in &config.sites {
            let s = &site.settings;
            if !tls.contains_key(&s.ca_file) {
                tls.insert(
                    s.ca_file.clone(),
                    Arc::new(tls::TlsSetup::new(s.ca_file.as_deref())?),
                );
            }
            let trust = tls.get(&s.ca_file).cloned();
            for spec in &s.resolvers {
                let key = (spec.clone(), s.ca_file.clone());
                if let (false, Some(trust)) = (resolvers.contains_key(&key), &trust) {
                    let query_timeout = dns::query_timeout(s.timeout);
                    let resolver = dns::Resolver::new(spec, query_timeout, trust, &s.user_agent);
                    resolvers.insert(key, Arc::new(resolver));
                }
            }
        }
        Ok(Self {
            resolvers,
            tls,
            skip,
        })
    }

    fn resolvers_for(&self, target: &Target) -> Vec<Arc<dns::Resolver>> {
        target
            .settings
            .resolvers
            .iter()
            .filter_map(|r| {
                self.resolvers
                    .get(&(r.clone(), target.settings.ca_file.clone()))
                    .cloned()
            })
            .collect()
    }
}

/// One round in progress: the target, its deadline and shared probes.
pub struct Round<'a> {
    pub target: &'a Target,
    pub deadline: Instant,
    pub resolvers: Vec<Arc<dns::Resolver>>,
    pub tls: Option<Arc<tls::TlsSetup>>,
    /// Addresses the connect stage leaves alone.
    pub skip: &'a [IpAddr],
    /// The vantage's proxy, when the round goes through one.
    pub proxy: Option<&'a crate::config::Proxy>,
}

impl Round<'_> {
    /// Host, port and TLS setup (for https) to dial for `url`.
    pub fn endpoint<'u>(&self, url: &'u url::Url) -> (&'u str, u16, Option<&tls::TlsSetup>) {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        let tls = if url.scheme() == "https" {
            self.tls.as_deref()
        } else {
            None
        };
        (host, port, tls)
    }

    /// The proxy resolves names: connections go to the host name.
    pub fn proxy_resolves(&self) -> bool {
        self.proxy.is_some_and(|p| p.kind.resolves_names())
    }

    /// Where a connection to `host` goes when the proxy resolves names
    /// and `host` is one (not an address literal); `None` otherwise.
    pub fn proxied_name(&self, host: &str) -> Option<proxy::Dest> {
        (self.proxy_resolves() && crate::ground::domain::ip_literal(host).is_none())
            .then(|| proxy::Dest::Name(host.to_string()))
    }

    /// Time left before the round's deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Runs every stage for `target`, in order, stopping where a stage says so.
/// Never takes longer than the target's `timeout` (each stage waits at most
/// until the shared deadline).
pub async fn run_round(probes: &Probes, target: &Target) -> RoundReport {
    let started = SystemTime::now();
    let begin = Instant::now();
    let round = Round {
        target,
        deadline: begin + target.settings.timeout,
        resolvers: probes.resolvers_for(target),
        tls: probes.tls.get(&target.settings.ca_file).cloned(),
        skip: &probes.skip,
        proxy: target.proxy.as_ref(),
    };
    let mut report = RoundReport::empty(started);
    report.vantage = target.proxy.as_ref().map(|p| VantageReport {
        name: target.vantage.clone(),
        proxy: p.to_string(),
        dns_hidden: p.kind.resolves_names(),
        fault: None,
    });
    let mut conns = connect::Pool::default();
    if dns::run(&round, &mut report).await == Flow::Continue
        && connect::run(&round, &mut report, &mut conns).await == Flow::Continue
    {
        http::run(&round, &mut report, conns).await;
    }
    report.deadline_hit = Instant::now() >= round.deadline;
    report.duration_seconds = begin.elapsed().as_secs_f64();
    report
}
