//! `/openapi.json` and the Swagger UI at `/docs`. The UI's assets are vendored under
//! `assets/swagger-ui` and compiled into the binary: nothing is fetched at build or run time,
//! and the docs work on an air-gapped host.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

use super::ApiState;

const INDEX: &str = include_str!("../../assets/swagger-ui/index.html");
const INIT_JS: &str = include_str!("../../assets/swagger-ui/init.js");
const BUNDLE_JS: &str = include_str!("../../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &str = include_str!("../../assets/swagger-ui/swagger-ui.css");
const FAVICON: &[u8] = include_bytes!("../../assets/swagger-ui/favicon-32x32.png");

/// The OpenAPI document of this server.
#[get("/openapi.json")]
pub async fn openapi_json(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi_json.clone())
}

#[get("/docs")]
pub async fn docs_index() -> HttpResponse {
    html(INDEX)
}

#[get("/docs/")]
pub async fn docs_index_slash() -> HttpResponse {
    html(INDEX)
}

#[get("/docs/assets/{file}")]
pub async fn docs_asset(file: web::Path<String>) -> HttpResponse {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "init.js" => (INIT_JS.as_bytes(), "text/javascript; charset=utf-8"),
        "swagger-ui-bundle.js" => (BUNDLE_JS.as_bytes(), "text/javascript; charset=utf-8"),
        "swagger-ui.css" => (CSS.as_bytes(), "text/css; charset=utf-8"),
        "favicon-32x32.png" => (FAVICON, "image/png"),
        other => {
            return crate::api::problem::Problem::from_error(&crate::Error::not_found(
                "asset", other,
            ))
            .into_response();
        }
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(body)
}

fn html(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// The document's own routes (`/openapi.json` and the UI): not operations of the API, so they
/// are registered outside the documented set.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(openapi_json)
        .service(docs_index)
        .service(docs_index_slash)
        .service(docs_asset);
}
