//! The lake's commit log: which runs exist, which committed, and which files each commit made
//! visible.
//!
//! Object stores have no multi-object transactions, so the lake borrows the database's: a run
//! writes its Parquet files first, then one transaction marks the run committed, inserts the
//! commit row and every file row. Readers ask this log for files and never list the store, so
//! a file is visible exactly when its commit row exists and a crash at any point leaves
//! either all of a run's files visible or none. Areas and dataset names are plain strings
//! here; validating them is the lake's job.

use std::collections::{HashMap, HashSet};

use sqlx::{Any, Row, Transaction};

use super::{Db, DbError, now_ms};

/// Where a run is in its life. Transitions only go forward: open → committed | aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Open,
    Committed,
    Aborted,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Open => "open",
            RunState::Committed => "committed",
            RunState::Aborted => "aborted",
        }
    }

    fn parse(s: &str) -> Result<RunState, DbError> {
        match s {
            "open" => Ok(RunState::Open),
            "committed" => Ok(RunState::Committed),
            "aborted" => Ok(RunState::Aborted),
            other => Err(DbError::Corrupt(format!(
                "unknown lake run state `{other}`"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub run_id: String,
    pub area: String,
    pub dataset: String,
    pub state: RunState,
    pub started_at: i64,
}

/// A file a run wrote and wants to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub path: String,
    /// Partition date, `YYYY-MM-DD`.
    pub dt: String,
    pub row_count: i64,
    pub byte_count: i64,
}

/// A published file as the log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub path: String,
    pub commit_id: i64,
    pub dt: String,
    pub row_count: i64,
    pub byte_count: i64,
}

/// [`CommitRequest::operation`] of new data.
pub const OPERATION_WRITE: &str = "write";
/// [`CommitRequest::operation`] of a compaction (same rows, fewer files).
pub const OPERATION_OPTIMIZE: &str = "optimize";

/// Everything one commit publishes (and, for compaction, retires).
#[derive(Debug, Clone, Copy)]
pub struct CommitRequest<'a> {
    pub run_id: &'a str,
    pub area: &'a str,
    pub dataset: &'a str,
    /// Idempotency key of the input; a key already committed for this dataset commits nothing.
    pub commit_key: Option<&'a str>,
    pub files: &'a [NewFile],
    /// Live paths of the same dataset this commit replaces (marked `removed_by`).
    pub replaces: &'a [String],
    /// `write`, or `optimize` for a compaction (same rows, fewer files).
    pub operation: &'a str,
}

/// How a commit attempt ended. Only `Committed` changed what readers see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitResult {
    Committed {
        commit_id: i64,
    },
    /// The key was committed before (by `commit_id`); this run is now aborted.
    AlreadyCommitted {
        commit_id: i64,
    },
    /// The run is not open (aborted by a sweep, or finished already); nothing changed.
    RunNotOpen {
        state: Option<RunState>,
    },
    /// A path in `replaces` is not a live file of this dataset; nothing changed.
    ReplacedNotLive {
        path: String,
    },
}

/// Which committed files to list.
#[derive(Debug, Clone, Copy)]
pub struct FileFilter<'a> {
    pub area: &'a str,
    pub dataset: &'a str,
    /// Inclusive bounds on the partition date, `YYYY-MM-DD`.
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// The snapshot as of this commit; `None` means the latest.
    pub as_of: Option<i64>,
}

/// Registers a run before it writes anything, so the sweep can tell its files from orphans.
pub async fn open_run(db: &Db, run_id: &str, area: &str, dataset: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO lake_runs (run_id, area, dataset, state, started_at) \
         VALUES ($1, $2, $3, 'open', $4)",
    )
    .bind(run_id)
    .bind(area)
    .bind(dataset)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn get_run(db: &Db, run_id: &str) -> Result<Option<RunRecord>, DbError> {
    let row = sqlx::query(
        "SELECT run_id, area, dataset, state, started_at FROM lake_runs WHERE run_id = $1",
    )
    .bind(run_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(RunRecord {
            run_id: r.try_get("run_id")?,
            area: r.try_get("area")?,
            dataset: r.try_get("dataset")?,
            state: RunState::parse(&r.try_get::<String, _>("state")?)?,
            started_at: r.try_get("started_at")?,
        })
    })
    .transpose()
}

