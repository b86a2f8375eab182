//! Files mirrorwatch reads besides the config: PEM certificates and keys,
//! always through a size cap, so `ca_file = "/dev/zero"` or a huge file
//! is an error, not an allocation failure.

use std::io::Read;
use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The largest PEM file read (a CA bundle of several hundred
/// certificates fits easily).
pub const MAX_PEM_BYTES: u64 = 4 * 1024 * 1024;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is larger than {max} bytes; is it the right file?")]
    TooLarge { path: String, max: u64 },
    #[error("{path}: {message}")]
    Pem { path: String, message: String },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
}

/// Reads at most `max` bytes of `path`; a longer file is an error.
pub fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let shown = || path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| FileError::Io {
        path: shown(),
        source,
    })?;
    let mut buf = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| FileError::Io {
            path: shown(),
            source,
        })?;
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > max {
        return Err(FileError::TooLarge { path: shown(), max });
    }
    Ok(buf)
}

/// Every certificate in a PEM file (at least one).
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, FileError> {
    let bytes = read_capped(path, MAX_PEM_BYTES)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| FileError::Pem {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(FileError::NoCertificate {
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

/// The certificates of a PEM file added to `roots` as trust anchors; the
/// same check for `check-config` and for the running daemon.
pub fn add_trust_anchors(
    path: &Path,
    roots: &mut rustls::RootCertStore,
) -> Result<usize, FileError> {
    let certs = certificates(path)?;
    let n = certs.len();
    for cert in certs {
        roots.add(cert).map_err(|e| FileError::Pem {
            path: path.display().to_string(),
            message: format!("not usable as a trust anchor: {e}"),
        })?;
    }
    Ok(n)
}

/// The private key in a PEM file.
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, FileError> {
    let bytes = read_capped(path, MAX_PEM_BYTES)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| FileError::Pem {
        path: path.display().to_string(),
        message: format!("no private key: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_and_large_files_are_refused() {
        let e = read_capped(Path::new("/dev/zero"), 1024).expect_err("capped");
        assert!(matches!(e, FileError::TooLarge { max: 1024, .. }), "{e}");
        let e = certificates(Path::new("/dev/zero")).expect_err("capped");
        assert!(e.to_string().contains("larger than"), "{e}");
        let e = certificates(Path::new("/nonexistent/ca.pem")).expect_err("missing");
        assert!(
            e.to_string().starts_with("cannot read /nonexistent/ca.pem"),
            "{e}"
        );
    }
}
