//! Starting a server process: the checks `recast serve` makes before it listens, the HTTP API,
//! and what runs beside it (worker, scheduler, event flusher), with one shutdown order.
//!
//! Why here and not in the CLI: `recast serve`, the integration tests and the benches start
//! the same server through [`start`], so what a test exercises is what production runs; they
//! differ only in which background services they ask for.
//!
//! Shutdown order ([`Server::shutdown`]): stop accepting HTTP connections, stop taking jobs
//! and scheduling, let the running job finish within the grace period (else release it for
//! another worker) and flush the event buffer one last time, then drain in-flight requests and
//! close the DB pool. actix runs each HTTP worker on its own runtime, and a pooled connection
//! opened inside a request belongs to that runtime, so the HTTP workers stay up until the
//! background work that may borrow such a connection has finished.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiState};
use crate::app::App;
use crate::config::{ScheduleSpec, Settings};
use crate::error::{Error, Result};
use crate::jobs::{JobKinds, JobQueue, Scheduler, Worker};

/// What runs beside the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Background {
    /// A worker taking jobs from the queue.
    pub worker: bool,
    /// The cron scheduler (also subject to `scheduler.enabled`).
    pub scheduler: bool,
    /// The periodic flush of buffered events into the lake.
    pub event_flusher: bool,
    /// A follower for every stream pipeline (`type = "nats"`).
    pub stream_consumers: bool,
}

impl Background {
    /// What `recast serve` runs.
    pub const ALL: Background = Background {
        worker: true,
        scheduler: true,
        event_flusher: true,
        stream_consumers: true,
    };
    /// The API alone (tests that drive jobs and flushes themselves).
    pub const NONE: Background = Background {
        worker: false,
        scheduler: false,
        event_flusher: false,
        stream_consumers: false,
    };
}

/// A started server and its background tasks.
pub struct Server {
    pub app: App,
    /// The address the API listens on.
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    /// The HTTP server task; taken by [`Server::stopped`] once it has ended.
    http: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    stop: CancellationToken,
}

/// The schedules a server runs: configured ones, the pipelines' and the feature views'.
/// Malformed pipeline or feature-view definitions stop the start here, naming the file and the
/// key; the feature views' versions are registered as a side effect.
async fn schedules(app: &App, kinds: &JobKinds) -> Result<Vec<ScheduleSpec>> {
    let pipelines = crate::etl::pipelines::load_pipelines(app)?;
    let mut schedules = app.settings.scheduler.schedules.clone();
    schedules.extend(crate::etl::pipelines::pipeline_schedules(&pipelines));
    let views = crate::features::spec::load_dir(std::path::Path::new(&app.settings.pipelines_dir))
        .map_err(crate::features::FeatureError::from)?;
    crate::features::catalog::sync(&app.db, &views).await?;
    schedules.extend(crate::features::spec::schedules(&views));
    kinds.check_schedules(&schedules)?;
    Ok(schedules)
}

/// Servers and workers refuse a lake whose tables are not in Delta logs yet: outside engines
/// and recast itself would not see their files, and the sweep would delete them.
async fn require_delta_logs(app: &App) -> Result<()> {
    let mut missing = app.lake.unmigrated_tables().await?;
    if crate::forecast::legacy_exports::pending(&app.lake).await? {
        missing.push("exports/forecasts/run=* (forecast exports kept per run)".into());
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Unavailable {
        detail: format!(
            "the lake {} has tables written before its Delta logs ({}): run `recast lake migrate` once \
             (idempotent), then start again",
            app.lake.url(),
            missing.join(", ")
        ),
    })
}

/// Opens the shared services, checks the definitions, and starts the API on `listener` with
/// `background` beside it. Must run inside a Tokio runtime.
pub async fn start(
    settings: Settings,
    listener: TcpListener,
    background: Background,
) -> Result<Server> {
    let app = super::open(settings).await?;
    require_delta_logs(&app).await?;
    let kinds = Arc::new(super::job_kinds());
    let schedules = schedules(&app, &kinds).await?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    let state = ApiState::new(app.clone(), kinds.clone());
    let server = api::start(state, listener).map_err(Error::internal)?;
    let handle = server.handle();
    let stop = CancellationToken::new();
    let mut background = spawn_background(&app, kinds, background, schedules, &stop);
    background.push(spawn_activity_tail(&app, &stop));
    Ok(Server {
        app,
        addr,
        handle,
        http: Some(tokio::spawn(server)),
        background,
        stop,
    })
}

