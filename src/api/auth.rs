//! Bearer-key authentication as an extractor: a handler states the role it needs in its
//! signature (`Authed<Admin>`), so a route cannot forget its check and the OpenAPI document
//! and the code say the same thing.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
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

impl<R: RequiredRole + 'static> FromRequest for Authed<R> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<ApiState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| Error::Internal("API state missing".into()))?;
            let token = token.ok_or_else(|| Error::Unauthenticated {
                detail: "missing `Authorization: Bearer <key>` header".into(),
            })?;
            let principal =
                state
                    .keys
                    .authenticate(&token)
                    .await?
                    .ok_or_else(|| Error::Unauthenticated {
                        detail: "unknown or revoked API key".into(),
                    })?;
            if !principal.role.allows(R::ROLE) {
                return Err(Error::Forbidden {
                    detail: format!(
                        "this route needs the `{}` role; the key has `{}`",
                        R::ROLE,
                        principal.role
                    ),
                });
            }
            Ok(Authed {
                principal,
                _role: PhantomData,
            })
        })
    }
}
