//! Demand forecasting models: pure functions from a series to a fitted model, and from a
//! fitted model to point forecasts with prediction intervals.
//!
//! Why this shape: the training job, the backtests and the API all need the same three
//! operations — fit on a slice, forecast `h` steps at some interval levels, describe the model
//! (name, information criterion, parameters as JSON for the registry) — so every model family
//! implements [`FittedModel`] and [`ModelSpec`] names a model in configuration. Model code
//! does no I/O and knows nothing about products or dates: arrays in, arrays out; `season` is
//! the number of observations per seasonal cycle (12 monthly, 4 quarterly, 52 weekly, 1 for
//! none).
//!
//! Families: [`baseline`] (naive, seasonal naive, drift, moving average), [`ets`]
//! (exponential smoothing in state-space form, automatic choice by AICc), [`sarima`] (exact
//! Gaussian likelihood via the Kalman filter) with [`auto_arima`] (Hyndman–Khandakar order
//! search), [`sarimax`] (regression with SARIMA errors) with [`regression`] (the design matrix of
//! known-future regressors, filled and checked, and the candidate it makes), [`theta`] (the
//! Theta family and AutoTheta), [`ces`] (complex exponential smoothing and AutoCES),
//! [`mstl`] (several seasonal periods, e.g. weekly and yearly in daily data, peeled off by STL
//! and a non-seasonal ETS on the rest), [`prophet`] (piecewise-linear trend with automatic
//! changepoints, Fourier seasonalities, holidays and extra regressors, MAP fit), [`intermittent`] (Croston, SBA, TSB, ADIDA, IMAPA and
//! a choice by demand class) and [`combination`] (mean or median of several specs). [`backtest`]
//! evaluates any spec by rolling origin and [`select`] picks one per series, falling back (and
//! saying so) on short, constant or intermittent series. [`reconcile`] makes the forecasts of a
//! hierarchy (items × stores and their totals) add up: bottom-up, top-down by historical
//! proportions, or MinT with OLS, structural, variance or shrunk-covariance weights.

pub mod auto_arima;
pub mod backtest;
pub mod baseline;
pub mod ces;
pub mod closed;
pub mod combination;
pub mod conformal;
pub mod error;
pub mod ets;
pub mod intermittent;
pub mod kept;
pub mod local_time;
pub mod mstl;
pub mod outage;
pub mod paths;
pub mod prophet;
pub mod reconcile;
pub mod regression;
pub mod sarima;
pub mod sarimax;
pub mod select;
pub mod stl;
pub mod theta;

pub use error::ForecastError;

use serde::{Deserialize, Serialize};

use crate::numeric::distributions::z_for_level;

/// Interval levels (percent) used when a caller does not ask for others.
pub const DEFAULT_LEVELS: [f64; 2] = [80.0, 95.0];

/// A central prediction interval at `level` percent, one bound per horizon step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub level: f64,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

/// Point forecasts for steps `1..=h` and the requested intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub mean: Vec<f64>,
    pub intervals: Vec<Interval>,
}

impl Forecast {
    /// The interval at `level` percent, if it was requested.
    pub fn interval(&self, level: f64) -> Option<&Interval> {
        self.intervals
            .iter()
            .find(|i| (i.level - level).abs() < 1e-9)
    }

    /// Gaussian intervals `mean ± z·sd` (the analytic case).
    pub fn gaussian(mean: Vec<f64>, sd: &[f64], levels: &[f64]) -> Forecast {
        let intervals = valid_levels(levels)
            .map(|level| {
                let z = z_for_level(level);
                Interval {
                    level,
                    lower: mean.iter().zip(sd).map(|(m, s)| m - z * s).collect(),
                    upper: mean.iter().zip(sd).map(|(m, s)| m + z * s).collect(),
                }
            })
            .collect();
        Forecast { mean, intervals }
    }
}

/// Levels outside (0, 100) have no interval; they are skipped (see [`check_levels`] for
/// callers that want an error instead).
pub fn valid_levels(levels: &[f64]) -> impl Iterator<Item = f64> + '_ {
    levels.iter().copied().filter(|l| *l > 0.0 && *l < 100.0)
}

/// Rejects interval levels outside (0, 100).
pub fn check_levels(levels: &[f64]) -> Result<(), ForecastError> {
    match levels.iter().find(|l| !(**l > 0.0 && **l < 100.0)) {
        Some(l) => Err(ForecastError::InvalidInput(format!(
            "interval level {l} is not a percentage in (0, 100)"
        ))),
        None => Ok(()),
    }
}