/// Publishes a run's files atomically. See [`CommitResult`] for the outcomes.
pub async fn commit_run(db: &Db, req: &CommitRequest<'_>) -> Result<CommitResult, DbError> {
    let mut tx = db.pool().begin().await?;
    // First statement is a write (SQLite lock upgrade), and it claims the run: a sweep that
    // aborted it first makes this match nothing.
    if !claim_run(&mut tx, req.run_id).await? {
        tx.rollback().await?;
        let state = get_run(db, req.run_id).await?.map(|r| r.state);
        return Ok(CommitResult::RunNotOpen { state });
    }
    let Some(commit_id) = insert_commit(&mut tx, req).await? else {
        let commit_id = existing_commit(&mut tx, req).await?;
        set_run_state(&mut tx, req.run_id, RunState::Aborted).await?;
        tx.commit().await?;
        return Ok(CommitResult::AlreadyCommitted { commit_id });
    };
    for path in req.replaces {
        if !retire_file(&mut tx, req, path, commit_id).await? {
            tx.rollback().await?;
            return Ok(CommitResult::ReplacedNotLive { path: path.clone() });
        }
    }
    for file in req.files {
        insert_file(&mut tx, req, file, commit_id).await?;
    }
    tx.commit().await?;
    Ok(CommitResult::Committed { commit_id })
}

async fn claim_run(tx: &mut Transaction<'_, Any>, run_id: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE lake_runs SET state = 'committed', finished_at = $1 \
         WHERE run_id = $2 AND state = 'open'",
    )
    .bind(now_ms())
    .bind(run_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn set_run_state(
    tx: &mut Transaction<'_, Any>,
    run_id: &str,
    state: RunState,
) -> Result<(), DbError> {
    sqlx::query("UPDATE lake_runs SET state = $1, finished_at = $2 WHERE run_id = $3")
        .bind(state.as_str())
        .bind(now_ms())
        .bind(run_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts the commit row; `None` when the commit key is already taken for this dataset.
async fn insert_commit(
    tx: &mut Transaction<'_, Any>,
    req: &CommitRequest<'_>,
) -> Result<Option<i64>, DbError> {
    let rows: i64 = req.files.iter().map(|f| f.row_count).sum();
    let bytes: i64 = req.files.iter().map(|f| f.byte_count).sum();
    let row = sqlx::query(
        "INSERT INTO lake_commits \
         (area, dataset, run_id, commit_key, row_count, byte_count, committed_at, operation) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (area, dataset, commit_key) DO NOTHING RETURNING id",
    )
    .bind(req.area)
    .bind(req.dataset)
    .bind(req.run_id)
    .bind(req.commit_key)
    .bind(rows)
    .bind(bytes)
    .bind(now_ms())
    .bind(req.operation)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| r.try_get::<i64, _>("id")).transpose()?)
}

async fn existing_commit(
    tx: &mut Transaction<'_, Any>,
    req: &CommitRequest<'_>,
) -> Result<i64, DbError> {
    let row = sqlx::query(
        "SELECT id FROM lake_commits WHERE area = $1 AND dataset = $2 AND commit_key = $3",
    )
    .bind(req.area)
    .bind(req.dataset)
    .bind(req.commit_key)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(r) => Ok(r.try_get("id")?),
        None => Err(DbError::Corrupt(format!(
            "commit key of {}/{} conflicted but no commit holds it",
            req.area, req.dataset
        ))),
    }
}

