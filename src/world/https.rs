//! The world's web servers: one TLS listener serving every virtual host by
//! SNI/Host, plus a "blackhole" listener that accepts TCP and never answers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST, LOCATION};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::pages::{self, Article};

/// What a virtual host answers.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// The news homepage with these articles.
    Page {
        title: String,
        articles: Arc<Vec<Article>>,
    },
    /// A fixed status with a short body.
    Status(u16),
    /// `301` to this absolute URL.
    Redirect(String),
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
    let mut config = match ServerConfig::builder_with_provider(crate::checks::tls::provider())
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
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let vhosts = vhosts.clone();
                async move { Ok::<_, Infallible>(respond(&vhosts, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
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
    let reply = |status: u16, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        r.headers_mut().insert(
            CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    };
    match vhosts.get(&host).map(|v| &v.behavior) {
        None => reply(404, "<h1>no such site</h1>".into()),
        Some(Behavior::Status(code)) => {
            reply(*code, format!("<h1>{code}</h1><p>Service unavailable.</p>"))
        }
        Some(Behavior::Redirect(to)) => {
            let mut r = reply(301, String::new());
            if let Ok(v) = hyper::header::HeaderValue::from_str(to) {
                r.headers_mut().insert(LOCATION, v);
            }
            r
        }
        Some(Behavior::Page { title, articles }) => {
            let stamp = crate::timefmt::rfc3339(SystemTime::now());
            let ad = format!(
                "Advertisement #{}",
                stamp.len() + stamp.chars().filter(|c| *c == '1').count()
            );
            reply(200, pages::homepage(title, &host, articles, &stamp, &ad))
        }
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
