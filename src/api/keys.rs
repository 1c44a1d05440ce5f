//! `/v1/keys`: API keys for operators (admin only). A created key's secret is in the answer
//! once and never again; a revoked key is refused at once by every replica (keys are looked
//! up per request, not cached).

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiState;
use super::auth::{Admin, Authed};
use super::extract::ApiJson;
use crate::auth::{KeyInfo, Role};
use crate::error::{Error, Result};

/// A key's facts, never its secret.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    /// reader, ingest, planner or admin
    #[schema(pattern = "^(reader|ingest|planner|admin)$")]
    pub role: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

impl From<KeyInfo> for KeyView {
    fn from(k: KeyInfo) -> Self {
        let time = crate::db::ms_to_rfc3339;
        KeyView {
            id: k.id,
            name: k.name,
            role: k.role.as_str().to_string(),
            created_at: time(k.created_at),
            revoked_at: k.revoked_at.map(time),
            last_used_at: k.last_used_at.map(time),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// 1 to 200 characters: who or what uses the key.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// reader, ingest, planner or admin
    #[schema(pattern = "^(reader|ingest|planner|admin)$")]
    pub role: String,
}

/// A new key: `secret` is shown this once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedKeyView {
    pub key: KeyView,
    pub secret: String,
}

/// Every key, newest first (admin).
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    security(("bearer" = [])),
    responses((status = 200, body = KeyList),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/keys")]
pub async fn list_keys(_auth: Authed<Admin>, state: web::Data<ApiState>) -> Result<HttpResponse> {
    let keys = state.keys.list().await?;
    Ok(HttpResponse::Ok().json(KeyList {
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

/// Create a key (admin); the answer holds its secret, which is stored only hashed.
#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    request_body = CreateKey,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedKeyView),
              (status = 400, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 415, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/keys")]
pub async fn create_key(
    _auth: Authed<Admin>,
    state: web::Data<ApiState>,
    body: ApiJson<CreateKey>,
) -> Result<HttpResponse> {
    let role: Role = body
        .0
        .role
        .parse()
        .map_err(|e: String| Error::invalid("role", e))?;
    let created = state.keys.create(&body.0.name, role).await?;
    Ok(HttpResponse::Created().json(CreatedKeyView {
        key: KeyView::from(created.info),
        secret: created.secret,
    }))
}

/// Revoke a key (admin): refused from the next request on, on every replica. A key cannot
/// revoke itself (409): that would lock out the caller, possibly the last admin.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "key id")),
    security(("bearer" = [])),
    responses((status = 200, body = KeyView),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 409, description = "the key making the request", body = super::problem::Problem, content_type = "application/problem+json")))]
#[delete("/v1/keys/{id}")]
pub async fn revoke_key(
    auth: Authed<Admin>,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    if auth.principal.key_id == *id {
        return Err(Error::Conflict {
            detail: "a key cannot revoke itself; revoke it with another admin key".into(),
        });
    }
    let revoked = state.keys.revoke(&id).await?;
    Ok(HttpResponse::Ok().json(KeyView::from(revoked)))
}

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_keys)
        .service(create_key)
        .service(revoke_key);
}
