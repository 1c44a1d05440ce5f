//! Every lake table (`<area>/<dataset>/`) carries a Delta Lake log (`_delta_log/`), so Spark,
//! DuckDB's `delta_scan`, Polars and delta-rs read exactly the files recast committed: not the
//! orphans of a killed run, not the inputs of a compaction.
//!
//! Why the log is published from the commit log rather than written instead of it: the DB
//! commit stays the one atomic step that decides a run's fate (it also holds the idempotency
//! key and the ETL bookkeeping in the same transaction). Each DB commit then becomes one Delta
//! commit carrying a `txn` action (app id [`APP_ID`], version = the DB commit id). Publishing
//! reads the table's `txn` version and republishes every later DB commit in order, so a crash
//! between the two commits is repaired by the next publish (the dataset's next commit, the
//! sweep, `recast lake migrate`) and publishing twice adds nothing.
//!
//! Concurrency: two processes publishing the same table race for the same log version; the
//! loser reloads, sees the winner's `txn` version and continues from there. The store must make
//! a log entry's creation exclusive (put-if-absent: local disks, S3 with conditional writes);
//! see `docs/operations.md`.
//!
//! The table speaks the base protocol (reader 1, writer 2: no deletion vectors, no column
//! mapping), partitioned by `dt`, with per-file statistics ([`super::delta_stats`]).

use std::collections::HashMap;
use std::sync::Arc;

use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, DataType, Remove, StructField, StructType, Transaction};
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError};
use object_store::ObjectStore;
use object_store::prefix::PrefixStore;

use super::delta_stats::{FileFacts, read_facts};
use super::layout::{self, Area};
use super::{Lake, LakeError};
use crate::db::Db;
use crate::db::lake::{self as log, CommitRecord, FileRecord};

/// The application id of recast's `txn` actions; their version is the DB commit id.
pub const APP_ID: &str = "recast";
/// The partition column every lake table has.
pub const PARTITION: &str = "dt";
/// DB commits read per round.
const BATCH: i64 = 100;
/// Publish attempts when other processes keep winning the race for the next version.
const ATTEMPTS: usize = 8;

/// What a publish did to one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// The table's folder, `<area>/<dataset>`.
    pub table: String,
    /// DB commits added to the Delta log by this call.
    pub commits: u64,
    /// The Delta version after the call (`None`: no commit yet, no table).
    pub version: Option<i64>,
    /// The newest DB commit the log holds.
    pub through_commit: Option<i64>,
}

impl Lake {
    /// Brings the Delta log of one table up to date with the commit log.
    pub async fn publish_delta(&self, area: Area, dataset: &str) -> Result<Published, LakeError> {
        let known = KnownFacts::new();
        publish(
            &self.store,
            &self.db,
            &self.delta_tables,
            &known,
            area,
            dataset,
        )
        .await
    }

    /// [`Lake::publish_delta`] for every table that has a commit (`recast lake migrate`).
    pub async fn publish_all_delta(&self) -> Result<Vec<Published>, LakeError> {
        publish_all(&self.store, &self.db, &self.delta_tables).await
    }

