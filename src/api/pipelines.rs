//! `/v1/pipelines`: the defined pipelines, their run reports, and runs on demand (as jobs).

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiState;
use super::auth::{Admin, Authed, Reader};
use super::extract::ApiQuery;
use super::jobs::JobView;
use crate::error::Result;
use crate::etl::report::RunReport;
use crate::etl::spec::{PipelineSpec, SourceSpec};
use crate::etl::{pipelines, runner};
use crate::jobs::NewJob;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PipelineView {
    pub name: String,
    pub description: String,
    /// interactions, sales, items or users
    pub dataset: String,
    /// Cron expression (seconds first); absent when the pipeline runs on demand only.
    pub schedule: Option<String>,
    /// files, sql, events or nats
    pub source_type: String,
    /// Where the source is (credentials removed).
    pub source: String,
    pub dedup_key: Vec<String>,
    /// The most recent run's report.
    #[schema(value_type = Option<Object>)]
    pub last_run: Option<RunReport>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PipelineList {
    pub pipelines: Vec<PipelineView>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RunList {
    /// Run reports, newest first: rows read, landed, quarantined by reason, duplicates, bytes, seconds.
    #[schema(value_type = Vec<Object>)]
    pub runs: Vec<RunReport>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// How many runs, 1 to 500 (default 20).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

fn view(spec: PipelineSpec, last_run: Option<RunReport>) -> PipelineView {
    let (source_type, source) = match &spec.source {
        SourceSpec::Files { url, .. } => ("files", crate::lake::store::redact(url)),
        SourceSpec::Sql {
            url, table, query, ..
        } => (
            "sql",
            format!(
                "{} ({})",
                crate::config::redact_url_password(url),
                table.as_deref().or(query.as_deref()).unwrap_or_default()
            ),
        ),
        SourceSpec::Events { .. } => ("events", "POST /v1/events".to_string()),
        SourceSpec::Nats { url, stream, .. } => (
            "nats",
            format!(
                "{} (stream {stream})",
                crate::config::redact_url_password(url)
            ),
        ),
    };
    PipelineView {
        dedup_key: spec.dedup_columns(),
        name: spec.name,
        description: spec.description,
        dataset: spec.dataset.to_string(),
        schedule: spec.schedule,
        source_type: source_type.to_string(),
        source,
        last_run,
    }
}

/// The pipeline definitions with their last run.
#[utoipa::path(get, path = "/v1/pipelines", tag = "pipelines",
    security(("bearer" = [])),
    responses((status = 200, body = PipelineList),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/pipelines")]
pub async fn list_pipelines(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse> {
    let specs = pipelines::load_pipelines(&state.app)?;
    let mut pipelines = Vec::with_capacity(specs.len());
    for spec in specs {
        let last = runner::list_runs(&state.app, Some(&spec.name), 1)
            .await?
            .into_iter()
            .next();
        pipelines.push(view(spec, last));
    }
    Ok(HttpResponse::Ok().json(PipelineList { pipelines }))
}

/// Run a pipeline now (admin): enqueues a `run_pipeline` job and answers 202 with it.
#[utoipa::path(post, path = "/v1/pipelines/{name}/runs", tag = "pipelines",
    params(("name" = String, Path, description = "pipeline name")),
    security(("bearer" = [])),
    responses((status = 202, description = "the run is queued as a job", body = JobView),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/pipelines/{name}/runs")]
pub async fn run_pipeline(
    _auth: Authed<Admin>,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse> {
    let spec = pipelines::find_pipeline(&state.app, &name)?;
    let (job, _) = state
        .queue
        .enqueue(NewJob::new(
            "run_pipeline",
            serde_json::json!({ "pipeline": spec.name }),
        ))
        .await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/v1/jobs/{}", job.id)))
        .json(JobView::from(job)))
}

/// Run reports of one pipeline, newest first.
#[utoipa::path(get, path = "/v1/pipelines/{name}/runs", tag = "pipelines",
    params(("name" = String, Path, description = "pipeline name"), RunsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = RunList),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/pipelines/{name}/runs")]
pub async fn list_runs(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    query: ApiQuery<RunsQuery>,
) -> Result<HttpResponse> {
    let limit = super::page::limit(query.0.limit, 20, 500)?;
    let spec = pipelines::find_pipeline(&state.app, &name)?;
    let runs = runner::list_runs(&state.app, Some(&spec.name), limit).await?;
    Ok(HttpResponse::Ok().json(RunList { runs }))
}

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_pipelines)
        .service(run_pipeline)
        .service(list_runs);
}
