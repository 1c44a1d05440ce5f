//! Fitting one series: choose its model (by AICc or backtest, with the regression candidate
//! where regressors exist), forecast with intervals, backtest the winner, and build the row
//! that is stored. Pure per-series work: the orchestration over many series is in `train`.

use serde::Serialize;

use super::backtest::{BacktestConfig, BacktestReport, rolling_origin_kept};
use super::conformal::{BandMethod, Calibration, Normaliser};
use super::local_clock;
use super::local_time::LocalTime;
use super::params::{MAX_HORIZON, SelectBy};
use super::prophet::{Holiday, ProphetSpec};
use super::regressors::{self, Observed, Regression};
use super::report::{Accuracy, Point};
use super::select::{Metric, PooledConfig, Selection, SelectionMethod, default_candidates, select};
use super::series::{Period, Series};
use super::{DEFAULT_LEVELS, Forecast, ModelSpec};
use crate::db::forecasts::ForecastRow;

/// One fitted series.
pub(super) struct Fitted {
    pub(super) row: ForecastRow,
    pub(super) points: Vec<Point>,
    pub(super) accuracy: Accuracy,
    /// The series had usable regressors and the regression candidate was considered.
    pub(super) regression_tried: bool,
    pub(super) regression_chosen: bool,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// How a run chooses each series' model, with what the choice needs beyond the series.
#[derive(Debug, Clone)]
pub(super) struct Choice {
    pub(super) select: SelectBy,
    /// The holiday calendar of the Prophet-style model.
    pub(super) holidays: Vec<Holiday>,
    /// The run's Prophet-style model (mode, trend, added seasonalities), placed on each
    /// series' calendar with the holidays when it is fitted.
    pub(super) prophet: ProphetSpec,
    /// The stores' time zone: hourly series are modelled on its local hours.
    pub(super) zone: Option<chrono_tz::Tz>,
}

impl Choice {
    pub(super) fn new(select: SelectBy, holidays: Vec<Holiday>) -> Choice {
        Choice {
            select,
            holidays,
            prophet: ProphetSpec::new(1.0, 0.0),
            zone: None,
        }
    }

    /// The selection method for series `s`.
    fn method(&self, s: &Series, horizon: usize) -> SelectionMethod {
        let season = s.frequency.season();
        match self.select {
            SelectBy::Aicc => SelectionMethod::default(),
            SelectBy::Backtest => {
                // The models crate's families, and the Prophet-style model on the series'
                // calendar (which the crate's list, knowing no dates, cannot place).
                let mut candidates = default_candidates(season);
                candidates.push(ModelSpec::Prophet(self.prophet_spec(s)));
                SelectionMethod::Backtest {
                    config: BacktestConfig {
                        horizon,
                        step: horizon,
                        windows: 3,
                        levels: DEFAULT_LEVELS.to_vec(),
                    },
                    metric: Metric::Mase,
                    candidates,
                }
            }
            SelectBy::Pooled => SelectionMethod::Pooled(PooledConfig::for_season(horizon, season)),
            SelectBy::Prophet => SelectionMethod::Fixed(ModelSpec::Prophet(self.prophet_spec(s))),
        }
    }

