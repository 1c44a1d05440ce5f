//! Repository for `jobs`: every statement the queue runs, and nothing else.
//!
//! Every state change a worker makes is one `UPDATE .. WHERE id = .. AND lease_owner = ..
//! AND state = 'running'`, so a worker that lost its lease (it stalled, another worker took the
//! job over) changes nothing: the statement matches no row and the caller learns it from the
//! empty result. The lease itself is one statement too: on SQLite an `UPDATE` takes the write
//! lock before it reads, so two workers cannot pick the same row; on Postgres the picking
//! subquery locks its row `FOR UPDATE SKIP LOCKED`, so concurrent workers skip past each other
//! instead of queueing on the same row. Rows come back as [`JobRow`] (stored form); the `jobs`
//! module turns them into its model, keeping this layer free of upward dependencies.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Db, DbError};

/// A `jobs` row as stored: state as text, payload and result as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub priority: i64,
    pub idempotency_key: Option<String>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub cancel_requested: bool,
    pub progress: f64,
    pub progress_message: Option<String>,
    pub result: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// The values of a new row; state, counters and timestamps are set here.
#[derive(Debug, Clone)]
pub struct InsertJob<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub payload: &'a str,
    pub priority: i64,
    pub idempotency_key: Option<&'a str>,
    pub max_attempts: i64,
    pub run_at: i64,
    pub now: i64,
}

/// One page of `list`: newest first, strictly after the `(created_at, id)` cursor.
#[derive(Debug, Clone, Default)]
pub struct ListJobs<'a> {
    pub state: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub before: Option<(i64, &'a str)>,
    pub limit: i64,
}

const COLUMNS: &str = "id, kind, payload, state, priority, idempotency_key, attempts, \
    max_attempts, run_at, lease_owner, lease_expires_at, cancel_requested, progress, \
    progress_message, result, last_error, created_at, updated_at, started_at, finished_at";

/// Matches only while `$a` (id) is leased by `$b` (owner); placeholders are filled per query.
fn held(id: usize, owner: usize) -> String {
    format!("id = ${id} AND lease_owner = ${owner} AND state = 'running'")
}

fn from_row(row: &AnyRow) -> Result<JobRow, DbError> {
    Ok(JobRow {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        state: row.try_get("state")?,
        priority: row.try_get("priority")?,
        idempotency_key: row.try_get("idempotency_key")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        run_at: row.try_get("run_at")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        progress: row.try_get("progress")?,
        progress_message: row.try_get("progress_message")?,
        result: row.try_get("result")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn one(row: Option<AnyRow>) -> Result<Option<JobRow>, DbError> {
    row.as_ref().map(from_row).transpose()
}

/// Inserts a queued job. Returns None when the idempotency key is taken (nothing inserted).
pub async fn insert(db: &Db, job: &InsertJob<'_>) -> Result<Option<JobRow>, DbError> {
    let row = sqlx::query(&format!(
        "INSERT INTO jobs (id, kind, payload, state, priority, idempotency_key, attempts, \
             max_attempts, run_at, cancel_requested, progress, created_at, updated_at) \
         VALUES ($1, $2, $3, 'queued', $4, $5, 0, $6, $7, 0, 0, $8, $8) \
         ON CONFLICT (idempotency_key) DO NOTHING \
         RETURNING {COLUMNS}"
    ))
    .bind(job.id)
    .bind(job.kind)
    .bind(job.payload)
    .bind(job.priority)
    .bind(job.idempotency_key)
    .bind(job.max_attempts)
    .bind(job.run_at)
    .bind(job.now)
    .fetch_optional(db.pool())
    .await?;
    one(row)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<JobRow>, DbError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    one(row)
}

pub async fn get_by_idempotency_key(db: &Db, key: &str) -> Result<Option<JobRow>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE idempotency_key = $1"
    ))
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    one(row)
}

