//! Repository for the ETL bookkeeping tables: file ledger, SQL watermarks, run reports.

use std::collections::HashSet;

use sqlx::Row;

use super::{Db, DbError, now_ms};

/// A landing file as the ledger identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LedgerEntry {
    pub path: String,
    pub size: i64,
    pub version: String,
}

pub async fn ledger(db: &Db, pipeline: &str) -> Result<HashSet<LedgerEntry>, DbError> {
    let rows = sqlx::query("SELECT path, size, version FROM etl_file_ledger WHERE pipeline = $1")
        .bind(pipeline)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(LedgerEntry {
                path: r.try_get("path")?,
                size: r.try_get("size")?,
                version: r.try_get("version")?,
            })
        })
        .collect()
}

/// Records landed files; entries already present are kept as they are.
pub async fn record_landed(
    db: &Db,
    pipeline: &str,
    run_id: &str,
    entries: &[LedgerEntry],
) -> Result<(), DbError> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    for e in entries {
        sqlx::query(
            "INSERT INTO etl_file_ledger (pipeline, path, size, version, run_id, landed_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(pipeline)
        .bind(&e.path)
        .bind(e.size)
        .bind(&e.version)
        .bind(run_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn watermark(db: &Db, pipeline: &str) -> Result<Option<String>, DbError> {
    let row = sqlx::query("SELECT value FROM etl_watermarks WHERE pipeline = $1")
        .bind(pipeline)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get("value")).transpose()?)
}

pub async fn set_watermark(db: &Db, pipeline: &str, value: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO etl_watermarks (pipeline, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (pipeline) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(pipeline)
    .bind(value)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// One run as stored.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub run_id: String,
    pub pipeline: String,
    pub status: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub report: Option<String>,
    pub error: Option<String>,
}

pub async fn start_run(db: &Db, run_id: &str, pipeline: &str) -> Result<i64, DbError> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO etl_runs (run_id, pipeline, status, started_at) VALUES ($1, $2, 'running', $3)",
    )
    .bind(run_id)
    .bind(pipeline)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(now)
}

pub async fn finish_run(
    db: &Db,
    run_id: &str,
    status: &str,
    report: &str,
    error: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE etl_runs SET status = $1, finished_at = $2, report = $3, error = $4 WHERE run_id = $5",
    )
    .bind(status)
    .bind(now_ms())
    .bind(report)
    .bind(error)
    .bind(run_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Newest first; `pipeline` filters when given.
pub async fn list_runs(
    db: &Db,
    pipeline: Option<&str>,
    limit: i64,
) -> Result<Vec<RunRow>, DbError> {
    let sql =
        "SELECT run_id, pipeline, status, started_at, finished_at, report, error FROM etl_runs";
    let rows = match pipeline {
        Some(p) => {
            sqlx::query(&format!(
                "{sql} WHERE pipeline = $1 ORDER BY started_at DESC, run_id DESC LIMIT $2"
            ))
            .bind(p)
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query(&format!(
                "{sql} ORDER BY started_at DESC, run_id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
    };
    rows.iter()
        .map(|r| {
            Ok(RunRow {
                run_id: r.try_get("run_id")?,
                pipeline: r.try_get("pipeline")?,
                status: r.try_get("status")?,
                started_at: r.try_get("started_at")?,
                finished_at: r.try_get("finished_at")?,
                report: r.try_get("report")?,
                error: r.try_get("error")?,
            })
        })
        .collect()
}
