//! `stream_consumers`: where each streaming pipeline stands, for `/metrics` on every replica.
//!
//! The consumer writes one row per pipeline after each batch; a scrape reads them all. The
//! figures come from the broker (pending, ack pending) at the moment of the write, so a
//! stopped consumer's row keeps its last figures and `updated_at` says how old they are.

use sqlx::Row;

use super::{Db, DbError};

/// One streaming pipeline's position and lag.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConsumerState {
    pub pipeline: String,
    pub stream: String,
    pub consumer: String,
    /// Messages the stream holds that were not yet delivered to the consumer.
    pub pending: i64,
    /// Delivered and not yet acknowledged.
    pub ack_pending: i64,
    /// Stream sequence of the newest landed message.
    pub last_sequence: i64,
    /// Rows this pipeline landed in total, added to after every batch (a consumer killed
    /// between a commit and this record leaves that batch out: a gauge, not a ledger).
    pub landed_total: i64,
    /// Publication to serving of the newest batch, in ms.
    pub visible_lag_ms: Option<i64>,
    /// Epoch ms of the write.
    pub updated_at: i64,
}

/// Records `state`; `landed_total` is added to what is stored.
pub async fn record(db: &Db, state: &ConsumerState) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO stream_consumers (pipeline, stream, consumer, pending, ack_pending, \
           last_sequence, landed_total, visible_lag_ms, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (pipeline) DO UPDATE SET stream = excluded.stream, \
           consumer = excluded.consumer, pending = excluded.pending, \
           ack_pending = excluded.ack_pending, \
           last_sequence = CASE WHEN excluded.last_sequence > stream_consumers.last_sequence \
             THEN excluded.last_sequence ELSE stream_consumers.last_sequence END, \
           landed_total = stream_consumers.landed_total + excluded.landed_total, \
           visible_lag_ms = COALESCE(excluded.visible_lag_ms, stream_consumers.visible_lag_ms), \
           updated_at = excluded.updated_at",
    )
    .bind(&state.pipeline)
    .bind(&state.stream)
    .bind(&state.consumer)
    .bind(state.pending)
    .bind(state.ack_pending)
    .bind(state.last_sequence)
    .bind(state.landed_total)
    .bind(state.visible_lag_ms)
    .bind(state.updated_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Every streaming pipeline's latest state, by pipeline name.
pub async fn all(db: &Db) -> Result<Vec<ConsumerState>, DbError> {
    let rows = sqlx::query(
        "SELECT pipeline, stream, consumer, pending, ack_pending, last_sequence, landed_total, \
           visible_lag_ms, updated_at FROM stream_consumers ORDER BY pipeline",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ConsumerState {
                pipeline: r.try_get("pipeline")?,
                stream: r.try_get("stream")?,
                consumer: r.try_get("consumer")?,
                pending: r.try_get("pending")?,
                ack_pending: r.try_get("ack_pending")?,
                last_sequence: r.try_get("last_sequence")?,
                landed_total: r.try_get("landed_total")?,
                visible_lag_ms: r.try_get("visible_lag_ms")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .collect()
}
