//! The one crypto provider every TLS config in the process uses (ring),
//! passed explicitly so no process-wide default has to be installed, and
//! the server-side TLS config built from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;

/// ring, as every TLS client and server here uses it.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why a server certificate and key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ServerTlsError {
    #[error("{0}")]
    Cert(String),
    #[error("{0}")]
    Key(String),
}

/// Reads the certificate chain and key (size-capped) and builds the
/// server config: the same check for `check-config` and for serving.
pub fn server_config(
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<ServerConfig>, ServerTlsError> {
    let certs =
        super::files::certificates(cert_file).map_err(|e| ServerTlsError::Cert(e.to_string()))?;
    let key =
        super::files::private_key(key_file).map_err(|e| ServerTlsError::Key(e.to_string()))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerTlsError::Cert(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerTlsError::Key(format!("certificate and key do not fit: {e}")))?;
    Ok(Arc::new(config))
}
