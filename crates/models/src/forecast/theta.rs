//! The Theta family as statsforecast's `AutoTheta` defines it (after Fiorucci et al. 2016,
//! "Models for optimising the theta method", and the R package forecTheta): Standard Theta
//! (STM), Optimised Theta (OTM), Dynamic Standard Theta (DSTM) and Dynamic Optimised Theta
//! (DOTM), with a seasonality test and classical decomposition in front.
//!
//! Why Theta: it won the M3 competition and is still a strong, cheap benchmark for yearly,
//! quarterly and "other" series — exactly the slow, short demand histories where ETS and
//! ARIMA overfit. It is simple exponential smoothing plus half the slope of a linear trend,
//! and the optimised/dynamic variants let the weight on the trend line (`theta`) and the trend
//! line itself adapt.
//!
//! The model, in state-space form (states at time t: smoothed level `ℓ`, running mean `ȳ`,
//! trend-line intercept `A` and slope `B`, one-step prediction `μ`):
//!
//! * `μ_t = ℓ_{t-1} + (1 − 1/θ)·(A_{t-1}(1−α)^t + B_{t-1}(1 − (1−α)^{t+1})/α)`
//! * `ℓ_t = α y_t + (1−α) ℓ_{t-1}`, `ȳ_t = (t ȳ_{t-1} + y_t)/(t+1)`
//! * standard models keep `A`, `B` at the least-squares line through the whole series; the
//!   dynamic ones update `B_t = ((t−1)B_{t-1} + 6(y_t − ȳ_{t-1})/(t+1))/(t+2)`,
//!   `A_t = ȳ_t − B_t(t+2)/2` (starting from `A_0 = y_0`, `B_0 = 0`).
//! * Initial state: `ℓ_0 = α y_0 + (1−α) ℓ*`, `μ_0 = ℓ* + (1−1/θ)(A_0 + B_0)` (dynamic:
//!   `μ_0 = y_0`), with `ℓ*` the estimated initial smoothed value.
//!
//! Estimation (as statsforecast 2.1.1): minimise the sum of squared one-step errors from the
//! fourth observation on, divided by the mean absolute value of the series, over `ℓ*` (start
//! `y_0/2`, free), `α` (start 0.5, in [0.1, 0.99]) and, for OTM/DOTM, `θ` (start 2, ≥ 1;
//! STM/DSTM fix θ = 2), with the Nelder–Mead variant of [`crate::numeric::nelder_mead`] and its
//! tolerances — so that the point forecasts reproduce statsforecast's, not a better optimum.
//! `AutoTheta` fits all four and keeps the lowest in-sample MSE.
//!
//! Seasonality: when `season ≥ 4` and the series has at least two seasons, the lag-`season`
//! autocorrelation is tested against its standard error under an MA(`season`−1) null
//! (`√((1 + 2Σ_{k<m} r_k²)/n)`) at 90 % two-sided, `|r_m|/se > 1.645` (as statsforecast); if
//! significant the series is divided by a multiplicative classical decomposition's seasonal
//! indices (additive when the data are not all positive or an index is below 0.01), the model
//! is fitted to the adjusted series and its forecasts are re-seasonalised with the last
//! season's indices.
//!
//! Prediction intervals (our own method, not statsforecast's): statsforecast simulates 200
//! paths with Gaussian errors; we use the analytic variance of the simple-exponential-smoothing
//! part that dominates it, `σ²(1 + (h−1)α²)`, Gaussian, with σ the sample standard deviation
//! (n−1) of the one-step errors from the fourth on — the same σ statsforecast simulates with —
//! then re-seasonalised like the mean. The trend-line updates during a dynamic model's
//! simulation add a little width this ignores; the reference test checks intervals loosely.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FittedModel, Forecast, ForecastError};
use crate::numeric::distributions::z_for_level;
use crate::numeric::nelder_mead::{NmOptions, nelder_mead};

/// The four Theta models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThetaModel {
    /// STM: θ = 2, fixed trend line.
    Standard,
    /// OTM: θ estimated, fixed trend line.
    Optimized,
    /// DSTM: θ = 2, trend line updated every step.
    DynamicStandard,
    /// DOTM: θ estimated, trend line updated every step.
    DynamicOptimized,
}

impl ThetaModel {
    pub const ALL: [ThetaModel; 4] = [
        ThetaModel::Standard,
        ThetaModel::Optimized,
        ThetaModel::DynamicStandard,
        ThetaModel::DynamicOptimized,
    ];

