//! Every lake table (`<area>/<dataset>/`) is a Delta Lake table, and its log (`_delta_log/`)
//! is the one truth of which files are live: Spark, DuckDB's `delta_scan`, Polars, delta-rs
//! and recast itself read exactly the files recast committed, never the orphans of a killed
//! run nor the inputs of a compaction.
//!
//! A run's files become visible with one Delta commit (`add`, and `remove` for what it
//! replaces). A run with an idempotency key carries it as a Delta `txn` action (app id
//! `recast:<key>`, version = the table version of the commit), so a re-run of the same input,
//! even after a crash between the commit and the caller's bookkeeping, finds the key in the log
//! and commits nothing. A commit without a key that failed with an unclear outcome (a timeout
//! after the write) checks whether its first file is live before trying again.
//!
//! Concurrency: writers race for the next log version with put-if-absent; the loser reloads,
//! re-checks its key and what it replaces, and tries the next version. The store must make a
//! log entry's creation exclusive (local disks, S3 with conditional writes); see
//! `docs/operations.md`.
//!
//! The tables speak the base protocol (reader 1, writer 2: no deletion vectors, no column
//! mapping), partitioned by `dt`, with per-file statistics ([`super::delta_stats`]); columns a
//! commit brings that the table lacks are added first (additive schema change).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, DataType, Remove, StructField, StructType, Transaction};
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::prefix::PrefixStore;

use super::delta_stats::{FileFacts, read_facts};
use super::layout::{self, Area};
use super::{Lake, LakeError};

/// App id prefix of the `txn` action that carries a commit key.
pub const KEY_APP_PREFIX: &str = "recast:";
/// The partition column every lake table has.
pub const PARTITION: &str = "dt";
/// Failed commit attempts, with no other writer's commit in between, before giving up.
const ATTEMPTS: usize = 8;
/// Races for the next version lost to another writer's commit before giving up. Each one means
/// another writer made progress, so a busy table is no reason to fail: under load one process
/// can lose every race to another that commits run after run.
const RACES: usize = 1_000;

/// What a commit does to the table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// New rows (and, with replaced files, an overwrite of those files' rows).
    Write,
    /// A compaction: the same rows in fewer files (`OPTIMIZE`, `dataChange = false`).
    Optimize,
}

/// A data file a commit adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataFile {
    /// Key relative to the lake root.
    pub path: String,
    /// Partition date, `YYYY-MM-DD`.
    pub dt: String,
    pub rows: i64,
    pub bytes: i64,
}

/// One commit: its key, the files it adds, the live files it replaces.
pub(crate) struct CommitSpec<'a> {
    pub run_id: &'a str,
    pub key: Option<&'a str>,
    pub files: &'a [DataFile],
    /// Live paths (relative to the lake root) this commit removes.
    pub replaces: &'a [String],
    pub operation: Operation,
    /// Facts of `files` the writer already knows (from the Parquet it encoded).
    pub facts: &'a KnownFacts,
}

/// How a commit attempt ended. Only `Committed` with new files changed what readers see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Landed {
    /// The table version now holding the run's data (`None`: nothing to commit, no table).
    Committed { version: Option<i64> },
    /// The key was committed before, at this version; nothing changed.
    AlreadyCommitted { version: i64 },
    /// A path the commit replaces is not live (any more); nothing changed.
    ReplacedNotLive { path: String },
}

/// A live file as the log lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveFile {
    /// Key relative to the lake root.
    pub path: String,
    /// Partition date, `YYYY-MM-DD`.
    pub dt: String,
    /// From the file's statistics (files written by other engines may have none).
    pub rows: Option<i64>,
    pub bytes: i64,
}

/// Which version of a table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Latest,
    Version(i64),
    /// The newest version committed at or before this instant.
    Time(DateTime<Utc>),
}

/// Files whose facts the caller already knows (a writer's own files, from memory).
pub(crate) type KnownFacts = HashMap<String, FileFacts>;

impl Lake {
    /// The table's Delta log as delta-rs sees it, at `version` or the newest.
    pub async fn delta_table(
        &self,
        area: Area,
        dataset: &str,
        version: Option<i64>,
    ) -> Result<Option<DeltaTable>, LakeError> {
        layout::validate_name(dataset)?;
        let mut table = DeltaTable::new(log_store(&self.store, area, dataset)?, Default::default());
        let loaded = match version {
            Some(v) => table.load_version(v).await,
            None => table.load().await,
        };
        match loaded {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(delta_error(e)),
        }
    }
}

