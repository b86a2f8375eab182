//! Chain validations remembered while they cannot change.
//!
//! webpki's answer for a presented chain and host name is a function of the
//! chain's bytes, the name, the trust anchors and the time, and nothing else
//! (no revocation lists are configured). A [`super::tls::TlsSetup`] fixes
//! the anchors, so a chain that validated for a name at one moment validates
//! again at any moment inside every presented certificate's validity window:
//! the path webpki built is still trusted, still in date and still for that
//! name. Only such successes are kept, keyed by a BLAKE3 digest of the name
//! and every certificate's DER; a round whose chain, name or time is outside
//! a kept success validates in full, and every failure is checked afresh.
//! An address whose certificate has not changed since its last round then
//! skips the chain's signature checks, the largest part of validation; the
//! handshake's own signature is still verified on every round. A kept
//! success also holds the chain's description (subject, issuer, dates,
//! names), a function of the same bytes, so such a round does not parse
//! the certificates again either; the address's report shares it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustls::pki_types::CertificateDer;

use super::tls::CertInfo;

/// Kept successes past which the oldest-expiring are dropped (each ~80 B,
/// and the chain's description while no report shares it).
const MAX_KEPT: usize = 65_536;

/// A chain and name's identity: the digest of both.
pub type ChainKey = [u8; 32];

/// The digest of `host` and the DER of every certificate in `certs`, each
/// length-prefixed so that no two different inputs share a byte stream.
pub fn chain_key(certs: &[CertificateDer<'_>], host: &str) -> ChainKey {
    let mut h = blake3::Hasher::new();
    h.update(&(host.len() as u64).to_le_bytes());
    h.update(host.as_bytes());
    for c in certs {
        h.update(&(c.len() as u64).to_le_bytes());
        h.update(c.as_ref());
    }
    *h.finalize().as_bytes()
}

/// The span, Unix seconds inclusive, in which every certificate of a chain
/// is in date: webpki calls a certificate valid when `not_before <= now <=
/// not_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InDate {
    from: i64,
    until: i64,
}

impl InDate {
    /// The span of `chain`, the description of each of `presented`
    /// certificates; none when a certificate could not be described (its
    /// dates are then unknown) or the span is empty.
    pub fn of(chain: &[CertInfo], presented: usize) -> Option<Self> {
        if chain.len() != presented || chain.is_empty() {
            return None;
        }
        let from = chain.iter().map(|c| c.not_before).max()?;
        let until = chain.iter().map(|c| c.not_after).min()?;
        (from <= until).then_some(Self { from, until })
    }

    fn holds(&self, now: i64) -> bool {
        self.from <= now && now <= self.until
    }
}

/// A kept success: when it holds, and the chain's description.
#[derive(Debug)]
struct Kept {
    span: InDate,
    chain: Arc<[CertInfo]>,
}

/// Successful validations by chain and name.
#[derive(Debug, Default)]
pub struct Validated {
    kept: Mutex<HashMap<ChainKey, Kept>>,
}

impl Validated {
    /// The chain's description when `key` validated before and `now` is
    /// inside its span.
    pub fn get(&self, key: &ChainKey, now: i64) -> Option<Arc<[CertInfo]>> {
        let kept = self.lock();
        let k = kept.get(key)?;
        k.span.holds(now).then(|| k.chain.clone())
    }

    /// Keeps a success. When full, spans already over are dropped first,
    /// then the soonest to end, so memory stays bounded whatever the
    /// number of distinct certificates seen.
    pub fn remember(&self, key: ChainKey, span: InDate, chain: Arc<[CertInfo]>, now: i64) {
        let mut kept = self.lock();
        if kept.len() >= MAX_KEPT && !kept.contains_key(&key) {
            kept.retain(|_, k| k.span.until >= now);
            if kept.len() >= MAX_KEPT {
                let mut ends: Vec<i64> = kept.values().map(|k| k.span.until).collect();
                let cut = ends.len() / 2;
                let (_, median, _) = ends.select_nth_unstable(cut);
                let median = *median;
                kept.retain(|_, k| k.span.until > median);
            }
        }
        kept.insert(key, Kept { span, chain });
    }

    /// How many successes are kept.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ChainKey, Kept>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(not_before: i64, not_after: i64) -> CertInfo {
        CertInfo {
            subject: String::new(),
            issuer: String::new(),
            not_before,
            not_after,
            sans: Vec::new(),
        }
    }

    #[test]
    fn span_is_where_every_certificate_is_in_date() {
        let chain = [info(10, 100), info(20, 80)];
        let span = InDate::of(&chain, 2).expect("span");
        assert_eq!(
            [19, 20, 80, 81].map(|t| span.holds(t)),
            [false, true, true, false]
        );
        assert_eq!(InDate::of(&chain, 3), None, "one certificate undescribed");
        assert_eq!(InDate::of(&[], 0), None);
        assert_eq!(InDate::of(&[info(10, 5)], 1), None, "never in date");
    }

    #[test]
    fn key_separates_name_and_every_certificate() {
        let a = CertificateDer::from(vec![1u8, 2, 3]);
        let b = CertificateDer::from(vec![4u8]);
        let ab = chain_key(&[a.clone(), b.clone()], "h.test");
        assert_eq!(ab, chain_key(&[a.clone(), b.clone()], "h.test"));
        assert_ne!(ab, chain_key(&[a.clone(), b.clone()], "g.test"));
        assert_ne!(ab, chain_key(&[b.clone(), a.clone()], "h.test"));
        assert_ne!(ab, chain_key(std::slice::from_ref(&a), "h.test"));
        // The same bytes split differently between certificates.
        let joined = CertificateDer::from(vec![1u8, 2, 3, 4]);
        assert_ne!(ab, chain_key(&[joined], "h.test"));
    }

    #[test]
    fn full_store_drops_spans_over_then_the_soonest_to_end() {
        let kept = Validated::default();
        let span = |until| InDate { from: 0, until };
        for i in 0..MAX_KEPT {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            // Half already over at time 1,000, half ending later and later.
            let until = if i % 2 == 0 { 500 } else { 1_000 + i as i64 };
            kept.remember(key, span(until), Arc::default(), 0);
        }
        assert_eq!(kept.kept(), MAX_KEPT);
        kept.remember([0xff; 32], span(5_000), Arc::default(), 1_000);
        assert_eq!(kept.kept(), MAX_KEPT / 2 + 1, "the ones over are gone");
        assert!(kept.get(&[0xff; 32], 1_000).is_some());
        // Full again with spans all in date: the half ending soonest go.
        for i in 0..MAX_KEPT / 2 - 1 {
            let mut key = [1u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            kept.remember(key, span(10_000_000 + i as i64), Arc::default(), 1_000);
        }
        assert_eq!(kept.kept(), MAX_KEPT);
        kept.remember([0xfe; 32], span(20_000_000), Arc::default(), 1_000);
        assert_eq!(
            kept.kept(),
            MAX_KEPT / 2,
            "the half ending soonest are gone"
        );
        assert!(kept.get(&[0xfe; 32], 1_000).is_some());
        assert!(kept.get(&[0xff; 32], 1_000).is_none(), "it ended soonest");
    }
}
