//! `recent_activity`: each user's latest events, for serving.
//!
//! Rows are written inside the transaction that buffers the events (`db::events`), so an
//! acknowledged event is visible to every replica's next read; `event_id` is the key, so a
//! re-sent event is written once. Reads are bounded (the newest `limit` of one user, by an
//! index on `(user_id, ts)`); [`trim`] keeps the table bounded too.

use sqlx::Row;
use sqlx::any::AnyArguments;

use super::{Backend, Db, DbError};

/// One event as serving sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Activity {
    pub event_id: String,
    pub user_id: String,
    pub item_id: String,
    pub event_type: String,
    pub value: Option<f64>,
    /// Epoch ms UTC.
    pub ts: i64,
}

/// Rows per SQLite statement: seven binds each, well under SQLite's bind limit.
const ROWS_PER_STATEMENT: usize = 500;

const POSTGRES_INSERT: &str = "INSERT INTO recent_activity \
     (event_id, user_id, item_id, event_type, value, ts, received_at) \
     SELECT a ->> 'event_id', a ->> 'user_id', a ->> 'item_id', a ->> 'event_type', \
     (a ->> 'value')::float8, (a ->> 'ts')::bigint, $2 FROM json_array_elements($1::json) AS a \
     ON CONFLICT (event_id) DO NOTHING";

fn sqlite_insert_sql(rows: usize) -> String {
    super::sqlite_insert_ignoring_event_ids(
        "INSERT INTO recent_activity (event_id, user_id, item_id, event_type, value, ts, received_at)",
        "(?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
}

/// Writes `rows` inside the caller's transaction (`conn` is the transaction), stamped with
/// the writer's clock as `received_at` (what replicas tail, [`received_since`]).
pub(super) async fn insert_in(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    rows: &[Activity],
) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let received_at = super::now_ms();
    match backend {
        Backend::Postgres => {
            let json = serde_json::to_string(rows).map_err(|e| DbError::Corrupt(e.to_string()))?;
            sqlx::query(POSTGRES_INSERT)
                .bind(json)
                .bind(received_at)
                .execute(&mut *conn)
                .await?;
        }
        Backend::Sqlite => {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = sqlite_insert_sql(chunk.len());
                let mut query = sqlx::query_with(&sql, AnyArguments::default());
                for a in chunk {
                    query = query
                        .bind(a.event_id.as_str())
                        .bind(a.user_id.as_str())
                        .bind(a.item_id.as_str())
                        .bind(a.event_type.as_str())
                        .bind(a.value)
                        .bind(a.ts)
                        .bind(received_at);
                }
                query.execute(&mut *conn).await?;
            }
        }
    }
    Ok(())
}

/// Writes `rows` in a transaction of their own (the streaming source, which acknowledges
/// only after its lake commit, so serving must not wait for that commit).
pub async fn insert(db: &Db, rows: &[Activity]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut tx = db.pool().begin().await?;
    insert_in(&mut tx, db.backend(), rows).await?;
    tx.commit().await?;
    Ok(())
}

/// A position in the table's write order: `received_at`, then `event_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Received {
    pub at: i64,
    pub event_id: String,
}

/// Up to `limit` rows written after `after` in write order (`received_at`, `event_id`), with
/// the position of the last one. Tailing by keyset, so a batch of thousands of rows stamped
/// with one millisecond pages without gaps. The first condition alone bounds the index range
/// (a plain `a > x OR (a = x AND b > y)` made SQLite scan and sort the whole table per poll).
pub async fn received_since(
    db: &Db,
    after: &Received,
    limit: i64,
) -> Result<(Vec<Activity>, Option<Received>), DbError> {
    let rows = sqlx::query(
        "SELECT event_id, user_id, item_id, event_type, value, ts, received_at \
         FROM recent_activity WHERE received_at >= $1 \
         AND (received_at > $2 OR event_id > $3) ORDER BY received_at, event_id LIMIT $4",
    )
    .bind(after.at)
    .bind(after.at)
    .bind(after.event_id.as_str())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let last = match rows.last() {
        Some(r) => Some(Received {
            at: r.try_get("received_at")?,
            event_id: r.try_get("event_id")?,
        }),
        None => None,
    };
    let activities = rows
        .iter()
        .map(decode)
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok((activities, last))
}