/// [`start`] on an ephemeral loopback port (tests and benches).
pub async fn start_on_loopback(settings: Settings, background: Background) -> Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::internal)?;
    start(settings, listener, background).await
}

/// A worker process: no API, only the worker, until `stop` is cancelled.
pub async fn run_worker(settings: Settings, stop: CancellationToken) -> Result<()> {
    let app = super::open(settings).await?;
    require_delta_logs(&app).await?;
    let kinds = Arc::new(super::job_kinds());
    let only_worker = Background {
        worker: true,
        ..Background::NONE
    };
    let tasks = spawn_background(&app, kinds, only_worker, Vec::new(), &stop);
    stop.cancelled().await;
    for task in tasks {
        let _ = task.await;
    }
    app.db.close().await;
    Ok(())
}

impl Server {
    /// The API's base URL (`http://addr`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the HTTP server stops by itself (an error); a clean stop is `Ok`.
    pub async fn stopped(&mut self) -> Result<()> {
        let Some(http) = self.http.as_mut() else {
            return Ok(());
        };
        let ended = http.await;
        self.http = None;
        match ended {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Internal(format!("HTTP server failed: {e}").into())),
            Err(e) => Err(Error::Internal(
                format!("HTTP server task failed: {e}").into(),
            )),
        }
    }

    /// Stops everything in the order the module documentation gives.
    pub async fn shutdown(self) {
        self.handle.pause().await;
        self.stop.cancel();
        for task in self.background {
            let _ = task.await;
        }
        self.handle.stop(true).await;
        if let Some(http) = self.http {
            let _ = http.await;
        }
        self.app.db.close().await;
    }
}

/// Starts the requested background services as tasks bound to `stop`.
fn spawn_background(
    app: &App,
    kinds: Arc<JobKinds>,
    background: Background,
    schedules: Vec<ScheduleSpec>,
    stop: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if background.worker {
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
        let token = stop.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = worker.run(token).await {
                tracing::error!(error = %e, "worker stopped with an error");
            }
        }));
    }
    if background.scheduler && app.settings.scheduler.enabled {
        let scheduler = Scheduler::new(JobQueue::new(app.db.clone()), schedules);
        let token = stop.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = scheduler.run(token).await {
                tracing::error!(error = %e, "scheduler stopped with an error");
            }
        }));
    }
    if background.event_flusher {
        tasks.extend(spawn_flusher(app, stop));
    }
    if background.stream_consumers {
        tasks.extend(spawn_stream_consumers(app, stop));
    }
    tasks
}

/// A serving process keeps its copy of the users' recent activity current
/// (`db::activity_tail`); other processes never read it.
fn spawn_activity_tail(app: &App, stop: &CancellationToken) -> tokio::task::JoinHandle<()> {
    let interval = Duration::from_millis(app.settings.realtime.tail_interval_ms);
    tokio::spawn(crate::db::activity_tail::follow(
        app.db.clone(),
        app.activity.clone(),
        interval,
        stop.clone(),
    ))
}

/// A run report per follower at most this often.
const STREAM_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Every replica follows every stream pipeline; they share its durable consumer, so each
/// message goes to one of them. A pipeline directory that cannot be read starts none.
fn spawn_stream_consumers(app: &App, stop: &CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
    let specs = match crate::etl::pipelines::load_pipelines(app) {
        Ok(specs) => specs,
        Err(e) => {
            tracing::error!(error = %e, "stream consumers not started: cannot load the pipelines");
            return Vec::new();
        }
    };
    specs
        .into_iter()
        .filter(|s| matches!(s.source, crate::etl::SourceSpec::Nats { .. }))
        .map(|spec| {
            tokio::spawn(crate::etl::source::nats::follow(
                app.clone(),
                spec,
                STREAM_REPORT_EVERY,
                stop.clone(),
            ))
        })
        .collect()
}

/// Events are flushed by the process that takes them, and once more on shutdown. A broken
/// events pipeline leaves the events buffered (durable), not lost.
fn spawn_flusher(app: &App, stop: &CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
    match crate::etl::events::events_spec(app) {
        Ok(spec) => {
            let interval = Duration::from_secs(app.settings.events.flush_interval_seconds);
            Some(tokio::spawn(crate::etl::events::run_flusher(
                app.clone(),
                spec,
                interval,
                stop.clone(),
            )))
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                "event flusher not started: cannot load the events pipeline; events stay buffered"
            );
            None
        }
    }
}