/// A model fitted to one series.
pub trait FittedModel: Send + Sync + std::fmt::Debug {
    /// Short human-readable name, e.g. `ETS(M,Ad,M)` or `ARIMA(0,1,1)(0,1,1)[12]`.
    fn name(&self) -> String;
    /// Forecasts `h` steps ahead with central intervals at `levels` percent.
    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast;
    /// Corrected Akaike information criterion, where the model has a likelihood.
    fn aicc(&self) -> Option<f64>;
    /// Maximised log-likelihood, where the model has one.
    fn loglik(&self) -> Option<f64>;
    /// Parameters (and the model's structure) as JSON, for the model registry.
    fn params(&self) -> serde_json::Value;
    /// One-step-ahead in-sample predictions, aligned with the input (NaN where undefined).
    fn fitted(&self) -> Vec<f64>;
    /// What the fit had to do that a caller should know (fallbacks, dropped seasonality).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// The `h`-step point forecast split into named parts that add up to it (trend,
    /// seasonalities, holidays...), where the model is such a sum.
    fn components(&self, _h: usize) -> Option<Vec<(String, Vec<f64>)>> {
        None
    }
}

/// A model named in configuration; `fit` turns it into a [`FittedModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSpec {
    Naive,
    SeasonalNaive,
    Drift,
    MovingAverage {
        window: usize,
    },
    /// One ETS model with the given components.
    Ets(ets::EtsSpec),
    /// The ETS model with the lowest AICc over the standard set.
    AutoEts,
    /// One SARIMA model with the given orders.
    Arima(sarima::ArimaSpec),
    /// Hyndman–Khandakar automatic SARIMA.
    AutoArima,
    /// Regression on exogenous regressors (feature references) with SARIMA errors of
    /// automatically chosen orders ([`sarimax::Sarimax::auto_order`]); fitted by
    /// [`regression`], which has the regressor values — [`ModelSpec::fit`] alone refuses it.
    AutoArimaRegression {
        regressors: Vec<String>,
    },
    /// statsforecast's AutoTheta: the Theta model with the lowest in-sample MSE.
    AutoTheta,
    /// One Theta model.
    Theta {
        model: theta::ThetaModel,
    },
    /// statsforecast's AutoCES: the complex exponential smoothing model with the lowest AICc.
    AutoCes,
    /// One complex exponential smoothing model.
    Ces {
        model: ces::CesSeason,
    },
    /// Croston's method, α = 0.1 (non-negative data).
    CrostonClassic,
    /// Croston with the Syntetos–Boylan debiasing.
    CrostonSba,
    /// Croston with both smoothing parameters chosen in [0.1, 0.3].
    CrostonOptimized,
    /// Teunter–Syntetos–Babai; a smoothing parameter left out is chosen by least squares.
    Tsb {
        #[serde(default)]
        alpha_d: Option<f64>,
        #[serde(default)]
        alpha_p: Option<f64>,
    },
    /// Aggregate–disaggregate intermittent demand approach.
    Adida,
    /// Intermittent multiple aggregation prediction algorithm.
    Imapa,
    /// An intermittent-demand method chosen by demand class ([`intermittent::auto_method`]).
    AutoIntermittent,
    /// MSTL with these seasonal periods ([`mstl`]): several seasonalities (daily data: 7 and
    /// 365), trend + remainder by non-seasonal automatic ETS. Ignores `season`.
    Mstl {
        periods: Vec<usize>,
    },
    /// A Prophet-style model ([`prophet`]): piecewise-linear trend with automatic
    /// changepoints, Fourier seasonalities and holidays on the calendar the spec places the
    /// series on. Ignores `season`.
    Prophet(prophet::ProphetSpec),
    /// Mean or median of the members' forecasts, or their mean with `weights` (one per
    /// member, `how` a mean; [`combination`]).
    Combination {
        members: Vec<ModelSpec>,
        how: combination::Combine,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        weights: Option<Vec<f64>>,
    },
    /// `model` fitted and forecast on the local hours of an hourly series observed in UTC
    /// ([`local_time`]): its daily and weekly cycles stay in step across clock changes.
    LocalTime {
        model: Box<ModelSpec>,
        clock: local_time::HourClock,
    },
    /// `model` with zero forecasts at the seasonal slots the series was closed at
    /// ([`closed`]: zero at each of their last twelve occurrences).
    Closed {
        model: Box<ModelSpec>,
    },
    /// `model` fitted on the history after its last long run of zeros ([`outage`]).
    AfterOutage {
        model: Box<ModelSpec>,
    },
}

