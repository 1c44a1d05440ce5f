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
    /// Codes per item: `factors` rounded up to 16 (zero padded).
    stride: usize,
    /// How the scan multiplies, which decides the code layout and the user's code width.
    kernel: Kernel,
    /// The codes in blocks of [`BLOCK`] items (see [`block_codes`]).
    codes: Vec<i8>,
    /// `Σ_j code(i, j)` per item, padded to whole blocks ([`Kernel::Quads`] only).
    code_sums: Vec<i32>,
    scales: Vec<f32>,
    /// `‖q_y‖₁ / 2` per item (exact in f32: a small integer or a half).
    half_l1: Vec<f32>,
}

/// The integer kernel of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// 16-bit user codes against pairs of 8-bit item codes (`madd`: AVX-512BW, AVX2, scalar).
    Pairs,
    /// 8-bit user codes, offset to unsigned, against quads of item codes (AVX-512 VNNI
    /// `dpbusd`: one instruction per 64 code bytes instead of three per 32). The offset is
    /// taken back exactly with each item's code sum.
    Quads,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512vnni")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            return Kernel::Quads;
        }
        Kernel::Pairs
    }

    /// Widest code a user factor gets.
    fn user_code_max(self, stride: usize) -> f32 {
        match self {
            Kernel::Pairs => user_code_max(stride),
            Kernel::Quads => CODE_MAX,
        }
    }
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
        Self::build_with(item_factors, factors, Kernel::detect())
    }

    /// [`build`](Self::build) for a given kernel (the CPU must run it).
    pub fn build_with(item_factors: &[f32], factors: usize, kernel: Kernel) -> Option<FactorIndex> {
        if factors == 0 || item_factors.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let stride = factors.div_ceil(16) * 16;
        let items = item_factors.len() / factors;
        let mut codes = vec![0i8; items * stride];
        let mut scales = Vec::with_capacity(items);
        let mut half_l1 = Vec::with_capacity(items);
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
            half_l1.push(0.5 * l1 as f32);
        }
        let (blocked, code_sums) = match kernel {
            Kernel::Pairs => (block_codes(&codes, stride), Vec::new()),
            Kernel::Quads => (block_quads(&codes, stride), code_sums(&codes, stride)),
        };
        Some(FactorIndex {
            factors,
            stride,
            kernel,
            codes: blocked,
            code_sums,
            scales,
            half_l1,
        })
    }

    pub fn items(&self) -> usize {
        self.scales.len()
    }

    /// The f32 score of item `i` every path agrees on.
    fn exact(&self, item_factors: &[f32], user: &[f32], i: u32) -> f32 {
        let f = self.factors;
        exact_dot(user, &item_factors[i as usize * f..(i as usize + 1) * f])
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
        let exact = |i: u32| self.exact(item_factors, user, i);
        let user_max = user.iter().fold(0f32, |m, v| m.max(v.abs()));
        if k == 0 || user.iter().any(|v| !v.is_finite()) || user_max == 0.0 {
            // Every score is 0 (or the vector is unusable): nothing to prune with.
            let scores: Vec<f32> = (0..self.items() as u32).map(exact).collect();
            return super::eval::top_k(&scores, k, excluded);
        }
        let code_max = self.kernel.user_code_max(self.stride);
        let user_scale = user_max / code_max;
        let mut user_codes = vec![0i16; self.stride];
        for (c, v) in user_codes.iter_mut().zip(user) {
            *c = (v / user_scale).round().clamp(-code_max, code_max) as i16;
        }
        let user_l1: f64 = user.iter().map(|v| v.abs() as f64).sum();
        // f32 rounding of the exact score: at most f·2⁻²⁴·Σ|u||y| ≤ f·2⁻²⁴·‖u‖₁·127·s_y; four
        // times that for safety.
        let rounding = f as f64 * CODE_MAX as f64 * 4.0 / (1u64 << 24) as f64 * user_l1;
        let bounds = Bounds {
            user_scale,
            // Rounded up, so the f32 error term only grows.
            per_scale: ((0.5 * user_l1 + rounding) as f32).next_up(),
        };
        let lanes = match self.kernel {
            Kernel::Pairs => user_pairs(&user_codes),
            Kernel::Quads => user_quads(&user_codes),
        };
        self.select(item_factors, user, k, &bounds, &lanes, excluded)
    }

    /// Pass 1 scans the codes chunk by chunk (integer dots and upper bounds of [`CHUNK`]
    /// items in buffers that stay in L1) and keeps the k-th best lower bound among allowed
    /// items, skipping blocks whose best upper bound is below it; pass 2 rescores in f32 only
    /// the candidates whose upper bound reaches the final one.
    fn select(
        &self,
        item_factors: &[f32],
        user: &[f32],
        k: usize,
        bounds: &Bounds,
        pairs: &[i32],
        excluded: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let exact = |i: u32| self.exact(item_factors, user, i);
        let mut lower = super::eval::TopK::new(k);
        let mut candidates: Vec<(u32, f64)> = Vec::new();
        let mut threshold = f32::NEG_INFINITY;
        let mut dots = [0i32; CHUNK];
        let mut upper = [0f32; CHUNK];
        let items = self.items();
        for start in (0..items).step_by(CHUNK) {
            let n = CHUNK.min(items - start);
            let codes =
                &self.codes[start * self.stride..][..n.div_ceil(BLOCK) * BLOCK * self.stride];
            match self.kernel {
                Kernel::Pairs => integer_dots(codes, self.stride, pairs, &mut dots[..n]),
                Kernel::Quads => {
                    let sums = &self.code_sums[start..][..n.div_ceil(BLOCK) * BLOCK];
                    quad_dots(codes, self.stride, pairs, sums, &mut dots[..n]);
                }
            }
            let scales = &self.scales[start..start + n];
            let half_l1 = &self.half_l1[start..start + n];
            bounds.uppers(scales, half_l1, &dots[..n], &mut upper[..n]);
            for (b, block) in upper[..n].chunks(BLOCK).enumerate() {
                // An item whose upper bound is below the k-th best lower bound so far cannot
                // make the top k; the threshold only rises, so it is safe to drop it now.
                if !reaches(block, threshold) {
                    continue;
                }
                for (t, &hi) in block.iter().enumerate() {
                    let at = b * BLOCK + t;
                    let i = (start + at) as u32;
                    if hi < threshold || excluded(i) {
                        continue;
                    }
                    let lo = bounds.lower(scales[at], half_l1[at], dots[at]);
                    lower.push(i, lo);
                    candidates.push((i, hi as f64));
                    threshold = lower.threshold().unwrap_or(f32::NEG_INFINITY);
                }
            }
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

/// Items scanned per chunk: a multiple of [`BLOCK`], small enough for its dots and bounds to
/// stay in L1 between the passes over them.
const CHUNK: usize = 1024;

/// Whether any upper bound of a block reaches `threshold`: for a full block one vector
/// compare and an OR, no branch per item.
#[inline(always)]
fn reaches(block: &[f32], threshold: f32) -> bool {
    let Ok(full) = <&[f32; BLOCK]>::try_from(block) else {
        return block.iter().any(|&h| h >= threshold);
    };
    let mut hit = 0u32;
    for &h in full {
        hit |= u32::from(h >= threshold);
    }
    hit != 0
}

/// The per-request constants of an item's score bounds, in f32 so the bounds of every item
/// compute in one vectorised pass. For item `i` with scale `s` and integer dot `d`:
/// `approx = user_scale·s·d`, `err = s·per_scale + user_scale·s·‖q_y‖₁/2`; f32 rounding of
/// these few operations (a few ulps) is covered by widening both bounds by 10⁻⁵ of
/// `|approx| + err`, so they stay bounds.
struct Bounds {
    user_scale: f32,
    /// `‖u‖₁/2` plus the f32 rounding allowance of the exact score, per unit of item scale.
    per_scale: f32,
}

/// Relative widening of the f32 bounds (see [`Bounds`]).
const BOUND_SLACK: f32 = 1e-5;

impl Bounds {
    #[inline(always)]
    fn approx_err(&self, scale: f32, half_l1: f32, dot: i32) -> (f32, f32) {
        let a = self.user_scale * scale;
        let approx = a * dot as f32;
        let err = scale * self.per_scale + a * half_l1;
        let slack = BOUND_SLACK * (approx.abs() + err) + f32::MIN_POSITIVE;
        (approx, err + slack)
    }

    fn lower(&self, scale: f32, half_l1: f32, dot: i32) -> f32 {
        let (approx, err) = self.approx_err(scale, half_l1, dot);
        approx - err
    }

    /// Every item's upper bound, in a loop the compiler vectorises.
    fn uppers(&self, scales: &[f32], half_l1: &[f32], dots: &[i32], out: &mut [f32]) {
        for (((o, &s), &h), &d) in out.iter_mut().zip(scales).zip(half_l1).zip(dots) {
            let (approx, err) = self.approx_err(s, h, d);
            *o = approx + err;
        }
    }
}

/// Items per block of the scan's layout.
const BLOCK: usize = 16;

/// Row-major codes (`stride` per item) in the scan's layout: blocks of [`BLOCK`] items (the
/// last one padded with zero items); inside a block, for each pair of dimensions `(2g,
/// 2g+1)`, the pair of every item in turn (32 bytes). One vector load then holds the same
/// two dimensions of many items, which multiply against the user's pair broadcast into
/// every lane and accumulate one item per lane: no horizontal sum per item, which took most
/// of the time of a row-per-item kernel.
fn block_codes(rows: &[i8], stride: usize) -> Vec<i8> {
    block_groups(rows, stride, 2)
}

/// Row-major codes in blocks of [`BLOCK`] items (the last one padded with zero items);
/// inside a block, for each group of `group` dimensions, the group of every item in turn.
fn block_groups(rows: &[i8], stride: usize, group: usize) -> Vec<i8> {
    let items = rows.len() / stride;
    let mut out = vec![0i8; items.div_ceil(BLOCK) * BLOCK * stride];
    for (i, row) in rows.chunks_exact(stride).enumerate() {
        let block = &mut out[(i / BLOCK) * BLOCK * stride..][..BLOCK * stride];
        let t = i % BLOCK;
        for (g, codes) in row.chunks_exact(group).enumerate() {
            block[(g * BLOCK + t) * group..][..group].copy_from_slice(codes);
        }
    }
    out
}

/// The integer dot of one item, `Σ_j code(i, j) · user[j]`, from the blocked layout.
fn block_dot(codes: &[i8], stride: usize, user: &[i16], item: usize) -> i32 {
    let block = &codes[(item / BLOCK) * BLOCK * stride..][..BLOCK * stride];
    let t = item % BLOCK;
    (0..stride / 2)
        .map(|g| {
            let pair = &block[g * 2 * BLOCK + 2 * t..][..2];
            pair[0] as i32 * user[2 * g] as i32 + pair[1] as i32 * user[2 * g + 1] as i32
        })
        .sum()
}

/// `dots[i] = Σ_j code(i, j) · user[j]` over codes in [`block_codes`] layout, exact in i32
/// (see [`user_code_max`]); `pairs` is the user's codes as [`user_pairs`].
fn integer_dots(codes: &[i8], stride: usize, pairs: &[i32], dots: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512bw") {
        // SAFETY: `integer_dots_avx512` only needs AVX-512F/BW, detected just above.
        unsafe { integer_dots_avx512(codes, stride, pairs, dots) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `integer_dots_avx2` only needs AVX2, detected just above.
        unsafe { integer_dots_avx2(codes, stride, pairs, dots) };
        return;
    }
    integer_dots_scalar(codes, stride, pairs, dots);
}

fn integer_dots_scalar(codes: &[i8], stride: usize, pairs: &[i32], dots: &mut [i32]) {
    let user: Vec<i16> = pairs
        .iter()
        .flat_map(|&p| [p as i16, (p >> 16) as i16])
        .collect();
    for (i, dot) in dots.iter_mut().enumerate() {
        *dot = block_dot(codes, stride, &user, i);
    }
}

/// The user's dimension pairs as the 32-bit lanes the kernels broadcast.
fn user_pairs(user: &[i16]) -> Vec<i32> {
    user.chunks_exact(2)
        .map(|p| (p[0] as u16 as u32 | (p[1] as u16 as u32) << 16) as i32)
        .collect()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn integer_dots_avx512(codes: &[i8], stride: usize, pairs: &[i32], dots: &mut [i32]) {
    use std::arch::x86_64::*;
    debug_assert_eq!(stride % 16, 0);
    debug_assert_eq!(pairs.len() * 2, stride);
    for (block, out) in codes
        .chunks_exact(BLOCK * stride)
        .zip(dots.chunks_mut(BLOCK))
    {
        let mut acc = _mm512_setzero_si512();
        for (g, u) in pairs.iter().enumerate() {
            // SAFETY: 32 bytes at `g·32` lie inside the block of `BLOCK·stride` bytes.
            let c8 =
                unsafe { _mm256_loadu_si256(block.as_ptr().add(g * 2 * BLOCK) as *const __m256i) };
            let u = _mm512_set1_epi32(*u);
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_cvtepi8_epi16(c8), u));
        }
        store_block(acc, out);
    }
}

/// The 16 lanes of `acc` into `out` (one block's dots; fewer for the last block): a full
/// block is stored directly, without a `memcpy` call.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn store_block(acc: std::arch::x86_64::__m512i, out: &mut [i32]) {
    use std::arch::x86_64::*;
    if out.len() == BLOCK {
        // SAFETY: `out` holds exactly 16 i32.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr() as *mut __m512i, acc) };
        return;
    }
    let mut lanes = [0i32; BLOCK];
    // SAFETY: `lanes` holds exactly 16 i32.
    unsafe { _mm512_storeu_si512(lanes.as_mut_ptr() as *mut __m512i, acc) };
    out.copy_from_slice(&lanes[..out.len()]);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn integer_dots_avx2(codes: &[i8], stride: usize, pairs: &[i32], dots: &mut [i32]) {
    use std::arch::x86_64::*;
    debug_assert_eq!(stride % 16, 0);
    debug_assert_eq!(pairs.len() * 2, stride);
    for (block, out) in codes
        .chunks_exact(BLOCK * stride)
        .zip(dots.chunks_mut(BLOCK))
    {
        // Items 0..8 and 8..16 of the block.
        let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for (g, u) in pairs.iter().enumerate() {
            // SAFETY: 32 bytes at `g·32` lie inside the block of `BLOCK·stride` bytes.
            let (a, b) = unsafe {
                let p = block.as_ptr().add(g * 2 * BLOCK);
                (
                    _mm_loadu_si128(p as *const __m128i),
                    _mm_loadu_si128(p.add(16) as *const __m128i),
                )
            };
            let u = _mm256_set1_epi32(*u);
            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_cvtepi8_epi16(a), u));
            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_cvtepi8_epi16(b), u));
        }
        if out.len() == BLOCK {
            // SAFETY: `out` holds exactly 16 i32, two stores of 8.
            unsafe {
                _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, lo);
                _mm256_storeu_si256(out.as_mut_ptr().add(8) as *mut __m256i, hi);
            }
            continue;
        }
        let mut lanes = [0i32; BLOCK];
        // SAFETY: `lanes` holds exactly 16 i32, two stores of 8.
        unsafe {
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, lo);
            _mm256_storeu_si256(lanes.as_mut_ptr().add(8) as *mut __m256i, hi);
        }
        out.copy_from_slice(&lanes[..out.len()]);
    }
}

