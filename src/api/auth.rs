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

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures::future::LocalBoxFuture;

use super::ApiState;
use crate::auth::{Principal, Role};
use crate::error::Error;

pub trait RequiredRole {
    const ROLE: Role;
}

pub struct Reader;
pub struct Ingest;
pub struct Admin;

impl RequiredRole for Reader {
    const ROLE: Role = Role::Reader;
}
impl RequiredRole for Ingest {
    const ROLE: Role = Role::Ingest;
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

/// Looks the bearer key of every `/v1` request up before the handler's extractors run.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.path().starts_with("/v1/")
        && let Some(state) = req.app_data::<web::Data<ApiState>>().cloned()
    {
        let outcome = look_up(&state, bearer(req.request())).await;
        req.extensions_mut().insert(outcome);
    }
    next.call(req).await
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
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        if let Some(outcome) = req.extensions().get::<Authentication>().cloned() {
            let decided = decide::<R>(req, outcome);
            return Box::pin(std::future::ready(decided));
        }
        // Outside the middleware (a route mounted elsewhere): look the key up here.
        let token = bearer(req);
        let state = req.app_data::<web::Data<ApiState>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| Error::Internal("API state missing".into()))?;
            let outcome = look_up(&state, token).await;
            decide::<R>(&req, outcome)
        })
    }
}
