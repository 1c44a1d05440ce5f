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

/// The (series id, points JSON) of a run's rows of one level, in series id order.
pub async fn run_points(
    db: &Db,
    run_id: &str,
    level: &str,
) -> Result<Vec<(String, String)>, DbError> {
    run_column(db, run_id, level, "points").await
}

/// The (series id, params JSON) of a run's rows of one level, in series id order.
pub async fn run_params(
    db: &Db,
    run_id: &str,
    level: &str,
) -> Result<Vec<(String, String)>, DbError> {
    run_column(db, run_id, level, "params").await
}

/// (series id, `column`) of a run's rows of one level; `column` is one of ours, never input.
async fn run_column(
    db: &Db,
    run_id: &str,
    level: &str,
    column: &'static str,
) -> Result<Vec<(String, String)>, DbError> {
    let sql = format!(
        "SELECT series_id, {column} FROM forecasts WHERE run_id = $1 AND level = $2 \
         ORDER BY series_id"
    );
    let rows = sqlx::query(&sql)
        .bind(run_id)
        .bind(level)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("series_id")?, r.try_get(column)?)))
        .collect()
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

/// One forecast point scored against its actual (`forecast_realised`).
#[derive(Debug, Clone, PartialEq)]
pub struct RealisedRow {
    pub run_id: String,
    pub series_id: String,
    pub date: String,
    pub step: i64,
    pub level: String,
    pub actual: f64,
    pub mean: f64,
    pub lower_80: Option<f64>,
    pub upper_80: Option<f64>,
    pub lower_95: Option<f64>,
    pub upper_95: Option<f64>,
    pub mase_scale: Option<f64>,
    pub backtest_mase: Option<f64>,
    pub scored_at: i64,
}

const REALISED_COLUMNS: &str = "run_id, series_id, date, step, level, actual, mean, lower_80, \
     upper_80, lower_95, upper_95, mase_scale, backtest_mase, scored_at";

fn realised_from(row: &AnyRow) -> Result<RealisedRow, DbError> {
    Ok(RealisedRow {
        run_id: row.try_get("run_id")?,
        series_id: row.try_get("series_id")?,
        date: row.try_get("date")?,
        step: row.try_get("step")?,
        level: row.try_get("level")?,
        actual: row.try_get("actual")?,
        mean: row.try_get("mean")?,
        lower_80: row.try_get("lower_80")?,
        upper_80: row.try_get("upper_80")?,
        lower_95: row.try_get("lower_95")?,
        upper_95: row.try_get("upper_95")?,
        mase_scale: row.try_get("mase_scale")?,
        backtest_mase: row.try_get("backtest_mase")?,
        scored_at: row.try_get("scored_at")?,
    })
}

/// Every stored forecast (the latest per series).
pub async fn all(db: &Db) -> Result<Vec<ForecastRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM forecasts ORDER BY series_id"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Inserts or updates scored points (a corrected actual replaces the earlier one).
pub async fn upsert_realised(db: &Db, rows: &[RealisedRow]) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO forecast_realised ({REALISED_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (run_id, series_id, date) DO UPDATE SET actual = excluded.actual, \
         scored_at = excluded.scored_at"
    );
    let mut tx = db.pool().begin().await?;
    for r in rows {
        sqlx::query(&sql)
            .bind(r.run_id.as_str())
            .bind(r.series_id.as_str())
            .bind(r.date.as_str())
            .bind(r.step)
            .bind(r.level.as_str())
            .bind(r.actual)
            .bind(r.mean)
            .bind(r.lower_80)
            .bind(r.upper_80)
            .bind(r.lower_95)
            .bind(r.upper_95)
            .bind(r.mase_scale)
            .bind(r.backtest_mase)
            .bind(r.scored_at)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Scored points of one series (every run), oldest target first.
pub async fn realised_for_series(db: &Db, series_id: &str) -> Result<Vec<RealisedRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {REALISED_COLUMNS} FROM forecast_realised WHERE series_id = $1 \
         ORDER BY run_id, date"
    ))
    .bind(series_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(realised_from).collect()
}

/// Scored points of one run.
pub async fn realised_for_run(db: &Db, run_id: &str) -> Result<Vec<RealisedRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {REALISED_COLUMNS} FROM forecast_realised WHERE run_id = $1 \
         ORDER BY series_id, date"
    ))
    .bind(run_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(realised_from).collect()
}
