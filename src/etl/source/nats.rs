//! A NATS JetStream stream as a pipeline source (`type = "nats"`): a durable pull consumer,
//! one lake commit per batch of messages, acknowledgements only after that commit.
//!
//! Why this order gives exactly once under `kill -9`:
//! - a message is acknowledged after the commit that holds its row, so a consumer killed
//!   before the commit leaves it unacknowledged and JetStream delivers it again after
//!   `ack_wait_seconds`: nothing is lost;
//! - a consumer killed between the commit and its acknowledgements gets those messages again,
//!   marked as redeliveries (`delivered > 1`). A batch holding any redelivery is landed with
//!   the check against the rows already in the lake (the pipeline's dedup key, `event_id` for
//!   interactions), and its commit key `nats:<pipeline>:<first>-<last>` (stream sequences)
//!   makes a batch fetched again whole publish nothing: nothing lands twice;
//! - a batch of first deliveries skips that check (a message never delivered before cannot
//!   have landed), so a batch costs the same however large today's partition has grown. The
//!   same event published twice as two messages is dropped by JetStream's duplicate window
//!   when publishers set `Nats-Msg-Id` to the event id, and within a batch by the landing.
//!
//! Serving does not wait for the lake: interactions go to the recent-activity state as soon as
//! a batch is converted, before its commit, so every replica's next recommendation sees them.
//! Messages the pipeline's rules refuse (not JSON, not UTF-8, a bad field) are quarantined
//! with their bytes and the reason, and acknowledged with the batch.

use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::read::push_json_object;
use crate::app::App;
use crate::db::activity::Activity;
use crate::db::streams::ConsumerState;
use crate::etl::EtlError;
use crate::etl::convert::{Converter, Rejection};
use crate::etl::landing::{Landing, LandingOutcome, QuarantinedRow};
use crate::etl::schema::Dataset;
use crate::etl::spec::{PipelineSpec, SourceSpec};
use crate::progress::Progress;

const DEFAULT_BATCH_ROWS: usize = 1000;
const DEFAULT_MAX_WAIT_MS: u64 = 1000;
const DEFAULT_ACK_WAIT_SECONDS: u64 = 30;
/// A follower reconnects after this long when the server or the lake fails.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Where a NATS pipeline reads, with the defaults filled in.
#[derive(Debug, Clone)]
pub struct NatsSource {
    pub url: String,
    pub stream: String,
    pub subjects: Option<Vec<String>>,
    pub filter_subject: Option<String>,
    pub consumer: String,
    pub batch_rows: usize,
    pub max_wait: Duration,
    pub ack_wait: Duration,
}

impl NatsSource {
    /// The source of `spec`, when it is a NATS pipeline.
    pub fn of(spec: &PipelineSpec) -> Option<NatsSource> {
        let SourceSpec::Nats {
            url,
            stream,
            subjects,
            filter_subject,
            consumer,
            batch_rows,
            max_wait_ms,
            ack_wait_seconds,
        } = &spec.source
        else {
            return None;
        };
        Some(NatsSource {
            url: url.clone(),
            stream: stream.clone(),
            subjects: subjects.clone(),
            filter_subject: filter_subject.clone(),
            consumer: consumer
                .clone()
                .unwrap_or_else(|| format!("recast-{}", spec.name)),
            batch_rows: batch_rows.unwrap_or(DEFAULT_BATCH_ROWS),
            max_wait: Duration::from_millis(max_wait_ms.unwrap_or(DEFAULT_MAX_WAIT_MS)),
            ack_wait: Duration::from_secs(ack_wait_seconds.unwrap_or(DEFAULT_ACK_WAIT_SECONDS)),
        })
    }

    fn location(&self) -> String {
        format!("nats stream `{}` at {}", self.stream, self.url)
    }
}

/// What consuming did, over all its batches.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Consumed {
    pub batches: u64,
    pub messages: u64,
    pub bytes_read: u64,
    /// Messages delivered more than once (after a consumer died before acknowledging).
    pub redelivered: u64,
    pub landing: LandingOutcome,
    /// Stream sequence of the newest message taken.
    pub last_sequence: u64,
    /// Publication to serving of the newest batch's oldest message, in ms.
    pub visible_lag_ms: Option<i64>,
}

impl Consumed {
    fn add(&mut self, batch: Consumed) {
        self.batches += batch.batches;
        self.messages += batch.messages;
        self.bytes_read += batch.bytes_read;
        self.redelivered += batch.redelivered;
        self.landing.merge(batch.landing);
        self.last_sequence = self.last_sequence.max(batch.last_sequence);
        self.visible_lag_ms = batch.visible_lag_ms.or(self.visible_lag_ms);
    }
}

