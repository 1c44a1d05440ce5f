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

/// Registers a finished run (params, the `sales` commit it read, aggregate metrics, every
/// stored row) and promotes it: it is what serving now has.
pub async fn register_run(
    app: &App,
    params: &TrainParams,
    report: &TrainReport,
    rows: Vec<ForecastRow>,
) -> Result<ModelVersion, DemandError> {
    let snapshot = app.lake.latest_commit("sales", Area::Datasets).await?;
    let mut params_json =
        serde_json::to_value(params).map_err(|e| DemandError::Task(e.to_string()))?;
    params_json["run_id"] = serde_json::json!(report.run_id);
    params_json["model"] = serde_json::json!(format!("{} per {}", report.level, report.frequency));
    let metrics = metrics(report, &rows);
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
    Ok(registry.promote(&version.id).await?)
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
