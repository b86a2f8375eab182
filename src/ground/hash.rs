//! FNV-1a (64-bit): a fixed hash, the same in every run, build and
//! release (std's `DefaultHasher` promises none of that). Shards, the
//! scheduler's phases, article ids and shingles all use it.

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
}
