//! Repository for `event_buffer` and `event_flushes`: the durable buffer behind
//! `POST /v1/events` and the claims that move it into the lake.
//!
//! The buffer is append-only. A claim is a range of `seq`: from the highest range claimed so
//! far up to the highest `seq` buffered, at most `n` values wide (so at most `n` rows),
//! recorded as one `event_flushes` row. Making it takes two index lookups and one insert, so
//! the lock it needs (below) is held for next to no time. That is exact only if
//! no insert is in flight while the claim is made (an insert that took a lower `seq` and
//! commits after the claim would be skipped for ever), so:
//!
//! - SQLite: the claim is one `INSERT .. SELECT` statement, which takes the database's single
//!   write lock before it reads; no insert can be half done meanwhile. `seq` is
//!   `AUTOINCREMENT`, so it only grows.
//! - Postgres: identity values are handed out at insert time, not at commit, so every insert
//!   transaction holds a shared advisory lock and a claim takes it exclusively: the claim waits
//!   for inserts in flight, and sees every `seq` handed out before it committed.
//!
//! `from_seq` is unique, so even a broken lock protocol could not make two claims cover the
//! same rows: the second one would fail. Why ranges instead of stamping each row with its
//! claim: a stamp rewrites every event (about 3 µs a row on SQLite, measured) while holding the
//! only write lock, which stalls ingestion; a range claim writes one row.
//!
//! SQLite has one writer at a time, and a connection that finds the write lock taken sleeps
//! in SQLite's busy handler in growing steps (1, 2, 5, ... 100 ms): under steady ingest that
//! sleeping is what the latency tail is made of. So this process's buffer writers (requests
//! and flushers) take turns on an async mutex first and are woken in order; other processes
//! and other tables still meet the busy timeout.

use std::sync::OnceLock;

use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::sync::{Mutex, MutexGuard};

use super::{Backend, Db, DbError};

/// Rows per SQLite `INSERT` statement: 3 bind values a row stay far below its 32,766
/// parameters, and a fixed size keeps the prepared statement cached.
const ROWS_PER_STATEMENT: usize = 1000;

/// Postgres advisory lock between inserts (shared) and claims (exclusive).
const CLAIM_LOCK: i64 = 0x7265_6361_7374_0001;

static SQLITE_WRITER: Mutex<()> = Mutex::const_new(());

/// This process's turn to write the buffer (SQLite only; Postgres has row locks).
async fn write_turn(db: &Db) -> Option<MutexGuard<'static, ()>> {
    match db.backend() {
        Backend::Sqlite => Some(SQLITE_WRITER.lock().await),
        Backend::Postgres => None,
    }
}

/// One event to buffer: its id and its canonical JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: String,
    pub payload: String,
    /// The event as serving reads it (`recent_activity`), written in the same transaction.
    pub activity: super::activity::Activity,
}

/// A buffered event as a flush sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferedEvent {
    pub seq: i64,
    pub event_id: String,
    pub payload: String,
}

/// A claimed range of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub flush_id: String,
    /// The claim covers `from_seq < seq <= to_seq` (there may be gaps: inserts that lost a
    /// conflict still used up their `seq` on Postgres).
    pub from_seq: i64,
    pub to_seq: i64,
}

impl Claim {
    /// The width of the range: an upper bound of its rows.
    pub fn width(&self) -> i64 {
        self.to_seq - self.from_seq
    }
}

fn buffered(row: &AnyRow) -> Result<BufferedEvent, DbError> {
    Ok(BufferedEvent {
        seq: row.try_get("seq")?,
        event_id: row.try_get("event_id")?,
        payload: row.try_get("payload")?,
    })
}

fn claim_of(row: &AnyRow) -> Result<Claim, DbError> {
    Ok(Claim {
        flush_id: row.try_get("flush_id")?,
        from_seq: row.try_get("from_seq")?,
        to_seq: row.try_get("to_seq")?,
    })
}

fn sqlite_insert_sql(rows: usize) -> String {
    super::sqlite_insert_ignoring_event_ids(
        "INSERT INTO event_buffer (event_id, payload, received_at)",
        "(?, ?, ?)",
        rows,
    )
}

