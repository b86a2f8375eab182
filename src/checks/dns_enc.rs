//! Encrypted resolvers: DNS over TLS (RFC 7858) and DNS over HTTPS
//! (RFC 8484), with the daemon's own trust (the webpki roots plus
//! `ca_file`, [`TlsSetup::verifying`]) and a reason for every failure.
//!
//! DoT is one TLS connection per question (ALPN `dot`), the wire format of
//! `dns_udp`. DoH is a POST of the same wire format through reqwest, which
//! speaks HTTP/2 or HTTP/1.1, whichever the server chooses in ALPN.
//!
//! A DoH server named by host (`https://dns.example/dns-query`) is resolved
//! once through the plain resolvers of the same list, in their order, and
//! the first one that answers is pinned. The pin is dropped when the
//! server cannot be reached or its certificate is refused, so the next
//! round resolves again. Plain resolvers that disagree about the DoH host
//! cannot make it answer for a site: the certificate must be valid for the
//! host, so a poisoned pin shows as that resolver's failure
//! ("certificate not trusted for ...") and never as an address.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use rustls::pki_types::ServerName;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use url::Url;

use super::dns_udp::{self, Reply};
use super::tls::TlsSetup;

/// The largest DoH reply read (a DNS message cannot be longer).
pub const MAX_DOH_REPLY: usize = 65_535;

/// Why a resolver gave no answer: a short, bounded code for the status
/// JSON, next to the one-line detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No reply before the deadline (the detail names the stage).
    Timeout,
    /// The socket or TCP connection failed.
    Connect,
    /// The server's certificate was refused (untrusted, expired, wrong name).
    TlsCertificate,
    /// The TLS handshake failed for another reason.
    TlsHandshake,
    /// A DoH server answered with a status other than 200.
    HttpStatus,
    /// A DoH reply that was not `application/dns-message`.
    ContentType,
    /// A reply that was not a DNS answer to the question.
    BadReply,
    /// The DoH server's host could not be resolved through the plain
    /// resolvers.
    HostUnresolved,
}

/// A failed exchange: the reason and what happened, in one line.
#[derive(Debug, Clone)]
pub struct Fault {
    pub reason: Reason,
    pub detail: String,
}

fn fault(reason: Reason, detail: impl Into<String>) -> Fault {
    Fault {
        reason,
        detail: detail.into(),
    }
}

/// Describes a TLS failure, naming the server when its certificate was
/// the problem.
fn tls_fault(err: &rustls::Error, name: &str, peer: &str) -> Fault {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(c) => {
            let why = match c {
                C::UnknownIssuer | C::BadSignature => {
                    format!("certificate not trusted for {name} (unknown issuer)")
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    format!("certificate not valid for {name}")
                }
                C::Expired | C::ExpiredContext { .. } => format!("certificate for {name} expired"),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    format!("certificate for {name} not valid yet")
                }
                other => format!("certificate for {name} refused: {other:?}"),
            };
            fault(Reason::TlsCertificate, format!("{why} at {peer}"))
        }
        other => fault(
            Reason::TlsHandshake,
            format!("TLS handshake with {peer} failed: {other}"),
        ),
    }
}

