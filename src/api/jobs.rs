//! `/v1/jobs`: watch, enqueue and cancel background jobs (training, pipelines, sweeps).

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::{Admin, Authed, Reader};
use super::extract::{ApiJson, ApiQuery};
use super::{ApiState, page};
use crate::db::ms_to_rfc3339;
use crate::error::{Error, Result};
use crate::jobs::{Job, JobFilter, JobRequest, JobState};

const MAX_PAGE: i64 = 500;
const DEFAULT_PAGE: i64 = 50;

/// A job as clients see it; times are RFC 3339 UTC.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    /// queued, running, succeeded, failed or cancelled
    pub state: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub priority: i64,
    pub idempotency_key: Option<String>,
    pub attempts: i64,
    pub max_attempts: i64,
    /// 0 to 100
    pub progress: f64,
    pub progress_message: Option<String>,
    pub cancel_requested: bool,
    /// Summary written by the job on success.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    /// The worker holding the lease while running.
    pub worker: Option<String>,
    pub run_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        let running = j.state == JobState::Running;
        JobView {
            id: j.id,
            kind: j.kind,
            state: j.state.as_str().to_string(),
            payload: j.payload,
            priority: j.priority,
            idempotency_key: j.idempotency_key,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            progress: j.progress,
            progress_message: j.progress_message,
            cancel_requested: j.cancel_requested,
            result: j.result,
            error: j.last_error,
            worker: if running { j.lease_owner } else { None },
            run_at: ms_to_rfc3339(j.run_at),
            created_at: ms_to_rfc3339(j.created_at),
            updated_at: ms_to_rfc3339(j.updated_at),
            started_at: j.started_at.map(ms_to_rfc3339),
            finished_at: j.finished_at.map(ms_to_rfc3339),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobListQuery {
    /// Only jobs in this state: queued, running, succeeded, failed or cancelled.
    #[param(pattern = "^(queued|running|succeeded|failed|cancelled)$")]
    pub state: Option<String>,
    /// Only jobs of this kind.
    pub kind: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// A registered job kind, e.g. `sweep_lake`.
    #[schema(
        pattern = "^(compact_dataset|materialize_features|run_pipeline|sweep_lake|train_forecaster|train_recommender)$"
    )]
    pub kind: String,
    /// Kind-specific parameters.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    /// Enqueueing twice with the same key returns the first job.
    pub idempotency_key: Option<String>,
    /// Higher runs first (default 0).
    pub priority: Option<i64>,
    /// Attempts before the job is failed for good, 1 to 20 (default 3).
    #[schema(minimum = 1, maximum = 20)]
    pub max_attempts: Option<i64>,
}

/// List jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(JobListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = JobList),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/jobs")]
pub async fn list_jobs(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    query: ApiQuery<JobListQuery>,
) -> Result<HttpResponse> {
    let q = query.0;
    let job_state = q
        .state
        .as_deref()
        .map(|s| {
            s.parse::<JobState>().map_err(|_| {
                Error::invalid(
                    "state",
                    format!("unknown state `{s}` (queued, running, succeeded, failed, cancelled)"),
                )
            })
        })
        .transpose()?;
    let limit = page::limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let filter = JobFilter {
        state: job_state,
        kind: q.kind,
        limit,
        cursor: q.cursor,
    };
    let (jobs, next_cursor) = state.queue.list(&filter).await?;
    Ok(HttpResponse::Ok().json(JobList {
        jobs: jobs.into_iter().map(JobView::from).collect(),
        next_cursor,
    }))
}

/// One job with its progress and result.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "job id")),
    security(("bearer" = [])),
    responses((status = 200, body = JobView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/jobs/{id}")]
pub async fn get_job(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let job = state.queue.get(&id).await?;
    Ok(HttpResponse::Ok().json(JobView::from(job)))
}

/// Enqueue a job (admin). Answers 202 with the new job, or 200 with the existing one when the
/// idempotency key was used before.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = CreateJob,
    security(("bearer" = [])),
    responses((status = 202, description = "enqueued", body = JobView),
              (status = 200, description = "a job with this idempotency key exists", body = JobView),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/jobs")]
pub async fn create_job(
    _auth: Authed<Admin>,
    state: web::Data<ApiState>,
    body: ApiJson<CreateJob>,
) -> Result<HttpResponse> {
    let body = body.0;
    let request = JobRequest {
        kind: body.kind,
        payload: body.payload,
        idempotency_key: body.idempotency_key,
        priority: body.priority,
        max_attempts: body.max_attempts,
    };
    let (job, created) = state
        .queue
        .submit(&state.app, &state.kinds, request)
        .await?;
    let location = format!("/v1/jobs/{}", job.id);
    let mut response = if created {
        HttpResponse::Accepted()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header((header::LOCATION, location))
        .json(JobView::from(job)))
}

/// Cancel a job (admin): a queued job is cancelled at once, a running one is asked to stop.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "job id")),
    security(("bearer" = [])),
    responses((status = 200, body = JobView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 409, description = "the job already finished", body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/jobs/{id}/cancel")]
pub async fn cancel_job(
    _auth: Authed<Admin>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let job = state.queue.cancel(&id).await?;
    Ok(HttpResponse::Ok().json(JobView::from(job)))
}

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_jobs)
        .service(create_job)
        .service(get_job)
        .service(cancel_job);
}
