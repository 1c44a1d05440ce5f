//! Rolling-origin evaluation: refit at several forecast origins and score the forecasts
//! against what happened.
//!
//! Why rolling origin: one hold-out split rewards whichever model got lucky on that stretch;
//! several origins `step` apart average that luck away while every forecast still uses only
//! the past. The last window ends at the last observation.
//!
//! Metrics: MAE, RMSE, sMAPE (in percent, 0/0 counted as 0) and MASE scaled by the in-sample
//! mean absolute error of the seasonal naive forecast on each window's training data
//! (Hyndman & Koehler 2006; the plain naive when the training data are shorter than a
//! season), plus the share of actual values inside each prediction interval.

use serde::{Deserialize, Serialize};

use super::kept::{self, Keeper};
use super::{Forecast, ForecastError, ModelSpec, check_levels};

/// Where the origins are and what to forecast from each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestConfig {
    /// Steps forecast from each origin.
    pub horizon: usize,
    /// Observations between consecutive origins.
    pub step: usize,
    /// Number of origins.
    pub windows: usize,
    /// Interval levels whose coverage is measured.
    #[serde(default = "default_levels")]
    pub levels: Vec<f64>,
}

fn default_levels() -> Vec<f64> {
    super::DEFAULT_LEVELS.to_vec()
}

/// Accuracy of one window, or of a whole backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub mae: f64,
    pub rmse: f64,
    pub smape: f64,
    pub mase: f64,
    /// (level, share of actual values inside the interval).
    pub coverage: Vec<(f64, f64)>,
}

/// One forecast origin's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    /// Length of the training data (the index of the first forecast point).
    pub origin: usize,
    pub model: String,
    pub metrics: Metrics,
    /// Actual minus forecast mean at each step: the calibration data of
    /// [`conformal`](super::conformal) intervals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<f64>,
    /// The model's own standard deviation at each step, read off its interval (NaN where it
    /// gave none; see [`conformal::spreads`](super::conformal::spreads)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spreads: Vec<f64>,
}

/// All windows of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    pub spec: ModelSpec,
    pub windows: Vec<WindowResult>,
    /// Means over windows (RMSE over all forecast points).
    pub summary: Metrics,
    /// Windows where the model could not be fitted.
    pub failures: Vec<String>,
}

/// MASE denominator: in-sample MAE of the seasonal naive (naive if the data are shorter
/// than two seasons' worth of differences).
pub fn mase_scale(train: &[f64], season: usize) -> f64 {
    let m = if season > 1 && train.len() > season {
        season
    } else {
        1
    };
    if train.len() <= m {
        return f64::NAN;
    }
    let n = train.len() - m;
    (m..train.len())
        .map(|t| (train[t] - train[t - m]).abs())
        .sum::<f64>()
        / n as f64
}

/// The scale a window's MASE divides by: [`mase_scale`], or where the training part repeats
/// itself exactly (a noise-free periodic or a flat series) and that is 0, the naive's
/// in-sample MAE, then the mean absolute value. MASE is undefined there; without a scale, a
/// fitted model's rounding-size errors would score infinite and no candidate could be chosen.
fn window_scale(train: &[f64], season: usize) -> f64 {
    let seasonal = mase_scale(train, season);
    if seasonal > 0.0 {
        return seasonal;
    }
    let naive = mase_scale(train, 1);
    if naive > 0.0 {
        return naive;
    }
    train.iter().map(|v| v.abs()).sum::<f64>() / train.len().max(1) as f64
}

/// Scores one forecast against the actual values.
pub fn score(actual: &[f64], forecast: &Forecast, train: &[f64], season: usize) -> Metrics {
    let h = actual.len().min(forecast.mean.len());
    let errors: Vec<f64> = (0..h).map(|i| actual[i] - forecast.mean[i]).collect();
    let hf = h as f64;
    let mae = errors.iter().map(|e| e.abs()).sum::<f64>() / hf;
    let rmse = (errors.iter().map(|e| e * e).sum::<f64>() / hf).sqrt();
    let smape = (0..h)
        .map(|i| {
            let den = actual[i].abs() + forecast.mean[i].abs();
            if den == 0.0 {
                0.0
            } else {
                200.0 * (actual[i] - forecast.mean[i]).abs() / den
            }
        })
        .sum::<f64>()
        / hf;
    let scale = window_scale(train, season);
    let mase = if scale > 0.0 {
        mae / scale
    } else if mae == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    let coverage = forecast
        .intervals
        .iter()
        .map(|iv| {
            let inside = (0..h)
                .filter(|&i| actual[i] >= iv.lower[i] && actual[i] <= iv.upper[i])
                .count();
            (iv.level, inside as f64 / hf)
        })
        .collect();
    Metrics {
        mae,
        rmse,
        smape,
        mase,
        coverage,
    }
}

