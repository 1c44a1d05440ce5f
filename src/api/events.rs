//! `/v1/events`: interaction events from frontends and backends, in batches.
//!
//! Each event is read and checked on its own, so one bad event costs only itself: the answer
//! lists the refused ones by index and field, the valid ones are durable before it is sent.
//! The work is `etl::events`; this file only parses the envelope and maps the outcome.

use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiState;
use super::auth::{Authed, Ingest};
use super::extract::ApiJson;
use crate::error::{Error, Result};
use crate::etl::events::{self, Event, IngestOutcome, MAX_EVENTS_PER_REQUEST};

/// A batch of up to 10,000 events; each is checked on its own.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    // Raw JSON text: a wrong type in one event becomes that event's error, not the batch's.
    #[schema(value_type = Vec<Event>, required = true, max_items = 10000)]
    events: Option<Vec<Box<serde_json::value::RawValue>>>,
}

/// A refused event.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = EventError)]
pub struct EventErrorView {
    /// Position of the event in the request's `events`.
    pub index: usize,
    /// The event field at fault (`(event)` when the event is not an object).
    pub field: String,
    pub detail: String,
}

/// Every event of the batch is counted once: in `accepted`, `duplicates` or `errors`.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = EventBatchResult)]
pub struct IngestResponse {
    /// New events, durable when this response is sent.
    pub accepted: u64,
    /// Events whose `event_id` was received before (or earlier in this batch); not stored again.
    pub duplicates: u64,
    /// Refused events, by index; the others were taken.
    pub errors: Vec<EventErrorView>,
}

impl From<IngestOutcome> for IngestResponse {
    fn from(o: IngestOutcome) -> Self {
        IngestResponse {
            accepted: o.accepted,
            duplicates: o.duplicates,
            errors: o
                .errors
                .into_iter()
                .map(|e| EventErrorView {
                    index: e.index,
                    field: e.field,
                    detail: e.detail,
                })
                .collect(),
        }
    }
}

/// Send interaction events (ingest role). Valid events are accepted even when others in the
/// batch are refused; sending an `event_id` again within 7 days counts it as a duplicate.
#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = EventBatch,
    security(("bearer" = [])),
    responses((status = 200, description = "the batch was processed; see `errors` for refused events", body = IngestResponse),
              (status = 400, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 413, description = "the body exceeds `max_body_bytes`", body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, description = "`events` is missing, not an array, or longer than 10,000", body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/events")]
pub async fn ingest_events(
    _auth: Authed<Ingest>,
    state: web::Data<ApiState>,
    body: ApiJson<EventBatch, false>,
) -> Result<HttpResponse> {
    let Some(raw) = body.0.events else {
        return Err(Error::invalid("events", "`events` is required"));
    };
    if raw.len() > MAX_EVENTS_PER_REQUEST {
        return Err(Error::invalid(
            "events",
            format!(
                "{} events in one request; at most {MAX_EVENTS_PER_REQUEST} are accepted",
                raw.len()
            ),
        ));
    }
    let parsed = raw.iter().map(|e| events::parse_json(e.get())).collect();
    let since = state.app.settings.plausible_since_date()?;
    let outcome = events::ingest(&state.app.db, &state.app.activity, parsed, since).await?;
    Ok(HttpResponse::Ok().json(IngestResponse::from(outcome)))
}

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(ingest_events);
}