/// Postgres takes the whole batch as one JSON array parameter: one bind instead of three a
/// row, unpacked by the server. `json` (not `jsonb`) keeps each element's text as sent.
const POSTGRES_INSERT: &str = "INSERT INTO event_buffer (event_id, payload, received_at) \
     SELECT e ->> 'event_id', e::text, $2 FROM json_array_elements($1::json) AS e \
     ON CONFLICT (event_id) DO NOTHING";

/// Inserts `events` in one transaction; returns how many were new (the rest had an
/// `event_id` already buffered). When this returns `Ok`, the rows are committed.
pub async fn insert_batch(db: &Db, events: &[NewEvent], received_at: i64) -> Result<u64, DbError> {
    if events.is_empty() {
        return Ok(0);
    }
    match db.backend() {
        Backend::Sqlite => insert_sqlite(db, events, received_at).await,
        Backend::Postgres => insert_postgres(db, events, received_at).await,
    }
}

async fn insert_postgres(db: &Db, events: &[NewEvent], received_at: i64) -> Result<u64, DbError> {
    let mut array =
        String::with_capacity(2 + events.iter().map(|e| e.payload.len() + 1).sum::<usize>());
    array.push('[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            array.push(',');
        }
        array.push_str(&e.payload);
    }
    array.push(']');
    let mut tx = db.pool().begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
        .bind(CLAIM_LOCK)
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query(POSTGRES_INSERT)
        .bind(array)
        .bind(received_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    super::activity::insert_in(&mut tx, Backend::Postgres, &activities(events)).await?;
    tx.commit().await?;
    Ok(inserted)
}

fn activities(events: &[NewEvent]) -> Vec<super::activity::Activity> {
    events.iter().map(|e| e.activity.clone()).collect()
}

async fn insert_sqlite(db: &Db, events: &[NewEvent], received_at: i64) -> Result<u64, DbError> {
    static FULL: OnceLock<String> = OnceLock::new();
    let full = FULL.get_or_init(|| sqlite_insert_sql(ROWS_PER_STATEMENT));
    let _turn = write_turn(db).await;
    let mut tx = db.pool().begin().await?;
    let mut inserted = 0;
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let partial;
        let sql = if chunk.len() == ROWS_PER_STATEMENT {
            full.as_str()
        } else {
            partial = sqlite_insert_sql(chunk.len());
            partial.as_str()
        };
        // Only the full-size statement is worth a slot in the prepared-statement cache.
        let mut query = sqlx::query(sql).persistent(chunk.len() == ROWS_PER_STATEMENT);
        for e in chunk {
            query = query
                .bind(e.event_id.as_str())
                .bind(e.payload.as_str())
                .bind(received_at);
        }
        inserted += query.execute(&mut *tx).await?.rows_affected();
    }
    super::activity::insert_in(&mut tx, Backend::Sqlite, &activities(events)).await?;
    tx.commit().await?;
    Ok(inserted)
}

/// The end of the claimed part of the buffer.
const CLAIMED_UP_TO: &str = "(SELECT COALESCE(MAX(to_seq), 0) FROM event_flushes)";

/// Unclaimed rows, counting no further than `cap` (cheap enough to poll).
pub async fn pending(db: &Db, cap: i64) -> Result<i64, DbError> {
    let row = sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM \
         (SELECT seq FROM event_buffer WHERE seq > {CLAIMED_UP_TO} ORDER BY seq LIMIT $1) AS p"
    ))
    .bind(cap)
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get("n")?)
}

/// Claims the unclaimed rows, at most `max_rows` `seq` values wide, under `flush_id`; None
/// when there are none.
pub async fn claim(
    db: &Db,
    flush_id: &str,
    max_rows: i64,
    now: i64,
) -> Result<Option<Claim>, DbError> {
    let _turn = write_turn(db).await;
    let mut tx = db.pool().begin().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    let row = sqlx::query(&format!(
        "INSERT INTO event_flushes (flush_id, from_seq, to_seq, claimed_at) \
         SELECT $1, f.from_seq, \
             CASE WHEN m.max_seq < f.from_seq + $2 THEN m.max_seq ELSE f.from_seq + $2 END, $3 \
         FROM (SELECT {CLAIMED_UP_TO} AS from_seq) AS f, \
             (SELECT MAX(seq) AS max_seq FROM event_buffer) AS m \
         WHERE m.max_seq > f.from_seq \
         RETURNING flush_id, from_seq, to_seq"
    ))
    .bind(flush_id)
    .bind(max_rows)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let claim = row.as_ref().map(claim_of).transpose()?;
    tx.commit().await?;
    Ok(claim)
}