/// Newest first (`created_at DESC, id DESC`), so the `(created_at, id)` of the last row is a
/// stable keyset cursor even while new jobs arrive.
pub async fn list(db: &Db, q: &ListJobs<'_>) -> Result<Vec<JobRow>, DbError> {
    let mut conditions = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if q.state.is_some() {
        conditions.push(format!("state = ${}", next()));
    }
    if q.kind.is_some() {
        conditions.push(format!("kind = ${}", next()));
    }
    if q.before.is_some() {
        let (created, id) = (next(), next());
        conditions.push(format!(
            "(created_at < ${created} OR (created_at = ${created} AND id < ${id}))"
        ));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs{filter} ORDER BY created_at DESC, id DESC LIMIT ${}",
        next()
    );
    let mut query = sqlx::query(&sql);
    if let Some(state) = q.state {
        query = query.bind(state);
    }
    if let Some(kind) = q.kind {
        query = query.bind(kind);
    }
    if let Some((created, id)) = q.before {
        query = query.bind(created).bind(id);
    }
    let rows = query.bind(q.limit).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// Jobs per state (states without jobs are absent).
pub async fn counts_by_state(db: &Db) -> Result<Vec<(String, i64)>, DbError> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
        .collect()
}

/// Takes the best ready job for `owner` until `expires_at`: a queued job that is due, or a
/// running one whose lease expired (its worker died). Highest priority first, then the one
/// waiting longest. Counts the attempt.
pub async fn lease(
    db: &Db,
    owner: &str,
    now: i64,
    expires_at: i64,
) -> Result<Option<JobRow>, DbError> {
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!(
        "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, \
             attempts = attempts + 1, started_at = $3, updated_at = $3 \
         WHERE id = (SELECT id FROM jobs \
             WHERE (state = 'queued' AND run_at <= $3) \
                OR (state = 'running' AND lease_expires_at < $3) \
             ORDER BY priority DESC, run_at, id LIMIT 1{lock}) \
         RETURNING {COLUMNS}"
    ))
    .bind(owner)
    .bind(expires_at)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    one(row)
}

/// Progress to record with a heartbeat or on its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressUpdate<'a> {
    pub progress: f64,
    pub message: Option<&'a str>,
}

/// Extends the lease (and records progress). Returns `Some(cancel_requested)` while `owner`
/// holds the lease, None once it does not.
pub async fn heartbeat(
    db: &Db,
    id: &str,
    owner: &str,
    now: i64,
    expires_at: i64,
    progress: Option<ProgressUpdate<'_>>,
) -> Result<Option<bool>, DbError> {
    let (set_progress, first_key) = match progress {
        Some(_) => (", progress = $3, progress_message = $4", 5),
        None => ("", 3),
    };
    let sql = format!(
        "UPDATE jobs SET lease_expires_at = $1, updated_at = $2{set_progress} \
         WHERE {} RETURNING cancel_requested",
        held(first_key, first_key + 1)
    );
    let mut query = sqlx::query(&sql).bind(expires_at).bind(now);
    if let Some(p) = progress {
        query = query.bind(p.progress).bind(p.message);
    }
    let row = query.bind(id).bind(owner).fetch_optional(db.pool()).await?;
    row.map(|r| Ok(r.try_get::<i64, _>("cancel_requested")? != 0))
        .transpose()
}

