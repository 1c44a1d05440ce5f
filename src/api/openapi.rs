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
            Authenticate with `Authorization: Bearer <key>`; keys carry the role reader, ingest, planner or admin \
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
    let mut api = api;
    declare_common_answers(&mut api);
    let mut doc = serde_json::to_value(&api).expect("OpenAPI document serializes");
    declare_text_rule(&mut doc);
    let mut text = serde_json::to_string_pretty(&doc).expect("OpenAPI document serializes");
    text.push('\n');
    text
}

/// The answers every operation of a kind can give whatever the handler does, declared once
/// here so no operation can leave them out: a key-protected one answers 401 (no or unknown
/// key), 403 (a lower role) and 429 (`max_concurrent_per_key`); one with parameters 422 (a
/// value refused, NUL included); one with a body 400 (not JSON), 413 (over `max_body_bytes`),
/// 415 (not `application/json`) and 422. An answer the operation already declares is kept.
fn declare_common_answers(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::Operation;
    let common = |op: &mut Operation| {
        let mut codes: Vec<(&str, &str)> =
            vec![("431", "more than 64 request headers or 16 KiB of them")];
        if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
            codes.extend([
                ("401", "no key, or an unknown or revoked one"),
                ("403", "the key's role is below the route's"),
                (
                    "429",
                    "the key has max_concurrent_per_key requests in flight; see Retry-After",
                ),
            ]);
        }
        if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
            codes.push(("422", "a parameter is refused; `field` names it"));
        }
        if op.request_body.is_some() {
            codes.extend([
                ("400", "the body is not JSON"),
                ("413", "the body is larger than max_body_bytes"),
                ("415", "the body is not application/json"),
                (
                    "422",
                    "a body field is refused; `field` names its JSON path",
                ),
            ]);
        }
        for (code, description) in codes {
            op.responses
                .responses
                .entry(code.to_string())
                .or_insert_with(|| problem_response(description).into());
        }
    };
    for item in api.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            common(op);
        }
    }
}

/// Path parameters: no control character, C1 included (`char::is_control`, the rule of
/// `api::input` for identifiers).
const PATH_TEXT: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$";
/// Query parameters and body strings: no NUL.
const ANY_TEXT: &str = "^[^\\u0000]*$";

/// States the one text rule of `api::input` in the schemas, so a generated request that
/// follows the document is not refused by it: every string parameter and every string
/// property of a component schema without a pattern of its own gets one.
fn declare_text_rule(doc: &mut serde_json::Value) {
    if let Some(paths) = doc["paths"].as_object_mut() {
        let operations = paths
            .values_mut()
            .filter_map(|item| item.as_object_mut())
            .flat_map(|item| item.values_mut())
            .filter_map(|op| op.as_object_mut());
        for op in operations {
            let params = op.get_mut("parameters").and_then(|p| p.as_array_mut());
            for param in params.into_iter().flatten() {
                let pattern = if param["in"] == "path" {
                    PATH_TEXT
                } else {
                    ANY_TEXT
                };
                if let Some(schema) = param.get_mut("schema") {
                    text_pattern(schema, pattern);
                }
            }
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut() {
            strings_without_nul(schema);
        }
    }
}

fn text_pattern(schema: &mut serde_json::Value, pattern: &str) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let is_string = match object.get("type") {
        Some(serde_json::Value::String(t)) => t == "string",
        Some(serde_json::Value::Array(types)) => types.iter().any(|t| t == "string"),
        _ => false,
    };
    if is_string && !object.contains_key("pattern") && !object.contains_key("format") {
        object.insert(
            "pattern".into(),
            serde_json::Value::String(pattern.to_string()),
        );
    }
}

fn strings_without_nul(schema: &mut serde_json::Value) {
    text_pattern(schema, ANY_TEXT);
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(props) = object.get_mut("properties").and_then(|p| p.as_object_mut()) {
        props.values_mut().for_each(strings_without_nul);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = object.get_mut(key) {
            strings_without_nul(inner);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = object.get_mut(key).and_then(|l| l.as_array_mut()) {
            list.iter_mut().for_each(strings_without_nul);
        }
    }
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            problem::PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The methods each documented path answers, to tell "no such route" (404) from "not with
/// this method" (405 with `Allow`).
pub struct MethodIndex {
    routes: Vec<(Vec<String>, Vec<String>)>,
}

impl MethodIndex {
    /// From the served document's JSON.
    pub fn from_document(json: &str) -> MethodIndex {
        let doc: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let routes = doc["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, item)| {
                        let segments = path.split('/').map(str::to_string).collect();
                        let methods = item
                            .as_object()
                            .map(|m| m.keys().map(|k| k.to_ascii_uppercase()).collect())
                            .unwrap_or_default();
                        (segments, methods)
                    })
                    .collect()
            })
            .unwrap_or_default();
        MethodIndex { routes }
    }

    /// The methods of the documented path `path` matches, if any (`{param}` matches any one
    /// segment).
    pub fn allowed(&self, path: &str) -> Option<Vec<String>> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut allowed: Vec<String> = self
            .routes
            .iter()
            .filter(|(pattern, _)| {
                pattern.len() == segments.len()
                    && pattern.iter().zip(&segments).all(|(p, s)| {
                        (p.starts_with('{') && p.ends_with('}') && !s.is_empty()) || p == s
                    })
            })
            .flat_map(|(_, methods)| methods.iter().cloned())
            .collect();
        allowed.sort();
        allowed.dedup();
        (!allowed.is_empty()).then_some(allowed)
    }
}