/// Fits one spec of a spec tree's leaves; see [`ModelSpec::fit_through`].
pub type FitLeaf<'a> =
    dyn FnMut(&ModelSpec, &[f64], usize) -> Result<Box<dyn FittedModel>, ForecastError> + 'a;

/// Fits `spec` as it says: the leaf fit of [`ModelSpec::fit`]. A combination or wrapper
/// passed here is fitted whole.
pub fn fit_leaf(
    spec: &ModelSpec,
    y: &[f64],
    season: usize,
) -> Result<Box<dyn FittedModel>, ForecastError> {
    Ok(match spec {
        ModelSpec::Naive => Box::new(baseline::Baseline::naive(y)?),
        ModelSpec::SeasonalNaive => Box::new(baseline::Baseline::seasonal_naive(y, season)?),
        ModelSpec::Drift => Box::new(baseline::Baseline::drift(y)?),
        ModelSpec::MovingAverage { window } => {
            Box::new(baseline::Baseline::moving_average(y, *window)?)
        }
        ModelSpec::Ets(spec) => Box::new(ets::Ets::fit(y, season, *spec)?),
        ModelSpec::AutoEts => Box::new(ets::auto_ets(y, season)?),
        ModelSpec::Arima(spec) => Box::new(sarima::Sarima::fit(y, spec)?),
        ModelSpec::AutoArima => Box::new(auto_arima::auto_arima(y, season)?),
        ModelSpec::AutoArimaRegression { .. } => {
            return Err(ForecastError::InvalidInput(
                "a regression model needs its regressor values (forecast::regression)".into(),
            ));
        }
        ModelSpec::AutoTheta => Box::new(theta::Theta::auto(y, season)?),
        ModelSpec::Theta { model } => Box::new(theta::Theta::fit(y, season, *model)?),
        ModelSpec::AutoCes => Box::new(ces::Ces::auto(y, season)?),
        ModelSpec::Ces { model } => Box::new(ces::Ces::fit(y, season, *model)?),
        ModelSpec::AutoIntermittent => Box::new(intermittent::Intermittent::auto(y)?),
        ModelSpec::Mstl { periods } => Box::new(mstl::Mstl::fit(y, periods)?),
        ModelSpec::Prophet(spec) => Box::new(prophet::Prophet::fit(y, spec)?),
        ModelSpec::CrostonClassic
        | ModelSpec::CrostonSba
        | ModelSpec::CrostonOptimized
        | ModelSpec::Tsb { .. }
        | ModelSpec::Adida
        | ModelSpec::Imapa => {
            let Some(method) = spec.intermittent_method() else {
                unreachable!("every arm of this pattern names an intermittent method")
            };
            Box::new(intermittent::Intermittent::fit(y, method)?)
        }
        ModelSpec::Combination { .. }
        | ModelSpec::LocalTime { .. }
        | ModelSpec::Closed { .. }
        | ModelSpec::AfterOutage { .. } => spec.fit(y, season)?,
    })
}

impl ModelSpec {
    /// Fits this model to `y` with `season` observations per cycle.
    pub fn fit(&self, y: &[f64], season: usize) -> Result<Box<dyn FittedModel>, ForecastError> {
        self.fit_through(y, season, &mut fit_leaf)
    }

    /// [`ModelSpec::fit`] with every leaf of the spec (a model that is not a combination or
    /// a wrapper) fitted by `leaf`, in the same order at every call: how a backtest's later
    /// origins keep what the first one chose ([`kept::Keeper`]). Combinations and wrappers
    /// (closed slots, local time, outages) do their own part afresh on each `y`.
    pub fn fit_through(
        &self,
        y: &[f64],
        season: usize,
        leaf: &mut FitLeaf<'_>,
    ) -> Result<Box<dyn FittedModel>, ForecastError> {
        if season == 0 {
            return Err(ForecastError::InvalidInput(
                "season must be at least 1".into(),
            ));
        }
        error::check_finite(y)?;
        Ok(match self {
            ModelSpec::Combination {
                members,
                how,
                weights,
            } => Box::new(combination::Combination::fit(
                y,
                season,
                members,
                (*how, weights.as_deref()),
                leaf,
            )?),
            ModelSpec::LocalTime { model, clock } => {
                Box::new(local_time::LocalTime::fit(y, season, model, clock, leaf)?)
            }
            ModelSpec::Closed { model } => closed::Closed::fit(y, season, model, leaf)?,
            ModelSpec::AfterOutage { model } => outage::AfterOutage::fit(y, season, model, leaf)?,
            other => leaf(other, y, season)?,
        })
    }

