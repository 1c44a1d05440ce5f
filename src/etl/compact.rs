//! Compaction (the lake's Delta `OPTIMIZE`): the small files of a partition (frequent event
//! flushes, many small landing files), those under `lake.target_file_bytes`, are rewritten
//! together into files of `lake.rows_per_file` rows, in one commit that adds the new files and
//! retires the old ones, so readers never see both or neither. The commit is recorded as an
//! optimize (same rows, `dataChange = false` in the Delta log). Files that land concurrently
//! are untouched: only the files listed at the start are replaced. Runs daily
//! (`lake-optimize` schedule) and on demand (`compact_dataset` job).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use futures::TryStreamExt;
use serde::Serialize;

use super::EtlError;
use super::schema::Dataset;
use crate::app::App;
use crate::lake::{Area, CommitOutcome, CommittedFile};

/// A partition is compacted once it has at least this many small files.
pub const DEFAULT_MIN_FILES: usize = 2;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CompactionReport {
    pub dataset: String,
    pub partitions_compacted: u64,
    pub files_before: u64,
    pub files_after: u64,
    pub rows: u64,
}

/// Compacts the partitions of `dataset` (one `dt`, or all) that have `min_files` or more
/// files smaller than `lake.target_file_bytes`.
pub async fn compact(
    app: &App,
    dataset: Dataset,
    dt: Option<NaiveDate>,
    min_files: usize,
) -> Result<CompactionReport, EtlError> {
    let name = dataset.name();
    let target = app.settings.lake.target_file_bytes;
    let mut by_dt: BTreeMap<NaiveDate, Vec<CommittedFile>> = BTreeMap::new();
    for f in app.lake.committed_files(name, dt, dt).await? {
        if f.bytes < target {
            by_dt.entry(f.dt).or_default().push(f);
        }
    }
    let mut report = CompactionReport {
        dataset: name.to_string(),
        ..Default::default()
    };
    for (day, small) in by_dt {
        if small.len() < min_files.max(2) {
            continue;
        }
        let paths: Vec<String> = small.iter().map(|f| f.path.clone()).collect();
        let mut writer = app.lake.writer(name, Area::Datasets).await?;
        let mut stream = app.lake.stream_files(small);
        let mut rows = 0u64;
        while let Some(batch) = stream.try_next().await? {
            // Files from before an additive schema change get the new columns as nulls.
            let batch = dataset.conform(&batch)?;
            rows += batch.num_rows() as u64;
            writer.write(day, &batch).await?;
        }
        let key = format!(
            "compact:{:032x}",
            twox_hash::XxHash3_128::oneshot(paths.join("\n").as_bytes())
        );
        match writer.commit_compaction(Some(&key), &paths).await? {
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

/// [`compact`] for every canonical dataset.
pub async fn compact_all(app: &App, min_files: usize) -> Result<Vec<CompactionReport>, EtlError> {
    let mut out = Vec::new();
    for dataset in Dataset::ALL {
        out.push(compact(app, dataset, None, min_files).await?);
    }
    Ok(out)
}
