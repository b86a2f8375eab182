//! TLS: trust setup, the handshake that always captures the chain, and
//! certificate detail.
//!
//! The handshake verifier accepts any chain (it still checks handshake
//! signatures) so that an expired, untrusted or wrong-host certificate is
//! captured and described instead of aborting the handshake. Validity is
//! then decided from the captured chain by the real webpki verifier, with
//! the same trust anchors.

use std::path::Path;
use std::sync::Arc;

use crate::ground::crypto::provider;
use crate::ground::text::fmt_secs;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::tls_valid::{InDate, Validated, chain_key};

/// Errors building the TLS setup.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("CA file: {0}")]
    File(#[from] crate::ground::files::FileError),
    #[error("building the TLS verifier: {0}")]
    Verifier(String),
}

/// Trust anchors plus the client config used for every handshake.
pub struct TlsSetup {
    verifier: Arc<WebPkiServerVerifier>,
    connector: TlsConnector,
    /// Chains that validated, while they cannot stop validating.
    validated: Validated,
}

impl TlsSetup {
    /// webpki roots plus the certificates in `ca_file`, if any.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, TlsSetupError> {
        let provider = provider();
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = ca_file {
            crate::ground::files::add_trust_anchors(path, &mut roots)?;
        }
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
        let capture = Arc::new(CaptureAll {
            inner: verifier.clone(),
        });
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Verifier(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(capture)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Every probe is a fresh, full handshake: no resumption hides a change.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self {
            verifier,
            connector: TlsConnector::from(Arc::new(config)),
            validated: Validated::default(),
        })
    }
}

impl TlsSetup {
    /// A client config that verifies as a browser would, with these trust
    /// anchors, and offers `alpn`: for the services the daemon relies on
    /// rather than judges (DoT and DoH resolvers).
    pub fn verifying(&self, alpn: &[&[u8]]) -> Result<ClientConfig, String> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_webpki_verifier(self.verifier.clone())
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

/// Accepts any certificate chain; handshake signatures are still verified.
#[derive(Debug)]
struct CaptureAll {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for CaptureAll {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// How the handshake itself went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Handshake {
    Ok,
    /// The peer answered with an error or closed the connection.
    Failed,
    /// Nothing came back before the round deadline.
    Stalled,
}

/// One certificate of the presented chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    pub sans: Vec<String>,
}

/// The TLS result for one address.
#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    pub handshake: Handshake,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub version: Option<String>,
    pub cipher: Option<String>,
    /// The chain validates for the host (trusted, in date, right name).
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_error: Option<String>,
    pub hostname_match: bool,
    /// Earliest `not_after` in the chain, Unix seconds.
    pub not_after: Option<i64>,
    /// Shared with the remembered validation of the same chain, if any.
    pub chain: Arc<[CertInfo]>,
}

impl TlsReport {
    fn failed(handshake: Handshake, seconds: f64, error: String) -> Self {
        Self {
            handshake,
            seconds,
            error: Some(error),
            version: None,
            cipher: None,
            valid: false,
            validation_error: None,
            hostname_match: false,
            not_after: None,
            chain: Arc::default(),
        }
    }
}

/// Performs a TLS handshake over `tcp` with SNI `host`, waiting at most until
/// `deadline`. Returns the stream when the handshake completed, whatever the
/// certificate's validity.
pub async fn handshake(
    setup: &TlsSetup,
    tcp: TcpStream,
    host: &str,
    deadline: Instant,
) -> (TlsReport, Option<TlsStream<TcpStream>>) {
    let start = Instant::now();
    let bare = host.trim_matches(|c| c == '[' || c == ']');
    let name = match ServerName::try_from(bare.to_string()) {
        Ok(n) => n,
        Err(e) => {
            return (
                TlsReport::failed(Handshake::Failed, 0.0, format!("invalid server name: {e}")),
                None,
            );
        }
    };
    let stream = match timeout_at(deadline, setup.connector.connect(name.clone(), tcp)).await {
        Err(_) => {
            let waited = start.elapsed();
            let msg = format!(
                "TLS handshake stalled: no answer after {}",
                fmt_secs(waited)
            );
            return (
                TlsReport::failed(Handshake::Stalled, waited.as_secs_f64(), msg),
                None,
            );
        }
        Ok(Err(e)) => {
            let msg = format!("TLS handshake failed: {e}");
            return (
                TlsReport::failed(Handshake::Failed, start.elapsed().as_secs_f64(), msg),
                None,
            );
        }
        Ok(Ok(s)) => s,
    };
    let seconds = start.elapsed().as_secs_f64();
    let (_, conn) = stream.get_ref();
    let certs = conn.peer_certificates().unwrap_or_default();
    let version = conn
        .protocol_version()
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let cipher = conn
        .negotiated_cipher_suite()
        .and_then(|c| c.suite().as_str())
        .map(str::to_string);
    let j = judge(setup, certs, &name, bare, UnixTime::now());
    let report = TlsReport {
        handshake: Handshake::Ok,
        seconds,
        error: None,
        version,
        cipher,
        valid: j.valid,
        validation_error: j.why_not,
        hostname_match: j.hostname_match,
        not_after: j.chain.iter().map(|c| c.not_after).min(),
        chain: j.chain,
    };
    (report, Some(stream))
}

