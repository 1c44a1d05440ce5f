//! Event ingestion: `POST /v1/events` batches into a durable buffer, and the flush that moves
//! the buffer into the `interactions` dataset.
//!
//! Why a buffer in the metadata DB instead of writing Parquet per request: a request must be
//! acknowledged only once its events are durable, in milliseconds, and a Parquet file per
//! request would bury the lake in tiny files. A committed DB row is durable (SQLite runs WAL
//! with `synchronous=FULL`; Postgres commits are durable), so an acknowledged event survives
//! `kill -9`; the flush then writes few, large files.
//!
//! Exactly once, end to end:
//!
//! - **Ingest** is idempotent by `event_id`: the buffer's unique key turns a re-sent event
//!   into a counted duplicate. The window is [`IDEMPOTENCY_WINDOW`] (7 days): flushed rows
//!   are pruned after it, and an `event_id` re-sent later than that lands again.
//! - **Flush** claims the next range of the buffer under a fresh `flush_id`, lands it with
//!   the lake commit key `events:<flush_id>`, then records the claim flushed. A flusher that
//!   dies after claiming leaves a claim without `flushed_at`; once it is
//!   [`FlushOptions::stale_after`] old, any flusher takes it over and lands the *same rows
//!   under the same key*. Had the dead flusher committed, the lake commit log answers
//!   "already committed" and nothing lands twice; had it not, the rows land now. Claims are
//!   atomic and never overlap (see `db::events`), so any number of flushers (replicas, the
//!   flusher loop, `recast pipeline run events`) can run at once.
//!
//! Validation happens at ingest, per event, so a client learns at once which events were
//! refused and why; the flush runs the events pipeline's converter too, so the pipeline's
//! column rules apply and a row they refuse is quarantined rather than lost.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::EtlError;
use super::convert::{Converter, Rejection};
use super::landing::{Landing, LandingOutcome, QuarantinedRow};
use super::report::RunReport;
use super::schema::{Dataset, EVENT_TYPES};
use super::spec::{PipelineSpec, SourceSpec};
use crate::app::App;
use crate::db::activity_cache::ActivityCache;
use crate::db::events::{self as repo, BufferedEvent, Claim, NewEvent};
use crate::db::{Db, DbError, now_ms};
use crate::progress::Progress;

/// Largest batch `POST /v1/events` takes.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;
/// Longest id (and session / recommendation id), in characters.
pub const MAX_ID_CHARS: usize = 256;
/// How far in the future an event's `ts` may be (client clock skew).
pub const FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);
/// How long a flushed event's id stays in the buffer to recognise re-sends.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// `flush_rows` when the pipeline does not set it.
pub const DEFAULT_FLUSH_ROWS: usize = 5000;
/// Source label of quarantined buffer rows.
const SOURCE_LABEL: &str = "events";
/// Rows handed to the landing per batch.
const BATCH_ROWS: usize = 8192;
/// Expired claims (with their rows) one flush prunes at most; a flush lands at most
/// `max_commits` claims, so pruning keeps pace.
const PRUNE_CLAIMS: i64 = 64;

/// One interaction event as clients send it; field names are the canonical column names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Unique id chosen by the sender, 1 to 256 characters; sent again, it is a duplicate.
    pub event_id: String,
    /// 1 to 256 characters.
    pub user_id: String,
    /// 1 to 256 characters.
    pub item_id: String,
    /// view, click, add_to_cart, purchase or rating
    pub event_type: String,
    /// Rating, price or quantity: a finite number, 0 or greater.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// RFC 3339 with an offset (`2026-11-22T10:00:00Z`, `...+01:00`), at most 5 minutes in
    /// the future.
    pub ts: String,
    /// At most 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The `recommendation_id` of the recommendation response the event follows (experiment
    /// results); at most 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation_id: Option<String>,
}

/// Why one event was refused: the field at fault (`(event)` when it is not an object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

