//! Forecast accuracy as actuals arrive: every stored forecast whose target periods now have
//! their actuals in `sales` is scored, point by point, and summarised per series, run,
//! horizon step and level next to the backtest figures the run chose its models on.
//!
//! Why point rows: a summary over any grouping (a run, a level, step 3 of every series) is a
//! mean over points, and a late correction of one day's sales re-scores that point alone. A
//! period counts once it is complete (its last day is in `sales`); a period with no sales row
//! then counts as zero demand, as training reads it. MASE uses the series' own in-sample
//! seasonal-naive scale from training, so realised and backtest MASE are on the same scale.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::hierarchy::members_of;
use super::periods::{LastPeriod, last_period};
use super::report::{Accuracy, Point};
use super::series::{DemandError, Frequency, Level, Period, SalesIndex, SeriesKey, load_sales};
use crate::app::App;
use crate::db::forecasts::{self as repo, ForecastRow, RealisedRow};

/// Realised error this many times the backtest MASE flags a series as drifting, by default.
pub const DEFAULT_DRIFT_FACTOR: f64 = 1.5;

/// Realised accuracy over a set of scored points.
#[derive(Debug, Clone, PartialEq, Serialize, Default, utoipa::ToSchema)]
pub struct Realised {
    pub points: usize,
    pub mase: Option<f64>,
    /// sMAPE on 0..200 (M4 definition; 0/0 counts as 0).
    pub smape: Option<f64>,
    /// Mean of forecast minus actual: positive means over-forecast.
    pub bias: Option<f64>,
    pub mae: Option<f64>,
    /// Share of actuals inside the 80 % and 95 % intervals.
    pub coverage_80: Option<f64>,
    pub coverage_95: Option<f64>,
}

