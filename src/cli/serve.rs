//! `recast serve` and `recast worker`: long-running processes and their shutdown order.
//!
//! On SIGTERM or Ctrl-C: stop taking jobs and scheduling, let the running job finish within
//! the grace period (else release it for another worker), drain in-flight HTTP requests,
//! close the DB pool, exit 0. The order matters: the HTTP drain and the job grace run in
//! parallel, and the pool closes only after both, so no request or job loses its connection.

use std::net::TcpListener;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiState};
use crate::app::App;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::jobs::{JobQueue, JobRegistry, Scheduler, Worker};

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
    registry: Arc<JobRegistry>,
    with_scheduler: bool,
    shutdown: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let worker = Worker::new(
        app.clone(),
        JobQueue::new(app.db.clone()),
        registry,
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
    if with_scheduler && app.settings.scheduler.enabled {
        let scheduler = Scheduler::new(
            JobQueue::new(app.db.clone()),
            app.settings.scheduler.schedules.clone(),
        );
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = scheduler.run(token).await {
                tracing::error!(error = %e, "scheduler stopped with an error");
            }
        }));
    }
    tasks
}

pub async fn serve(settings: Settings) -> Result<()> {
    let addr = settings.listen_addr();
    let app = App::open(settings).await?;
    let registry = Arc::new(JobRegistry::builtin());
    registry.check_schedules(&app.settings.scheduler.schedules)?;
    let listener = TcpListener::bind(addr).map_err(|e| Error::Unavailable {
        detail: format!("cannot listen on {addr}: {e}"),
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let state = ApiState::new(app.clone(), registry.clone());
    let server = api::start(state, listener).map_err(|e| Error::Internal(e.to_string()))?;
    let handle = server.handle();
    tracing::info!(%bound, lake = app.lake.url(), "recast listening; docs at http://{bound}/docs");

    let shutdown = CancellationToken::new();
    let background = spawn_background(&app, registry, true, &shutdown);
    let mut server_task = tokio::spawn(server);

    tokio::select! {
        _ = shutdown_signal() => {},
        result = &mut server_task => {
            shutdown.cancel();
            for task in background { let _ = task.await; }
            app.db.close().await;
            return match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Error::Internal(format!("HTTP server failed: {e}"))),
                Err(e) => Err(Error::Internal(format!("HTTP server task failed: {e}"))),
            };
        }
    }
    tracing::info!("shutting down: draining requests and jobs");
    shutdown.cancel();
    let drain = async {
        handle.stop(true).await;
        let _ = server_task.await;
    };
    let jobs = async {
        for task in background {
            let _ = task.await;
        }
    };
    tokio::join!(drain, jobs);
    app.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

pub async fn worker(settings: Settings) -> Result<()> {
    let app = App::open(settings).await?;
    let registry = Arc::new(JobRegistry::builtin());
    let shutdown = CancellationToken::new();
    let background = spawn_background(&app, registry, false, &shutdown);
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