impl FieldError {
    fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// A refused event of a batch, by its position in the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventError {
    pub index: usize,
    pub field: String,
    pub detail: String,
}

/// What became of a batch: every event is counted in exactly one of `accepted` (new, now
/// durable), `duplicates` (its `event_id` was buffered before, or repeats earlier in the
/// batch) and `errors`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    pub accepted: u64,
    pub duplicates: u64,
    pub errors: Vec<EventError>,
}

/// Reads one event from JSON; a wrong type, a missing or an unknown field is an error naming
/// that field.
pub fn parse(value: serde_json::Value) -> Result<Event, FieldError> {
    if !value.is_object() {
        return Err(not_an_object());
    }
    serde_path_to_error::deserialize(value).map_err(field_error)
}

/// Like [`parse`], from the event's JSON text (what `POST /v1/events` hands over: reading
/// each event straight into its fields skips building a JSON tree per event).
pub fn parse_json(text: &str) -> Result<Event, FieldError> {
    if !text.trim_start().starts_with('{') {
        return Err(not_an_object());
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(field_error)
}

fn not_an_object() -> FieldError {
    FieldError::new("(event)", "an event must be a JSON object")
}

fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let mut message = inner.to_string();
    // Positions are within the event's own text; the caller reports the event by index.
    if inner.line() > 0
        && let Some((head, _)) = message.rsplit_once(" at line ")
    {
        message = head.to_string();
    }
    let field = if path == "." {
        // Missing and unknown fields are reported at the object: take the name from the
        // message (serde quotes it in backticks).
        message
            .split('`')
            .nth(1)
            .filter(|_| {
                message.starts_with("missing field") || message.starts_with("unknown field")
            })
            .unwrap_or("(event)")
            .to_string()
    } else {
        path
    };
    let detail = match message.split_once(", expected one of") {
        Some((head, _)) if message.starts_with("unknown field") => {
            format!("{head}: not an event field")
        }
        _ => message,
    };
    FieldError::new(field, detail)
}

fn check_id(field: &str, value: &str, required: bool) -> Result<(), FieldError> {
    if required && value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > MAX_ID_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_ID_CHARS} characters"),
        ));
    }
    match super::schema::text_problem(value, true) {
        Some(problem) => Err(FieldError::new(field, problem)),
        None => Ok(()),
    }
}

/// Parses an event time: RFC 3339 with an explicit offset.
fn parse_ts(ts: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(ts)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            FieldError::new(
                "ts",
                format!(
                    "`{ts}` is not an RFC 3339 time with an offset \
                     (like 2026-11-22T10:00:00Z): {e}"
                ),
            )
        })
}

