//! What a running handler sees: its job, the process's services, a way to report progress and
//! a way to learn that it should stop.
//!
//! Progress is throttled here rather than trusted to handlers: a training loop reporting every
//! batch would otherwise turn into thousands of DB writes a second. A report is written at once
//! when the last write is old enough; otherwise it is kept and the job's next heartbeat carries
//! it, so the latest value always lands within one heartbeat.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::app::App;

use super::model::{Job, Progress};
use super::queue::JobQueue;

/// Minimum spacing of progress writes made directly from `JobContext::progress`.
const PROGRESS_WRITE_INTERVAL: Duration = Duration::from_millis(500);

/// Handed to [`super::JobHandler::run`].
pub struct JobContext {
    job: Job,
    app: App,
    cancel: CancellationToken,
    progress: Arc<ProgressTracker>,
}

impl JobContext {
    pub(crate) fn new(
        job: Job,
        app: App,
        cancel: CancellationToken,
        progress: Arc<ProgressTracker>,
    ) -> Self {
        JobContext {
            job,
            app,
            cancel,
            progress,
        }
    }

    pub fn id(&self) -> &str {
        &self.job.id
    }

    pub fn kind(&self) -> &str {
        &self.job.kind
    }

    pub fn payload(&self) -> &serde_json::Value {
        &self.job.payload
    }

    /// 1 on the first run, 2 on the first retry (or take-over), and so on.
    pub fn attempt(&self) -> i64 {
        self.job.attempts
    }

    /// The job as it was when this attempt leased it.
    pub fn job(&self) -> &Job {
        &self.job
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// Reports progress (0 to 100, clamped) with a short note. Cheap to call often: writes are
    /// throttled, and a failed write is logged, never the handler's problem.
    pub async fn progress(&self, percent: f64, message: impl Into<String>) {
        let message = message.into();
        let progress = Progress::new(percent, (!message.is_empty()).then_some(message));
        self.progress.report(progress).await;
    }

    /// True once the job should stop (cancel requested, lease lost, or worker shutting down).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the job should stop; `select!` against it around long awaits.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// A token cancelled with this job, for work the handler spawns.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.child_token()
    }
}

/// The latest progress of one job and when it was last written.
pub(crate) struct ProgressTracker {
    queue: JobQueue,
    job_id: String,
    owner: Arc<str>,
    state: Mutex<TrackerState>,
}

#[derive(Default)]
struct TrackerState {
    latest: Option<Progress>,
    unwritten: bool,
    last_write: Option<Instant>,
}

impl ProgressTracker {
    pub(crate) fn new(queue: JobQueue, job_id: String, owner: Arc<str>) -> Self {
        ProgressTracker {
            queue,
            job_id,
            owner,
            state: Mutex::new(TrackerState::default()),
        }
    }

    async fn report(&self, progress: Progress) {
        let write_now = {
            let mut state = self.lock();
            state.latest = Some(progress.clone());
            let due = state
                .last_write
                .is_none_or(|t| t.elapsed() >= PROGRESS_WRITE_INTERVAL);
            if due {
                state.last_write = Some(Instant::now());
            }
            state.unwritten = !due;
            due
        };
        if !write_now {
            return;
        }
        match self
            .queue
            .set_progress(&self.job_id, &self.owner, &progress)
            .await
        {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(job = %self.job_id, error = %e, "cannot record job progress");
                self.mark_unwritten(&progress);
            }
        }
    }

    /// The progress a heartbeat should carry: the latest report, if it is not written yet.
    pub(crate) fn take_unwritten(&self) -> Option<Progress> {
        let mut state = self.lock();
        if !state.unwritten {
            return None;
        }
        state.unwritten = false;
        state.last_write = Some(Instant::now());
        state.latest.clone()
    }

    /// A write of `progress` failed: carry it with the next heartbeat unless newer progress
    /// has arrived meanwhile (that one is pending already).
    pub(crate) fn mark_unwritten(&self, progress: &Progress) {
        let mut state = self.lock();
        if state.latest.as_ref() == Some(progress) {
            state.unwritten = true;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerState> {
        // The state is a few plain fields, valid even if a holder panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
