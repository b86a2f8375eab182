//! What the DNS stage found: per resolver, its transport, outcome,
//! addresses, bogons and why it failed; the NS answer; the whole report.

use std::net::IpAddr;

use serde::Serialize;

use super::dns_enc::Reason;

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

/// How a resolver is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Plain DNS over UDP (TCP when the reply does not fit).
    Udp,
    /// The host's resolver configuration (plain DNS).
    System,
    /// DNS over TLS.
    Tls,
    /// DNS over HTTPS.
    Https,
}

impl Transport {
    /// Whether an on-path party can neither read nor forge the answers.
    pub fn encrypted(self) -> bool {
        matches!(self, Transport::Tls | Transport::Https)
    }

    /// How details name the resolver's side: `plain`, `DoT` or `DoH`.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Udp | Transport::System => "plain",
            Transport::Tls => "DoT",
            Transport::Https => "DoH",
        }
    }
}

/// An address in a special-purpose range, answered for a public name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bogon {
    pub ip: IpAddr,
    /// The range it is in: `private`, `loopback`, `CGNAT`, ...
    pub range: &'static str,
}

/// One resolver's answer.
#[derive(Debug, Clone, Serialize)]
pub struct ResolverAnswer {
    pub resolver: String,
    pub transport: Transport,
    pub outcome: Outcome,
    pub rcode: String,
    pub addresses: Vec<IpAddr>,
    /// Smallest TTL among the answers, seconds.
    pub ttl: Option<u32>,
    pub latency_seconds: f64,
    /// Why there was no answer (with `error`, the one-line detail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Addresses in special-purpose ranges, when the name is public
    /// (`ground::bogon`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bogons: Vec<Bogon>,
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
