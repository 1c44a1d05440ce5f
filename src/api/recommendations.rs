//! `/v1/users/{id}/recommendations` and `/v1/items/{id}/similar`: thin handlers over
//! `recommend::serving`.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiState;
use super::auth::{Authed, Reader};
use super::extract::ApiQuery;
use crate::error::{Error, Result};
use crate::experiments::routing::{self, Recommenders};
use crate::recommend::serving::{self, RecommendRequest};

/// One recommended or similar item.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ScoredItemView {
    pub item_id: String,
    /// 1-based position.
    pub rank: usize,
    pub score: f64,
    /// Why it is here, e.g. "because you bought X" or "popular in Y".
    pub reason: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RecommendationsView {
    pub user_id: String,
    pub model_version: String,
    /// Fresh per response; cite it in events to attribute them.
    pub recommendation_id: String,
    /// Present when the user is in a running experiment and this response was served (and
    /// its exposure recorded) under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ExperimentTag>,
    pub items: Vec<ScoredItemView>,
    /// The user's recent events this answer used (the real-time context); absent when it
    /// used none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_events: Option<RecentEventsView>,
}

/// Which recent events an answer used: every event accepted for the user (up to the
/// configured number) is visible to the next request on any replica.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RecentEventsView {
    pub count: usize,
    /// The newest one's time (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
}

/// The experiment and variant a response was served under.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ExperimentTag {
    pub id: String,
    pub name: String,
    pub variant: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SimilarView {
    pub item_id: String,
    pub model_version: String,
    pub items: Vec<ScoredItemView>,
}

fn view(items: Vec<serving::ScoredItem>) -> Vec<ScoredItemView> {
    items
        .into_iter()
        .map(|i| ScoredItemView {
            item_id: i.item_id,
            rank: i.rank,
            score: i.score,
            reason: i.reason,
        })
        .collect()
}