/// Row-major codes in the [`Kernel::Quads`] layout: blocks of [`BLOCK`] items; inside a
/// block, for each quad of dimensions `(4g..4g+4)`, the quad of every item in turn (64
/// bytes, one vector: each 32-bit lane holds one item's four codes).
fn block_quads(rows: &[i8], stride: usize) -> Vec<i8> {
    block_groups(rows, stride, 4)
}

/// Each item's code sum, zero for the padding items of the last block.
fn code_sums(rows: &[i8], stride: usize) -> Vec<i32> {
    let items = rows.len() / stride;
    let mut sums: Vec<i32> = rows
        .chunks_exact(stride)
        .map(|r| r.iter().map(|&c| c as i32).sum())
        .collect();
    sums.resize(items.div_ceil(BLOCK) * BLOCK, 0);
    sums
}

/// The user's codes offset by 128 (so unsigned bytes), four dimensions per 32-bit lane.
fn user_quads(user: &[i16]) -> Vec<i32> {
    user.chunks_exact(4)
        .map(|q| {
            let b = |j: usize| (q[j] + 128) as u8 as u32;
            (b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24) as i32
        })
        .collect()
}

/// `dots[i] = Σ_j code(i, j) · user[j]` over codes in [`block_quads`] layout: the kernel sums
/// `(user[j] + 128) · code(i, j)` and takes back `128 · Σ_j code(i, j)`, exactly.
fn quad_dots(codes: &[i8], stride: usize, quads: &[i32], sums: &[i32], dots: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512vnni")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        // SAFETY: `quad_dots_vnni` needs AVX-512F/BW/VNNI, detected just above.
        unsafe { quad_dots_vnni(codes, stride, quads, sums, dots) };
        return;
    }
    quad_dots_scalar(codes, stride, quads, sums, dots);
}

