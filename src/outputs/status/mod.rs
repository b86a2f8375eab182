//! `GET /api/v1/status` (SPEC section 5), version 1: view types of their own,
//! built from the internal reports, so renaming a field inside the checks
//! never changes what people script against. `docs/status-v1.schema.json`
//! is generated from these types (schemars) and checked in; a test keeps
//! the file and the types in step and validates a live daemon against it.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::Serialize;

mod build;
pub use build::build;

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
    /// The alternate addresses the main page announces (comparable form:
    /// no `www.`), each with whether it is watched; null when the page
    /// announces none or announcements are off.
    pub announced: Option<Vec<AnnouncedView>>,
    pub targets: Vec<TargetView>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnouncedView {
    pub host: String,
    pub watched: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteProblemView {
    pub kind: String,
    /// `warning` (`blocked_somewhere`) or `info` (the announcement
    /// notices `mirror_unwatched`, `mirror_withdrawn`: no address's state
    /// changes).
    pub severity: String,
    /// Which address is down from which vantages, and reachable from which.
    pub detail: String,
}

/// The registry's last answer for a registered domain. A field the
/// registry did not give (or no answer yet) is `null`: unknown, never
/// assumed.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryView {
    pub domain: String,
    /// `rdap` or `whois`, and the server; null before the first answer.
    pub protocol: Option<String>,
    pub server: Option<String>,
    /// RFC 3339: when the last good answer came.
    pub fetched_at: Option<String>,
    /// RFC 3339.
    pub expiry: Option<String>,
    /// EPP statuses in RDAP's words (`client hold`).
    pub statuses: Option<Vec<String>>,
    pub registrar: Option<String>,
    pub nameservers: Option<Vec<String>>,
    /// What last changed (`registrar`, `nameservers`, `statuses`,
    /// `expiry`) and when (RFC 3339).
    pub changed: std::collections::BTreeMap<String, String>,
    /// Why the last query gave no answer (the last good answer stays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
    /// A mirror added at run time from the site's announcements
    /// (`discover = "watch"`); absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub discovered: bool,
    /// Set for a vantage that probes through a proxy, after its first round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyView>,
    /// What the registry last said about the address's registered domain
    /// (with `[registry]`, after the first round).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryView>,
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
