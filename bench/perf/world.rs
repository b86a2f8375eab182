//! The benchmark's world: `n` names `hNNNNN.bench.test` in an authoritative
//! DNS zone on 127.0.53.1:53 (port 53, so blackbox_exporter's system resolver
//! can be pointed at it), and one HTTPS listener on 127.0.0.1 with a wildcard
//! certificate from a private CA, serving a ~100 KB news page to every name.
//! What the page is depends on the [`Pages`] mode, switched between figures:
//! the same bytes for every name and request; the page of the current
//! publication epoch with the requested host in its links (main and mirror
//! pages identical but for host names, as a live mirror serves them); or a
//! different page on every request. Everything is loopback.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// What the world serves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pages {
    /// One fixed page, the same bytes for every name.
    Same,
    /// The page of the current epoch (a new one every `Duration`), with
    /// the requested host in its links and footer.
    Hosted(Duration),
    /// A different page on every request for a name: each publishes 8
    /// articles (and drops 8), as a busy homepage does between rounds.
    Changing,
}

/// The serving side's state, shared with the connection tasks.
struct Site {
    mode: Mutex<Pages>,
    same: Bytes,
    started: Instant,
    /// The hosted page's template for one epoch: `(epoch, parts)` where the
    /// page is `parts` joined with the requested host.
    hosted: Mutex<(u64, Arc<Vec<String>>)>,
    /// Requests per host (the `Changing` mode's publication counter).
    requests: Mutex<HashMap<String, u64>>,
}

/// The host name the templates carry in place of the requested one.
const MARK: &str = "www.bench.test";

impl Site {
    fn page(&self, host: &str) -> Bytes {
        let mode = *self.mode.lock().unwrap_or_else(|p| p.into_inner());
        match mode {
            Pages::Same => self.same.clone(),
            Pages::Hosted(every) => {
                let epoch = (self.started.elapsed().as_secs_f64() / every.as_secs_f64()) as u64;
                let parts = {
                    let mut h = self.hosted.lock().unwrap_or_else(|p| p.into_inner());
                    if h.0 != epoch || h.1.is_empty() {
                        let page = news_page(100 * 1024, epoch);
                        *h = (
                            epoch,
                            Arc::new(page.split(MARK).map(String::from).collect()),
                        );
                    }
                    h.1.clone()
                };
                Bytes::from(parts.join(host))
            }
            Pages::Changing => {
                let n = {
                    let mut r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
                    let n = r.entry(host.to_string()).or_default();
                    *n += 1;
                    *n
                };
                // Odd names (the benchmark's mirrors) also stamp their
                // copy: a mirror's page is neither its last one nor main's.
                let mirror = host
                    .trim_start_matches('h')
                    .split('.')
                    .next()
                    .and_then(|d| d.parse::<u64>().ok())
                    .is_some_and(|i| i % 2 == 1);
                let mut page = news_page(100 * 1024, 1_000 + n).replace(MARK, host);
                if mirror {
                    page.push_str(&format!("<!-- mirror copy {n} -->"));
                }
                Bytes::from(page)
            }
        }
    }
}

pub struct BenchWorld {
    pub names: Vec<String>,
    pub https_port: u16,
    pub ca_pem: String,
    pub page_bytes: usize,
    site: Arc<Site>,
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

        let same = Bytes::from(news_page(100 * 1024, 0));
        let page_bytes = same.len();
        let site = Arc::new(Site {
            mode: Mutex::new(Pages::Same),
            same,
            started: Instant::now(),
            hosted: Mutex::new((0, Arc::new(Vec::new()))),
            requests: Mutex::new(HashMap::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let https_port = listener.local_addr()?.port();
        tokio::spawn(serve(listener, acceptor, site.clone()));
        Ok(Self {
            names,
            https_port,
            ca_pem: ca.pem.clone(),
            page_bytes,
            site,
            _dns: dns,
        })
    }

    /// Switches what every name serves from now on.
    pub fn serve(&self, pages: Pages) {
        *self.site.mode.lock().unwrap_or_else(|p| p.into_inner()) = pages;
    }

    pub fn write_ca(&self, dir: &Path) -> anyhow::Result<std::path::PathBuf> {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem)?;
        Ok(path)
    }
}

/// A realistic homepage padded with articles to about `size` bytes; `epoch`
/// moves the article list on (each step publishes 8 articles).
fn news_page(size: usize, epoch: u64) -> String {
    let feed = Feed {
        start: std::time::Instant::now(),
        initial: 10_000 + epoch * 8,
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

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, site: Arc<Site>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let site = site.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let host = req
                    .headers()
                    .get(hyper::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(|h| h.split(':').next().unwrap_or(h).to_string())
                    .unwrap_or_else(|| MARK.to_string());
                let page = site.page(&host);
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