    /// Tables that have live files but no Delta log: a lake written before the logs existed.
    pub async fn tables_without_delta_log(&self) -> Result<Vec<String>, LakeError> {
        let mut missing = Vec::new();
        for (area, dataset) in tables(&self.db).await? {
            let log_store = log_store(&self.store, area, &dataset)?;
            let has_log = log_store
                .is_delta_table_location()
                .await
                .map_err(delta_error)?;
            // A table whose commits left no live file has nothing to publish yet.
            if !has_log && !live_files(&self.db, area, &dataset, None).await?.is_empty() {
                missing.push(layout::dataset_prefix(area, &dataset));
            }
        }
        Ok(missing)
    }

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

/// The tables this process published, kept loaded: the next publish reads only the log
/// entries written since (`update_incremental`) instead of replaying the log, which cost tens
/// of milliseconds per commit. One lock per process serializes its publishes.
#[derive(Default)]
pub struct DeltaTables {
    loaded: tokio::sync::Mutex<HashMap<String, DeltaTable>>,
}

/// `table` brought up to date. A table loaded before whose newest entry is still there and
/// has no successor is current (two HEAD requests, no listing); with a successor it reads only
/// the new entries; a log deleted or rewritten behind our back means a fresh load.
async fn refresh(table: &mut DeltaTable) -> Result<(), DeltaTableError> {
    if let Some(version) = table.version() {
        let store = table.log_store().object_store(None);
        let entry = |v: i64| object_store::path::Path::from(format!("_delta_log/{v:020}.json"));
        if store.head(&entry(version)).await.is_ok() {
            if store.head(&entry(version + 1)).await.is_err() {
                return Ok(());
            }
            if table.update_incremental(None).await.is_ok() {
                return Ok(());
            }
        }
        *table = DeltaTable::new(table.log_store(), Default::default());
    }
    table.load().await
}

/// A log store for `<area>/<dataset>` inside the lake's own store (local, S3 or memory alike).
/// The URL only names the table's path for delta-rs; every byte goes through `store`. Its
/// scheme is `file` whatever the store: delta-kernel then sorts log listings itself, which a
/// local directory needs and which costs an S3 listing (already sorted) nothing.
fn log_store(
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

/// Files whose facts the caller already knows (a writer's own files, from memory).
pub(crate) type KnownFacts = HashMap<String, FileFacts>;

/// Every table with a commit, in an area the lake knows.
async fn tables(db: &Db) -> Result<Vec<(Area, String)>, LakeError> {
    Ok(log::tables(db)
        .await?
        .into_iter()
        .filter_map(|(area, dataset)| Some((Area::parse(&area)?, dataset)))
        .collect())
}

/// A dataset's live files, as of a commit or the newest.
async fn live_files(
    db: &Db,
    area: Area,
    dataset: &str,
    as_of: Option<i64>,
) -> Result<Vec<FileRecord>, LakeError> {
    let filter = log::FileFilter {
        area: area.as_str(),
        dataset,
        from: None,
        to: None,
        as_of,
    };
    Ok(log::list_files(db, &filter).await?)
}

/// [`publish`] for every table that has a commit (migrate, and the sweep before it deletes).
pub(crate) async fn publish_all(
    store: &Arc<dyn ObjectStore>,
    db: &Db,
    delta_tables: &DeltaTables,
) -> Result<Vec<Published>, LakeError> {
    let known = KnownFacts::new();
    let mut out = Vec::new();
    for (area, dataset) in tables(db).await? {
        out.push(publish(store, db, delta_tables, &known, area, &dataset).await?);
    }
    Ok(out)
}

pub(crate) async fn publish(
    store: &Arc<dyn ObjectStore>,
    db: &Db,
    tables: &DeltaTables,
    known: &KnownFacts,
    area: Area,
    dataset: &str,
) -> Result<Published, LakeError> {
    layout::validate_name(dataset)?;
    let prefix = layout::dataset_prefix(area, dataset);
    let mut loaded = tables.loaded.lock().await;
    let mut table = match loaded.remove(&prefix) {
        Some(table) => table,
        None => DeltaTable::new(log_store(store, area, dataset)?, Default::default()),
    };
    let files = Files { store, known };
    let result = publish_into(&files, db, &mut table, area, dataset).await;
    if result.is_ok() && table.version().is_some() {
        loaded.insert(prefix, table);
    }
    result
}

async fn publish_into(
    files: &Files<'_>,
    db: &Db,
    table: &mut DeltaTable,
    area: Area,
    dataset: &str,
) -> Result<Published, LakeError> {
    let mut published = Published {
        table: layout::dataset_prefix(area, dataset),
        commits: 0,
        version: None,
        through_commit: None,
    };
    let mut failures = 0;
    loop {
        let through = match refresh(table).await {
            Ok(()) => {
                let snapshot = table.snapshot().map_err(delta_error)?;
                published.version = table.version();
                snapshot
                    .transaction_version(table.log_store().as_ref(), APP_ID)
                    .await
                    .map_err(delta_error)?
            }
            Err(DeltaTableError::NotATable(_)) => None,
            Err(e) => return Err(delta_error(e)),
        };
        published.through_commit = through;
        let Some((attempt, complete)) =
            next_round(files, db, table, area, dataset, through).await?
        else {
            return Ok(published);
        };
        match attempt {
            Ok((0, _)) => return Ok(published),
            Ok((n, through)) => {
                published.commits += n;
                published.version = table.version();
                published.through_commit = through;
                // Commits landing meanwhile are published by their own writers.
                if complete {
                    return Ok(published);
                }
            }
            // Another process published meanwhile (or the store hiccuped): reload and resume.
            Err(e) if failures + 1 < ATTEMPTS => {
                failures += 1;
                tracing::debug!(table = %published.table, error = %e, "delta publish retried");
            }
            Err(e) => return Err(e),
        }
    }
}

/// One round of publishing: creates the table, or commits the next batch of DB commits.
/// `None` when there is nothing to publish; else the attempt (commits landed, newest commit
/// published) and whether it covered every commit there was.
async fn next_round(
    files: &Files<'_>,
    db: &Db,
    table: &mut DeltaTable,
    area: Area,
    dataset: &str,
    through: Option<i64>,
) -> Result<Option<(Result<(u64, Option<i64>), LakeError>, bool)>, LakeError> {
    if through.is_none() && table.version().is_none() {
        return Ok(Some((create(files, db, table, area, dataset).await, true)));
    }
    let after = through.unwrap_or(0);
    let commits = log::commits_after(db, area.as_str(), dataset, after, BATCH).await?;
    if commits.is_empty() {
        return Ok(None);
    }
    let complete = commits.len() < BATCH as usize;
    let attempt = publish_commits(files, table, area, dataset, &commits)
        .await
        .map(|n| (n, commits.last().map(|c| c.id)));
    Ok(Some((attempt, complete)))
}

/// Creates the table from the dataset's live files as of its newest commit, in one Delta
/// commit (a new dataset's first commit, or `recast lake migrate` of an older lake: replaced
/// files are not replayed, so files the sweep already deleted are never listed). Returns the
/// commits published (0 or 1) and the newest commit the log now holds.
async fn create(
    files: &Files<'_>,
    db: &Db,
    table: &mut DeltaTable,
    area: Area,
    dataset: &str,
) -> Result<(u64, Option<i64>), LakeError> {
    let Some(newest) = log::latest_commit_id(db, area.as_str(), dataset).await? else {
        return Ok((0, None));
    };
    let live = live_files(db, area, dataset, Some(newest)).await?;
    let facts = files.facts(&live).await?;
    let Some(first) = facts.first() else {
        // A table is born with its first file (the schema comes from it).
        return Ok((0, None));
    };
    let mut columns = table_columns(&first.schema)?;
    for f in &facts[1..] {
        for field in table_columns(&f.schema)? {
            if !columns.iter().any(|c| c.name() == field.name()) {
                columns.push(StructField::new(
                    field.name(),
                    field.data_type().clone(),
                    true,
                ));
            }
        }
    }
    let prefix = layout::dataset_prefix(area, dataset);
    let committed_at = crate::db::now_ms();
    let adds = live
        .iter()
        .zip(&facts)
        .map(|(f, facts)| Action::Add(add_action(&prefix, f, facts, committed_at)));
    *table = table
        .create()
        .with_columns(columns)
        .with_partition_columns([PARTITION])
        .with_save_mode(SaveMode::ErrorIfExists)
        .with_actions(adds)
        .with_commit_properties(
            CommitProperties::default()
                .with_application_transaction(Transaction::new(APP_ID, newest)),
        )
        .await
        .map_err(delta_error)?;
    Ok((1, Some(newest)))
}

/// Commits `commits` one Delta commit each, in order; returns how many landed.
async fn publish_commits(
    files: &Files<'_>,
    table: &mut DeltaTable,
    area: Area,
    dataset: &str,
    commits: &[CommitRecord],
) -> Result<u64, LakeError> {
    let prefix = layout::dataset_prefix(area, dataset);
    let mut landed = 0;
    for commit in commits {
        let facts = files.facts(&commit.added).await?;
        let adds: Vec<Action> = commit
            .added
            .iter()
            .zip(&facts)
            .map(|(f, facts)| {
                let mut add = add_action(&prefix, f, facts, commit.committed_at);
                add.data_change = !is_optimize(commit);
                Action::Add(add)
            })
            .collect();
        let removes = commit.removed.iter().map(|f| {
            let mut remove = remove_action(&prefix, f, commit.committed_at);
            remove.data_change = !is_optimize(commit);
            Action::Remove(remove)
        });
        let actions: Vec<Action> = adds.into_iter().chain(removes).collect();
        let txn = CommitProperties::default()
            .with_application_transaction(Transaction::new(APP_ID, commit.id));
        add_new_columns(table, &facts).await?;
        let snapshot = table.snapshot().map_err(delta_error)?;
        let finalized = CommitBuilder::from(txn.with_max_retries(0))
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), operation(commit))
            .await
            .map_err(delta_error)?;
        table.state = Some(finalized.snapshot());
        landed += 1;
    }
    Ok(landed)
}

