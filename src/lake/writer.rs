//! Writing one run of a dataset: buffered per partition, flushed as Parquet part files,
//! published by one commit.
//!
//! Memory stays bounded by flushing a partition as soon as it holds `rows_per_file` rows, and
//! the largest partition whenever all buffers together pass `max_buffered_rows`. Files are
//! ZSTD-compressed with page-level statistics (so engines can skip row groups and pages) and
//! carry the run id in their key-value metadata for lineage. A flushed file is encoded and
//! stored in the background while the caller goes on producing rows (a flush waits only while
//! more than two files are in flight), so parsing, deduplication and compression overlap on
//! all cores.
//!
//! Nothing a writer puts in the store is visible until [`DatasetWriter::commit`], which claims
//! the run in the database and then writes the table's next Delta commit
//! ([`super::delta`]). A writer dropped or killed before that leaves files no Delta version
//! lists; the sweep deletes them (a file still in flight when its writer is dropped lands
//! afterwards and waits for the next sweep). When the Delta commit itself fails the files are
//! left alone too: the log entry may have landed before the connection broke, and deleting the
//! files of a commit that exists would lose data (the sweep deletes them once no version lists
//! them).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use chrono::NaiveDate;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::delta::{self, CommitSpec, DataFile, Landed, Operation};
use super::layout::{self, Area};
use super::{Lake, LakeError};
use crate::db::Db;
use crate::db::lake::{self as log, RunState};

/// Longest accepted commit key.
pub const MAX_COMMIT_KEY_LEN: usize = 1024;

/// Sizing and compression of the files a writer produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// A partition's buffer is written as one file when it reaches this many rows.
    pub rows_per_file: usize,
    /// When all partitions together buffer more rows than this, the largest is flushed.
    pub max_buffered_rows: usize,
    /// Rows per Parquet row group (the unit engines skip by statistics).
    pub row_group_rows: usize,
    /// ZSTD level, 1..=22.
    pub zstd_level: i32,
    /// Columns written without dictionary encoding: near-unique ids gain nothing from a
    /// dictionary and cost a hash per value until the writer gives up on it.
    pub plain_columns: Vec<String>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            rows_per_file: 500_000,
            max_buffered_rows: 1_000_000,
            row_group_rows: 128 * 1024,
            zstd_level: 3,
            plain_columns: Vec::new(),
        }
    }
}

impl WriterOptions {
    fn validate(&self) -> Result<(), LakeError> {
        for (field, value) in [
            ("rows_per_file", self.rows_per_file),
            ("max_buffered_rows", self.max_buffered_rows),
            ("row_group_rows", self.row_group_rows),
        ] {
            if value == 0 {
                return Err(invalid(field, format!("{field} must be positive")));
            }
        }
        Ok(())
    }

    fn properties(
        &self,
        run_id: &str,
        area: Area,
        dataset: &str,
    ) -> Result<WriterProperties, LakeError> {
        let metadata = vec![
            KeyValue::new("recast.run_id".to_string(), run_id.to_string()),
            KeyValue::new(
                "recast.dataset".to_string(),
                layout::dataset_prefix(area, dataset),
            ),
        ];
        let zstd = ZstdLevel::try_new(self.zstd_level)
            .map_err(|e| invalid("zstd_level", e.to_string()))?;
        let mut builder = WriterProperties::builder();
        for column in &self.plain_columns {
            builder = builder.set_column_dictionary_enabled(
                parquet::schema::types::ColumnPath::from(column.as_str()),
                false,
            );
        }
        Ok(builder
            .set_compression(Compression::ZSTD(zstd))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_size(self.row_group_rows)
            .set_created_by(format!("recast {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(metadata))
            .build())
    }
}

/// A part file this writer put in the store (not yet visible unless committed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WrittenFile {
    pub path: String,
    pub dt: NaiveDate,
    pub rows: u64,
    pub bytes: u64,
}

/// How a commit ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CommitOutcome {
    /// The run's files are now visible in table version `commit_id` (`None`: the run had
    /// nothing to commit and the table does not exist yet).
    Committed {
        commit_id: Option<i64>,
        rows: u64,
        bytes: u64,
        files: u64,
    },
    /// The commit key was committed before, in table version `commit_id` (for a lake from
    /// before the Delta logs, the old commit log's id); this run's files were deleted.
    AlreadyCommitted { commit_id: i64 },
}