/// A connected durable consumer.
struct Connection {
    client: async_nats::Client,
    consumer: consumer::PullConsumer,
}

async fn connect(source: &NatsSource) -> Result<Connection, EtlError> {
    let fail = |e: &dyn std::fmt::Display| EtlError::source(source.location(), e);
    let url = super::sql::expand_env(&source.url)?;
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(url.as_str())
        .await
        .map_err(|e| fail(&e))?;
    let js = jetstream::new(client.clone());
    let stream = match &source.subjects {
        Some(subjects) => js
            .get_or_create_stream(stream::Config {
                name: source.stream.clone(),
                subjects: subjects.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| fail(&e))?,
        None => js.get_stream(&source.stream).await.map_err(|e| fail(&e))?,
    };
    let consumer = stream
        .get_or_create_consumer(
            &source.consumer,
            consumer::pull::Config {
                durable_name: Some(source.consumer.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: source.ack_wait,
                filter_subject: source.filter_subject.clone().unwrap_or_default(),
                max_ack_pending: (source.batch_rows * 4).max(1000) as i64,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail(&e))?;
    Ok(Connection { client, consumer })
}

/// Takes the next batch: up to `batch_rows` messages, waiting at most `max_wait` for them.
async fn next_batch(
    conn: &Connection,
    source: &NatsSource,
) -> Result<Vec<jetstream::Message>, EtlError> {
    let fail = |e: &dyn std::fmt::Display| EtlError::source(source.location(), e);
    let mut batch = conn
        .consumer
        .batch()
        .max_messages(source.batch_rows)
        .expires(source.max_wait)
        .messages()
        .await
        .map_err(|e| fail(&e))?;
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        messages.push(message.map_err(|e| fail(&e))?);
    }
    Ok(messages)
}

/// A drain (`recast pipeline run`, the scheduler, `POST /v1/jobs`): batches until the consumer
/// has nothing more for now, or `max_batches`.
pub async fn drain(
    app: &App,
    spec: &PipelineSpec,
    max_batches: usize,
    progress: &dyn Progress,
) -> Result<Consumed, EtlError> {
    let source = NatsSource::of(spec).expect("a nats pipeline");
    let conn = connect(&source).await?;
    let mut total = Consumed::default();
    for _ in 0..max_batches.max(1) {
        let messages = next_batch(&conn, &source).await?;
        if messages.is_empty() {
            break;
        }
        let batch = land_batch(app, spec, &source, &conn, messages).await?;
        record_state(app, spec, &source, &conn, &batch).await;
        total.add(batch);
        progress.report(
            0.0,
            &format!("{} messages landed from {}", total.messages, source.stream),
        );
    }
    Ok(total)
}

/// Follows the stream until `stop` (`recast serve`, `recast pipeline run --follow`): batch after
/// batch, reconnecting after failures; a run report every `report_every` that moved rows.
pub async fn follow(app: App, spec: PipelineSpec, report_every: Duration, stop: CancellationToken) {
    let source = NatsSource::of(&spec).expect("a nats pipeline");
    tracing::info!(pipeline = %spec.name, stream = %source.stream, consumer = %source.consumer,
        "following the stream");
    while !stop.is_cancelled() {
        if let Err(e) = follow_once(&app, &spec, &source, report_every, &stop).await {
            tracing::error!(pipeline = %spec.name, error = %e,
                "stream consumer failed; reconnecting");
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
    }
}

/// One connection's life: batches until an error or `stop`. A batch in flight when `stop`
/// fires is finished (landed and acknowledged; a fetch waits at most `max_wait_ms`), then the
/// period's run report is stored.
async fn follow_once(
    app: &App,
    spec: &PipelineSpec,
    source: &NatsSource,
    report_every: Duration,
    stop: &CancellationToken,
) -> Result<(), EtlError> {
    let conn = connect(source).await?;
    let mut period = Consumed::default();
    let mut period_start = (crate::db::now_ms(), Instant::now());
    while !stop.is_cancelled() {
        let messages = next_batch(&conn, source).await?;
        if messages.is_empty() {
            // Idle: the lag figures still follow the server (acknowledgements of the last
            // batch it has processed since, messages published meanwhile).
            record_state(app, spec, source, &conn, &Consumed::default()).await;
        } else {
            let batch = land_batch(app, spec, source, &conn, messages).await?;
            record_state(app, spec, source, &conn, &batch).await;
            period.add(batch);
        }
        if period_start.1.elapsed() >= report_every && period.messages > 0 {
            store_report(app, spec, period_start.0, &period).await;
            period = Consumed::default();
            period_start = (crate::db::now_ms(), Instant::now());
        }
    }
    if period.messages > 0 {
        store_report(app, spec, period_start.0, &period).await;
    }
    Ok(())
}

/// Converts, shows to serving, lands and commits one batch, then acknowledges it.
async fn land_batch(
    app: &App,
    spec: &PipelineSpec,
    source: &NatsSource,
    conn: &Connection,
    messages: Vec<jetstream::Message>,
) -> Result<Consumed, EtlError> {
    let received = crate::db::now_ms();
    let mut parsed = Parsed::new(spec);
    for message in &messages {
        parsed.push(source, message)?;
    }
    let rows = parsed.finish();
    if spec.dataset == Dataset::Interactions {
        let fresh = activities(&rows);
        crate::db::activity::insert(&app.db, &fresh).await?;
        app.activity.apply(fresh);
    }
    let visible_lag_ms = parsed.oldest_published_ms.map(|p| received - p);
    let mut landing = Landing::open(app, spec, parsed.redelivered > 0).await?;
    let filled = async {
        for batch in rows {
            landing.push(batch, &source.stream).await?;
        }
        landing
            .quarantine(std::mem::take(&mut parsed.refused))
            .await
    }
    .await;
    if let Err(e) = filled {
        if let Err(abort) = landing.abort().await {
            tracing::warn!(error = %abort, "cannot abort the stream landing; the sweep will");
        }
        return Err(e);
    }
    let key = format!(
        "nats:{}:{}-{}",
        spec.name, parsed.first_seq, parsed.last_seq
    );
    let outcome = landing.commit(&key).await?;
    acknowledge(conn, source, &messages).await?;
    tracing::debug!(pipeline = %spec.name, messages = messages.len(),
        landed = outcome.rows_landed, lag_ms = ?visible_lag_ms, "stream batch landed");
    Ok(Consumed {
        batches: 1,
        messages: messages.len() as u64,
        bytes_read: parsed.bytes,
        redelivered: parsed.redelivered,
        landing: outcome,
        last_sequence: parsed.last_seq,
        visible_lag_ms,
    })
}

/// Acknowledges every message and waits until the server has them.
async fn acknowledge(
    conn: &Connection,
    source: &NatsSource,
    messages: &[jetstream::Message],
) -> Result<(), EtlError> {
    let fail = |e: &dyn std::fmt::Display| EtlError::source(source.location(), e);
    for message in messages {
        message.ack().await.map_err(|e| fail(&*e))?;
    }
    conn.client.flush().await.map_err(|e| fail(&e))
}

/// A batch's messages, converted.
struct Parsed {
    converter: Converter,
    names: Vec<String>,
    batches: Vec<RecordBatch>,
    refused: Vec<QuarantinedRow>,
    first_seq: u64,
    last_seq: u64,
    redelivered: u64,
    bytes: u64,
    oldest_published_ms: Option<i64>,
}

impl Parsed {
    fn new(spec: &PipelineSpec) -> Parsed {
        let converter = Converter::new(spec);
        Parsed {
            names: converter.source_columns().to_vec(),
            converter,
            batches: Vec::new(),
            refused: Vec::new(),
            first_seq: 0,
            last_seq: 0,
            redelivered: 0,
            bytes: 0,
            oldest_published_ms: None,
        }
    }

    fn push(&mut self, source: &NatsSource, message: &jetstream::Message) -> Result<(), EtlError> {
        let info = message
            .info()
            .map_err(|e| EtlError::source(source.location(), e))?;
        let seq = info.stream_sequence;
        self.first_seq = if self.first_seq == 0 {
            seq
        } else {
            self.first_seq.min(seq)
        };
        self.last_seq = self.last_seq.max(seq);
        self.redelivered += u64::from(info.delivered > 1);
        self.bytes += message.payload.len() as u64;
        let published = (info.published.unix_timestamp_nanos() / 1_000_000) as i64;
        self.oldest_published_ms = Some(
            self.oldest_published_ms
                .map_or(published, |o| o.min(published)),
        );
        let converter = &mut self.converter;
        if let Err(r) = convert(converter, &self.names, &message.payload) {
            self.refused
                .push(quarantined(source, seq, r, &message.payload));
        }
        if converter.pending_rows() >= 8192
            && let Some(batch) = converter.finish_batch()
        {
            self.batches.push(batch);
        }
        Ok(())
    }

    fn finish(&mut self) -> Vec<RecordBatch> {
        if let Some(batch) = self.converter.finish_batch() {
            self.batches.push(batch);
        }
        std::mem::take(&mut self.batches)
    }
}

/// One message through the pipeline's column rules.
fn convert(converter: &mut Converter, names: &[String], payload: &[u8]) -> Result<(), Rejection> {
    let text = std::str::from_utf8(payload)
        .map_err(|e| Rejection::malformed(format!("not UTF-8: {e}")))?;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(object)) => push_json_object(converter, names, &object),
        Ok(_) => Err(Rejection::malformed("not a JSON object")),
        Err(e) => Err(Rejection::malformed(format!("invalid JSON: {e}"))),
    }
}

/// The quarantine row of a refused message: its bytes as text, or hex-encoded when they are
/// not UTF-8 (said in the detail), so nothing of what arrived is lost.
fn quarantined(source: &NatsSource, seq: u64, r: Rejection, payload: &[u8]) -> QuarantinedRow {
    let (raw, hex) = crate::etl::landing::raw_text(payload);
    let detail = if hex {
        format!("{} (raw holds the bytes hex-encoded)", r.detail)
    } else {
        r.detail
    };
    QuarantinedRow {
        source: format!("nats:{}", source.stream),
        line: Some(seq as i64),
        reason: r.reason.to_string(),
        field: r.field,
        detail,
        raw,
    }
}

/// What serving reads of converted interaction rows.
fn activities(batches: &[RecordBatch]) -> Vec<Activity> {
    let mut out = Vec::new();
    for batch in batches {
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .map(|c| c.as_string::<i32>().clone())
        };
        let (Some(event_id), Some(user), Some(item), Some(kind)) = (
            text("event_id"),
            text("user_id"),
            text("item_id"),
            text("event_type"),
        ) else {
            continue;
        };
        let value = batch
            .column_by_name("value")
            .map(|c| c.as_primitive::<Float64Type>().clone());
        let Some(ts) = batch
            .column_by_name("ts")
            .map(|c| c.as_primitive::<TimestampMicrosecondType>().clone())
        else {
            continue;
        };
        for i in 0..batch.num_rows() {
            out.push(Activity {
                event_id: event_id.value(i).to_string(),
                user_id: user.value(i).to_string(),
                item_id: item.value(i).to_string(),
                event_type: kind.value(i).to_string(),
                value: value
                    .as_ref()
                    .and_then(|v| (!v.is_null(i)).then(|| v.value(i))),
                ts: ts.value(i) / 1000,
            });
        }
    }
    out
}