    /// The Prophet-style model on series `s`'s calendar with the run's holidays.
    fn prophet_spec(&self, s: &Series) -> ProphetSpec {
        on_calendar(&self.prophet, s, &self.holidays)
    }
}

/// `spec` placed on series `s`'s calendar with the run's `holidays`: a Prophet-style spec
/// stored by another run counts its observations from that run's first day, so its Fourier
/// phases and holidays would be shifted on a series that starts elsewhere, and it is stored
/// without the run's holidays ([`without_calendar`]).
///
/// A model fitted on local hours gets `s`'s own clock in `zone` (its stored clock counts from
/// the stored series' first hour); without a zone it is fitted on UTC hours.
pub(super) fn anchored(
    spec: &ModelSpec,
    s: &Series,
    holidays: &[Holiday],
    zone: Option<chrono_tz::Tz>,
) -> ModelSpec {
    match spec {
        ModelSpec::Prophet(p) => ModelSpec::Prophet(on_calendar(p, s, holidays)),
        ModelSpec::LocalTime { model, .. } => {
            match zone.and_then(|z| local_clock::on_local_hours(s, z, MAX_HORIZON)) {
                Some((clock, local)) => ModelSpec::LocalTime {
                    model: Box::new(anchored(model, &local, holidays, None)),
                    clock,
                },
                None => anchored(model, s, holidays, None),
            }
        }
        ModelSpec::Closed { model } => ModelSpec::Closed {
            model: Box::new(anchored(model, s, holidays, zone)),
        },
        ModelSpec::AfterOutage { model } => ModelSpec::AfterOutage {
            model: Box::new(anchored(model, s, holidays, zone)),
        },
        other => other.clone(),
    }
}

/// Chooses and fits `s`'s model: on the local hours of the run's time zone for an hourly
/// series (the choice made on them, the model read back on UTC hours), else as it is.
fn choose(s: &Series, horizon: usize, choice: &Choice) -> Result<Selection, String> {
    let season = s.frequency.season();
    let Some((clock, local)) = choice
        .zone
        .and_then(|z| local_clock::on_local_hours(s, z, MAX_HORIZON))
    else {
        return select(&s.values, season, &choice.method(s, horizon)).map_err(|e| e.to_string());
    };
    let mut sel = select(&local.values, season, &choice.method(&local, horizon))
        .map_err(|e| e.to_string())?;
    sel.model = Box::new(LocalTime::around(sel.model, &clock, s.values.len()));
    sel.spec = ModelSpec::LocalTime {
        model: Box::new(sel.spec),
        clock,
    };
    Ok(sel)
}

/// `p` counting its observations from series `s`'s first period, with `holidays`.
fn on_calendar(p: &ProphetSpec, s: &Series, holidays: &[Holiday]) -> ProphetSpec {
    ProphetSpec {
        origin_day: s.start.day_number(),
        step_days: s.frequency.step_days(),
        holidays: holidays.to_vec(),
        ..p.clone()
    }
}

/// `spec` as a series' stored params keep it: a Prophet-style spec without the holiday rows,
/// which the run's params hold once (each series repeating a table of thousands of rows
/// would multiply it by the number of series).
fn without_calendar(spec: &ModelSpec) -> ModelSpec {
    match spec {
        ModelSpec::Prophet(p) => ModelSpec::Prophet(ProphetSpec {
            holidays: Vec::new(),
            ..p.clone()
        }),
        ModelSpec::LocalTime { model, clock } => ModelSpec::LocalTime {
            model: Box::new(without_calendar(model)),
            clock: clock.clone(),
        },
        ModelSpec::Closed { model } => ModelSpec::Closed {
            model: Box::new(without_calendar(model)),
        },
        ModelSpec::AfterOutage { model } => ModelSpec::AfterOutage {
            model: Box::new(without_calendar(model)),
        },
        other => other.clone(),
    }
}

/// Rolling-origin accuracy of the chosen spec: three windows of the run's horizon when the
/// series is long enough, else one, else one of a quarter of the series. Where the first
/// window's training part holds most of the series, the later windows keep its automatic
/// choices (`backtest::rolling_origin_kept`).
pub(super) fn accuracy(
    y: &[f64],
    season: usize,
    spec: &super::ModelSpec,
    horizon: usize,
) -> Accuracy {
    backtest(y, season, spec, horizon).0
}

/// [`accuracy`] and the backtest it came from (whose errors calibrate the bands).
fn backtest(
    y: &[f64],
    season: usize,
    spec: &super::ModelSpec,
    horizon: usize,
) -> (Accuracy, Option<BacktestReport>) {
    let short = (y.len() / 4).max(1);
    let mut last_error = String::new();
    for (h, windows) in [(horizon, 3), (horizon, 1), (short.min(horizon), 1)] {
        let cfg = window_config(h, windows);
        match rolling_origin_kept(y, season, spec, &cfg) {
            Ok(report) => return (accuracy_of(&report, h), Some(report)),
            Err(e) => last_error = e.to_string(),
        }
    }
    let accuracy = Accuracy {
        note: Some(format!("not backtested: {last_error}")),
        ..Accuracy::default()
    };
    (accuracy, None)
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
        mase_scale: None,
        windows: report.windows.len(),
        horizon: h,
        note: (!report.failures.is_empty())
            .then(|| format!("{} window(s) failed", report.failures.len())),
        ..Accuracy::default()
    }
}