/// The rows of a claim, in arrival order.
pub async fn claim_rows(db: &Db, claim: &Claim) -> Result<Vec<BufferedEvent>, DbError> {
    let rows = sqlx::query(
        "SELECT seq, event_id, payload FROM event_buffer \
         WHERE seq > $1 AND seq <= $2 ORDER BY seq",
    )
    .bind(claim.from_seq)
    .bind(claim.to_seq)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(buffered).collect()
}

/// Claims made before `stale_before` and never marked flushed: their flusher died (or
/// stalls). Oldest first.
pub async fn stale_claims(db: &Db, stale_before: i64) -> Result<Vec<Claim>, DbError> {
    let rows = sqlx::query(
        "SELECT flush_id, from_seq, to_seq FROM event_flushes \
         WHERE flushed_at IS NULL AND claimed_at < $1 ORDER BY claimed_at, from_seq",
    )
    .bind(stale_before)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(claim_of).collect()
}

/// Takes over a stale claim by renewing it, only while it is still stale; false when another
/// flusher renewed or finished it first.
pub async fn take_over(
    db: &Db,
    flush_id: &str,
    stale_before: i64,
    now: i64,
) -> Result<bool, DbError> {
    let _turn = write_turn(db).await;
    let renewed = sqlx::query(
        "UPDATE event_flushes SET claimed_at = $1 \
         WHERE flush_id = $2 AND flushed_at IS NULL AND claimed_at < $3",
    )
    .bind(now)
    .bind(flush_id)
    .bind(stale_before)
    .execute(db.pool())
    .await?;
    Ok(renewed.rows_affected() > 0)
}

/// Records that the claim is in the lake; false when it already was.
pub async fn mark_flushed(db: &Db, flush_id: &str, now: i64) -> Result<bool, DbError> {
    let _turn = write_turn(db).await;
    let done = sqlx::query(
        "UPDATE event_flushes SET flushed_at = $1 WHERE flush_id = $2 AND flushed_at IS NULL",
    )
    .bind(now)
    .bind(flush_id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes up to `max_claims` claims flushed before `flushed_before`, with their rows (one
/// transaction each); returns the rows deleted. `seq` never goes back, so later claims never
/// reach into a deleted range.
pub async fn prune(db: &Db, flushed_before: i64, max_claims: i64) -> Result<u64, DbError> {
    let expired = sqlx::query(
        "SELECT flush_id, from_seq, to_seq FROM event_flushes \
         WHERE flushed_at IS NOT NULL AND flushed_at < $1 ORDER BY from_seq LIMIT $2",
    )
    .bind(flushed_before)
    .bind(max_claims)
    .fetch_all(db.pool())
    .await?;
    let mut deleted = 0;
    for row in &expired {
        let claim = claim_of(row)?;
        let _turn = write_turn(db).await;
        let mut tx = db.pool().begin().await?;
        deleted += sqlx::query("DELETE FROM event_buffer WHERE seq > $1 AND seq <= $2")
            .bind(claim.from_seq)
            .bind(claim.to_seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM event_flushes WHERE flush_id = $1")
            .bind(&claim.flush_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(deleted)
}

/// Row counts by state, for tests and operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferCounts {
    /// Waiting for a flush.
    pub unclaimed: i64,
    /// Claimed, not yet recorded as flushed.
    pub in_flight: i64,
    /// In the lake; kept for the idempotency window.
    pub flushed: i64,
}

pub async fn counts(db: &Db) -> Result<BufferCounts, DbError> {
    let row = sqlx::query(&format!(
        "SELECT \
           (SELECT COUNT(*) FROM event_buffer WHERE seq > {CLAIMED_UP_TO}) AS u, \
           (SELECT COUNT(*) FROM event_buffer b JOIN event_flushes f \
               ON b.seq > f.from_seq AND b.seq <= f.to_seq WHERE f.flushed_at IS NULL) AS i, \
           (SELECT COUNT(*) FROM event_buffer b JOIN event_flushes f \
               ON b.seq > f.from_seq AND b.seq <= f.to_seq WHERE f.flushed_at IS NOT NULL) AS f"
    ))
    .fetch_one(db.pool())
    .await?;
    Ok(BufferCounts {
        unclaimed: row.try_get("u")?,
        in_flight: row.try_get("i")?,
        flushed: row.try_get("f")?,
    })
}
