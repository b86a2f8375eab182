//! Connect check: TCP, then TLS when the scheme is https, to every resolved
//! address (at most 8 per family), all in parallel.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Serialize;

use super::net::{self, Stream, TcpReport};
use super::proxy::Dest;
use super::tls::TlsReport;
use super::{Flow, Round, RoundReport};
use crate::ground::domain::ip_literal;

/// At most this many addresses per family are probed.
pub const MAX_PER_FAMILY: usize = 8;

/// Connect and TLS results for one address.
#[derive(Debug, Clone, Serialize)]
pub struct AddressReport {
    /// The address, or the host name a proxy resolved.
    pub dest: Dest,
    /// Resolvers whose answer held this address.
    pub resolvers: Vec<String>,
    pub tcp: TcpReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsReport>,
    /// Connected and (for https) the chain is valid for the host.
    pub good: bool,
}

/// Open, verified connections left over from this stage, for HTTP to reuse.
#[derive(Default)]
pub struct Pool {
    pub streams: HashMap<Dest, Stream>,
    /// Good addresses in preference order (first resolver's order).
    pub preferred: Vec<Dest>,
}

/// The addresses to probe: every resolver's answers (or the literal IP),
/// first-seen order, capped per family; through a proxy that resolves
/// names, the host name.
fn addresses(round: &Round<'_>, report: &RoundReport) -> Vec<Dest> {
    let host = round.target.url.host_str().unwrap_or_default();
    if let Some(name) = round.proxied_name(host) {
        return vec![name];
    }
    let all = if report.dns.looked_up {
        report.dns.all_addresses()
    } else {
        ip_literal(host).into_iter().collect()
    };
    let probe = |a: &&IpAddr| !round.skip.contains(a);
    let v4 = all
        .iter()
        .filter(probe)
        .filter(|a| a.is_ipv4())
        .take(MAX_PER_FAMILY);
    let v6 = all
        .iter()
        .filter(probe)
        .filter(|a| a.is_ipv6())
        .take(MAX_PER_FAMILY);
    v4.chain(v6).map(|ip| Dest::Ip(*ip)).collect()
}

/// The connect stage. Continues when at least one address is good.
pub async fn run(round: &Round<'_>, report: &mut RoundReport, pool: &mut Pool) -> Flow {
    let (host, port, tls) = round.endpoint(&round.target.url);
    let ips = addresses(round, report);
    let dials = ips
        .iter()
        .map(|dest| net::dial(dest, port, host, tls, round.proxy, round.deadline));
    let results = futures_util::future::join_all(dials).await;
    // Exact: the board keeps the last report of every address, and a
    // vector grown by pushes holds four ~250-byte entries for one.
    report.addresses.reserve_exact(ips.len());
    let mut chosen = false;
    for (dest, dialed) in ips.into_iter().zip(results) {
        if let (Some(fault), Some(v)) = (&dialed.vantage_fault, report.vantage.as_mut()) {
            v.fault.get_or_insert_with(|| fault.clone());
        }
        let good = dialed.good();
        let resolvers = report
            .dns
            .resolvers
            .iter()
            .filter(|r| dest.ip().is_some_and(|ip| r.addresses.contains(&ip)))
            .map(|r| r.resolver.clone())
            .collect();
        if good && !chosen {
            report.timings.connect = dialed.tcp.seconds;
            report.timings.tls = dialed.tls.as_ref().map_or(0.0, |t| t.seconds);
            chosen = true;
        }
        if good {
            pool.preferred.push(dest.clone());
            if let Some(stream) = dialed.stream {
                pool.streams.insert(dest.clone(), stream);
            }
        }
        report.addresses.push(AddressReport {
            dest,
            resolvers,
            tcp: dialed.tcp,
            tls: dialed.tls,
            good,
        });
    }
    if chosen { Flow::Continue } else { Flow::Stop }
}
