//! A hostile world for the fault suite (`tests/faults.rs`): servers that
//! misbehave in the ways real ones do, each on its own `.test` name, on
//! loopback only.
//!
//! - HTTPS hosts (one TLS listener, certificates from a private CA by SNI)
//!   whose bytes after the handshake are scripted: never answering,
//!   dripping, decompression bombs, endless chunked bodies, redirect loops
//!   and other schemes, malformed and huge heads, resets mid-body, links in
//!   other scripts. One host speaks garbage instead of TLS.
//! - A DNS server whose answer depends on the name asked: silent,
//!   SERVFAIL, REFUSED, truncated (with or without TCP), CNAME loops,
//!   answers for another name, oversized replies, wrong IDs, replies from
//!   the wrong port, the first datagram of each query lost (`fault_dns`).
//!   An honest authoritative server answers every name.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::dns::{self, DnsServer, Zone};
pub use super::fault_dns::{DnsFault, dns_hosts};
use super::fault_dns::{serve_dns_tcp, serve_dns_udp};
use super::pki::{Ca, CertKind};

pub(super) const LIVE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// A UDP socket and a TCP listener on one free port of [`LIVE`]. The port
/// UDP got may be taken for TCP (an open connection's local port): then
/// another.
async fn port_pair() -> anyhow::Result<(UdpSocket, TcpListener)> {
    for _ in 0..20 {
        let udp = UdpSocket::bind((LIVE, 0)).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("no free port for UDP and TCP both")
}

/// Where the garbage-instead-of-TLS host lives (same port as LIVE).
const GARBAGE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 6);

/// What an HTTPS host does after the TLS handshake.
#[derive(Debug, Clone)]
pub enum HttpFault {
    /// A normal 200 with this page.
    Page(String),
    /// Reads the request, never answers.
    Silent,
    /// Sends the head, then one body byte every 300 ms, forever.
    Drip,
    /// `Content-Encoding: gzip` of 64 MiB of zeros (about 64 KiB on the wire).
    GzipBomb,
    /// `Transfer-Encoding: chunked`, 8 KiB chunks without end.
    EndlessChunked,
    /// `302` to itself.
    RedirectLoop,
    /// `301` to this `Location`, verbatim.
    Redirect(String),
    /// A status line that is not HTTP.
    MalformedHead,
    /// 200 KiB of header lines.
    HugeHeaders,
    /// Promises 100,000 bytes, sends 1,000, then resets the connection.
    ResetMidBody,
}

/// A running fault world; stops when dropped.
pub struct FaultWorld {
    /// The honest authoritative resolver for every name here.
    pub dns: SocketAddr,
    /// The lying resolver, UDP and TCP.
    pub fault_dns: SocketAddr,
    /// The same, UDP only (TCP refused).
    pub fault_dns_udp_only: SocketAddr,
    /// The HTTPS port (every host).
    pub port: u16,
    /// The CA, PEM, followed by [`SELF_CA_HOST`]'s own certificate (the
    /// operator who pasted an `openssl req -x509` certificate as `ca_file`).
    pub ca_pem: String,
    _dns: DnsServer,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FaultWorld {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The HTTPS fault hosts and what each does.
pub fn http_hosts() -> Vec<(&'static str, HttpFault)> {
    let page = |title: &str, links: &[&str]| {
        let items: String = links
            .iter()
            .map(|l| format!("<li><a href=\"{l}\">Story {l}</a></li>"))
            .collect();
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><ul>{items}</ul><p>Daily news and analysis from our desk.</p></body></html>"
        )
    };
    let links = [
        "/news/café-owner-arrested",
        "/fa/خبر/2026/11/27/رئیس",
        "/zh/新闻/2026/11/27/报道",
        "/x/é",
        "/Detail/2026/11/27/700001/ok",
        "/2026-11-2é-odd",
    ];
    vec![
        (
            "www.healthy.fault.test",
            HttpFault::Page(page("Fault News", &links)),
        ),
        (
            "www.nonascii.fault.test",
            HttpFault::Page(page("Fault News", &links)),
        ),
        ("www.silent.fault.test", HttpFault::Silent),
        ("www.drip.fault.test", HttpFault::Drip),
        ("www.bomb.fault.test", HttpFault::GzipBomb),
        ("www.chunked.fault.test", HttpFault::EndlessChunked),
        ("www.loop.fault.test", HttpFault::RedirectLoop),
        (
            "www.ftp.fault.test",
            HttpFault::Redirect("ftp://www.ftp.fault.test/pub/".into()),
        ),
        (
            "www.gopher.fault.test",
            HttpFault::Redirect("gopher://www.gopher.fault.test:70/1".into()),
        ),
        (
            "www.wss.fault.test",
            HttpFault::Redirect("wss://www.wss.fault.test:8443/feed".into()),
        ),
        (
            "www.file.fault.test",
            HttpFault::Redirect("file:///etc/passwd".into()),
        ),
        (
            "www.js.fault.test",
            HttpFault::Redirect("javascript:alert(1)".into()),
        ),
        ("www.malformed.fault.test", HttpFault::MalformedHead),
        ("www.hugehead.fault.test", HttpFault::HugeHeaders),
        ("www.reset.fault.test", HttpFault::ResetMidBody),
    ]
}

/// The host that serves a self-signed CA certificate as its own.
pub const SELF_CA_HOST: &str = "www.selfca.fault.test";

/// The host whose port speaks garbage instead of TLS.
pub const GARBAGE_HOST: &str = "www.garbage.fault.test";

#[derive(Debug)]
struct BySni(HashMap<String, Arc<CertifiedKey>>);

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        self.0.get(&name).cloned()
    }
}

