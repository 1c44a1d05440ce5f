//! Training run: every demand series of one level and frequency (or, with `reconcile`, every
//! node of the item x store hierarchy, see [`super::hierarchy`]) gets a model chosen for it,
//! a forecast with conformal 80/95 % bands and a rolling-origin backtest of the chosen model;
//! the results replace the stored latest forecasts and go to a Parquet export.
//!
//! Why chunks: series are fitted in chunks of [`CHUNK`] on rayon's pool (all cores) from a
//! blocking thread, and each chunk's rows are written to the DB before the next starts, so
//! the fitted models of at most one chunk are alive at a time and a run that dies midway has
//! already stored what it finished. Only the forecast points (a few numbers per step) are
//! kept for the export.
//!
//! Why bands per chunk: each series' backtest errors are too few to calibrate its bands on
//! their own, so a chunk's series are fitted first and their errors pooled into one
//! conformal calibration (`fit::pool`) that bands every series of the chunk; the chunk is
//! still the unit that is stored.
//!
//! Why the backtest of the *winner*: the selection may already have backtested candidates,
//! but planners need one accuracy figure per series they can compare across runs and
//! methods, measured the same way whatever chose the model.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::export::export;
use super::fit::{Choice, Fitted, Unbanded, pool, prepare};
use super::hierarchy::{self, ReconcileBy, ReconciliationReport};
use super::prophet::ProphetSpec;
use super::reconcile::Hierarchy;
use super::regressors::{self, Observed, Resolved};
use super::report::summarize;
use super::series::{DemandError, Level, Series, load_sales};
use crate::app::App;
use crate::db::forecasts::{self as repo, ForecastRow};
use crate::db::now_ms;
use crate::progress::Progress;

pub use super::params::{CHUNK, MAX_HORIZON, SelectBy, TrainParams};
pub use super::report::{
    Accuracy, ModelSummary, Point, RegressionSummary, SeriesFailure, TrainReport,
};

/// Failures listed in a report (the count is always complete).
const MAX_LISTED_FAILURES: usize = 20;

