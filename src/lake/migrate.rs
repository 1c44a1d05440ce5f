//! `recast lake migrate`: turns a lake written before recast's Delta logs (Parquet files plus
//! the commit log in the metadata DB, `db::lake::legacy`) into Delta tables in place.
//!
//! Each table is created from its live files as of its newest DB commit, in one Delta commit
//! (replaced files are not replayed, so files a sweep already deleted are never listed); DB
//! commits the log does not hold yet are then published one Delta commit each. Every such
//! commit carries a `txn` action (app id [`LEGACY_APP_ID`], version = the DB commit id), so a
//! second migrate, or one interrupted halfway, publishes each commit exactly once. Files no
//! live version lists are left to the sweep (`vacuum`).
//!
//! Until a table is migrated nothing may commit to it (the new commit would hide the older
//! files) and no sweep may run (it would delete them): [`ensure_migrated`] guards every
//! commit, and servers, workers and the sweep refuse an unmigrated lake, naming the command.

use std::sync::Arc;

use deltalake_core::DeltaTable;
use deltalake_core::kernel::Action;
use deltalake_core::kernel::Transaction;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use object_store::ObjectStore;

use super::delta::{
    DataFile, DeltaTables, PARTITION, add_action, add_new_columns, delta_error, refresh,
    remove_action, union_columns, with_table,
};
use super::delta_stats::{FileFacts, read_facts};
use super::layout::{self, Area};
use super::{Lake, LakeError};
use crate::db::Db;
use crate::db::lake::legacy::{self, CommitRecord, FileRecord};

/// The app id of the `txn` actions of migrated commits; their version is the DB commit id.
pub const LEGACY_APP_ID: &str = "recast";
/// DB commits read per round.
const BATCH: i64 = 100;

/// What a migrate did to one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// The table's folder, `<area>/<dataset>`.
    pub table: String,
    /// DB commits added to the Delta log by this call.
    pub commits: u64,
    /// The Delta version after the call (`None`: no live file, no table).
    pub version: Option<i64>,
    /// The newest DB commit the log holds.
    pub through_commit: Option<i64>,
}

impl Lake {
    /// Publishes every table of the pre-Delta commit log into its Delta log.
    pub async fn migrate(&self) -> Result<Vec<Published>, LakeError> {
        let mut out = Vec::new();
        for (area, dataset) in legacy_tables(&self.db).await? {
            let published =
                with_table(&self.store, &self.delta_tables, area, &dataset, async |t| {
                    publish_into(&self.store, &self.db, t, area, &dataset).await
                })
                .await?;
            out.push(published);
        }
        Ok(out)
    }

    /// Tables with commits of the pre-Delta commit log their Delta log does not hold yet.
    pub async fn unmigrated_tables(&self) -> Result<Vec<String>, LakeError> {
        let mut missing = Vec::new();
        for (area, dataset) in legacy_tables(&self.db).await? {
            if table_pending(&self.store, &self.db, &self.delta_tables, area, &dataset).await? {
                missing.push(layout::dataset_prefix(area, &dataset));
            }
        }
        Ok(missing)
    }
}

/// Refuses a commit to a table that still has unmigrated commits. Once a table passed, the
/// process does not ask again: nothing writes the old commit log any more.
pub(crate) async fn ensure_migrated(
    store: &Arc<dyn ObjectStore>,
    db: &Db,
    tables: &DeltaTables,
    area: Area,
    dataset: &str,
) -> Result<(), LakeError> {
    let prefix = layout::dataset_prefix(area, dataset);
    if tables.is_migrated(&prefix) {
        return Ok(());
    }
    if table_pending(store, db, tables, area, dataset).await? {
        return Err(LakeError::Unmigrated {
            tables: vec![prefix],
        });
    }
    tables.mark_migrated(&prefix);
    Ok(())
}

/// [`pending`] of the table brought up to date.
async fn table_pending(
    store: &Arc<dyn ObjectStore>,
    db: &Db,
    tables: &DeltaTables,
    area: Area,
    dataset: &str,
) -> Result<bool, LakeError> {
    with_table(store, tables, area, dataset, async |t| {
        refresh(t).await?;
        pending(db, t, area, dataset).await
    })
    .await
}

/// Whether the pre-Delta commit log holds changes to files the table's log lacks.
async fn pending(
    db: &Db,
    table: &DeltaTable,
    area: Area,
    dataset: &str,
) -> Result<bool, LakeError> {
    let Some(newest) = legacy::latest_commit_id(db, area.as_str(), dataset).await? else {
        return Ok(false);
    };
    if table.version().is_none() {
        // A table whose commits left no live file has nothing to migrate.
        return Ok(!live_files(db, area, dataset, newest).await?.is_empty());
    }
    let through = through_commit(table).await?.unwrap_or(0);
    Ok(
        through < newest
            && legacy::files_changed_after(db, area.as_str(), dataset, through).await?,
    )
}

async fn through_commit(table: &DeltaTable) -> Result<Option<i64>, LakeError> {
    table
        .snapshot()
        .map_err(delta_error)?
        .transaction_version(table.log_store().as_ref(), LEGACY_APP_ID)
        .await
        .map_err(delta_error)
}