/// Every row of the next `users` users after `after` in user id order (a replica loading its
/// copy at start); complete per user, so each can be served from memory at once.
pub async fn users_after(db: &Db, after: &str, users: i64) -> Result<Vec<Activity>, DbError> {
    let rows = sqlx::query(
        "SELECT event_id, user_id, item_id, event_type, value, ts FROM recent_activity \
         WHERE user_id IN (SELECT DISTINCT user_id FROM recent_activity WHERE user_id > $1 \
         ORDER BY user_id LIMIT $2) ORDER BY user_id",
    )
    .bind(after)
    .bind(users)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(decode).collect()
}

/// The newest `limit` events of `user_id`, newest first.
pub async fn recent(db: &Db, user_id: &str, limit: i64) -> Result<Vec<Activity>, DbError> {
    let rows = sqlx::query(
        "SELECT event_id, user_id, item_id, event_type, value, ts FROM recent_activity \
         WHERE user_id = $1 ORDER BY ts DESC, event_id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(decode).collect()
}

fn decode(r: &sqlx::any::AnyRow) -> Result<Activity, DbError> {
    Ok(Activity {
        event_id: r.try_get("event_id")?,
        user_id: r.try_get("user_id")?,
        item_id: r.try_get("item_id")?,
        event_type: r.try_get("event_type")?,
        value: r.try_get("value")?,
        ts: r.try_get("ts")?,
    })
}

/// The users written to since `since` that hold more than `keep` rows (reads only, no write
/// lock): the candidates by the `received_at` index, then their counts by `(user_id, ts)`.
async fn over_bound(db: &Db, keep: i64, since: i64) -> Result<Vec<String>, DbError> {
    if since <= 0 {
        return Ok(sqlx::query_scalar(
            "SELECT user_id FROM recent_activity GROUP BY user_id HAVING COUNT(*) > $1",
        )
        .bind(keep)
        .fetch_all(db.pool())
        .await?);
    }
    let written: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT user_id FROM recent_activity WHERE received_at >= $1")
            .bind(since)
            .fetch_all(db.pool())
            .await?;
    let mut over = Vec::new();
    for users in written.chunks(TRIM_USERS) {
        let sql = format!(
            "SELECT user_id FROM recent_activity WHERE user_id IN ({}) \
             GROUP BY user_id HAVING COUNT(*) > ${}",
            numbered(users.len()),
            users.len() + 1
        );
        let mut query = sqlx::query_scalar(&sql);
        for u in users {
            query = query.bind(u.as_str());
        }
        over.extend(query.bind(keep).fetch_all(db.pool()).await?);
    }
    Ok(over)
}

/// `$1, $2, ..., $n`: placeholders in order of first use (SQLite binds `$n` by appearance),
/// for an `IN (...)` list followed by `$n+1`.
fn numbered(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows one trimming statement deletes at most, and users one statement trims: small write
/// transactions, so a trim never holds SQLite's single write lock long enough to stall
/// ingestion (a whole-table window delete over two million rows held it for three seconds).
const TRIM_CHUNK: i64 = 5_000;
const TRIM_USERS: usize = 200;

/// Deletes events older than `before` (epoch ms) and, per user written to since `since`
/// (`received_at`; 0: every user), all but the newest `keep`, in small transactions. Returns
/// how many rows went. Only users with new rows can have gone over their bound, so a trim
/// after the first reads the rows written since the last one, not the whole table (a
/// `GROUP BY` over two million rows every minute showed up in serving's p99).
pub async fn trim(db: &Db, before: i64, keep: i64, since: i64) -> Result<u64, DbError> {
    let mut removed = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM recent_activity WHERE event_id IN \
             (SELECT event_id FROM recent_activity WHERE ts < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(TRIM_CHUNK)
        .execute(db.pool())
        .await?
        .rows_affected();
        removed += n;
        if n < TRIM_CHUNK as u64 {
            break;
        }
    }
    for users in over_bound(db, keep, since).await?.chunks(TRIM_USERS) {
        let sql = format!(
            "DELETE FROM recent_activity WHERE event_id IN (\
               SELECT event_id FROM (\
                 SELECT event_id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts DESC, event_id DESC) AS rn \
                 FROM recent_activity WHERE user_id IN ({})) ranked \
               WHERE rn > ${})",
            numbered(users.len()),
            users.len() + 1
        );
        let mut query = sqlx::query(&sql);
        for u in users {
            query = query.bind(u.as_str());
        }
        query = query.bind(keep);
        removed += query.execute(db.pool()).await?.rows_affected();
    }
    Ok(removed)
}
