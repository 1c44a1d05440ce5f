//! Per-series model choice, by information criterion or by backtest, with explicit fallbacks
//! for series the automatic models cannot handle.
//!
//! Why two methods: AICc is cheap (one fit per candidate) and is what `ets()`/`auto.arima()`
//! use *within* a family, but ETS and ARIMA likelihoods are not comparable (ARIMA's is on the
//! differenced data), so an information criterion cannot arbitrate between families. A
//! rolling-origin backtest can, at the price of refitting at every origin. So
//! [`SelectionMethod::InformationCriterion`] picks the best model of one family, and
//! [`SelectionMethod::Backtest`] compares any candidates on out-of-sample accuracy.
//!
//! Why fallbacks: demand data have constant series (a product that always sells 3), very
//! short histories (new products) and intermittent ones (mostly zeros). Maximum likelihood
//! has no answer for the first, too little data for the second and the wrong error model for
//! the third; each gets a simple, defensible forecast and a note saying why. Intermittent
//! series get [`ModelSpec::AutoIntermittent`] (a Croston-family method chosen by demand class;
//! the note names the class and the method).

use serde::{Deserialize, Serialize};

use super::backtest::{BacktestConfig, BacktestReport, origins, rolling_origin};
use super::ets::{ErrorType, EtsSpec, SeasonType, TrendType};
use super::{FittedModel, ForecastError, ModelSpec};

/// Which family an information-criterion choice searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Ets,
    Arima,
}

/// Accuracy measure a backtest choice minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Mae,
    Rmse,
    Smape,
    Mase,
}

/// How to choose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum SelectionMethod {
    /// Lowest AICc within one family.
    InformationCriterion { family: Family },
    /// Lowest backtest error among `candidates`.
    Backtest {
        config: BacktestConfig,
        metric: Metric,
        candidates: Vec<ModelSpec>,
    },
}

impl Default for SelectionMethod {
    fn default() -> Self {
        SelectionMethod::InformationCriterion {
            family: Family::Ets,
        }
    }
}

/// What kind of series this is, for the fallbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    Constant,
    /// Too short for any fitted model.
    Short,
    /// At least half of the values are zero.
    Intermittent,
    Regular,
}

/// Shortest series an automatic model is fitted to.
pub const MIN_FIT_LENGTH: usize = 8;

/// Classifies a series (non-empty, finite).
pub fn classify(y: &[f64]) -> SeriesKind {
    if y.iter().all(|v| *v == y[0]) {
        SeriesKind::Constant
    } else if y.len() < MIN_FIT_LENGTH {
        SeriesKind::Short
    } else if y.iter().filter(|v| **v == 0.0).count() * 2 >= y.len() {
        SeriesKind::Intermittent
    } else {
        SeriesKind::Regular
    }
}

/// The chosen, fitted model and how it was chosen.
#[derive(Debug)]
pub struct Selection {
    pub spec: ModelSpec,
    pub model: Box<dyn FittedModel>,
    pub kind: SeriesKind,
    /// Candidate labels with their score (AICc or backtest metric), where one was computed.
    pub scores: Vec<(String, f64)>,
    /// Fallbacks and other things a caller should know.
    pub notes: Vec<String>,
}

/// Chooses and fits a model for one series.
pub fn select(
    y: &[f64],
    season: usize,
    method: &SelectionMethod,
) -> Result<Selection, ForecastError> {
    if y.is_empty() {
        return Err(ForecastError::InvalidInput(
            "cannot forecast an empty series".into(),
        ));
    }
    super::error::check_finite(y)?;
    if season == 0 {
        return Err(ForecastError::InvalidInput(
            "season must be at least 1".into(),
        ));
    }
    let kind = classify(y);
    if let Some(sel) = fallback(y, season, kind)? {
        return Ok(sel);
    }
    match method {
        SelectionMethod::InformationCriterion { family } => {
            by_information_criterion(y, season, *family)
        }
        SelectionMethod::Backtest {
            config,
            metric,
            candidates,
        } => by_backtest(y, season, config, *metric, candidates),
    }
}

