//! Forecast runs in the model registry: every successful training run becomes a version of
//! kind [`REGISTRY_KIND`] whose artifact holds every forecast row the run stored, and is
//! promoted; promoting an older version (or rolling back to it) writes its rows back into the
//! `forecasts` table, which is what serving reads.
//!
//! Why rows and not fitted models: the product of a run is the forecast itself (thousands of
//! small per-series models whose only use is the points they produced), and serving reads it
//! per series from the table. Restoring rows restores exactly what was served, with its
//! original `trained_at` and run id. Series the restored run did not cover keep whatever the
//! table has for them (another level or a filtered run's series are not deleted).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::params::TrainParams;
use super::report::{Accuracy, TrainReport};
use super::series::DemandError;
use crate::app::App;
use crate::db::Db;
use crate::db::forecasts::{self as repo, ForecastRow};
use crate::lake::layout::Area;
use crate::registry::{Kind, ModelVersion, NewVersion, PromoteHook, RegistryError};

/// Registry kind of forecast runs.
pub const REGISTRY_KIND: Kind = Kind::Forecaster;
/// Version of the artifact layout below.
const ARTIFACT_FORMAT: u32 = 1;
/// Rows written back per transaction.
const RESTORE_CHUNK: usize = 500;

/// The artifact: every stored row of one run (JSON).
#[derive(Debug, Serialize, Deserialize)]
struct Artifact {
    format: u32,
    run_id: String,
    rows: Vec<ForecastRow>,
}

fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().filter(|x| x.is_finite()).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Aggregate metrics of a run: counts, and mean backtest accuracy over the series that have a
/// backtest.
fn metrics(report: &TrainReport, rows: &[ForecastRow]) -> serde_json::Value {
    let accuracies: Vec<Accuracy> = rows
        .iter()
        .filter_map(|r| serde_json::from_str(&r.accuracy).ok())
        .collect();
    let backtested = accuracies.iter().filter(|a| a.mase.is_some()).count();
    serde_json::json!({
        "series_total": report.series_total,
        "series_fitted": report.series_fitted,
        "series_failed": report.series_failed,
        "series_backtested": backtested,
        "mean_mase": mean(accuracies.iter().map(|a| a.mase)),
        "mean_smape": mean(accuracies.iter().map(|a| a.smape)),
        "mean_coverage_80": mean(accuracies.iter().map(|a| a.coverage_80)),
        "mean_coverage_95": mean(accuracies.iter().map(|a| a.coverage_95)),
        "horizon": report.horizon,
        "history_end": report.history_end,
        "models": report.models,
    })
}

/// Whether a finished run becomes the served forecaster version, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Promotion {
    pub promoted: bool,
    pub reason: String,
    /// Mean backtest MASE of the run and of the served run over the series both cover (same
    /// frequency, level and horizon only).
    pub candidate_mase: Option<f64>,
    pub champion_mase: Option<f64>,
    pub champion_version: Option<String>,
}

/// The served run's configuration and rows, as the decision needs them.
pub struct Champion {
    pub version: String,
    pub frequency: String,
    pub level: String,
    pub horizon: i64,
    pub rows: Vec<ForecastRow>,
    /// Backtest MASE of the served run's model per series, refitted on the candidate's
    /// history and scored on the candidate's windows ([`rescore`]); when present, the
    /// decision compares these instead of the served run's own (older) backtests.
    pub same_window: HashMap<String, f64>,
    /// The served version's params (its run's holiday calendar among them: its
    /// Prophet-style specs are stored without it).
    pub params: serde_json::Value,
}

/// Series the served run's models are refitted on to compare on the candidate's windows; a
/// sample bounds the cost of a run over tens of thousands of series.
pub const SAME_WINDOW_SAMPLE: usize = 500;