/// Writes the consumer's position and lag after `batch` for `/metrics`; a failure is logged,
/// not fatal.
async fn record_state(
    app: &App,
    spec: &PipelineSpec,
    source: &NatsSource,
    conn: &Connection,
    batch: &Consumed,
) {
    let mut consumer = conn.consumer.clone();
    let (pending, ack_pending) = match consumer.info().await {
        Ok(info) => (info.num_pending as i64, info.num_ack_pending as i64),
        Err(e) => {
            tracing::warn!(error = %e, "consumer info unavailable");
            return;
        }
    };
    let state = ConsumerState {
        pipeline: spec.name.clone(),
        stream: source.stream.clone(),
        consumer: source.consumer.clone(),
        pending,
        ack_pending,
        last_sequence: batch.last_sequence as i64,
        landed_total: batch.landing.rows_landed as i64,
        visible_lag_ms: batch.visible_lag_ms,
        updated_at: crate::db::now_ms(),
    };
    if let Err(e) = crate::db::streams::record(&app.db, &state).await {
        tracing::warn!(error = %e, "consumer state not stored");
    }
}

/// The run report of a follower's period (`recast pipeline runs NAME`).
async fn store_report(app: &App, spec: &PipelineSpec, started_ms: i64, period: &Consumed) {
    crate::etl::report::store_background_run(app, &spec.name, started_ms, Ok(report(period))).await;
}

/// The run report figures of consumed batches.
pub fn report(consumed: &Consumed) -> crate::etl::report::RunReport {
    let mut report = crate::etl::report::RunReport {
        rows_read: consumed.messages,
        bytes_read: consumed.bytes_read,
        ..Default::default()
    };
    report.absorb(consumed.landing.clone());
    report
}