impl Lake {
    /// Starts a run writing `dataset` in `area` with the lake's default [`WriterOptions`].
    /// The defaults [`Lake::writer`] uses (from `lake.rows_per_file`).
    pub fn writer_options(&self) -> &WriterOptions {
        &self.writer_options
    }

    pub async fn writer(&self, dataset: &str, area: Area) -> Result<DatasetWriter, LakeError> {
        self.writer_with(dataset, area, self.writer_options.clone())
            .await
    }

    pub async fn writer_with(
        &self,
        dataset: &str,
        area: Area,
        options: WriterOptions,
    ) -> Result<DatasetWriter, LakeError> {
        layout::validate_name(dataset)?;
        options.validate()?;
        let run_id = uuid::Uuid::now_v7().to_string();
        let properties = options.properties(&run_id, area, dataset)?;
        log::open_run(&self.db, &run_id, area.as_str(), dataset).await?;
        Ok(DatasetWriter {
            store: Arc::clone(&self.store),
            db: self.db.clone(),
            delta_tables: Arc::clone(&self.delta_tables),
            facts: Default::default(),
            area,
            dataset: dataset.to_string(),
            run_id,
            options,
            properties,
            schema: None,
            buffers: BTreeMap::new(),
            buffered_rows: 0,
            next_part: 0,
            in_flight: VecDeque::new(),
            started: Vec::new(),
            written: Vec::new(),
            finished: false,
        })
    }

    /// The table version holding `commit_key`, if any: lets a run skip work whose commit
    /// would be a no-op.
    pub async fn commit_for_key(
        &self,
        dataset: &str,
        area: Area,
        commit_key: &str,
    ) -> Result<Option<i64>, LakeError> {
        let in_log = delta::with_table(&self.store, &self.delta_tables, area, dataset, async |t| {
            if !delta::refresh(t).await? {
                return Ok(None);
            }
            delta::key_version(t, commit_key).await
        })
        .await?;
        if in_log.is_some() {
            return Ok(in_log);
        }
        Ok(log::legacy::commit_for_key(&self.db, area.as_str(), dataset, commit_key).await?)
    }
}

impl Lake {
    /// Writes `batch` as one file of partition `dt` (row groups of `row_group_rows`, in the
    /// batch's order) and commits it under `key`. Returns the outcome and, when it committed,
    /// the file's path.
    pub async fn commit_one_file(
        &self,
        dataset: &str,
        area: Area,
        dt: NaiveDate,
        batch: &RecordBatch,
        row_group_rows: usize,
        key: &str,
    ) -> Result<(CommitOutcome, Option<String>), LakeError> {
        let rows = batch.num_rows().max(1);
        let options = WriterOptions {
            rows_per_file: rows,
            max_buffered_rows: rows,
            row_group_rows: row_group_rows.max(1),
            ..self.writer_options.clone()
        };
        let mut writer = self.writer_with(dataset, area, options).await?;
        writer.write(dt, batch).await?;
        writer.flush_all().await?;
        let path = writer.written_files().first().map(|f| f.path.clone());
        let outcome = writer.commit(Some(key)).await?;
        let path = match outcome {
            CommitOutcome::Committed { .. } => path,
            CommitOutcome::AlreadyCommitted { .. } => None,
        };
        Ok((outcome, path))
    }
}

#[derive(Default)]
struct Buffer {
    batches: Vec<RecordBatch>,
    rows: usize,
}

