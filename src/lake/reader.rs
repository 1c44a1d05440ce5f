//! Reading committed data. The file list always comes from the commit log, never from
//! listing the store: listing would show files of runs still writing, of crashed runs and of
//! replaced files, and it is slow and only eventually consistent on some stores.
//!
//! [`Lake::stream`] fetches and decodes one file at a time, so memory is bounded by the
//! largest file however big the range; [`Lake::read`] collects everything and fetches a few
//! files ahead to hide store latency.

use std::pin::Pin;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use chrono::NaiveDate;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::layout::{self, Area};
use super::{Lake, LakeError};
use crate::db::DbError;
use crate::db::lake::{self as log, FileFilter, FileRecord};

/// Files fetched ahead by [`Lake::read`].
const READ_AHEAD: usize = 4;

/// Record batches of committed files, in file order (partition, commit, path).
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch, LakeError>> + Send>>;

/// A live file as the commit log lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommittedFile {
    /// Key relative to the lake root, e.g. `datasets/sales/dt=2024-01-01/part-….parquet`.
    pub path: String,
    pub dt: NaiveDate,
    pub commit_id: i64,
    pub rows: u64,
    pub bytes: u64,
}

/// What to read: one dataset of one area, optionally a date range and a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub area: Area,
    pub dataset: String,
    /// Inclusive partition bounds.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Read the dataset as it was right after this commit; `None` = latest.
    pub as_of: Option<i64>,
}

impl Scan {
    /// The whole latest state of `datasets/<name>`.
    pub fn dataset(name: &str) -> Scan {
        Scan {
            area: Area::Datasets,
            dataset: name.to_string(),
            from: None,
            to: None,
            as_of: None,
        }
    }

    pub fn in_area(mut self, area: Area) -> Scan {
        self.area = area;
        self
    }

    pub fn between(mut self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Scan {
        self.from = from;
        self.to = to;
        self
    }

    pub fn as_of(mut self, commit_id: i64) -> Scan {
        self.as_of = Some(commit_id);
        self
    }

    fn validate(&self) -> Result<(), LakeError> {
        layout::validate_name(&self.dataset)?;
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(LakeError::InvalidInput {
                field: "from".into(),
                detail: format!("date range starts ({from}) after it ends ({to})"),
            });
        }
        Ok(())
    }
}

impl Lake {
    /// Live files of `datasets/<dataset>` with partitions in `from..=to`.
    pub async fn committed_files(
        &self,
        dataset: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<CommittedFile>, LakeError> {
        self.files(&Scan::dataset(dataset).between(from, to)).await
    }

    /// All rows of `datasets/<dataset>` with partitions in `from..=to`, in memory.
    pub async fn read(
        &self,
        dataset: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<RecordBatch>, LakeError> {
        self.read_scan(&Scan::dataset(dataset).between(from, to))
            .await
    }

    /// Like [`read`](Self::read), one file at a time.
    pub async fn read_stream(
        &self,
        dataset: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<BatchStream, LakeError> {
        self.stream(&Scan::dataset(dataset).between(from, to)).await
    }

    /// The files a scan covers, in read order.
    pub async fn files(&self, scan: &Scan) -> Result<Vec<CommittedFile>, LakeError> {
        scan.validate()?;
        let from = scan.from.map(layout::format_dt);
        let to = scan.to.map(layout::format_dt);
        let filter = FileFilter {
            area: scan.area.as_str(),
            dataset: &scan.dataset,
            from: from.as_deref(),
            to: to.as_deref(),
            as_of: scan.as_of,
        };
        let records = log::list_files(&self.db, &filter).await?;
        records.into_iter().map(committed_file).collect()
    }

    /// Every batch a scan covers, in memory.
    pub async fn read_scan(&self, scan: &Scan) -> Result<Vec<RecordBatch>, LakeError> {
        let files = self.files(scan).await?;
        let per_file: Vec<Vec<RecordBatch>> =
            batches_of(Arc::clone(&self.store), files, READ_AHEAD)
                .try_collect()
                .await?;
        Ok(per_file.into_iter().flatten().collect())
    }

    /// Every batch a scan covers, fetched and decoded one file at a time.
    pub async fn stream(&self, scan: &Scan) -> Result<BatchStream, LakeError> {
        let files = self.files(scan).await?;
        Ok(self.stream_files(files))
    }

    /// The batches of `files` (from [`Lake::files`]), fetched and decoded one file at a time.
    pub fn stream_files(&self, files: Vec<CommittedFile>) -> BatchStream {
        let stream = batches_of(Arc::clone(&self.store), files, 1)
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Box::pin(stream)
    }

    /// The newest commit of a dataset (for [`Scan::as_of`] snapshots), if any.
    pub async fn latest_commit(&self, dataset: &str, area: Area) -> Result<Option<i64>, LakeError> {
        layout::validate_name(dataset)?;
        Ok(log::latest_commit_id(&self.db, area.as_str(), dataset).await?)
    }
}

/// Each file's batches, `ahead` files in flight, in file order.
fn batches_of(
    store: Arc<dyn ObjectStore>,
    files: Vec<CommittedFile>,
    ahead: usize,
) -> impl Stream<Item = Result<Vec<RecordBatch>, LakeError>> + Send {
    futures::stream::iter(files)
        .map(move |file| read_file(Arc::clone(&store), file.path))
        .buffered(ahead)
}

async fn read_file(
    store: Arc<dyn ObjectStore>,
    path: String,
) -> Result<Vec<RecordBatch>, LakeError> {
    let bytes = store.get(&Path::from(path.as_str())).await?.bytes().await?;
    decode(bytes).await
}

/// Parquet-decodes one file on the blocking pool.
async fn decode(bytes: Bytes) -> Result<Vec<RecordBatch>, LakeError> {
    tokio::task::spawn_blocking(move || {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
        reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(LakeError::from)
    })
    .await
    .map_err(|e| LakeError::Task(e.to_string()))?
}

fn committed_file(record: FileRecord) -> Result<CommittedFile, LakeError> {
    let dt = layout::parse_dt(&record.dt).ok_or_else(|| {
        DbError::Corrupt(format!(
            "lake file `{}` has partition `{}`",
            record.path, record.dt
        ))
    })?;
    Ok(CommittedFile {
        path: record.path,
        dt,
        commit_id: record.commit_id,
        rows: u64::try_from(record.row_count).unwrap_or(0),
        bytes: u64::try_from(record.byte_count).unwrap_or(0),
    })
}