/// Refits the served run's chosen model of each common series (at most
/// [`SAME_WINDOW_SAMPLE`], in id order; regression winners are left out, their regressors are
/// not at hand) on the candidate's `series` and backtests it on the windows the candidate was
/// scored on. Pure CPU work: run it on a blocking thread.
pub fn rescore(champion: &mut Champion, series: &[super::series::Series], horizon: usize) {
    let by_id: HashMap<String, &super::series::Series> =
        series.iter().map(|s| (s.id(), s)).collect();
    let mut specs: Vec<(&str, super::ModelSpec)> = champion
        .rows
        .iter()
        .filter(|r| by_id.contains_key(&r.series_id))
        .filter_map(|r| {
            let params: serde_json::Value = serde_json::from_str(&r.params).ok()?;
            if params["regression"]["chosen"] == serde_json::Value::Bool(true) {
                return None;
            }
            let spec = serde_json::from_value(params["spec"].clone()).ok()?;
            Some((r.series_id.as_str(), spec))
        })
        .collect();
    specs.sort_by(|a, b| a.0.cmp(b.0));
    specs.truncate(SAME_WINDOW_SAMPLE);
    let holidays = served_calendar(&champion.params, series, horizon);
    let zone = champion.params["timezone"]
        .as_str()
        .and_then(|z| z.parse::<chrono_tz::Tz>().ok());
    use rayon::prelude::*;
    let scored: Vec<(String, f64)> = specs
        .par_iter()
        .filter_map(|(id, spec)| {
            let s = by_id[*id];
            let spec = super::fit::anchored(spec, s, &holidays, zone);
            let a = super::fit::accuracy(&s.values, s.frequency.season(), &spec, horizon);
            Some((id.to_string(), a.mase?))
        })
        .collect();
    champion.same_window = scored.into_iter().collect();
}

/// The served run's holiday calendar (its `holidays` rows and `holidays_country`) over the
/// candidate's years; empty when it had none or they no longer read.
fn served_calendar(
    params: &serde_json::Value,
    series: &[super::series::Series],
    horizon: usize,
) -> Vec<super::prophet::Holiday> {
    let rows: Vec<super::holidays::HolidayRow> =
        serde_json::from_value(params["holidays"].clone()).unwrap_or_default();
    let country = params["holidays_country"].as_str();
    super::country_holidays::calendar(&rows, country, series, horizon).unwrap_or_default()
}

fn mase_of(row: &ForecastRow) -> Option<f64> {
    serde_json::from_str::<super::report::Accuracy>(&row.accuracy)
        .ok()
        .and_then(|a| a.mase)
        .filter(|m| m.is_finite())
}

/// The promotion rule: a partial run (a series glob) never replaces the served run; a full
/// run replaces it unless, at the same frequency, level and horizon, its mean backtest MASE
/// over the series both cover is worse. A different configuration, or no series in common,
/// is promoted (nothing comparable says it is worse).
pub fn decide(
    params: &TrainParams,
    rows: &[ForecastRow],
    champion: Option<&Champion>,
) -> Promotion {
    let promotion = |promoted: bool, reason: String| Promotion {
        promoted,
        reason,
        candidate_mase: None,
        champion_mase: None,
        champion_version: champion.map(|c| c.version.clone()),
    };
    if let Some(glob) = &params.series {
        return promotion(
            false,
            format!(
                "a partial run (series `{glob}`) does not replace the served run; its series' \
                 forecasts are served from its rows"
            ),
        );
    }
    let Some(c) = champion else {
        return promotion(true, "no forecaster version served yet".into());
    };
    let same_config = rows.first().is_some_and(|r| {
        r.frequency == c.frequency && r.level == c.level && r.horizon == c.horizon
    });
    if !same_config {
        return promotion(
            true,
            "a different frequency, level or horizon than the served run".into(),
        );
    }
    // Per series: the served model refitted on the candidate's windows where it was, else the
    // served run's own backtest (a regression winner, a series past the sample).
    let served: HashMap<&str, f64> = c
        .rows
        .iter()
        .filter_map(|r| {
            let id = r.series_id.as_str();
            let m = c.same_window.get(id).copied().or_else(|| mase_of(r))?;
            Some((id, m))
        })
        .collect();
    let pairs: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((mase_of(r)?, *served.get(r.series_id.as_str())?)))
        .collect();
    let same_window = rows
        .iter()
        .filter(|r| mase_of(r).is_some() && c.same_window.contains_key(&r.series_id))
        .count();
    if pairs.is_empty() {
        return promotion(
            true,
            "no backtested series in common with the served run".into(),
        );
    }
    let n = pairs.len() as f64;
    let candidate = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let best = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let promoted = candidate <= best;
    let mut p = promotion(
        promoted,
        format!(
            "mean backtest MASE {candidate:.4} {} the served run's {best:.4} over {} common series{}",
            if promoted {
                "is not worse than"
            } else {
                "is worse than"
            },
            pairs.len(),
            if same_window == pairs.len() {
                ", its models refitted and scored on the same backtest windows".to_string()
            } else {
                format!(
                    ", its models refitted and scored on the same backtest windows for {same_window} \
                     (its own backtests for the rest)"
                )
            }
        ),
    );
    p.candidate_mase = Some(candidate);
    p.champion_mase = Some(best);
    p
}