    /// statsforecast's abbreviation.
    pub fn code(self) -> &'static str {
        match self {
            ThetaModel::Standard => "STM",
            ThetaModel::Optimized => "OTM",
            ThetaModel::DynamicStandard => "DSTM",
            ThetaModel::DynamicOptimized => "DOTM",
        }
    }

    fn dynamic(self) -> bool {
        matches!(
            self,
            ThetaModel::DynamicStandard | ThetaModel::DynamicOptimized
        )
    }

    fn estimates_theta(self) -> bool {
        matches!(self, ThetaModel::Optimized | ThetaModel::DynamicOptimized)
    }
}

/// One state row: level, running mean, trend intercept, trend slope, prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
struct State {
    level: f64,
    mean: f64,
    a: f64,
    b: f64,
    mu: f64,
}

/// The Theta model's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Params {
    initial: f64,
    alpha: f64,
    theta: f64,
}

/// The state at `t = 0`.
fn initial_state(y: &[f64], model: ThetaModel, p: Params) -> State {
    let (a, b, mu) = if model.dynamic() {
        (y[0], 0.0, y[0])
    } else {
        let (a, b) = trend_line(y);
        (a, b, p.initial + (1.0 - 1.0 / p.theta) * (a + b))
    };
    State {
        level: p.alpha * y[0] + (1.0 - p.alpha) * p.initial,
        mean: y[0],
        a,
        b,
        mu,
    }
}

/// Least-squares intercept and slope of `y` on `t = 1..n`.
fn trend_line(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let weighted = y
        .iter()
        .enumerate()
        .map(|(i, v)| (i + 1) as f64 * v)
        .sum::<f64>()
        / n;
    let b = 6.0 * (2.0 * weighted - (n + 1.0) * mean) / (n * n - 1.0);
    (mean - (n + 1.0) * b / 2.0, b)
}

/// The state at time `t` from the one at `t − 1` and the observation `y` (or, when `y` is
/// `None`, the model's own prediction — the forecasting recursion).
fn step(prev: &State, t: usize, model: ThetaModel, p: Params, y: Option<f64>) -> State {
    let tf = t as f64;
    let decay = 1.0 - p.alpha;
    let mu = prev.level
        + (1.0 - 1.0 / p.theta)
            * (prev.a * decay.powf(tf) + prev.b * (1.0 - decay.powf(tf + 1.0)) / p.alpha);
    let y = y.unwrap_or(mu);
    let mean = (tf * prev.mean + y) / (tf + 1.0);
    let (a, b) = if model.dynamic() {
        let b = ((tf - 1.0) * prev.b + 6.0 * (y - prev.mean) / (tf + 1.0)) / (tf + 2.0);
        (mean - b * (tf + 2.0) / 2.0, b)
    } else {
        (prev.a, prev.b)
    };
    State {
        level: p.alpha * y + decay * prev.level,
        mean,
        a,
        b,
        mu,
    }
}

/// One-step errors and the last state of a pass through `y`.
fn filter(y: &[f64], model: ThetaModel, p: Params) -> (Vec<f64>, State) {
    let mut state = initial_state(y, model, p);
    let mut errors = Vec::with_capacity(y.len());
    errors.push(y[0] - state.mu);
    for (t, &obs) in y.iter().enumerate().skip(1) {
        state = step(&state, t, model, p, Some(obs));
        errors.push(obs - state.mu);
    }
    (errors, state)
}

/// The fitting criterion: squared one-step errors from the fourth on, over the mean |y|.
fn criterion(errors: &[f64], scale: f64) -> f64 {
    errors.iter().skip(3).map(|e| e * e).sum::<f64>() / scale
}

fn mean_abs(y: &[f64]) -> f64 {
    (y.iter().map(|v| v.abs()).sum::<f64>() / y.len() as f64).max(1e-10)
}

/// Estimates the parameters of one model on an (already seasonally adjusted) series.
fn estimate(y: &[f64], model: ThetaModel) -> Params {
    let scale = mean_abs(y);
    let unpack = |x: &[f64]| Params {
        initial: x[0],
        alpha: x[1],
        theta: if model.estimates_theta() { x[2] } else { 2.0 },
    };
    let objective = |x: &[f64]| {
        let (e, _) = filter(y, model, unpack(x));
        let v = criterion(&e, scale).max(-1e10);
        // statsforecast maps an undefined criterion to −∞; keep that so the search walks the
        // same way (a NaN fit is rejected afterwards).
        if v.is_nan() { f64::NEG_INFINITY } else { v }
    };
    let (x0, lower, upper) = if model.estimates_theta() {
        (
            vec![y[0] / 2.0, 0.5, 2.0],
            vec![-1e10, 0.1, 1.0],
            vec![1e10, 0.99, 1e10],
        )
    } else {
        (vec![y[0] / 2.0, 0.5], vec![-1e10, 0.1], vec![1e10, 0.99])
    };
    let r = nelder_mead(objective, &x0, &lower, &upper, NmOptions::default());
    unpack(&r.x)
}