/// Trains every selected series; `progress` gets (percent done, message).
pub async fn run(
    app: &App,
    params: &TrainParams,
    progress: &dyn Progress,
) -> Result<TrainReport, DemandError> {
    params.validate()?;
    let resolved = if params.regressors.is_empty() {
        Resolved::default()
    } else {
        let dir = std::path::Path::new(&app.settings.pipelines_dir);
        let catalog = crate::features::catalog::sync_dir(&app.db, dir)
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
    let outcome = fit_all(app, params, &resolved, &run_id, progress, started).await;
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

/// Refuses a series filter that matches no series of the requested level in the sales
/// between `from` and `to`: such a run could only fail (checked before a job is queued).
pub async fn check_series_filter(app: &App, params: &TrainParams) -> Result<(), DemandError> {
    let Some(matcher) = params.matcher()? else {
        return Ok(());
    };
    if params.level == Level::Category {
        // Category ids come from the items catalog: the run itself says when none matches.
        return Ok(());
    }
    if super::series::any_series(app, params.from, params.to, params.level, |id| {
        matcher.is_match(id)
    })
    .await?
    {
        return Ok(());
    }
    let pattern = params.series.as_deref().unwrap_or_default();
    Err(DemandError::invalid(
        "series",
        format!(
            "`{pattern}` matches no {} series in the sales data (ids look like `{}`)",
            params.level,
            level_example(params.level)
        ),
    ))
}

fn level_example(level: super::series::Level) -> &'static str {
    match level {
        super::series::Level::ItemStore => "item=I1/store=S1",
        super::series::Level::Item => "item=I1",
        super::series::Level::Store => "store=S1",
        super::series::Level::Total => "total",
        super::series::Level::Category => "category=C1",
    }
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

/// What an hourly run says about sales rows without a `ts` (they cannot be placed in an
/// hour); an error when no row has one.
fn untimed_warning(index: &super::series::SalesIndex) -> Result<Option<String>, DemandError> {
    let untimed = index.untimed_rows();
    if untimed == 0 {
        return Ok(None);
    }
    if index.is_empty() {
        return Err(DemandError::invalid(
            "frequency",
            format!(
                "frequency `hour` needs the time of each sale, and none of the {untimed} \
                 sales rows has one: map the sales pipeline's `ts` column"
            ),
        ));
    }
    Ok(Some(format!(
        "{untimed} sales rows have no `ts` and are left out of the hourly series"
    )))
}

async fn fit_all(
    app: &App,
    params: &TrainParams,
    resolved: &Resolved,
    run_id: &str,
    progress: &dyn Progress,
    started: Instant,
) -> Result<TrainReport, DemandError> {
    progress.report(0.0, "reading sales");
    let index = load_sales(app, params.frequency, params.from, params.to, None).await?;
    let matcher = params.matcher()?;
    let (mut built, members) = if params.level == Level::Category {
        let categories = categories(app).await?;
        if categories.is_empty() {
            return Err(DemandError::invalid(
                "level",
                "no item has a category in the items catalog: land the items (with their \
                 categories) before forecasting categories",
            ));
        }
        let (built, members) = super::periods::build_categories(
            &index,
            params.frequency,
            &categories,
            params.series_rules(),
        );
        (built, Some(members))
    } else {
        let rules = params.series_rules();
        let built = super::periods::build(&index, params.frequency, params.level, rules);
        (built, None)
    };
    if let Some(warning) = untimed_warning(&index)? {
        built.warnings.push(warning);
    }
    drop(index);
    let wanted = |id: &str| matcher.as_ref().is_none_or(|m| m.is_match(id));
    let series: Vec<Series> = built
        .series
        .into_iter()
        .filter(|s| wanted(&s.id()))
        .collect();
    let series_ended: Vec<_> = built
        .ended
        .into_iter()
        .filter(|e| wanted(&e.series_id))
        .collect();
    let mut warnings = built.warnings;
    // A reconciled run forecasts every node of the hierarchy over the item x store series.
    let (series, hierarchy) = match params.reconcile {
        ReconcileBy::None => (series, None),
        _ if series.is_empty() => (series, None),
        _ => {
            let categories = categories(app).await?;
            if categories.is_empty() {
                warnings.push(
                    "no item has a category in the items catalog: the hierarchy has no \
                     category level"
                        .into(),
                );
            }
            let (h, nodes) = hierarchy::nodes(series, &categories)?;
            (nodes, Some(h))
        }
    };
    for warning in &warnings {
        tracing::warn!(run_id, "{warning}");
    }
    let n_aggregates = hierarchy.as_ref().map_or(0, |h| h.n_aggregates());
    if series.is_empty() {
        return Err(match &params.series {
            // A retry cannot help a filter that matches nothing: the job fails at once.
            Some(f) => DemandError::invalid("series", format!("no sales series matches `{f}`")),
            None => DemandError::NoData("the sales dataset has no rows to train on".into()),
        });
    }
    let total = series.len();
    let history_end = series.iter().map(Series::end).max();
    let filled_periods = series.iter().map(|s| s.filled).sum();
    let horizon = params.horizon();
    let choice = Arc::new(Choice {
        prophet: ProphetSpec {
            mode: params.seasonality_mode.unwrap_or_default(),
            growth: params.growth.unwrap_or_default(),
            cap: params.cap,
            floor: params.floor,
            extra_seasonalities: super::seasonalities::to_model(&params.seasonalities),
            ..ProphetSpec::new(1.0, 0.0)
        },
        zone: params.zone()?,
        ..Choice::new(
            params.select,
            super::country_holidays::calendar(
                &params.holidays,
                params.holidays_country.as_deref(),
                &series,
                horizon,
            )?,
        )
    });
    let trained_at = now_ms();
    let mut regression = None;
    let observed: Vec<Option<Observed>> = if resolved.names.is_empty() {
        vec![None; total]
    } else {
        progress.report(0.0, "reading regressors");
        let read = Instant::now();
        let observed = regressors::load(&app.lake, resolved, &series[n_aggregates..]).await?;
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
        // Aggregates of a reconciled run have no regressors (feature views are per item
        // and store).
        let aggregates = std::iter::repeat_n(None, n_aggregates);
        aggregates.chain(observed.into_iter().map(Some)).collect()
    };
    let observed = Arc::new(observed);
    let series = Arc::new(series);
    let mut tally = Tally::new(total, regression);
    let fit = |start: usize, end: usize| {
        prepare_chunk(
            Arc::clone(&series),
            Arc::clone(&observed),
            start..end,
            (horizon, Arc::clone(&choice), run_id, trained_at),
        )
    };
    let mut reconciliation = None;
    match &hierarchy {
        None => {
            for start in (0..total).step_by(CHUNK) {
                let end = (start + CHUNK).min(total);
                let mut prepared = fit(start, end).await?;
                if let Some(members) = &members {
                    record_category_members(&mut prepared, members);
                }
                let banded = band_chunk(prepared).await?;
                tally.store(app, banded).await?;
                report_progress(progress, end, total);
            }
        }
        Some(h) => {
            // Every node is fitted before any is stored: reconciliation needs them all.
            let mut prepared = Vec::with_capacity(total);
            for start in (0..total).step_by(CHUNK) {
                let end = (start + CHUNK).min(total);
                prepared.extend(fit(start, end).await?);
                report_progress(progress, end, total);
            }
            record_members(h, &series, &mut prepared);
            progress.report(95.0, "reconciling the hierarchy");
            let (h, s, by) = (h.clone(), Arc::clone(&series), params.reconcile);
            let (rest, r) = tokio::task::spawn_blocking(move || {
                let r = reconcile_nodes(&h, &s, &mut prepared, by, horizon);
                (prepared, r)
            })
            .await
            .map_err(|e| DemandError::Task(e.to_string()))?;
            reconciliation = Some(r);
            let mut rest = rest.into_iter();
            loop {
                let chunk: Vec<_> = rest.by_ref().take(CHUNK).collect();
                if chunk.is_empty() {
                    break;
                }
                tally.store(app, band_chunk(chunk).await?).await?;
            }
        }
    }
    let Tally {
        exported,
        accuracies,
        failures,
        failed,
        regression,
    } = tally;
    progress.report(95.0, "writing the export");
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
            Some(super::actuals::write(&app.lake, run_id, &fitted_series).await?),
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
        reconciliation,
        warnings,
        series_ended,
    };
    if !exported.is_empty() {
        progress.report(97.0, "registering the run");
        let rows = exported.into_iter().map(|(row, _)| row).collect();
        let version = super::versions::register_run(app, params, &report, rows, &series).await?;
        report.model_version = Some(version.id);
    }
    report.seconds = started.elapsed().as_secs_f64();
    progress.report(100.0, "done");
    Ok(report)
}

/// Writes into each category series' params the items it sums (`members`, by series id), as
/// [`record_members`] does for a hierarchy's category nodes.
fn record_category_members(
    prepared: &mut [(String, Result<Unbanded, String>)],
    members: &BTreeMap<String, std::collections::BTreeSet<String>>,
) {
    for (id, fitted) in prepared.iter_mut() {
        let (Ok(u), Some(items)) = (&mut *fitted, members.get(id.as_str())) else {
            continue;
        };
        if let Err(e) = u.set_param(hierarchy::MEMBERS, serde_json::json!(items)) {
            *fitted = Err(e);
        }
    }
}

/// Writes into each category node's params the items it sums (`members`), so serving, the
/// override cascade and realised scoring group the items as this run did whatever the
/// catalog says later.
fn record_members(
    h: &super::reconcile::Hierarchy,
    series: &[Series],
    prepared: &mut [(String, Result<Unbanded, String>)],
) {
    let n = h.n_aggregates();
    let members: BTreeMap<String, std::collections::BTreeSet<String>> = (0..n)
        .filter(|&node| series[node].key.level() == Level::Category)
        .map(|node| {
            let items = h
                .members(node)
                .into_iter()
                .filter_map(|j| series[n + j].key.item_id.clone())
                .collect();
            (series[node].id(), items)
        })
        .collect();
    let aggregates = n.min(prepared.len());
    record_category_members(&mut prepared[..aggregates], &members);
}

/// The items catalog's category of each item that has one (empty without a catalog).
async fn categories(app: &App) -> Result<BTreeMap<String, String>, DemandError> {
    let items = crate::recommend::data::read_items(&app.lake)
        .await
        .map_err(|e| DemandError::Data(format!("items catalog: {e}")))?;
    Ok(items
        .into_iter()
        .filter_map(|i| Some((i.item_id, i.category?)))
        .collect())
}

/// What a run is fitting: horizon, model choice, run id, trained-at.
type RunFacts<'a> = (usize, Arc<Choice>, &'a str, i64);