/// The tables this process used, kept loaded: the next use reads only the log entries written
/// since (`update_incremental`) instead of replaying the log. One lock per process serializes
/// its commits and reads of the newest state.
#[derive(Default)]
pub struct DeltaTables {
    loaded: tokio::sync::Mutex<HashMap<String, DeltaTable>>,
    /// Tables found free of unmigrated commits of the pre-Delta commit log.
    migrated: std::sync::Mutex<HashSet<String>>,
}

impl DeltaTables {
    pub(crate) fn is_migrated(&self, prefix: &str) -> bool {
        self.migrated
            .lock()
            .map(|m| m.contains(prefix))
            .unwrap_or(false)
    }

    pub(crate) fn mark_migrated(&self, prefix: &str) {
        if let Ok(mut m) = self.migrated.lock() {
            m.insert(prefix.to_string());
        }
    }
}

/// `table` brought up to date; false when there is no table yet. A table loaded before whose
/// newest entry is still there and has no successor is current (two HEAD requests, no
/// listing); with a successor it reads only the new entries; a log deleted or rewritten
/// behind our back means a fresh load.
pub(crate) async fn refresh(table: &mut DeltaTable) -> Result<bool, LakeError> {
    if let Some(version) = table.version() {
        let store = table.log_store().object_store(None);
        let entry = |v: i64| object_store::path::Path::from(format!("_delta_log/{v:020}.json"));
        if store.head(&entry(version)).await.is_ok() {
            if store.head(&entry(version + 1)).await.is_err() {
                return Ok(true);
            }
            if table.update_incremental(None).await.is_ok() {
                return Ok(true);
            }
        }
        *table = DeltaTable::new(table.log_store(), Default::default());
    }
    match table.load().await {
        Ok(()) => Ok(true),
        Err(DeltaTableError::NotATable(_)) => Ok(false),
        Err(e) => Err(delta_error(e)),
    }
}

/// A log store for `<area>/<dataset>` inside the lake's own store (local, S3 or memory alike).
/// The URL only names the table's path for delta-rs; every byte goes through `store`. Its
/// scheme is `file` whatever the store: delta-kernel then sorts log listings itself, which a
/// local directory needs and which costs an S3 listing (already sorted) nothing.
pub(crate) fn log_store(
    store: &Arc<dyn ObjectStore>,
    area: Area,
    dataset: &str,
) -> Result<LogStoreRef, LakeError> {
    let prefix = layout::dataset_prefix(area, dataset);
    let url = url::Url::parse(&format!("file:///{prefix}")).map_err(|e| LakeError::Url {
        url: prefix.clone(),
        reason: e.to_string(),
    })?;
    let prefixed: Arc<dyn ObjectStore> = Arc::new(PrefixStore::new(Arc::clone(store), prefix));
    Ok(default_logstore(
        prefixed,
        Arc::clone(store),
        &url,
        &StorageConfig::default(),
    ))
}

/// Runs `f` on the cached table of `<area>/<dataset>` (brought up to date by `f` as needed)
/// under the process's lock, and keeps it cached.
pub(crate) async fn with_table<T>(
    store: &Arc<dyn ObjectStore>,
    tables: &DeltaTables,
    area: Area,
    dataset: &str,
    f: impl AsyncFnOnce(&mut DeltaTable) -> Result<T, LakeError>,
) -> Result<T, LakeError> {
    layout::validate_name(dataset)?;
    let prefix = layout::dataset_prefix(area, dataset);
    let mut loaded = tables.loaded.lock().await;
    let mut table = match loaded.remove(&prefix) {
        Some(table) => table,
        None => DeltaTable::new(log_store(store, area, dataset)?, Default::default()),
    };
    let result = f(&mut table).await;
    if table.version().is_some() {
        loaded.insert(prefix, table);
    }
    result
}