/// How the series was seasonally adjusted before fitting.
#[derive(Debug, Clone, PartialEq)]
enum Adjustment {
    None,
    Multiplicative(Vec<f64>),
    Additive(Vec<f64>),
}

/// Autocorrelations `r_1..=r_max` (biased, mean-removed, as statsmodels' `acf`).
pub fn acf(y: &[f64], max_lag: usize) -> Vec<f64> {
    let n = y.len();
    let mean = y.iter().sum::<f64>() / n as f64;
    let c0: f64 = y.iter().map(|v| (v - mean) * (v - mean)).sum();
    (1..=max_lag)
        .map(|k| {
            let ck: f64 = (0..n.saturating_sub(k))
                .map(|t| (y[t] - mean) * (y[t + k] - mean))
                .sum();
            ck / c0
        })
        .collect()
}

/// statsforecast's seasonality test: is the lag-`m` autocorrelation significant at 90 %?
pub fn is_seasonal(y: &[f64], m: usize) -> bool {
    if m < 4 || y.len() < 2 * m {
        return false;
    }
    let r = acf(y, m);
    let se = ((1.0 + 2.0 * r[..m - 1].iter().map(|v| v * v).sum::<f64>()) / y.len() as f64).sqrt();
    // 0.95 quantile of the standard normal; NaN (a constant series) compares false.
    r[m - 1].abs() / se > 1.644_853_626_951_472_2
}

/// Seasonal indices of a classical decomposition, one per observation (statsmodels'
/// `seasonal_decompose` with a centred moving-average trend and no end extrapolation).
pub fn classical_seasonal(y: &[f64], m: usize, multiplicative: bool) -> Vec<f64> {
    let n = y.len();
    let trend = centred_moving_average(y, m);
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in 0..n {
        if let Some(tr) = trend[t] {
            let d = if multiplicative { y[t] / tr } else { y[t] - tr };
            sums[t % m] += d;
            counts[t % m] += 1;
        }
    }
    let mut idx: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| s / *c as f64)
        .collect();
    let centre = idx.iter().sum::<f64>() / m as f64;
    for v in &mut idx {
        if multiplicative {
            *v /= centre;
        } else {
            *v -= centre;
        }
    }
    (0..n).map(|t| idx[t % m]).collect()
}

/// The `m`-term centred moving average (a 2×m average for even `m`); `None` at the ends.
fn centred_moving_average(y: &[f64], m: usize) -> Vec<Option<f64>> {
    let weights: Vec<f64> = if m.is_multiple_of(2) {
        let mut w = vec![1.0 / m as f64; m + 1];
        w[0] = 0.5 / m as f64;
        w[m] = 0.5 / m as f64;
        w
    } else {
        vec![1.0 / m as f64; m]
    };
    let half = weights.len() / 2;
    (0..y.len())
        .map(|t| {
            if t < half || t + half >= y.len() {
                None
            } else {
                Some(
                    weights
                        .iter()
                        .enumerate()
                        .map(|(j, w)| w * y[t + j - half])
                        .sum(),
                )
            }
        })
        .collect()
}

/// Seasonally adjusts `y` when the test says so.
fn adjust(y: &[f64], season: usize) -> (Vec<f64>, Adjustment) {
    if !is_seasonal(y, season) {
        return (y.to_vec(), Adjustment::None);
    }
    let positive = y.iter().all(|v| *v > 0.0);
    if positive {
        let s = classical_seasonal(y, season, true);
        if s.iter().all(|v| *v >= 0.01) {
            let adj = y.iter().zip(&s).map(|(v, s)| v / s).collect();
            let last = s[s.len() - season..].to_vec();
            return (adj, Adjustment::Multiplicative(last));
        }
    }
    let s = classical_seasonal(y, season, false);
    let adj = y.iter().zip(&s).map(|(v, s)| v - s).collect();
    let last = s[s.len() - season..].to_vec();
    (adj, Adjustment::Additive(last))
}

