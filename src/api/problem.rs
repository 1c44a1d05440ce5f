//! The one mapping from `crate::Error` to HTTP: RFC 7807 `application/problem+json`.
//! Internal errors are logged in full (inside the request's span, so with its request id) and
//! answered with a generic detail, so connection strings and paths never reach a client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 7807 problem document.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the problem kind, `urn:recast:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request field at fault (JSON path for bodies, parameter name for queries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::MalformedBody { .. } => StatusCode::BAD_REQUEST,
        Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
        Error::Forbidden { .. } => StatusCode::FORBIDDEN,
        Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        Error::Config(_)
        | Error::Db(_)
        | Error::Lake(_)
        | Error::Job(_)
        | Error::Etl(_)
        | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl Problem {
    pub fn from_error(e: &Error) -> Problem {
        let status = status_of(e);
        let detail = if e.is_internal() {
            "the server could not complete the request; the error is logged".to_string()
        } else {
            e.to_string()
        };
        Problem {
            problem_type: format!("urn:recast:problem:{}", e.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            field: e.field().map(str::to_string),
        }
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = HttpResponse::build(status);
        builder.insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE));
        if status == StatusCode::UNAUTHORIZED {
            builder.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        builder.body(serde_json::to_vec(&self).unwrap_or_default())
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        status_of(self)
    }

    fn error_response(&self) -> HttpResponse {
        if self.is_internal() {
            tracing::error!(error = %self.chain(), code = self.code(), "request failed");
        }
        let mut response = Problem::from_error(self).into_response();
        match self {
            Error::TooManyRequests {
                retry_after_seconds,
                ..
            } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            Error::MethodNotAllowed { allowed, .. } => {
                if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
            }
            _ => {}
        }
        response
    }
}