/// The table's version and live files at `at` (`None`: no table, or none yet at that time).
pub(crate) async fn live_files(
    store: &Arc<dyn ObjectStore>,
    tables: &DeltaTables,
    area: Area,
    dataset: &str,
    at: At,
) -> Result<Option<(i64, Vec<LiveFile>)>, LakeError> {
    let prefix = layout::dataset_prefix(area, dataset);
    let current = with_table(store, tables, area, dataset, async |table| {
        if !refresh(table).await? {
            return Ok(None);
        }
        let version = table.version().unwrap_or(0);
        if at == At::Latest || at == At::Version(version) {
            return Ok(Some((version, files_of(table, &prefix)?)));
        }
        if let At::Version(v) = at
            && v > version
        {
            return Err(LakeError::InvalidInput {
                field: "as_of".into(),
                detail: format!("`{prefix}` has no version {v} (newest: {version})"),
            });
        }
        Ok(None)
    })
    .await?;
    if current.is_some() || at == At::Latest {
        return Ok(current);
    }
    let mut table = DeltaTable::new(log_store(store, area, dataset)?, Default::default());
    let loaded = match at {
        At::Version(v) => table.load_version(v).await,
        At::Time(t) => table.load_with_datetime(t).await,
        At::Latest => table.load().await,
    };
    match loaded {
        Ok(()) => {
            let version = table.version().unwrap_or(0);
            if let At::Time(t) = at {
                // delta-rs answers a time before the first commit with the first version.
                let snapshot = table.snapshot().map_err(delta_error)?.snapshot();
                if snapshot
                    .version_timestamp(version)
                    .is_some_and(|ts| ts > t.timestamp_millis())
                {
                    return Ok(None);
                }
            }
            Ok(Some((version, files_of(&table, &prefix)?)))
        }
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(delta_error(e)),
    }
}

/// Live files of a loaded table, ordered by partition, then path (run ids are time-ordered).
fn files_of(table: &DeltaTable, prefix: &str) -> Result<Vec<LiveFile>, LakeError> {
    files_where(table, prefix, |_| true)
}

/// The live files `keep` accepts, in the order of [`files_of`].
fn files_where(
    table: &DeltaTable,
    prefix: &str,
    keep: impl Fn(&deltalake_core::kernel::LogicalFileView) -> bool,
) -> Result<Vec<LiveFile>, LakeError> {
    let snapshot = table.snapshot().map_err(delta_error)?;
    let mut files: Vec<LiveFile> = snapshot
        .log_data()
        .iter()
        .filter(|view| keep(view))
        .map(|view| LiveFile {
            path: format!("{prefix}/{}", view.path()),
            dt: partition_value(&view).unwrap_or_default(),
            rows: view.num_records().map(|n| n as i64),
            bytes: view.size(),
        })
        .collect();
    files.sort_by(|a, b| (&a.dt, &a.path).cmp(&(&b.dt, &b.path)));
    Ok(files)
}

/// Newest live files whose statistics bound string `column` to exactly `value` (min = max):
/// how a reader finds the files of one run without opening any.
pub(crate) async fn files_holding(
    store: &Arc<dyn ObjectStore>,
    tables: &DeltaTables,
    area: Area,
    dataset: &str,
    column: &str,
    value: &str,
) -> Result<Vec<LiveFile>, LakeError> {
    let prefix = layout::dataset_prefix(area, dataset);
    with_table(store, tables, area, dataset, async |table| {
        if !refresh(table).await? {
            return Ok(Vec::new());
        }
        let wanted = Some(value.to_string());
        files_where(table, &prefix, |view| {
            bounds(view.stats().as_deref(), column) == (wanted.clone(), wanted.clone())
        })
    })
    .await
}

/// A string column's minimum and maximum in a file's `stats` JSON.
fn bounds(stats: Option<&str>, column: &str) -> (Option<String>, Option<String>) {
    let Some(stats) = stats.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok()) else {
        return (None, None);
    };
    let bound = |key: &str| stats[key][column].as_str().map(str::to_string);
    (bound("minValues"), bound("maxValues"))
}

/// The file's `dt` as `YYYY-MM-DD`.
fn partition_value(view: &deltalake_core::kernel::LogicalFileView) -> Option<String> {
    use deltalake_core::kernel::scalars::ScalarExt;
    let values = view.partition_values()?;
    let at = values.fields().iter().position(|f| f.name() == PARTITION)?;
    let value = values.values().get(at)?;
    (!value.is_null()).then(|| value.serialize())
}