/// Every table of the pre-Delta commit log, in an area the lake knows.
async fn legacy_tables(db: &Db) -> Result<Vec<(Area, String)>, LakeError> {
    Ok(legacy::tables(db)
        .await?
        .into_iter()
        .filter_map(|(area, dataset)| Some((Area::parse(&area)?, dataset)))
        .collect())
}

/// A dataset's live files as of a DB commit.
async fn live_files(
    db: &Db,
    area: Area,
    dataset: &str,
    as_of: i64,
) -> Result<Vec<FileRecord>, LakeError> {
    let filter = legacy::FileFilter {
        area: area.as_str(),
        dataset,
        from: None,
        to: None,
        as_of: Some(as_of),
    };
    Ok(legacy::list_files(db, &filter).await?)
}

async fn publish_into(
    store: &Arc<dyn ObjectStore>,
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
    loop {
        let exists = refresh(table).await?;
        published.version = table.version();
        let through = if exists {
            through_commit(table).await?
        } else {
            None
        };
        published.through_commit = through.or(published.through_commit);
        let landed = if exists {
            let after = through.unwrap_or(0);
            let commits = legacy::commits_after(db, area.as_str(), dataset, after, BATCH).await?;
            publish_commits(store, table, area, dataset, &commits).await?
        } else {
            create(store, db, table, area, dataset).await?
        };
        published.version = table.version();
        match landed {
            Some((n, through)) if n > 0 => {
                published.commits += n;
                published.through_commit = Some(through);
            }
            _ => return Ok(published),
        }
    }
}

/// Creates the table from the dataset's live files as of its newest DB commit, in one Delta
/// commit. Returns the commits published (1) and the newest commit the log now holds, or
/// `None` when there is no live file to create it from.
async fn create(
    store: &Arc<dyn ObjectStore>,
    db: &Db,
    table: &mut DeltaTable,
    area: Area,
    dataset: &str,
) -> Result<Option<(u64, i64)>, LakeError> {
    let Some(newest) = legacy::latest_commit_id(db, area.as_str(), dataset).await? else {
        return Ok(None);
    };
    let live = data_files(&live_files(db, area, dataset, newest).await?);
    if live.is_empty() {
        return Ok(None);
    }
    let facts = facts(store, &live).await?;
    let prefix = layout::dataset_prefix(area, dataset);
    let now = crate::db::now_ms();
    let adds = live
        .iter()
        .zip(&facts)
        .map(|(f, facts)| Action::Add(add_action(&prefix, f, facts, now, true)));
    *table = table
        .clone()
        .create()
        .with_columns(union_columns(&facts)?)
        .with_partition_columns([PARTITION])
        .with_save_mode(SaveMode::ErrorIfExists)
        .with_actions(adds)
        .with_commit_properties(
            CommitProperties::default()
                .with_application_transaction(Transaction::new(LEGACY_APP_ID, newest)),
        )
        .await
        .map_err(delta_error)?;
    Ok(Some((1, newest)))
}

/// Commits `commits` one Delta commit each, in order; returns how many landed and the newest.
async fn publish_commits(
    store: &Arc<dyn ObjectStore>,
    table: &mut DeltaTable,
    area: Area,
    dataset: &str,
    commits: &[CommitRecord],
) -> Result<Option<(u64, i64)>, LakeError> {
    let prefix = layout::dataset_prefix(area, dataset);
    let mut landed = 0;
    for commit in commits {
        let optimize = commit.operation == legacy::OPERATION_OPTIMIZE;
        let added = data_files(&commit.added);
        let facts = facts(store, &added).await?;
        let adds = added.iter().zip(&facts).map(|(f, facts)| {
            Action::Add(add_action(
                &prefix,
                f,
                facts,
                commit.committed_at,
                !optimize,
            ))
        });
        let removes = commit.removed.iter().map(|f| {
            Action::Remove(remove_action(
                &prefix,
                &f.path,
                commit.committed_at,
                !optimize,
            ))
        });
        let actions: Vec<Action> = adds.chain(removes).collect();
        add_new_columns(table, &facts).await?;
        let properties = CommitProperties::default()
            .with_application_transaction(Transaction::new(LEGACY_APP_ID, commit.id))
            .with_max_retries(0);
        let snapshot = table.snapshot().map_err(delta_error)?;
        let finalized = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(
                Some(snapshot),
                table.log_store(),
                operation(commit, optimize),
            )
            .await
            .map_err(delta_error)?;
        table.state = Some(finalized.snapshot());
        landed += 1;
    }
    Ok(commits.last().map(|c| (landed, c.id)))
}

fn operation(commit: &CommitRecord, optimize: bool) -> DeltaOperation {
    if optimize {
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

fn data_files(records: &[FileRecord]) -> Vec<DataFile> {
    records
        .iter()
        .map(|r| DataFile {
            path: r.path.clone(),
            dt: r.dt.clone(),
            rows: r.row_count,
            bytes: r.byte_count,
        })
        .collect()
}

/// Each file's facts, from its footer.
async fn facts(
    store: &Arc<dyn ObjectStore>,
    files: &[DataFile],
) -> Result<Vec<FileFacts>, LakeError> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        out.push(read_facts(store, &f.path, f.bytes as u64, f.rows).await?);
    }
    Ok(out)
}