fn list(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

fn k_of(k: Option<i64>) -> Result<usize> {
    let k = k.unwrap_or(10);
    if !(1..=serving::MAX_K as i64).contains(&k) {
        return Err(Error::invalid(
            "k",
            format!("must be between 1 and {}", serving::MAX_K),
        ));
    }
    Ok(k as usize)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecommendQuery {
    /// How many items, 1 to 500 (default 10).
    #[param(minimum = 1, maximum = 500)]
    pub k: Option<i64>,
    /// Only items of this category.
    pub category: Option<String>,
    /// Comma-separated item ids never to return.
    pub exclude: Option<String>,
    /// Leave out items the user already interacted with (default true).
    pub exclude_seen: Option<bool>,
    /// 0 to 1: how strongly to avoid repeating a category (default 0).
    #[param(minimum = 0, maximum = 1)]
    pub diversity: Option<f64>,
    /// Comma-separated item ids the user saw recently (used for users the model does not know).
    pub recent: Option<String>,
}

/// Recommendations for a user. Unknown users get a cold-start answer: items like their
/// `recent` ones, else like the last item the feature store saw them touch, else trending.
#[utoipa::path(get, path = "/v1/users/{user_id}/recommendations", tag = "recommendations",
    params(("user_id" = String, Path, description = "user id"), RecommendQuery),
    security(("bearer" = [])),
    responses((status = 200, body = RecommendationsView),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 503, description = "no model promoted yet", body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/users/{user_id}/recommendations")]
pub async fn recommend(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    user_id: web::Path<String>,
    query: ApiQuery<RecommendQuery>,
) -> Result<HttpResponse> {
    let req = query.0.into_request(user_id.into_inner())?;
    let recommenders = Recommenders {
        promoted: &state.recommender,
        experiments: &state.experiments,
        features: &state.features,
        activity: state.app.activity_source(),
        realtime: &state.app.settings.realtime,
    };
    let served = routing::recommend(&recommenders, req).await?;
    Ok(HttpResponse::Ok().json(RecommendationsView::from(served)))
}

impl RecommendQuery {
    /// The serving request the query describes (422 naming `k` or `diversity`).
    fn into_request(self, user_id: String) -> Result<RecommendRequest> {
        let k = k_of(self.k)?;
        // Checked at the precision it was sent in: a value just outside the range (a tiny
        // negative, 1 + 1e-12) must not round into it.
        let diversity = self.diversity.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&diversity) {
            return Err(Error::invalid("diversity", "must be between 0 and 1"));
        }
        let diversity = diversity as f32;
        Ok(RecommendRequest {
            user_id,
            k,
            category: self.category,
            exclude: list(self.exclude),
            exclude_seen: self.exclude_seen.unwrap_or(true),
            diversity,
            recent: list(self.recent),
            context: Default::default(),
        })
    }
}

impl From<routing::Served> for RecommendationsView {
    fn from(served: routing::Served) -> Self {
        let out = served.recommendations;
        RecommendationsView {
            user_id: out.user_id,
            model_version: out.model_version,
            recommendation_id: out.recommendation_id,
            experiment: served.variant.map(|v| ExperimentTag {
                id: v.experiment_id,
                name: v.experiment_name,
                variant: v.variant,
            }),
            items: view(out.items),
            recent_events: (out.recent_events > 0).then(|| RecentEventsView {
                count: out.recent_events,
                newest: out
                    .newest_event
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            }),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SimilarQuery {
    /// How many items, 1 to 500 (default 10).
    #[param(minimum = 1, maximum = 500)]
    pub k: Option<i64>,
}

/// Items similar to an item (active ones only).
#[utoipa::path(get, path = "/v1/items/{item_id}/similar", tag = "recommendations",
    params(("item_id" = String, Path, description = "item id"), SimilarQuery),
    security(("bearer" = [])),
    responses((status = 200, body = SimilarView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 503, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/items/{item_id}/similar")]
pub async fn similar(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    item_id: web::Path<String>,
    query: ApiQuery<SimilarQuery>,
) -> Result<HttpResponse> {
    let k = k_of(query.0.k)?;
    let out = state.recommender.get().await?.similar(&item_id, k)?;
    Ok(HttpResponse::Ok().json(SimilarView {
        item_id: out.item_id,
        model_version: out.model_version,
        items: view(out.items),
    }))
}

/// An item as the served recommender knows it.
#[derive(Serialize, ToSchema)]
pub struct ItemView {
    pub item_id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Inactive items are never recommended.
    pub active: bool,
    /// The served model version whose catalogue answered.
    pub model_version: String,
}

/// Look an item up in the served model's catalogue (404 when the model does not know it).
#[utoipa::path(get, path = "/v1/items/{item_id}", tag = "recommendations",
    params(("item_id" = String, Path, description = "item id")),
    security(("bearer" = [])),
    responses((status = 200, body = ItemView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 503, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/items/{item_id}")]
pub async fn item(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    item_id: web::Path<String>,
) -> Result<HttpResponse> {
    let model = state.recommender.get().await?;
    let meta = model.item(&item_id)?;
    Ok(HttpResponse::Ok().json(ItemView {
        item_id: meta.item_id.clone(),
        title: meta.title.clone(),
        category: meta.category.clone(),
        active: meta.active,
        model_version: model.version().to_string(),
    }))
}

/// One recent event of a user, as serving reads it.
#[derive(Serialize, ToSchema)]
pub struct RecentEventView {
    pub event_id: String,
    pub item_id: String,
    pub event_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// RFC 3339, UTC.
    pub ts: String,
}

/// A user as serving sees them.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub user_id: String,
    /// Whether the served model was trained with this user's history (else answers come from
    /// recent events and trending items).
    pub known_to_model: bool,
    /// The served model version.
    pub model_version: String,
    /// The newest recent events (at most `realtime.max_events_per_user`), newest first.
    pub recent_events: Vec<RecentEventView>,
}

/// Look a user up: known to the served model or not, and the recent events serving uses.
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "recommendations",
    params(("user_id" = String, Path, description = "user id")),
    security(("bearer" = [])),
    responses((status = 200, body = UserView),
              (status = 503, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/users/{user_id}")]
pub async fn user(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    user_id: web::Path<String>,
) -> Result<HttpResponse> {
    let model = state.recommender.get().await?;
    let now = crate::db::now_ms();
    let recent = state.app.activity_source().recent(&user_id, now).await?;
    Ok(HttpResponse::Ok().json(UserView {
        known_to_model: model.knows_user(&user_id),
        model_version: model.version().to_string(),
        recent_events: recent
            .into_iter()
            .map(|a| RecentEventView {
                event_id: a.event_id,
                item_id: a.item_id,
                event_type: a.event_type,
                value: a.value,
                ts: crate::db::ms_to_rfc3339(a.ts),
            })
            .collect(),
        user_id: user_id.into_inner(),
    }))
}

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(recommend)
        .service(similar)
        .service(item)
        .service(user);
}