/// Forecast points with dates, clipped at zero (demand is not negative) and with the bands
/// nested (95 outside 80 outside the mean) whatever the model's interval method.
pub fn points(fc: &Forecast, dates: &[Period]) -> Result<Vec<Point>, String> {
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
            q50: None,
        });
    }
    Ok(out)
}

/// A fitted series whose bands are not calibrated yet: its forecast with the model's own
/// bands and the calibration its backtest errors give. Bands are calibrated on the errors of
/// many series pooled ([`pool`]), then [`Unbanded::band`] builds the stored row.
pub(super) struct Unbanded {
    row: ForecastRow,
    /// The chosen model (the usual one where a regression won: what a hierarchy's backtest
    /// refits).
    spec: super::ModelSpec,
    /// In-sample one-step residuals of the chosen model (what MinT weighs by).
    residuals: Vec<f64>,
    forecast: Forecast,
    dates: Vec<Period>,
    accuracy: Accuracy,
    calibration: Option<Calibration>,
    regression_tried: bool,
    regression_chosen: bool,
}

/// Chooses, fits and backtests one series' model (the bands come later, from [`pool`]).
pub(super) fn prepare(
    s: &Series,
    observed: Option<&Observed>,
    horizon: usize,
    choice: &Choice,
    run_id: &str,
    trained_at: i64,
) -> Result<Unbanded, String> {
    let season = s.frequency.season();
    let sel = choose(s, horizon, choice)?;
    let (accuracy, report) = backtest(&s.values, season, &sel.spec, horizon);
    let residuals = s
        .values
        .iter()
        .zip(sel.model.fitted())
        .map(|(y, f)| y - f)
        .collect();
    let mut chosen = Chosen {
        spec: sel.spec.clone(),
        model: sel.model.name(),
        params: sel.model.params(),
        forecast: sel.model.forecast(horizon, &DEFAULT_LEVELS),
        accuracy,
        report,
        components: sel.model.components(horizon),
    };
    let mut notes = sel.notes;
    let mut regression = None;
    if let Some(observed) = observed {
        let candidate = Candidate {
            series: s,
            observed,
            kind: sel.kind,
            choice,
            horizon,
        };
        regression = consider_regression(&candidate, &mut chosen, &mut notes);
    }
    if chosen.forecast.mean.len() != horizon {
        return Err(format!(
            "the model forecast {} steps instead of {horizon}",
            chosen.forecast.mean.len()
        ));
    }
    let mut accuracy = chosen.accuracy;
    // Kept so forecasts can be scored on the same MASE scale when their actuals land.
    accuracy.mase_scale = finite(super::backtest::mase_scale(&s.values, s.frequency.season()));
    let regression_tried = regression.is_some();
    let regression_chosen = regression
        .as_ref()
        .is_some_and(|r| r["chosen"] == serde_json::Value::Bool(true));
    let mut params = serde_json::json!({
        "spec": without_calendar(&chosen.spec),
        "model": chosen.params,
        "series_kind": sel.kind,
        "scores": sel.scores,
        "notes": notes,
        "observations": s.values.len(),
        "filled_periods": s.filled,
        "history_end": s.end(),
        "levels": DEFAULT_LEVELS,
    });
    if let Some(r) = regression {
        params["regression"] = r;
    }
    if let Some(parts) = &chosen.components {
        let parts: serde_json::Map<String, serde_json::Value> = parts
            .iter()
            .map(|(name, values)| (name.clone(), serde_json::json!(values)))
            .collect();
        params["components"] = serde_json::Value::Object(parts);
    }
    let end = s.end();
    Ok(Unbanded {
        row: ForecastRow {
            series_id: s.id(),
            item_id: s.key.item_id.clone(),
            store_id: s.key.store_id.clone(),
            level: s.key.level().as_str().to_string(),
            frequency: s.frequency.as_str().to_string(),
            model: chosen.model,
            params: params.to_string(),
            accuracy: String::new(),
            points: String::new(),
            horizon: horizon as i64,
            history_end: end.to_string(),
            trained_at,
            run_id: run_id.to_string(),
        },
        spec: sel.spec,
        residuals,
        calibration: chosen
            .report
            .as_ref()
            .and_then(|r| Calibration::from_windows(&r.windows)),
        forecast: chosen.forecast,
        dates: s.frequency.dates_after(end, horizon),
        accuracy,
        regression_tried,
        regression_chosen,
    })
}

