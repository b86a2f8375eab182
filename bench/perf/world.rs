//! The benchmark's world: `n` names `hNNNNN.bench.test` in an authoritative
//! DNS zone on 127.0.53.1:53 (port 53, so blackbox_exporter's system resolver
//! can be pointed at it), and one HTTPS listener on 127.0.0.1 with a wildcard
//! certificate from a private CA, serving the same ~100 KB news page to every
//! name. Everything is loopback.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::TokioIo;
use mirrorwatch::world::dns::{DnsServer, Zone, serve_on};
use mirrorwatch::world::pages::{Feed, Noise, homepage};
use mirrorwatch::world::pki::{Ca, CertKind};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Where the benchmark's DNS listens (UDP and TCP).
pub const DNS_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 53, 1)), 53);

pub struct BenchWorld {
    pub names: Vec<String>,
    pub https_port: u16,
    pub ca_pem: String,
    pub page_bytes: usize,
    _dns: DnsServer,
}

impl BenchWorld {
    pub fn name(i: usize) -> String {
        format!("h{i:05}.bench.test")
    }

    /// `https://name:port/` for the i-th name.
    pub fn url(&self, i: usize) -> String {
        format!(
            "https://{}:{}/",
            self.names[i % self.names.len()],
            self.https_port
        )
    }

    pub async fn start(n: usize) -> anyhow::Result<Self> {
        let names: Vec<String> = (0..n).map(Self::name).collect();
        let hosts: HashMap<String, Vec<IpAddr>> = names
            .iter()
            .map(|h| (h.clone(), vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
            .collect();
        let dns = serve_on(Arc::new(Zone { hosts }), DNS_ADDR)
            .await
            .with_context(|| format!("binding the benchmark DNS on {DNS_ADDR} (needs root)"))?;

        let ca = Ca::new()?;
        let cert = ca.leaf("*.bench.test", CertKind::Valid)?;
        let mut config =
            ServerConfig::builder_with_provider(mirrorwatch::ground::crypto::provider())
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(Fixed(cert)));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let page = Bytes::from(news_page(100 * 1024));
        let page_bytes = page.len();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let https_port = listener.local_addr()?.port();
        tokio::spawn(serve(listener, acceptor, page));
        Ok(Self {
            names,
            https_port,
            ca_pem: ca.pem.clone(),
            page_bytes,
            _dns: dns,
        })
    }

    pub fn write_ca(&self, dir: &Path) -> anyhow::Result<std::path::PathBuf> {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem)?;
        Ok(path)
    }
}

/// A realistic homepage padded with articles to about `size` bytes.
fn news_page(size: usize) -> String {
    let feed = Feed {
        start: std::time::Instant::now(),
        initial: 10_000,
        every: std::time::Duration::from_secs(3600),
        shown: 8,
    };
    let mut shown = 8;
    loop {
        let f = Feed {
            shown,
            ..feed.clone()
        };
        let html = homepage(
            "Bench News",
            "www.bench.test",
            &f.latest(true),
            "2026-11-27T00:00:00Z",
            Noise::default(),
        );
        if html.len() >= size || shown > 5000 {
            return html;
        }
        shown += 8;
    }
}

#[derive(Debug)]
struct Fixed(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Fixed {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, page: Bytes) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let page = page.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |_req| {
                let page = page.clone();
                async move {
                    let mut r = Response::new(Full::new(page));
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
                    );
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
