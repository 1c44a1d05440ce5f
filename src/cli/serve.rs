//! `recast serve` and `recast worker`: long-running processes and their shutdown order.
//!
//! On SIGTERM or Ctrl-C: stop accepting HTTP connections, stop taking jobs and scheduling,
//! let the running job finish within the grace period (else release it for another worker)
//! and flush the event buffer one last time, then drain in-flight HTTP requests, close the DB
//! pool, exit 0. The order matters: actix runs each HTTP worker on its own runtime, and a
//! pooled connection opened inside a request belongs to that runtime, so the HTTP workers
//! stay up until the background work that may borrow such a connection has finished.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiState};
use crate::app::App;
use crate::config::{ScheduleSpec, Settings};
use crate::error::{Error, Result};
use crate::jobs::{JobKinds, JobQueue, Scheduler, Worker};

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Starts the worker and (optionally) the scheduler as tasks bound to `shutdown`.
fn spawn_background(
    app: &App,
    kinds: Arc<JobKinds>,
    schedules: Option<Vec<ScheduleSpec>>,
    shutdown: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    // Only `serve` passes schedules; it is also the process that takes `POST /v1/events`.
    let serving = schedules.is_some();
    let mut tasks = Vec::new();
    let worker = Worker::new(
        app.clone(),
        JobQueue::new(app.db.clone()),
        kinds,
        app.settings.worker.clone(),
    );
    tracing::info!(
        worker = worker.owner(),
        concurrency = app.settings.worker.concurrency,
        "worker started"
    );
    let token = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = worker.run(token).await {
            tracing::error!(error = %e, "worker stopped with an error");
        }
    }));
    if let Some(schedules) = schedules
        && app.settings.scheduler.enabled
    {
        let scheduler = Scheduler::new(JobQueue::new(app.db.clone()), schedules);
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = scheduler.run(token).await {
                tracing::error!(error = %e, "scheduler stopped with an error");
            }
        }));
    }
    if serving {
        // Events are flushed by the process that takes them, and once more on shutdown. A
        // broken events pipeline leaves the events buffered (durable), not lost.
        match crate::etl::events::events_spec(app) {
            Ok(spec) => {
                let interval = Duration::from_secs(app.settings.events.flush_interval_seconds);
                tasks.push(tokio::spawn(crate::etl::events::run_flusher(
                    app.clone(),
                    spec,
                    interval,
                    shutdown.clone(),
                )));
            }
            Err(e) => tracing::error!(
                error = %e,
                "event flusher not started: cannot load the events pipeline; events stay buffered"
            ),
        }
    }
    tasks
}

pub async fn serve(settings: Settings) -> Result<()> {
    let addr = settings.listen_addr();
    let app = crate::service::open(settings).await?;
    let kinds = Arc::new(crate::service::job_kinds());
    // Malformed pipeline definitions stop the start here, naming the file and the key.
    let pipelines = crate::etl::pipelines::load_pipelines(&app)?;
    let mut schedules = app.settings.scheduler.schedules.clone();
    schedules.extend(crate::etl::pipelines::pipeline_schedules(&pipelines));
    // Malformed feature views stop the start too; their versions are registered here.
    let views = crate::features::spec::load_dir(std::path::Path::new(&app.settings.pipelines_dir))
        .map_err(crate::features::FeatureError::from)?;
    crate::features::catalog::sync(&app.db, &views).await?;
    schedules.extend(crate::features::spec::schedules(&views));
    kinds.check_schedules(&schedules)?;
    let listener = TcpListener::bind(addr).map_err(|e| Error::Unavailable {
        detail: format!("cannot listen on {addr}: {e}"),
    })?;
    let bound = listener.local_addr().map_err(Error::internal)?;
    let state = ApiState::new(app.clone(), kinds.clone());
    let server = api::start(state, listener).map_err(Error::internal)?;
    let handle = server.handle();
    tracing::info!(%bound, lake = app.lake.url(), "recast listening; docs at http://{bound}/docs");

    let shutdown = CancellationToken::new();
    let background = spawn_background(&app, kinds, Some(schedules), &shutdown);
    let mut server_task = tokio::spawn(server);

    tokio::select! {
        _ = shutdown_signal() => {},
        result = &mut server_task => {
            shutdown.cancel();
            for task in background { let _ = task.await; }
            app.db.close().await;
            return match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Error::Internal(format!("HTTP server failed: {e}").into())),
                Err(e) => Err(Error::Internal(format!("HTTP server task failed: {e}").into())),
            };
        }
    }
    tracing::info!(
        "shutting down: finishing jobs and the last event flush, then draining requests"
    );
    // Stop accepting connections but keep the HTTP worker threads alive until the background
    // work is done: pooled DB connections opened inside a request live on that worker's
    // runtime, and the final event flush or a finishing job may be handed one of them.
    handle.pause().await;
    shutdown.cancel();
    for task in background {
        let _ = task.await;
    }
    handle.stop(true).await;
    let _ = server_task.await;
    app.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

pub async fn worker(settings: Settings) -> Result<()> {
    let app = crate::service::open(settings).await?;
    let kinds = Arc::new(crate::service::job_kinds());
    let shutdown = CancellationToken::new();
    let background = spawn_background(&app, kinds, None, &shutdown);
    shutdown_signal().await;
    tracing::info!("shutting down: finishing or releasing running jobs");
    shutdown.cancel();
    for task in background {
        let _ = task.await;
    }
    app.db.close().await;
    tracing::info!("stopped");
    Ok(())
}