/// One calibration from the backtest errors of every series in `fitted` (those on the
/// model-spread scale; see `Calibration::pool`).
pub(super) fn pool<'a>(fitted: impl IntoIterator<Item = &'a Unbanded>) -> Option<Calibration> {
    Calibration::pool(fitted.into_iter().filter_map(|u| u.calibration.as_ref()))
}

impl Unbanded {
    pub(super) fn spec(&self) -> &super::ModelSpec {
        &self.spec
    }

    /// Sets `key` in the stored row's params.
    pub(super) fn set_param(&mut self, key: &str, value: serde_json::Value) -> Result<(), String> {
        let mut params: serde_json::Value =
            serde_json::from_str(&self.row.params).map_err(|e| e.to_string())?;
        params[key] = value;
        self.row.params = params.to_string();
        Ok(())
    }

    /// What this node brings to a reconciliation.
    pub(super) fn base(&self) -> super::hierarchy::Base {
        super::hierarchy::Base {
            mean: self.forecast.mean.clone(),
            residuals: self.residuals.clone(),
            certain: super::closed::certain_steps(&self.forecast),
        }
    }

    /// Replaces the mean by the reconciled `mean`, moving the model's bands with it (their
    /// width is calibrated later), and records the base mean in the row's params.
    pub(super) fn reconcile_to(
        &mut self,
        mean: &[f64],
        by: super::hierarchy::ReconcileBy,
    ) -> Result<(), String> {
        let fc = &mut self.forecast;
        let shifts: Vec<f64> = mean.iter().zip(&fc.mean).map(|(r, b)| r - b).collect();
        for iv in &mut fc.intervals {
            for ((lo, up), shift) in iv.lower.iter_mut().zip(&mut iv.upper).zip(&shifts) {
                *lo += shift;
                *up += shift;
            }
        }
        let base = std::mem::replace(&mut fc.mean, mean.to_vec());
        self.set_param(
            "reconciliation",
            serde_json::json!({"method": by, "base_mean": base}),
        )
    }

    /// The stored row and points, with bands calibrated on `pool` (or on the series' own
    /// errors when they are on another scale than the pool's).
    pub(super) fn band(self, pool: Option<&Calibration>) -> Result<Fitted, String> {
        let mut accuracy = self.accuracy;
        let (fc, q50) = calibrate(
            self.forecast,
            self.calibration.as_ref(),
            pool,
            &mut accuracy,
        );
        let mut points = points(&fc, &self.dates)?;
        if let Some(q50) = q50 {
            for (p, q) in points.iter_mut().zip(q50) {
                p.q50 = Some(q.clamp(p.lower_80, p.upper_80));
            }
        }
        let mut row = self.row;
        row.accuracy = encode(&accuracy)?;
        row.points = encode(&points)?;
        Ok(Fitted {
            row,
            points,
            accuracy,
            regression_tried: self.regression_tried,
            regression_chosen: self.regression_chosen,
        })
    }
}

/// One series fitted on its own, its bands calibrated on its own errors.
#[cfg(test)]
pub(super) fn fit_series(
    s: &Series,
    observed: Option<&Observed>,
    horizon: usize,
    select_by: SelectBy,
    run_id: &str,
    trained_at: i64,
) -> Result<Fitted, String> {
    let choice = Choice::new(select_by, Vec::new());
    let u = prepare(s, observed, horizon, &choice, run_id, trained_at)?;
    let own = u.calibration.clone();
    u.band(own.as_ref())
}

