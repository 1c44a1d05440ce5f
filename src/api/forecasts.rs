//! `/v1/forecasts`: the latest demand forecasts per series, their actuals and a chart.
//! Series ids contain `/` and `=`: clients percent-encode them in the path.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiState;
use super::auth::{Authed, Planner, Reader};
use super::extract::{ApiJson, ApiQuery};
use crate::error::Result;
use crate::forecast::overrides::{self, NewOverride, OverrideList, OverrideView};
use crate::forecast::realised;
use crate::forecast::serving::{
    self, ForecastView, HistoryView, ListQuery, SeriesPage, parse_levels,
};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ForecastListQuery {
    /// Only series of this item.
    pub item_id: Option<String>,
    /// Only series of this store.
    pub store_id: Option<String>,
    /// item_store, item, store, category or total.
    #[param(pattern = "^(item_store|item|store|total)$")]
    pub level: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ForecastQuery {
    /// Steps to return, at most the trained horizon (default: all).
    #[param(minimum = 1, maximum = 366)]
    pub horizon: Option<usize>,
    /// Interval levels, comma-separated, among those trained (80, 95; default both).
    #[param(pattern = "^(80|95)(,(80|95))*$")]
    pub levels: Option<String>,
}

/// Series with a stored forecast, in series id order.
#[utoipa::path(get, path = "/v1/forecasts", tag = "forecasts", params(ForecastListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = SeriesPage),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/forecasts")]
pub async fn list_forecasts(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    query: ApiQuery<ForecastListQuery>,
) -> Result<HttpResponse> {
    let q = query.0;
    let level = q.level.as_deref().map(str::parse).transpose()?;
    let page = serving::list(
        &state.app,
        ListQuery {
            item_id: q.item_id,
            store_id: q.store_id,
            level,
            cursor: q.cursor,
            limit: q.limit,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The latest forecast of one series: points with 80/95 % bands and backtest accuracy.
#[utoipa::path(get, path = "/v1/forecasts/{series_id}", tag = "forecasts",
    params(("series_id" = String, Path, description = "series id, percent-encoded (e.g. item%3DI1%2Fstore%3DS1)"), ForecastQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ForecastView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, description = "horizon beyond the trained one, or untrained levels", body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/forecasts/{series_id}")]
pub async fn get_forecast(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    series_id: web::Path<String>,
    query: ApiQuery<ForecastQuery>,
) -> Result<HttpResponse> {
    let q = query.0;
    let levels = q.levels.as_deref().map(parse_levels).transpose()?;
    let view = serving::forecast(&state.app, &series_id, q.horizon, levels.as_deref()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The series' actuals from the lake, zero-filled, up to the trained history end.
#[utoipa::path(get, path = "/v1/forecasts/{series_id}/history", tag = "forecasts",
    params(("series_id" = String, Path, description = "series id, percent-encoded")),
    security(("bearer" = [])),
    responses((status = 200, body = HistoryView),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/forecasts/{series_id}/history")]
pub async fn get_history(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    series_id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(serving::history(&state.app, &series_id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChartQuery {
    /// History periods shown before the forecast, 1 to 3660 (default: four times the
    /// forecast's steps, at least 28; fewer when the series has fewer).
    #[param(minimum = 1, maximum = 3660)]
    pub history: Option<usize>,
}

/// An SVG chart: the last `history` actuals, the forecast and its 80/95 % bands, titled with
/// the item's catalogue name when the served recommender knows it (else the series id).
#[utoipa::path(get, path = "/v1/forecasts/{series_id}/chart.svg", tag = "forecasts",
    params(("series_id" = String, Path, description = "series id, percent-encoded"), ChartQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "SVG image", body = String, content_type = "image/svg+xml"),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/forecasts/{series_id}/chart.svg")]
pub async fn get_chart(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    series_id: web::Path<String>,
    query: ApiQuery<ChartQuery>,
) -> Result<HttpResponse> {
    let svg = serving::chart(&state.app, &state.recommender, &series_id, query.0.history).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/svg+xml"))
        .body(svg))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccuracyQuery {
    /// Realised MASE above this many times the backtest MASE flags drift (default 1.5;
    /// 1 to 100).
    #[param(minimum = 1, maximum = 100)]
    pub drift_factor: Option<f64>,
}

fn drift_factor(q: &AccuracyQuery) -> Result<f64> {
    let f = q.drift_factor.unwrap_or(realised::DEFAULT_DRIFT_FACTOR);
    if (1.0..=100.0).contains(&f) {
        Ok(f)
    } else {
        Err(crate::error::Error::invalid(
            "drift_factor",
            "must be between 1 and 100",
        ))
    }
}

/// How accurate the series' forecast turned out: MASE, sMAPE, bias and interval coverage over
/// the target periods whose actuals have landed, per horizon step, next to the backtest MASE
/// the run chose the model on, with a drift flag.
#[utoipa::path(get, path = "/v1/forecasts/{series_id}/accuracy", tag = "forecasts",
    params(("series_id" = String, Path, description = "series id, percent-encoded"), AccuracyQuery),
    security(("bearer" = [])),
    responses((status = 200, body = realised::SeriesAccuracy),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/forecasts/{series_id}/accuracy")]
pub async fn get_accuracy(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    series_id: web::Path<String>,
    query: ApiQuery<AccuracyQuery>,
) -> Result<HttpResponse> {
    let factor = drift_factor(&query.0)?;
    let view = realised::series_accuracy(&state.app, &series_id, factor).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// How accurate a training run's forecasts turned out so far: over every scored series, per
/// horizon step and per level, with the series that drift.
#[utoipa::path(get, path = "/v1/forecasts/runs/{run_id}/accuracy", tag = "forecasts",
    params(("run_id" = String, Path, description = "forecast run id"), AccuracyQuery),
    security(("bearer" = [])),
    responses((status = 200, body = realised::RunAccuracy),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/forecasts/runs/{run_id}/accuracy")]
pub async fn get_run_accuracy(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    run_id: web::Path<String>,
    query: ApiQuery<AccuracyQuery>,
) -> Result<HttpResponse> {
    let factor = drift_factor(&query.0)?;
    let view = realised::run_accuracy(&state.app, &run_id, factor).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Sets a planner override of the series' forecast for a date range: a quantity (`value`) or
/// a change in percent (`percent`), with a reason. Served forecasts apply it on top of every
/// run (it survives retraining); the audit trail keeps who set it and when.
#[utoipa::path(post, path = "/v1/forecasts/{series_id}/overrides", tag = "forecasts",
    params(("series_id" = String, Path, description = "series id, percent-encoded")),
    request_body = NewOverride,
    security(("bearer" = [])),
    responses((status = 201, body = OverrideView),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::problem::Problem, content_type = "application/problem+json")))]
#[post("/v1/forecasts/{series_id}/overrides")]
pub async fn create_override(
    auth: Authed<Planner>,
    state: web::Data<ApiState>,
    series_id: web::Path<String>,
    body: ApiJson<NewOverride>,
) -> Result<HttpResponse> {
    let by = &auth.principal.key_id;
    let view = overrides::create(&state.app, &series_id, &body.0, by).await?;
    Ok(HttpResponse::Created().json(view))
}

/// The series' overrides, withdrawn ones too (the audit trail), each with its forecast value
/// added once actuals have landed for periods it covers.
#[utoipa::path(get, path = "/v1/forecasts/{series_id}/overrides", tag = "forecasts",
    params(("series_id" = String, Path, description = "series id, percent-encoded")),
    security(("bearer" = [])),
    responses((status = 200, body = OverrideList),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json")))]
#[get("/v1/forecasts/{series_id}/overrides")]
pub async fn list_overrides(
    _auth: Authed<Reader>,
    state: web::Data<ApiState>,
    series_id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(overrides::list(&state.app, &series_id).await?))
}

/// Withdraws an override: served forecasts no longer apply it; the trail keeps it with who
/// withdrew it and when.
#[utoipa::path(delete, path = "/v1/forecasts/{series_id}/overrides/{override_id}", tag = "forecasts",
    params(("series_id" = String, Path, description = "series id, percent-encoded"),
           ("override_id" = String, Path, description = "override id")),
    security(("bearer" = [])),
    responses((status = 200, body = OverrideView),
              (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
              (status = 404, body = super::problem::Problem, content_type = "application/problem+json")))]
#[delete("/v1/forecasts/{series_id}/overrides/{override_id}")]
pub async fn retire_override(
    auth: Authed<Planner>,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (series_id, override_id) = path.into_inner();
    let by = &auth.principal.key_id;
    let view = overrides::retire(&state.app, &series_id, &override_id, by).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_forecasts)
        .service(get_forecast)
        .service(list_overrides)
        .service(create_override)
        .service(retire_override)
        .service(get_history)
        .service(get_chart)
        .service(get_accuracy)
        .service(get_run_accuracy);
}