fn quad_dots_scalar(codes: &[i8], stride: usize, quads: &[i32], sums: &[i32], dots: &mut [i32]) {
    for (i, dot) in dots.iter_mut().enumerate() {
        let block = &codes[(i / BLOCK) * BLOCK * stride..][..BLOCK * stride];
        let t = i % BLOCK;
        let offset: i32 = (0..stride / 4)
            .map(|g| {
                let quad = &block[g * 4 * BLOCK + 4 * t..][..4];
                (0..4)
                    .map(|j| ((quads[g] >> (8 * j)) & 0xff) * quad[j] as i32)
                    .sum::<i32>()
            })
            .sum();
        *dot = offset - 128 * sums[i];
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn quad_dots_vnni(codes: &[i8], stride: usize, quads: &[i32], sums: &[i32], dots: &mut [i32]) {
    use std::arch::x86_64::*;
    debug_assert_eq!(stride % 16, 0);
    debug_assert_eq!(quads.len() * 4, stride);
    for ((block, out), sum) in codes
        .chunks_exact(BLOCK * stride)
        .zip(dots.chunks_mut(BLOCK))
        .zip(sums.chunks_exact(BLOCK))
    {
        let mut acc = _mm512_setzero_si512();
        for (g, q) in quads.iter().enumerate() {
            // SAFETY: 64 bytes at `g·64` lie inside the block of `BLOCK·stride` bytes.
            let c = unsafe { _mm512_loadu_si512(block.as_ptr().add(g * 4 * BLOCK) as *const _) };
            acc = _mm512_dpbusd_epi32(acc, _mm512_set1_epi32(*q), c);
        }
        // SAFETY: `sum` holds exactly 16 i32.
        let s = unsafe { _mm512_loadu_si512(sum.as_ptr() as *const _) };
        let acc = _mm512_sub_epi32(acc, _mm512_slli_epi32::<7>(s));
        store_block(acc, out);
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

    /// Each row's dot with `user`, summed the obvious way.
    fn plain_dots(codes: &[i8], stride: usize, user: &[i16]) -> Vec<i32> {
        codes
            .chunks_exact(stride)
            .map(|r| r.iter().zip(user).map(|(&c, &u)| c as i32 * u as i32).sum())
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
        let blocked = block_codes(&codes, stride);
        let pairs = user_pairs(&user);
        let run = |kernel: fn(&[i8], usize, &[i32], &mut [i32])| {
            let mut out = vec![0; 37];
            kernel(&blocked, stride, &pairs, &mut out);
            out
        };
        // Every kernel this machine can run, not only the one detected first.
        let scalar = run(integer_dots_scalar);
        assert_eq!(run(integer_dots), scalar);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 detected.
                let avx2 = run(|c, s, u, d| unsafe { integer_dots_avx2(c, s, u, d) });
                assert_eq!(avx2, scalar);
            }
            if std::arch::is_x86_feature_detected!("avx512bw") {
                // SAFETY: AVX-512BW detected.
                let avx512 = run(|c, s, u, d| unsafe { integer_dots_avx512(c, s, u, d) });
                assert_eq!(avx512, scalar);
            }
        }
        let slow = plain_dots(&codes, stride, &user);
        assert_eq!(scalar, slow);
    }

    #[test]
    fn equals_a_full_scan_on_random_factors_with_exclusions_and_ties() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for &(items, f) in &[
            (2000usize, 64usize),
            (2053, 20),
            (500, 10),
            (300, 3),
            (50, 16),
        ] {
            let mut y: Vec<f32> = (0..items * f)
                .map(|_| (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 0.3)
                .collect();
            // Duplicate rows make exact ties; a zero row scores 0; scaled rows stress the bound.
            y.copy_within(0..f, f * 7);
            y[f * 11..f * 12].fill(0.0);
            for v in &mut y[f * 13..f * 14] {
                *v *= 40.0;
            }
            for kernel in kernels() {
                let index = FactorIndex::build_with(&y, f, kernel).unwrap();
                for trial in 0..40 {
                    let user: Vec<f32> = (0..f)
                        .map(|_| {
                            (rng.random::<f32>() - 0.5) * if trial % 5 == 0 { 1e-3 } else { 1.0 }
                        })
                        .collect();
                    let k = [1, 10, 50, items][trial % 4].min(items);
                    let modulus = 2 + trial as u32 % 7;
                    let excluded = |i: u32| i % modulus == 1;
                    let want = top_k(&brute(&y, f, &user), k, excluded);
                    let got = index.top_k(&y, &user, k, excluded);
                    assert_eq!(
                        got, want,
                        "{kernel:?}: items {items}, factors {f}, trial {trial}"
                    );
                }
            }
        }
    }

    /// Every kernel this machine can run.
    fn kernels() -> Vec<Kernel> {
        let mut out = vec![Kernel::Pairs];
        if Kernel::detect() == Kernel::Quads {
            out.push(Kernel::Quads);
        }
        out
    }

    #[test]
    fn quad_kernel_matches_the_plain_sum() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let stride = 48;
        let items = 37;
        let codes: Vec<i8> = (0..stride * items)
            .map(|_| rng.random_range(-127..=127))
            .collect();
        let user: Vec<i16> = (0..stride).map(|_| rng.random_range(-127..=127)).collect();
        let blocked = block_quads(&codes, stride);
        let sums = code_sums(&codes, stride);
        let quads = user_quads(&user);
        let slow = plain_dots(&codes, stride, &user);
        let mut scalar = vec![0; items];
        quad_dots_scalar(&blocked, stride, &quads, &sums, &mut scalar);
        assert_eq!(scalar, slow);
        let mut fast = vec![0; items];
        quad_dots(&blocked, stride, &quads, &sums, &mut fast);
        assert_eq!(fast, slow);
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
