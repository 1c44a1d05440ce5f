//! Runs a pipeline once and records its report. Every source ends in the same landing and
//! the same report, so `recast pipeline runs`, the API and the scheduler show one shape.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::landing::LandingOutcome;
use super::spec::{PipelineSpec, SourceSpec};
use super::{EtlError, source};
use crate::app::App;
use crate::db::etl as repo;
use crate::db::ms_to_rfc3339;

/// What one run did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    pub pipeline: String,
    pub run_id: String,
    /// running, succeeded or failed
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub rows_read: u64,
    pub rows_landed: u64,
    pub rows_quarantined: u64,
    /// Quarantined rows per reason code.
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Duplicates dropped within the run plus those already in the lake.
    pub duplicates: u64,
    pub duplicates_in_run: u64,
    pub duplicates_landed: u64,
    pub files_read: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub seconds: f64,
    pub commit_id: Option<i64>,
    /// The input had been landed by an earlier run; nothing new was published.
    pub already_landed: bool,
    /// SQL sources: the watermark range taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunReport {
    /// Fills the landing figures.
    pub fn absorb(&mut self, landing: LandingOutcome) {
        self.rows_landed = landing.rows_landed;
        self.rows_quarantined = landing.rows_quarantined;
        self.quarantined_by_reason = landing.quarantined_by_reason;
        self.duplicates_in_run = landing.duplicates_in_run;
        self.duplicates_landed = landing.duplicates_landed;
        self.duplicates = landing.duplicates_in_run + landing.duplicates_landed;
        self.bytes_written = landing.bytes_written;
        self.commit_id = landing.commit_id;
        self.already_landed = landing.already_committed;
    }
}

/// Runs `spec` once: reads its source, lands the rows, stores the report (also on failure).
pub async fn run_pipeline(
    app: &App,
    spec: &PipelineSpec,
    progress: &(dyn Fn(f64, &str) + Send + Sync),
) -> Result<RunReport, EtlError> {
    let run_id = uuid::Uuid::now_v7().to_string();
    let started = repo::start_run(&app.db, &run_id, &spec.name).await?;
    let clock = Instant::now();
    let mut report = RunReport {
        pipeline: spec.name.clone(),
        run_id: run_id.clone(),
        status: "running".into(),
        started_at: ms_to_rfc3339(started),
        ..Default::default()
    };
    let outcome = match &spec.source {
        SourceSpec::Files { .. } => {
            source::files::run(app, spec, &run_id, progress)
                .await
                .map(|read| {
                    report.files_read = read.files;
                    report.rows_read = read.rows_read;
                    report.bytes_read = read.bytes_read;
                    report.absorb(read.landing);
                })
        }
        SourceSpec::Sql { .. } => source::sql::run(app, spec, progress).await.map(|read| {
            report.rows_read = read.rows_read;
            report.watermark_from = read.watermark_from;
            report.watermark_to = read.watermark_to;
            report.absorb(read.landing);
        }),
        SourceSpec::Events { .. } => {
            super::events::flush(app, spec, progress)
                .await
                .map(|flushed| {
                    report = RunReport {
                        pipeline: report.pipeline.clone(),
                        run_id: report.run_id.clone(),
                        started_at: report.started_at.clone(),
                        ..flushed
                    };
                })
        }
    };
    report.seconds = clock.elapsed().as_secs_f64();
    report.finished_at = Some(ms_to_rfc3339(crate::db::now_ms()));
    let error = outcome.as_ref().err().map(|e| e.to_string());
    report.status = if error.is_some() {
        "failed"
    } else {
        "succeeded"
    }
    .into();
    report.error = error.clone();
    let json = serde_json::to_string(&report).unwrap_or_default();
    repo::finish_run(&app.db, &run_id, &report.status, &json, error.as_deref()).await?;
    match outcome {
        Ok(()) => {
            tracing::info!(
                pipeline = %spec.name, run_id = %run_id, rows_read = report.rows_read,
                rows_landed = report.rows_landed, rows_quarantined = report.rows_quarantined,
                duplicates = report.duplicates, seconds = report.seconds, "pipeline run finished"
            );
            Ok(report)
        }
        Err(e) => Err(e),
    }
}

/// Stored reports, newest first.
pub async fn list_runs(
    app: &App,
    pipeline: Option<&str>,
    limit: i64,
) -> Result<Vec<RunReport>, EtlError> {
    let rows = repo::list_runs(&app.db, pipeline, limit).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            match r
                .report
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok())
            {
                Some(report) => report,
                None => RunReport {
                    pipeline: r.pipeline,
                    run_id: r.run_id,
                    status: r.status,
                    started_at: ms_to_rfc3339(r.started_at),
                    finished_at: r.finished_at.map(ms_to_rfc3339),
                    error: r.error,
                    ..Default::default()
                },
            }
        })
        .collect())
}

/// The pipelines defined in the configured directory.
pub fn load_pipelines(app: &App) -> Result<Vec<PipelineSpec>, EtlError> {
    let dir = crate::config::Settings::resolve_path(
        &std::env::current_dir().unwrap_or_default(),
        &app.settings.pipelines_dir,
    );
    Ok(super::spec::load_dir(&dir)?)
}

/// One pipeline by name.
pub fn find_pipeline(app: &App, name: &str) -> Result<PipelineSpec, EtlError> {
    load_pipelines(app)?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| EtlError::UnknownPipeline(name.to_string()))
}

/// The cron schedules the pipelines declare, as scheduler entries (`pipeline:<name>` running
/// the `run_pipeline` job). Event-buffer pipelines are flushed by every `serve` process on
/// its own interval and are not scheduled as jobs.
pub fn pipeline_schedules(specs: &[PipelineSpec]) -> Vec<crate::config::ScheduleSpec> {
    specs
        .iter()
        .filter(|s| !matches!(s.source, SourceSpec::Events { .. }))
        .filter_map(|s| {
            s.schedule.as_ref().map(|cron| crate::config::ScheduleSpec {
                name: format!("pipeline:{}", s.name),
                cron: cron.clone(),
                kind: "run_pipeline".into(),
                payload: serde_json::json!({ "pipeline": s.name }),
            })
        })
        .collect()
}