/// The fallback for constant, short and intermittent series; `None` for regular ones.
pub fn fallback(
    y: &[f64],
    season: usize,
    kind: SeriesKind,
) -> Result<Option<Selection>, ForecastError> {
    let (spec, note) = match kind {
        SeriesKind::Regular => return Ok(None),
        SeriesKind::Constant => (
            ModelSpec::Naive,
            "constant series: naive forecast (the constant, zero-width intervals)".to_string(),
        ),
        SeriesKind::Short => (
            ModelSpec::Naive,
            format!(
                "short series ({} observations, fewer than {MIN_FIT_LENGTH}): naive forecast",
                y.len()
            ),
        ),
        SeriesKind::Intermittent => {
            let spec = ModelSpec::AutoIntermittent;
            match spec.fit(y, season) {
                Ok(model) => {
                    let chosen = model.notes().into_iter().next().unwrap_or_default();
                    return Ok(Some(Selection {
                        spec,
                        model,
                        kind,
                        scores: Vec::new(),
                        notes: vec![format!(
                            "intermittent series (at least half zeros): {chosen}"
                        )],
                    }));
                }
                Err(e) => intermittent_fallback(y, season, &e),
            }
        }
    };
    let model = spec.fit(y, season)?;
    Ok(Some(Selection {
        spec,
        model,
        kind,
        scores: Vec::new(),
        notes: vec![note],
    }))
}

/// When the intermittent-demand models refuse a series (negative values): simple exponential
/// smoothing of the level, or a moving average if even that fails.
fn intermittent_fallback(y: &[f64], season: usize, why: &ForecastError) -> (ModelSpec, String) {
    let ses = ModelSpec::Ets(EtsSpec::new(
        ErrorType::Additive,
        TrendType::None,
        SeasonType::None,
    ));
    match ses.fit(y, season) {
        Ok(_) => (
            ses,
            format!(
                "intermittent series; intermittent-demand models refused it ({why}): simple \
                 exponential smoothing of the level; intervals may extend below zero"
            ),
        ),
        Err(e) => (
            ModelSpec::MovingAverage {
                window: y.len().min(12),
            },
            format!("intermittent series; {why}; smoothing failed ({e}): moving average"),
        ),
    }
}

fn by_information_criterion(
    y: &[f64],
    season: usize,
    family: Family,
) -> Result<Selection, ForecastError> {
    let (first, second) = match family {
        Family::Ets => (ModelSpec::AutoEts, ModelSpec::AutoArima),
        Family::Arima => (ModelSpec::AutoArima, ModelSpec::AutoEts),
    };
    let mut notes = Vec::new();
    for spec in [first, second] {
        match spec.fit(y, season) {
            Ok(model) => {
                let scores = vec![(model.name(), model.aicc().unwrap_or(f64::NAN))];
                notes.extend(model.notes());
                return Ok(Selection {
                    spec,
                    model,
                    kind: SeriesKind::Regular,
                    scores,
                    notes,
                });
            }
            Err(e) => notes.push(format!("{} failed: {e}", spec.label())),
        }
    }
    let spec = if season > 1 && y.len() >= season {
        ModelSpec::SeasonalNaive
    } else {
        ModelSpec::Naive
    };
    notes.push(format!("falling back to {}", spec.label()));
    let model = spec.fit(y, season)?;
    Ok(Selection {
        spec,
        model,
        kind: SeriesKind::Regular,
        scores: Vec::new(),
        notes,
    })
}

/// The candidates compared when a backtest configuration names none.
pub fn default_candidates(season: usize) -> Vec<ModelSpec> {
    let mut c = vec![
        ModelSpec::AutoEts,
        ModelSpec::AutoArima,
        ModelSpec::Naive,
        ModelSpec::Drift,
    ];
    if season > 1 {
        c.push(ModelSpec::SeasonalNaive);
    }
    c
}

fn metric_of(r: &BacktestReport, metric: Metric) -> f64 {
    match metric {
        Metric::Mae => r.summary.mae,
        Metric::Rmse => r.summary.rmse,
        Metric::Smape => r.summary.smape,
        Metric::Mase => r.summary.mase,
    }
}

