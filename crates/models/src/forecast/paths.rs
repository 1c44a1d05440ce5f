//! Prediction intervals from simulated sample paths, for models whose forecast distribution
//! has no closed form (multiplicative ETS, CES).
//!
//! Why one place: the draws, their sorting and the quantile rule decide the bands, and the
//! models that simulate must agree on them (numpy's default linear interpolation, as the
//! reference implementations use). Seeds are fixed by the callers, so bands are reproducible.

use rand::Rng;
use rand::rngs::StdRng;

use super::{Forecast, Interval, valid_levels};

/// Sample paths per simulated forecast.
pub const PATHS: usize = 5000;

/// One standard normal draw (Box–Muller; one draw per call is plenty for 5 000 paths).
pub fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Empirical `p` quantile of ascending `d` (linear interpolation, numpy's default).
pub fn quantile_sorted(d: &[f64], p: f64) -> f64 {
    let pos = p * (d.len() - 1) as f64;
    let i = pos.floor() as usize;
    let frac = pos - i as f64;
    if i + 1 < d.len() {
        d[i] * (1.0 - frac) + d[i + 1] * frac
    } else {
        d[i]
    }
}

/// `mean` with the central bands at `levels` from per-step draws (`draws[k]`: the paths'
/// values at step k+1), which are sorted here.
pub fn forecast_from_draws(mean: Vec<f64>, mut draws: Vec<Vec<f64>>, levels: &[f64]) -> Forecast {
    for d in &mut draws {
        d.sort_by(f64::total_cmp);
    }
    let intervals = valid_levels(levels)
        .map(|level| {
            let a = (1.0 - level / 100.0) / 2.0;
            Interval {
                level,
                lower: draws.iter().map(|d| quantile_sorted(d, a)).collect(),
                upper: draws.iter().map(|d| quantile_sorted(d, 1.0 - a)).collect(),
            }
        })
        .collect();
    Forecast { mean, intervals }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn normal_draws_give_normal_bands() {
        let mut rng = StdRng::seed_from_u64(7);
        let draws = vec![
            (0..20_000)
                .map(|_| 2.0 * standard_normal(&mut rng))
                .collect(),
        ];
        let fc = forecast_from_draws(vec![0.0], draws, &[95.0]);
        let b = fc.interval(95.0).unwrap();
        assert!((b.upper[0] - 2.0 * 1.959_964).abs() < 0.1, "{b:?}");
        assert!((b.lower[0] + 2.0 * 1.959_964).abs() < 0.1, "{b:?}");
        assert_eq!(quantile_sorted(&[1.0, 2.0, 4.0], 0.75), 3.0);
    }
}
