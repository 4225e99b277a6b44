//! The hasher of the exposure decision's maps (unique_ids, node ids): a folded
//! multiply a word at a time (as foldhash and wyhash mix), instead of std's SipHash.
//!
//! The maps are built from the run's own artifacts (~40,000 ids and ~100,000 lookups
//! at 20,000 models), not from anything a caller of the function sends, so SipHash's
//! protection against chosen collisions buys nothing here, and it was ~6 % of the CPU
//! of judging a run (perf, bench/README.md), which at a 128 MB Lambda's CPU share is
//! a quarter of a second.

use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0xf135_7aea_2e62_a9c5;

/// Each 8-byte word is xored in and the state multiplied by `K` into 128 bits, whose
/// halves are xored: unlike a plain 64-bit multiply (FxHash), every input bit reaches
/// the low bits the table's bucket index is taken from. (FxHash's low bits only
/// saw the low digits of ids like `model.pkg.stg_orders_12345`; see the tests.)
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl IdHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * u128::from(K);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type IdMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::{BuildHasher, BuildHasherDefault};

    fn hash(s: &str) -> u64 {
        BuildHasherDefault::<IdHasher>::default().hash_one(s)
    }

    #[test]
    fn ids_that_differ_hash_apart() {
        let ids = [
            "",
            "a",
            "ab",
            "ab\0",
            "model.pkg.orders",
            "model.pkg.orders_",
            "model.pkg.order",
            "test.pkg.not_null_orders_id.0123456789",
            "test.pkg.not_null_orders_id.0123456788",
        ];
        let hashes: HashSet<u64> = ids.iter().map(|s| hash(s)).collect();
        assert_eq!(hashes.len(), ids.len());
    }

    #[test]
    fn bucket_bits_spread_over_many_similar_ids() {
        // 40,000 ids differing in a few trailing digits, as a big project's are: the
        // low 16 bits (a table's bucket index) must spread as random ones would
        // (~29,950 distinct of 65,536). A plain multiply gave 9,739 here.
        for prefix in ["model.analytics.stg_orders_", "test.pkg.not_null_", "m"] {
            let low: HashSet<u64> = (0..40_000)
                .map(|i| hash(&format!("{prefix}{i}")) & 0xffff)
                .collect();
            assert!(low.len() > 28_000, "{prefix}: {} distinct", low.len());
        }
        let ids: HashSet<u64> = (0..40_000u32)
            .map(|i| BuildHasherDefault::<IdHasher>::default().hash_one(i) & 0xffff)
            .collect();
        assert!(ids.len() > 28_000, "node ids: {} distinct", ids.len());
    }

    #[test]
    fn a_map_keyed_by_it_finds_what_it_holds() {
        let mut map: IdMap<String, usize> = IdMap::default();
        for i in 0..10_000 {
            map.insert(format!("model.pkg.m{i}"), i);
        }
        assert!((0..10_000).all(|i| map.get(&format!("model.pkg.m{i}")) == Some(&i)));
        assert_eq!(map.get("model.pkg.m10000"), None);
    }
}
