//! The registry stage's facts: per registered domain, what RDAP or WHOIS
//! last said (expiry, EPP statuses, registrar, delegated nameservers),
//! when each last changed, and one query to learn it again. Queries have
//! their own cadence (`scheduler::registry`), one per domain, never per
//! round; a round only reads the last good answer ([`Registry::evidence`]).
//! A registry that is down or slow is a fact about the registry: the last
//! good answer stays, and a domain never answered is "no evidence".

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use super::rdap::{self, Bootstrap};
use crate::ground::domain::registered_domain;

/// What a registry said about a domain; `None`: not said (unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainFacts {
    /// Unix seconds.
    pub expiry: Option<i64>,
    /// RDAP status words, sorted (`client hold`, `client transfer prohibited`).
    pub statuses: Option<Vec<String>>,
    pub registrar: Option<String>,
    /// Delegated nameservers, lower case, sorted.
    pub nameservers: Option<Vec<String>>,
}

/// Statuses that take a domain out of the DNS or out of its owner's hands
/// (RFC 8056 names): `domain_hold`.
pub const HOLD_STATUSES: [&str; 4] = [
    "client hold",
    "server hold",
    "pending delete",
    "redemption period",
];

impl DomainFacts {
    /// The hold statuses present; `None` when the statuses are unknown.
    pub fn holds(&self) -> Option<Vec<&str>> {
        self.statuses.as_ref().map(|s| {
            s.iter()
                .map(String::as_str)
                .filter(|x| HOLD_STATUSES.contains(x))
                .collect()
        })
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "protocol", content = "server")]
pub enum Source {
    Rdap(String),
    Whois(String),
}

impl Source {
    pub fn server(&self) -> &str {
        match self {
            Source::Rdap(s) | Source::Whois(s) => s,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Rdap(s) => write!(f, "RDAP {s}"),
            Source::Whois(s) => write!(f, "WHOIS {s}"),
        }
    }
}

/// Everything kept per registered domain (also what the store keeps).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub domain: String,
    /// The last good answer.
    pub facts: Option<DomainFacts>,
    pub source: Option<Source>,
    /// Unix seconds of the last good answer.
    pub fetched_at: Option<i64>,
    /// The last query's failure, until a query succeeds.
    pub error: Option<String>,
    /// What last changed (`registrar`, `nameservers`, `statuses`,
    /// `expiry`) and when (Unix seconds).
    pub changed: BTreeMap<String, i64>,
    /// When to ask again (Unix seconds).
    pub next_due: i64,
    /// Failed queries in a row (the backoff).
    pub failures: u32,
}

/// What a round sees of its domain's registry record: the record itself
/// (a domain never asked yet has one with no facts).
pub type Evidence = Record;

/// Every domain's record, shared by the watcher (writes) and rounds (read).
#[derive(Default)]
pub struct Registry {
    records: RwLock<HashMap<String, Record>>,
    /// The registry stage is configured (`[registry]`).
    enabled: std::sync::atomic::AtomicBool,
}

impl Registry {
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The evidence for a round of `host`: `None` when the registry stage
    /// is off or the host is an address (nothing to judge).
    pub fn evidence(&self, host: &str) -> Option<Evidence> {
        if !self.enabled() || crate::ground::domain::ip_literal(host).is_some() {
            return None;
        }
        let domain = registered_domain(host);
        let records = self.records.read().unwrap_or_else(|p| p.into_inner());
        Some(records.get(&domain).cloned().unwrap_or(Record {
            domain,
            ..Record::default()
        }))
    }

    pub fn get(&self, domain: &str) -> Option<Record> {
        self.records
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(domain)
            .cloned()
    }

    pub fn put(&self, record: Record) {
        self.records
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.domain.clone(), record);
    }

    pub fn all(&self) -> Vec<Record> {
        let mut v: Vec<Record> = self
            .records
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.domain.cmp(&b.domain));
        v
    }
}

/// Where to ask: the bootstrap's RDAP servers, configured RDAP and WHOIS
/// servers by TLD (configured ones win).
#[derive(Debug, Clone, Default)]
pub struct Servers {
    pub bootstrap: Bootstrap,
    pub rdap: BTreeMap<String, Url>,
    pub whois: BTreeMap<String, String>,
}

/// Why a query gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// HTTP 429: ask again no sooner than `retry_after`.
    RateLimited {
        server: String,
        retry_after: Option<Duration>,
    },
    /// Anything else: unreachable, slow, too large, not an answer.
    Failed { server: String, message: String },
}

impl QueryError {
    pub fn server(&self) -> &str {
        match self {
            QueryError::RateLimited { server, .. } | QueryError::Failed { server, .. } => server,
        }
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::RateLimited { server, .. } => {
                write!(f, "{server} answered 429 (rate limited)")
            }
            QueryError::Failed { server, message } => write!(f, "{server}: {message}"),
        }
    }
}

/// The HTTP client for RDAP and the bootstrap file: the daemon's trust
/// (webpki roots plus `ca_file`), at most 3 redirects (RDAP servers
/// redirect to the registry that holds the domain).
pub fn client(
    user_agent: &str,
    ca_file: Option<&std::path::Path>,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let tls = super::tls::TlsSetup::new(ca_file)
        .map_err(|e| e.to_string())?
        .verifying(&[b"h2", b"http/1.1"])?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::limited(3))
        .connect_timeout(timeout)
        .build()
        .map_err(|e| crate::ground::text::error_chain(&e))
}

/// The largest RDAP answer read.
pub const MAX_RDAP: usize = 1 << 20;
/// The largest WHOIS answer read.
pub const MAX_WHOIS: usize = 256 * 1024;
/// The largest bootstrap file read.
pub const MAX_BOOTSTRAP: usize = 4 << 20;

