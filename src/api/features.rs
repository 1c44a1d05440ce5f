//! `/v1/features`: feature views, online values (one entity, or many entities × many
//! features in one call) and point-in-time correct historical retrieval.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use utoipa_actix_web::service_config::ServiceConfig;

use crate::features::catalog::{self, ViewDescription};

use super::ApiState;
use super::auth::{Authed, Reader};
use super::extract::ApiJson;
use crate::error::Result;
use crate::features::historical;
use crate::features::online::ViewState;

/// One feature of a view.
#[derive(Serialize, ToSchema)]
pub struct FeatureInfo {
    pub name: String,
    pub agg: String,
    pub description: String,
    pub window_days: Option<u32>,
}

/// A feature view's current version.
#[derive(Serialize, ToSchema)]
pub struct ViewInfo {
    pub view: String,
    pub version: i64,
    /// Every registered version (older ones stay readable as `view@N:feature`).
    pub versions: Vec<i64>,
    pub entity: String,
    /// Key columns of entity rows (`user_id`, `item_id`, `store_id`).
    pub entity_keys: Vec<String>,
    pub source: String,
    pub ttl_days: f64,
    pub description: String,
    pub features: Vec<FeatureInfo>,
    /// First and last materialized as-of days.
    pub materialized_from: Option<String>,
    pub materialized_to: Option<String>,
    /// Statistics and drift warnings of the latest materialization.
    #[schema(value_type = Object)]
    pub latest_run: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ViewList {
    pub views: Vec<ViewInfo>,
}

/// Feature views (current versions) with their materialization state.
#[utoipa::path(get, path = "/v1/features/views", tag = "features",
    security(("bearer" = [])),
    responses((status = 200, body = ViewList),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/features/views")]
pub async fn list_views(_auth: Authed<Reader>, state: web::Data<ApiState>) -> Result<HttpResponse> {
    let catalog = state.features.catalog().await?;
    let views = catalog::describe_views(&state.app.db, &catalog).await?;
    Ok(HttpResponse::Ok().json(ViewList {
        views: views.into_iter().map(ViewInfo::from).collect(),
    }))
}

impl From<ViewDescription> for ViewInfo {
    fn from(v: ViewDescription) -> Self {
        ViewInfo {
            view: v.view,
            version: v.version,
            versions: v.versions,
            entity: v.entity,
            entity_keys: v.entity_keys,
            source: v.source,
            ttl_days: v.ttl_days,
            description: v.description,
            features: v
                .features
                .into_iter()
                .map(|f| FeatureInfo {
                    name: f.name,
                    agg: f.agg,
                    description: f.description,
                    window_days: f.window_days,
                })
                .collect(),
            materialized_from: v.materialized_from,
            materialized_to: v.materialized_to,
            latest_run: v.latest_run,
        }
    }
}

/// Online values of one entity.
#[derive(Serialize, ToSchema)]
pub struct EntityFeatures {
    pub view: String,
    pub entity_id: String,
    /// Version, status (present, expired, missing), timestamps, staleness and reason.
    #[serde(flatten)]
    pub state: ViewState,
    /// Feature name to value (number, string or null).
    #[schema(value_type = Object)]
    pub features: BTreeMap<String, serde_json::Value>,
}

/// Every feature of a view for one entity (composite ids join keys with `:`, e.g.
/// `I001:S01`). Expired values are null with status `expired` and a reason.
#[utoipa::path(get, path = "/v1/features/{view}/{entity_id}", tag = "features",
    params(("view" = String, Path, description = "feature view"),
           ("entity_id" = String, Path, description = "entity id (`item_id:store_id` for item_store views)")),
    security(("bearer" = [])),
    responses((status = 200, body = EntityFeatures),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 404, description = "unknown view", body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/features/{view}/{entity_id}")]
pub async fn get_entity(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (view, entity_id) = path.into_inner();
    let (v, (view_state, values)) = state.features.entity(&view, &entity_id).await?;
    Ok(HttpResponse::Ok().json(EntityFeatures {
        view: v.spec.name.clone(),
        entity_id,
        state: view_state,
        features: values.into_iter().collect(),
    }))
}

/// Many entities × many features.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnlineRequest {
    /// `view:feature`, `view:*` or `view@VERSION:feature`.
    #[schema(schema_with = feature_refs)]
    pub features: Vec<String>,
    /// Entity rows naming the keys the views need, e.g. `{"user_id": "U1"}` or
    /// `{"item_id": "I1", "store_id": "S1"}`; at most 1,000.
    #[schema(min_items = 1, max_items = 1000)]
    pub entities: Vec<BTreeMap<String, String>>,
}

#[derive(Serialize, ToSchema)]
pub struct OnlineRow {
    pub entity: BTreeMap<String, String>,
    /// Values keyed by `view:feature` (number, string or null).
    #[schema(value_type = Object)]
    pub features: BTreeMap<String, serde_json::Value>,
    /// Per view (the part of the labels before `:`): version, status, timestamps, staleness.
    pub views: BTreeMap<String, ViewState>,
}

#[derive(Serialize, ToSchema)]
pub struct OnlineResponse {
    pub results: Vec<OnlineRow>,
}

/// Online values for many entity rows in one call, with timestamps, staleness and TTL status.
#[utoipa::path(post, path = "/v1/features/online", tag = "features", request_body = OnlineRequest,
    security(("bearer" = [])),
    responses((status = 200, body = OnlineResponse),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, description = "unknown feature, missing entity key", body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/features/online")]
pub async fn online_features(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    body: ApiJson<OnlineRequest>,
) -> Result<HttpResponse> {
    let req = body.0;
    let results = state.features.lookup(&req.features, &req.entities).await?;
    Ok(HttpResponse::Ok().json(OnlineResponse {
        results: results
            .into_iter()
            .map(|r| OnlineRow {
                entity: r.entity,
                features: r.features,
                views: r.views,
            })
            .collect(),
    }))
}

/// Entity rows with timestamps for a point-in-time join.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoricalRequest {
    /// `view:feature`, `view:*` or `view@VERSION:feature`.
    #[schema(schema_with = feature_refs)]
    pub features: Vec<String>,
    /// Rows with key columns and `event_timestamp` (RFC 3339 or a date); other fields (labels)
    /// come back unchanged. At most 10,000 rows (use the CLI for more).
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 10000)]
    pub entities: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoricalResponse {
    /// The input rows with one `view__feature` field per feature, as of each row's timestamp.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Object)]
    pub summary: historical::Summary,
}

/// `features` of the online and historical requests: one or more `view[@VERSION]:feature`
/// or `view[@VERSION]:*` references.
fn feature_refs() -> utoipa::openapi::Array {
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[a-z][a-z0-9_]*(@[0-9]+)?:([a-z][a-z0-9_]*|[*])$")),
        )
        .min_items(Some(1))
        .description(Some("`view:feature`, `view:*` or `view@VERSION:feature`."))
        .build()
}

/// Point-in-time correct features for entity rows: a value never uses data at or after the
/// row's timestamp, and is null when older than the view's TTL.
#[utoipa::path(post, path = "/v1/features/historical", tag = "features", request_body = HistoricalRequest,
    security(("bearer" = [])),
    responses((status = 200, body = HistoricalResponse),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, description = "bad timestamp, unknown feature, missing entity key", body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/features/historical")]
pub async fn historical_features(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    body: ApiJson<HistoricalRequest>,
) -> Result<HttpResponse> {
    let req = body.0;
    let catalog = state.features.catalog().await?;
    let (lake, db) = (state.app.lake.clone(), state.app.db.clone());
    // Snapshot reads, the join and the answer's JSON run on the background runtime, so a
    // large request does not hold up the HTTP worker that serves recommendations.
    let json = super::off_worker(&state, async move {
        let (rows, summary) =
            historical::retrieve_json_rows(&lake, &db, &catalog, &req.features, req.entities)
                .await?;
        serde_json::to_vec(&HistoricalResponse { rows, summary })
            .map_err(crate::error::Error::internal)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json))
}

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_views)
        .service(online_features)
        .service(historical_features)
        .service(get_entity);
}
