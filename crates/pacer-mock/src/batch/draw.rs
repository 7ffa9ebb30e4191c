//! A batch's draws: what becomes of each line and the order results come out in. Each is
//! decided by a hash of the server's seed, the batch's id and the line, not by a shared
//! generator, so that the same batch reads the same every time (results are made when read)
//! and the same line sent again in a new batch draws again, independently.

use crate::MockBatchConfig;

/// What becomes of one line, decided when its batch is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Answered as the live endpoint answers it.
    Answered,
    /// Refused as the live endpoint refuses it: a body or model it would not take.
    Refused,
    /// Failed with a server error (`line_failure`).
    Failed,
    /// Not processed before the window ended (`line_expiry`).
    Expired,
}

/// FNV-1a over `parts` (each ended by a 0 byte, so that `["ab", "c"]` and `["a", "bc"]`
/// differ) from `seed`, then splitmix64's finalizer to spread the bits: a hash that stays
/// the same across Rust versions, unlike the standard library's.
fn hash(seed: u64, parts: &[&str]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for byte in parts.iter().flat_map(|p| p.bytes().chain([0])) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The fate of the line keyed `key` (its `custom_id`, or its index where the API has none)
/// in the batch `batch`: expired with probability `line_expiry`, whatever it holds; else
/// refused when the live endpoint would refuse it (`valid` false); else failed with
/// probability `line_failure`; else answered.
pub(crate) fn fate(
    config: &MockBatchConfig,
    seed: u64,
    batch: &str,
    key: &str,
    valid: bool,
) -> Fate {
    // The top 53 bits as a number in [0, 1).
    let u = (hash(seed, &[batch, key]) >> 11) as f64 / (1u64 << 53) as f64;
    if u < config.line_expiry {
        Fate::Expired
    } else if !valid {
        Fate::Refused
    } else if u < config.line_expiry + config.line_failure {
        Fate::Failed
    } else {
        Fate::Answered
    }
}

/// The order `n` lines of the batch `batch` come out in, a permutation of `0..n`, so that a
/// client must match results by their `custom_id`.
pub(crate) fn shuffled(seed: u64, batch: &str, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    fastrand::Rng::with_seed(hash(seed, &[batch, "order"])).shuffle(&mut order);
    order
}

#[cfg(test)]
mod tests {
    use super::{Fate, fate, hash, shuffled};
    use crate::MockBatchConfig;

    #[test]
    fn the_hash_is_fixed_and_separates_parts() {
        assert_eq!(hash(0, &["ab", "c"]), hash(0, &["ab", "c"]));
        assert_ne!(hash(0, &["ab", "c"]), hash(0, &["a", "bc"]));
        assert_ne!(hash(0, &["a"]), hash(1, &["a"]));
    }

    #[test]
    fn fates_follow_the_probabilities_and_repeat() {
        let config = MockBatchConfig {
            line_failure: 0.2,
            line_expiry: 0.1,
            ..MockBatchConfig::default()
        };
        let fates: Vec<Fate> = (0..10_000)
            .map(|i| fate(&config, 7, "batch_1", &i.to_string(), true))
            .collect();
        let share = |f: Fate| fates.iter().filter(|x| **x == f).count() as f64 / 10_000.0;
        assert!(
            (share(Fate::Failed) - 0.2).abs() < 0.02,
            "{}",
            share(Fate::Failed)
        );
        assert!(
            (share(Fate::Expired) - 0.1).abs() < 0.02,
            "{}",
            share(Fate::Expired)
        );
        assert_eq!(fate(&config, 7, "batch_1", "9", true), fates[9]);
        // Another batch draws again.
        let again =
            (0..100).filter(|i| fate(&config, 7, "batch_2", &i.to_string(), true) != fates[*i]);
        assert!(again.count() > 0);
        let config = MockBatchConfig::default();
        assert_eq!(fate(&config, 7, "b", "x", false), Fate::Refused);
        assert_eq!(fate(&config, 7, "b", "x", true), Fate::Answered);
    }

    #[test]
    fn the_order_is_a_repeatable_permutation() {
        let order = shuffled(3, "batch_1", 50);
        assert_eq!(order, shuffled(3, "batch_1", 50));
        assert_ne!(order, (0..50).collect::<Vec<_>>());
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }
}