fn operation(commit: &CommitRecord) -> DeltaOperation {
    if is_optimize(commit) {
        return DeltaOperation::Optimize {
            predicate: None,
            target_size: commit.added.iter().map(|f| f.byte_count).max().unwrap_or(0),
        };
    }
    DeltaOperation::Write {
        mode: if commit.removed.is_empty() {
            SaveMode::Append
        } else {
            SaveMode::Overwrite
        },
        partition_by: Some(vec![PARTITION.to_string()]),
        predicate: None,
    }
}

/// Where the facts of data files come from: the caller's, else the file's footer.
struct Files<'a> {
    store: &'a Arc<dyn ObjectStore>,
    known: &'a KnownFacts,
}

impl Files<'_> {
    async fn facts(&self, files: &[FileRecord]) -> Result<Vec<FileFacts>, LakeError> {
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            out.push(match self.known.get(&f.path) {
                Some(known) => known.clone(),
                None => read_facts(self.store, &f.path, f.byte_count as u64, f.row_count).await?,
            });
        }
        Ok(out)
    }
}

/// The table's columns: the data files' columns, then the `dt` partition.
fn table_columns(schema: &arrow_schema::Schema) -> Result<Vec<StructField>, LakeError> {
    let kernel: StructType = schema.try_into_kernel().map_err(|e| {
        LakeError::Arrow(arrow_schema::ArrowError::SchemaError(format!(
            "no Delta type for a column: {e}"
        )))
    })?;
    let mut fields: Vec<StructField> = kernel.fields().cloned().collect();
    fields.push(StructField::new(PARTITION, DataType::DATE, false));
    Ok(fields)
}

