//! Exact top-k retrieval over ALS item factors for serving, reading a quarter of the bytes.
//!
//! Why: scoring every item for every request reads the whole item-factor matrix (100,000 ×
//! 64 × f32 is 25.6 MB, more than a core's share of cache), so a request costs about 1 ms of
//! memory traffic and two cores cannot hold 2,000 req/s. Here the scan runs over 8-bit codes
//! (one scale per item) against a 16-bit copy of the user vector, in exact integer
//! arithmetic. Each approximate score comes with a guaranteed error bound, so only items
//! whose upper bound reaches the k-th best lower bound are rescored in f32; the answer is the
//! same top k a full f32 scan gives (same scores, same tie order), not an approximation.
//!
//! The bound: with `y ≈ s_y·q_y` (|error| ≤ s_y/2 per entry) and `u ≈ s_u·q_u` (≤ s_u/2),
//! `|u·y − s_u·s_y·(q_u·q_y)| ≤ s_y/2·‖u‖₁ + s_y·s_u/2·‖q_y‖₁`, plus a margin for f32
//! rounding of the exact score.

/// Item factors quantised for the scan, with the f32 originals kept for rescoring.
pub struct FactorIndex {
    factors: usize,
    /// Row stride of `codes`: `factors` rounded up to 16 (zero padded).
    stride: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    /// `‖q_y‖₁` per item.
    code_l1: Vec<u32>,
}

/// Widest code an item factor gets.
const CODE_MAX: f32 = 127.0;
/// Widest code a user factor gets (less for very wide factors, so sums fit in i32).
fn user_code_max(stride: usize) -> f32 {
    (i32::MAX as f32 / (stride as f32 * CODE_MAX))
        .min(32767.0)
        .floor()
}

/// The f32 score `u·y` every path of serving agrees on (sequential sum).
pub fn exact_dot(u: &[f32], y: &[f32]) -> f32 {
    u.iter().zip(y).map(|(a, b)| a * b).sum()
}

impl FactorIndex {
    /// None when a factor is not finite (the scan's bounds would mean nothing).
    pub fn build(item_factors: &[f32], factors: usize) -> Option<FactorIndex> {
        if factors == 0 || item_factors.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let stride = factors.div_ceil(16) * 16;
        let items = item_factors.len() / factors;
        let mut codes = vec![0i8; items * stride];
        let mut scales = Vec::with_capacity(items);
        let mut code_l1 = Vec::with_capacity(items);
        for (row, out) in item_factors
            .chunks_exact(factors)
            .zip(codes.chunks_exact_mut(stride))
        {
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = if max > 0.0 { max / CODE_MAX } else { 1.0 };
            let mut l1 = 0u32;
            for (c, v) in out.iter_mut().zip(row) {
                let q = (v / scale).round().clamp(-CODE_MAX, CODE_MAX);
                *c = q as i8;
                l1 += q.abs() as u32;
            }
            scales.push(scale);
            code_l1.push(l1);
        }
        Some(FactorIndex {
            factors,
            stride,
            codes,
            scales,
            code_l1,
        })
    }

    pub fn items(&self) -> usize {
        self.scales.len()
    }

    /// The `k` best items for `user` by exact f32 score `exact_dot(user, y_i)` (ties by lower
    /// index), skipping `excluded` ones; equal to a full scan with [`super::eval::top_k`].
    /// `item_factors` are the f32 rows the index was built from.
    pub fn top_k(
        &self,
        item_factors: &[f32],
        user: &[f32],
        k: usize,
        excluded: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let f = self.factors;
        debug_assert_eq!(item_factors.len(), self.items() * f);
        let exact = |i: u32| exact_dot(user, &item_factors[i as usize * f..(i as usize + 1) * f]);
        let user_max = user.iter().fold(0f32, |m, v| m.max(v.abs()));
        if k == 0 || user.iter().any(|v| !v.is_finite()) || user_max == 0.0 {
            // Every score is 0 (or the vector is unusable): nothing to prune with.
            let scores: Vec<f32> = (0..self.items() as u32).map(exact).collect();
            return super::eval::top_k(&scores, k, excluded);
        }
        let code_max = user_code_max(self.stride);
        let user_scale = user_max / code_max;
        let mut user_codes = vec![0i16; self.stride];
        for (c, v) in user_codes.iter_mut().zip(user) {
            *c = (v / user_scale).round().clamp(-code_max, code_max) as i16;
        }
        let user_l1: f64 = user.iter().map(|v| v.abs() as f64).sum();
        // f32 rounding of the exact score: at most f·2⁻²⁴·Σ|u||y| ≤ f·2⁻²⁴·‖u‖₁·127·s_y; four
        // times that for safety.
        let rounding = f as f64 * CODE_MAX as f64 * 4.0 / (1u64 << 24) as f64 * user_l1;
        let mut dots = vec![0i32; self.items()];
        integer_dots(&self.codes, self.stride, &user_codes, &mut dots);
        // Pass 1: the k-th best lower bound among allowed items.
        let bound = |i: usize| -> (f64, f64) {
            let s = self.scales[i] as f64;
            let approx = user_scale as f64 * s * dots[i] as f64;
            let err = s * (0.5 * user_l1 + 0.5 * user_scale as f64 * self.code_l1[i] as f64)
                + s * rounding
                + 1e-9 * approx.abs();
            (approx - err, approx + err)
        };
        let mut lower = super::eval::TopK::new(k);
        let mut candidates: Vec<(u32, f64)> = Vec::new();
        for i in 0..self.items() {
            let (lo, hi) = bound(i);
            // An item whose upper bound is below the k-th best lower bound so far cannot make
            // the top k; the threshold only rises, so it is safe to drop it now.
            if lower.threshold().is_some_and(|t| hi < t as f64) {
                continue;
            }
            if excluded(i as u32) {
                continue;
            }
            lower.push(i as u32, round_down(lo));
            candidates.push((i as u32, hi));
        }
        let floor = lower.threshold().map(|t| t as f64);
        let mut best = super::eval::TopK::new(k);
        for (i, hi) in candidates {
            if floor.is_some_and(|t| hi < t) {
                continue;
            }
            let s = exact(i);
            if s.is_finite() {
                best.push(i, s);
            }
        }
        best.into_sorted()
    }
}

