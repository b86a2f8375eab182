//! `--shard i/n` (SPEC §10): one instance of `n` watches the sites whose
//! name hashes to `i`. The hash is FNV-1a (64-bit) of the site name, fixed
//! here rather than std's, whose output may change between Rust releases;
//! a site therefore stays on the same shard across restarts, upgrades and
//! machines, and every site belongs to exactly one shard.

use std::fmt;
use std::str::FromStr;

use super::Config;
use crate::ground::hash::fnv1a;

/// This instance's share of the sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a shard: expected i/n with 0 <= i < n, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether this shard watches `site`.
    pub fn owns(&self, site: &str) -> bool {
        fnv1a(site.as_bytes()) % self.count == self.index
    }
}

impl Config {
    /// Keeps only the sites `shard` owns (all of them without a shard).
    pub fn retain_shard(&mut self, shard: Option<Shard>) {
        if let Some(s) = shard {
            self.sites.retain(|site| s.owns(&site.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "0/0", "1", "a/b", "-1/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn every_site_has_exactly_one_shard_and_it_is_stable() {
        let names: Vec<String> = (0..1000).map(|i| format!("site-{i}")).collect();
        let shards: Vec<Shard> = (0..4).map(|i| Shard { index: i, count: 4 }).collect();
        let mut sizes = [0usize; 4];
        for n in &names {
            let owners: Vec<&Shard> = shards.iter().filter(|s| s.owns(n)).collect();
            assert_eq!(owners.len(), 1, "{n}");
            sizes[owners[0].index as usize] += 1;
        }
        // Balanced enough: each shard gets 250 ± 60 of 1,000 names.
        assert!(sizes.iter().all(|s| (190..=310).contains(s)), "{sizes:?}");
        // FNV-1a is fixed: these values must never change between releases.
        assert_eq!(fnv1a(b"presstv"), 0x0a3c_0704_17ab_9342);
    }
}