/// Chooses, fits and backtests `range` of `series` on rayon's pool.
async fn prepare_chunk(
    series: Arc<Vec<Series>>,
    observed: Arc<Vec<Option<Observed>>>,
    range: std::ops::Range<usize>,
    (horizon, choice, run_id, trained_at): RunFacts<'_>,
) -> Result<Vec<(String, Result<Unbanded, String>)>, DemandError> {
    let run_id = run_id.to_string();
    tokio::task::spawn_blocking(move || {
        series[range.clone()]
            .par_iter()
            .zip(&observed[range])
            .map(|(s, obs)| {
                let fitted = prepare(s, obs.as_ref(), horizon, &choice, &run_id, trained_at);
                (s.id(), fitted)
            })
            .collect()
    })
    .await
    .map_err(|e| DemandError::Task(e.to_string()))
}

/// Calibrates a chunk's bands on its pooled backtest errors and builds its rows.
async fn band_chunk(
    prepared: Vec<(String, Result<Unbanded, String>)>,
) -> Result<Vec<(String, Result<Fitted, String>)>, DemandError> {
    tokio::task::spawn_blocking(move || {
        let pool = pool(prepared.iter().filter_map(|(_, r)| r.as_ref().ok()));
        prepared
            .into_par_iter()
            .map(|(id, r)| (id, r.and_then(|u| u.band(pool.as_ref()))))
            .collect()
    })
    .await
    .map_err(|e| DemandError::Task(e.to_string()))
}

