//! The lake's run bookkeeping, and the commit log of lakes written before the Delta logs.
//!
//! Which files are live is the Delta log's business (`lake::delta`); the database only knows
//! which runs exist and where each is in its life, so the sweep can tell a file an open run is
//! still writing from the orphan of a crashed one. A run is claimed (open → committed) in the
//! database before its Delta commit, and a sweep aborts only open runs, so a run committing
//! to Delta never has its files swept from under it.
//!
//! `lake_commits` and `lake_files` are the commit log of recast before its lake became Delta
//! tables. Nothing writes them any more: `recast lake migrate` reads them once to register an
//! older lake's live files in new Delta logs ([`legacy`] queries). Areas and dataset names are
//! plain strings here; validating them is the lake's job.

use sqlx::Row;

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
    /// When the run was claimed for its commit or aborted (epoch ms).
    pub finished_at: Option<i64>,
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
        "SELECT run_id, area, dataset, state, started_at, finished_at FROM lake_runs \
         WHERE run_id = $1",
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
            finished_at: r.try_get("finished_at")?,
        })
    })
    .transpose()
}

/// Claims an open run for its commit (open → committed); false when it is not open (a sweep
/// aborted it, or it finished). The sweep only aborts open runs, so a claimed run's files are
/// safe while its Delta commit is written.
pub async fn claim_run(db: &Db, run_id: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE lake_runs SET state = 'committed', finished_at = $1 \
         WHERE run_id = $2 AND state = 'open'",
    )
    .bind(now_ms())
    .bind(run_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
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

/// The commit log of lakes written before the Delta logs, read by `recast lake migrate`.
pub mod legacy {
    use sqlx::Row;

    use super::{Db, DbError};

    /// `operation` of a compaction commit (same rows, fewer files).
    pub const OPERATION_OPTIMIZE: &str = "optimize";

    /// A published file as the log records it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct FileRecord {
        pub path: String,
        pub commit_id: i64,
        pub dt: String,
        pub row_count: i64,
        pub byte_count: i64,
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
    pub async fn latest_commit_id(
        db: &Db,
        area: &str,
        dataset: &str,
    ) -> Result<Option<i64>, DbError> {
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

    /// Whether any file was added or retired by a commit after `after`.
    pub async fn files_changed_after(
        db: &Db,
        area: &str,
        dataset: &str,
        after: i64,
    ) -> Result<bool, DbError> {
        let row = sqlx::query(
            "SELECT path FROM lake_files WHERE area = $1 AND dataset = $2 \
             AND (commit_id > $3 OR removed_by > $3) LIMIT 1",
        )
        .bind(area)
        .bind(dataset)
        .bind(after)
        .fetch_optional(db.pool())
        .await?;
        Ok(row.is_some())
    }

    /// A commit as an outside log (Delta) republishes it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CommitRecord {
        pub id: i64,
        pub committed_at: i64,
        /// `write`, or [`OPERATION_OPTIMIZE`] for a compaction.
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

    async fn files_where(
        db: &Db,
        column: &str,
        commit_id: i64,
    ) -> Result<Vec<FileRecord>, DbError> {
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
}
