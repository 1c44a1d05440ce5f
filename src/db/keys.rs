//! Repository for `api_keys`. Only hashes are stored; see `crate::auth`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, name, role, created_at, revoked_at, last_used_at";

fn from_row(row: &AnyRow) -> Result<KeyRow, DbError> {
    Ok(KeyRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

pub async fn insert(db: &Db, row: &KeyRow, key_hash: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO api_keys (id, name, role, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.id)
    .bind(&row.name)
    .bind(&row.role)
    .bind(key_hash)
    .bind(row.created_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn list(db: &Db) -> Result<Vec<KeyRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn find_active_by_hash(db: &Db, key_hash: &str) -> Result<Option<KeyRow>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
    ))
    .bind(key_hash)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Marks a key revoked; returns the row, or None when no key has that id.
pub async fn revoke(db: &Db, id: &str, now: i64) -> Result<Option<KeyRow>, DbError> {
    let row = sqlx::query(&format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING {COLUMNS}"
    ))
    .bind(now)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn touch(db: &Db, id: &str, now: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}
