//! The OpenAPI document, generated from the handlers' annotations. `openapi/openapi.json` in
//! the repository is this document; a test fails when the two differ.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    events, experiments, features, forecasts, health, jobs, pipelines, problem, recommendations,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "recast",
        description = "Recommendations, demand forecasts, features and experiments. \
            Authenticate with `Authorization: Bearer <key>`; keys carry the role reader, ingest or admin \
            (admin > ingest > reader). Errors are application/problem+json.",
        license(name = "Apache-2.0")
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        jobs::list_jobs,
        jobs::get_job,
        jobs::create_job,
        jobs::cancel_job,
        pipelines::list_pipelines,
        pipelines::run_pipeline,
        pipelines::list_runs,
        events::ingest_events,
        features::list_views,
        features::get_entity,
        features::online_features,
        features::historical_features,
        forecasts::list_forecasts,
        forecasts::get_forecast,
        forecasts::get_history,
        forecasts::get_chart,
        recommendations::recommend,
        recommendations::similar,
        recommendations::list_models,
        recommendations::promote_model,
        experiments::create_experiment,
        experiments::list_experiments,
        experiments::get_experiment,
        experiments::update_experiment,
        experiments::start_experiment,
        experiments::stop_experiment,
        experiments::get_assignment,
        experiments::get_results,
    ),
    components(schemas(problem::Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "jobs", description = "Background jobs: training, pipelines, maintenance"),
        (name = "pipelines", description = "ETL pipelines into the lake and their run reports"),
        (name = "events", description = "Interaction events into the durable buffer and on to the lake"),
        (name = "features", description = "Feature store: views, online values with TTL and staleness, point-in-time correct historical retrieval"),
        (name = "forecasts", description = "Demand forecasts per item x store, item and store: points with 80/95 % intervals, backtest accuracy, actuals, charts"),
        (name = "recommendations", description = "Personal recommendations and similar items from the promoted model"),
        (name = "models", description = "Model registry: versions, metrics, promotion"),
        (name = "experiments", description = "A/B experiments on recommendation variants: definitions, deterministic assignment, exposures and results"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON with a trailing newline: the exact bytes of the committed file.
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("OpenAPI document serializes");
    text.push('\n');
    text
}