/// Backtests the reconciliation methods and replaces every node's mean by the coherent one
/// (`auto`: the best method of the backtest). A node that failed to fit leaves the run
/// unreconciled, which the report says.
fn reconcile_nodes(
    h: &Hierarchy,
    series: &[Series],
    prepared: &mut [(String, Result<Unbanded, String>)],
    requested: ReconcileBy,
    horizon: usize,
) -> ReconciliationReport {
    let mut report = ReconciliationReport {
        requested,
        method: requested,
        nodes: hierarchy::counts(series),
        backtest: Vec::new(),
        shrinkage: None,
        notes: Vec::new(),
    };
    let fitted: Option<Vec<&Unbanded>> = prepared.iter().map(|(_, r)| r.as_ref().ok()).collect();
    let Some(fitted) = fitted else {
        let failed = prepared.iter().filter(|(_, r)| r.is_err()).count();
        report.method = ReconcileBy::None;
        report.notes.push(format!(
            "{failed} node(s) failed to fit: the levels are not reconciled"
        ));
        return report;
    };
    let specs: Vec<_> = fitted.iter().map(|u| u.spec().clone()).collect();
    match hierarchy::backtest(h, series, &specs, requested, horizon) {
        Ok(scores) => report.backtest = scores,
        Err(e) => report.notes.push(format!("not backtested: {e}")),
    }
    if requested == ReconcileBy::Auto {
        report.method = report
            .backtest
            .iter()
            .filter_map(|m| m.method.parse::<ReconcileBy>().ok())
            .find(|m| hierarchy::AUTO_CANDIDATES.contains(m))
            .unwrap_or(ReconcileBy::WlsStruct);
    }
    let base: Vec<_> = fitted.iter().map(|u| u.base()).collect();
    let history: Vec<Vec<f64>> = series.iter().map(|s| s.values.clone()).collect();
    let coherent = match hierarchy::reconciled(h, report.method, &base, &history) {
        Ok(c) => c,
        Err(e) => {
            report.notes.push(format!("not reconciled: {e}"));
            report.method = ReconcileBy::None;
            return report;
        }
    };
    report.shrinkage = coherent.shrinkage;
    report.notes.extend(coherent.notes);
    let forecasts = match non_negative(h, coherent.forecasts, &mut report.notes) {
        Ok(f) => f,
        Err(e) => {
            report.notes.push(format!("not reconciled: {e}"));
            report.method = ReconcileBy::None;
            return report;
        }
    };
    for ((_, r), mean) in prepared.iter_mut().zip(&forecasts) {
        if let Ok(u) = r
            && let Err(e) = u.reconcile_to(mean, report.method)
        {
            *r = Err(e);
        }
    }
    report
}

