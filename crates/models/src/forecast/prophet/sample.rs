//! Prediction bands of a Prophet-style model by simulation, as the `prophet` package draws
//! them for a MAP fit: future changepoints arrive at the rate the history had (as many per
//! unit of trend time as were placed in the history), each changes the slope by a Laplace
//! draw whose scale is the mean absolute fitted change, and Gaussian noise of the fitted σ is
//! added. Seasonal and holiday effects carry no uncertainty (the package's behaviour without
//! MCMC).
//!
//! Why simulated: the slope changes compound along the horizon, so the band widens faster
//! than √h; the draws give that shape without a closed form. The seed is fixed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::Prophet;
use crate::forecast::Forecast;
use crate::forecast::paths::{forecast_from_draws, standard_normal};

/// Sample paths per forecast (the `prophet` package's `uncertainty_samples`).
pub const SAMPLES: usize = 1000;
const SEED: u64 = 0x5EED_0F7E;

/// What the simulation needs of one forecast step.
pub(super) struct Step {
    /// Trend time (past 1).
    pub t: f64,
    /// The trend's linear predictor (the trend, or a logistic trend's logit): a simulated
    /// slope change shifts it, and a logistic trend passes the shift through its curve.
    pub base: f64,
    /// What a change of the trend is multiplied by (1 when additive).
    pub scale: f64,
}

/// `mean` with the bands at `levels`, one [`Step`] per forecast step.
pub(super) fn bands(model: &Prophet, mean: Vec<f64>, steps: &[Step], levels: &[f64]) -> Forecast {
    let h = mean.len();
    if h == 0 {
        return forecast_from_draws(mean, Vec::new(), levels);
    }
    let layout = &model.layout;
    let deltas = layout.deltas(&model.theta);
    let horizon_end = steps.iter().map(|s| s.t).fold(1.0_f64, f64::max);
    let rate = layout.changepoints.len() as f64 * (horizon_end - 1.0);
    let scale = deltas.iter().map(|d| d.abs()).sum::<f64>() / deltas.len().max(1) as f64 + 1e-8;
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut draws = vec![Vec::with_capacity(SAMPLES); h];
    let mut changes = Vec::new();
    for _ in 0..SAMPLES {
        changes.clear();
        if !deltas.is_empty() {
            for _ in 0..poisson(&mut rng, rate) {
                let at = 1.0 + rng.random::<f64>() * (horizon_end - 1.0);
                changes.push((at, laplace(&mut rng, scale)));
            }
        }
        for (i, step) in steps.iter().enumerate() {
            let shift: f64 = changes
                .iter()
                .map(|(at, d)| d * (step.t - at).max(0.0))
                .sum();
            let change = layout.trend_at(step.base + shift) - layout.trend_at(step.base);
            let noise = model.sigma * standard_normal(&mut rng);
            draws[i].push(mean[i] + model.y_scale * (change * step.scale + noise));
        }
    }
    forecast_from_draws(mean, draws, levels)
}

/// A Poisson draw by counting uniform products (fine for the small rates here).
fn poisson(rng: &mut StdRng, rate: f64) -> usize {
    if rate <= 0.0 {
        return 0;
    }
    if rate > 500.0 {
        let draw = rate + rate.sqrt() * standard_normal(rng);
        return draw.round().max(0.0) as usize;
    }
    let limit = (-rate).exp();
    let mut count = 0;
    let mut product: f64 = rng.random();
    while product > limit {
        count += 1;
        product *= rng.random::<f64>();
    }
    count
}

/// A Laplace(0, scale) draw by inverting its distribution function.
fn laplace(rng: &mut StdRng, scale: f64) -> f64 {
    let u: f64 = rng.random::<f64>() - 0.5;
    -scale * u.signum() * (1.0 - 2.0 * u.abs()).max(1e-300).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_and_laplace_draws_have_their_moments() {
        let mut rng = StdRng::seed_from_u64(1);
        let n = 20_000;
        let mean = (0..n).map(|_| poisson(&mut rng, 3.5) as f64).sum::<f64>() / n as f64;
        assert!((mean - 3.5).abs() < 0.08, "{mean}");
        let abs = (0..n).map(|_| laplace(&mut rng, 0.2).abs()).sum::<f64>() / n as f64;
        assert!((abs - 0.2).abs() < 0.01, "{abs}");
    }
}
