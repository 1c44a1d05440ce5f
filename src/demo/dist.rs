//! The few random distributions the demo world needs, written out instead of pulling in
//! `rand_distr`: the world must be bit-for-bit reproducible from a seed, and owning these
//! twenty-line samplers means a dependency bump can never silently change every demo.
//!
//! All samplers take `&mut StdRng` (ChaCha12 in `rand` 0.9) so each module can own its own
//! seeded stream (see [`stream`]).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// An independent, reproducible stream for one part of the world. Parts get their own
/// stream so that, for instance, asking for more users does not reshuffle the catalogue.
pub fn stream(seed: u64, part: &str) -> StdRng {
    // FNV-1a over the part name, mixed into the seed with SplitMix64's finaliser.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in part.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Uniform in (0, 1]: safe to take the logarithm of.
fn open_unit(rng: &mut StdRng) -> f64 {
    1.0 - rng.random::<f64>()
}

/// Standard normal (Box-Muller).
pub fn normal(rng: &mut StdRng) -> f64 {
    let u1 = open_unit(rng);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal with the given median and log-scale spread.
pub fn lognormal(rng: &mut StdRng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// Exponential with the given mean.
pub fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * open_unit(rng).ln()
}

/// Gamma(shape, scale) by Marsaglia and Tsang (2000); shapes below 1 use the
/// `Gamma(k) = Gamma(k + 1) * U^(1/k)` boost.
pub fn gamma(rng: &mut StdRng, shape: f64, scale: f64) -> f64 {
    if shape < 1.0 {
        let u = open_unit(rng);
        return gamma(rng, shape + 1.0, scale) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = open_unit(rng);
        if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d * v * scale;
        }
    }
}

/// `ln(k!)`: exact table for small k, Stirling's series beyond (error < 1e-10 there).
fn ln_factorial(k: f64) -> f64 {
    const TABLE: [f64; 10] = [
        0.0,
        0.0,
        std::f64::consts::LN_2,
        1.791_759_469_228_055,
        3.178_053_830_347_146,
        4.787_491_742_782_046,
        6.579_251_212_010_101,
        8.525_161_361_065_415,
        10.604_602_902_745_25,
        12.801_827_480_081_469,
    ];
    if k < 10.0 {
        return TABLE[k as usize];
    }
    let n = k + 1.0;
    (n - 0.5) * n.ln() - n + 0.5 * std::f64::consts::TAU.ln() + 1.0 / (12.0 * n)
        - 1.0 / (360.0 * n.powi(3))
}

/// Poisson: Knuth's product method for small means, Hörmann's PTRS (transformed rejection
/// with squeeze, 1993) above, so large means cost O(1).
pub fn poisson(rng: &mut StdRng, lambda: f64) -> u64 {
    if lambda <= 0.0 || !lambda.is_finite() {
        return 0;
    }
    if lambda < 10.0 {
        let limit = (-lambda).exp();
        let mut k = 0u64;
        let mut p = rng.random::<f64>();
        while p > limit {
            k += 1;
            p *= rng.random::<f64>();
        }
        return k;
    }
    let slam = lambda.sqrt();
    let loglam = lambda.ln();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.024_83 * b;
    let inv_alpha = 1.123_9 + 1.132_8 / (b - 3.4);
    let vr = 0.927_7 - 3.622_4 / (b - 2.0);
    loop {
        let u = rng.random::<f64>() - 0.5;
        let v = open_unit(rng);
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
        if us >= 0.07 && v <= vr {
            return k as u64;
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        if v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln()
            <= -lambda + k * loglam - ln_factorial(k)
        {
            return k as u64;
        }
    }
}

/// Negative binomial as a gamma-Poisson mixture: mean `mean`, variance
/// `mean + mean^2 / dispersion`. Retail demand is over-dispersed; plain Poisson is too tidy.
pub fn negative_binomial(rng: &mut StdRng, mean: f64, dispersion: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    let rate = gamma(rng, dispersion, mean / dispersion);
    poisson(rng, rate)
}

/// 1 + Geometric: number of trials up to and including the first success.
pub fn geometric(rng: &mut StdRng, p: f64) -> u64 {
    let p = p.clamp(1e-9, 1.0);
    if p >= 1.0 {
        return 1;
    }
    1 + (open_unit(rng).ln() / (1.0 - p).ln()).floor() as u64
}

/// Picks an index with probability proportional to its weight.
pub fn weighted(rng: &mut StdRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// Cumulative weights for repeated sampling by binary search, also within a sub-range
/// (the items of one category are contiguous, so "an item of this category, weighted by
/// this user's taste" is a range draw on the user's one table).
#[derive(Debug, Clone, Default)]
pub struct Cumulative {
    cum: Vec<f64>,
}

impl Cumulative {
    /// Refills the table from `weights` (reusing its buffer).
    pub fn fill(&mut self, weights: impl Iterator<Item = f64>) {
        self.cum.clear();
        let mut total = 0.0;
        for w in weights {
            total += w.max(0.0);
            self.cum.push(total);
        }
    }

    pub fn len(&self) -> usize {
        self.cum.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cum.is_empty()
    }

    /// An index in `lo..hi`, weighted; `None` when the range has no weight.
    pub fn sample_in(&self, rng: &mut StdRng, lo: usize, hi: usize) -> Option<usize> {
        if lo >= hi || hi > self.cum.len() {
            return None;
        }
        let base = if lo == 0 { 0.0 } else { self.cum[lo - 1] };
        let top = self.cum[hi - 1];
        if top <= base {
            return None;
        }
        let x = base + rng.random::<f64>() * (top - base);
        let i = self.cum[lo..hi].partition_point(|c| *c <= x) + lo;
        Some(i.min(hi - 1))
    }

    /// An index over the whole table.
    pub fn sample(&self, rng: &mut StdRng) -> Option<usize> {
        self.sample_in(rng, 0, self.cum.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, v)
    }

    #[test]
    fn samplers_have_their_moments() {
        let mut rng = stream(1, "test");
        for lambda in [0.3, 4.0, 25.0, 400.0] {
            let xs: Vec<f64> = (0..40_000)
                .map(|_| poisson(&mut rng, lambda) as f64)
                .collect();
            let (m, v) = mean_var(&xs);
            assert!(
                (m - lambda).abs() < 0.05 * lambda + 0.02,
                "poisson {lambda}: mean {m}"
            );
            assert!(
                (v - lambda).abs() < 0.1 * lambda + 0.05,
                "poisson {lambda}: var {v}"
            );
        }
        let xs: Vec<f64> = (0..40_000).map(|_| gamma(&mut rng, 2.5, 2.0)).collect();
        let (m, v) = mean_var(&xs);
        assert!(
            (m - 5.0).abs() < 0.1 && (v - 10.0).abs() < 0.5,
            "gamma {m} {v}"
        );
        let xs: Vec<f64> = (0..40_000)
            .map(|_| negative_binomial(&mut rng, 6.0, 3.0) as f64)
            .collect();
        let (m, v) = mean_var(&xs);
        assert!(
            (m - 6.0).abs() < 0.15 && (v - 18.0).abs() < 1.5,
            "nb {m} {v}"
        );
        let xs: Vec<f64> = (0..40_000)
            .map(|_| geometric(&mut rng, 0.25) as f64)
            .collect();
        assert!((mean_var(&xs).0 - 4.0).abs() < 0.1);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: u64 = stream(7, "users").random();
        let b: u64 = stream(7, "users").random();
        let c: u64 = stream(7, "items").random();
        let d: u64 = stream(8, "users").random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn cumulative_samples_within_ranges() {
        let mut rng = stream(3, "cum");
        let mut c = Cumulative::default();
        c.fill([1.0, 0.0, 3.0, 1.0].into_iter());
        let mut hits = [0usize; 4];
        for _ in 0..10_000 {
            hits[c.sample(&mut rng).unwrap()] += 1;
        }
        assert_eq!(hits[1], 0);
        assert!(hits[2] > 5_000);
        for _ in 0..100 {
            assert_eq!(c.sample_in(&mut rng, 1, 3), Some(2));
        }
        assert_eq!(c.sample_in(&mut rng, 1, 2), None);
    }
}