/// Training lengths of the origins, oldest first; `None` if the series is too short for
/// the requested windows (each training set needs at least `min_train` points).
pub fn origins(n: usize, cfg: &BacktestConfig, min_train: usize) -> Option<Vec<usize>> {
    if cfg.horizon == 0 || cfg.windows == 0 || cfg.step == 0 {
        return None;
    }
    let span = cfg.horizon + (cfg.windows - 1) * cfg.step;
    let first = n.checked_sub(span)?;
    if first < min_train.max(1) {
        return None;
    }
    Some((0..cfg.windows).map(|k| first + k * cfg.step).collect())
}

/// Runs a rolling-origin backtest of `spec` on `y`.
pub fn rolling_origin(
    y: &[f64],
    season: usize,
    spec: &ModelSpec,
    cfg: &BacktestConfig,
) -> Result<BacktestReport, ForecastError> {
    rolling_origin_with(y, season, spec, cfg, &|origin, h, levels| {
        let model = spec.fit(&y[..origin], season)?;
        Ok((model.name(), model.forecast(h, levels)))
    })
}

/// The share of the series a backtest's first training part must hold for
/// [`rolling_origin_kept`] to keep that origin's automatic choices at the later origins.
///
/// Why lower than the pooled choice's [`super::select::KEEP_FORMS_FROM`]: that backtest's
/// scores choose the forecast; this one's windows only report the chosen model's accuracy and
/// calibrate its bands. Three windows of the run's horizon span about a seventh of six weeks
/// of hourly history (two days each) or of two and a half years of daily history (six weeks
/// each), so their first training part holds about 86 % of the series.
pub const KEEP_FITS_FROM: f64 = 0.8;

/// [`rolling_origin`], keeping the first origin's automatic choices at the later origins
/// ([`super::kept`]) where the first training part holds at least [`KEEP_FITS_FROM`] of `y`.
pub fn rolling_origin_kept(
    y: &[f64],
    season: usize,
    spec: &ModelSpec,
    cfg: &BacktestConfig,
) -> Result<BacktestReport, ForecastError> {
    let first = origins(y.len(), cfg, 2).and_then(|o| o.first().copied());
    if !kept::keeps(first, y.len(), KEEP_FITS_FROM) {
        return rolling_origin(y, season, spec, cfg);
    }
    let keeper = std::cell::RefCell::new(Keeper::default());
    rolling_origin_with(y, season, spec, cfg, &|origin, h, levels| {
        let model = keeper.borrow_mut().fit(spec, &y[..origin], season)?;
        Ok((model.name(), model.forecast(h, levels)))
    })
}

/// Fits on the first `origin` observations and forecasts `h` steps at interval `levels`,
/// returning the fitted model's name and the forecast.
pub type FitForecast<'a> =
    dyn Fn(usize, usize, &[f64]) -> Result<(String, Forecast), ForecastError> + 'a;