/// Records progress without touching the lease; false when `owner` no longer holds it.
pub async fn set_progress(
    db: &Db,
    id: &str,
    owner: &str,
    now: i64,
    progress: ProgressUpdate<'_>,
) -> Result<bool, DbError> {
    let done = sqlx::query(&format!(
        "UPDATE jobs SET progress = $1, progress_message = $2, updated_at = $3 WHERE {}",
        held(4, 5)
    ))
    .bind(progress.progress)
    .bind(progress.message)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn complete(
    db: &Db,
    id: &str,
    owner: &str,
    now: i64,
    result: &str,
) -> Result<Option<JobRow>, DbError> {
    let row = sqlx::query(&format!(
        "UPDATE jobs SET state = 'succeeded', result = $1, progress = 100, progress_message = 'done', \
             lease_expires_at = NULL, finished_at = $2, updated_at = $2 \
         WHERE {} RETURNING {COLUMNS}",
        held(3, 4)
    ))
    .bind(result)
    .bind(now)
    .bind(id)
    .bind(owner)
    .fetch_optional(db.pool())
    .await?;
    one(row)
}

/// Records a failed attempt: back to `queued` until `retry_at` while attempts remain,
/// `failed` when they are used up, `cancelled` when a cancel was requested meanwhile.
/// `attempts` must be the count the caller leased with, so a stale decision never applies.
pub async fn fail_attempt(
    db: &Db,
    id: &str,
    owner: &str,
    attempts: i64,
    now: i64,
    retry_at: i64,
    error: &str,
) -> Result<Option<JobRow>, DbError> {
    let row = sqlx::query(&format!(
        "UPDATE jobs SET \
             state = CASE WHEN cancel_requested <> 0 THEN 'cancelled' \
                          WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
             run_at = CASE WHEN cancel_requested = 0 AND attempts < max_attempts \
                           THEN $1 ELSE run_at END, \
             finished_at = CASE WHEN cancel_requested = 0 AND attempts < max_attempts \
                                THEN NULL ELSE $2 END, \
             last_error = $3, lease_expires_at = NULL, updated_at = $2 \
         WHERE {} AND attempts = $6 RETURNING {COLUMNS}",
        held(4, 5)
    ))
    .bind(retry_at)
    .bind(now)
    .bind(error)
    .bind(id)
    .bind(owner)
    .bind(attempts)
    .fetch_optional(db.pool())
    .await?;
    one(row)
}

/// Fails the job for good, whatever attempts remain (a retry cannot help).
pub async fn fail_permanently(
    db: &Db,
    id: &str,
    owner: &str,
    now: i64,
    error: &str,
) -> Result<Option<JobRow>, DbError> {
    let row = sqlx::query(&format!(
        "UPDATE jobs SET state = 'failed', last_error = $1, lease_expires_at = NULL, \
             finished_at = $2, updated_at = $2 \
         WHERE {} RETURNING {COLUMNS}",
        held(3, 4)
    ))
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(owner)
    .fetch_optional(db.pool())
    .await?;
    one(row)
}

/// Gives the job back without counting the attempt, ready for the next worker at once
/// (or `cancelled` when a cancel was requested meanwhile).
pub async fn release(db: &Db, id: &str, owner: &str, now: i64) -> Result<Option<JobRow>, DbError> {
    let row = sqlx::query(&format!(
        "UPDATE jobs SET \
             state = CASE WHEN cancel_requested <> 0 THEN 'cancelled' ELSE 'queued' END, \
             attempts = CASE WHEN cancel_requested <> 0 OR attempts = 0 \
                             THEN attempts ELSE attempts - 1 END, \
             finished_at = CASE WHEN cancel_requested <> 0 THEN $1 ELSE NULL END, \
             lease_expires_at = NULL, updated_at = $1 \
         WHERE {} RETURNING {COLUMNS}",
        held(2, 3)
    ))
    .bind(now)
    .bind(id)
    .bind(owner)
    .fetch_optional(db.pool())
    .await?;
    one(row)
}

/// Ends a running job as `cancelled` (its worker stopped it on request).
pub async fn mark_cancelled(
    db: &Db,
    id: &str,
    owner: &str,
    now: i64,
) -> Result<Option<JobRow>, DbError> {
    let row = sqlx::query(&format!(
        "UPDATE jobs SET state = 'cancelled', lease_expires_at = NULL, \
             finished_at = $1, updated_at = $1 \
         WHERE {} RETURNING {COLUMNS}",
        held(2, 3)
    ))
    .bind(now)
    .bind(id)
    .bind(owner)
    .fetch_optional(db.pool())
    .await?;
    one(row)
}

/// A queued job becomes `cancelled` at once; a running one gets `cancel_requested` for its
/// worker to act on. None when the job is missing or already terminal.
pub async fn request_cancel(db: &Db, id: &str, now: i64) -> Result<Option<JobRow>, DbError> {
    let row = sqlx::query(&format!(
        "UPDATE jobs SET \
             state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, \
             finished_at = CASE WHEN state = 'queued' THEN $1 ELSE finished_at END, \
             cancel_requested = 1, updated_at = $1 \
         WHERE id = $2 AND state IN ('queued', 'running') RETURNING {COLUMNS}"
    ))
    .bind(now)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    one(row)
}
