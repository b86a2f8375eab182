//! Hashes. FNV-1a (64-bit): a fixed hash, the same in every run, build and
//! release (std's `DefaultHasher` promises none of that); shards, the
//! scheduler's phases, article ids and shingles use it. [`Digest`]: BLAKE3,
//! for deciding that two bodies are the same bytes. Parity's shortcuts rest
//! on that, and a hostile mirror must not be able to forge it, so it is a
//! cryptographic hash, computed while the body streams in.

/// The offset basis: the hash of nothing.
pub const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// One step: `h` extended by `byte`.
pub fn step(h: u64, byte: u8) -> u64 {
    (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// The hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(OFFSET, |h, b| step(h, *b))
}

/// The BLAKE3 digest of a body: equal digests mean equal bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes` in one go.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

/// A digest computed piece by piece: the same value as [`Digest::of`] on the
/// concatenation of every piece.
#[derive(Default, Clone)]
pub struct Digester(blake3::Hasher);

impl Digester {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(&self) -> Digest {
        Digest(*self.0.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_values() {
        // The reference values of FNV-1a 64.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn pieces_digest_like_the_whole() {
        let mut d = Digester::default();
        for piece in [&b"foo"[..], b"", b"bar"] {
            d.update(piece);
        }
        assert_eq!(d.finish(), Digest::of(b"foobar"));
        assert_ne!(Digest::of(b"foobar"), Digest::of(b"foobaz"));
        // BLAKE3's published value for the empty input.
        assert_eq!(
            Digest::of(b"").0[..4],
            [0xaf, 0x13, 0x49, 0xb9],
            "blake3(\"\") = af1349b9..."
        );
    }
}
