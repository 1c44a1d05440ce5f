//! What a training run reports: per-step points, per-series accuracy, per-model summaries,
//! failures and the run's totals. Stored with forecasts, registered with the model version
//! and printed by the CLI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::conformal::BandMethod;
use super::series::{Frequency, Level, Period};

/// One forecast step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub date: Period,
    pub mean: f64,
    pub lower_80: f64,
    pub upper_80: f64,
    pub lower_95: f64,
    pub upper_95: f64,
    /// The conformal median, where the backtest left enough errors for one (the 10 % and
    /// 90 % quantiles are `lower_80` and `upper_80`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q50: Option<f64>,
}

/// Backtest accuracy of the chosen model; metrics are absent when the series was too short
/// to backtest (`note` says so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Accuracy {
    pub mase: Option<f64>,
    pub smape: Option<f64>,
    pub mae: Option<f64>,
    pub rmse: Option<f64>,
    /// Share of backtest actuals inside the served 80 % / 95 % bands. Conformal bands are
    /// scored leaving each backtest window out of their own calibration.
    pub coverage_80: Option<f64>,
    pub coverage_95: Option<f64>,
    /// Where the served bands come from: `conformal` (signed backtest errors),
    /// `conformal_symmetric` (absolute errors: too few for each tail) or `model` (the
    /// model's own band: too few errors). Absent on runs before calibrated bands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub interval_80: Option<BandMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub interval_95: Option<BandMethod>,
    /// Backtest coverage of the model's own bands, kept when conformal bands replaced them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_coverage_80: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_coverage_95: Option<f64>,
    /// Backtest errors the bands were calibrated on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_scores: Option<usize>,
    /// The in-sample seasonal-naive MAE of the fitted history: the MASE denominator, kept to
    /// score the forecast against the actuals that land later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mase_scale: Option<f64>,
    /// Backtest origins and steps per origin.
    pub windows: usize,
    pub horizon: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Per-model counts and mean accuracy in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub model: String,
    pub series: usize,
    pub mean_mase: Option<f64>,
    pub mean_smape: Option<f64>,
    pub mean_coverage_80: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesFailure {
    pub series_id: String,
    pub error: String,
}

/// What a run did (the job result and the CLI summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub run_id: String,
    pub frequency: Frequency,
    pub level: Level,
    pub horizon: usize,
    pub series_total: usize,
    pub series_fitted: usize,
    pub series_failed: usize,
    /// Zero-filled periods over all series.
    pub filled_periods: usize,
    pub history_end: Option<Period>,
    pub models: Vec<ModelSummary>,
    pub failures: Vec<SeriesFailure>,
    /// Lake path of the Parquet export.
    pub export_path: Option<String>,
    /// Lake path of the actuals the run fitted (what history and charts serve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actuals_path: Option<String>,
    pub seconds: f64,
    /// The model-registry version of this run (kind `forecaster`, promoted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Periods and series the run left out, and why (see `forecast::periods`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Series that stopped selling: left out (unless `pad_ended`), or forecast from their own
    /// last period with `own_end`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series_ended: Vec<super::periods::EndedSeries>,
    /// What the exogenous regressors did, when the run had any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<RegressionSummary>,
    /// How a hierarchical run reconciled its levels (see `forecast::hierarchy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation: Option<super::hierarchy::ReconciliationReport>,
}

/// The regressors of a run and how often they helped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionSummary {
    pub regressors: Vec<String>,
    /// Series with at least one usable (present, varying) regressor.
    pub series_with_regressors: usize,
    /// Series whose chosen model is the regression.
    pub series_chosen: usize,
    /// Time to read the regressor values from the offline store.
    pub read_seconds: f64,
}

pub(super) fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().filter(|x| x.is_finite()).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

pub(super) fn summarize(accuracies: &[(String, Accuracy)]) -> Vec<ModelSummary> {
    let mut groups: BTreeMap<&str, Vec<&Accuracy>> = BTreeMap::new();
    for (model, acc) in accuracies {
        groups.entry(model).or_default().push(acc);
    }
    let mut out: Vec<ModelSummary> = groups
        .into_iter()
        .map(|(model, accs)| ModelSummary {
            model: model.to_string(),
            series: accs.len(),
            mean_mase: mean_of(accs.iter().map(|a| a.mase)),
            mean_smape: mean_of(accs.iter().map(|a| a.smape)),
            mean_coverage_80: mean_of(accs.iter().map(|a| a.coverage_80)),
        })
        .collect();
    out.sort_by(|a, b| b.series.cmp(&a.series).then(a.model.cmp(&b.model)));
    out
}