/// The model a series ends up with.
struct Chosen {
    spec: super::ModelSpec,
    model: String,
    params: serde_json::Value,
    forecast: Forecast,
    accuracy: Accuracy,
    /// The backtest behind `accuracy`, whose errors calibrate the bands.
    report: Option<BacktestReport>,
    /// The forecast's parts by name, where the model is a sum of parts.
    components: Option<Vec<(String, Vec<f64>)>>,
}

/// `fc` with conformal bands and median (see `recast_models::forecast::conformal`) from the
/// errors of the series fitted with it (`pool`), or from its own (`own`) when those are on
/// the √step scale the pool leaves out; the model's own bands where neither has enough.
///
/// Why pooled: one series' backtest leaves a few dozen errors, too few for the tails (on
/// M3, per-series bands held 67 % of the actuals in the 80 % band; bands pooled over each
/// set's series held 82 %). The accuracy's coverage becomes the served bands' on the
/// series' own backtest (each window left out of its own calibration when the bands are
/// the series' own); the model's own bands' coverage stays beside it.
fn calibrate(
    fc: Forecast,
    own: Option<&Calibration>,
    pool: Option<&Calibration>,
    accuracy: &mut Accuracy,
) -> (Forecast, Option<Vec<f64>>) {
    let pooled = pool.filter(|_| own.is_none_or(|o| o.normaliser == Normaliser::ModelSpread));
    let Some(by) = pooled.or(own) else {
        accuracy.interval_80 = Some(BandMethod::Model);
        accuracy.interval_95 = Some(BandMethod::Model);
        return (fc, None);
    };
    let (calibrated, methods) = by.apply(&fc, &DEFAULT_LEVELS);
    accuracy.model_coverage_80 = accuracy.coverage_80;
    accuracy.model_coverage_95 = accuracy.coverage_95;
    for (level, method) in methods {
        let coverage = match (method, pooled.is_some()) {
            (BandMethod::Model, _) => continue,
            (_, true) => own.and_then(|o| o.coverage_under(by, level)),
            (_, false) => by.cross_coverage(level),
        }
        .and_then(finite);
        if (level - 80.0).abs() < 1e-9 {
            (accuracy.interval_80, accuracy.coverage_80) = (Some(method), coverage);
        } else {
            (accuracy.interval_95, accuracy.coverage_95) = (Some(method), coverage);
        }
    }
    accuracy.interval_80.get_or_insert(BandMethod::Model);
    accuracy.interval_95.get_or_insert(BandMethod::Model);
    accuracy.calibration_scores = Some(by.len());
    let q50 = by.quantile(&calibrated, 0.5);
    (calibrated, q50)
}

/// Backtests each regression candidate on the usual winner's windows (`cfg`): the regression
/// with ARIMA errors (orders from [`regressors::order`]) and the Prophet-style model with the
/// regressors (on the run's holiday calendar). Returns the one with the lower MASE; each
/// candidate's MASE goes into `out["candidates"]`, and the notes say why one was left out.
fn best_regression(
    c: &Candidate<'_>,
    design: &regressors::Design,
    cfg: &BacktestConfig,
    out: &mut serde_json::Value,
    notes: &mut Vec<String>,
) -> Option<(Regression, BacktestReport)> {
    let s = c.series;
    let season = s.frequency.season();
    let mut candidates = vec![Regression::Prophet(c.choice.prophet_spec(s))];
    match regressors::order(&s.values, season, design) {
        Ok(order) => candidates.insert(0, order),
        Err(e) => notes.push(format!(
            "no error orders for the regression with ARIMA errors ({e}): not a candidate"
        )),
    }
    let mut best: Option<(Regression, BacktestReport)> = None;
    for candidate in candidates {
        let label = candidate.label();
        let report = match regressors::backtest(&s.values, season, design, &candidate, cfg) {
            Ok(r) if r.failures.is_empty() && r.summary.mase.is_finite() => r,
            Ok(r) => {
                notes.push(format!(
                    "{label} failed in {} backtest window(s): not a candidate",
                    r.failures.len()
                ));
                continue;
            }
            Err(e) => {
                notes.push(format!("{label} not backtested ({e}): not a candidate"));
                continue;
            }
        };
        out["candidates"][label] = serde_json::json!(report.summary.mase);
        if best
            .as_ref()
            .is_none_or(|(_, b)| report.summary.mase < b.summary.mase)
        {
            best = Some((candidate, report));
        }
    }
    if best.is_none() {
        notes.push("no regression candidate could be backtested: the usual model".into());
    }
    best
}

