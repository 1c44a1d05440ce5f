//! `/v1/models`: the model registry's versions (all kinds) and their promotion.

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiState;
use super::auth::{Admin, Authed, Reader};
use super::extract::ApiQuery;
use crate::error::Result;
use crate::registry::{Kind, ModelVersion};

/// A registered model version.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ModelView {
    pub id: String,
    pub kind: String,
    /// candidate, promoted or retired
    pub status: String,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Lake commit id of the training data.
    pub data_snapshot: Option<i64>,
    #[schema(value_type = Object)]
    pub metrics: serde_json::Value,
    pub artifact_path: String,
    pub checksum: String,
    pub size_bytes: i64,
    pub created_at: String,
    pub promoted_at: Option<String>,
}

impl From<ModelVersion> for ModelView {
    fn from(v: ModelVersion) -> Self {
        ModelView {
            id: v.id,
            kind: v.kind,
            status: v.status,
            params: v.params,
            data_snapshot: v.data_snapshot,
            metrics: v.metrics,
            artifact_path: v.artifact_path,
            checksum: v.checksum,
            size_bytes: v.size_bytes,
            created_at: v.created_at,
            promoted_at: v.promoted_at,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<ModelView>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ModelListQuery {
    /// Only versions of this kind: recommender or forecaster.
    #[param(pattern = "^(recommender|forecaster)$")]
    pub kind: Option<String>,
    /// At most this many, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Model versions, newest first.
#[utoipa::path(get, path = "/v1/models", tag = "models", params(ModelListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ModelList),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/models")]
pub async fn list_models(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    query: ApiQuery<ModelListQuery>,
) -> Result<HttpResponse> {
    let limit = super::page::limit(query.0.limit, 50, 500)?;
    let kind = query.0.kind.as_deref().map(Kind::parse).transpose()?;
    let models = state.models.list(kind, limit).await?;
    Ok(HttpResponse::Ok().json(ModelList {
        models: models.into_iter().map(ModelView::from).collect(),
    }))
}

/// Promote a version (admin): it serves from now on; this replica reloads at once, others
/// within seconds. A corrupt artifact is refused (409).
#[utoipa::path(post, path = "/v1/models/{id}/promote", tag = "models",
    params(("id" = String, Path, description = "model version id")),
    security(("bearer" = [])),
    responses((status = 200, body = ModelView),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 409, body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/models/{id}/promote")]
pub async fn promote_model(
    _auth: Authed<Admin>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let version = state.models.promote(&id).await?;
    reload_if_recommender(&state, &version).await;
    Ok(HttpResponse::Ok().json(ModelView::from(version)))
}

/// One model version: parameters, data snapshot, metrics and, for gated training runs, the
/// promotion decision (`metrics.gate`).
#[utoipa::path(get, path = "/v1/models/{id}", tag = "models",
    params(("id" = String, Path, description = "model version id")),
    security(("bearer" = [])),
    responses((status = 200, body = ModelView),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/models/{id}")]
pub async fn get_model(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let version = state.models.get(&id).await?;
    Ok(HttpResponse::Ok().json(ModelView::from(version)))
}

/// Roll back a kind (admin): the version promoted before the current one serves again; this
/// replica reloads at once, others within seconds. 409 when there is nothing to roll back to.
#[utoipa::path(post, path = "/v1/models/{kind}/rollback", tag = "models",
    params(("kind" = String, Path, description = "model kind: recommender or forecaster", pattern = "^(recommender|forecaster)$")),
    security(("bearer" = [])),
    responses((status = 200, description = "the version promoted again", body = ModelView),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 409, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/models/{kind}/rollback")]
pub async fn rollback_model(
    _auth: Authed<Admin>,
    state: web::Data<ApiState>,
    kind: web::Path<String>,
) -> Result<HttpResponse> {
    let version = state.models.rollback(Kind::parse(&kind)?).await?;
    reload_if_recommender(&state, &version).await;
    Ok(HttpResponse::Ok().json(ModelView::from(version)))
}

/// Reloads this replica's recommender after a change of the promoted version (others poll).
async fn reload_if_recommender(state: &ApiState, version: &ModelVersion) {
    if version.kind == crate::recommend::train::REGISTRY_KIND.as_str()
        && let Err(e) = state.recommender.refresh().await
    {
        tracing::warn!(error = %e, "reload after promote failed; the poller retries");
    }
}

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_models)
        .service(get_model)
        .service(promote_model)
        .service(rollback_model);
}