/// What one scoring pass did.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ScoreReport {
    pub series_scored: usize,
    pub points_scored: usize,
    /// The last day of `sales` the pass scored against.
    pub actuals_through: Option<NaiveDate>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn inside(lower: Option<f64>, upper: Option<f64>, x: f64) -> Option<f64> {
    match (lower, upper) {
        (Some(l), Some(u)) => Some(if l <= x && x <= u { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// The realised figures of `rows`. MASE averages each point's absolute error over its
/// series' scale (points without a scale are left out of it).
pub fn summarize<'a>(rows: impl IntoIterator<Item = &'a RealisedRow> + Clone) -> Realised {
    let all = || rows.clone().into_iter();
    let n = all().count();
    if n == 0 {
        return Realised::default();
    }
    let smape = |r: &RealisedRow| {
        let d = r.actual.abs() + r.mean.abs();
        if d == 0.0 {
            0.0
        } else {
            200.0 * (r.actual - r.mean).abs() / d
        }
    };
    Realised {
        points: n,
        mase: mean(all().filter_map(|r| {
            r.mase_scale
                .filter(|s| *s > 0.0)
                .map(|s| (r.actual - r.mean).abs() / s)
        })),
        smape: mean(all().map(smape)),
        bias: mean(all().map(|r| r.mean - r.actual)),
        mae: mean(all().map(|r| (r.actual - r.mean).abs())),
        coverage_80: mean(all().filter_map(|r| inside(r.lower_80, r.upper_80, r.actual))),
        coverage_95: mean(all().filter_map(|r| inside(r.lower_95, r.upper_95, r.actual))),
    }
}

/// The points of `row` whose periods are complete in `index` (by the `auto` rule of
/// [`super::periods::LastPeriod`]: period-keyed rows complete their period), with their
/// actuals (zero where nothing sold).
fn score_row(
    row: &ForecastRow,
    index: &SalesIndex,
    now_ms: i64,
) -> Result<Vec<RealisedRow>, DemandError> {
    let corrupt = |what: &str| DemandError::Corrupt(format!("{what} of `{}`", row.series_id));
    let frequency: Frequency = row.frequency.parse().map_err(|_| corrupt("frequency"))?;
    let key = SeriesKey::parse(&row.series_id).ok_or_else(|| corrupt("series id"))?;
    let points: Vec<Point> = serde_json::from_str(&row.points).map_err(|_| corrupt("points"))?;
    let accuracy: Accuracy = serde_json::from_str(&row.accuracy).unwrap_or_default();
    let Some((last_complete, _)) = last_period(index, frequency, LastPeriod::Auto) else {
        return Ok(Vec::new());
    };
    let complete = |p: &Point| p.date <= last_complete;
    let Some(last) = points.iter().filter(|p| complete(p)).map(|p| p.date).max() else {
        return Ok(Vec::new());
    };
    let series = match key.level() {
        // A category sums the items the run grouped under it (its params' `members`).
        Level::Category => {
            let params: serde_json::Value =
                serde_json::from_str(&row.params).map_err(|_| corrupt("params"))?;
            let members = members_of(&params).ok_or_else(|| corrupt("category members"))?;
            index.items_sum(key, &members, frequency, last)
        }
        _ => index.one(&key, frequency, Some(last)),
    };
    let actuals: BTreeMap<Period, f64> = series
        .map(|s| s.dates().into_iter().zip(s.values).collect())
        .unwrap_or_default();
    Ok(points
        .iter()
        .enumerate()
        .filter(|(_, p)| complete(p))
        .map(|(i, p)| RealisedRow {
            run_id: row.run_id.clone(),
            series_id: row.series_id.clone(),
            date: p.date.to_string(),
            step: i as i64 + 1,
            level: row.level.clone(),
            actual: actuals.get(&p.date).copied().unwrap_or(0.0),
            mean: p.mean,
            lower_80: Some(p.lower_80),
            upper_80: Some(p.upper_80),
            lower_95: Some(p.lower_95),
            upper_95: Some(p.upper_95),
            mase_scale: accuracy.mase_scale,
            backtest_mase: accuracy.mase,
            scored_at: now_ms,
        })
        .collect())
}

/// Scores every stored forecast against the actuals in `sales` (run after sales land; safe
/// to repeat: points are upserted). Hourly forecasts are scored on an hourly read of `sales`,
/// the others on a daily one.
pub async fn score(app: &App) -> Result<ScoreReport, DemandError> {
    let rows = repo::all(&app.db).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut report = ScoreReport::default();
    let mut scored = Vec::new();
    for hourly in [false, true] {
        let rows: Vec<&ForecastRow> = rows
            .iter()
            .filter(|r| (r.frequency == Frequency::Hour.as_str()) == hourly)
            .collect();
        let Some(from) = rows
            .iter()
            .filter_map(|r| r.history_end.parse::<Period>().ok())
            .map(Period::date)
            .min()
        else {
            continue;
        };
        let grain = if hourly {
            Frequency::Hour
        } else {
            Frequency::Day
        };
        let index = load_sales(app, grain, Some(from), None, None).await?;
        let Some(through) = index.last_instant().map(|t| t.date()) else {
            continue;
        };
        report.actuals_through = report.actuals_through.max(Some(through));
        for row in rows {
            let points = score_row(row, &index, now)?;
            if !points.is_empty() {
                report.series_scored += 1;
                report.points_scored += points.len();
                scored.extend(points);
            }
        }
    }
    for chunk in scored.chunks(1000) {
        repo::upsert_realised(&app.db, chunk).await?;
    }
    Ok(report)
}

/// One step of the horizon (or one level) and its realised figures.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub key: String,
    pub realised: Realised,
}

/// The realised accuracy of one series' latest scored run, next to its backtest.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SeriesAccuracy {
    pub series_id: String,
    pub run_id: Option<String>,
    pub realised: Realised,
    /// What the run chose the model on.
    pub backtest_mase: Option<f64>,
    /// Realised MASE above `drift_factor` times the backtest MASE.
    pub drift: bool,
    pub drift_factor: f64,
    pub by_step: Vec<Group>,
}

/// The realised accuracy of a whole run.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunAccuracy {
    pub run_id: String,
    pub series_scored: usize,
    pub realised: Realised,
    /// Mean backtest MASE of the scored series.
    pub backtest_mase: Option<f64>,
    /// Series whose realised MASE exceeds `drift_factor` times their backtest MASE.
    pub drifting_series: Vec<String>,
    pub drift_factor: f64,
    pub by_step: Vec<Group>,
    pub by_level: Vec<Group>,
}

fn groups(rows: &[RealisedRow], key: impl Fn(&RealisedRow) -> String) -> Vec<Group> {
    let mut by: BTreeMap<String, Vec<&RealisedRow>> = BTreeMap::new();
    for r in rows {
        by.entry(key(r)).or_default().push(r);
    }
    by.into_iter()
        .map(|(key, rows)| Group {
            key,
            realised: summarize(rows.iter().copied()),
        })
        .collect()
}