/// A presented chain, described, and whether it validates.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Judged {
    chain: Arc<[CertInfo]>,
    valid: bool,
    why_not: Option<String>,
    hostname_match: bool,
}

/// `certs` described, and whether they validate for `name` (`host`) at
/// `now`. A chain that validated before and is still in date is neither
/// described nor checked again (see `tls_valid`): its description is a
/// function of its bytes, which the remembered key covers.
fn judge(
    setup: &TlsSetup,
    certs: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    host: &str,
    now: UnixTime,
) -> Judged {
    let key = chain_key(certs, host);
    let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if let Some(chain) = setup.validated.get(&key, secs) {
        return Judged {
            chain,
            valid: true,
            why_not: None,
            hostname_match: true,
        };
    }
    let chain: Arc<[CertInfo]> = certs.iter().filter_map(describe).collect();
    let (valid, why_not, hostname_match) = validate(setup, certs, name, now);
    if let (true, true, Some(span)) = (valid, hostname_match, InDate::of(&chain, certs.len())) {
        setup.validated.remember(key, span, chain.clone(), secs);
    }
    Judged {
        chain,
        valid,
        why_not,
        hostname_match,
    }
}

/// Whether `certs` validate for `name` at `now`: (valid, why not, hostname
/// match).
fn validate(
    setup: &TlsSetup,
    certs: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    now: UnixTime,
) -> (bool, Option<String>, bool) {
    let Some((end_entity, intermediates)) = certs.split_first() else {
        return (false, Some("no certificate presented".into()), false);
    };
    let hostname_match = ParsedCertificate::try_from(end_entity)
        .and_then(|p| verify_server_name(&p, name))
        .is_ok();
    match setup
        .verifier
        .verify_server_cert(end_entity, intermediates, name, &[], now)
    {
        Ok(_) => (true, None, hostname_match),
        Err(e) => (false, Some(describe_error(&e)), hostname_match),
    }
}

fn describe_error(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "certificate expired".into()
        }
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "certificate not yet valid".into()
        }
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "certificate signed by an untrusted issuer".into()
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "certificate not valid for this host name".into(),
        rustls::Error::InvalidCertificate(C::Revoked) => "certificate revoked".into(),
        rustls::Error::InvalidCertificate(C::BadSignature) => {
            "certificate signature does not verify".into()
        }
        rustls::Error::InvalidCertificate(C::BadEncoding) => {
            "certificate is not valid DER (malformed)".into()
        }
        rustls::Error::InvalidCertificate(C::InvalidPurpose | C::InvalidPurposeContext { .. }) => {
            "certificate is not issued for TLS servers (extended key usage)".into()
        }
        rustls::Error::InvalidCertificate(C::Other(other)) => {
            webpki_sentence(&format!("{other:?}"))
        }
        other => webpki_sentence(&format!("{other:?}")),
    }
}

/// webpki's error names (carried inside rustls's `Other`) as sentences an
/// operator can act on; anything unknown keeps its name, shortened.
fn webpki_sentence(debug: &str) -> String {
    const KNOWN: [(&str, &str); 8] = [
        (
            "CaUsedAsEndEntity",
            "the server presents a CA certificate as its own (a self-signed CA such as `openssl req -x509` makes cannot be the server's certificate when it is also the trust anchor; issue a leaf certificate from it)",
        ),
        (
            "EndEntityUsedAsCa",
            "a server (leaf) certificate was used to sign another certificate",
        ),
        (
            "PathLenConstraintViolated",
            "the chain is longer than an issuer allows (path length constraint)",
        ),
        ("MaximumPathDepthExceeded", "the chain is too long"),
        (
            "UnsupportedSignatureAlgorithm",
            "the chain uses an unsupported signature algorithm",
        ),
        (
            "UnsupportedCertVersion",
            "the certificate is not an X.509 v3 certificate",
        ),
        (
            "RequiredEkuNotFound",
            "certificate is not issued for TLS servers (extended key usage)",
        ),
        (
            "NameConstraintViolation",
            "the host name is outside the issuer's name constraints",
        ),
    ];
    KNOWN
        .iter()
        .find(|(name, _)| debug.contains(name))
        .map_or_else(
            || {
                format!(
                    "certificate rejected: {}",
                    debug.chars().take(200).collect::<String>()
                )
            },
            |(_, sentence)| (*sentence).to_string(),
        )
}