/// What a series' regression candidate is built from.
struct Candidate<'a> {
    series: &'a Series,
    observed: &'a Observed,
    kind: super::select::SeriesKind,
    choice: &'a Choice,
    horizon: usize,
}

/// Puts the better regression candidate (with ARIMA errors, or the Prophet-style model with
/// the regressors as extra regressors; see [`best_regression`]) against the usual winner in
/// `chosen` (backtest MASE on the same windows, strictly lower wins) and replaces it when it
/// wins. Returns what happened for the stored params (`None` when the series had no usable
/// regressor or is too degenerate for one); the notes say why in every case.
fn consider_regression(
    c: &Candidate<'_>,
    chosen: &mut Chosen,
    notes: &mut Vec<String>,
) -> Option<serde_json::Value> {
    use super::select::SeriesKind;
    let (s, observed, kind, horizon) = (c.series, c.observed, c.kind, c.horizon);
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
    let cfg = window_config(chosen.accuracy.horizon, chosen.accuracy.windows);
    let Some((order, report)) = best_regression(c, &design, &cfg, &mut out, notes) else {
        return Some(out);
    };
    let label = order.label();
    out["model"] = serde_json::json!(label);
    if let Regression::ArimaErrors(_) = order {
        out["error_orders"] = serde_json::json!(order.describe());
    }
    let mase = report.summary.mase;
    out["backtest_mase"] = serde_json::json!({"regression": mase, "usual": base});
    if mase >= base {
        notes.push(format!(
            "{label} not chosen: backtest MASE {mase:.3} against {base:.3} for {usual}"
        ));
        return Some(out);
    }
    let season = s.frequency.season();
    match regressors::fit_and_forecast(&s.values, season, &design, &order, horizon, &DEFAULT_LEVELS)
    {
        Ok(model) => {
            let coefficients: serde_json::Map<String, serde_json::Value> = design
                .names
                .iter()
                .zip(&model.effects)
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
                "{label} chosen: backtest MASE {mase:.3} against {base:.3} for {usual}"
            ));
            notes.push(format!(
                "future regressors held at their last observed values (no planned change): {held}"
            ));
            let mut params = model.params;
            params["coefficients"] = serde_json::Value::Object(coefficients.clone());
            out["chosen"] = serde_json::Value::Bool(true);
            out["coefficients"] = serde_json::Value::Object(coefficients);
            out["future"] = serde_json::Value::Object(future);
            out["future_rule"] = "last observed value held over the horizon".into();
            *chosen = Chosen {
                spec: order.spec(&design),
                model: model.name,
                params,
                forecast: model.forecast,
                accuracy: accuracy_of(&report, cfg.horizon),
                report: Some(report),
                components: model.components,
            };
        }
        Err(e) => notes.push(format!(
            "{label} won the backtest (MASE {mase:.3} against {base:.3}) but failed on the \
             whole series ({e}): the usual model"
        )),
    }
    Some(out)
}

