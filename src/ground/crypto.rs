//! The one crypto provider every TLS config in the process uses (ring),
//! passed explicitly so no process-wide default has to be installed, and
//! the server-side TLS config built from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;

/// ring, as every TLS client and server here uses it, with AES-128-GCM
/// first among the TLS 1.3 suites, as browsers and Go order them (rustls
/// puts AES-256-GCM-SHA384 first). Every suite is still offered; a server
/// that prefers another still gets it. On a CPU with SHA extensions the
/// handshake's key schedule over SHA-256 costs a fraction of SHA-384's:
/// SHA-512 blocks for the key schedule were ~2.4% of the daemon's samples
/// at 10,000 addresses.
pub fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let mut p = rustls::crypto::ring::default_provider();
    let first = TLS13_AES_128_GCM_SHA256.suite();
    // Stable: the others keep rustls's order.
    p.cipher_suites.sort_by_key(|s| s.suite() != first);
    Arc::new(p)
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

#[cfg(test)]
mod tests {
    use rustls::CipherSuite as C;

    /// AES-128-GCM leads; nothing is dropped and the rest keep their order.
    #[test]
    fn aes_128_gcm_is_offered_first_and_nothing_is_dropped() {
        let ours: Vec<C> = super::provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        let theirs: Vec<C> = rustls::crypto::ring::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(ours.first(), Some(&C::TLS13_AES_128_GCM_SHA256));
        let mut rest = theirs.clone();
        rest.retain(|s| *s != C::TLS13_AES_128_GCM_SHA256);
        assert_eq!(ours[1..], rest[..]);
        assert_eq!(ours.len(), theirs.len());
    }
}