/// Live paths and removed paths with their removal time (epoch ms) of a table's newest
/// version, for the sweep (`None`: no table).
pub(crate) async fn live_and_removed(
    store: &Arc<dyn ObjectStore>,
    tables: &DeltaTables,
    area: Area,
    dataset: &str,
) -> Result<Option<(HashSet<String>, HashMap<String, i64>)>, LakeError> {
    let prefix = layout::dataset_prefix(area, dataset);
    with_table(store, tables, area, dataset, async |table| {
        if !refresh(table).await? {
            return Ok(None);
        }
        let live = files_of(table, &prefix)?
            .into_iter()
            .map(|f| f.path)
            .collect();
        let log_store = table.log_store();
        let removed = table
            .snapshot()
            .map_err(delta_error)?
            .all_tombstones(log_store.as_ref())
            .map_ok(|t| {
                let at = t.deletion_timestamp().unwrap_or(0);
                (format!("{prefix}/{}", t.path()), at)
            })
            .try_collect()
            .await
            .map_err(delta_error)?;
        Ok(Some((live, removed)))
    })
    .await
}

/// The version that committed `key` into the table, if any.
pub(crate) async fn key_version(table: &DeltaTable, key: &str) -> Result<Option<i64>, LakeError> {
    table
        .snapshot()
        .map_err(delta_error)?
        .transaction_version(table.log_store().as_ref(), key_app_id(key))
        .await
        .map_err(delta_error)
}

fn key_app_id(key: &str) -> String {
    format!("{KEY_APP_PREFIX}{key}")
}

/// Commits `spec` to `<area>/<dataset>`, creating the table with its first file. The caller
/// has checked the table is migrated (`migrate::ensure_migrated`).
pub(crate) async fn commit(
    store: &Arc<dyn ObjectStore>,
    tables: &DeltaTables,
    area: Area,
    dataset: &str,
    spec: &CommitSpec<'_>,
) -> Result<Landed, LakeError> {
    let facts = facts_of(store, spec).await?;
    let prefix = layout::dataset_prefix(area, dataset);
    with_table(store, tables, area, dataset, async |table| {
        let (mut failures, mut races) = (0, 0);
        // The version the last failed attempt was built on, and its error.
        let mut failed: Option<(Option<i64>, LakeError)> = None;
        loop {
            let exists = refresh(table).await?;
            if let Some((built_on, error)) = failed.take() {
                if table.version() > built_on {
                    races += 1;
                } else {
                    failures += 1;
                }
                if failures >= ATTEMPTS || races >= RACES {
                    return Err(error);
                }
                tracing::debug!(dataset, error = %error, races, failures, "delta commit retried");
            }
            let retrying = failures + races > 0;
            if let Some(decided) = decided(table, &prefix, spec, retrying).await? {
                return Ok(decided);
            }
            let built_on = table.version();
            let attempt = if exists {
                append(table, &prefix, spec, &facts).await
            } else {
                create(table, &prefix, spec, &facts).await
            };
            match attempt {
                Ok(version) => {
                    return Ok(Landed::Committed {
                        version: Some(version),
                    });
                }
                Err(e) => failed = Some((built_on, e)),
            }
        }
    })
    .await
}

/// The outcome when the table already decides it: the key committed, a replaced file gone,
/// nothing to commit, or (after a failed attempt) the run's own first file already live.
async fn decided(
    table: &DeltaTable,
    prefix: &str,
    spec: &CommitSpec<'_>,
    retrying: bool,
) -> Result<Option<Landed>, LakeError> {
    let version = table.version();
    if let (Some(key), Some(_)) = (spec.key, version)
        && let Some(at) = key_version(table, key).await?
    {
        return Ok(Some(Landed::AlreadyCommitted { version: at }));
    }
    if spec.files.is_empty() && spec.replaces.is_empty() {
        return Ok(Some(Landed::Committed { version }));
    }
    let needs_live = !spec.replaces.is_empty() || (retrying && !spec.files.is_empty());
    if !needs_live || version.is_none() {
        return Ok(spec
            .replaces
            .first()
            .map(|path| Landed::ReplacedNotLive { path: path.clone() }));
    }
    let live: HashSet<String> = files_of(table, prefix)?
        .into_iter()
        .map(|f| f.path)
        .collect();
    if retrying && spec.files.first().is_some_and(|f| live.contains(&f.path)) {
        return Ok(Some(Landed::Committed { version }));
    }
    Ok(spec
        .replaces
        .iter()
        .find(|path| !live.contains(*path))
        .map(|path| Landed::ReplacedNotLive { path: path.clone() }))
}