/// The served forecaster version, if any, with its rows.
async fn champion(app: &App) -> Result<Option<Champion>, DemandError> {
    let Some(v) = app.models.promoted(REGISTRY_KIND).await? else {
        return Ok(None);
    };
    let payload = app.models.load(&v).await?;
    let artifact: Artifact = serde_json::from_slice(&payload)
        .map_err(|e| DemandError::Corrupt(format!("forecaster version {}: {e}", v.id)))?;
    let first = artifact.rows.first();
    Ok(Some(Champion {
        frequency: first.map(|r| r.frequency.clone()).unwrap_or_default(),
        level: first.map(|r| r.level.clone()).unwrap_or_default(),
        horizon: first.map(|r| r.horizon).unwrap_or_default(),
        version: v.id,
        rows: artifact.rows,
        same_window: HashMap::new(),
        params: v.params,
    }))
}

/// Registers a finished run (params, the `sales` commit it read, aggregate metrics, every
/// stored row) and promotes it by [`decide`]. A refused full run's rows, already written,
/// are replaced by the served run's again (its promotion hook), so serving and the registry
/// agree; a partial run's rows stay for its series.
pub async fn register_run(
    app: &App,
    params: &TrainParams,
    report: &TrainReport,
    rows: Vec<ForecastRow>,
    series: &std::sync::Arc<Vec<super::series::Series>>,
) -> Result<ModelVersion, DemandError> {
    let snapshot = app.lake.latest_commit("sales", Area::Datasets).await?;
    let mut params_json =
        serde_json::to_value(params).map_err(|e| DemandError::Task(e.to_string()))?;
    params_json["run_id"] = serde_json::json!(report.run_id);
    params_json["model"] = serde_json::json!(format!("{} per {}", report.level, report.frequency));
    let mut metrics = metrics(report, &rows);
    let mut champion = champion(app).await?;
    if let Some(mut c) = champion.take().filter(|_| params.series.is_none()) {
        let series = std::sync::Arc::clone(series);
        let horizon = report.horizon;
        c = tokio::task::spawn_blocking(move || {
            rescore(&mut c, &series, horizon);
            c
        })
        .await
        .map_err(|e| DemandError::Task(e.to_string()))?;
        champion = Some(c);
    }
    let promotion = decide(params, &rows, champion.as_ref());
    metrics["promotion"] = serde_json::json!(promotion);
    let artifact = serde_json::to_vec(&Artifact {
        format: ARTIFACT_FORMAT,
        run_id: report.run_id.clone(),
        rows,
    })
    .map_err(|e| DemandError::Task(e.to_string()))?;
    let registry = &app.models;
    let version = registry
        .register(NewVersion {
            kind: REGISTRY_KIND,
            params: params_json,
            data_snapshot: snapshot,
            metrics,
            artifact,
        })
        .await?;
    if promotion.promoted {
        return Ok(registry.promote(&version.id).await?);
    }
    if let (Some(c), None) = (&champion, &params.series) {
        registry.promote(&c.version).await?;
    }
    Ok(version)
}

