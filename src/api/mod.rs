//! The HTTP API (actix-web). Handlers are thin: parse and authorize through extractors, call
//! one domain function, map the result. Everything a handler needs is in [`ApiState`].

pub mod auth;
pub mod catalog;
pub mod docs;
pub mod events;
pub mod experiments;
pub mod extract;
pub mod features;
pub mod forecasts;
pub mod health;
pub mod input;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod middleware;
pub mod models;
pub mod openapi;
pub mod page;
pub mod pipelines;
pub mod problem;
pub mod recommendations;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App as HttpApp, HttpRequest, HttpResponse, HttpServer, web};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::app::App;
use crate::auth::KeyStore;
use crate::error::Error;
use crate::jobs::{JobKinds, JobQueue};

pub struct ApiState {
    pub app: App,
    pub queue: JobQueue,
    pub kinds: Arc<JobKinds>,
    pub keys: KeyStore,
    pub metrics: metrics::Metrics,
    /// Rendered once: the document never changes while the process runs.
    pub openapi_json: String,
    /// The model registry (all kinds).
    pub models: crate::registry::ModelRegistry,
    /// The promoted recommender, hot-swapped when the promoted version changes.
    pub recommender: Arc<crate::recommend::serving::ServingHandle>,
    /// Online feature values (with the feature-view catalog).
    pub features: Arc<crate::features::online::OnlineStore>,
    /// Experiments: definitions, the running list and variant models for serving.
    pub experiments: Arc<crate::experiments::serving::ExperimentServing>,
    /// Requests in flight per key (`max_concurrent_per_key`).
    pub limiter: auth::KeyLimiter,
    /// The process's main runtime, where heavy requests run ([`off_worker`]).
    pub background: tokio::runtime::Handle,
    /// The documented methods per path (405 answers).
    pub methods: openapi::MethodIndex,
}

/// Runs `work` on the main runtime instead of the HTTP worker's thread: each actix worker is
/// one thread serving many connections, so a request that reads and joins snapshots for
/// seconds would stall every answer queued behind it there.
pub async fn off_worker<T: Send + 'static>(
    state: &ApiState,
    work: impl std::future::Future<Output = Result<T, Error>> + Send + 'static,
) -> Result<T, Error> {
    state
        .background
        .spawn(work)
        .await
        .map_err(|e| Error::Internal(format!("background task failed: {e}").into()))?
}

impl ApiState {
    /// Must run inside a Tokio runtime: it starts the recommender's registry poller, which
    /// loads the promoted version (if any) at once and stops when the state is dropped.
    pub fn new(app: App, kinds: Arc<JobKinds>) -> web::Data<ApiState> {
        let models = app.models.clone();
        let features = Arc::new(crate::features::online::OnlineStore::new(
            app.db.clone(),
            std::path::PathBuf::from(&app.settings.pipelines_dir),
        ));
        let recommender = crate::recommend::serving::ServingHandle::new(models.clone());
        recommender.attach_online(Arc::clone(&features));
        recommender.spawn_poller();
        let experiments = crate::experiments::serving::ExperimentServing::new(
            crate::experiments::model::ExperimentStore::new(app.db.clone(), models.clone()),
            models.clone(),
        );
        let openapi_json = openapi::document();
        web::Data::new(ApiState {
            experiments,
            features,
            models,
            recommender,
            queue: JobQueue::new(app.db.clone()),
            keys: KeyStore::new(app.db.clone()),
            app,
            kinds,
            metrics: metrics::Metrics::new(),
            methods: openapi::MethodIndex::from_document(&openapi_json),
            openapi_json,
            limiter: auth::KeyLimiter::default(),
            background: tokio::runtime::Handle::current(),
        })
    }
}

/// Every documented route of the service. Each resource module registers its own handlers
/// through `utoipa_actix_web`, which only accepts handlers with an OpenAPI operation
/// (`#[utoipa::path]`): a route cannot be served without being in the document.
pub fn routes(cfg: &mut ServiceConfig) {
    health::routes(cfg);
    jobs::routes(cfg);
    keys::routes(cfg);
    pipelines::routes(cfg);
    events::routes(cfg);
    features::routes(cfg);
    forecasts::routes(cfg);
    recommendations::routes(cfg);
    // After `recommendations`: utoipa-actix-web merges a path's operations only into a path
    // registered earlier, and the GETs of `/v1/items/{item_id}` and `/v1/users/{user_id}`
    // are there.
    catalog::routes(cfg);
    models::routes(cfg);
    experiments::routes(cfg);
}

/// No route: 405 with `Allow` when the path is documented for other methods, else 404.
async fn not_found(req: HttpRequest, state: web::Data<ApiState>) -> Result<HttpResponse, Error> {
    if let Some(allowed) = state.methods.allowed(req.path()) {
        return Err(Error::MethodNotAllowed {
            method: req.method().to_string(),
            allowed,
        });
    }
    Err(Error::not_found(
        "route",
        format!("{} {}", req.method(), req.path()),
    ))
}

/// Starts the HTTP server on an already-bound listener. Signals are not handled here: the
/// caller owns shutdown so the worker and scheduler stop in the same order every time.
pub fn start(
    state: web::Data<ApiState>,
    listener: TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let shutdown_seconds = state.app.settings.worker.shutdown_grace_seconds.max(1);
    let server = HttpServer::new(move || {
        let (app, _) = HttpApp::new()
            .app_data(state.clone())
            .app_data(
                web::PathConfig::default()
                    .error_handler(|e, _| Error::invalid("path", e.to_string()).into()),
            )
            .wrap(from_fn(auth::authenticate))
            .wrap(from_fn(middleware::limit_headers))
            .wrap(from_fn(middleware::observe))
            .wrap(middleware::cors(&state.app.settings.cors_origins))
            .wrap(middleware::security_headers())
            .into_utoipa_app()
            .configure(routes)
            .split_for_parts();
        app.configure(docs::routes)
            .default_service(web::to(not_found))
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(shutdown_seconds)
    .run();
    Ok(server)
}

/// Renders an error the same way handlers do, for code outside a handler.
pub fn error_response(e: &Error) -> HttpResponse {
    problem::Problem::from_error(e).into_response()
}
