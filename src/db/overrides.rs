//! `forecast_overrides`: planners' adjustments of the statistical forecast, never deleted
//! (withdrawing one stamps it), so the table is the audit trail.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError};

/// One override as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OverrideRow {
    pub id: String,
    pub series_id: String,
    /// YYYY-MM-DD.
    pub start_date: String,
    pub end_date: String,
    /// `value` or `percent`.
    pub kind: String,
    pub amount: f64,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub retired_by: Option<String>,
}

const COLUMNS: &str = "id, series_id, start_date, end_date, kind, amount, reason, created_by, \
     created_at, retired_at, retired_by";

fn row_of(r: &AnyRow) -> Result<OverrideRow, DbError> {
    Ok(OverrideRow {
        id: r.try_get("id")?,
        series_id: r.try_get("series_id")?,
        start_date: r.try_get("start_date")?,
        end_date: r.try_get("end_date")?,
        kind: r.try_get("kind")?,
        amount: r.try_get("amount")?,
        reason: r.try_get("reason")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        retired_at: r.try_get("retired_at")?,
        retired_by: r.try_get("retired_by")?,
    })
}

pub async fn insert(db: &Db, o: &OverrideRow) -> Result<(), DbError> {
    sqlx::query(&format!(
        "INSERT INTO forecast_overrides ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(o.id.as_str())
    .bind(o.series_id.as_str())
    .bind(o.start_date.as_str())
    .bind(o.end_date.as_str())
    .bind(o.kind.as_str())
    .bind(o.amount)
    .bind(o.reason.as_str())
    .bind(o.created_by.as_str())
    .bind(o.created_at)
    .bind(o.retired_at)
    .bind(o.retired_by.as_deref())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Every override of `series_id`, withdrawn ones too, oldest first.
pub async fn for_series(db: &Db, series_id: &str) -> Result<Vec<OverrideRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM forecast_overrides WHERE series_id = $1 ORDER BY created_at, id"
    ))
    .bind(series_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(row_of).collect()
}

/// Every active override of every series, oldest first (what a hierarchy's serving cascades;
/// planners keep a handful per series, so this stays small).
pub async fn all_active(db: &Db) -> Result<Vec<OverrideRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM forecast_overrides WHERE retired_at IS NULL \
         ORDER BY created_at, id"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(row_of).collect()
}

/// Withdraws override `id` of `series_id` (once: a second call changes nothing); the row as
/// it now is, `None` when there is no such override.
pub async fn retire(
    db: &Db,
    series_id: &str,
    id: &str,
    by: &str,
    at: i64,
) -> Result<Option<OverrideRow>, DbError> {
    sqlx::query(
        "UPDATE forecast_overrides SET retired_at = $1, retired_by = $2 \
         WHERE id = $3 AND series_id = $4 AND retired_at IS NULL",
    )
    .bind(at)
    .bind(by)
    .bind(id)
    .bind(series_id)
    .execute(db.pool())
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM forecast_overrides WHERE id = $1 AND series_id = $2"
    ))
    .bind(id)
    .bind(series_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(row_of).transpose()
}