/// Facts of every file of the commit, from the writer or from the file's footer.
async fn facts_of(
    store: &Arc<dyn ObjectStore>,
    spec: &CommitSpec<'_>,
) -> Result<Vec<FileFacts>, LakeError> {
    let mut out = Vec::with_capacity(spec.files.len());
    for f in spec.files {
        out.push(match spec.facts.get(&f.path) {
            Some(known) => known.clone(),
            None => read_facts(store, &f.path, f.bytes as u64, f.rows).await?,
        });
    }
    Ok(out)
}

fn commit_properties(spec: &CommitSpec<'_>, version: i64) -> CommitProperties {
    let mut metadata = vec![(
        "recast.run_id".to_string(),
        serde_json::Value::from(spec.run_id),
    )];
    let mut properties = CommitProperties::default();
    if let Some(key) = spec.key {
        metadata.push(("recast.commit_key".to_string(), key.into()));
        properties =
            properties.with_application_transaction(Transaction::new(key_app_id(key), version));
    }
    properties.with_metadata(metadata).with_max_retries(0)
}

/// Creates the table from the commit's files (the schema comes from them): version 0.
async fn create(
    table: &mut DeltaTable,
    prefix: &str,
    spec: &CommitSpec<'_>,
    facts: &[FileFacts],
) -> Result<i64, LakeError> {
    let columns = union_columns(facts)?;
    let now = crate::db::now_ms();
    let adds = spec
        .files
        .iter()
        .zip(facts)
        .map(|(f, facts)| Action::Add(add_action(prefix, f, facts, now, true)));
    *table = table
        .clone()
        .create()
        .with_columns(columns)
        .with_partition_columns([PARTITION])
        .with_save_mode(SaveMode::ErrorIfExists)
        .with_actions(adds)
        .with_commit_properties(commit_properties(spec, 0))
        .await
        .map_err(delta_error)?;
    Ok(table.version().unwrap_or(0))
}

/// Commits the files (and removes) as the table's next version.
async fn append(
    table: &mut DeltaTable,
    prefix: &str,
    spec: &CommitSpec<'_>,
    facts: &[FileFacts],
) -> Result<i64, LakeError> {
    add_new_columns(table, facts).await?;
    let now = crate::db::now_ms();
    let data_change = spec.operation == Operation::Write;
    let adds = spec
        .files
        .iter()
        .zip(facts)
        .map(|(f, facts)| Action::Add(add_action(prefix, f, facts, now, data_change)));
    let removes = spec
        .replaces
        .iter()
        .map(|path| Action::Remove(remove_action(prefix, path, now, data_change)));
    let actions: Vec<Action> = adds.chain(removes).collect();
    let next = table.version().unwrap_or(-1) + 1;
    let snapshot = table.snapshot().map_err(delta_error)?;
    let finalized = CommitBuilder::from(commit_properties(spec, next))
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation(spec))
        .await
        .map_err(delta_error)?;
    table.state = Some(finalized.snapshot());
    Ok(finalized.version())
}

fn operation(spec: &CommitSpec<'_>) -> DeltaOperation {
    match spec.operation {
        Operation::Optimize => DeltaOperation::Optimize {
            predicate: None,
            target_size: spec.files.iter().map(|f| f.bytes).max().unwrap_or(0),
        },
        Operation::Write => DeltaOperation::Write {
            mode: if spec.replaces.is_empty() {
                SaveMode::Append
            } else {
                SaveMode::Overwrite
            },
            partition_by: Some(vec![PARTITION.to_string()]),
            predicate: None,
        },
    }
}

/// The table's columns: the data files' columns (each new name once, later ones nullable),
/// then the `dt` partition.
pub(crate) fn union_columns(facts: &[FileFacts]) -> Result<Vec<StructField>, LakeError> {
    let mut columns: Vec<StructField> = Vec::new();
    for (i, f) in facts.iter().enumerate() {
        for field in data_columns(&f.schema)? {
            if !columns.iter().any(|c| c.name() == field.name()) {
                columns.push(if i == 0 {
                    field
                } else {
                    StructField::new(field.name(), field.data_type().clone(), true)
                });
            }
        }
    }
    columns.push(StructField::new(PARTITION, DataType::DATE, false));
    Ok(columns)
}