impl FaultWorld {
    pub async fn start() -> anyhow::Result<Self> {
        let ca = Ca::new()?;
        let (tls, garbage, port) = bind_pair().await?;
        let mut faults: HashMap<String, HttpFault> = http_hosts()
            .into_iter()
            .map(|(h, f)| (h.to_string(), f))
            .collect();
        let healthy = faults
            .get("www.healthy.fault.test")
            .cloned()
            .unwrap_or(HttpFault::Silent);
        let mut zone = Zone::default();
        for (host, _) in dns_hosts() {
            faults.insert(host.to_string(), healthy.clone());
        }
        let mut certs = HashMap::new();
        for host in faults.keys() {
            zone.hosts.insert(host.clone(), vec![IpAddr::V4(LIVE)]);
            certs.insert(host.clone(), ca.leaf(host, CertKind::Valid)?);
        }
        let (self_ca, self_ca_pem) = Ca::self_signed_ca(SELF_CA_HOST)?;
        faults.insert(SELF_CA_HOST.into(), healthy.clone());
        zone.hosts
            .insert(SELF_CA_HOST.into(), vec![IpAddr::V4(LIVE)]);
        certs.insert(SELF_CA_HOST.into(), self_ca);
        zone.hosts
            .insert(GARBAGE_HOST.into(), vec![IpAddr::V4(GARBAGE)]);
        let authoritative = dns::serve(zone).await?;
        let bomb = Arc::new(gzip_zeros(64 << 20)?);
        let mut config = ServerConfig::builder_with_provider(crate::ground::crypto::provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(BySni(certs)));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let faults = Arc::new(faults);
        let lies: Arc<HashMap<String, DnsFault>> = Arc::new(
            dns_hosts()
                .into_iter()
                .map(|(h, f)| (format!("{h}."), f))
                .collect(),
        );
        let (udp, tcp) = port_pair().await?;
        let fault_dns = udp.local_addr()?;
        let udp_only = UdpSocket::bind((LIVE, 0)).await?;
        let fault_dns_udp_only = udp_only.local_addr()?;
        let tasks = vec![
            tokio::spawn(serve_https(tls, acceptor, faults, bomb)),
            tokio::spawn(serve_garbage(garbage)),
            tokio::spawn(serve_dns_udp(udp, lies.clone())),
            tokio::spawn(serve_dns_tcp(tcp, lies.clone())),
            tokio::spawn(serve_dns_udp(udp_only, lies)),
        ];
        Ok(Self {
            dns: authoritative.addr,
            fault_dns,
            fault_dns_udp_only,
            port,
            ca_pem: format!("{}{self_ca_pem}", ca.pem),
            _dns: authoritative,
            tasks,
        })
    }

