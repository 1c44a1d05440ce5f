//! Request extractors that turn bad input into problem documents naming the field at fault.
//! actix's own `Json`/`Query` report serde's message without the path, and answer oversized
//! bodies in plain text; these keep the body limit and the error shape under our control.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures::StreamExt;
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::ApiState;
use crate::error::Error;

/// A JSON body, limited to `max_body_bytes`; syntax errors are 400, type errors 422 with the
/// JSON path of the offending field, a NUL in any string 422 with its path (`input`).
/// `CHECK_TEXT = false` leaves the text rule to the handler (the event batch checks each
/// event on its own, so one bad event does not refuse the others).
pub struct ApiJson<T, const CHECK_TEXT: bool = true>(pub T);

fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<web::Data<ApiState>>()
        .map(|s| s.app.settings.max_body_bytes)
        .unwrap_or(8 * 1024 * 1024)
}

fn is_json(req: &HttpRequest) -> bool {
    match req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) => {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        }
        None => false,
    }
}

/// Converts a path-tracked serde error into our error, classifying syntax vs. data problems.
/// The field a "missing field `x`" message names.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(name, _)| name.to_string())
}

/// The field a path-tracked serde error is about: its path, or for a missing field (which
/// serde reports at its parent) the field itself; `None` at the document's root. The API's
/// bodies and queries and the job payloads name their fields by it.
pub fn error_field<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> Option<String> {
    let path = e.path().to_string();
    let parent = (path != ".").then_some(path);
    match missing_field(&e.inner().to_string()) {
        Some(name) => Some(match parent {
            Some(parent) => format!("{parent}.{name}"),
            None => name,
        }),
        None => parent,
    }
}

pub fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let field = error_field(&e);
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        Error::MalformedBody {
            field: None,
            detail: format!("request body is not valid JSON: {inner}"),
        }
    } else {
        Error::Invalid {
            detail: match &field {
                Some(f) => format!("`{f}`: {inner}"),
                None => inner.to_string(),
            },
            field,
        }
    }
}

impl<T: DeserializeOwned + 'static, const CHECK_TEXT: bool> FromRequest for ApiJson<T, CHECK_TEXT> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = body_limit(req);
        if !is_json(req) {
            return Box::pin(async {
                Err(Error::UnsupportedMediaType {
                    detail: "expected Content-Type: application/json".into(),
                })
            });
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Box::pin(async move { Err(Error::PayloadTooLarge { limit }) });
        }
        let mut payload = payload.take();
        Box::pin(async move {
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| Error::MalformedBody {
                    field: None,
                    detail: format!("cannot read request body: {e}"),
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(Error::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            if CHECK_TEXT {
                super::input::check_json(&body)?;
            }
            let de = &mut serde_json::Deserializer::from_slice(&body);
            let value = serde_path_to_error::deserialize(&mut *de).map_err(json_error)?;
            // Anything after the value (a second document, stray bytes) is not this body.
            de.end().map_err(|e| Error::MalformedBody {
                field: None,
                detail: format!("request body is not valid JSON: {e}"),
            })?;
            // Every body is an object: serde would also fill a struct from an array of its
            // fields in order (`[null, null]`), which no schema allows.
            if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                return Err(Error::Invalid {
                    field: None,
                    detail: "the request body must be a JSON object".into(),
                });
            }
            Ok(ApiJson(value))
        })
    }
}

/// Query parameters with the parameter at fault named in the 422.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(
            req.query_string().as_bytes(),
        ));
        std::future::ready(
            serde_path_to_error::deserialize(de)
                .map(ApiQuery)
                .map_err(|e| {
                    let field = error_field(&e);
                    let inner = e.into_inner();
                    Error::Invalid {
                        detail: match &field {
                            Some(f) => format!("query parameter `{f}`: {inner}"),
                            None => format!("query string: {inner}"),
                        },
                        field,
                    }
                }),
        )
    }
}
