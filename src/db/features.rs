//! Repository for the feature store's metadata: view versions, materialized days, run
//! statistics and the online values. Values are JSON text: the online path reads whole rows
//! by primary key and never queries inside them.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, DbError};

/// One stored version of a view definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewVersionRow {
    pub name: String,
    pub version: i64,
    pub fingerprint: String,
    pub definition: String,
    pub created_at: i64,
}

fn view_from_row(row: &AnyRow) -> Result<ViewVersionRow, DbError> {
    Ok(ViewVersionRow {
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        fingerprint: row.try_get("fingerprint")?,
        definition: row.try_get("definition")?,
        created_at: row.try_get("created_at")?,
    })
}

const VIEW_COLUMNS: &str = "name, version, fingerprint, definition, created_at";

/// Every version of every view, by name then version.
pub async fn list_versions(db: &Db) -> Result<Vec<ViewVersionRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {VIEW_COLUMNS} FROM feature_views ORDER BY name, version"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(view_from_row).collect()
}

/// The version of `name` with this fingerprint, if registered.
pub async fn version_by_fingerprint(
    db: &Db,
    name: &str,
    fingerprint: &str,
) -> Result<Option<ViewVersionRow>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {VIEW_COLUMNS} FROM feature_views WHERE name = $1 AND fingerprint = $2"
    ))
    .bind(name)
    .bind(fingerprint)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(view_from_row).transpose()
}

/// Registers a new version (the next number). Returns `None` when a concurrent registration
/// won the race for the number or the fingerprint; the caller reads again.
pub async fn insert_version(
    db: &Db,
    name: &str,
    fingerprint: &str,
    definition: &str,
    now_ms: i64,
) -> Result<Option<ViewVersionRow>, DbError> {
    let result = sqlx::query(&format!(
        "INSERT INTO feature_views ({VIEW_COLUMNS}) \
         SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4 FROM feature_views WHERE name = $5 \
         RETURNING {VIEW_COLUMNS}"
    ))
    .bind(name)
    .bind(fingerprint)
    .bind(definition)
    .bind(now_ms)
    .bind(name)
    .fetch_one(db.pool())
    .await;
    match result {
        Ok(row) => view_from_row(&row).map(Some),
        Err(e) if super::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The last materialized day of a view version (`YYYY-MM-DD`), if any.
pub async fn last_materialized(
    db: &Db,
    view: &str,
    version: i64,
) -> Result<Option<String>, DbError> {
    let row = sqlx::query(
        "SELECT MAX(dt) AS dt FROM feature_materializations WHERE view = $1 AND version = $2",
    )
    .bind(view)
    .bind(version)
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get("dt")?)
}

/// Days materialized for a view version, with their row counts, oldest first.
pub async fn materialized_days(
    db: &Db,
    view: &str,
    version: i64,
) -> Result<Vec<(String, i64)>, DbError> {
    let rows = sqlx::query(
        "SELECT dt, rows FROM feature_materializations WHERE view = $1 AND version = $2 \
         ORDER BY dt",
    )
    .bind(view)
    .bind(version)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("dt")?, r.try_get("rows")?)))
        .collect()
}