    /// `https://HOST:PORT/`.
    pub fn url(&self, host: &str) -> String {
        format!("https://{host}:{}/", self.port)
    }
}

fn gzip_zeros(n: usize) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    for _ in 0..n / block.len() {
        enc.write_all(&block)?;
    }
    enc.finish()
}

/// 127.0.0.1 and 127.0.0.6 on one port.
async fn bind_pair() -> anyhow::Result<(TcpListener, TcpListener, u16)> {
    for _ in 0..20 {
        let live = TcpListener::bind((LIVE, 0)).await?;
        let port = live.local_addr()?.port();
        if let Ok(g) = TcpListener::bind((GARBAGE, port)).await {
            return Ok((live, g, port));
        }
    }
    anyhow::bail!("no port free on 127.0.0.1 and .6 at once")
}

async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    faults: Arc<HashMap<String, HttpFault>>,
    bomb: Arc<Vec<u8>>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, faults, bomb) = (acceptor.clone(), faults.clone(), bomb.clone());
        tokio::spawn(async move {
            // Every close of a fault connection is a reset (RST), as a
            // middlebox cutting a connection does.
            let _ = tcp.set_zero_linger();
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let host = tls
                .get_ref()
                .1
                .server_name()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let Some(fault) = faults.get(&host).cloned() else {
                return;
            };
            let _ =
                tokio::time::timeout(Duration::from_secs(60), act(tls, &host, &fault, &bomb)).await;
        });
    }
}

/// Reads one request head (at most 16 KiB).
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while buf.len() < 16 * 1024 {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return true;
        }
    }
    false
}

async fn act<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    host: &str,
    fault: &HttpFault,
    bomb: &[u8],
) -> std::io::Result<()> {
    // Serve requests on the connection until the client stops.
    while read_head(&mut s).await {
        match fault {
            HttpFault::Page(html) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                    html.len()
                );
                s.write_all(head.as_bytes()).await?;
                s.write_all(html.as_bytes()).await?;
            }
            HttpFault::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            HttpFault::Drip => {
                s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n",
                )
                .await?;
                loop {
                    s.write_all(b"<").await?;
                    s.flush().await?;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            HttpFault::GzipBomb => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    bomb.len()
                );
                s.write_all(head.as_bytes()).await?;
                s.write_all(bomb).await?;
            }
            HttpFault::EndlessChunked => {
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .await?;
                let data = "<p>more</p>".repeat(744);
                let chunk = format!("{:x}\r\n{data}\r\n", data.len());
                loop {
                    s.write_all(chunk.as_bytes()).await?;
                }
            }
            HttpFault::RedirectLoop => {
                let head = format!(
                    "HTTP/1.1 302 Found\r\nLocation: /again?from={host}\r\nContent-Length: 0\r\n\r\n"
                );
                s.write_all(head.as_bytes()).await?;
            }
            HttpFault::Redirect(to) => {
                let head =
                    format!("HTTP/1.1 301 Moved\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n");
                s.write_all(head.as_bytes()).await?;
            }
            HttpFault::MalformedHead => {
                s.write_all(b"SPDY/9 banana\r\n\x00\x01garbage\r\n\r\n")
                    .await?;
                s.flush().await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Ok(());
            }
            HttpFault::HugeHeaders => {
                s.write_all(b"HTTP/1.1 200 OK\r\n").await?;
                let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
                for _ in 0..200 {
                    s.write_all(line.as_bytes()).await?;
                }
                s.write_all(b"Content-Length: 2\r\n\r\nok").await?;
            }
            HttpFault::ResetMidBody => {
                s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n",
                )
                .await?;
                s.write_all(&[b'a'; 1000]).await?;
                s.flush().await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Err(std::io::Error::other("reset"));
            }
        }
        s.flush().await?;
    }
    Ok(())
}

/// Answers every TLS ClientHello with bytes that are not TLS.
async fn serve_garbage(listener: TcpListener) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(b"220 mail.fault.test ESMTP ready\r\n\x16\x03\x03\xff\xff")
                .await;
            // SO_LINGER 0: closing sends RST, not FIN.
            let _ = tcp.set_zero_linger();
        });
    }
}
