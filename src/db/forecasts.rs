//! Repository for `forecast_runs` and `forecasts` (the latest forecast per series). Points,
//! parameters and accuracy are JSON text: serving reads a whole series at once and never
//! queries inside them.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError};

#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: String,
    pub params: String,
    pub series_total: i64,
    pub series_fitted: i64,
    pub series_failed: i64,
    pub export_path: Option<String>,
    pub error: Option<String>,
}

const RUN_COLUMNS: &str = "id, started_at, finished_at, status, params, series_total, \
                           series_fitted, series_failed, export_path, error";

fn run_from_row(row: &AnyRow) -> Result<RunRow, DbError> {
    Ok(RunRow {
        id: row.try_get("id")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        status: row.try_get("status")?,
        params: row.try_get("params")?,
        series_total: row.try_get("series_total")?,
        series_fitted: row.try_get("series_fitted")?,
        series_failed: row.try_get("series_failed")?,
        export_path: row.try_get("export_path")?,
        error: row.try_get("error")?,
    })
}

/// Records a run as `running`.
pub async fn start_run(db: &Db, id: &str, params: &str, started_at: i64) -> Result<(), DbError> {
    sqlx::query(&format!(
        "INSERT INTO forecast_runs ({RUN_COLUMNS}) VALUES ($1, $2, NULL, 'running', $3, 0, 0, 0, NULL, NULL)"
    ))
    .bind(id)
    .bind(started_at)
    .bind(params)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Stores a run's outcome: `succeeded` when `error` is None, else `failed`.
#[allow(clippy::too_many_arguments)]
pub async fn finish_run(
    db: &Db,
    id: &str,
    finished_at: i64,
    total: i64,
    fitted: i64,
    failed: i64,
    export_path: Option<&str>,
    error: Option<&str>,
) -> Result<(), DbError> {
    let status = if error.is_none() {
        "succeeded"
    } else {
        "failed"
    };
    sqlx::query(
        "UPDATE forecast_runs SET finished_at = $1, status = $2, series_total = $3, \
         series_fitted = $4, series_failed = $5, export_path = $6, error = $7 WHERE id = $8",
    )
    .bind(finished_at)
    .bind(status)
    .bind(total)
    .bind(fitted)
    .bind(failed)
    .bind(export_path)
    .bind(error)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn get_run(db: &Db, id: &str) -> Result<Option<RunRow>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM forecast_runs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(run_from_row).transpose()
}

/// The stored forecast of one series (also the rows of a forecaster version's artifact).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForecastRow {
    pub series_id: String,
    pub item_id: Option<String>,
    pub store_id: Option<String>,
    pub level: String,
    pub frequency: String,
    pub model: String,
    pub params: String,
    pub accuracy: String,
    pub points: String,
    pub horizon: i64,
    pub history_end: String,
    pub trained_at: i64,
    pub run_id: String,
}

const COLUMNS: &str = "series_id, item_id, store_id, level, frequency, model, params, accuracy, \
                       points, horizon, history_end, trained_at, run_id";

fn from_row(row: &AnyRow) -> Result<ForecastRow, DbError> {
    Ok(ForecastRow {
        series_id: row.try_get("series_id")?,
        item_id: row.try_get("item_id")?,
        store_id: row.try_get("store_id")?,
        level: row.try_get("level")?,
        frequency: row.try_get("frequency")?,
        model: row.try_get("model")?,
        params: row.try_get("params")?,
        accuracy: row.try_get("accuracy")?,
        points: row.try_get("points")?,
        horizon: row.try_get("horizon")?,
        history_end: row.try_get("history_end")?,
        trained_at: row.try_get("trained_at")?,
        run_id: row.try_get("run_id")?,
    })
}

/// Inserts or replaces the forecasts of several series in one transaction.
pub async fn upsert(db: &Db, rows: &[ForecastRow]) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    for r in rows {
        sqlx::query(&format!(
            "INSERT INTO forecasts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (series_id) DO UPDATE SET item_id = excluded.item_id, \
             store_id = excluded.store_id, level = excluded.level, frequency = excluded.frequency, \
             model = excluded.model, params = excluded.params, accuracy = excluded.accuracy, \
             points = excluded.points, horizon = excluded.horizon, \
             history_end = excluded.history_end, trained_at = excluded.trained_at, \
             run_id = excluded.run_id"
        ))
        .bind(&r.series_id)
        .bind(r.item_id.as_deref())
        .bind(r.store_id.as_deref())
        .bind(&r.level)
        .bind(&r.frequency)
        .bind(&r.model)
        .bind(&r.params)
        .bind(&r.accuracy)
        .bind(&r.points)
        .bind(r.horizon)
        .bind(&r.history_end)
        .bind(r.trained_at)
        .bind(&r.run_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn get(db: &Db, series_id: &str) -> Result<Option<ForecastRow>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM forecasts WHERE series_id = $1"
    ))
    .bind(series_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Filters for [`list`]; `after` is the keyset cursor (a series id).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub item_id: Option<String>,
    pub store_id: Option<String>,
    pub level: Option<String>,
    pub after: Option<String>,
    pub limit: i64,
}

/// Up to `limit` forecasts in series id order, strictly after `after`.
pub async fn list(db: &Db, f: &ListFilter) -> Result<Vec<ForecastRow>, DbError> {
    let mut clauses = Vec::new();
    let mut binds: Vec<&str> = Vec::new();
    for (column, value) in [
        ("item_id", &f.item_id),
        ("store_id", &f.store_id),
        ("level", &f.level),
    ] {
        if let Some(v) = value {
            binds.push(v);
            clauses.push(format!("{column} = ${}", binds.len()));
        }
    }
    if let Some(after) = &f.after {
        binds.push(after);
        clauses.push(format!("series_id > ${}", binds.len()));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM forecasts {filter} ORDER BY series_id LIMIT ${}",
        binds.len() + 1
    );
    let mut query = sqlx::query(&sql);
    for b in binds {
        query = query.bind(b);
    }
    let rows = query.bind(f.limit).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}
