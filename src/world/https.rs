//! The world's web servers: one TLS listener serving every virtual host by
//! SNI/Host, plus a "blackhole" listener that accepts TCP and never answers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use std::io::Write as _;

use hyper::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, HOST, HeaderValue, LOCATION};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::pages::{self, Feed, Noise};

/// What a virtual host answers.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// The news homepage from `feed` (frozen at the world's start, or live),
    /// optionally noisy and gzip-encoded.
    Page {
        title: String,
        feed: Arc<Feed>,
        frozen: bool,
        noise: Noise,
        gzip: bool,
    },
    /// The busy homepage (see `busy`), as main serves it `behind` ago.
    Busy {
        title: String,
        feed: Arc<super::busy::BusyFeed>,
        behind: std::time::Duration,
    },
    /// A fixed status and body.
    Fixed { status: u16, body: String },
    /// `301` to this absolute URL.
    Redirect(String),
    /// `up` normally; `503` while the switch is on (tests flip it).
    Switch {
        down: Arc<std::sync::atomic::AtomicBool>,
        up: Box<Behavior>,
    },
    /// A `Page` whose alternate-address list has as many entries as
    /// `listed` says (tests change it).
    Announcing {
        listed: Arc<std::sync::atomic::AtomicUsize>,
        /// The port its links name.
        port: u16,
        page: Box<Behavior>,
    },
}

/// A host the TLS listener serves.
#[derive(Debug, Clone)]
pub struct Vhost {
    pub cert: Arc<CertifiedKey>,
    pub behavior: Behavior,
}

#[derive(Debug)]
struct BySni(Arc<HashMap<String, Vhost>>);

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        self.0.get(&name).map(|v| v.cert.clone())
    }
}

/// Serves every vhost over TLS on `listener` until the task is aborted.
pub async fn serve_tls(listener: TcpListener, vhosts: Arc<HashMap<String, Vhost>>) {
    let mut config = match ServerConfig::builder_with_provider(crate::ground::crypto::provider())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(BySni(vhosts.clone()))),
        Err(e) => {
            tracing::error!(error = %e, "world TLS config");
            return;
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let vhosts = vhosts.clone();
        tokio::spawn(async move {
            if let Ok(tls) = acceptor.accept(tcp).await {
                serve_connection(tls, vhosts).await;
            }
        });
    }
}

/// Serves HTTP/1.1 for the vhosts on one accepted connection.
async fn serve_connection<S>(io: S, vhosts: Arc<HashMap<String, Vhost>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let vhosts = vhosts.clone();
        async move { Ok::<_, Infallible>(respond(&vhosts, &req)) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

fn respond(vhosts: &HashMap<String, Vhost>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            h.rsplit_once(':')
                .map_or(h, |(name, _)| name)
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let accepts_gzip = req
        .headers()
        .get(ACCEPT_ENCODING)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.contains("gzip"));
    let reply = |status: u16, body: Vec<u8>| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    };
    let mut behavior = vhosts.get(&host).map(|v| &v.behavior);
    let announcing;
    if let Some(Behavior::Announcing { listed, port, page }) = behavior
        && let Behavior::Page {
            title,
            feed,
            frozen,
            noise,
            gzip,
        } = page.as_ref()
    {
        announcing = Behavior::Page {
            title: title.clone(),
            feed: feed.clone(),
            frozen: *frozen,
            noise: Noise {
                announce: listed.load(std::sync::atomic::Ordering::Relaxed),
                announce_port: *port,
                ..*noise
            },
            gzip: *gzip,
        };
        behavior = Some(&announcing);
    }
    if let Some(Behavior::Switch { down, up }) = behavior {
        if down.load(std::sync::atomic::Ordering::Relaxed) {
            return reply(503, b"<h1>503</h1><p>Down for maintenance.</p>".to_vec());
        }
        behavior = Some(up.as_ref());
    }
    match behavior {
        None => reply(404, b"<h1>no such site</h1>".to_vec()),
        Some(Behavior::Fixed { status, body }) => reply(*status, body.clone().into_bytes()),
        Some(Behavior::Redirect(to)) => {
            let mut r = reply(301, Vec::new());
            if let Ok(v) = HeaderValue::from_str(to) {
                r.headers_mut().insert(LOCATION, v);
            }
            r
        }
        Some(Behavior::Switch { .. } | Behavior::Announcing { .. }) => {
            reply(500, b"nested switch".to_vec())
        }
        Some(Behavior::Busy {
            title,
            feed,
            behind,
        }) => reply(200, feed.page(title, &host, *behind).into_bytes()),
        Some(Behavior::Page {
            title,
            feed,
            frozen,
            noise,
            gzip,
        }) => {
            let stamp = crate::ground::time::rfc3339(SystemTime::now());
            let html = pages::homepage(title, &host, &feed.latest(*frozen), &stamp, *noise);
            if *gzip && accepts_gzip {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                let compressed = enc.write_all(html.as_bytes()).and_then(|_| enc.finish());
                if let Ok(bytes) = compressed {
                    let mut r = reply(200, bytes);
                    r.headers_mut()
                        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    return r;
                }
            }
            reply(200, html.into_bytes())
        }
    }
}

/// Serves every vhost over plain HTTP on `listener` until aborted.
pub async fn serve_plain(listener: TcpListener, vhosts: Arc<HashMap<String, Vhost>>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let vhosts = vhosts.clone();
        tokio::spawn(serve_connection(tcp, vhosts));
    }
}

/// Accepts connections and holds them open without ever reading or
/// writing, until the task is aborted.
pub async fn serve_blackhole(listener: TcpListener) {
    let mut held = Vec::new();
    loop {
        if let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    }
}

/// Binds 127.0.0.1, .3 and .4 on one port.
pub async fn bind_trio(
    live: std::net::IpAddr,
    blackhole: std::net::IpAddr,
    hijack: std::net::IpAddr,
) -> anyhow::Result<(TcpListener, TcpListener, TcpListener, u16)> {
    for _ in 0..20 {
        let live = TcpListener::bind((live, 0)).await?;
        let port = live.local_addr()?.port();
        let (Ok(b), Ok(h)) = (
            TcpListener::bind((blackhole, port)).await,
            TcpListener::bind((hijack, port)).await,
        ) else {
            continue;
        };
        return Ok((live, b, h, port));
    }
    anyhow::bail!("no port free on 127.0.0.1, .3 and .4 at once")
}
