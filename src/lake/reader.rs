//! Reading committed data. The file list always comes from the table's Delta log, never from
//! listing the store: listing would show files of runs still writing, of crashed runs and of
//! replaced files, and it is slow and only eventually consistent on some stores. Snapshot
//! reads are reads of an earlier table version, or of the version current at a time.
//!
//! [`Lake::stream`] fetches and decodes one file at a time, so memory is bounded by the
//! largest file however big the range; [`Lake::read`] collects everything and fetches a few
//! files ahead to hide store latency.

use std::pin::Pin;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::delta::{self, At, LiveFile};
use super::layout::{self, Area};
use super::{Lake, LakeError};

/// Files fetched ahead by [`Lake::read`].
const READ_AHEAD: usize = 4;

/// Record batches of committed files, in file order (partition, path).
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch, LakeError>> + Send>>;

/// A live file as the table's Delta log lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommittedFile {
    /// Key relative to the lake root, e.g. `datasets/sales/dt=2024-01-01/part-….parquet`.
    pub path: String,
    pub dt: NaiveDate,
    /// From the file's statistics in the log (0 when another engine wrote none).
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
    /// Read the table at this version; `None` = latest.
    pub as_of: Option<i64>,
    /// Read the table as it was at this time (ignored when `as_of` is set).
    pub at_time: Option<DateTime<Utc>>,
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
            at_time: None,
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

    /// The table at version `version` (as [`Lake::latest_commit`] and commit outcomes name
    /// them).
    pub fn as_of(mut self, version: i64) -> Scan {
        self.as_of = Some(version);
        self
    }

    /// The table as it was at `time`: the newest version committed at or before it.
    pub fn at_time(mut self, time: DateTime<Utc>) -> Scan {
        self.at_time = Some(time);
        self
    }

    fn at(&self) -> At {
        match (self.as_of, self.at_time) {
            (Some(v), _) => At::Version(v),
            (None, Some(t)) => At::Time(t),
            (None, None) => At::Latest,
        }
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
        if let Some(v) = self.as_of
            && v < 0
        {
            return Err(LakeError::InvalidInput {
                field: "as_of".into(),
                detail: format!("a table version is 0 or more, not {v}"),
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
        let Some((_, live)) = delta::live_files(
            &self.store,
            &self.delta_tables,
            scan.area,
            &scan.dataset,
            scan.at(),
        )
        .await?
        else {
            return Ok(Vec::new());
        };
        let mut files = Vec::with_capacity(live.len());
        for file in live {
            let file = committed_file(file)?;
            if scan.from.is_none_or(|from| file.dt >= from)
                && scan.to.is_none_or(|to| file.dt <= to)
            {
                files.push(file);
            }
        }
        Ok(files)
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

    /// Live files of a table whose statistics say string `column` holds only `value` (the
    /// files of one run, say), found in the log without opening any file.
    pub async fn files_holding(
        &self,
        area: Area,
        dataset: &str,
        column: &str,
        value: &str,
    ) -> Result<Vec<CommittedFile>, LakeError> {
        delta::files_holding(
            &self.store,
            &self.delta_tables,
            area,
            dataset,
            column,
            value,
        )
        .await?
        .into_iter()
        .map(committed_file)
        .collect()
    }

    /// The newest version of a table (for [`Scan::as_of`] snapshots), if it exists.
    pub async fn latest_commit(&self, dataset: &str, area: Area) -> Result<Option<i64>, LakeError> {
        delta::with_table(
            &self.store,
            &self.delta_tables,
            area,
            dataset,
            async |table| {
                delta::refresh(table).await?;
                Ok(table.version())
            },
        )
        .await
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

fn committed_file(file: LiveFile) -> Result<CommittedFile, LakeError> {
    let dt = layout::parse_dt(&file.dt).ok_or_else(|| {
        LakeError::Delta(format!(
            "file `{}` has partition value dt = `{}`, not a date",
            file.path, file.dt
        ))
    })?;
    Ok(CommittedFile {
        path: file.path,
        dt,
        rows: file.rows.and_then(|r| u64::try_from(r).ok()).unwrap_or(0),
        bytes: u64::try_from(file.bytes).unwrap_or(0),
    })
}