/// Coherent forecasts without negative demand: negative bottom forecasts (MinT and top-down
/// can give them) are set to zero and the aggregates summed up again, so the levels still add
/// up exactly after serving clips at zero.
fn non_negative(
    h: &Hierarchy,
    forecasts: Vec<Vec<f64>>,
    notes: &mut Vec<String>,
) -> Result<Vec<Vec<f64>>, String> {
    let first_bottom = h.n_total() - h.n_bottom();
    let negative = forecasts[first_bottom..]
        .iter()
        .flatten()
        .filter(|v| **v < 0.0)
        .count();
    if negative == 0 {
        return Ok(forecasts);
    }
    notes.push(format!(
        "{negative} negative item x store forecast step(s) set to zero, the totals summed again"
    ));
    let bottom: Vec<Vec<f64>> = forecasts[first_bottom..]
        .iter()
        .map(|row| row.iter().map(|v| v.max(0.0)).collect())
        .collect();
    h.aggregate_up(&bottom).map_err(|e| e.to_string())
}

fn report_progress(progress: &dyn Progress, done: usize, total: usize) {
    progress.report(
        95.0 * done as f64 / total as f64,
        &format!("{done}/{total} series fitted"),
    );
}

/// The rows, accuracies and failures of a run so far.
struct Tally {
    exported: Vec<(ForecastRow, Vec<Point>)>,
    accuracies: Vec<(String, Accuracy)>,
    failures: Vec<SeriesFailure>,
    failed: usize,
    regression: Option<RegressionSummary>,
}

impl Tally {
    fn new(total: usize, regression: Option<RegressionSummary>) -> Tally {
        Tally {
            exported: Vec::with_capacity(total),
            accuracies: Vec::with_capacity(total),
            failures: Vec::new(),
            failed: 0,
            regression,
        }
    }

    /// Counts a chunk's results and stores its rows.
    async fn store(
        &mut self,
        app: &App,
        results: Vec<(String, Result<Fitted, String>)>,
    ) -> Result<(), DemandError> {
        let mut rows = Vec::with_capacity(results.len());
        for (id, result) in results {
            match result {
                Ok(f) => {
                    if let Some(r) = self.regression.as_mut() {
                        r.series_with_regressors += usize::from(f.regression_tried);
                        r.series_chosen += usize::from(f.regression_chosen);
                    }
                    rows.push(f.row.clone());
                    self.accuracies.push((f.row.model.clone(), f.accuracy));
                    self.exported.push((f.row, f.points));
                }
                Err(error) => {
                    self.failed += 1;
                    if self.failures.len() < MAX_LISTED_FAILURES {
                        self.failures.push(SeriesFailure {
                            series_id: id,
                            error,
                        });
                    }
                }
            }
        }
        repo::upsert(&app.db, &rows).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hourly_run_without_times_is_refused_and_a_partial_one_warned() {
        use crate::forecast::series::SalesIndex;
        use crate::forecast::series::tests::timed_batch;
        let mut none = SalesIndex::for_frequency(super::super::series::Frequency::Hour);
        none.add_batch(&timed_batch(&[(None, "I1", 1.0)]), None)
            .unwrap();
        match untimed_warning(&none) {
            Err(DemandError::Invalid { field, detail }) => {
                assert_eq!(field, "frequency");
                assert!(detail.contains("`ts`"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        let mut some = none.clone();
        some.add_batch(
            &timed_batch(&[(Some("2026-03-02T09:00:00"), "I1", 1.0)]),
            None,
        )
        .unwrap();
        let warning = untimed_warning(&some).unwrap().unwrap();
        assert!(
            warning.starts_with("1 sales rows have no `ts`"),
            "{warning}"
        );
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
}
