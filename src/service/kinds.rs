//! Built-in job kinds. Each handler parses its payload, calls one domain function and returns
//! that function's report as the job result; the work itself lives in the domain modules.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::app::App;
use crate::jobs::{JobContext, JobError, JobHandler, JobKinds};
use crate::progress::Progress;

/// Registers every built-in kind.
pub fn register_builtin(registry: &mut JobKinds) {
    registry.register(Arc::new(SweepLake));
    registry.register(Arc::new(RunPipeline));
    registry.register(Arc::new(CompactDataset));
    registry.register(Arc::new(TrainForecaster));
    registry.register(Arc::new(TrainRecommender));
    registry.register(Arc::new(MaterializeFeatures));
}

/// What domain code reports to while it runs as a job: the latest report goes to the job
/// (through [`progress_bridge`]'s future), and a cancelled job says so between steps.
struct JobProgress {
    latest: tokio::sync::watch::Sender<(f64, String)>,
    cancel: tokio_util::sync::CancellationToken,
}

impl Progress for JobProgress {
    fn report(&self, percent: f64, message: &str) {
        self.latest.send_replace((percent, message.to_string()));
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// The progress reporter for domain code, and the future that forwards what it reports to
/// the job (the context throttles the writes). Poll the future beside the work.
fn progress_bridge(ctx: &JobContext) -> (JobProgress, impl Future<Output = ()> + '_) {
    let (tx, mut rx) = tokio::sync::watch::channel((0.0_f64, String::new()));
    let report = JobProgress {
        latest: tx,
        cancel: ctx.cancellation_token(),
    };
    let forward = async move {
        while rx.changed().await.is_ok() {
            let (pct, msg) = rx.borrow_and_update().clone();
            ctx.progress(pct, msg).await;
        }
        std::future::pending::<()>().await;
    };
    (report, forward)
}

/// `run_pipeline`: one run of a pipeline from `pipelines/` (what the scheduler enqueues).
pub struct RunPipeline;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunPipelinePayload {
    pipeline: String,
}

#[async_trait]
impl JobHandler for RunPipeline {
    fn kind(&self) -> &'static str {
        "run_pipeline"
    }

    fn validate(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        parse_payload::<RunPipelinePayload>(payload).map(|_| ())
    }

    async fn validate_in(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let payload: RunPipelinePayload = parse_payload(payload)?;
        crate::etl::pipelines::find_pipeline(app, &payload.pipeline)
            .map(|_| ())
            .map_err(|e| JobError::invalid("payload.pipeline", e.to_string()))
    }

    async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let payload: RunPipelinePayload = parse_payload(ctx.payload())?;
        let app = ctx.app().clone();
        let spec = crate::etl::pipelines::find_pipeline(&app, &payload.pipeline)
            .map_err(|e| JobError::InvalidPayload(e.to_string()))?;
        let (progress, forward) = progress_bridge(ctx);
        let work = crate::etl::runner::run_pipeline(&app, &spec, &progress);
        let report = tokio::select! {
            biased;
            result = work => result.map_err(|e| JobError::Failed(e.to_string()))?,
            _ = ctx.cancelled() => return Err(JobError::Cancelled),
            _ = forward => unreachable!("the forwarder never ends"),
        };
        let scored = super::after_landing(&app, &spec, &report).await;
        let mut out = serde_json::to_value(report).map_err(|e| JobError::Failed(e.to_string()))?;
        if let (Some(scored), Some(obj)) = (scored, out.as_object_mut()) {
            obj.insert("forecasts_scored".into(), serde_json::json!(scored));
        }
        Ok(out)
    }
}

/// `materialize_features`: computes feature views into the offline and online stores
/// (payload `{"views"?: [...], "from"?: "YYYY-MM-DD", "to"?: "YYYY-MM-DD"}`; what the views'
/// schedules enqueue).
pub struct MaterializeFeatures;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaterializePayload {
    #[serde(default)]
    views: Vec<String>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
}