/// One run of one dataset. Finish it with [`commit`](Self::commit) or [`abort`](Self::abort).
pub struct DatasetWriter {
    store: Arc<dyn ObjectStore>,
    db: Db,
    delta_tables: Arc<super::delta::DeltaTables>,
    /// The Delta facts of the files written, taken from memory as they are encoded.
    facts: super::delta::KnownFacts,
    area: Area,
    dataset: String,
    run_id: String,
    options: WriterOptions,
    properties: WriterProperties,
    schema: Option<SchemaRef>,
    buffers: BTreeMap<NaiveDate, Buffer>,
    buffered_rows: usize,
    next_part: u64,
    /// Files being encoded and stored in the background, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Every path a flush started, stored or not: what an abort deletes.
    started: Vec<String>,
    written: Vec<WrittenFile>,
    finished: bool,
}

/// Files a writer leaves in flight (encoding and storing) when its caller goes on producing
/// rows; a flush past this waits for the oldest. Two keep both cores busy next to the
/// producer, with at most three files' rows held while a flush waits.
const MAX_IN_FLIGHT: usize = 2;

/// A part file on its way to the store.
struct InFlight {
    file: WrittenFile,
    task: tokio::task::JoinHandle<Result<(u64, super::delta_stats::FileFacts), LakeError>>,
}

impl DatasetWriter {
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    pub fn area(&self) -> Area {
        self.area
    }

    /// Files stored so far (invisible until the commit); files still in flight are not listed.
    pub fn written_files(&self) -> &[WrittenFile] {
        &self.written
    }