fn data_columns(schema: &arrow_schema::Schema) -> Result<Vec<StructField>, LakeError> {
    use arrow_schema::DataType as Arrow;
    // Delta has no unsigned integers: other readers (Polars) refuse such files in its tables.
    if let Some(f) = schema.fields().iter().find(|f| {
        matches!(
            f.data_type(),
            Arrow::UInt8 | Arrow::UInt16 | Arrow::UInt32 | Arrow::UInt64
        )
    }) {
        return Err(LakeError::Arrow(arrow_schema::ArrowError::SchemaError(
            format!(
                "column `{}` is {}: Delta tables have no unsigned integers, write a signed type",
                f.name(),
                f.data_type()
            ),
        )));
    }
    let kernel: StructType = schema.try_into_kernel().map_err(|e| {
        LakeError::Arrow(arrow_schema::ArrowError::SchemaError(format!(
            "no Delta type for a column: {e}"
        )))
    })?;
    Ok(kernel.fields().cloned().collect())
}

/// Additive schema change: columns a commit's files carry that the table lacks are added
/// (nullable: older files have none) before the commit.
pub(crate) async fn add_new_columns(
    table: &mut DeltaTable,
    facts: &[FileFacts],
) -> Result<(), LakeError> {
    let known: Vec<String> = table
        .snapshot()
        .map_err(delta_error)?
        .schema()
        .fields()
        .map(|f| f.name().to_string())
        .collect();
    let mut new: Vec<StructField> = Vec::new();
    for facts in facts {
        for field in data_columns(&facts.schema)? {
            if !known.contains(field.name()) && !new.iter().any(|n| n.name() == field.name()) {
                new.push(StructField::new(
                    field.name(),
                    field.data_type().clone(),
                    true,
                ));
            }
        }
    }
    if new.is_empty() {
        return Ok(());
    }
    *table = table
        .clone()
        .add_columns()
        .with_fields(new)
        .await
        .map_err(delta_error)?;
    Ok(())
}

/// `path` relative to the table folder (`dt=.../part-....parquet`).
pub(crate) fn relative(prefix: &str, path: &str) -> String {
    path.strip_prefix(prefix)
        .map(|p| p.trim_start_matches('/'))
        .unwrap_or(path)
        .to_string()
}

fn partition(dt: &str) -> HashMap<String, Option<String>> {
    HashMap::from([(PARTITION.to_string(), Some(dt.to_string()))])
}

pub(crate) fn add_action(
    prefix: &str,
    file: &DataFile,
    facts: &FileFacts,
    committed_at: i64,
    data_change: bool,
) -> Add {
    Add {
        path: relative(prefix, &file.path),
        partition_values: partition(&file.dt),
        size: file.bytes,
        modification_time: committed_at,
        data_change,
        stats: Some(facts.stats_json.clone()),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
}

/// A `remove` of a live path (`dt` from its folder, as every recast file has).
pub(crate) fn remove_action(
    prefix: &str,
    path: &str,
    committed_at: i64,
    data_change: bool,
) -> Remove {
    let dt = layout::dt_of(path).map(layout::format_dt);
    Remove {
        path: relative(prefix, path),
        data_change,
        deletion_timestamp: Some(committed_at),
        extended_file_metadata: Some(false),
        partition_values: dt.map(|dt| partition(&dt)),
        size: None,
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
    }
}

pub(crate) fn delta_error(e: DeltaTableError) -> LakeError {
    LakeError::Delta(e.to_string())
}

/// Whether `path` (relative to the lake root) belongs to a table's Delta log.
pub fn is_log_path(path: &str) -> bool {
    path.split('/').any(|segment| segment == "_delta_log")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_the_log_are_relative_to_the_table_folder() {
        assert_eq!(
            relative(
                "datasets/sales",
                "datasets/sales/dt=2024-01-01/part-r-00000.parquet"
            ),
            "dt=2024-01-01/part-r-00000.parquet"
        );
        assert!(is_log_path(
            "datasets/sales/_delta_log/00000000000000000000.json"
        ));
        assert!(!is_log_path(
            "datasets/sales/dt=2024-01-01/part-r-1.parquet"
        ));
    }

    #[test]
    fn unsigned_columns_are_refused_by_name() {
        use arrow_schema::{DataType as Arrow, Field, Schema};
        let schema = Schema::new(vec![
            Field::new("id", Arrow::Utf8, false),
            Field::new("filled", Arrow::UInt32, false),
        ]);
        let err = data_columns(&schema).unwrap_err().to_string();
        assert!(
            err.contains("`filled`") && err.contains("unsigned"),
            "{err}"
        );
        let signed = Schema::new(vec![Field::new("filled", Arrow::Int32, false)]);
        assert_eq!(data_columns(&signed).unwrap().len(), 1);
    }
}