/// Writes a forecaster version's rows back into `forecasts` (the registry's promote hook);
/// returns how many.
pub async fn restore(db: &Db, version: &str, payload: &[u8]) -> Result<usize, RegistryError> {
    let artifact: Artifact =
        serde_json::from_slice(payload).map_err(|e| RegistryError::Corrupt {
            version: version.to_string(),
            detail: format!("not a forecaster artifact: {e}"),
        })?;
    if artifact.format != ARTIFACT_FORMAT {
        return Err(RegistryError::Corrupt {
            version: version.to_string(),
            detail: format!(
                "forecaster artifact format {}, this build reads {ARTIFACT_FORMAT}",
                artifact.format
            ),
        });
    }
    for chunk in artifact.rows.chunks(RESTORE_CHUNK) {
        repo::upsert(db, chunk).await?;
    }
    Ok(artifact.rows.len())
}

/// The forecaster's promotion hook: promoting (or rolling back to) a forecaster version
/// writes its rows back into `forecasts` ([`restore`]). Registered at start-up.
pub struct RestoreForecasts;

#[async_trait::async_trait]
impl PromoteHook for RestoreForecasts {
    async fn after_promote(
        &self,
        db: &Db,
        version: &ModelVersion,
        payload: &[u8],
    ) -> Result<(), RegistryError> {
        restore(db, &version.id, payload).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::report::Accuracy;

    fn row(series: &str, mase: Option<f64>, horizon: i64) -> ForecastRow {
        ForecastRow {
            series_id: series.into(),
            item_id: None,
            store_id: None,
            level: "item".into(),
            frequency: "day".into(),
            model: "m".into(),
            params: "{}".into(),
            accuracy: serde_json::to_string(&Accuracy {
                mase,
                ..Accuracy::default()
            })
            .unwrap(),
            points: "[]".into(),
            horizon,
            history_end: "2026-01-01".into(),
            trained_at: 0,
            run_id: "r".into(),
        }
    }

    fn champion(rows: Vec<ForecastRow>) -> Champion {
        Champion {
            version: "v1".into(),
            frequency: "day".into(),
            level: "item".into(),
            horizon: 7,
            rows,
            same_window: HashMap::new(),
            params: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_same_window_scores_replace_the_served_runs_own() {
        let mut served = champion(vec![row("a", Some(1.0), 7), row("b", Some(0.5), 7)]);
        let candidate = [row("a", Some(0.9), 7), row("b", Some(0.5), 7)];
        // On the candidate's windows the served models do better than the candidate.
        served.same_window = HashMap::from([("a".to_string(), 0.6), ("b".to_string(), 0.4)]);
        let d = decide(&TrainParams::default(), &candidate, Some(&served));
        assert!(!d.promoted, "{}", d.reason);
        assert_eq!(d.champion_mase, Some(0.5));
        assert!(d.reason.contains("same backtest windows"), "{}", d.reason);
    }

    #[test]
    fn a_worse_full_run_is_refused_on_the_common_series_and_a_partial_run_never_replaces() {
        let served = champion(vec![row("a", Some(1.0), 7), row("b", Some(0.5), 7)]);
        let full = TrainParams::default();
        // Common series a and b: mean 0.75 served.
        let better = [
            row("a", Some(0.9), 7),
            row("b", Some(0.5), 7),
            row("c", Some(9.0), 7),
        ];
        let d = decide(&full, &better, Some(&served));
        assert!(d.promoted, "{}", d.reason);
        assert_eq!(d.champion_mase, Some(0.75));
        let worse = [row("a", Some(1.2), 7), row("b", Some(0.6), 7)];
        let d = decide(&full, &worse, Some(&served));
        assert!(
            !d.promoted && d.reason.contains("is worse than"),
            "{}",
            d.reason
        );
        // Another horizon is another configuration: nothing comparable.
        assert!(decide(&full, &[row("a", Some(5.0), 14)], Some(&served)).promoted);
        assert!(decide(&full, &worse, None).promoted);
        let partial = TrainParams {
            series: Some("item=a*".into()),
            ..TrainParams::default()
        };
        let d = decide(&partial, &better, Some(&served));
        assert!(
            !d.promoted && d.reason.contains("partial run"),
            "{}",
            d.reason
        );
    }
}
