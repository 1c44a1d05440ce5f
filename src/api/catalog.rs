//! `PUT /v1/items/{item_id}` and `PUT /v1/users/{user_id}`: frontends keep the catalogue and
//! their users fresh between ETL runs. Thin: the body becomes one canonical record and
//! `etl::upsert` converts and commits it like a pipeline row.

use actix_web::{HttpResponse, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiState;
use super::auth::{Authed, Ingest};
use super::extract::ApiJson;
use crate::error::{Error, Result};
use crate::etl::schema::Dataset;
use crate::etl::upsert::{self, Upserted};

/// A catalogue item as a frontend knows it; the newest write of an item wins.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemUpsert {
    /// Not blank.
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1000)]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1000)]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0)]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)]
    pub tags: Vec<String>,
    /// Inactive items are not recommended once a model is trained on this row (default true).
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl ItemUpsert {
    /// The limits the schema declares, naming the field.
    fn check(&self) -> Result<()> {
        // Blank as the schema's pattern (ECMAScript `\s`, which counts U+FEFF) says.
        if self
            .title
            .chars()
            .all(|c| c.is_whitespace() || c == '\u{feff}')
        {
            return Err(Error::invalid("title", "`title` must not be blank"));
        }
        check_len("title", Some(&self.title), 1000)?;
        check_len("description", self.description.as_deref(), 10_000)?;
        check_len("category", self.category.as_deref(), 1000)?;
        check_len("brand", self.brand.as_deref(), 1000)?;
        if self.price.is_some_and(|p| !(p >= 0.0 && p.is_finite())) {
            return Err(Error::invalid("price", "`price` must be a number >= 0"));
        }
        if self.tags.len() > 100 {
            return Err(Error::invalid("tags", "at most 100 tags"));
        }
        Ok(())
    }
}

fn check_len(field: &str, value: Option<&str>, max: usize) -> Result<()> {
    match value {
        Some(v) if v.chars().count() > max => Err(Error::invalid(
            field,
            format!("`{field}` is longer than {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// A user's attributes; the newest write of a user wins.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpsert {
    /// When the user signed up (RFC 3339, not in the future); the call's time when absent.
    /// A user's signup time is the earliest `created_at` of its rows, so an update may omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1000)]
    pub segment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1000)]
    pub region: Option<String>,
}

/// Where the written row went.
#[derive(Serialize, ToSchema)]
pub struct UpsertResult {
    /// The id written.
    pub id: String,
    /// The dataset holding the row (`items`, `users`).
    pub dataset: String,
    /// The lake commit holding it.
    pub commit_id: Option<i64>,
    /// The row's version time (`updated_at`), RFC 3339: of a user's or an item's rows the
    /// newest is current.
    pub at: String,
}

fn answer(id: String, dataset: Dataset, written: Upserted) -> HttpResponse {
    HttpResponse::Ok().json(UpsertResult {
        id,
        dataset: dataset.name().to_string(),
        commit_id: written.commit_id,
        at: written.at,
    })
}

fn record(body: &impl Serialize) -> Result<serde_json::Map<String, serde_json::Value>> {
    match serde_json::to_value(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(Error::internal(std::io::Error::other(
            "body is not an object",
        ))),
    }
}

/// Write an item: one new row of the `items` dataset, committed before the answer.
#[utoipa::path(put, path = "/v1/items/{item_id}", tag = "events",
    params(("item_id" = String, Path, description = "item id")),
    request_body = ItemUpsert,
    security(("bearer" = [])),
    responses((status = 200, body = UpsertResult)))]
#[put("/v1/items/{item_id}")]
pub async fn put_item(
    _auth: Authed<Ingest>,
    state: web::Data<ApiState>,
    item_id: web::Path<String>,
    body: ApiJson<ItemUpsert>,
) -> Result<HttpResponse> {
    body.0.check()?;
    let id = item_id.into_inner();
    let written = upsert::upsert(&state.app, Dataset::Items, &id, record(&body.0)?).await?;
    Ok(answer(id, Dataset::Items, written))
}

/// Write a user: one new row of the `users` dataset, committed before the answer.
#[utoipa::path(put, path = "/v1/users/{user_id}", tag = "events",
    params(("user_id" = String, Path, description = "user id")),
    request_body = UserUpsert,
    security(("bearer" = [])),
    responses((status = 200, body = UpsertResult)))]
#[put("/v1/users/{user_id}")]
pub async fn put_user(
    _auth: Authed<Ingest>,
    state: web::Data<ApiState>,
    user_id: web::Path<String>,
    body: ApiJson<UserUpsert>,
) -> Result<HttpResponse> {
    check_len("created_at", body.0.created_at.as_deref(), 64)?;
    check_len("segment", body.0.segment.as_deref(), 1000)?;
    check_len("region", body.0.region.as_deref(), 1000)?;
    let id = user_id.into_inner();
    let written = upsert::upsert(&state.app, Dataset::Users, &id, record(&body.0)?).await?;
    Ok(answer(id, Dataset::Users, written))
}

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(put_item).service(put_user);
}