    /// Adds `batch` to partition `dt`. Every batch must have the first batch's columns.
    pub async fn write(&mut self, dt: NaiveDate, batch: &RecordBatch) -> Result<(), LakeError> {
        self.check_schema(batch)?;
        let rows_per_file = self.options.rows_per_file;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let buffer = self.buffers.entry(dt).or_default();
            let take = (rows_per_file - buffer.rows).min(batch.num_rows() - offset);
            buffer.batches.push(batch.slice(offset, take));
            buffer.rows += take;
            let full = buffer.rows >= rows_per_file;
            self.buffered_rows += take;
            offset += take;
            if full {
                self.flush(dt).await?;
            }
        }
        while self.buffered_rows > self.options.max_buffered_rows {
            let Some(largest) = self.largest_buffer() else {
                break;
            };
            self.flush(largest).await?;
        }
        Ok(())
    }

    fn check_schema(&mut self, batch: &RecordBatch) -> Result<(), LakeError> {
        let Some(schema) = &self.schema else {
            self.schema = Some(batch.schema());
            return Ok(());
        };
        if schema.fields() == batch.schema().fields() {
            return Ok(());
        }
        Err(LakeError::SchemaMismatch {
            dataset: self.dataset.clone(),
            detail: format!(
                "expected columns [{}], got [{}]",
                describe_columns(schema),
                describe_columns(&batch.schema())
            ),
        })
    }

    fn largest_buffer(&self) -> Option<NaiveDate> {
        self.buffers
            .iter()
            .filter(|(_, b)| b.rows > 0)
            .max_by_key(|(_, b)| b.rows)
            .map(|(dt, _)| *dt)
    }

    /// Starts writing partition `dt`'s buffer as the next part file: encoding and storing run
    /// in the background while the caller goes on; it waits for the oldest while more than
    /// [`MAX_IN_FLIGHT`] files are in flight.
    async fn flush(&mut self, dt: NaiveDate) -> Result<(), LakeError> {
        let Some(buffer) = self.buffers.remove(&dt) else {
            return Ok(());
        };
        let Some(schema) = self.schema.clone() else {
            return Ok(());
        };
        if buffer.rows == 0 {
            return Ok(());
        }
        self.buffered_rows -= buffer.rows;
        let path = layout::part_path(self.area, &self.dataset, dt, &self.run_id, self.next_part);
        self.next_part += 1;
        self.started.push(path.clone());
        let rows = buffer.rows;
        let store = Arc::clone(&self.store);
        let properties = self.properties.clone();
        let target = path.clone();
        let task = tokio::spawn(async move {
            let bytes = encode(schema, buffer.batches, properties).await?;
            let size = bytes.len() as u64;
            let facts = super::delta_stats::facts_of_bytes(&bytes, rows as i64)?;
            store
                .put(&Path::from(target.as_str()), PutPayload::from(bytes))
                .await?;
            Ok((size, facts))
        });
        let file = WrittenFile {
            path,
            dt,
            rows: rows as u64,
            bytes: 0,
        };
        self.in_flight.push_back(InFlight { file, task });
        while self.in_flight.len() > MAX_IN_FLIGHT {
            self.settle_oldest().await?;
        }
        Ok(())
    }

    /// Waits for the oldest file in flight and records it as written.
    async fn settle_oldest(&mut self) -> Result<(), LakeError> {
        let Some(InFlight { mut file, task }) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let (size, facts) = task.await.map_err(|e| LakeError::Task(e.to_string()))??;
        file.bytes = size;
        self.facts.insert(file.path.clone(), facts);
        self.written.push(file);
        Ok(())
    }

    /// Waits until every flushed file is in the store (still invisible until the commit), so
    /// [`written_files`](Self::written_files) lists them all; the first failure is returned
    /// after all have ended.
    pub async fn wait_stored(&mut self) -> Result<(), LakeError> {
        let mut first_error = None;
        while !self.in_flight.is_empty() {
            if let Err(e) = self.settle_oldest().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn flush_all(&mut self) -> Result<(), LakeError> {
        let dates: Vec<NaiveDate> = self.buffers.keys().copied().collect();
        for dt in dates {
            self.flush(dt).await?;
        }
        self.wait_stored().await
    }

    /// Flushes what is buffered and publishes every file of the run in one Delta commit.
    /// With a `commit_key` already committed for this dataset nothing is published and the
    /// run's files are deleted.
    pub async fn commit(self, commit_key: Option<&str>) -> Result<CommitOutcome, LakeError> {
        self.commit_replacing(commit_key, &[]).await
    }

    /// Like [`commit`](Self::commit), and in the same Delta commit removes `replaced` (live
    /// paths of this dataset, e.g. a day's earlier feature snapshot). Readers of the new
    /// version see the new files instead of the replaced ones; earlier versions still see the
    /// old ones until the sweep (`vacuum`) deletes them.
    pub async fn commit_replacing(
        self,
        commit_key: Option<&str>,
        replaced: &[String],
    ) -> Result<CommitOutcome, LakeError> {
        self.commit_as(commit_key, replaced, Operation::Write).await
    }

    /// A compaction's commit: like [`commit_replacing`](Self::commit_replacing), recorded as
    /// the same rows in fewer files (a Delta `OPTIMIZE` with `dataChange = false`).
    pub async fn commit_compaction(
        self,
        commit_key: Option<&str>,
        replaced: &[String],
    ) -> Result<CommitOutcome, LakeError> {
        self.commit_as(commit_key, replaced, Operation::Optimize)
            .await
    }

    async fn commit_as(
        mut self,
        commit_key: Option<&str>,
        replaced: &[String],
        operation: Operation,
    ) -> Result<CommitOutcome, LakeError> {
        if let Some(key) = commit_key {
            validate_commit_key(key)?;
        }
        self.flush_all().await?;
        self.finished = true;
        let migrated = super::migrate::ensure_migrated(
            &self.store,
            &self.db,
            &self.delta_tables,
            self.area,
            &self.dataset,
        )
        .await;
        if let Err(e) = migrated {
            self.abort_inner().await?;
            return Err(e);
        }
        if !log::claim_run(&self.db, &self.run_id).await? {
            return Err(self.not_open().await);
        }
        let files: Vec<DataFile> = self.written.iter().map(data_file).collect();
        let spec = CommitSpec {
            run_id: &self.run_id,
            key: commit_key,
            files: &files,
            replaces: replaced,
            operation,
            facts: &self.facts,
        };
        let landed = delta::commit(
            &self.store,
            &self.delta_tables,
            self.area,
            &self.dataset,
            &spec,
        )
        .await?;
        match landed {
            Landed::Committed { version } => Ok(self.committed(version)),
            Landed::AlreadyCommitted { version } => {
                self.delete_started_quietly().await;
                Ok(CommitOutcome::AlreadyCommitted { commit_id: version })
            }
            Landed::ReplacedNotLive { path } => {
                self.delete_started_quietly().await;
                Err(LakeError::Conflict {
                    detail: format!("`{path}` is no longer a live file of `{}`", self.dataset),
                })
            }
        }
    }

    /// The error of a run that could not be claimed; its files go unless it committed.
    async fn not_open(&self) -> LakeError {
        let state = match log::get_run(&self.db, &self.run_id).await {
            Ok(run) => run.map(|r| r.state),
            Err(e) => return e.into(),
        };
        if state != Some(RunState::Committed) {
            self.delete_started_quietly().await;
        }
        LakeError::RunNotOpen {
            run_id: self.run_id.clone(),
            state: state.map_or("unknown", |s| s.as_str()).to_string(),
        }
    }

    fn committed(&self, commit_id: Option<i64>) -> CommitOutcome {
        CommitOutcome::Committed {
            commit_id,
            rows: self.written.iter().map(|f| f.rows).sum(),
            bytes: self.written.iter().map(|f| f.bytes).sum(),
            files: self.written.len() as u64,
        }
    }

    /// Ends the run without publishing anything: marks it aborted, then deletes its files
    /// (were the deletion to fail, the sweep deletes them: aborted runs get no grace).
    pub async fn abort(mut self) -> Result<(), LakeError> {
        self.finished = true;
        self.abort_inner().await
    }

    async fn abort_inner(&mut self) -> Result<(), LakeError> {
        log::abort_run(&self.db, &self.run_id).await?;
        self.buffers.clear();
        self.buffered_rows = 0;
        // A file still being stored would appear after its deletion: wait for them all.
        let _ = self.wait_stored().await;
        for path in &self.started {
            delete_if_present(self.store.as_ref(), path).await?;
        }
        Ok(())
    }

    /// Cleanup after an outcome is already decided: a failure only delays deletion until
    /// the sweep, so it is logged rather than returned.
    async fn delete_started_quietly(&self) {
        for path in &self.started {
            if let Err(e) = delete_if_present(self.store.as_ref(), path).await {
                tracing::warn!(path = %path, error = %e, "cannot delete file of an uncommitted run; the sweep will");
            }
        }
    }
}

// Writers run inside spawned jobs.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<DatasetWriter>();
};