fn drifting(realised: &Realised, backtest: Option<f64>, factor: f64) -> bool {
    matches!((realised.mase, backtest), (Some(r), Some(b)) if r > factor * b)
}

/// Realised accuracy of `series_id` for its latest scored run.
pub async fn series_accuracy(
    app: &App,
    series_id: &str,
    drift_factor: f64,
) -> Result<SeriesAccuracy, DemandError> {
    if repo::get(&app.db, series_id).await?.is_none() {
        return Err(DemandError::UnknownSeries(series_id.to_string()));
    }
    let all = repo::realised_for_series(&app.db, series_id).await?;
    let run_id = all
        .iter()
        .max_by_key(|r| r.scored_at)
        .map(|r| r.run_id.clone());
    let rows: Vec<RealisedRow> = all
        .into_iter()
        .filter(|r| Some(&r.run_id) == run_id.as_ref())
        .collect();
    let realised = summarize(&rows);
    let backtest_mase = rows.first().and_then(|r| r.backtest_mase);
    Ok(SeriesAccuracy {
        series_id: series_id.to_string(),
        run_id,
        drift: drifting(&realised, backtest_mase, drift_factor),
        drift_factor,
        backtest_mase,
        by_step: groups(&rows, |r| format!("{:03}", r.step)),
        realised,
    })
}

/// Realised accuracy of a run over every series scored so far.
pub async fn run_accuracy(
    app: &App,
    run_id: &str,
    drift_factor: f64,
) -> Result<RunAccuracy, DemandError> {
    let rows = repo::realised_for_run(&app.db, run_id).await?;
    let mut per_series: BTreeMap<&str, Vec<&RealisedRow>> = BTreeMap::new();
    for r in &rows {
        per_series.entry(&r.series_id).or_default().push(r);
    }
    let drifting_series = per_series
        .iter()
        .filter(|(_, rs)| {
            let backtest = rs.first().and_then(|r| r.backtest_mase);
            drifting(&summarize(rs.iter().copied()), backtest, drift_factor)
        })
        .map(|(s, _)| s.to_string())
        .collect();
    Ok(RunAccuracy {
        run_id: run_id.to_string(),
        series_scored: per_series.len(),
        realised: summarize(&rows),
        backtest_mase: mean(
            per_series
                .values()
                .filter_map(|rs| rs.first().and_then(|r| r.backtest_mase)),
        ),
        drifting_series,
        drift_factor,
        by_step: groups(&rows, |r| format!("{:03}", r.step)),
        by_level: groups(&rows, |r| r.level.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(actual: f64, mean: f64, scale: f64) -> RealisedRow {
        RealisedRow {
            run_id: "r".into(),
            series_id: "s".into(),
            date: "2026-01-01".into(),
            step: 1,
            level: "item".into(),
            actual,
            mean,
            lower_80: Some(mean - 1.0),
            upper_80: Some(mean + 1.0),
            lower_95: Some(mean - 2.0),
            upper_95: Some(mean + 2.0),
            mase_scale: Some(scale),
            backtest_mase: Some(1.0),
            scored_at: 0,
        }
    }

    #[test]
    fn figures_equal_their_definitions() {
        let rows = [row(10.0, 11.5, 2.0), row(0.0, 0.0, 2.0), row(4.0, 2.0, 2.0)];
        let r = summarize(&rows);
        assert_eq!(r.points, 3);
        // |e| = 1.5, 0, 2 over scale 2.
        assert!((r.mase.unwrap() - (0.75 + 0.0 + 1.0) / 3.0).abs() < 1e-12);
        let smape = (200.0 * 1.5 / 21.5 + 0.0 + 200.0 * 2.0 / 6.0) / 3.0;
        assert!((r.smape.unwrap() - smape).abs() < 1e-12);
        assert!((r.bias.unwrap() - (1.5 + 0.0 - 2.0) / 3.0).abs() < 1e-12);
        // Inside ±1: only the exact one; inside ±2: all three.
        assert!((r.coverage_80.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.coverage_95, Some(1.0));
        assert!(drifting(&r, Some(0.3), 1.5));
        assert!(!drifting(&r, Some(1.0), 1.5));
    }
}
