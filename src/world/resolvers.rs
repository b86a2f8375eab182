//! The world's encrypted resolvers, all answering from the honest zone:
//! DNS over TLS and DNS over HTTPS/2 (hickory-server) with a certificate
//! from the world's CA for `dns.test` and 127.0.0.1; a DoT server with a
//! self-signed certificate; and a hand-made DNS over HTTP/1.1 (hyper, no
//! HTTP/2) that can also answer 500 or an HTML page.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::dns::{self, DnsServer, Handler, Zone};
use super::pki::{Ca, CertKind};

/// The name the encrypted resolvers' certificates are for.
pub const DNS_HOST: &str = "dns.test";

/// How the hand-made DoH server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http1Doh {
    /// Answers from the zone.
    Answer,
    /// `500 Internal Server Error`.
    Error500,
    /// `200` with an HTML page.
    Html,
}

/// The running encrypted resolvers (stopped when dropped).
pub struct Encrypted {
    /// DoT, trusted certificate for [`DNS_HOST`].
    pub dot: SocketAddr,
    /// DoT with a self-signed certificate for [`DNS_HOST`].
    pub dot_untrusted: SocketAddr,
    /// DoH over HTTP/2 (hickory-server), path `/dns-query`.
    pub doh_h2: SocketAddr,
    /// DoH over HTTP/1.1 only, answering from the zone.
    pub doh_h1: SocketAddr,
    /// DoH over HTTP/1.1 answering 500.
    pub doh_500: SocketAddr,
    /// DoH over HTTP/1.1 answering an HTML page with status 200.
    pub doh_html: SocketAddr,
    _servers: Vec<DnsServer>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Encrypted {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Encrypted {
    /// `tls://127.0.0.1:PORT#dns.test` for the trusted DoT server.
    pub fn dot_spec(&self) -> String {
        format!("tls://{}#{DNS_HOST}", self.dot)
    }

    /// `https://127.0.0.1:PORT/dns-query` for the HTTP/2 DoH server.
    pub fn doh_spec(&self) -> String {
        format!("https://{}/dns-query", self.doh_h2)
    }
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn config(cert: Arc<CertifiedKey>) -> anyhow::Result<ServerConfig> {
    Ok(
        ServerConfig::builder_with_provider(crate::ground::crypto::provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Fixed(cert))),
    )
}

async fn listener() -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", 0)).await
}

/// Starts every encrypted resolver on 127.0.0.1.
pub async fn start(zone: Arc<Zone>, ca: &Ca) -> anyhow::Result<Encrypted> {
    let names = [DNS_HOST, "127.0.0.1"];
    let trusted = config(ca.leaf_for(&names, CertKind::Valid)?)?;
    let untrusted = config(ca.leaf_for(&names, CertKind::SelfSigned)?)?;
    let (dot, doh) = (listener().await?, listener().await?);
    let (dot_addr, doh_h2) = (dot.local_addr()?, doh.local_addr()?);
    let good = dns::serve_encrypted(zone.clone(), &trusted, dot, doh)?;
    let (dot_bad, doh_unused) = (listener().await?, listener().await?);
    let dot_untrusted = dot_bad.local_addr()?;
    let bad = dns::serve_encrypted(zone.clone(), &untrusted, dot_bad, doh_unused)?;
    let mut h1 = trusted.clone();
    h1.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(h1));
    let handler = Arc::new(Handler::new(zone));
    let mut tasks = Vec::new();
    let mut addrs = Vec::new();
    for mode in [Http1Doh::Answer, Http1Doh::Error500, Http1Doh::Html] {
        let l = listener().await?;
        addrs.push(l.local_addr()?);
        tasks.push(tokio::spawn(serve_h1(
            l,
            acceptor.clone(),
            handler.clone(),
            mode,
        )));
    }
    Ok(Encrypted {
        dot: dot_addr,
        dot_untrusted,
        doh_h2,
        doh_h1: addrs[0],
        doh_500: addrs[1],
        doh_html: addrs[2],
        _servers: vec![good, bad],
        tasks,
    })
}

/// DNS over HTTPS with HTTP/1.1 only: POST `application/dns-message`.
async fn serve_h1(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handler: Arc<Handler>,
    mode: Http1Doh,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, handler) = (acceptor.clone(), handler.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let body = Limited::new(req.into_body(), 65_535)
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        Ok::<_, Infallible>(respond(&handler, mode, &body))
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn respond(handler: &Handler, mode: Http1Doh, query: &[u8]) -> hyper::Response<Full<Bytes>> {
    let build = |status: u16, ctype: &str, body: Vec<u8>| {
        hyper::Response::builder()
            .status(status)
            .header("content-type", ctype)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    match mode {
        Http1Doh::Error500 => build(500, "text/plain", b"internal error".to_vec()),
        Http1Doh::Html => build(
            200,
            "text/html; charset=utf-8",
            b"<h1>Welcome</h1>".to_vec(),
        ),
        Http1Doh::Answer => match handler.reply_to(query) {
            Some(reply) => build(200, "application/dns-message", reply),
            None => build(400, "text/plain", b"not a DNS query".to_vec()),
        },
    }
}