async fn retire_file(
    tx: &mut Transaction<'_, Any>,
    req: &CommitRequest<'_>,
    path: &str,
    commit_id: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE lake_files SET removed_by = $1 \
         WHERE path = $2 AND area = $3 AND dataset = $4 AND removed_by IS NULL",
    )
    .bind(commit_id)
    .bind(path)
    .bind(req.area)
    .bind(req.dataset)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn insert_file(
    tx: &mut Transaction<'_, Any>,
    req: &CommitRequest<'_>,
    file: &NewFile,
    commit_id: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO lake_files (path, commit_id, area, dataset, dt, row_count, byte_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&file.path)
    .bind(commit_id)
    .bind(req.area)
    .bind(req.dataset)
    .bind(&file.dt)
    .bind(file.row_count)
    .bind(file.byte_count)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks an open run aborted; false when it was not open (committed, aborted, unknown).
pub async fn abort_run(db: &Db, run_id: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE lake_runs SET state = 'aborted', finished_at = $1 \
         WHERE run_id = $2 AND state = 'open'",
    )
    .bind(now_ms())
    .bind(run_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Aborts every open run started at or before `cutoff_ms`; returns their ids.
pub async fn abort_stale_runs(db: &Db, cutoff_ms: i64) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "UPDATE lake_runs SET state = 'aborted', finished_at = $1 \
         WHERE state = 'open' AND started_at <= $2 RETURNING run_id",
    )
    .bind(now_ms())
    .bind(cutoff_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("run_id").map_err(DbError::from))
        .collect()
}

/// Live files matching the filter, ordered by partition, then commit, then path.
pub async fn list_files(db: &Db, filter: &FileFilter<'_>) -> Result<Vec<FileRecord>, DbError> {
    let (sql, from_to) = file_query(filter);
    let mut query = sqlx::query(&sql).bind(filter.area).bind(filter.dataset);
    for bound in from_to {
        query = query.bind(bound);
    }
    if let Some(as_of) = filter.as_of {
        query = query.bind(as_of);
    }
    let rows = query.fetch_all(db.pool()).await?;
    rows.iter().map(file_record).collect()
}

fn file_record(r: &sqlx::any::AnyRow) -> Result<FileRecord, DbError> {
    Ok(FileRecord {
        path: r.try_get("path")?,
        commit_id: r.try_get("commit_id")?,
        dt: r.try_get("dt")?,
        row_count: r.try_get("row_count")?,
        byte_count: r.try_get("byte_count")?,
    })
}

/// The SQL for [`list_files`] and the date bounds to bind after area and dataset, in order.
fn file_query<'a>(filter: &FileFilter<'a>) -> (String, Vec<&'a str>) {
    let mut sql = String::from(
        "SELECT path, commit_id, dt, row_count, byte_count FROM lake_files \
         WHERE area = $1 AND dataset = $2",
    );
    let mut binds = Vec::new();
    for (op, bound) in [(">=", filter.from), ("<=", filter.to)] {
        if let Some(bound) = bound {
            binds.push(bound);
            sql.push_str(&format!(" AND dt {op} ${}", binds.len() + 2));
        }
    }
    if filter.as_of.is_some() {
        let n = binds.len() + 3;
        sql.push_str(&format!(
            " AND commit_id <= ${n} AND (removed_by IS NULL OR removed_by > ${n})"
        ));
    } else {
        sql.push_str(" AND removed_by IS NULL");
    }
    sql.push_str(" ORDER BY dt, commit_id, path");
    (sql, binds)
}

/// The newest commit of a dataset, if any.
pub async fn latest_commit_id(db: &Db, area: &str, dataset: &str) -> Result<Option<i64>, DbError> {
    let row = sqlx::query(
        "SELECT id FROM lake_commits WHERE area = $1 AND dataset = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(area)
    .bind(dataset)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.try_get::<i64, _>("id")).transpose()?)
}

/// The commit that holds `commit_key` for this dataset, if any (lets a run skip work early).
pub async fn commit_for_key(
    db: &Db,
    area: &str,
    dataset: &str,
    commit_key: &str,
) -> Result<Option<i64>, DbError> {
    let row = sqlx::query(
        "SELECT id FROM lake_commits WHERE area = $1 AND dataset = $2 AND commit_key = $3",
    )
    .bind(area)
    .bind(dataset)
    .bind(commit_key)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.try_get::<i64, _>("id")).transpose()?)
}