/// Checks one event on its own; the first field at fault is reported. `since`: the
/// deployment's `plausible_since` (an older `ts` is refused).
pub fn validate(
    event: &Event,
    now: DateTime<Utc>,
    since: chrono::NaiveDate,
) -> Result<(), FieldError> {
    check_id("event_id", &event.event_id, true)?;
    check_id("user_id", &event.user_id, true)?;
    check_id("item_id", &event.item_id, true)?;
    if !EVENT_TYPES.contains(&event.event_type.as_str()) {
        return Err(FieldError::new(
            "event_type",
            format!(
                "`{}` is not one of {}",
                event.event_type,
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    if let Some(v) = event.value
        && !(v.is_finite() && v >= 0.0)
    {
        return Err(FieldError::new(
            "value",
            "must be a finite number, 0 or greater",
        ));
    }
    let ts = parse_ts(&event.ts)?;
    if ts.date_naive() < since {
        return Err(FieldError::new(
            "ts",
            format!("`{}` is before {since} (plausible_since)", event.ts),
        ));
    }
    let latest = now + chrono::Duration::from_std(FUTURE_SKEW).expect("5 minutes fit");
    if ts > latest {
        return Err(FieldError::new(
            "ts",
            format!(
                "`{}` is more than {} minutes in the future",
                event.ts,
                FUTURE_SKEW.as_secs() / 60
            ),
        ));
    }
    if let Some(s) = &event.session_id {
        check_id("session_id", s, false)?;
    }
    if let Some(s) = &event.recommendation_id {
        check_id("recommendation_id", s, false)?;
    }
    Ok(())
}

/// What serving reads of a valid event (`recent_activity`).
fn activity_of(event: &Event) -> crate::db::activity::Activity {
    crate::db::activity::Activity {
        event_id: event.event_id.clone(),
        user_id: event.user_id.clone(),
        item_id: event.item_id.clone(),
        event_type: event.event_type.clone(),
        value: event.value,
        ts: parse_ts(&event.ts)
            .map(|t| t.timestamp_millis())
            .unwrap_or_default(),
    }
}

/// The buffered form of a valid event: canonical field names, `ts` in UTC.
fn canonical_json(mut event: Event) -> String {
    if let Ok(ts) = parse_ts(&event.ts) {
        event.ts = ts.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    }
    serde_json::to_string(&event).expect("an event serializes")
}

/// Validates every event and buffers the valid ones in one transaction. When this returns,
/// every event counted in `accepted` is durable (and in this process's copy of the recent
/// activity, so its next answer reflects them); an error means none of them is.
pub async fn ingest(
    db: &Db,
    activity: &ActivityCache,
    events: Vec<Result<Event, FieldError>>,
    since: chrono::NaiveDate,
) -> Result<IngestOutcome, DbError> {
    let now = Utc::now();
    let mut outcome = IngestOutcome::default();
    let mut seen: HashSet<String> = HashSet::with_capacity(events.len());
    let mut rows: Vec<NewEvent> = Vec::with_capacity(events.len());
    for (index, parsed) in events.into_iter().enumerate() {
        let event = match parsed.and_then(|e| validate(&e, now, since).map(|()| e)) {
            Ok(e) => e,
            Err(FieldError { field, detail }) => {
                outcome.errors.push(EventError {
                    index,
                    field,
                    detail,
                });
                continue;
            }
        };
        if !seen.insert(event.event_id.clone()) {
            outcome.duplicates += 1;
            continue;
        }
        rows.push(NewEvent {
            event_id: event.event_id.clone(),
            activity: activity_of(&event),
            payload: canonical_json(event),
        });
    }
    // Concurrent batches that share ids (a client retrying a request still in flight) insert
    // them in the same order, so on Postgres they wait on each other instead of deadlocking.
    rows.sort_unstable_by(|a, b| a.event_id.cmp(&b.event_id));
    let inserted = repo::insert_batch(db, &rows, now.timestamp_millis()).await?;
    outcome.accepted = inserted;
    outcome.duplicates += rows.len() as u64 - inserted;
    let fresh: Vec<_> = rows.into_iter().map(|r| r.activity).collect();
    activity.apply(fresh);
    Ok(outcome)
}

/// Knobs of one flush.
#[derive(Debug, Clone)]
pub struct FlushOptions {
    /// Rows one claim (one lake commit) takes at most.
    pub max_rows_per_commit: usize,
    /// Claims one flush lands at most, so a scheduled run ends under sustained load.
    pub max_commits: usize,
    /// A claim this old without `flushed_at` belongs to a flusher that died.
    pub stale_after: Duration,
}

impl Default for FlushOptions {
    fn default() -> Self {
        FlushOptions {
            max_rows_per_commit: 100_000,
            max_commits: 20,
            stale_after: Duration::from_secs(60),
        }
    }
}

/// What one flush did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlushSummary {
    /// Buffer rows landed (or found landed) and recorded flushed.
    pub rows_read: u64,
    /// Their JSON payload bytes.
    pub bytes_read: u64,
    /// Claims landed, stale ones included.
    pub claims: u64,
    /// Stale claims of dead flushers taken over.
    pub recovered_claims: u64,
    /// Flushed rows deleted after the idempotency window.
    pub pruned: u64,
    /// The landings, merged: rows landed, quarantined, bytes, the last commit.
    pub landing: LandingOutcome,
    pub seconds: f64,
}

impl FlushSummary {
    fn add(&mut self, landed: LandedClaim) {
        self.rows_read += landed.rows_read;
        self.bytes_read += landed.bytes_read;
        self.claims += 1;
        self.landing.merge(landed.landing);
    }
}

/// `flush_rows` of an events pipeline.
pub fn flush_rows(spec: &PipelineSpec) -> usize {
    match spec.source {
        SourceSpec::Events { flush_rows } => flush_rows.unwrap_or(DEFAULT_FLUSH_ROWS),
        _ => DEFAULT_FLUSH_ROWS,
    }
}

/// The built-in events pipeline, used when `pipelines_dir` defines none: events still reach
/// the lake on a deployment that ships no pipeline files.
pub fn default_spec() -> PipelineSpec {
    PipelineSpec {
        name: "events".into(),
        description: "The POST /v1/events buffer into the interactions dataset".into(),
        dataset: Dataset::Interactions,
        schedule: None,
        dedup_key: None,
        conflicts: Default::default(),
        source: SourceSpec::Events {
            flush_rows: Some(DEFAULT_FLUSH_ROWS),
        },
        columns: Default::default(),
        file: Default::default(),
        plausible_since: None,
    }
}

/// The events pipeline of a deployment: the first definition in `pipelines_dir` whose source
/// is the event buffer, else [`default_spec`].
pub fn events_spec(app: &App) -> Result<PipelineSpec, EtlError> {
    let mut spec = super::pipelines::load_pipelines(app)?
        .into_iter()
        .find(|s| matches!(s.source, SourceSpec::Events { .. }))
        .unwrap_or_else(default_spec);
    spec.plausible_since = app.settings.plausible_since_date().ok();
    Ok(spec)
}

/// The `events` pipeline run (scheduler, CLI, `POST /v1/jobs`): one [`flush_with`] with the
/// default options, as a run report.
pub async fn flush(
    app: &App,
    spec: &PipelineSpec,
    progress: &dyn Progress,
) -> Result<RunReport, EtlError> {
    let summary = flush_with(app, spec, &FlushOptions::default(), progress).await?;
    Ok(flush_report(spec, &summary))
}

/// The run report's figures of a flush (the runner or the flusher adds id, times, status).
fn flush_report(spec: &PipelineSpec, summary: &FlushSummary) -> RunReport {
    let mut report = RunReport {
        pipeline: spec.name.clone(),
        rows_read: summary.rows_read,
        bytes_read: summary.bytes_read,
        seconds: summary.seconds,
        ..Default::default()
    };
    report.absorb(summary.landing.clone());
    report
}

/// Moves buffered events into the lake: prunes rows past the idempotency window, lands stale
/// claims of dead flushers again (same rows, same commit key), then claims and lands fresh
/// rows until the buffer is empty or `max_commits` claims are done.
pub async fn flush_with(
    app: &App,
    spec: &PipelineSpec,
    options: &FlushOptions,
    progress: &dyn Progress,
) -> Result<FlushSummary, EtlError> {
    let started = Instant::now();
    let db = &app.db;
    let mut summary = FlushSummary::default();

    let window_start = now_ms() - IDEMPOTENCY_WINDOW.as_millis() as i64;
    summary.pruned = repo::prune(db, window_start, PRUNE_CLAIMS).await?;

    let stale_before = now_ms() - options.stale_after.as_millis() as i64;
    for stale in repo::stale_claims(db, stale_before).await? {
        if !repo::take_over(db, &stale.flush_id, stale_before, now_ms()).await? {
            continue; // another flusher got there first
        }
        tracing::warn!(flush_id = %stale.flush_id, "landing an abandoned event claim again");
        progress.report(
            0.0,
            &format!("re-landing abandoned claim {}", stale.flush_id),
        );
        let landed = land_claim(app, spec, &stale).await?;
        finish_claim(db, &stale).await?;
        summary.recovered_claims += 1;
        summary.add(landed);
    }

    let max_rows = options.max_rows_per_commit.max(1);
    for round in 0..options.max_commits.max(1) {
        // A read first: an empty buffer costs no write transaction.
        if repo::pending(db, 1).await? == 0 {
            break;
        }
        let Some(claimed) = claim(db, max_rows).await? else {
            break;
        };
        progress.report(
            100.0 * round as f64 / options.max_commits.max(1) as f64,
            &format!("landing up to {} events", claimed.width()),
        );
        let landed = land_claim(app, spec, &claimed).await?;
        finish_claim(db, &claimed).await?;
        summary.add(landed);
        if (claimed.width() as usize) < max_rows {
            break; // the claim reached the end of the buffer
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    progress.report(100.0, &format!("{} events flushed", summary.rows_read));
    Ok(summary)
}

/// Claims the unclaimed events (at most `max_rows`) under a fresh flush id (step 1 of a
/// flush); None when nothing waits.
pub async fn claim(db: &Db, max_rows: usize) -> Result<Option<Claim>, DbError> {
    let flush_id = uuid::Uuid::now_v7().to_string();
    repo::claim(db, &flush_id, max_rows as i64, now_ms()).await
}

/// What landing one claim did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LandedClaim {
    /// Buffer rows of the claim.
    pub rows_read: u64,
    /// Their JSON payload bytes.
    pub bytes_read: u64,
    pub landing: LandingOutcome,
}

/// Lands the rows of one claim under the commit key `events:<flush_id>` (step 2). Landing
/// the same claim again publishes nothing new.
pub async fn land_claim(
    app: &App,
    spec: &PipelineSpec,
    claim: &Claim,
) -> Result<LandedClaim, EtlError> {
    let rows = repo::claim_rows(&app.db, claim).await?;
    let mut landing = Landing::open(app, spec, false).await?;
    match fill(&mut landing, spec, &rows).await {
        Ok(()) => Ok(LandedClaim {
            rows_read: rows.len() as u64,
            bytes_read: rows.iter().map(|r| r.payload.len() as u64).sum(),
            landing: landing.commit(&commit_key(&claim.flush_id)).await?,
        }),
        Err(e) => {
            if let Err(abort) = landing.abort().await {
                tracing::warn!(error = %abort, "cannot abort the event landing; the sweep will");
            }
            Err(e)
        }
    }
}

/// Records a landed claim as flushed (step 3); false when it already was.
pub async fn finish_claim(db: &Db, claim: &Claim) -> Result<bool, DbError> {
    repo::mark_flushed(db, &claim.flush_id, now_ms()).await
}

/// The lake commit key of a claim.
pub fn commit_key(flush_id: &str) -> String {
    format!("events:{flush_id}")
}

/// Runs the buffered rows through the pipeline's converter into the landing.
async fn fill(
    landing: &mut Landing,
    spec: &PipelineSpec,
    rows: &[BufferedEvent],
) -> Result<(), EtlError> {
    let mut converter = Converter::new(spec);
    let names = converter.source_columns().to_vec();
    let mut refused = Vec::new();
    for row in rows {
        let rejection = match serde_json::from_str::<serde_json::Value>(&row.payload) {
            Ok(serde_json::Value::Object(object)) => {
                super::source::read::push_json_object(&mut converter, &names, &object).err()
            }
            Ok(_) => Some(Rejection::malformed("not a JSON object")),
            Err(e) => Some(Rejection::malformed(format!("invalid JSON: {e}"))),
        };
        if let Some(r) = rejection {
            refused.push(QuarantinedRow {
                source: SOURCE_LABEL.to_string(),
                line: Some(row.seq),
                reason: r.reason.to_string(),
                field: r.field,
                detail: r.detail,
                raw: row.payload.clone(),
            });
        }
        if converter.pending_rows() >= BATCH_ROWS
            && let Some(batch) = converter.finish_batch()
        {
            landing.push(batch, "events").await?;
        }
    }
    if let Some(batch) = converter.finish_batch() {
        landing.push(batch, "events").await?;
    }
    if !refused.is_empty() {
        tracing::warn!(
            rows = refused.len(),
            reason = refused[0].reason.as_str(),
            "buffered events refused by the pipeline's rules; quarantined"
        );
    }
    landing.quarantine(refused).await?;
    Ok(())
}

/// Runs in every `serve` process: flushes when `flush_rows` events wait, and every
/// `interval` in any case, and once more on shutdown. Errors are logged and retried on the next tick;
/// the buffer keeps the events meanwhile.
/// Stores the run report of a background flush that moved events or failed, like any pipeline
/// run (`recast pipeline runs events`, `GET /v1/pipelines/events/runs`); idle ticks leave none.
async fn record_flush(
    app: &App,
    spec: &PipelineSpec,
    started_ms: i64,
    outcome: &Result<FlushSummary, EtlError>,
) {
    if matches!(outcome, Ok(s) if s.rows_read == 0) {
        return;
    }
    let report = match outcome {
        Ok(summary) => Ok(flush_report(spec, summary)),
        Err(e) => Err(e.to_string()),
    };
    super::report::store_background_run(app, &spec.name, started_ms, report).await;
}

/// How often the flusher trims the recent-activity state.
const TRIM_INTERVAL: Duration = Duration::from_secs(60);

/// Rows stamped this long before a trim started may still have been committing: the next
/// trim looks at them again.
const TRIM_OVERLAP_MS: i64 = 5_000;

/// Keeps the recent-activity state bounded: events past the retention, and per user all but
/// the newest `realtime.max_events_per_user`, for the users written to since `since` (0: all);
/// returns where the next trim may start.
pub async fn trim_recent_activity(app: &App, since: i64) -> i64 {
    let r = &app.settings.realtime;
    let started = Utc::now().timestamp_millis();
    let before = started - (r.retention_days * 86_400_000.0) as i64;
    let keep = r.max_events_per_user as i64;
    match crate::db::activity::trim(&app.db, before, keep, since).await {
        Ok(n) => {
            if n > 0 {
                tracing::debug!(rows = n, "recent activity trimmed");
            }
            started - TRIM_OVERLAP_MS
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot trim the recent activity");
            since
        }
    }
}

pub async fn run_flusher(
    app: App,
    spec: PipelineSpec,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let threshold = flush_rows(&spec).max(1) as i64;
    let poll = Duration::from_millis(250).min(interval);
    let options = FlushOptions::default();
    let quiet = |_: f64, _: &str| {};
    let mut last_flush = Instant::now();
    let mut last_trim: Option<Instant> = None;
    let mut trimmed_since = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(poll) => {}
        }
        // On the interval a flush runs even with nothing waiting: it also takes over claims
        // abandoned by a dead flusher, and prunes.
        let due = last_flush.elapsed() >= interval;
        if !due {
            match repo::pending(&app.db, threshold).await {
                Ok(waiting) if waiting >= threshold => {}
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot count buffered events");
                    continue;
                }
            }
        }
        last_flush = Instant::now();
        let started = crate::db::now_ms();
        let outcome = flush_with(&app, &spec, &options, &quiet).await;
        match &outcome {
            Ok(s) if s.rows_read > 0 => tracing::debug!(
                rows = s.rows_read,
                landed = s.landing.rows_landed,
                seconds = s.seconds,
                "events flushed"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "event flush failed; retrying on the next tick"),
        }
        record_flush(&app, &spec, started, &outcome).await;
        if last_trim.is_none_or(|t| t.elapsed() >= TRIM_INTERVAL) {
            last_trim = Some(Instant::now());
            trimmed_since = trim_recent_activity(&app, trimmed_since).await;
        }
    }
    // A few attempts: during shutdown a pooled connection may have been opened on a runtime
    // that is stopping (the HTTP workers'), and fails; the pool replaces it.
    for attempt in 1..=3 {
        match flush_with(&app, &spec, &options, &quiet).await {
            Ok(s) => {
                tracing::info!(rows = s.rows_read, "final event flush done");
                return;
            }
            Err(e) if attempt < 3 => {
                tracing::warn!(error = %e, attempt, "final event flush failed; trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "final event flush failed; events stay buffered")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    fn since() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap()
    }

    fn good() -> serde_json::Value {
        json!({"event_id": "e1", "user_id": "u1", "item_id": "i1", "event_type": "click",
               "ts": "2026-11-22T11:59:00+01:00"})
    }

    fn check(value: serde_json::Value) -> Result<Event, FieldError> {
        // Both readers agree, on success and on the field at fault.
        let from_text = parse_json(&value.to_string());
        let e = parse(value);
        assert_eq!(e, from_text);
        let e = e?;
        validate(&e, now(), since())?;
        Ok(e)
    }

    fn field_of(value: serde_json::Value) -> String {
        check(value).unwrap_err().field
    }

    fn with(key: &str, v: serde_json::Value) -> serde_json::Value {
        let mut e = good();
        e[key] = v;
        e
    }

    #[test]
    fn a_good_event_passes_and_is_stored_in_utc() {
        let e = check(good()).unwrap();
        let stored: serde_json::Value = serde_json::from_str(&canonical_json(e)).unwrap();
        assert_eq!(stored["ts"], "2026-11-22T10:59:00Z");
        assert!(stored.get("value").is_none());
        assert!(check(with("value", json!(4.5))).is_ok());
        assert!(check(with("session_id", json!("s"))).is_ok());
    }

    #[test]
    fn each_problem_names_its_field() {
        assert_eq!(field_of(json!([1])), "(event)");
        assert_eq!(field_of(with("user_id", json!(7))), "user_id");
        assert_eq!(field_of(with("event_id", json!(""))), "event_id");
        assert_eq!(field_of(with("item_id", json!("x".repeat(257)))), "item_id");
        assert!(check(with("item_id", json!("é".repeat(256)))).is_ok());
        assert_eq!(field_of(with("event_type", json!("like"))), "event_type");
        assert_eq!(field_of(with("user_id", json!("a\u{0}b"))), "user_id");
        assert_eq!(field_of(with("session_id", json!("a\nb"))), "session_id");
        assert_eq!(field_of(with("value", json!(-1))), "value");
        assert_eq!(field_of(with("value", json!("3"))), "value");
        assert_eq!(field_of(with("ts", json!("2026-11-22T10:00:00"))), "ts");
        assert_eq!(field_of(with("ts", json!("yesterday"))), "ts");
        assert_eq!(field_of(with("ts", json!("0000-01-01T00:00:00Z"))), "ts");
        assert_eq!(field_of(with("ts", json!("1989-12-31T23:59:59Z"))), "ts");
        assert_eq!(field_of(with("ts", json!("2026-11-22T12:06:00Z"))), "ts");
        assert!(check(with("ts", json!("2026-11-22T12:04:00Z"))).is_ok());
        assert_eq!(
            field_of(with("recommendation_id", json!("r".repeat(300)))),
            "recommendation_id"
        );
        let mut missing = good();
        missing.as_object_mut().unwrap().remove("ts");
        let e = check(missing).unwrap_err();
        assert_eq!(e.field, "ts");
        assert!(e.detail.contains("missing"), "{}", e.detail);
        let e = check(with("sesion_id", json!("s"))).unwrap_err();
        assert_eq!(e.field, "sesion_id");
        assert!(e.detail.contains("not an event field"), "{}", e.detail);
    }

    #[test]
    fn flush_rows_and_default_spec() {
        let spec = default_spec();
        assert_eq!(flush_rows(&spec), DEFAULT_FLUSH_ROWS);
        assert_eq!(commit_key("abc"), "events:abc");
    }
}
