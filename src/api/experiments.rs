//! `/v1/experiments`: define, start and stop A/B experiments (admin), look up a user's
//! assignment and read the results (reader). Thin handlers over `experiments`.

use actix_web::{HttpResponse, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiState;
use super::auth::{Admin, Authed, Reader};
use super::extract::{ApiJson, ApiQuery};
use crate::db::ms_to_rfc3339;
use crate::error::{Error, Result};
use crate::experiments::assignment;
use crate::experiments::model::{Experiment, ExperimentSpec, Status};
use crate::experiments::results::{self, Readout};

/// An experiment as clients see it; times are RFC 3339 UTC.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ExperimentView {
    pub id: String,
    pub status: Status,
    /// The salt assignment hashes with (the spec's, else the id).
    pub salt: String,
    pub spec: ExperimentSpec,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
}

impl From<Experiment> for ExperimentView {
    fn from(e: Experiment) -> Self {
        ExperimentView {
            id: e.id,
            status: e.status,
            salt: e.salt,
            spec: e.spec,
            created_at: ms_to_rfc3339(e.created_at),
            updated_at: ms_to_rfc3339(e.updated_at),
            started_at: e.started_at.map(ms_to_rfc3339),
            stopped_at: e.stopped_at.map(ms_to_rfc3339),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ExperimentList {
    pub experiments: Vec<ExperimentView>,
}

/// Create an experiment (admin). It starts as a draft.
#[utoipa::path(post, path = "/v1/experiments", tag = "experiments", request_body = ExperimentSpec,
    security(("bearer" = [])),
    responses((status = 201, body = ExperimentView),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 409, description = "name taken", body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/experiments")]
pub async fn create_experiment(
    _auth: Authed<Admin>,
    state: web::Data<ApiState>,
    body: ApiJson<ExperimentSpec>,
) -> Result<HttpResponse> {
    let e = state.experiments.store().create(body.0).await?;
    Ok(HttpResponse::Created().json(ExperimentView::from(e)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExperimentListQuery {
    /// Only experiments in this state: draft, running or stopped.
    #[param(pattern = "^(draft|running|stopped)$")]
    pub status: Option<String>,
}

/// Experiments, newest first.
#[utoipa::path(get, path = "/v1/experiments", tag = "experiments", params(ExperimentListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ExperimentList),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/experiments")]
pub async fn list_experiments(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    query: ApiQuery<ExperimentListQuery>,
) -> Result<HttpResponse> {
    let status = match query.0.status.as_deref() {
        None => None,
        Some("draft") => Some(Status::Draft),
        Some("running") => Some(Status::Running),
        Some("stopped") => Some(Status::Stopped),
        Some(_) => {
            return Err(Error::invalid(
                "status",
                "must be draft, running or stopped",
            ));
        }
    };
    let list = state.experiments.store().list(status).await?;
    Ok(HttpResponse::Ok().json(ExperimentList {
        experiments: list.into_iter().map(ExperimentView::from).collect(),
    }))
}

/// One experiment.
#[utoipa::path(get, path = "/v1/experiments/{id}", tag = "experiments",
    params(("id" = String, Path, description = "experiment id")),
    security(("bearer" = [])),
    responses((status = 200, body = ExperimentView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/experiments/{id}")]
pub async fn get_experiment(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let e = state.experiments.store().get(&id).await?;
    Ok(HttpResponse::Ok().json(ExperimentView::from(e)))
}

/// Replace a draft's definition (admin). Running and stopped experiments cannot be edited
/// (409): their assignment must not change under them.
#[utoipa::path(put, path = "/v1/experiments/{id}", tag = "experiments", request_body = ExperimentSpec,
    params(("id" = String, Path, description = "experiment id")),
    security(("bearer" = [])),
    responses((status = 200, body = ExperimentView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 409, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[put("/v1/experiments/{id}")]
pub async fn update_experiment(
    _auth: Authed<Admin>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: ApiJson<ExperimentSpec>,
) -> Result<HttpResponse> {
    let e = state.experiments.store().update(&id, body.0).await?;
    Ok(HttpResponse::Ok().json(ExperimentView::from(e)))
}

/// Start a draft (admin): users are assigned and exposures recorded from now on. 409 when it
/// is not a draft or its layer already has a running experiment.
#[utoipa::path(post, path = "/v1/experiments/{id}/start", tag = "experiments",
    params(("id" = String, Path, description = "experiment id")),
    security(("bearer" = [])),
    responses((status = 200, body = ExperimentView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 409, body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/experiments/{id}/start")]
pub async fn start_experiment(
    _auth: Authed<Admin>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let e = state.experiments.store().start(&id).await;
    state.experiments.invalidate();
    Ok(HttpResponse::Ok().json(ExperimentView::from(e?)))
}

/// Stop a running experiment (admin); everyone is served the default again. Final.
#[utoipa::path(post, path = "/v1/experiments/{id}/stop", tag = "experiments",
    params(("id" = String, Path, description = "experiment id")),
    security(("bearer" = [])),
    responses((status = 200, body = ExperimentView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 409, body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/experiments/{id}/stop")]
pub async fn stop_experiment(
    _auth: Authed<Admin>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let e = state.experiments.store().stop(&id).await;
    state.experiments.invalidate();
    Ok(HttpResponse::Ok().json(ExperimentView::from(e?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AssignmentQuery {
    /// The user to look up (1 to 256 characters).
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
    )]
    pub user_id: String,
}

/// Where a user falls in an experiment: computed from the salt and the id, nothing stored.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AssignmentView {
    pub experiment_id: String,
    pub user_id: String,
    pub status: Status,
    /// 0 to 9,999.
    pub bucket: u32,
    /// The variant, or null when the user is held out (outside the coverage).
    pub variant: Option<String>,
    /// Whether recommendations for this user are served by the variant now (the experiment
    /// runs and covers the user).
    pub active: bool,
}

/// A user's assignment in an experiment (in any state; only running experiments serve it).
#[utoipa::path(get, path = "/v1/experiments/{id}/assignment", tag = "experiments",
    params(("id" = String, Path, description = "experiment id"), AssignmentQuery),
    security(("bearer" = [])),
    responses((status = 200, body = AssignmentView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/experiments/{id}/assignment")]
pub async fn get_assignment(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    query: ApiQuery<AssignmentQuery>,
) -> Result<HttpResponse> {
    let user_id = query.0.user_id;
    if user_id.is_empty() || user_id.chars().count() > 256 {
        return Err(Error::invalid("user_id", "must be 1 to 256 characters"));
    }
    let e = state.experiments.store().get(&id).await?;
    let variant = e.assign(&user_id);
    Ok(HttpResponse::Ok().json(AssignmentView {
        bucket: assignment::bucket(&e.salt, &user_id),
        variant: variant.map(|v| e.spec.variants[v].name.clone()),
        active: variant.is_some() && e.status == Status::Running,
        experiment_id: e.id,
        user_id,
        status: e.status,
    }))
}

/// Results: per-variant totals and metrics, every treatment against the control with
/// intervals, p-values (fixed and always-valid, Holm-adjusted), chance to beat control, CUPED
/// on revenue per user, and the sample-ratio-mismatch check.
#[utoipa::path(get, path = "/v1/experiments/{id}/results", tag = "experiments",
    params(("id" = String, Path, description = "experiment id")),
    security(("bearer" = [])),
    responses((status = 200, body = Readout),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/experiments/{id}/results")]
pub async fn get_results(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let e = state.experiments.store().get(&id).await?;
    let readout = results::readout(&state.app.db, &state.app.lake, &e).await?;
    Ok(HttpResponse::Ok().json(readout))
}

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_experiment)
        .service(list_experiments)
        .service(get_experiment)
        .service(update_experiment)
        .service(start_experiment)
        .service(stop_experiment)
        .service(get_assignment)
        .service(get_results);
}
