//! Training run: every demand series of one level and frequency gets a model chosen for it,
//! a forecast with 80/95 % intervals and a rolling-origin backtest of the chosen model; the
//! results replace the stored latest forecasts and go to a Parquet export.
//!
//! Why chunks: series are fitted in chunks of [`CHUNK`] on rayon's pool (all cores) from a
//! blocking thread, and each chunk's rows are written to the DB before the next starts, so
//! the fitted models of at most one chunk are alive at a time and a run that dies midway has
//! already stored what it finished. Only the forecast points (a few numbers per step) are
//! kept for the export.
//!
//! Why the backtest of the *winner*: the selection may already have backtested candidates,
//! but planners need one accuracy figure per series they can compare across runs and
//! methods, measured the same way whatever chose the model.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Date32Array, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::backtest::{BacktestConfig, rolling_origin};
use super::regressors::{self, Observed, Resolved};
use super::select::{Metric, SelectionMethod, default_candidates, select};
use super::series::{DemandError, Frequency, Level, Series, load_sales};
use super::{DEFAULT_LEVELS, Forecast};
use crate::app::App;
use crate::db::forecasts::{self as repo, ForecastRow};
use crate::db::now_ms;

/// Series fitted per parallel chunk (and per DB transaction).
pub const CHUNK: usize = 64;
/// Longest horizon a run accepts.
pub const MAX_HORIZON: usize = 366;
/// Failures listed in a report (the count is always complete).
const MAX_LISTED_FAILURES: usize = 20;

/// How each series' model is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SelectBy {
    /// Lowest AICc within exponential smoothing (ARIMA when ETS fails): one fit per series.
    #[default]
    Aicc,
    /// Lowest backtest MASE among ETS, ARIMA and the naive family: several fits per series.
    Backtest,
}

impl std::str::FromStr for SelectBy {
    type Err = DemandError;
    fn from_str(s: &str) -> Result<Self, DemandError> {
        match s {
            "aicc" => Ok(SelectBy::Aicc),
            "backtest" => Ok(SelectBy::Backtest),
            other => Err(DemandError::invalid(
                "select",
                format!("unknown selection `{other}` (aicc, backtest)"),
            )),
        }
    }
}

/// What to train (also the `train_forecaster` job payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    #[serde(default)]
    pub frequency: Frequency,
    /// Steps to forecast; default two weeks, a quarter of weeks or a year of months.
    #[serde(default)]
    pub horizon: Option<usize>,
    #[serde(default)]
    pub level: Level,
    /// Only series whose id matches this glob (`*`, `?`), e.g. `item=I1/*`.
    #[serde(default)]
    pub series: Option<String>,
    #[serde(default)]
    pub select: SelectBy,
    /// Sales from this date on (default: all).
    #[serde(default)]
    pub from: Option<NaiveDate>,
    /// Sales up to this date (default: all).
    #[serde(default)]
    pub to: Option<NaiveDate>,
    /// Exogenous regressors, feature references `view:feature` of item x store views (e.g.
    /// `item_store_price:on_promo`); only for level `item_store` at frequency `day`. Each
    /// series then also gets a regression-with-ARIMA-errors candidate (see
    /// [`super::regressors`]). Empty: no regressors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regressors: Vec<String>,
}

impl TrainParams {
    pub fn horizon(&self) -> usize {
        self.horizon.unwrap_or(match self.frequency {
            Frequency::Day => 14,
            Frequency::Week => 13,
            Frequency::Month => 12,
        })
    }

    /// Rejects values a run cannot use, naming the field.
    pub fn validate(&self) -> Result<(), DemandError> {
        let h = self.horizon();
        if h == 0 || h > MAX_HORIZON {
            return Err(DemandError::invalid(
                "horizon",
                format!("horizon must be between 1 and {MAX_HORIZON}, got {h}"),
            ));
        }
        if let (Some(f), Some(t)) = (self.from, self.to)
            && f > t
        {
            return Err(DemandError::invalid("from", "`from` is after `to`"));
        }
        regressors::check_params(&self.regressors, self.level, self.frequency)?;
        self.matcher().map(|_| ())
    }