#[async_trait]
impl JobHandler for MaterializeFeatures {
    fn kind(&self) -> &'static str {
        "materialize_features"
    }

    fn validate(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        let p: MaterializePayload = parse_payload(payload)?;
        if let (Some(from), Some(to)) = (p.from, p.to)
            && from > to
        {
            return Err(JobError::invalid(
                "payload.from",
                format!("starts ({from}) after `to` ({to})"),
            ));
        }
        Ok(())
    }

    async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let p: MaterializePayload = parse_payload(ctx.payload())?;
        let app = ctx.app().clone();
        let dir = std::path::PathBuf::from(&app.settings.pipelines_dir);
        let catalog = crate::features::catalog::sync_dir(&app.db, &dir)
            .await
            .map_err(|e| JobError::InvalidPayload(e.to_string()))?;
        let request = crate::features::materialize::MaterializeRequest {
            views: p.views,
            from: p.from,
            to: p.to,
        };
        let (progress, forward) = progress_bridge(ctx);
        let work = crate::features::materialize::materialize(&app, &catalog, &request, &progress);
        let report = tokio::select! {
            biased;
            result = work => result.map_err(|e| match e {
                crate::features::FeatureError::UnknownView(v) => {
                    JobError::InvalidPayload(format!("unknown feature view `{v}`"))
                }
                other => JobError::Failed(other.to_string()),
            })?,
            _ = ctx.cancelled() => return Err(JobError::Cancelled),
            _ = forward => unreachable!("the forwarder never ends"),
        };
        serde_json::to_value(report).map_err(|e| JobError::Failed(e.to_string()))
    }
}

/// `train_recommender`: trains, evaluates and registers a recommender version; the payload is
/// `recommend::train::TrainParams` (every field optional, e.g. `{"model": "als", "factors": 64}`).
pub struct TrainRecommender;

fn train_params(
    payload: &serde_json::Value,
) -> Result<crate::recommend::train::TrainParams, JobError> {
    let params: crate::recommend::train::TrainParams = parse_payload(payload)?;
    params
        .validate()
        .map_err(|e| JobError::InvalidPayload(e.to_string()))?;
    Ok(params)
}

#[async_trait]
impl JobHandler for TrainRecommender {
    fn kind(&self) -> &'static str {
        "train_recommender"
    }

    fn validate(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        train_params(payload).map(|_| ())
    }

    async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let params = train_params(ctx.payload())?;
        let app = ctx.app().clone();
        // The training thread polls the reporter, so a cancel stops it between steps.
        let (progress, forward) = progress_bridge(ctx);
        let work = crate::recommend::train::run(&app, &params, Arc::new(progress));
        let report = tokio::select! {
            biased;
            result = work => result.map_err(|e| JobError::Failed(e.to_string()))?,
            _ = ctx.cancelled() => return Err(JobError::Cancelled),
            _ = forward => unreachable!("the forwarder never ends"),
        };
        Ok(serde_json::json!({
            "version": report.version.id,
            "kind": report.version.kind,
            "status": report.version.status,
            "gate": report.gate,
            "metrics": report.metrics,
            "popularity_baseline": report.baseline,
            "users": report.users,
            "items": report.items,
            "events": report.events,
        }))
    }
}

/// `train_forecaster`: fits, forecasts and backtests every demand series
/// (payload: [`crate::forecast::train::TrainParams`]).
pub struct TrainForecaster;

#[async_trait]
impl JobHandler for TrainForecaster {
    fn kind(&self) -> &'static str {
        "train_forecaster"
    }

    fn validate(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        let params: crate::forecast::train::TrainParams = parse_payload(payload)?;
        params.validate().map_err(forecast_job_error)
    }

    async fn validate_in(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let params: crate::forecast::train::TrainParams = parse_payload(payload)?;
        crate::forecast::train::check_series_filter(app, &params)
            .await
            .map_err(forecast_job_error)
    }

    async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let params: crate::forecast::train::TrainParams = parse_payload(ctx.payload())?;
        let app = ctx.app().clone();
        let (progress, forward) = progress_bridge(ctx);
        let work = crate::forecast::train::run(&app, &params, &progress);
        let report = tokio::select! {
            biased;
            result = work => result.map_err(forecast_job_error)?,
            _ = ctx.cancelled() => return Err(JobError::Cancelled),
            _ = forward => unreachable!("the forwarder never ends"),
        };
        serde_json::to_value(report).map_err(|e| JobError::Failed(e.to_string()))
    }
}

/// A forecasting error as a job error; invalid parameters name the payload field.
fn forecast_job_error(e: crate::forecast::DemandError) -> JobError {
    match e {
        crate::forecast::DemandError::Invalid { field, detail } => {
            JobError::invalid(format!("payload.{field}"), detail)
        }
        other => JobError::Failed(other.to_string()),
    }
}

/// `compact_dataset`: rewrites partitions' small files into few (the Delta `OPTIMIZE`).
pub struct CompactDataset;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompactPayload {
    /// One dataset; every canonical dataset when omitted (the daily schedule).
    dataset: Option<crate::etl::Dataset>,
    /// One partition (`YYYY-MM-DD`, with `dataset`); all when omitted.
    dt: Option<chrono::NaiveDate>,
    /// Compact partitions with at least this many small files (default 2).
    min_files: Option<usize>,
}

