//! Serving the endpoints over HTTPS (`[server.tls]`): the same axum router,
//! through tokio-rustls and hyper.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Cert(String),
    #[error("{0}")]
    Key(String),
}

/// Reads the certificate chain and key and builds the server config.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, LoadError> {
    let certs = crate::pem::certificates(cert_file).map_err(|e| LoadError::Cert(e.to_string()))?;
    let key = crate::pem::private_key(key_file).map_err(|e| LoadError::Key(e.to_string()))?;
    let config = ServerConfig::builder_with_provider(crate::checks::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| LoadError::Cert(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| LoadError::Key(format!("certificate and key do not fit: {e}")))?;
    Ok(Arc::new(config))
}

/// Serves `router` over TLS until `token` is cancelled; connections still
/// open then get `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: Arc<ServerConfig>,
    token: CancellationToken,
    grace: Duration,
) {
    let acceptor = TlsAcceptor::from(config);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = token.cancelled() => break,
            a = listener.accept() => a,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        conns.spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .header_read_timeout(Duration::from_secs(10))
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
        while conns.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
}