    fn matcher(&self) -> Result<Option<globset::GlobMatcher>, DemandError> {
        self.series
            .as_deref()
            .map(|pattern| {
                globset::GlobBuilder::new(pattern)
                    .literal_separator(false)
                    .build()
                    .map(|g| g.compile_matcher())
                    .map_err(|e| DemandError::invalid("series", format!("bad series filter: {e}")))
            })
            .transpose()
    }
}

/// One forecast step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub date: NaiveDate,
    pub mean: f64,
    pub lower_80: f64,
    pub upper_80: f64,
    pub lower_95: f64,
    pub upper_95: f64,
}

/// Backtest accuracy of the chosen model; metrics are absent when the series was too short
/// to backtest (`note` says so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Accuracy {
    pub mase: Option<f64>,
    pub smape: Option<f64>,
    pub mae: Option<f64>,
    pub rmse: Option<f64>,
    pub coverage_80: Option<f64>,
    pub coverage_95: Option<f64>,
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
    pub history_end: Option<NaiveDate>,
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
    /// What the exogenous regressors did, when the run had any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<RegressionSummary>,
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

/// One fitted series.
struct Fitted {
    row: ForecastRow,
    points: Vec<Point>,
    accuracy: Accuracy,
    /// The series had usable regressors and the regression candidate was considered.
    regression_tried: bool,
    regression_chosen: bool,
}

/// Trains every selected series; `progress` gets (percent done, message).
pub async fn train(
    app: &App,
    params: &TrainParams,
    progress: &(dyn Fn(f64, &str) + Send + Sync),
) -> Result<TrainReport, DemandError> {
    params.validate()?;
    let resolved = if params.regressors.is_empty() {
        Resolved::default()
    } else {
        let dir = std::path::Path::new(&app.settings.pipelines_dir);
        let catalog = crate::features::registry::sync_dir(&app.db, dir)
            .await
            .map_err(|e| DemandError::invalid(regressors::FIELD, e.to_string()))?;
        regressors::resolve(&catalog, &params.regressors)?
    };
    let started = Instant::now();
    let run_id = uuid::Uuid::now_v7().to_string();
    let params_json =
        serde_json::to_string(params).map_err(|e| DemandError::Task(e.to_string()))?;
    repo::start_run(&app.db, &run_id, &params_json, now_ms()).await?;
    let mut guard = AbandonedRun {
        db: app.db.clone(),
        run_id: Some(run_id.clone()),
    };
    let outcome = run(app, params, &resolved, &run_id, progress, started).await;
    guard.run_id = None;
    let (total, fitted, failed, export, error) = match &outcome {
        Ok(r) => (
            r.series_total,
            r.series_fitted,
            r.series_failed,
            r.export_path.clone(),
            None,
        ),
        Err(e) => (0, 0, 0, None, Some(e.to_string())),
    };
    repo::finish_run(
        &app.db,
        &run_id,
        now_ms(),
        total as i64,
        fitted as i64,
        failed as i64,
        export.as_deref(),
        error.as_deref(),
    )
    .await?;
    outcome
}

/// Marks a run failed when its future is dropped before it finished (a cancelled job, a
/// shutdown), so `forecast_runs` never shows a dead run as `running` forever.
struct AbandonedRun {
    db: crate::db::Db,
    run_id: Option<String>,
}

