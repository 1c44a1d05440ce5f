//! Runs a pipeline once and records its report. Every source ends in the same landing and
//! the same report, so `recast pipeline runs`, the API and the scheduler show one shape.

use std::time::Instant;

use super::report::RunReport;
use super::spec::{PipelineSpec, SourceSpec};
use super::{EtlError, source};
use crate::app::App;
use crate::db::etl as repo;
use crate::db::ms_to_rfc3339;
use crate::progress::Progress;

/// Batches one run of a NATS pipeline takes at most, so a scheduled run ends under load.
const DRAIN_BATCHES: usize = 1000;

/// Runs `spec` once: reads its source, lands the rows, stores the report (also on failure).
pub async fn run_pipeline(
    app: &App,
    spec: &PipelineSpec,
    progress: &dyn Progress,
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
        SourceSpec::Nats { .. } => source::nats::drain(app, spec, DRAIN_BATCHES, progress)
            .await
            .map(|consumed| {
                report = RunReport {
                    pipeline: report.pipeline.clone(),
                    run_id: report.run_id.clone(),
                    started_at: report.started_at.clone(),
                    ..source::nats::report(&consumed)
                };
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