fn by_backtest(
    y: &[f64],
    season: usize,
    config: &BacktestConfig,
    metric: Metric,
    candidates: &[ModelSpec],
) -> Result<Selection, ForecastError> {
    let candidates = if candidates.is_empty() {
        default_candidates(season)
    } else {
        candidates.to_vec()
    };
    if origins(y.len(), config, MIN_FIT_LENGTH).is_none() {
        let mut sel = by_information_criterion(y, season, Family::Ets)?;
        sel.notes.insert(
            0,
            format!(
                "series too short for {} backtest windows of horizon {}: chose by AICc instead",
                config.windows, config.horizon
            ),
        );
        return Ok(sel);
    }
    let mut scores = Vec::new();
    let mut notes = Vec::new();
    let mut best: Option<(ModelSpec, f64)> = None;
    for spec in candidates {
        match rolling_origin(y, season, &spec, config) {
            Ok(report) => {
                let s = metric_of(&report, metric);
                if !report.failures.is_empty() {
                    notes.push(format!(
                        "{}: {} window(s) failed",
                        spec.label(),
                        report.failures.len()
                    ));
                }
                scores.push((spec.label(), s));
                // Models that failed at some origins are only chosen if nothing complete wins.
                let s_eff = if report.failures.is_empty() {
                    s
                } else {
                    f64::INFINITY
                };
                if s_eff.is_finite() && best.as_ref().is_none_or(|b| s_eff < b.1) {
                    best = Some((spec, s_eff));
                }
            }
            Err(e) => notes.push(format!("{}: {e}", spec.label())),
        }
    }
    let Some((spec, _)) = best else {
        let mut sel = by_information_criterion(y, season, Family::Ets)?;
        sel.notes.splice(0..0, notes);
        sel.notes
            .push("no candidate completed the backtest: chose by AICc".into());
        return Ok(sel);
    };
    let model = spec.fit(y, season)?;
    notes.extend(model.notes());
    Ok(Selection {
        spec,
        model,
        kind: SeriesKind::Regular,
        scores,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::backtest::BacktestConfig;

    #[test]
    fn constant_short_and_intermittent_series_fall_back_with_a_note() {
        let method = SelectionMethod::default();
        let c = select(&[5.0; 30], 12, &method).unwrap();
        assert_eq!(c.kind, SeriesKind::Constant);
        let f = c.model.forecast(3, &[95.0]);
        assert_eq!(f.mean, vec![5.0; 3]);
        assert_eq!(f.intervals[0].lower, vec![5.0; 3]);
        assert!(c.notes[0].contains("constant"));

        let s = select(&[1.0, 3.0, 2.0], 12, &method).unwrap();
        assert_eq!(s.kind, SeriesKind::Short);
        assert_eq!(s.model.forecast(1, &[]).mean, vec![2.0]);

        let y: Vec<f64> = (0..40)
            .map(|i| if i % 3 == 0 { 4.0 } else { 0.0 })
            .collect();
        let i = select(&y, 1, &method).unwrap();
        assert_eq!(i.kind, SeriesKind::Intermittent);
        assert!(i.notes[0].contains("intermittent"));
        assert_eq!(i.spec, ModelSpec::AutoIntermittent);
        // Regular gaps of 3 and constant sizes: the "intermittent" class, SBA.
        assert!(
            i.notes[0].contains("demand class intermittent"),
            "{:?}",
            i.notes
        );
        assert!(i.notes[0].contains("croston_sba"), "{:?}", i.notes);
        let f = i.model.forecast(2, &[95.0]);
        assert!(f.mean[0].is_finite());
        assert!(f.intervals[0].lower[0] >= 0.0);

        // Negative values: the intermittent-demand models refuse, smoothing takes over.
        let neg: Vec<f64> = (0..40)
            .map(|i| {
                if i % 3 == 0 {
                    -4.0 + (i % 2) as f64
                } else {
                    0.0
                }
            })
            .collect();
        let n = select(&neg, 1, &method).unwrap();
        assert_eq!(n.kind, SeriesKind::Intermittent);
        assert!(n.notes[0].contains("refused"), "{:?}", n.notes);
    }

    #[test]
    fn backtest_choice_prefers_drift_on_a_trend() {
        let y: Vec<f64> = (0..40)
            .map(|i| 3.0 * i as f64 + if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let method = SelectionMethod::Backtest {
            config: BacktestConfig {
                horizon: 4,
                step: 2,
                windows: 3,
                levels: vec![80.0],
            },
            metric: Metric::Mae,
            candidates: vec![
                ModelSpec::Naive,
                ModelSpec::Drift,
                ModelSpec::MovingAverage { window: 3 },
            ],
        };
        let sel = select(&y, 1, &method).unwrap();
        assert_eq!(sel.spec, ModelSpec::Drift);
        assert_eq!(sel.scores.len(), 3);
    }
}