/// Additive schema change: columns a commit's files carry that the table lacks are added
/// (nullable: older files have none) before the commit.
async fn add_new_columns(table: &mut DeltaTable, facts: &[FileFacts]) -> Result<(), LakeError> {
    let known: Vec<String> = table
        .snapshot()
        .map_err(delta_error)?
        .schema()
        .fields()
        .map(|f| f.name().to_string())
        .collect();
    let mut new: Vec<StructField> = Vec::new();
    for facts in facts {
        for field in table_columns(&facts.schema)? {
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
fn relative(prefix: &str, path: &str) -> String {
    path.strip_prefix(prefix)
        .map(|p| p.trim_start_matches('/'))
        .unwrap_or(path)
        .to_string()
}

fn partition(dt: &str) -> HashMap<String, Option<String>> {
    HashMap::from([(PARTITION.to_string(), Some(dt.to_string()))])
}

fn add_action(prefix: &str, file: &FileRecord, facts: &FileFacts, committed_at: i64) -> Add {
    Add {
        path: relative(prefix, &file.path),
        partition_values: partition(&file.dt),
        size: file.byte_count,
        modification_time: committed_at,
        data_change: true,
        stats: Some(facts.stats_json.clone()),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
}

fn remove_action(prefix: &str, file: &FileRecord, committed_at: i64) -> Remove {
    Remove {
        path: relative(prefix, &file.path),
        data_change: true,
        deletion_timestamp: Some(committed_at),
        extended_file_metadata: Some(true),
        partition_values: Some(partition(&file.dt)),
        size: Some(file.byte_count),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
    }
}

/// A compaction: the same rows in new files, so readers of changes skip it.
fn is_optimize(commit: &CommitRecord) -> bool {
    commit.operation == log::OPERATION_OPTIMIZE
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
}