/// A fitted Theta model.
#[derive(Debug, Clone)]
pub struct Theta {
    model: ThetaModel,
    params: Params,
    /// Last state of the pass through the adjusted series.
    last: State,
    n: usize,
    /// The fitting criterion (squared errors over the mean |y| of the adjusted series).
    mse: f64,
    sigma: f64,
    adjustment: Adjustment,
    fitted: Vec<f64>,
    notes: Vec<String>,
}

/// Shortest series a Theta model is fitted to (statsforecast refuses three or fewer).
pub const MIN_LENGTH: usize = 4;

impl Theta {
    /// Fits one Theta model (after the seasonality test and adjustment).
    pub fn fit(y: &[f64], season: usize, model: ThetaModel) -> Result<Theta, ForecastError> {
        Self::fit_among(y, season, &[model])
    }

    /// `AutoTheta`: all four models, the lowest in-sample MSE kept.
    pub fn auto(y: &[f64], season: usize) -> Result<Theta, ForecastError> {
        Self::fit_among(y, season, &ThetaModel::ALL)
    }

    fn fit_among(y: &[f64], season: usize, models: &[ThetaModel]) -> Result<Theta, ForecastError> {
        super::error::check_finite(y)?;
        if y.len() < MIN_LENGTH {
            return Err(ForecastError::TooShort {
                model: "Theta".into(),
                needed: MIN_LENGTH,
                got: y.len(),
            });
        }
        let (adj, adjustment) = adjust(y, season.max(1));
        let mut best: Option<(ThetaModel, Params, f64)> = None;
        let mut scores = Vec::new();
        for &model in models {
            let p = estimate(&adj, model);
            let (e, _) = filter(&adj, model, p);
            let mse = criterion(&e, mean_abs(&adj));
            scores.push(format!("{}: {mse:.6}", model.code()));
            if mse.is_finite() && best.is_none_or(|b| mse < b.2) {
                best = Some((model, p, mse));
            }
        }
        let Some((model, params, mse)) = best else {
            return Err(ForecastError::NotConverged {
                model: "Theta".into(),
                detail: "no Theta model has a finite in-sample error".into(),
            });
        };
        let (errors, last) = filter(&adj, model, params);
        let mut notes = Vec::new();
        if models.len() > 1 {
            notes.push(format!(
                "AutoTheta chose {} (in-sample MSE {})",
                model.code(),
                scores.join(", ")
            ));
        }
        if adjustment != Adjustment::None {
            notes.push(format!(
                "seasonal at lag {season} (ACF test, 90 %): fitted to the {} seasonally adjusted series",
                if matches!(adjustment, Adjustment::Multiplicative(_)) { "multiplicatively" } else { "additively" }
            ));
        }
        let fitted_adj: Vec<f64> = adj.iter().zip(&errors).map(|(v, e)| v - e).collect();
        let fitted = reseasonalise_in_sample(&fitted_adj, y, &adj, &adjustment);
        Ok(Theta {
            model,
            params,
            last,
            n: adj.len(),
            mse,
            sigma: residual_sd(&errors),
            adjustment,
            fitted,
            notes,
        })
    }

    /// Point forecasts on the adjusted scale.
    fn adjusted_mean(&self, h: usize) -> Vec<f64> {
        let mut state = self.last;
        (0..h)
            .map(|j| {
                state = step(&state, self.n + j, self.model, self.params, None);
                state.mu
            })
            .collect()
    }

    /// Applies the seasonal indices of the last season to a forecast-scale value at step `j`.
    fn reseason(&self, j: usize, v: f64) -> f64 {
        match &self.adjustment {
            Adjustment::None => v,
            Adjustment::Multiplicative(s) => v * s[j % s.len()],
            Adjustment::Additive(s) => v + s[j % s.len()],
        }
    }
}