impl Drop for DatasetWriter {
    fn drop(&mut self) {
        if !self.finished && !self.started.is_empty() {
            tracing::warn!(
                run_id = %self.run_id,
                dataset = %self.dataset,
                files = self.started.len(),
                "lake writer dropped without commit; its files stay invisible until the sweep deletes them"
            );
        }
    }
}

fn data_file(file: &WrittenFile) -> DataFile {
    DataFile {
        path: file.path.clone(),
        dt: layout::format_dt(file.dt),
        rows: file.rows as i64,
        bytes: file.bytes as i64,
    }
}

/// Parquet-encodes `batches` on the blocking pool (compression is CPU work).
async fn encode(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    properties: WriterProperties,
) -> Result<Bytes, LakeError> {
    tokio::task::spawn_blocking(move || {
        let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties))?;
        for batch in &batches {
            writer.write(batch)?;
        }
        Ok(Bytes::from(writer.into_inner()?))
    })
    .await
    .map_err(|e| LakeError::Task(e.to_string()))?
}

/// Deletes one object; an object already gone is not an error.
pub(crate) async fn delete_if_present(
    store: &dyn ObjectStore,
    path: &str,
) -> Result<bool, LakeError> {
    match store.delete(&Path::from(path)).await {
        Ok(()) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn validate_commit_key(key: &str) -> Result<(), LakeError> {
    if key.is_empty() || key.len() > MAX_COMMIT_KEY_LEN {
        return Err(invalid(
            "commit_key",
            format!("commit key must be 1 to {MAX_COMMIT_KEY_LEN} bytes"),
        ));
    }
    Ok(())
}

fn describe_columns(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| {
            let null = if f.is_nullable() { "?" } else { "" };
            format!("{}: {}{null}", f.name(), f.data_type())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn invalid(field: &str, detail: String) -> LakeError {
    LakeError::InvalidInput {
        field: field.to_string(),
        detail,
    }
}
