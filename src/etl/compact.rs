//! Compaction: a dataset partition that collected many small files (frequent event flushes,
//! many small landing files) is rewritten into few, in one commit that adds the new files and
//! retires the old ones, so readers never see both or neither. Files land concurrently are
//! untouched: only the files listed at the start are replaced.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use futures::TryStreamExt;
use serde::Serialize;

use super::EtlError;
use super::schema::Dataset;
use crate::app::App;
use crate::lake::{Area, CommitOutcome, Scan};

/// A partition is compacted once it has at least this many files.
pub const DEFAULT_MIN_FILES: usize = 4;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CompactionReport {
    pub dataset: String,
    pub partitions_compacted: u64,
    pub files_before: u64,
    pub files_after: u64,
    pub rows: u64,
}

/// Compacts the partitions of `dataset` (one `dt`, or all) that have `min_files` or more.
pub async fn compact(
    app: &App,
    dataset: Dataset,
    dt: Option<NaiveDate>,
    min_files: usize,
) -> Result<CompactionReport, EtlError> {
    let name = dataset.name();
    let files = app.lake.committed_files(name, dt, dt).await?;
    let mut by_dt: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    for f in files {
        by_dt.entry(f.dt).or_default().push(f.path);
    }
    let mut report = CompactionReport {
        dataset: name.to_string(),
        ..Default::default()
    };
    for (day, paths) in by_dt {
        if paths.len() < min_files.max(2) {
            continue;
        }
        let mut writer = app.lake.writer(name, Area::Datasets).await?;
        let mut stream = app
            .lake
            .stream(&Scan::dataset(name).between(Some(day), Some(day)))
            .await?;
        let mut rows = 0u64;
        while let Some(batch) = stream.try_next().await? {
            rows += batch.num_rows() as u64;
            writer.write(day, &batch).await?;
        }
        let key = format!(
            "compact:{:032x}",
            twox_hash::XxHash3_128::oneshot(paths.join("\n").as_bytes())
        );
        match writer.commit_replacing(Some(&key), &paths).await? {
            CommitOutcome::Committed { files, .. } => {
                report.partitions_compacted += 1;
                report.files_before += paths.len() as u64;
                report.files_after += files;
                report.rows += rows;
            }
            CommitOutcome::AlreadyCommitted { .. } => {}
        }
    }
    Ok(report)
}
