//! Deterministic assignment: a user's variant is a pure function of (salt, user id), so every
//! replica agrees with nothing stored and no coordination.
//!
//! The hash is XXH3-128 (seed 0) of `len(salt) as u32 little-endian ‖ salt ‖ user id`, all
//! UTF-8 bytes; the low 64 bits modulo 10,000 give the bucket. The length prefix keeps
//! (`"ab"`, `"c"`) and (`"a"`, `"bc"`) apart; XXH3 is specified, fast and well mixed, so
//! buckets are uniform and two salts give independent buckets (see the tests). Any language
//! with an XXH3 binding computes the same bucket (`references/experiments/` checks Python's
//! `xxhash` against this code).
//!
//! Coverage does not reshuffle anyone: variant `k` owns the bucket range starting at the sum
//! of the weights before it and `coverage × weight_k` wide, so raising coverage only adds
//! users, and the users outside every range are held out (served the default).

use twox_hash::XxHash3_128;

/// Number of hash buckets.
pub const BUCKETS: u32 = 10_000;

/// The bucket of a user under a salt, in `0..BUCKETS`.
pub fn bucket(salt: &str, user_id: &str) -> u32 {
    let mut bytes = Vec::with_capacity(4 + salt.len() + user_id.len());
    bytes.extend_from_slice(&(salt.len() as u32).to_le_bytes());
    bytes.extend_from_slice(salt.as_bytes());
    bytes.extend_from_slice(user_id.as_bytes());
    let h = XxHash3_128::oneshot(&bytes) as u64;
    (h % BUCKETS as u64) as u32
}

/// The bucket ranges `[start, end)` of the variants for the given weights (summing to 1) and
/// coverage in (0, 1].
pub fn ranges(weights: &[f64], coverage: f64) -> Vec<(u32, u32)> {
    let mut cum = 0.0;
    weights
        .iter()
        .map(|w| {
            let start = (cum * BUCKETS as f64).round() as u32;
            let end = ((cum + coverage * w) * BUCKETS as f64).round() as u32;
            cum += w;
            (start, end.min(BUCKETS))
        })
        .collect()
}

/// The variant index a bucket falls in, or None when it is held out.
pub fn variant_of(bucket: u32, ranges: &[(u32, u32)]) -> Option<usize> {
    ranges.iter().position(|&(s, e)| bucket >= s && bucket < e)
}

/// The variant index of a user, or None when held out.
pub fn assign(salt: &str, user_id: &str, weights: &[f64], coverage: f64) -> Option<usize> {
    variant_of(bucket(salt, user_id), &ranges(weights, coverage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_uniform_within_one_percent_over_a_million_ids() {
        let mut counts = vec![0u32; 10];
        let mut arms = [0u32; 3];
        let ranges = ranges(&[0.5, 0.3, 0.2], 1.0);
        let n = 1_000_000;
        let mut id = String::new();
        for i in 0..n {
            use std::fmt::Write;
            id.clear();
            write!(id, "user-{i}").unwrap();
            let b = bucket("salt-1", &id);
            counts[(b / 1000) as usize] += 1;
            arms[variant_of(b, &ranges).unwrap()] += 1;
        }
        let expected = n as f64 / 10.0;
        for c in &counts {
            assert!(
                ((*c as f64 - expected) / expected).abs() < 0.01,
                "{counts:?}"
            );
        }
        // Variant shares follow the weights within 1 % (relative) too.
        for (a, w) in arms.iter().zip([0.5, 0.3, 0.2]) {
            assert!(((*a as f64 / n as f64) - w).abs() / w < 0.01, "{arms:?}");
        }
    }

    #[test]
    fn salts_give_independent_assignments() {
        // Chi-square test of independence on the 2×2 table of arms in two experiments.
        let mut table = [[0f64; 2]; 2];
        let n = 200_000;
        for i in 0..n {
            let u = format!("u{i}");
            let a = assign("exp-a", &u, &[0.5, 0.5], 1.0).unwrap();
            let b = assign("exp-b", &u, &[0.5, 0.5], 1.0).unwrap();
            table[a][b] += 1.0;
        }
        let rows = [table[0][0] + table[0][1], table[1][0] + table[1][1]];
        let cols = [table[0][0] + table[1][0], table[0][1] + table[1][1]];
        let mut stat = 0.0;
        for r in 0..2 {
            for c in 0..2 {
                let e = rows[r] * cols[c] / n as f64;
                stat += (table[r][c] - e).powi(2) / e;
            }
        }
        // 1 degree of freedom: p < 0.001 would need a statistic above 10.83.
        assert!(
            stat < 10.83,
            "dependent assignments: {table:?}, χ² = {stat}"
        );
        // And a different salt does reshuffle: about half the users change arm.
        let same = table[0][0] + table[1][1];
        assert!((same / n as f64 - 0.5).abs() < 0.01);
    }

    #[test]
    fn coverage_holds_users_out_and_only_adds_when_raised() {
        let weights = [0.5, 0.5];
        let n = 100_000;
        let mut covered = 0;
        for i in 0..n {
            let u = format!("user-{i}");
            let low = assign("s", &u, &weights, 0.2);
            let high = assign("s", &u, &weights, 0.6);
            if let Some(v) = low {
                covered += 1;
                assert_eq!(high, Some(v), "raising coverage must not move {u}");
            }
        }
        assert!((covered as f64 / n as f64 - 0.2).abs() < 0.005);
        assert_eq!(ranges(&[0.5, 0.5], 1.0), vec![(0, 5000), (5000, 10_000)]);
        assert_eq!(ranges(&[0.5, 0.5], 0.1), vec![(0, 500), (5000, 5500)]);
    }

    #[test]
    fn buckets_match_pythons_xxhash() {
        // Written by references/experiments/make_fixtures.py with the `xxhash` package: a
        // second implementation in another process and language computes the same buckets.
        let f: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../references/experiments/fixtures.json"
        ))
        .unwrap();
        let cases = f["assignment"].as_array().unwrap();
        assert!(cases.len() >= 30);
        for c in cases {
            let (salt, user) = (c["salt"].as_str().unwrap(), c["user_id"].as_str().unwrap());
            assert_eq!(
                bucket(salt, user) as u64,
                c["bucket"].as_u64().unwrap(),
                "salt {salt:?}, user {user:?}"
            );
        }
    }

    #[test]
    fn non_ascii_ids_hash_by_their_utf8_bytes() {
        // Same text, same bucket; different normal forms are different ids.
        assert_eq!(bucket("s", "José"), bucket("s", "José"));
        assert_ne!(bucket("s", "Jos\u{e9}"), bucket("s", "Jose\u{301}"));
        let ids = ["用户-1", "пользователь", "🙂", "ünïcödé", "a\u{0}b"];
        for id in ids {
            assert!(bucket("salt", id) < BUCKETS);
        }
        // Length prefix: moving a character between salt and id changes the input.
        assert_ne!(
            XxHash3_128::oneshot(b"\x02\x00\x00\x00abc"),
            XxHash3_128::oneshot(b"\x01\x00\x00\x00abc")
        );
    }
}