/// The rustls error somewhere in `err`'s source chain, if any. An
/// `io::Error` hides the error it wraps from `source()` (and hyper wraps
/// io errors in io errors), so those are unwrapped through `get_ref`.
fn find_rustls<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    // Bounded: a chain is short, but nothing outside promises it.
    for _ in 0..16 {
        let e = cur?;
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        cur = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// A DNS-over-TLS server.
pub struct Dot {
    addr: SocketAddr,
    name: String,
    server_name: ServerName<'static>,
    connector: TlsConnector,
}

impl Dot {
    pub fn new(addr: SocketAddr, name: &str, tls: &TlsSetup) -> Result<Self, String> {
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|e| format!("DoT server name `{name}`: {e}"))?;
        let config = tls.verifying(&[b"dot"])?;
        Ok(Self {
            addr,
            name: name.to_string(),
            server_name,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Asks one question on a fresh connection.
    pub async fn ask(
        &self,
        qname: &str,
        rtype: RecordType,
        deadline: Instant,
    ) -> Result<Reply, Fault> {
        let peer = self.addr;
        let stalled = |stage: &str| fault(Reason::Timeout, format!("{stage} {peer} timed out"));
        let tcp = timeout_at(deadline, TcpStream::connect(peer))
            .await
            .map_err(|_| stalled("TCP connect to"))?
            .map_err(|e| fault(Reason::Connect, format!("TCP to {peer}: {e}")))?;
        let mut tls = timeout_at(
            deadline,
            self.connector.connect(self.server_name.clone(), tcp),
        )
        .await
        .map_err(|_| stalled("TLS handshake with"))?
        .map_err(|e| match find_rustls(&e) {
            Some(r) => tls_fault(r, &self.name, &peer.to_string()),
            None => fault(
                Reason::TlsHandshake,
                format!("TLS handshake with {peer}: {e}"),
            ),
        })?;
        let reply = timeout_at(deadline, dns_udp::exchange_stream(&mut tls, qname, rtype))
            .await
            .map_err(|_| stalled("reply from"))?
            .map_err(|e| fault(Reason::BadReply, format!("{peer}: {e}")))?;
        match reply {
            Reply::Truncated => Err(fault(
                Reason::BadReply,
                format!("{peer} truncated its reply"),
            )),
            other => Ok(other),
        }
    }
}

/// A DNS-over-HTTPS server.
pub struct Doh {
    url: Url,
    /// The host to pin when the URL names one (`None` for an IP literal).
    host: Option<String>,
    port: u16,
    tls: rustls::ClientConfig,
    user_agent: String,
    /// The client, once it can be built (at once for an IP literal, after
    /// the pin for a host).
    client: Mutex<Option<reqwest::Client>>,
}

impl Doh {
    pub fn new(url: &Url, tls: &TlsSetup, user_agent: &str) -> Result<Self, String> {
        let config = tls.verifying(&[b"h2", b"http/1.1"])?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) => Some(d.to_ascii_lowercase()),
            Some(_) => None,
            None => return Err(format!("`{url}` has no host")),
        };
        let doh = Self {
            url: url.clone(),
            port: url.port_or_known_default().unwrap_or(443),
            host,
            tls: config,
            user_agent: user_agent.to_string(),
            client: Mutex::new(None),
        };
        if doh.host.is_none() {
            let client = doh.build(&[])?;
            *doh.slot() = Some(client);
        }
        Ok(doh)
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<reqwest::Client>> {
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn build(&self, pinned: &[IpAddr]) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured(self.tls.clone())
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1)
            .user_agent(self.user_agent.clone());
        if let Some(host) = &self.host {
            let addrs: Vec<SocketAddr> = pinned
                .iter()
                .map(|ip| SocketAddr::new(*ip, self.port))
                .collect();
            b = b.resolve_to_addrs(host, &addrs);
        }
        b.build()
            .map_err(|e| format!("building the DoH client: {e}"))
    }

    /// The host to resolve before the first question, while none is pinned.
    pub fn needs_pin(&self) -> Option<&str> {
        match &self.host {
            Some(h) if self.slot().is_none() => Some(h),
            _ => None,
        }
    }

    /// Pins the DoH host to `addrs` (from a plain resolver).
    pub fn pin(&self, addrs: &[IpAddr]) -> Result<(), Fault> {
        let client = self.build(addrs).map_err(|e| fault(Reason::Connect, e))?;
        *self.slot() = Some(client);
        Ok(())
    }

    /// Asks one question.
    pub async fn ask(
        &self,
        qname: &str,
        rtype: RecordType,
        deadline: Instant,
    ) -> Result<Reply, Fault> {
        let Some(client) = self.slot().clone() else {
            return Err(fault(Reason::HostUnresolved, "DoH host not resolved yet"));
        };
        let result = self.exchange(&client, qname, rtype, deadline).await;
        if let Err(f) = &result
            && self.host.is_some()
            && matches!(
                f.reason,
                Reason::Connect | Reason::TlsCertificate | Reason::TlsHandshake
            )
        {
            // Resolve the host again next time: the pinned address may be
            // the problem.
            *self.slot() = None;
        }
        result
    }

    async fn exchange(
        &self,
        client: &reqwest::Client,
        qname: &str,
        rtype: RecordType,
        deadline: Instant,
    ) -> Result<Reply, Fault> {
        let server = self.url.as_str();
        let (name, wire) =
            dns_udp::query_with_id(qname, rtype, 0).map_err(|e| fault(Reason::BadReply, e))?;
        let request = client
            .post(self.url.clone())
            .header("content-type", "application/dns-message")
            .header("accept", "application/dns-message")
            .body(wire)
            .send();
        let mut response = timeout_at(deadline, request)
            .await
            .map_err(|_| {
                fault(
                    Reason::Timeout,
                    format!("{server} did not answer before the deadline"),
                )
            })?
            .map_err(|e| self.request_fault(&e))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(fault(
                Reason::HttpStatus,
                format!("DoH answered HTTP {} at {server}", status.as_u16()),
            ));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/dns-message") {
            let got = if content_type.is_empty() {
                "no content type".to_string()
            } else {
                crate::ground::text::clip(&content_type, 80)
            };
            return Err(fault(
                Reason::ContentType,
                format!("reply was not application/dns-message ({got}) at {server}"),
            ));
        }
        let mut body = Vec::new();
        loop {
            let chunk = timeout_at(deadline, response.chunk())
                .await
                .map_err(|_| {
                    fault(
                        Reason::Timeout,
                        format!("{server} stalled sending its reply"),
                    )
                })?
                .map_err(|e| {
                    fault(
                        Reason::BadReply,
                        format!("reading the reply from {server}: {e}"),
                    )
                })?;
            let Some(chunk) = chunk else { break };
            if body.len().saturating_add(chunk.len()) > MAX_DOH_REPLY {
                return Err(fault(
                    Reason::BadReply,
                    format!("reply from {server} exceeds 64 KiB"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        match dns_udp::parse(&body, 0, &name, rtype) {
            Some(Reply::Truncated) => Err(fault(
                Reason::BadReply,
                format!("{server} truncated its reply"),
            )),
            Some(reply) => Ok(reply),
            None => Err(fault(
                Reason::BadReply,
                format!("reply from {server} was not an answer to the question"),
            )),
        }
    }

    fn request_fault(&self, e: &reqwest::Error) -> Fault {
        let server = self.url.as_str();
        let name = self.url.host_str().unwrap_or_default();
        if let Some(r) = find_rustls(e) {
            return tls_fault(r, name, server);
        }
        if e.is_timeout() {
            return fault(Reason::Timeout, format!("{server} timed out"));
        }
        let text = crate::ground::text::error_chain(e);
        let reason = if e.is_connect() {
            Reason::Connect
        } else {
            Reason::BadReply
        };
        fault(reason, crate::ground::text::clip(&text, 240))
    }
}
