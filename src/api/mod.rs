//! The HTTP API (actix-web). Handlers are thin: parse and authorize through extractors, call
//! one domain function, map the result. Everything a handler needs is in [`ApiState`].

pub mod auth;
pub mod docs;
pub mod events;
pub mod experiments;
pub mod extract;
pub mod features;
pub mod forecasts;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod pipelines;
pub mod problem;
pub mod recommendations;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App as HttpApp, HttpRequest, HttpResponse, HttpServer, web};

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
            openapi_json: openapi::document(),
        })
    }
}

/// Every route of the service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(docs::openapi_json)
        .service(docs::docs_index)
        .service(docs::docs_index_slash)
        .service(docs::docs_asset)
        .service(jobs::list_jobs)
        .service(jobs::create_job)
        .service(jobs::get_job)
        .service(jobs::cancel_job)
        .service(pipelines::list_pipelines)
        .service(pipelines::run_pipeline)
        .service(pipelines::list_runs)
        .service(events::ingest_events)
        .service(features::list_views)
        .service(features::online_features)
        .service(features::historical_features)
        .service(features::get_entity)
        .service(forecasts::list_forecasts)
        .service(forecasts::get_forecast)
        .service(forecasts::get_history)
        .service(forecasts::get_chart)
        .service(recommendations::recommend)
        .service(recommendations::similar)
        .service(recommendations::list_models)
        .service(recommendations::promote_model)
        .service(experiments::create_experiment)
        .service(experiments::list_experiments)
        .service(experiments::get_experiment)
        .service(experiments::update_experiment)
        .service(experiments::start_experiment)
        .service(experiments::stop_experiment)
        .service(experiments::get_assignment)
        .service(experiments::get_results);
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, Error> {
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
        HttpApp::new()
            .app_data(state.clone())
            .app_data(
                web::PathConfig::default()
                    .error_handler(|e, _| Error::invalid("path", e.to_string()).into()),
            )
            .wrap(from_fn(middleware::observe))
            .configure(routes)
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