/// Rolling-origin backtest of any fitting procedure: `fit_forecast(origin, h, levels)` fits
/// on `y[..origin]` (and whatever else it knows up to there, such as regressors) and returns
/// the fitted model's name and its `h`-step forecast; `spec` only labels the report.
pub fn rolling_origin_with(
    y: &[f64],
    season: usize,
    spec: &ModelSpec,
    cfg: &BacktestConfig,
    fit_forecast: &FitForecast<'_>,
) -> Result<BacktestReport, ForecastError> {
    check_levels(&cfg.levels)?;
    let origins = origins(y.len(), cfg, 2).ok_or_else(|| ForecastError::TooShort {
        model: format!("backtest of {}", spec.label()),
        needed: cfg.horizon + cfg.windows.saturating_sub(1) * cfg.step + 2,
        got: y.len(),
    })?;
    let mut windows = Vec::new();
    let mut failures = Vec::new();
    let mut sq_sum = 0.0;
    let mut points = 0usize;
    for origin in origins {
        let train = &y[..origin];
        let actual = &y[origin..origin + cfg.horizon];
        match fit_forecast(origin, cfg.horizon, &cfg.levels) {
            Ok((model, fc)) => {
                let metrics = score(actual, &fc, train, season);
                sq_sum += metrics.rmse * metrics.rmse * cfg.horizon as f64;
                points += cfg.horizon;
                windows.push(WindowResult {
                    origin,
                    model,
                    metrics,
                    errors: actual.iter().zip(&fc.mean).map(|(a, m)| a - m).collect(),
                    spreads: super::conformal::spreads(&fc, cfg.horizon),
                });
            }
            Err(e) => failures.push(format!("origin {origin}: {e}")),
        }
    }
    if windows.is_empty() {
        return Err(ForecastError::NotConverged {
            model: spec.label(),
            detail: format!("failed at every origin: {}", failures.join("; ")),
        });
    }
    let k = windows.len() as f64;
    let mean = |f: &dyn Fn(&Metrics) -> f64| windows.iter().map(|w| f(&w.metrics)).sum::<f64>() / k;
    let coverage = cfg
        .levels
        .iter()
        .enumerate()
        .map(|(i, &level)| {
            (
                level,
                mean(&|m: &Metrics| m.coverage.get(i).map_or(0.0, |c| c.1)),
            )
        })
        .collect();
    let summary = Metrics {
        mae: mean(&|m| m.mae),
        rmse: (sq_sum / points as f64).sqrt(),
        smape: mean(&|m| m.smape),
        mase: mean(&|m| m.mase),
        coverage,
    };
    Ok(BacktestReport {
        spec: spec.clone(),
        windows,
        summary,
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::Interval;

    #[test]
    fn metrics_match_hand_computation() {
        let train = [1.0, 2.0, 4.0, 3.0, 5.0];
        let actual = [6.0, 4.0];
        let fc = Forecast {
            mean: vec![5.0, 5.0],
            intervals: vec![Interval {
                level: 80.0,
                lower: vec![4.5, 4.5],
                upper: vec![5.5, 5.5],
            }],
        };
        let m = score(&actual, &fc, &train, 1);
        assert!((m.mae - 1.0).abs() < 1e-12);
        assert!((m.rmse - 1.0).abs() < 1e-12);
        // sMAPE = (200·1/11 + 200·1/9) / 2
        assert!((m.smape - (200.0 / 11.0 + 200.0 / 9.0) / 2.0).abs() < 1e-12);
        // Naive in-sample MAE: |1|+|2|+|−1|+|2| = 6 / 4 = 1.5 → MASE = 1/1.5.
        assert!((m.mase - 1.0 / 1.5).abs() < 1e-12);
        assert_eq!(m.coverage, vec![(80.0, 0.0)]);
        // Seasonal scaling with m = 2: |4−1|, |3−2|, |5−4| → 5/3.
        assert!((mase_scale(&train, 2) - 5.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn origins_end_at_the_last_observation() {
        let cfg = BacktestConfig {
            horizon: 3,
            step: 2,
            windows: 3,
            levels: vec![],
        };
        assert_eq!(origins(20, &cfg, 5), Some(vec![13, 15, 17]));
        assert_eq!(origins(8, &cfg, 5), None);
    }

    #[test]
    fn naive_backtest_on_a_line_has_constant_error() {
        let y: Vec<f64> = (0..30).map(|i| 2.0 * i as f64).collect();
        let cfg = BacktestConfig {
            horizon: 2,
            step: 1,
            windows: 4,
            levels: vec![95.0],
        };
        let r = rolling_origin(&y, 1, &ModelSpec::Naive, &cfg).unwrap();
        assert_eq!(r.windows.len(), 4);
        // Errors 2 and 4 at every origin; naive in-sample MAE is 2.
        assert!((r.summary.mae - 3.0).abs() < 1e-12);
        assert!((r.summary.rmse - 10f64.sqrt()).abs() < 1e-12);
        assert!((r.summary.mase - 1.5).abs() < 1e-12);
        let drift = rolling_origin(&y, 1, &ModelSpec::Drift, &cfg).unwrap();
        assert!(drift.summary.mae < 1e-9);
    }
}