/// Every live file path in the lake (all areas and datasets), for the sweep.
pub async fn live_paths(db: &Db) -> Result<HashSet<String>, DbError> {
    let rows = sqlx::query("SELECT path FROM lake_files WHERE removed_by IS NULL")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("path").map_err(DbError::from))
        .collect()
}

/// Replaced files and when the replacing commit landed (epoch ms), for the sweep.
pub async fn superseded_paths(db: &Db) -> Result<HashMap<String, i64>, DbError> {
    let rows = sqlx::query(
        "SELECT f.path, c.committed_at FROM lake_files f \
         JOIN lake_commits c ON c.id = f.removed_by WHERE f.removed_by IS NOT NULL",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("path")?, r.try_get("committed_at")?)))
        .collect()
}

/// Whether the log knows this path at all (live or replaced).
pub async fn file_recorded(db: &Db, path: &str) -> Result<bool, DbError> {
    let row = sqlx::query("SELECT path FROM lake_files WHERE path = $1")
        .bind(path)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// A commit as an outside log (Delta) republishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    pub id: i64,
    pub committed_at: i64,
    /// `write` or `optimize` (see [`CommitRequest::operation`]).
    pub operation: String,
    /// Files this commit published.
    pub added: Vec<FileRecord>,
    /// Files this commit retired (compaction, replaced snapshots).
    pub removed: Vec<FileRecord>,
}

/// Every (area, dataset) that has at least one commit.
pub async fn tables(db: &Db) -> Result<Vec<(String, String)>, DbError> {
    let rows =
        sqlx::query("SELECT DISTINCT area, dataset FROM lake_commits ORDER BY area, dataset")
            .fetch_all(db.pool())
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("area")?, r.try_get("dataset")?)))
        .collect()
}

/// Up to `limit` commits of a dataset after commit `after`, oldest first, with their files.
pub async fn commits_after(
    db: &Db,
    area: &str,
    dataset: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<CommitRecord>, DbError> {
    let rows = sqlx::query(
        "SELECT id, committed_at, operation FROM lake_commits \
         WHERE area = $1 AND dataset = $2 AND id > $3 ORDER BY id LIMIT $4",
    )
    .bind(area)
    .bind(dataset)
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.try_get("id")?;
        out.push(CommitRecord {
            id,
            committed_at: r.try_get("committed_at")?,
            operation: r.try_get("operation")?,
            added: files_where(db, "commit_id", id).await?,
            removed: files_where(db, "removed_by", id).await?,
        });
    }
    Ok(out)
}

async fn files_where(db: &Db, column: &str, commit_id: i64) -> Result<Vec<FileRecord>, DbError> {
    let sql = format!(
        "SELECT path, commit_id, dt, row_count, byte_count FROM lake_files \
         WHERE {column} = $1 ORDER BY path"
    );
    let rows = sqlx::query(&sql)
        .bind(commit_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(file_record).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter<'a>(
        from: Option<&'a str>,
        to: Option<&'a str>,
        as_of: Option<i64>,
    ) -> FileFilter<'a> {
        FileFilter {
            area: "datasets",
            dataset: "sales",
            from,
            to,
            as_of,
        }
    }

    #[test]
    fn placeholders_are_numbered_in_order_of_first_use() {
        let (sql, binds) = file_query(&filter(Some("2024-01-01"), None, Some(3)));
        assert!(sql.contains("dt >= $3"), "{sql}");
        assert!(sql.contains("commit_id <= $4 AND (removed_by IS NULL OR removed_by > $4)"));
        assert_eq!(binds, vec!["2024-01-01"]);

        let (sql, binds) = file_query(&filter(None, Some("2024-01-09"), None));
        assert!(sql.contains("dt <= $3"), "{sql}");
        assert!(sql.contains("AND removed_by IS NULL"));
        assert_eq!(binds.len(), 1);

        let (sql, _) = file_query(&filter(Some("a"), Some("b"), None));
        assert!(sql.contains("dt >= $3 AND dt <= $4"), "{sql}");
    }
}