/// Sample standard deviation of the errors after the first three (all of them when fewer
/// than two remain).
fn residual_sd(errors: &[f64]) -> f64 {
    let tail = if errors.len() >= 5 {
        &errors[3..]
    } else {
        errors
    };
    let n = tail.len() as f64;
    if tail.len() < 2 {
        return 0.0;
    }
    let mean = tail.iter().sum::<f64>() / n;
    (tail.iter().map(|e| (e - mean) * (e - mean)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// In-sample fitted values on the original scale: the adjusted fit times (or plus) the
/// seasonal index of each observation.
fn reseasonalise_in_sample(fitted: &[f64], y: &[f64], adj: &[f64], a: &Adjustment) -> Vec<f64> {
    match a {
        Adjustment::None => fitted.to_vec(),
        Adjustment::Multiplicative(_) => fitted
            .iter()
            .zip(y.iter().zip(adj))
            .map(|(f, (y, a))| f * y / a)
            .collect(),
        Adjustment::Additive(_) => fitted
            .iter()
            .zip(y.iter().zip(adj))
            .map(|(f, (y, a))| f + (y - a))
            .collect(),
    }
}

impl FittedModel for Theta {
    fn name(&self) -> String {
        match self.adjustment {
            Adjustment::None => format!("Theta({})", self.model.code()),
            Adjustment::Multiplicative(ref s) => {
                format!("Theta({}, mult. season {})", self.model.code(), s.len())
            }
            Adjustment::Additive(ref s) => {
                format!("Theta({}, add. season {})", self.model.code(), s.len())
            }
        }
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        let adj = self.adjusted_mean(h);
        let sd: Vec<f64> = (0..h)
            .map(|j| self.sigma * (1.0 + j as f64 * self.params.alpha.powi(2)).sqrt())
            .collect();
        let mean = adj
            .iter()
            .enumerate()
            .map(|(j, v)| self.reseason(j, *v))
            .collect();
        let intervals = super::valid_levels(levels)
            .map(|level| {
                let z = z_for_level(level);
                super::Interval {
                    level,
                    lower: (0..h)
                        .map(|j| self.reseason(j, adj[j] - z * sd[j]))
                        .collect(),
                    upper: (0..h)
                        .map(|j| self.reseason(j, adj[j] + z * sd[j]))
                        .collect(),
                }
            })
            .collect();
        Forecast { mean, intervals }
    }

    fn aicc(&self) -> Option<f64> {
        None
    }

    fn loglik(&self) -> Option<f64> {
        None
    }

    fn params(&self) -> serde_json::Value {
        let (kind, indices) = match &self.adjustment {
            Adjustment::None => ("none", Vec::new()),
            Adjustment::Multiplicative(s) => ("multiplicative", s.clone()),
            Adjustment::Additive(s) => ("additive", s.clone()),
        };
        json!({
            "model": self.model.code(),
            "initial_smoothed": self.params.initial,
            "alpha": self.params.alpha,
            "theta": self.params.theta,
            "mse": self.mse,
            "sigma": self.sigma,
            "decomposition": kind,
            "seasonal_indices": indices,
        })
    }

    fn fitted(&self) -> Vec<f64> {
        self.fitted.clone()
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_short_series_is_refused() {
        assert!(matches!(
            Theta::auto(&[1.0, 2.0, 3.0], 1),
            Err(ForecastError::TooShort { .. })
        ));
    }

    #[test]
    fn constant_series_forecasts_the_constant() {
        let y = [7.0; 20];
        let m = Theta::auto(&y, 4).unwrap();
        let f = m.forecast(5, &[80.0]);
        for v in &f.mean {
            assert!((v - 7.0).abs() < 1e-6, "{:?}", f.mean);
        }
    }

    #[test]
    fn linear_trend_is_extrapolated_with_the_standard_model() {
        let y: Vec<f64> = (0..30).map(|t| 10.0 + 2.0 * t as f64).collect();
        let m = Theta::fit(&y, 1, ThetaModel::Standard).unwrap();
        let f = m.forecast(3, &[]);
        // θ = 2 keeps half the slope on top of a level that tracks the data.
        assert!(f.mean[0] > y[29] && f.mean[2] > f.mean[0], "{:?}", f.mean);
    }

    #[test]
    fn seasonal_test_detects_a_strong_cycle_and_ignores_noise() {
        let y: Vec<f64> = (0..48)
            .map(|t| 100.0 + 20.0 * (2.0 * std::f64::consts::PI * t as f64 / 12.0).sin())
            .collect();
        assert!(is_seasonal(&y, 12));
        assert!(!is_seasonal(&y, 1));
        let m = Theta::auto(&y, 12).unwrap();
        assert!(m.name().contains("mult."));
        let f = m.forecast(12, &[95.0]);
        assert!((f.mean[2] - 120.0).abs() < 3.0, "{:?}", f.mean);
        let i = f.interval(95.0).unwrap();
        assert!(i.lower[0] <= f.mean[0] && f.mean[0] <= i.upper[0]);
    }

    #[test]
    fn classical_indices_average_to_one() {
        let y: Vec<f64> = (0..24).map(|t| 10.0 + (t % 4) as f64).collect();
        let s = classical_seasonal(&y, 4, true);
        let mean: f64 = s[..4].iter().sum::<f64>() / 4.0;
        assert!((mean - 1.0).abs() < 1e-12);
    }
}