/// JSON text, errors as strings (they become per-series failures).
fn encode<T: Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::Interval;
    use crate::forecast::series::Frequency;

    fn d(s: &str) -> Period {
        s.parse().unwrap()
    }

    #[test]
    fn a_stored_prophet_spec_is_placed_on_the_series_calendar() {
        let s = Series {
            key: super::super::series::SeriesKey::default(),
            frequency: Frequency::Week,
            start: d("2026-01-05"),
            values: vec![1.0; 10],
            filled: 0,
        };
        let holiday = Holiday {
            name: "sale".into(),
            day: 20_500,
            lower_window: 0,
            upper_window: 0,
            prior_scale: None,
        };
        let fitted = ModelSpec::Prophet(ProphetSpec {
            holidays: vec![holiday.clone()],
            ..ProphetSpec::new(1.0, 100.0)
        });
        // Stored without the run's holidays, given them back when refitted.
        let stored = without_calendar(&fitted);
        assert!(matches!(&stored, ModelSpec::Prophet(p) if p.holidays.is_empty()));
        let ModelSpec::Prophet(p) = anchored(&stored, &s, std::slice::from_ref(&holiday), None)
        else {
            panic!("still a prophet spec")
        };
        assert_eq!(p.origin_day, d("2026-01-05").day_number());
        assert_eq!(p.step_days, 7.0);
        assert_eq!(p.holidays, vec![holiday]);
        assert_eq!(anchored(&ModelSpec::Naive, &s, &[], None), ModelSpec::Naive);
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

    /// A calibration whose errors are `errors` in each of three windows, at the model's
    /// spread 1 (or with no spread, so on the √step scale).
    fn calibration(errors: &[f64], spread: bool) -> Calibration {
        use recast_models::forecast::backtest::{Metrics, WindowResult};
        let windows: Vec<WindowResult> = (0..3)
            .map(|w| WindowResult {
                origin: w,
                model: "m".into(),
                metrics: Metrics {
                    mae: 0.0,
                    rmse: 0.0,
                    smape: 0.0,
                    mase: 0.0,
                    coverage: vec![],
                },
                errors: errors.to_vec(),
                spreads: vec![if spread { 1.0 } else { f64::NAN }; errors.len()],
            })
            .collect();
        Calibration::from_windows(&windows).unwrap()
    }

    #[test]
    fn bands_come_from_the_pool_unless_the_series_is_on_another_scale() {
        let fc = Forecast::gaussian(vec![10.0; 2], &[1.0, 1.0], &DEFAULT_LEVELS);
        // The series' own errors are tiny; the pool's are wide (−20..=20, so both tails).
        let own = calibration(&[0.1, -0.1, 0.05, -0.05], true);
        let wide: Vec<f64> = (-20..=20).map(f64::from).collect();
        let pool = Calibration::pool([&calibration(&wide, true), &own]).unwrap();
        let mut acc = Accuracy {
            coverage_80: Some(0.5),
            ..Accuracy::default()
        };
        let (banded, q50) = calibrate(fc.clone(), Some(&own), Some(&pool), &mut acc);
        let b80 = banded.interval(80.0).unwrap();
        assert!(b80.upper[0] - b80.lower[0] > 20.0, "{b80:?}");
        assert_eq!(acc.interval_80, Some(BandMethod::Conformal));
        assert_eq!(acc.calibration_scores, Some(pool.len()));
        // Every one of the series' own errors is inside the pooled band; the model's own
        // band's coverage is kept beside it.
        assert_eq!(
            (acc.coverage_80, acc.model_coverage_80),
            (Some(1.0), Some(0.5))
        );
        assert!(q50.is_some());
        // On the √step scale the pool does not apply: the series' own errors (12 of them,
        // too few for a 95 % band) give the 80 % band, the model keeps the 95 %.
        let root = calibration(&[1.0, -1.0, 2.0, -2.0], false);
        let mut acc = Accuracy::default();
        let (banded, _) = calibrate(fc.clone(), Some(&root), Some(&pool), &mut acc);
        assert_eq!(acc.interval_80, Some(BandMethod::Conformal));
        assert_eq!(acc.interval_95, Some(BandMethod::Model));
        assert_eq!(banded.interval(95.0), fc.interval(95.0));
        assert_eq!(acc.calibration_scores, Some(12));
        // Without any calibration the model's bands stay, and say so.
        let mut acc = Accuracy::default();
        let (banded, q50) = calibrate(fc.clone(), None, None, &mut acc);
        assert_eq!((banded, q50), (fc, None));
        assert_eq!(acc.interval_80, Some(BandMethod::Model));
    }

    #[test]
    fn backtest_selection_compares_all_families_on_the_run_horizon() {
        let daily = Series {
            key: super::super::series::SeriesKey::default(),
            frequency: Frequency::Day,
            start: d("2026-01-05"),
            values: vec![1.0; 30],
            filled: 0,
        };
        let method = |select| Choice::new(select, Vec::new()).method(&daily, 14);
        match method(SelectBy::Backtest) {
            SelectionMethod::Backtest {
                config,
                metric,
                candidates,
            } => {
                assert_eq!((config.horizon, config.step, config.windows), (14, 14, 3));
                assert_eq!(metric, Metric::Mase);
                assert_eq!(candidates[..candidates.len() - 1], default_candidates(7));
                assert!(candidates.contains(&super::super::ModelSpec::AutoArima));
                assert!(matches!(
                    candidates.last(),
                    Some(ModelSpec::Prophet(p)) if p.origin_day == daily.start.day_number()
                ));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(method(SelectBy::Aicc), SelectionMethod::default());
        assert!(matches!(
            method(SelectBy::Prophet),
            SelectionMethod::Fixed(ModelSpec::Prophet(p)) if p.step_days == 1.0
        ));
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
                category: None,
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
        // Pooled: the seven candidates scored on one backtest, the choice stored as a spec.
        let f = fit_series(&s, None, 3, SelectBy::Pooled, "r1", 1).unwrap();
        let params: serde_json::Value = serde_json::from_str(&f.row.params).unwrap();
        assert_eq!(params["scores"].as_array().unwrap().len(), 7, "{params}");
        let kind = params["spec"]["kind"].as_str().unwrap();
        assert!(
            [
                "combination",
                "auto_ets",
                "auto_arima",
                "auto_theta",
                "auto_ces"
            ]
            .contains(&kind),
            "{params}"
        );
        assert_eq!(f.points.len(), 3);
    }

    #[test]
    fn a_weighted_mean_chosen_by_the_pooled_choice_is_stored_and_refits_from_its_spec() {
        // A bending growth curve (a logistic with a little noise): ARIMA follows it far
        // better than Theta's halved drift, not five times better than every combination.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let values: Vec<f64> = (0..34)
            .map(|t| {
                let noise = rng.random::<f64>() - 0.5;
                100.0 + 900.0 / (1.0 + (-(t as f64 - 22.0) / 6.0).exp()) + 0.5 * noise
            })
            .collect();
        let s = Series {
            key: super::super::series::SeriesKey::default(),
            frequency: Frequency::Year,
            start: d("1980-01-01"),
            values,
            filled: 0,
        };
        let f = fit_series(&s, None, 6, SelectBy::Pooled, "r1", 1).unwrap();
        let params: serde_json::Value = serde_json::from_str(&f.row.params).unwrap();
        let spec = &params["spec"];
        assert_eq!(spec["kind"], "combination", "{params}");
        let weights: Vec<f64> = spec["weights"]
            .as_array()
            .unwrap_or_else(|| panic!("not a weighted mean: {}", params["scores"]))
            .iter()
            .map(|w| w.as_f64().unwrap())
            .collect();
        assert_eq!(weights.len(), 4, "{params}");
        assert!(
            (weights.iter().sum::<f64>() - 1.0).abs() < 1e-9,
            "{weights:?}"
        );
        // ARIMA (the second member) counts most; the chosen mean is listed with its score.
        let most = (0..4).max_by(|&a, &b| weights[a].total_cmp(&weights[b]));
        assert_eq!(most, Some(1), "{weights:?}");
        let scores = params["scores"].as_array().unwrap();
        assert_eq!(scores.len(), 8, "{params}");
        assert!(scores[7][0].as_str().unwrap().starts_with("weighted("));
        // What the quality gate does with a stored run: the spec read back refits to the
        // same points.
        let back: ModelSpec = serde_json::from_value(spec.clone()).unwrap();
        let refit = back.fit(&s.values, 1).unwrap().forecast(6, &[]);
        let served: Vec<f64> = f.points.iter().map(|p| p.mean).collect();
        assert_eq!(refit.mean, served);
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
                category: None,
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
