//! Repository for `experiments` and `experiment_exposures`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError};

#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentRow {
    pub id: String,
    pub name: String,
    pub layer: String,
    pub status: String,
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub stopped_at: Option<i64>,
}

const COLUMNS: &str =
    "id, name, layer, status, definition, created_at, updated_at, started_at, stopped_at";

fn from_row(row: &AnyRow) -> Result<ExperimentRow, DbError> {
    Ok(ExperimentRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        layer: row.try_get("layer")?,
        status: row.try_get("status")?,
        definition: row.try_get("definition")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        stopped_at: row.try_get("stopped_at")?,
    })
}

/// Inserts a new experiment; a duplicate name is a unique violation.
pub async fn insert(db: &Db, r: &ExperimentRow) -> Result<(), DbError> {
    sqlx::query(&format!(
        "INSERT INTO experiments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&r.id)
    .bind(&r.name)
    .bind(&r.layer)
    .bind(&r.status)
    .bind(&r.definition)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.started_at)
    .bind(r.stopped_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<ExperimentRow>, DbError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM experiments WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Experiments, newest first; of one status when given.
pub async fn list(db: &Db, status: Option<&str>) -> Result<Vec<ExperimentRow>, DbError> {
    let rows = match status {
        Some(s) => sqlx::query(&format!(
            "SELECT {COLUMNS} FROM experiments WHERE status = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(s)
        .fetch_all(db.pool())
        .await?,
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM experiments ORDER BY created_at DESC, id DESC"
            ))
            .fetch_all(db.pool())
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Running experiments, oldest start first (the order serving enrols users in).
pub async fn running(db: &Db) -> Result<Vec<ExperimentRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM experiments WHERE status = 'running' ORDER BY started_at, id"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Replaces the definition of a draft; false when the experiment is not a draft (or absent).
pub async fn update_draft(
    db: &Db,
    id: &str,
    name: &str,
    layer: &str,
    definition: &str,
    now: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE experiments SET name = $1, layer = $2, definition = $3, updated_at = $4 \
         WHERE id = $5 AND status = 'draft'",
    )
    .bind(name)
    .bind(layer)
    .bind(definition)
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves `id` from `from` to `to`, stamping `started_at` (to running) or `stopped_at` (to
/// stopped). False when the experiment is not in state `from`. Starting a second experiment
/// in a layer is a unique violation.
pub async fn transition(
    db: &Db,
    id: &str,
    from: &str,
    to: &str,
    now: i64,
) -> Result<bool, DbError> {
    let column = if to == "running" {
        "started_at"
    } else {
        "stopped_at"
    };
    let done = sqlx::query(&format!(
        "UPDATE experiments SET status = $1, {column} = $2, updated_at = $3 \
         WHERE id = $4 AND status = $5"
    ))
    .bind(to)
    .bind(now)
    .bind(now)
    .bind(id)
    .bind(from)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One served response under an experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureRow {
    pub recommendation_id: String,
    pub experiment_id: String,
    pub variant: String,
    pub user_id: String,
    pub ts: i64,
}

/// Records an exposure; it is committed (durable) when this returns.
pub async fn insert_exposure(db: &Db, e: &ExposureRow) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO experiment_exposures (recommendation_id, experiment_id, variant, user_id, ts) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&e.recommendation_id)
    .bind(&e.experiment_id)
    .bind(&e.variant)
    .bind(&e.user_id)
    .bind(e.ts)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Every exposure of an experiment, in time order.
pub async fn exposures(db: &Db, experiment_id: &str) -> Result<Vec<ExposureRow>, DbError> {
    let rows = sqlx::query(
        "SELECT recommendation_id, experiment_id, variant, user_id, ts FROM experiment_exposures \
         WHERE experiment_id = $1 ORDER BY ts, recommendation_id",
    )
    .bind(experiment_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ExposureRow {
                recommendation_id: r.try_get("recommendation_id")?,
                experiment_id: r.try_get("experiment_id")?,
                variant: r.try_get("variant")?,
                user_id: r.try_get("user_id")?,
                ts: r.try_get("ts")?,
            })
        })
        .collect()
}
