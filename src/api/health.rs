//! Liveness, readiness and metrics. Liveness never touches dependencies (a slow DB must not get
//! the process restarted); readiness does, with a timeout, so a load balancer stops sending
//! traffic to a replica that cannot reach its DB or lake.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    pub status: String,
    pub version: String,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`
    pub status: String,
    /// `ok` or the reason, per dependency (`database`, `lake`).
    pub checks: std::collections::BTreeMap<String, String>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "alive", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

async fn check<E: std::fmt::Display>(fut: impl Future<Output = Result<(), E>>) -> String {
    match tokio::time::timeout(CHECK_TIMEOUT, fut).await {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            "unreachable".into()
        }
        Err(_) => "timed out".into(),
    }
}

/// Readiness: the metadata DB and the lake answer.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready", body = Readiness),
              (status = 503, description = "a dependency is unreachable", body = Readiness)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<ApiState>) -> HttpResponse {
    let (db, lake) = tokio::join!(check(state.app.db.ping()), check(state.app.lake.check()));
    let ready = db == "ok" && lake == "ok";
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" }.into(),
        checks: [("database".to_string(), db), ("lake".to_string(), lake)].into(),
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "metrics", content_type = "application/openmetrics-text", body = String)))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<ApiState>) -> HttpResponse {
    match state.queue.counts_by_state().await {
        Ok(counts) => {
            for (job_state, count) in counts {
                state.metrics.set_job_count(job_state.as_str(), count);
            }
        }
        Err(e) => tracing::warn!(error = %e, "job counts unavailable for /metrics"),
    }
    match model_state(&state.models).await {
        Ok((served, decisions)) => {
            state.metrics.set_served(&served);
            state.metrics.set_decisions(&decisions);
        }
        Err(e) => tracing::warn!(error = %e, "model versions unavailable for /metrics"),
    }
    match realised_now(&state.app).await {
        Ok((mase, points)) => state.metrics.set_realised(mase, points),
        Err(e) => tracing::warn!(error = %e, "realised forecast accuracy unavailable for /metrics"),
    }
    match ingest_state(&state.app).await {
        Ok((streams, waiting)) => state.metrics.set_streams(&streams, waiting),
        Err(e) => tracing::warn!(error = %e, "stream and buffer state unavailable for /metrics"),
    }
    let activity = &state.app.activity;
    let (users, events) = activity.held();
    let current = activity.is_current(crate::db::now_ms());
    state.metrics.set_activity(users, events, current);
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

/// The promoted version per kind, and gate decisions per kind and outcome (latest 1,000
/// versions), read from the registry at scrape time like the job counts.
async fn model_state(
    models: &crate::registry::ModelRegistry,
) -> Result<StateCounts, crate::registry::RegistryError> {
    let mut served = Vec::new();
    let mut decisions: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for kind in crate::registry::Kind::ALL {
        if let Some(v) = models.promoted(kind).await? {
            served.push((kind.to_string(), v.id));
        }
    }
    for v in models.list(None, 1000).await? {
        if let Some(promoted) = v.metrics["gate"]["promoted"].as_bool() {
            let outcome = if promoted { "promoted" } else { "refused" };
            *decisions.entry((v.kind, outcome.into())).or_default() += 1;
        }
    }
    let decisions = decisions.into_iter().map(|((k, o), n)| (k, o, n)).collect();
    Ok((served, decisions))
}

/// Stream pipelines' lag as their consumers last recorded it, and the event buffer's backlog
/// (counted up to a million).
async fn ingest_state(
    app: &crate::app::App,
) -> Result<(Vec<super::metrics::StreamFigures>, i64), crate::db::DbError> {
    let streams = crate::db::streams::all(&app.db)
        .await?
        .into_iter()
        .map(|s| super::metrics::StreamFigures {
            pipeline: s.pipeline,
            lag_messages: s.pending + s.ack_pending,
            landed_rows: s.landed_total,
            visible_lag_seconds: s.visible_lag_ms.map(|ms| ms as f64 / 1000.0),
        })
        .collect();
    let waiting = crate::db::events::pending(&app.db, 1_000_000).await?;
    Ok((streams, waiting))
}

/// The served forecaster run's realised MASE and scored points (None and 0 without one).
async fn realised_now(
    app: &crate::app::App,
) -> Result<(Option<f64>, usize), crate::forecast::DemandError> {
    let Some(v) = app
        .models
        .promoted(crate::registry::Kind::Forecaster)
        .await?
    else {
        return Ok((None, 0));
    };
    let Some(run_id) = v.params["run_id"].as_str() else {
        return Ok((None, 0));
    };
    let realised = crate::forecast::realised::run_accuracy(app, run_id, 1.5).await?;
    Ok((realised.realised.mase, realised.realised.points))
}

type StateCounts = (Vec<(String, String)>, Vec<(String, String, i64)>);

/// This resource's routes; each carries its part of the OpenAPI document.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}