#[async_trait]
impl JobHandler for CompactDataset {
    fn kind(&self) -> &'static str {
        "compact_dataset"
    }

    fn validate(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        let payload = parse_payload::<CompactPayload>(payload)?;
        if payload.dt.is_some() && payload.dataset.is_none() {
            return Err(JobError::InvalidPayload(
                "dt: a partition needs its dataset".into(),
            ));
        }
        Ok(())
    }

    async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let payload: CompactPayload = parse_payload(ctx.payload())?;
        let min_files = payload
            .min_files
            .unwrap_or(crate::etl::compact::DEFAULT_MIN_FILES);
        let failed = |e: crate::etl::EtlError| JobError::Failed(e.to_string());
        // A job's result is a JSON object: one dataset's report, or `{"datasets": [...]}`.
        let value = match payload.dataset {
            Some(dataset) => {
                ctx.progress(0.0, format!("compacting {dataset}")).await;
                let report =
                    crate::etl::compact::compact(ctx.app(), dataset, payload.dt, min_files)
                        .await
                        .map_err(failed)?;
                serde_json::to_value(report)
            }
            None => {
                ctx.progress(0.0, "compacting every dataset").await;
                let reports = crate::etl::compact::compact_all(ctx.app(), min_files)
                    .await
                    .map_err(failed)?;
                serde_json::to_value(serde_json::json!({ "datasets": reports }))
            }
        };
        value.map_err(|e| JobError::Failed(e.to_string()))
    }
}

/// Parses a payload object into `T`; `null` (no payload given) reads as `{}`. Only objects
/// are accepted: serde would otherwise read `[1]` as a struct by field position.
fn parse_payload<T: serde::de::DeserializeOwned>(
    payload: &serde_json::Value,
) -> Result<T, JobError> {
    let value = match payload {
        serde_json::Value::Null => serde_json::json!({}),
        serde_json::Value::Object(_) => payload.clone(),
        _ => return Err(JobError::InvalidPayload("expected a JSON object".into())),
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = crate::api::extract::error_field(&e);
        let detail = e.into_inner().to_string();
        match field {
            Some(field) => JobError::invalid(format!("payload.{field}"), detail),
            None => JobError::InvalidPayload(detail),
        }
    })
}

/// `sweep_lake`: deletes files of lake runs that never committed (crashed writers).
pub struct SweepLake;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepLakePayload {
    /// Leave files younger than this alone; default `lake.sweep_grace_seconds`.
    grace_seconds: Option<u64>,
}

#[async_trait]
impl JobHandler for SweepLake {
    fn kind(&self) -> &'static str {
        "sweep_lake"
    }

    fn validate(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        parse_payload::<SweepLakePayload>(payload).map(|_| ())
    }

    async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let payload: SweepLakePayload = parse_payload(ctx.payload())?;
        let app = ctx.app();
        let grace = payload
            .grace_seconds
            .unwrap_or(app.settings.lake.sweep_grace_seconds);
        ctx.progress(0.0, "sweeping uncommitted files").await;
        // Dropping the sweep midway is safe: what it has not deleted yet, the next sweep will.
        let report = tokio::select! {
            report = app.lake.sweep(Duration::from_secs(grace)) => report,
            _ = ctx.cancelled() => return Err(JobError::Cancelled),
        }
        .map_err(|e| JobError::Failed(format!("lake sweep failed: {e}")))?;
        serde_json::to_value(report)
            .map_err(|e| JobError::Failed(format!("cannot encode the sweep report: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sweep_payload_validation() {
        let h = SweepLake;
        assert!(h.validate(&json!({})).is_ok());
        assert!(h.validate(&serde_json::Value::Null).is_ok());
        assert!(h.validate(&json!({"grace_seconds": 60})).is_ok());
        // A value of the wrong type and an unknown field are named; a non-object is the
        // payload's fault.
        for (bad, at) in [
            (json!({"grace_seconds": -1}), "payload.grace_seconds"),
            (json!({"grace_seconds": "1h"}), "payload.grace_seconds"),
            (json!({"grace": 5}), "payload.grace"),
        ] {
            assert!(
                matches!(h.validate(&bad), Err(JobError::Invalid { field, .. }) if field == at),
                "{bad}"
            );
        }
        assert!(matches!(
            h.validate(&json!([1])),
            Err(JobError::InvalidPayload(_))
        ));
        // A missing field is named too, as the API's bodies name theirs.
        assert!(matches!(
            RunPipeline.validate(&json!({})),
            Err(JobError::Invalid { field, .. }) if field == "payload.pipeline"
        ));
    }
}