/// The largest f32 not above `x`, so a lower bound stays a lower bound after narrowing.
fn round_down(x: f64) -> f32 {
    let y = x as f32;
    if (y as f64) > x { y.next_down() } else { y }
}

/// `dots[i] = Σ_j codes[i·stride + j] · user[j]`, exact in i32 (see [`user_code_max`]).
fn integer_dots(codes: &[i8], stride: usize, user: &[i16], dots: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `integer_dots_avx2` only needs AVX2, detected just above.
        unsafe { integer_dots_avx2(codes, stride, user, dots) };
        return;
    }
    for (row, out) in codes.chunks_exact(stride).zip(dots.iter_mut()) {
        *out = row
            .iter()
            .zip(user)
            .map(|(&c, &u)| c as i32 * u as i32)
            .sum();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn integer_dots_avx2(codes: &[i8], stride: usize, user: &[i16], dots: &mut [i32]) {
    use std::arch::x86_64::*;
    debug_assert_eq!(stride % 16, 0);
    debug_assert_eq!(user.len(), stride);
    let lanes = stride / 16;
    // SAFETY: every load reads 16 codes or 16 user values inside a row of `stride` entries
    // (a multiple of 16), and the rows are in bounds by `chunks_exact`.
    unsafe {
        let user_vecs: Vec<__m256i> = (0..lanes)
            .map(|l| _mm256_loadu_si256(user.as_ptr().add(l * 16) as *const __m256i))
            .collect();
        for (row, out) in codes.chunks_exact(stride).zip(dots.iter_mut()) {
            let mut acc = _mm256_setzero_si256();
            for (l, u) in user_vecs.iter().enumerate() {
                let c8 = _mm_loadu_si128(row.as_ptr().add(l * 16) as *const __m128i);
                let c16 = _mm256_cvtepi8_epi16(c8);
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(c16, *u));
            }
            let half = _mm_add_epi32(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256(acc, 1),
            );
            let quarter = _mm_add_epi32(half, _mm_unpackhi_epi64(half, half));
            let one = _mm_add_epi32(quarter, _mm_shuffle_epi32(quarter, 0b01));
            *out = _mm_cvtsi128_si32(one);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::eval::top_k;
    use rand::{Rng, SeedableRng};

    fn brute(item_factors: &[f32], f: usize, user: &[f32]) -> Vec<f32> {
        item_factors
            .chunks_exact(f)
            .map(|y| exact_dot(user, y))
            .collect()
    }

    #[test]
    fn integer_kernel_matches_the_scalar_sum() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let stride = 48;
        let codes: Vec<i8> = (0..stride * 37)
            .map(|_| rng.random_range(-127..=127))
            .collect();
        let user: Vec<i16> = (0..stride)
            .map(|_| rng.random_range(-32767..=32767))
            .collect();
        let mut fast = vec![0; 37];
        integer_dots(&codes, stride, &user, &mut fast);
        let slow: Vec<i32> = codes
            .chunks_exact(stride)
            .map(|r| {
                r.iter()
                    .zip(&user)
                    .map(|(&c, &u)| c as i32 * u as i32)
                    .sum()
            })
            .collect();
        assert_eq!(fast, slow);
    }

    #[test]
    fn equals_a_full_scan_on_random_factors_with_exclusions_and_ties() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for &(items, f) in &[(2000usize, 64usize), (500, 10), (300, 3), (50, 16)] {
            let mut y: Vec<f32> = (0..items * f)
                .map(|_| (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 0.3)
                .collect();
            // Duplicate rows make exact ties; a zero row scores 0; scaled rows stress the bound.
            y.copy_within(0..f, f * 7);
            y[f * 11..f * 12].fill(0.0);
            for v in &mut y[f * 13..f * 14] {
                *v *= 40.0;
            }
            let index = FactorIndex::build(&y, f).unwrap();
            for trial in 0..40 {
                let user: Vec<f32> = (0..f)
                    .map(|_| (rng.random::<f32>() - 0.5) * if trial % 5 == 0 { 1e-3 } else { 1.0 })
                    .collect();
                let k = [1, 10, 50, items][trial % 4].min(items);
                let modulus = 2 + trial as u32 % 7;
                let excluded = |i: u32| i % modulus == 1;
                let want = top_k(&brute(&y, f, &user), k, excluded);
                let got = index.top_k(&y, &user, k, excluded);
                assert_eq!(got, want, "items {items}, factors {f}, trial {trial}");
            }
        }
    }

    #[test]
    fn a_zero_user_vector_and_non_finite_factors_are_handled() {
        let y = vec![0.5f32, -0.25, 1.0, 0.0, 0.0, 2.0];
        let index = FactorIndex::build(&y, 2).unwrap();
        let got = index.top_k(&y, &[0.0, 0.0], 2, |_| false);
        assert_eq!(got, top_k(&brute(&y, 2, &[0.0, 0.0]), 2, |_| false));
        assert!(FactorIndex::build(&[1.0, f32::NAN], 2).is_none());
    }
}