impl Drop for AbandonedRun {
    fn drop(&mut self) {
        let (Some(run_id), Ok(handle)) =
            (self.run_id.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let db = self.db.clone();
        handle.spawn(async move {
            let stopped = Some("stopped before it finished (cancelled or shut down)");
            if let Err(e) = repo::finish_run(&db, &run_id, now_ms(), 0, 0, 0, None, stopped).await {
                tracing::warn!(run_id, error = %e, "cannot mark the abandoned forecast run");
            }
        });
    }
}

async fn run(
    app: &App,
    params: &TrainParams,
    resolved: &Resolved,
    run_id: &str,
    progress: &(dyn Fn(f64, &str) + Send + Sync),
    started: Instant,
) -> Result<TrainReport, DemandError> {
    progress(0.0, "reading sales");
    let index = load_sales(app, params.from, params.to, None).await?;
    let matcher = params.matcher()?;
    let series: Vec<Series> = index
        .series(params.frequency, params.level, None)
        .into_iter()
        .filter(|s| matcher.as_ref().is_none_or(|m| m.is_match(s.id())))
        .collect();
    drop(index);
    if series.is_empty() {
        return Err(DemandError::NoData(match &params.series {
            Some(f) => format!("no sales series matches `{f}`"),
            None => "the sales dataset has no rows to train on".into(),
        }));
    }
    let total = series.len();
    let history_end = series.iter().map(Series::end).max();
    let filled_periods = series.iter().map(|s| s.filled).sum();
    let horizon = params.horizon();
    let select_by = params.select;
    let trained_at = now_ms();
    let mut regression = None;
    let observed: Vec<Option<Observed>> = if resolved.names.is_empty() {
        vec![None; total]
    } else {
        progress(0.0, "reading regressors");
        let read = Instant::now();
        let observed = regressors::load(&app.lake, resolved, &series).await?;
        let read_seconds = read.elapsed().as_secs_f64();
        tracing::info!(
            series = total,
            regressors = resolved.names.len(),
            seconds = read_seconds,
            "regressor values read from the offline feature store"
        );
        regression = Some(RegressionSummary {
            regressors: resolved.names.clone(),
            series_with_regressors: 0,
            series_chosen: 0,
            read_seconds,
        });
        observed.into_iter().map(Some).collect()
    };
    let observed = Arc::new(observed);
    let mut exported: Vec<(ForecastRow, Vec<Point>)> = Vec::with_capacity(total);
    let mut accuracies: Vec<(String, Accuracy)> = Vec::with_capacity(total);
    let mut failures = Vec::new();
    let mut failed = 0usize;
    let mut done = 0usize;
    let series = Arc::new(series);
    for start in (0..total).step_by(CHUNK) {
        let end = (start + CHUNK).min(total);
        let chunk = Arc::clone(&series);
        let chunk_observed = Arc::clone(&observed);
        let run_id_owned = run_id.to_string();
        let results = tokio::task::spawn_blocking(move || {
            chunk[start..end]
                .par_iter()
                .zip(&chunk_observed[start..end])
                .map(|(s, obs)| {
                    (
                        s.id(),
                        fit_series(
                            s,
                            obs.as_ref(),
                            horizon,
                            select_by,
                            &run_id_owned,
                            trained_at,
                        ),
                    )
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| DemandError::Task(e.to_string()))?;
        let mut rows = Vec::with_capacity(results.len());
        for (id, result) in results {
            match result {
                Ok(f) => {
                    if let Some(r) = regression.as_mut() {
                        r.series_with_regressors += usize::from(f.regression_tried);
                        r.series_chosen += usize::from(f.regression_chosen);
                    }
                    rows.push(f.row.clone());
                    accuracies.push((f.row.model.clone(), f.accuracy));
                    exported.push((f.row, f.points));
                }
                Err(error) => {
                    failed += 1;
                    if failures.len() < MAX_LISTED_FAILURES {
                        failures.push(SeriesFailure {
                            series_id: id,
                            error,
                        });
                    }
                }
            }
        }
        repo::upsert(&app.db, &rows).await?;
        done = end;
        progress(
            95.0 * done as f64 / total as f64,
            &format!("{done}/{total} series fitted"),
        );
    }
    debug_assert_eq!(done, total);
    progress(95.0, "writing the export");
    let (export_path, actuals_path) = if exported.is_empty() {
        (None, None)
    } else {
        let fitted: std::collections::HashSet<&str> = exported
            .iter()
            .map(|(row, _)| row.series_id.as_str())
            .collect();
        let fitted_series: Vec<&Series> = series
            .iter()
            .filter(|s| fitted.contains(s.id().as_str()))
            .collect();
        (
            Some(export(app, run_id, &exported).await?),
            Some(super::actuals::write(app.lake.store(), run_id, &fitted_series).await?),
        )
    };
    let mut report = TrainReport {
        run_id: run_id.to_string(),
        frequency: params.frequency,
        level: params.level,
        horizon,
        series_total: total,
        series_fitted: exported.len(),
        series_failed: failed,
        filled_periods,
        history_end,
        models: summarize(&accuracies),
        failures,
        export_path,
        actuals_path,
        seconds: 0.0,
        model_version: None,
        regression,
    };
    if !exported.is_empty() {
        progress(97.0, "registering the run");
        let rows = exported.into_iter().map(|(row, _)| row).collect();
        let version = super::versions::register_run(app, params, &report, rows).await?;
        report.model_version = Some(version.id);
    }
    report.seconds = started.elapsed().as_secs_f64();
    progress(100.0, "done");
    Ok(report)
}

fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().filter(|x| x.is_finite()).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn summarize(accuracies: &[(String, Accuracy)]) -> Vec<ModelSummary> {
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

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The selection method a run uses for series of `season`.
fn method(select_by: SelectBy, horizon: usize, season: usize) -> SelectionMethod {
    match select_by {
        SelectBy::Aicc => SelectionMethod::default(),
        SelectBy::Backtest => SelectionMethod::Backtest {
            config: BacktestConfig {
                horizon,
                step: horizon,
                windows: 3,
                levels: DEFAULT_LEVELS.to_vec(),
            },
            metric: Metric::Mase,
            candidates: default_candidates(season),
        },
    }
}

/// Rolling-origin accuracy of the chosen spec: three windows of the run's horizon when the
/// series is long enough, else one, else one of a quarter of the series.
fn accuracy(y: &[f64], season: usize, spec: &super::ModelSpec, horizon: usize) -> Accuracy {
    let short = (y.len() / 4).max(1);
    let mut last_error = String::new();
    for (h, windows) in [(horizon, 3), (horizon, 1), (short.min(horizon), 1)] {
        let cfg = window_config(h, windows);
        match rolling_origin(y, season, spec, &cfg) {
            Ok(report) => return accuracy_of(&report, h),
            Err(e) => last_error = e.to_string(),
        }
    }
    Accuracy {
        note: Some(format!("not backtested: {last_error}")),
        ..Accuracy::default()
    }
}

fn window_config(h: usize, windows: usize) -> BacktestConfig {
    BacktestConfig {
        horizon: h,
        step: h,
        windows,
        levels: DEFAULT_LEVELS.to_vec(),
    }
}

/// The accuracy figures of a backtest report with windows of `h` steps.
fn accuracy_of(report: &super::backtest::BacktestReport, h: usize) -> Accuracy {
    let cov = |level: f64| {
        report
            .summary
            .coverage
            .iter()
            .find(|(l, _)| (*l - level).abs() < 1e-9)
            .and_then(|(_, c)| finite(*c))
    };
    Accuracy {
        mase: finite(report.summary.mase),
        smape: finite(report.summary.smape),
        mae: finite(report.summary.mae),
        rmse: finite(report.summary.rmse),
        coverage_80: cov(80.0),
        coverage_95: cov(95.0),
        windows: report.windows.len(),
        horizon: h,
        note: (!report.failures.is_empty())
            .then(|| format!("{} window(s) failed", report.failures.len())),
    }
}

/// Forecast points with dates, clipped at zero (demand is not negative) and with the bands
/// nested (95 outside 80 outside the mean) whatever the model's interval method.
pub fn points(fc: &Forecast, dates: &[NaiveDate]) -> Result<Vec<Point>, String> {
    let band = |level: f64| {
        fc.interval(level)
            .ok_or_else(|| format!("the model gave no {level}% interval"))
    };
    let (i80, i95) = (band(80.0)?, band(95.0)?);
    let mut out = Vec::with_capacity(dates.len());
    for (k, date) in dates.iter().enumerate() {
        let raw = [
            fc.mean[k],
            i80.lower[k],
            i80.upper[k],
            i95.lower[k],
            i95.upper[k],
        ];
        if raw.iter().any(|v| !v.is_finite()) {
            return Err(format!("non-finite forecast at step {}", k + 1));
        }
        let mean = raw[0].max(0.0);
        let lower_80 = raw[1].max(0.0).min(mean);
        let upper_80 = raw[2].max(mean);
        let lower_95 = raw[3].max(0.0).min(lower_80);
        let upper_95 = raw[4].max(upper_80);
        out.push(Point {
            date: *date,
            mean,
            lower_80,
            upper_80,
            lower_95,
            upper_95,
        });
    }
    Ok(out)
}

fn fit_series(
    s: &Series,
    observed: Option<&Observed>,
    horizon: usize,
    select_by: SelectBy,
    run_id: &str,
    trained_at: i64,
) -> Result<Fitted, String> {
    let season = s.frequency.season();
    let sel = select(&s.values, season, &method(select_by, horizon, season))
        .map_err(|e| e.to_string())?;
    let mut chosen = Chosen {
        spec: sel.spec.clone(),
        model: sel.model.name(),
        params: sel.model.params(),
        forecast: sel.model.forecast(horizon, &DEFAULT_LEVELS),
        accuracy: accuracy(&s.values, season, &sel.spec, horizon),
    };
    let mut notes = sel.notes;
    let mut regression = None;
    if let Some(observed) = observed {
        regression = consider_regression(s, observed, sel.kind, horizon, &mut chosen, &mut notes);
    }
    let fc = chosen.forecast;
    if fc.mean.len() != horizon {
        return Err(format!(
            "the model forecast {} steps instead of {horizon}",
            fc.mean.len()
        ));
    }
    let end = s.end();
    let points = points(&fc, &s.frequency.dates_after(end, horizon))?;
    let accuracy = chosen.accuracy;
    let regression_tried = regression.is_some();
    let regression_chosen = regression
        .as_ref()
        .is_some_and(|r| r["chosen"] == serde_json::Value::Bool(true));
    let mut params = serde_json::json!({
        "spec": chosen.spec,
        "model": chosen.params,
        "series_kind": sel.kind,
        "scores": sel.scores,
        "notes": notes,
        "observations": s.values.len(),
        "filled_periods": s.filled,
        "levels": DEFAULT_LEVELS,
    });
    if let Some(r) = regression {
        params["regression"] = r;
    }
    Ok(Fitted {
        row: ForecastRow {
            series_id: s.id(),
            item_id: s.key.item_id.clone(),
            store_id: s.key.store_id.clone(),
            level: s.key.level().as_str().to_string(),
            frequency: s.frequency.as_str().to_string(),
            model: chosen.model,
            params: params.to_string(),
            accuracy: encode(&accuracy)?,
            points: encode(&points)?,
            horizon: horizon as i64,
            history_end: end.to_string(),
            trained_at,
            run_id: run_id.to_string(),
        },
        points,
        accuracy,
        regression_tried,
        regression_chosen,
    })
}

/// The model a series ends up with.
struct Chosen {
    spec: super::ModelSpec,
    model: String,
    params: serde_json::Value,
    forecast: Forecast,
    accuracy: Accuracy,
}

/// Puts the regression with ARIMA errors against the usual winner in `chosen` (backtest MASE
/// on the same windows, strictly lower wins) and replaces it when it wins. Returns what
/// happened for the stored params (`None` when the series had no usable regressor or is too
/// degenerate for one); the notes say why in every case.
fn consider_regression(
    s: &Series,
    observed: &Observed,
    kind: super::select::SeriesKind,
    horizon: usize,
    chosen: &mut Chosen,
    notes: &mut Vec<String>,
) -> Option<serde_json::Value> {
    use super::select::SeriesKind;
    let season = s.frequency.season();
    let Some(design) = regressors::design(observed, notes) else {
        notes.push("no usable regressor: the usual model".into());
        return None;
    };
    if matches!(kind, SeriesKind::Constant | SeriesKind::Short) {
        notes.push(format!(
            "{} series: regressors not used",
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ));
        return None;
    }
    let usual = chosen.model.clone();
    let mut out = serde_json::json!({
        "regressors": design.names,
        "chosen": false,
        "usual_model": usual,
        "backtest": "known future regressors: each window is forecast with its actual regressor values",
    });
    let (Some(base), None) = (chosen.accuracy.mase, chosen.accuracy.note.as_ref()) else {
        notes.push(
            "regression not considered: the usual model has no complete backtest to compare with"
                .into(),
        );
        return Some(out);
    };
    let order = match regressors::order(&s.values, season, &design) {
        Ok(o) => o,
        Err(e) => {
            notes.push(format!(
                "no error orders for the regression ({e}): the usual model"
            ));
            return Some(out);
        }
    };
    out["error_orders"] = serde_json::json!(order.name());
    let cfg = window_config(chosen.accuracy.horizon, chosen.accuracy.windows);
    let report = match regressors::backtest(&s.values, season, &design, &order, &cfg) {
        Ok(r) if r.failures.is_empty() && r.summary.mase.is_finite() => r,
        Ok(r) => {
            notes.push(format!(
                "regression failed in {} backtest window(s): the usual model",
                r.failures.len()
            ));
            return Some(out);
        }
        Err(e) => {
            notes.push(format!("regression not backtested ({e}): the usual model"));
            return Some(out);
        }
    };
    let mase = report.summary.mase;
    out["backtest_mase"] = serde_json::json!({"regression": mase, "usual": base});
    if mase >= base {
        notes.push(format!(
            "regression with ARIMA errors not chosen: backtest MASE {mase:.3} against {base:.3} \
             for {usual}"
        ));
        return Some(out);
    }
    match regressors::fit_and_forecast(&s.values, &design, &order, horizon, &DEFAULT_LEVELS) {
        Ok((model, forecast)) => {
            let coefficients: serde_json::Map<String, serde_json::Value> = design
                .names
                .iter()
                .zip(model.beta())
                .map(|(n, b)| (n.clone(), serde_json::json!(b)))
                .collect();
            let future: serde_json::Map<String, serde_json::Value> = design
                .names
                .iter()
                .zip(&design.future)
                .map(|(n, v)| (n.clone(), serde_json::json!(v)))
                .collect();
            let held = design
                .names
                .iter()
                .zip(&design.future)
                .map(|(n, v)| format!("{n} = {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            notes.push(format!(
                "regression with ARIMA errors chosen: backtest MASE {mase:.3} against {base:.3} \
                 for {usual}"
            ));
            notes.push(format!(
                "future regressors held at their last observed values (no planned change): {held}"
            ));
            let mut params = model.params();
            params["coefficients"] = serde_json::Value::Object(coefficients.clone());
            out["chosen"] = serde_json::Value::Bool(true);
            out["coefficients"] = serde_json::Value::Object(coefficients);
            out["future"] = serde_json::Value::Object(future);
            out["future_rule"] = "last observed value held over the horizon".into();
            *chosen = Chosen {
                spec: regressors::spec(&design),
                model: model.name(),
                params,
                forecast,
                accuracy: accuracy_of(&report, cfg.horizon),
            };
        }
        Err(e) => notes.push(format!(
            "regression won the backtest (MASE {mase:.3} against {base:.3}) but failed on the \
             whole series ({e}): the usual model"
        )),
    }
    Some(out)
}

/// JSON text, errors as strings (they become per-series failures).
fn encode<T: Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string(v).map_err(|e| e.to_string())
}

/// Lake path of a run's export.
pub fn export_path(run_id: &str) -> String {
    format!("exports/forecasts/run={run_id}/forecasts.parquet")
}

/// Writes `exports/forecasts/run=<id>/forecasts.parquet`: one row per series and step.
async fn export(
    app: &App,
    run_id: &str,
    fitted: &[(ForecastRow, Vec<Point>)],
) -> Result<String, DemandError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let rows = fitted
        .iter()
        .flat_map(|(r, pts)| pts.iter().map(move |p| (r, p)));
    let mut series_id = Vec::new();
    let mut item_id = Vec::new();
    let mut store_id = Vec::new();
    let mut date = Vec::new();
    let mut cols: [Vec<f64>; 5] = Default::default();
    let mut model = Vec::new();
    for (r, p) in rows {
        series_id.push(r.series_id.as_str());
        item_id.push(r.item_id.as_deref());
        store_id.push(r.store_id.as_deref());
        date.push((p.date - epoch).num_days() as i32);
        for (c, v) in cols
            .iter_mut()
            .zip([p.mean, p.lower_80, p.upper_80, p.lower_95, p.upper_95])
        {
            c.push(v);
        }
        model.push(r.model.as_str());
    }
    let float = |name: &str| Field::new(name, DataType::Float64, false);
    let schema = Arc::new(Schema::new(vec![
        Field::new("series_id", DataType::Utf8, false),
        Field::new("item_id", DataType::Utf8, true),
        Field::new("store_id", DataType::Utf8, true),
        Field::new("date", DataType::Date32, false),
        float("mean"),
        float("lower_80"),
        float("upper_80"),
        float("lower_95"),
        float("upper_95"),
        Field::new("model", DataType::Utf8, false),
    ]));
    let [mean, l80, u80, l95, u95] = cols;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(series_id)),
        Arc::new(StringArray::from(item_id)),
        Arc::new(StringArray::from(store_id)),
        Arc::new(Date32Array::from(date)),
        Arc::new(Float64Array::from(mean)),
        Arc::new(Float64Array::from(l80)),
        Arc::new(Float64Array::from(u80)),
        Arc::new(Float64Array::from(l95)),
        Arc::new(Float64Array::from(u95)),
        Arc::new(StringArray::from(model)),
    ];
    let batch =
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| DemandError::Lake(e.into()))?;
    let mut buf = Vec::new();
    {
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None)
            .map_err(|e| DemandError::Lake(e.into()))?;
        writer
            .write(&batch)
            .map_err(|e| DemandError::Lake(e.into()))?;
        writer.close().map_err(|e| DemandError::Lake(e.into()))?;
    }
    let path = export_path(run_id);
    app.lake
        .store()
        .put(&object_store::path::Path::from(path.as_str()), buf.into())
        .await
        .map_err(|e| DemandError::Lake(e.into()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::Interval;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[tokio::test]
    async fn a_dropped_run_is_marked_failed() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = crate::db::Db::open(&url).await.unwrap();
        repo::start_run(&db, "r1", "{}", 1).await.unwrap();
        repo::start_run(&db, "r2", "{}", 1).await.unwrap();
        drop(AbandonedRun {
            db: db.clone(),
            run_id: Some("r1".into()),
        });
        // A finished run's guard is disarmed and leaves the row alone.
        drop(AbandonedRun {
            db: db.clone(),
            run_id: None,
        });
        let mut status = String::new();
        for _ in 0..200 {
            status = repo::get_run(&db, "r1").await.unwrap().unwrap().status;
            if status != "running" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(status, "failed");
        let r1 = repo::get_run(&db, "r1").await.unwrap().unwrap();
        assert!(r1.error.unwrap().contains("stopped"));
        assert_eq!(
            repo::get_run(&db, "r2").await.unwrap().unwrap().status,
            "running"
        );
    }

    #[test]
    fn points_are_clipped_at_zero_and_nested() {
        let fc = Forecast {
            mean: vec![-1.0, 5.0],
            intervals: vec![
                Interval {
                    level: 80.0,
                    lower: vec![-3.0, 4.0],
                    upper: vec![1.0, 6.0],
                },
                Interval {
                    level: 95.0,
                    lower: vec![-5.0, 4.5],
                    upper: vec![2.0, 5.5],
                },
            ],
        };
        let p = points(&fc, &[d("2026-01-01"), d("2026-01-02")]).unwrap();
        assert_eq!(
            (
                p[0].lower_95,
                p[0].lower_80,
                p[0].mean,
                p[0].upper_80,
                p[0].upper_95
            ),
            (0.0, 0.0, 0.0, 1.0, 2.0)
        );
        // A 95% band narrower than the 80% one is widened to contain it.
        assert_eq!((p[1].lower_95, p[1].upper_95), (4.0, 6.0));
        let missing = Forecast {
            mean: vec![1.0],
            intervals: vec![],
        };
        assert!(points(&missing, &[d("2026-01-01")]).is_err());
    }

    #[test]
    fn params_validation_names_the_field() {
        let mut p = TrainParams {
            horizon: Some(0),
            ..TrainParams::default()
        };
        assert!(
            matches!(p.validate(), Err(DemandError::Invalid { field, .. }) if field == "horizon")
        );
        p.horizon = Some(7);
        assert!(p.validate().is_ok());
        p.series = Some("item=[".into());
        assert!(
            matches!(p.validate(), Err(DemandError::Invalid { field, .. }) if field == "series")
        );
        assert_eq!(TrainParams::default().horizon(), 14);
        let json: TrainParams =
            serde_json::from_value(serde_json::json!({"frequency": "week", "select": "backtest"}))
                .unwrap();
        assert_eq!(
            (json.frequency, json.select, json.horizon()),
            (Frequency::Week, SelectBy::Backtest, 13)
        );
    }

    #[test]
    fn backtest_selection_compares_all_families_on_the_run_horizon() {
        match method(SelectBy::Backtest, 14, 7) {
            SelectionMethod::Backtest {
                config,
                metric,
                candidates,
            } => {
                assert_eq!((config.horizon, config.step, config.windows), (14, 14, 3));
                assert_eq!(metric, Metric::Mase);
                assert_eq!(candidates, default_candidates(7));
                assert!(candidates.contains(&super::super::ModelSpec::AutoArima));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(method(SelectBy::Aicc, 14, 7), SelectionMethod::default());
    }

    #[test]
    fn backtest_selection_fits_a_short_monthly_series() {
        // Cheap end to end: 30 months, so the backtest candidates are quick to refit.
        let values: Vec<f64> = (0..30)
            .map(|t| 50.0 + (t % 12) as f64 * 3.0 + t as f64)
            .collect();
        let s = Series {
            key: super::super::series::SeriesKey {
                item_id: Some("I1".into()),
                store_id: None,
            },
            frequency: Frequency::Month,
            start: d("2024-01-01"),
            values,
            filled: 0,
        };
        let f = fit_series(&s, None, 3, SelectBy::Backtest, "r1", 1).unwrap();
        assert_eq!(
            f.points.iter().map(|p| p.date).collect::<Vec<_>>(),
            vec![d("2026-07-01"), d("2026-08-01"), d("2026-09-01")]
        );
        let params: serde_json::Value = serde_json::from_str(&f.row.params).unwrap();
        // One backtest score per candidate that completed (an AICc choice has one score).
        assert!(params["scores"].as_array().unwrap().len() >= 3, "{params}");
        assert_eq!(f.row.level, "item");
    }

    #[test]
    fn one_series_is_fitted_with_dates_after_its_end_and_a_backtest() {
        let values: Vec<f64> = (0..56)
            .map(|t| 10.0 + (t % 7) as f64 + (t / 7) as f64 * 0.5)
            .collect();
        let s = Series {
            key: super::super::series::SeriesKey {
                item_id: Some("I1".into()),
                store_id: Some("S1".into()),
            },
            frequency: Frequency::Day,
            start: d("2026-01-01"),
            values,
            filled: 0,
        };
        let f = fit_series(&s, None, 7, SelectBy::Aicc, "r1", 1).unwrap();
        assert_eq!(f.points.len(), 7);
        assert_eq!(f.points[0].date, d("2026-02-26"));
        assert_eq!(f.row.history_end, "2026-02-25");
        assert_eq!(f.accuracy.windows, 3);
        assert!(f.accuracy.mase.is_some());
        assert_eq!(f.row.series_id, "item=I1/store=S1");
    }
}
