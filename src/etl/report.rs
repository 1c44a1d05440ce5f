//! The report of one pipeline run: what was read, landed, quarantined and deduplicated, and
//! the commit it published. Every source (files, SQL, the event buffer) ends in this shape, so
//! `recast pipeline runs`, the API and the scheduler show one thing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::landing::LandingOutcome;
use crate::app::App;

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

/// Stores the report of work done in the background (the event flusher, a stream follower)
/// like any pipeline run, so `recast pipeline runs` and the API show it. `outcome` holds the
/// figures or the error; a failure to store is logged.
pub async fn store_background_run(
    app: &App,
    pipeline: &str,
    started_ms: i64,
    outcome: Result<RunReport, String>,
) {
    let run_id = uuid::Uuid::now_v7().to_string();
    let (status, error, figures) = match outcome {
        Ok(figures) => ("succeeded", None, figures),
        Err(e) => ("failed", Some(e), RunReport::default()),
    };
    let report = RunReport {
        pipeline: pipeline.to_string(),
        run_id: run_id.clone(),
        status: status.into(),
        started_at: crate::db::ms_to_rfc3339(started_ms),
        finished_at: Some(crate::db::ms_to_rfc3339(crate::db::now_ms())),
        error,
        ..figures
    };
    let json = serde_json::to_string(&report).unwrap_or_default();
    let stored = async {
        crate::db::etl::start_run(&app.db, &run_id, pipeline).await?;
        crate::db::etl::finish_run(
            &app.db,
            &run_id,
            &report.status,
            &json,
            report.error.as_deref(),
        )
        .await
    };
    if let Err(e) = stored.await {
        tracing::warn!(error = %e, pipeline, "background run report not stored");
    }
}
