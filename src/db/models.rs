//! Repository for `models` (the model registry's metadata; artifacts live in the lake).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError};

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub params: String,
    pub data_snapshot: Option<i64>,
    pub metrics: String,
    pub artifact_path: String,
    pub checksum: String,
    pub size_bytes: i64,
    pub created_at: i64,
    pub promoted_at: Option<i64>,
}

const COLUMNS: &str = "id, kind, status, params, data_snapshot, metrics, artifact_path, \
                       checksum, size_bytes, created_at, promoted_at";

fn from_row(row: &AnyRow) -> Result<ModelRow, DbError> {
    Ok(ModelRow {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        status: row.try_get("status")?,
        params: row.try_get("params")?,
        data_snapshot: row.try_get("data_snapshot")?,
        metrics: row.try_get("metrics")?,
        artifact_path: row.try_get("artifact_path")?,
        checksum: row.try_get("checksum")?,
        size_bytes: row.try_get("size_bytes")?,
        created_at: row.try_get("created_at")?,
        promoted_at: row.try_get("promoted_at")?,
    })
}

pub async fn insert(db: &Db, r: &ModelRow) -> Result<(), DbError> {
    sqlx::query(&format!(
        "INSERT INTO models ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&r.id)
    .bind(&r.kind)
    .bind(&r.status)
    .bind(&r.params)
    .bind(r.data_snapshot)
    .bind(&r.metrics)
    .bind(&r.artifact_path)
    .bind(&r.checksum)
    .bind(r.size_bytes)
    .bind(r.created_at)
    .bind(r.promoted_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<ModelRow>, DbError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM models WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Versions, newest first; of one kind when given.
pub async fn list(db: &Db, kind: Option<&str>, limit: i64) -> Result<Vec<ModelRow>, DbError> {
    let rows = match kind {
        Some(k) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM models WHERE kind = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
            ))
            .bind(k)
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM models ORDER BY created_at DESC, id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

pub async fn promoted(db: &Db, kind: &str) -> Result<Option<ModelRow>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM models WHERE kind = $1 AND status = 'promoted'"
    ))
    .bind(kind)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Makes `id` the promoted version of its kind in one transaction; the previously promoted
/// one becomes `retired` (keeping its `promoted_at` for rollback). Returns false when `id`
/// does not exist.
pub async fn promote(db: &Db, kind: &str, id: &str, now: i64) -> Result<bool, DbError> {
    let mut tx = db.pool().begin().await?;
    // Write first: SQLite then holds the write lock for the whole transaction.
    sqlx::query(
        "UPDATE models SET status = 'retired' WHERE kind = $1 AND status = 'promoted' AND id <> $2",
    )
    .bind(kind)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query(
        "UPDATE models SET status = 'promoted', promoted_at = $1 WHERE id = $2 AND kind = $3",
    )
    .bind(now)
    .bind(id)
    .bind(kind)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// Retires the promoted version of `kind` (forgetting its promotion) and re-promotes the
/// version promoted most recently before it. Returns `(retired, restored)` ids, or None when
/// there is no promoted version or none was promoted before it.
pub async fn rollback(db: &Db, kind: &str) -> Result<Option<(String, String)>, DbError> {
    let mut tx = db.pool().begin().await?;
    // Write first (see `promote`): retire the current version, learning which it was.
    let current = sqlx::query(
        "UPDATE models SET status = 'retired', promoted_at = NULL \
         WHERE kind = $1 AND status = 'promoted' RETURNING id",
    )
    .bind(kind)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        tx.rollback().await?;
        return Ok(None);
    };
    let current: String = current.try_get("id")?;
    let previous = sqlx::query(
        "SELECT id FROM models WHERE kind = $1 AND id <> $2 AND promoted_at IS NOT NULL \
         ORDER BY promoted_at DESC, id DESC LIMIT 1",
    )
    .bind(kind)
    .bind(&current)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(previous) = previous else {
        tx.rollback().await?;
        return Ok(None);
    };
    let previous: String = previous.try_get("id")?;
    sqlx::query("UPDATE models SET status = 'promoted' WHERE id = $1")
        .bind(&previous)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some((current, previous)))
}