    /// This spec for the same series with its first observation moved by `by` (the history
    /// from observation `by` on, or `-by` observations back to the full history): a model
    /// that counts calendar days from the first observation (the Prophet-style model) moves
    /// its origin; every other model has no calendar.
    pub fn shifted(&self, by: isize) -> ModelSpec {
        let inner = |m: &ModelSpec| Box::new(m.shifted(by));
        match self {
            ModelSpec::Prophet(p) => ModelSpec::Prophet(prophet::ProphetSpec {
                origin_day: p.origin_day + by as f64 * p.step_days,
                ..p.clone()
            }),
            ModelSpec::Combination {
                members,
                how,
                weights,
            } => ModelSpec::Combination {
                members: members.iter().map(|m| m.shifted(by)).collect(),
                how: *how,
                weights: weights.clone(),
            },
            ModelSpec::Closed { model } => ModelSpec::Closed {
                model: inner(model),
            },
            ModelSpec::AfterOutage { model } => ModelSpec::AfterOutage {
                model: inner(model),
            },
            other => other.clone(),
        }
    }

    /// The intermittent-demand method this spec names, if it names one.
    pub fn intermittent_method(&self) -> Option<intermittent::Method> {
        use intermittent::Method;
        Some(match self {
            ModelSpec::CrostonClassic => Method::CrostonClassic,
            ModelSpec::CrostonSba => Method::CrostonSba,
            ModelSpec::CrostonOptimized => Method::CrostonOptimized,
            ModelSpec::Tsb { alpha_d, alpha_p } => Method::Tsb {
                alpha_d: *alpha_d,
                alpha_p: *alpha_p,
            },
            ModelSpec::Adida => Method::Adida,
            ModelSpec::Imapa => Method::Imapa,
            _ => return None,
        })
    }

    /// Short label for reports.
    pub fn label(&self) -> String {
        match self {
            ModelSpec::Naive => "naive".into(),
            ModelSpec::SeasonalNaive => "seasonal_naive".into(),
            ModelSpec::Drift => "drift".into(),
            ModelSpec::MovingAverage { window } => format!("moving_average({window})"),
            ModelSpec::Ets(s) => s.name(),
            ModelSpec::AutoEts => "auto_ets".into(),
            ModelSpec::Arima(s) => s.name(),
            ModelSpec::AutoArima => "auto_arima".into(),
            ModelSpec::AutoArimaRegression { regressors } => {
                format!("auto_arima_regression({})", regressors.join(","))
            }
            ModelSpec::AutoTheta => "auto_theta".into(),
            ModelSpec::Theta { model } => format!("theta_{}", model.code().to_lowercase()),
            ModelSpec::AutoCes => "auto_ces".into(),
            ModelSpec::Ces { model } => format!("ces_{}", model.code().to_lowercase()),
            ModelSpec::AutoIntermittent => "auto_intermittent".into(),
            ModelSpec::Mstl { periods } => {
                let periods: Vec<String> = periods.iter().map(usize::to_string).collect();
                format!("mstl({})", periods.join(","))
            }
            ModelSpec::Prophet(_) => "prophet".into(),
            ModelSpec::Combination {
                members,
                how,
                weights: None,
            } => {
                let labels: Vec<String> = members.iter().map(ModelSpec::label).collect();
                format!("{}({})", how.as_str(), labels.join("+"))
            }
            ModelSpec::Combination {
                members,
                weights: Some(w),
                ..
            } => {
                let total: f64 = w.iter().sum();
                let labels: Vec<String> = members
                    .iter()
                    .zip(w)
                    .map(|(m, w)| format!("{}:{:.2}", m.label(), w / total))
                    .collect();
                format!("weighted({})", labels.join("+"))
            }
            ModelSpec::LocalTime { model, .. } => format!("local_time({})", model.label()),
            ModelSpec::Closed { model } => format!("closed({})", model.label()),
            ModelSpec::AfterOutage { model } => format!("after_outage({})", model.label()),
            ModelSpec::CrostonClassic
            | ModelSpec::CrostonSba
            | ModelSpec::CrostonOptimized
            | ModelSpec::Tsb { .. }
            | ModelSpec::Adida
            | ModelSpec::Imapa => self
                .intermittent_method()
                .map(|m| m.label())
                .unwrap_or_default(),
        }
    }
}