/// Asks the registry of `domain` once: RDAP where a server is known, else
/// WHOIS where one is configured.
pub async fn query(
    client: &reqwest::Client,
    servers: &Servers,
    domain: &str,
    timeout: Duration,
) -> Result<(DomainFacts, Source), QueryError> {
    let keys = rdap::suffixes(domain);
    let rdap_base = keys
        .iter()
        .find_map(|k| servers.rdap.get(k))
        .or_else(|| servers.bootstrap.server_for(domain));
    if let Some(base) = rdap_base {
        let server = base.host_str().unwrap_or_default().to_string();
        let url = rdap::query_url(base, domain).ok_or_else(|| QueryError::Failed {
            server: server.clone(),
            message: "cannot build the query URL".into(),
        })?;
        let body = fetch(client, &url, MAX_RDAP, timeout, &server).await?;
        return rdap::parse_domain(&body)
            .map(|f| (f, Source::Rdap(server.clone())))
            .map_err(|message| QueryError::Failed { server, message });
    }
    if let Some(addr) = keys.iter().find_map(|k| servers.whois.get(k)) {
        let text = whois(addr, domain, timeout).await?;
        return super::whois::parse(&text)
            .map(|f| (f, Source::Whois(addr.clone())))
            .map_err(|message| QueryError::Failed {
                server: addr.clone(),
                message,
            });
    }
    Err(QueryError::Failed {
        server: "none".into(),
        message: format!("no RDAP or WHOIS server known for {domain}"),
    })
}

/// GET `url`, the body read up to `cap`; 429 and non-2xx are errors.
pub async fn fetch(
    client: &reqwest::Client,
    url: &Url,
    cap: usize,
    timeout: Duration,
    server: &str,
) -> Result<Vec<u8>, QueryError> {
    let failed = |message: String| QueryError::Failed {
        server: server.to_string(),
        message,
    };
    let work = async {
        let mut resp = client
            .get(url.clone())
            .header("Accept", "application/rdap+json, application/json")
            .send()
            .await
            .map_err(|e| failed(crate::ground::text::error_chain(&e)))?;
        let status = resp.status().as_u16();
        if status == 429 {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after);
            return Err(QueryError::RateLimited {
                server: server.to_string(),
                retry_after,
            });
        }
        if !(200..300).contains(&status) {
            return Err(failed(format!("answered HTTP {status} for {url}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| failed(crate::ground::text::error_chain(&e)))?
        {
            if body.len().saturating_add(chunk.len()) > cap {
                return Err(failed(format!("answer larger than {cap} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    within(server, timeout, work).await
}

/// The RDAP bootstrap file at `url`, parsed, with its bytes (to store).
pub async fn fetch_bootstrap(
    client: &reqwest::Client,
    url: &Url,
    timeout: Duration,
) -> Result<(Bootstrap, Vec<u8>), QueryError> {
    let server = url.host_str().unwrap_or_default().to_string();
    let body = fetch(client, url, MAX_BOOTSTRAP, timeout, &server).await?;
    Bootstrap::parse(&body)
        .map(|b| (b, body))
        .map_err(|message| QueryError::Failed { server, message })
}

/// `Retry-After`: seconds, or an HTTP date (capped at a day).
fn retry_after(v: &str) -> Option<Duration> {
    let cap = Duration::from_secs(86400);
    if let Ok(s) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(s).min(cap));
    }
    let at = httpdate::parse_http_date(v.trim()).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .min(cap),
    )
}

/// One WHOIS question to `addr` (`host:port`), the answer up to
/// [`MAX_WHOIS`] bytes.
async fn whois(addr: &str, domain: &str, timeout: Duration) -> Result<String, QueryError> {
    let failed = |message: String| QueryError::Failed {
        server: addr.to_string(),
        message,
    };
    let work = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| failed(format!("connect: {e}")))?;
        s.write_all(format!("{domain}\r\n").as_bytes())
            .await
            .map_err(|e| failed(format!("send: {e}")))?;
        let mut buf = Vec::new();
        let mut limited = (&mut s).take(MAX_WHOIS as u64 + 1);
        limited
            .read_to_end(&mut buf)
            .await
            .map_err(|e| failed(format!("read: {e}")))?;
        if buf.len() > MAX_WHOIS {
            return Err(failed(format!("answer larger than {MAX_WHOIS} bytes")));
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    within(addr, timeout, work).await
}

/// `work`, or "no answer within …" from `server` once `timeout` passes.
async fn within<T>(
    server: &str,
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, QueryError>>,
) -> Result<T, QueryError> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(QueryError::Failed {
                server: server.to_string(),
                message: format!("no answer within {}", humantime::format_duration(timeout)),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_are_known_only_when_statuses_are() {
        let mut f = DomainFacts::default();
        assert_eq!(f.holds(), None);
        f.statuses = Some(vec!["active".into(), "client transfer prohibited".into()]);
        assert_eq!(f.holds(), Some(vec![]));
        f.statuses = Some(vec!["pending delete".into(), "server hold".into()]);
        assert_eq!(f.holds(), Some(vec!["pending delete", "server hold"]));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("99999999999"), Some(Duration::from_secs(86400)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn evidence_is_off_for_addresses_and_when_disabled() {
        let r = Registry::default();
        assert!(r.evidence("www.news.test").is_none());
        r.set_enabled(true);
        assert!(r.evidence("127.0.0.1").is_none());
        assert!(r.evidence("[::1]").is_none());
        let e = r.evidence("www.news.test").expect("evidence");
        assert_eq!(e.domain, "news.test");
        assert!(e.facts.is_none(), "never answered: no facts");
    }
}
