//! Bearer-key authentication as an extractor: a handler states the role it needs in its
//! signature (`Authed<Admin>`), so a route cannot forget its check and the OpenAPI document
//! and the code say the same thing.
//!
//! Why a middleware too: actix polls a handler's extractors together, so a body that fails
//! validation could answer 422 while the key lookup was still waiting on the database. The
//! [`authenticate`] middleware looks the key up before any extractor runs and leaves the
//! outcome in the request; `Authed` (every protected handler's first parameter) then decides
//! at once: 401, 403, then the text rule on path and query (`input`), and only then the body.

use std::marker::PhantomData;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::ApiState;
use crate::auth::{Principal, Role};
use crate::error::Error;

pub trait RequiredRole {
    const ROLE: Role;
}

pub struct Reader;
pub struct Ingest;
pub struct Planner;
pub struct Admin;

impl RequiredRole for Reader {
    const ROLE: Role = Role::Reader;
}
impl RequiredRole for Ingest {
    const ROLE: Role = Role::Ingest;
}
impl RequiredRole for Planner {
    const ROLE: Role = Role::Planner;
}
impl RequiredRole for Admin {
    const ROLE: Role = Role::Admin;
}

/// The caller, authenticated and holding at least role `R`.
pub struct Authed<R: RequiredRole> {
    pub principal: Principal,
    _role: PhantomData<R>,
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// What the [`authenticate`] middleware found, for the extractor.
#[derive(Clone)]
enum Authentication {
    Missing,
    Unknown,
    Found(Principal),
    /// The key store failed (database down): the extractor answers with it.
    Failed(String),
}

async fn look_up(state: &ApiState, token: Option<String>) -> Authentication {
    let Some(token) = token else {
        return Authentication::Missing;
    };
    match state.keys.authenticate(&token).await {
        Ok(Some(principal)) => Authentication::Found(principal),
        Ok(None) => Authentication::Unknown,
        Err(e) => Authentication::Failed(e.to_string()),
    }
}

/// Requests in flight per key in this process, bounded by `max_concurrent_per_key`.
#[derive(Default)]
pub struct KeyLimiter {
    in_flight: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// One request's place under its key's bound; released when dropped.
pub struct Permit<'a> {
    limiter: &'a KeyLimiter,
    key_id: String,
}

impl KeyLimiter {
    fn try_acquire(&self, key_id: &str, limit: usize) -> Option<Permit<'_>> {
        let mut in_flight = self.in_flight.lock().expect("not poisoned");
        let n = in_flight.entry(key_id.to_string()).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Permit {
            limiter: self,
            key_id: key_id.to_string(),
        })
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.limiter.in_flight.lock().expect("not poisoned");
        if let Some(n) = in_flight.get_mut(&self.key_id) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&self.key_id);
            }
        }
    }
}

/// Looks the bearer key of every `/v1` request up before the handler's extractors run, and
/// holds the request's place under its key's concurrency bound (429 with `Retry-After`
/// beyond it) until the answer is ready.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req
        .path()
        .starts_with("/v1/")
        .then(|| req.app_data::<web::Data<ApiState>>().cloned())
        .flatten()
    else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let outcome = look_up(&state, bearer(req.request())).await;
    let _permit = match &outcome {
        Authentication::Found(p) => {
            let limit = state.app.settings.max_concurrent_per_key;
            match state.limiter.try_acquire(&p.key_id, limit) {
                Some(permit) => Some(permit),
                None => {
                    let e = Error::TooManyRequests {
                        detail: format!(
                            "this key already has {limit} requests in flight \
                             (max_concurrent_per_key); retry shortly"
                        ),
                        retry_after_seconds: 1,
                    };
                    let response = actix_web::ResponseError::error_response(&e);
                    return Ok(req.into_response(response).map_into_right_body());
                }
            }
        }
        _ => None,
    };
    req.extensions_mut().insert(outcome);
    Ok(next.call(req).await?.map_into_left_body())
}

fn decide<R: RequiredRole>(req: &HttpRequest, outcome: Authentication) -> Result<Authed<R>, Error> {
    let principal = match outcome {
        Authentication::Found(p) => p,
        Authentication::Missing => {
            return Err(Error::Unauthenticated {
                detail: "missing `Authorization: Bearer <key>` header".into(),
            });
        }
        Authentication::Unknown => {
            return Err(Error::Unauthenticated {
                detail: "unknown or revoked API key".into(),
            });
        }
        Authentication::Failed(e) => {
            return Err(Error::Unavailable {
                detail: format!("cannot check the API key: {e}"),
            });
        }
    };
    if !principal.role.allows(R::ROLE) {
        return Err(Error::Forbidden {
            detail: format!(
                "this route needs the `{}` role; the key has `{}`",
                R::ROLE,
                principal.role
            ),
        });
    }
    super::input::check_request(req)?;
    Ok(Authed {
        principal,
        _role: PhantomData,
    })
}

impl<R: RequiredRole + 'static> FromRequest for Authed<R> {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        // Every protected route is under `/v1/`, where the middleware always leaves an outcome.
        let outcome = req.extensions().get::<Authentication>().cloned();
        std::future::ready(match outcome {
            Some(outcome) => decide::<R>(req, outcome),
            None => Err(Error::Internal(
                "a key-protected route outside /v1/ (no authentication outcome)".into(),
            )),
        })
    }
}