/// AICc from a log-likelihood, the number of estimated parameters (including the innovation
/// variance) and the number of observations the likelihood covers. Infinite when the
/// correction is undefined (too many parameters for the data).
pub fn aicc(loglik: f64, k: usize, n: usize) -> f64 {
    let k = k as f64;
    let n = n as f64;
    if n - k - 1.0 <= 0.0 {
        return f64::INFINITY;
    }
    -2.0 * loglik + 2.0 * k + 2.0 * k * (k + 1.0) / (n - k - 1.0)
}

/// Deterministic uniform noise in [−0.5, 0.5) for the models' tests (a 64-bit LCG).
#[cfg(test)]
pub(crate) fn test_noise(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_specs() -> Vec<ModelSpec> {
        vec![
            ModelSpec::AutoTheta,
            ModelSpec::Theta {
                model: theta::ThetaModel::DynamicOptimized,
            },
            ModelSpec::AutoCes,
            ModelSpec::Ces {
                model: ces::CesSeason::Partial,
            },
            ModelSpec::CrostonClassic,
            ModelSpec::CrostonSba,
            ModelSpec::CrostonOptimized,
            ModelSpec::Tsb {
                alpha_d: Some(0.2),
                alpha_p: None,
            },
            ModelSpec::Adida,
            ModelSpec::Imapa,
            ModelSpec::AutoIntermittent,
            ModelSpec::Mstl {
                periods: vec![7, 365],
            },
            ModelSpec::Combination {
                members: vec![ModelSpec::AutoTheta, ModelSpec::Naive],
                how: combination::Combine::Median,
                weights: None,
            },
            ModelSpec::Combination {
                members: vec![ModelSpec::AutoTheta, ModelSpec::Naive],
                how: combination::Combine::Mean,
                weights: Some(vec![0.25, 0.75]),
            },
        ]
    }

    #[test]
    fn new_specs_round_trip_through_json_and_have_labels() {
        for spec in new_specs() {
            let text = serde_json::to_string(&spec).unwrap();
            let back: ModelSpec = serde_json::from_str(&text).unwrap();
            assert_eq!(back, spec, "{text}");
            assert!(!spec.label().is_empty());
        }
        let tsb: ModelSpec = serde_json::from_str(r#"{"kind":"tsb"}"#).unwrap();
        assert_eq!(tsb.label(), "tsb(opt,opt)");
        let theta: ModelSpec =
            serde_json::from_str(r#"{"kind":"theta","model":"optimized"}"#).unwrap();
        assert_eq!(theta.label(), "theta_otm");
        let ces: ModelSpec = serde_json::from_str(r#"{"kind":"ces","model":"full"}"#).unwrap();
        assert_eq!(ces.label(), "ces_f");
        let comb: ModelSpec = serde_json::from_str(
            r#"{"kind":"combination","how":"mean","members":[{"kind":"auto_ets"},{"kind":"auto_theta"}]}"#,
        )
        .unwrap();
        assert_eq!(comb.label(), "mean(auto_ets+auto_theta)");
        let weighted: ModelSpec = serde_json::from_str(
            r#"{"kind":"combination","how":"mean","weights":[3,1],"members":[{"kind":"auto_ets"},{"kind":"auto_theta"}]}"#,
        )
        .unwrap();
        assert_eq!(weighted.label(), "weighted(auto_ets:0.75+auto_theta:0.25)");
    }

    #[test]
    fn new_specs_fit_an_intermittent_series() {
        let y: Vec<f64> = (0..40)
            .map(|t| {
                if t % 3 == 0 {
                    (t % 5) as f64 + 1.0
                } else {
                    0.0
                }
            })
            .collect();
        for spec in new_specs() {
            let m = spec.fit(&y, 4).unwrap();
            let f = m.forecast(6, &[80.0]);
            assert_eq!(f.mean.len(), 6, "{}", spec.label());
            assert!(f.mean.iter().all(|v| v.is_finite()), "{}", spec.label());
        }
    }
}
