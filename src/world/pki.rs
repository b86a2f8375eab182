//! A private CA (rcgen) and the leaf certificates the world's servers show:
//! valid, expired, expiring soon, for the wrong host, or self-signed.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

/// Which certificate a host presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// Issued by the world's CA for the host, valid for a year.
    Valid,
    /// Expired two days ago.
    Expired,
    /// Valid, but expires in this many days.
    ExpiresInDays(i64),
    /// Valid and trusted, but for another name.
    WrongHost,
    /// Self-signed: not trusted by anything.
    SelfSigned,
}

/// The world's certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

impl Ca {
    pub fn new() -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "mirrorwatch test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::from_secs(86400);
        params.not_after = now + Duration::from_secs(3650 * 86400);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A CA-signed certificate for `name` (valid a year), as PEM cert and key.
    pub fn issue_pem(&self, name: &str) -> Result<(String, String), rcgen::Error> {
        let mut params = CertificateParams::new(vec![name.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::from_secs(86400);
        params.not_after = now + Duration::from_secs(365 * 86400);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// What `openssl req -x509` makes: a self-signed CA certificate for
    /// `host`, served as the host's own certificate. Given as a trust
    /// anchor too, webpki refuses it (`CaUsedAsEndEntity`). Returns the
    /// key for serving and the certificate's PEM.
    pub fn self_signed_ca(host: &str) -> Result<(Arc<CertifiedKey>, String), rcgen::Error> {
        let mut params = CertificateParams::new(vec![host.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, host);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::from_secs(86400);
        params.not_after = now + Duration::from_secs(365 * 86400);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = crate::ground::crypto::provider()
            .key_provider
            .load_private_key(der)
            .map_err(|e| rcgen::Error::PemError(e.to_string()))?;
        let served = Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(cert.der().to_vec())],
            signing,
        ));
        Ok((served, cert.pem()))
    }

    /// A certificate and key for `host` of the given kind.
    pub fn leaf(&self, host: &str, kind: CertKind) -> Result<Arc<CertifiedKey>, rcgen::Error> {
        self.leaf_for(&[host], kind)
    }

    /// A certificate and key of the given kind whose subject names are
    /// `names` (host names or IP addresses; the first is the common name).
    pub fn leaf_for(
        &self,
        names: &[&str],
        kind: CertKind,
    ) -> Result<Arc<CertifiedKey>, rcgen::Error> {
        let names: Vec<String> = match kind {
            CertKind::WrongHost => vec!["www.someone-else.test".to_string()],
            _ => names.iter().map(|n| n.to_string()).collect(),
        };
        let mut params = CertificateParams::new(names.clone())?;
        let common = names.first().cloned().unwrap_or_default();
        params.distinguished_name.push(DnType::CommonName, common);
        let now = OffsetDateTime::now_utc();
        let day = Duration::from_secs(86400);
        (params.not_before, params.not_after) = match kind {
            CertKind::Expired => (now - day * 90, now - day * 2),
            CertKind::ExpiresInDays(d) => (
                now - day * 30,
                now + Duration::from_secs(86400 * d.max(0) as u64),
            ),
            _ => (now - day, now + day * 365),
        };
        let key = KeyPair::generate()?;
        let cert = match kind {
            CertKind::SelfSigned => params.self_signed(&key)?,
            _ => params.signed_by(&key, &self.issuer)?,
        };
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = crate::ground::crypto::provider();
        let signing = provider
            .key_provider
            .load_private_key(der)
            .map_err(|e| rcgen::Error::PemError(e.to_string()))?;
        Ok(Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(cert.der().to_vec())],
            signing,
        )))
    }
}
