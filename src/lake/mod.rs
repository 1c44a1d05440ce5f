//! The Parquet lake: Hive-partitioned files in an object store, every table a Delta Lake table
//! whose log is the one truth of which files are live, for recast and outside engines alike.
//!
//! Why a log instead of "whatever is in the bucket": object stores cannot publish several
//! files atomically, and a run that dies halfway must not leave half its data readable. So a
//! [`DatasetWriter`] registers a run (`db::lake`), writes its part files, and only its Delta
//! commit makes them visible; readers go through the log and never list the store. A re-run
//! of the same input (same commit key, a Delta transaction id) commits nothing new. Files no
//! version lists are garbage, and [`Lake::sweep`] (`vacuum`) deletes them once they are older
//! than a retention that protects runs still writing and reads of earlier versions.
//!
//! - `store`: `lake_url` → object store (local dir, S3-compatible, memory).
//! - `layout`: the object keys (`datasets/<name>/dt=YYYY-MM-DD/part-<run>-<n>.parquet`).
//! - `writer`: buffered, partitioned Parquet writing and the commit.
//! - `reader`: committed files and their batches, whole or streamed, at a version or time.
//! - `sweep`: `vacuum`, garbage collection of uncommitted and removed files.
//! - `delta`, `delta_stats`: each table's Delta log (`_delta_log/`): commits with per-file
//!   statistics, reads of live files, the cached table state.
//! - `migrate`: registers a lake from before the Delta logs in new logs.

pub mod delta;
pub mod delta_stats;
pub mod layout;
pub mod migrate;
pub mod reader;
pub mod store;
pub mod sweep;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;

use crate::config::Settings;
use crate::db::Db;

pub use layout::Area;
pub use reader::{BatchStream, CommittedFile, Scan};
pub use sweep::SweepReport;
pub use writer::{CommitOutcome, DatasetWriter, WriterOptions, WrittenFile};

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A caller-supplied value is not acceptable (dataset name, date range, ...).
    #[error("{detail}")]
    InvalidInput { field: String, detail: String },
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("invalid lake url `{url}`: {reason}")]
    Url { url: String, reason: String },
    /// A batch's columns differ from the first batch the writer saw.
    #[error("schema mismatch writing `{dataset}`: {detail}")]
    SchemaMismatch { dataset: String, detail: String },
    /// The run can no longer commit: a sweep aborted it (it outlived the grace period) or it
    /// already finished.
    #[error("lake run `{run_id}` is {state}, not open")]
    RunNotOpen { run_id: String, state: String },
    /// A commit raced another change to the same files (e.g. two compactions).
    #[error("{detail}")]
    Conflict { detail: String },
    /// The Delta log of a table could not be read or written.
    #[error("delta log: {0}")]
    Delta(String),
    /// Tables written before recast's Delta logs hold commits their logs lack.
    #[error(
        "the lake has tables written before recast's Delta logs ({}); run `recast lake migrate` first",
        tables.join(", ")
    )]
    Unmigrated { tables: Vec<String> },
    /// Encoding or decoding on the blocking pool did not finish (panic or shutdown).
    #[error("background task failed: {0}")]
    Task(String),
}

/// One lake: its store, the commit log, the writer defaults. Cheap to share behind an `Arc`.
pub struct Lake {
    url: String,
    store: Arc<dyn ObjectStore>,
    db: Db,
    writer_options: WriterOptions,
    delta_tables: Arc<delta::DeltaTables>,
}

impl Lake {
    /// Opens the store named by `settings.lake_url`. A `memory://` lake lives as long as this
    /// value: two `open` calls give two empty lakes.
    pub async fn open(settings: &Settings, db: Db) -> Result<Lake, LakeError> {
        let store = store::open_store(settings)?;
        Ok(Lake {
            url: store::redact(&settings.lake_url),
            store,
            db,
            writer_options: WriterOptions {
                rows_per_file: settings.lake.rows_per_file,
                max_buffered_rows: settings.lake.rows_per_file.saturating_mul(2),
                ..WriterOptions::default()
            },
            delta_tables: Arc::default(),
        })
    }

    /// The same lake with other defaults for [`Lake::writer`].
    pub fn with_writer_options(mut self, options: WriterOptions) -> Lake {
        self.writer_options = options;
        self
    }

    /// The lake URL with credentials removed, for logs and `/readyz`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store rooted at the lake (keys like `datasets/...`), for areas outside the tables
    /// such as `models/` and `exports/`.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Readiness: the store answers a (one-level, so cheap) listing of the lake root.
    pub async fn check(&self) -> Result<(), LakeError> {
        self.store.list_with_delimiter(None).await?;
        Ok(())
    }

    /// `vacuum`: deletes what no current Delta version lists: files of aborted runs and of
    /// open runs older than `grace` (those runs are aborted), unknown objects older than
    /// `grace`, and files a commit older than `grace` removed. Refuses an unmigrated lake.
    pub async fn sweep(&self, grace: Duration) -> Result<SweepReport, LakeError> {
        let unmigrated = self.unmigrated_tables().await?;
        if !unmigrated.is_empty() {
            return Err(LakeError::Unmigrated { tables: unmigrated });
        }
        sweep::run(&self.store, &self.db, &self.delta_tables, grace).await
    }
}