/// Records (or re-records, after a recomputation) the days one run materialized.
pub async fn record_days(
    db: &Db,
    view: &str,
    version: i64,
    days: &[(String, i64)],
    commit_id: i64,
    run_id: &str,
) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    for (dt, rows) in days {
        sqlx::query(
            "DELETE FROM feature_materializations WHERE view = $1 AND version = $2 AND dt = $3",
        )
        .bind(view)
        .bind(version)
        .bind(dt)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO feature_materializations (view, version, dt, rows, commit_id, run_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(view)
        .bind(version)
        .bind(dt)
        .bind(*rows)
        .bind(commit_id)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One materialization run's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: String,
    pub view: String,
    pub version: i64,
    pub from_dt: String,
    pub to_dt: String,
    pub source_rows: i64,
    pub rows: i64,
    pub stats: String,
    pub warnings: String,
    pub created_at: i64,
}

const RUN_COLUMNS: &str =
    "id, view, version, from_dt, to_dt, source_rows, rows, stats, warnings, created_at";

fn run_from_row(row: &AnyRow) -> Result<RunRow, DbError> {
    Ok(RunRow {
        id: row.try_get("id")?,
        view: row.try_get("view")?,
        version: row.try_get("version")?,
        from_dt: row.try_get("from_dt")?,
        to_dt: row.try_get("to_dt")?,
        source_rows: row.try_get("source_rows")?,
        rows: row.try_get("rows")?,
        stats: row.try_get("stats")?,
        warnings: row.try_get("warnings")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn insert_run(db: &Db, run: &RunRow) -> Result<(), DbError> {
    sqlx::query(&format!(
        "INSERT INTO feature_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&run.id)
    .bind(&run.view)
    .bind(run.version)
    .bind(&run.from_dt)
    .bind(&run.to_dt)
    .bind(run.source_rows)
    .bind(run.rows)
    .bind(&run.stats)
    .bind(&run.warnings)
    .bind(run.created_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The latest run of a view version, if any.
pub async fn latest_run(db: &Db, view: &str, version: i64) -> Result<Option<RunRow>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM feature_runs WHERE view = $1 AND version = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(view)
    .bind(version)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(run_from_row).transpose()
}

/// One online row.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineRow {
    pub entity_id: String,
    pub values: String,
    pub event_ts: i64,
    pub as_of: i64,
}

/// Every online row of a view version (for consumers that need the whole table, such as a
/// recommender's item prior; requests use [`online_rows`]).
pub async fn all_online_rows(db: &Db, view: &str, version: i64) -> Result<Vec<OnlineRow>, DbError> {
    let rows = sqlx::query(
        "SELECT entity_id, feature_values, event_ts, as_of FROM online_features \
         WHERE view = $1 AND version = $2",
    )
    .bind(view)
    .bind(version)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(online_row_from).collect()
}

/// One `online_features` row (selected as `entity_id, feature_values, event_ts, as_of`).
fn online_row_from(row: &AnyRow) -> Result<OnlineRow, DbError> {
    Ok(OnlineRow {
        entity_id: row.try_get("entity_id")?,
        values: row.try_get("feature_values")?,
        event_ts: row.try_get("event_ts")?,
        as_of: row.try_get("as_of")?,
    })
}

/// Rows inserted per statement when replacing online values.
const UPSERT_CHUNK: usize = 200;

/// Replaces the online values of a view version with one snapshot: rows in `rows` are
/// upserted; rows of entities absent from the snapshot (expired past the TTL) are deleted.
/// One transaction, so readers see the old snapshot or the new one.
pub async fn replace_online(
    db: &Db,
    view: &str,
    version: i64,
    as_of: i64,
    rows: &[OnlineRow],
) -> Result<(), DbError> {
    let mut tx = db.pool().begin().await?;
    // Begin with a write (see the module docs of `db`).
    sqlx::query("DELETE FROM online_features WHERE view = $1 AND version = $2 AND as_of > $3")
        .bind(view)
        .bind(version)
        .bind(as_of)
        .execute(&mut *tx)
        .await?;
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO online_features (view, version, entity_id, feature_values, event_ts, as_of) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 6;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6
            ));
        }
        sql.push_str(
            " ON CONFLICT (view, version, entity_id) DO UPDATE SET \
             feature_values = excluded.feature_values, event_ts = excluded.event_ts, \
             as_of = excluded.as_of",
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(view)
                .bind(version)
                .bind(&r.entity_id)
                .bind(&r.values)
                .bind(r.event_ts)
                .bind(as_of);
        }
        q.execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM online_features WHERE view = $1 AND version = $2 AND as_of < $3")
        .bind(view)
        .bind(version)
        .bind(as_of)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The `as_of` of a view version's online snapshot, if it has one.
pub async fn online_as_of(db: &Db, view: &str, version: i64) -> Result<Option<i64>, DbError> {
    let row = sqlx::query(
        "SELECT MAX(as_of) AS as_of FROM online_features WHERE view = $1 AND version = $2",
    )
    .bind(view)
    .bind(version)
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get("as_of")?)
}

/// Online rows of a view version for these entities (absent entities have no row).
pub async fn online_rows(
    db: &Db,
    view: &str,
    version: i64,
    entity_ids: &[&str],
) -> Result<Vec<OnlineRow>, DbError> {
    let mut out = Vec::with_capacity(entity_ids.len());
    for chunk in entity_ids.chunks(500) {
        let mut sql = String::from(
            "SELECT entity_id, feature_values, event_ts, as_of FROM online_features \
             WHERE view = $1 AND version = $2 AND entity_id IN (",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("${}", i + 3));
        }
        sql.push(')');
        let mut q = sqlx::query(&sql).bind(view).bind(version);
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(db.pool()).await? {
            out.push(online_row_from(&row)?);
        }
    }
    Ok(out)
}