/// Subject, issuer, validity and SANs of one DER certificate.
pub fn describe(der: &CertificateDer<'_>) -> Option<CertInfo> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some((*d).to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => <[u8; 4]>::try_from(*b)
                        .ok()
                        .map(|a| std::net::IpAddr::from(a).to_string()),
                    16 => <[u8; 16]>::try_from(*b)
                        .ok()
                        .map(|a| std::net::IpAddr::from(a).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        sans,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::pki::{Ca, CertKind};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    const DAY: u64 = 86_400;

    /// The world's CA, a file naming it, and chains of every kind for
    /// `a.test`.
    struct Fixture {
        _dir: tempfile::TempDir,
        ca_file: std::path::PathBuf,
        chains: Vec<Vec<CertificateDer<'static>>>,
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let ca = Ca::new().expect("CA");
            let dir = tempfile::tempdir().expect("dir");
            let ca_file = dir.path().join("ca.pem");
            std::fs::write(&ca_file, &ca.pem).expect("write CA");
            let kinds = [
                CertKind::Valid,
                CertKind::ExpiresInDays(10),
                CertKind::Expired,
                CertKind::WrongHost,
                CertKind::SelfSigned,
            ];
            let chains = kinds
                .iter()
                .map(|k| ca.leaf("a.test", *k).expect("leaf").cert.clone())
                .collect();
            Fixture {
                _dir: dir,
                ca_file,
                chains,
            }
        })
    }

    fn judged(setup: &TlsSetup, chain: usize, host: &str, now: UnixTime) -> Judged {
        let name = ServerName::try_from(host.to_string()).expect("name");
        judge(setup, &fixture().chains[chain], &name, host, now)
    }

    fn check(
        setup: &TlsSetup,
        chain: usize,
        host: &str,
        now: UnixTime,
    ) -> (bool, Option<String>, bool) {
        let j = judged(setup, chain, host, now);
        (j.valid, j.why_not, j.hostname_match)
    }

    fn at(offset_days: i64) -> UnixTime {
        let now = UnixTime::now().as_secs();
        let secs = now.saturating_add_signed(offset_days * DAY as i64);
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
    }

    /// A remembered success does not outlive its certificate: the same
    /// chain past its expiry, or for another name, is judged in full.
    #[test]
    fn remembered_success_ends_with_the_certificate() {
        let setup = TlsSetup::new(Some(&fixture().ca_file)).expect("setup");
        let first = judged(&setup, 1, "a.test", at(0));
        assert_eq!(
            (first.valid, first.chain.len()),
            (true, fixture().chains[1].len())
        );
        assert_eq!(setup.validated.kept(), 1, "the success is kept");
        let again = judged(&setup, 1, "a.test", at(1));
        assert_eq!(again, first, "the same answer and description");
        assert!(
            Arc::ptr_eq(&again.chain, &first.chain),
            "the description is the remembered one"
        );
        assert_eq!(
            check(&setup, 1, "a.test", at(11)),
            (false, Some("certificate expired".into()), true)
        );
        assert_eq!(
            check(&setup, 1, "b.test", at(0)),
            (
                false,
                Some("certificate not valid for this host name".into()),
                false
            )
        );
        assert_eq!(
            check(&setup, 0, "a.test", at(-2)),
            (false, Some("certificate not yet valid".into()), true)
        );
        assert_eq!(setup.validated.kept(), 1, "failures are never kept");
        for chain in 2..5 {
            assert!(!check(&setup, chain, "a.test", at(0)).0);
        }
        assert_eq!(check(&setup, 0, "a.test", at(0)), (true, None, true));
        assert_eq!(setup.validated.kept(), 2, "only the two successes");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Whatever the order of chains, names and times, remembering
        /// successes never changes an answer or a description: each equals
        /// that of a setup that remembers nothing.
        #[test]
        fn remembering_never_changes_an_answer(
            steps in proptest::collection::vec(
                (0..5usize, prop::sample::select(vec!["a.test", "b.test"]),
                 prop::sample::select(vec![-3i64, -2, 0, 5, 9, 11, 200, 400])),
                1..12,
            )
        ) {
            let f = fixture();
            let remembering = TlsSetup::new(Some(&f.ca_file)).expect("setup");
            let mut fresh = TlsSetup::new(Some(&f.ca_file)).expect("setup");
            for (chain, host, day) in steps {
                let expected = judged(&fresh, chain, host, at(day));
                fresh.validated = Validated::default();
                prop_assert_eq!(judged(&remembering, chain, host, at(day)), expected);
            }
        }
    }
}
