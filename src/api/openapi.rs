//! The OpenAPI document: its frame (info, tags, security) here, its operations collected
//! from the routes each resource module registers. `openapi/openapi.json` in
//! the repository is this document; a test fails when the two differ.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use super::problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "recast",
        description = "Recommendations, demand forecasts, features and experiments. \
            Authenticate with `Authorization: Bearer <key>`; keys carry the role reader, ingest or admin \
            (admin > ingest > reader). Errors are application/problem+json.",
        license(name = "Apache-2.0")
    ),
    components(schemas(problem::Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "jobs", description = "Background jobs: training, pipelines, maintenance"),
        (name = "keys", description = "API keys: list, create, revoke (admin)"),
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
/// Its operations are collected from the routes themselves ([`super::routes`]).
pub fn document() -> String {
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(super::routes)
        .split_for_parts();
    let mut text = api.to_pretty_json().expect("OpenAPI document serializes");
    text.push('\n');
    text
}
