//! Per-request observability: a request id (the caller's `X-Request-Id` when it looks sane,
//! else a new one) on the tracing span and the response, one log line per request, and the
//! route-level metrics. Routes are labelled by their pattern (`/v1/jobs/{id}`), never the raw
//! path, so metric cardinality stays bounded.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use tracing::Instrument;

use super::ApiState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the current request, available to handlers through the request extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let sane = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    sane.then(|| value.to_string())
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = incoming_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let state = req.app_data::<web::Data<ApiState>>().cloned();
    let method = req.method().to_string();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %req.path());

    let mut res = next.call(req).instrument(span.clone()).await?;

    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".to_string());
    let status = res.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    if let Some(state) = state {
        state
            .metrics
            .observe_request(&method, &route, status, seconds);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    span.in_scope(|| {
        let ms = seconds * 1000.0;
        if route == "/metrics" || route == "/healthz" || route == "/readyz" {
            tracing::debug!(status, route = %route, ms, "request");
        } else {
            tracing::info!(status, route = %route, ms, "request");
        }
    });
    Ok(res)
}

/// Most request headers a request may carry, and most bytes of them (names and values).
/// Below actix-http's own limits (96 headers, 128 KiB), whose 431 has no body: a client over
/// these gets a problem+json saying which limit it crossed.
pub const MAX_HEADERS: usize = 64;
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses requests over [`MAX_HEADERS`] or [`MAX_HEADER_BYTES`] with 431 before anything
/// else reads them.
pub async fn limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let headers = req.headers();
    let count = headers.len();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let detail = if count > MAX_HEADERS {
        Some(format!(
            "{count} request headers; at most {MAX_HEADERS} are accepted"
        ))
    } else if bytes > MAX_HEADER_BYTES {
        Some(format!(
            "{bytes} bytes of request headers; at most {MAX_HEADER_BYTES} are accepted"
        ))
    } else {
        None
    };
    match detail {
        None => Ok(next.call(req).await?.map_into_left_body()),
        Some(detail) => {
            let e = crate::error::Error::HeadersTooLarge { detail };
            let response = actix_web::ResponseError::error_response(&e);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// Headers every answer carries: no MIME sniffing, no framing by other sites, and a content
/// security policy that lets the Swagger UI (its vendored script and styles, data: images)
/// run and nothing else. JSON answers are unaffected by the policy; HTML ones are hardened.
pub fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'none'",
        ))
}

/// CORS for browser frontends: the configured origins (or any, for `*`) may call the API with
/// a bearer key; without origins the middleware is off (no CORS header, browsers keep to
/// same-origin, and requests carrying an `Origin` are served as before).
pub fn cors(origins: &[String]) -> actix_web::middleware::Condition<actix_cors::Cors> {
    let mut cors = actix_cors::Cors::default();
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    let cors = cors
        .allowed_methods(["GET", "POST", "PUT", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            HeaderName::from_static(REQUEST_ID_HEADER),
        ])
        .expose_headers([HeaderName::from_static(REQUEST_ID_HEADER)])
        .max_age(3600);
    actix_web::middleware::Condition::new(!origins.is_empty(), cors)
}
