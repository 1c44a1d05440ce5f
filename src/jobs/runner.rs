//! One leased job from start to its final state write: the handler runs in a task of its own
//! while this supervisor heartbeats, watches for a cancel request, a lost lease and worker
//! shutdown, and records the outcome.
//!
//! The handler gets its own task so that a handler hogging its thread cannot stall the
//! heartbeat (which would let the lease expire and the job run twice), and so that a panic is
//! contained and reported as a failed attempt. The handler task sits in a `JoinSet` owned by
//! this supervisor, and the supervisor in one owned by the worker: dropping the worker (a
//! killed process, an aborted task) drops everything, heartbeats included, so the lease lapses
//! and another worker takes the job over, exactly as after a crash.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::app::App;

use super::JobError;
use super::context::{JobContext, ProgressTracker};
use super::handler::JobKinds;
use super::model::Job;
use super::queue::{Heartbeat, JobQueue};

/// How long a handler may take to stop after its job was cancelled before it is aborted.
const CANCEL_GRACE: Duration = Duration::from_secs(10);
/// On release (shutdown grace over), how long the handler may take to wind down.
const RELEASE_WAIT: Duration = Duration::from_secs(1);
/// Tries for the final state write before leaving the job to lease expiry.
const FINAL_WRITE_TRIES: u32 = 3;

/// What one worker hands each job supervisor.
#[derive(Clone)]
pub(crate) struct Runner {
    pub app: App,
    pub queue: JobQueue,
    pub kinds: Arc<JobKinds>,
    pub owner: Arc<str>,
    pub lease_ms: i64,
    /// Cancelled when the worker's shutdown grace is over: stop and hand jobs back.
    pub release: CancellationToken,
}

type HandlerResult = Result<Result<serde_json::Value, JobError>, JoinError>;

/// How a run ended, before it is recorded.
enum Outcome {
    Finished(HandlerResult),
    /// Cancel requested and the handler did not stop within the grace period.
    Cancelled,
    /// Another worker owns the job now; nothing of ours may be recorded.
    LeaseLost,
    /// Shutdown: hand the job back unfinished.
    Released,
}

impl Runner {
    /// Runs one leased job to its final state write.
    pub(crate) async fn run(self, job: Job) {
        if job.cancel_requested {
            // Cancelled while its previous worker held it, and that worker died.
            self.write_final(&job.id, FinalWrite::Cancel).await;
            return;
        }
        if job.attempts > job.max_attempts {
            let error = format!(
                "its worker stopped heartbeating during attempt {} of {} (lease expired); \
                 no attempts left",
                job.attempts - 1,
                job.max_attempts
            );
            self.fail_permanently(&job.id, error).await;
            return;
        }
        let Some(handler) = self.kinds.get(&job.kind) else {
            let error = format!("unknown job kind `{}`: no handler in this worker", job.kind);
            self.fail_permanently(&job.id, error).await;
            return;
        };

        let id = job.id.clone();
        let cancel = CancellationToken::new();
        let tracker = Arc::new(ProgressTracker::new(
            self.queue.clone(),
            id.clone(),
            self.owner.clone(),
        ));
        let lease_deadline = lease_deadline(&job);
        let ctx = JobContext::new(job, self.app.clone(), cancel.clone(), tracker.clone());
        let mut handler_task = JoinSet::new();
        handler_task.spawn(async move { handler.run(&ctx).await });

        let (outcome, cancel_requested) = self
            .supervise(&id, &mut handler_task, &cancel, &tracker, lease_deadline)
            .await;
        self.finish(&id, outcome, cancel_requested).await;
    }

    /// Heartbeats until the handler ends or the job must be stopped.
    async fn supervise(
        &self,
        id: &str,
        handler_task: &mut JoinSet<Result<serde_json::Value, JobError>>,
        cancel: &CancellationToken,
        tracker: &ProgressTracker,
        mut lease_deadline: Instant,
    ) -> (Outcome, bool) {
        let period = Duration::from_millis((self.lease_ms / 3).max(1) as u64);
        let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut cancel_deadline: Option<Instant> = None;

        loop {
            tokio::select! {
                joined = handler_task.join_next() => {
                    let result = joined.expect("the handler task is in the set until joined");
                    return (Outcome::Finished(result), cancel_deadline.is_some());
                }
                _ = heartbeat.tick() => {
                    let progress = tracker.take_unwritten();
                    // The DB counts the new lease from about now; never believe it runs longer.
                    let sent = Instant::now();
                    match self.queue.heartbeat(id, &self.owner, self.lease_ms, progress.as_ref()).await {
                        Ok(Heartbeat::Held { cancel_requested }) => {
                            lease_deadline = sent + Duration::from_millis(self.lease_ms as u64);
                            if cancel_requested && cancel_deadline.is_none() {
                                tracing::info!(job = %id, "cancel requested: stopping the handler");
                                cancel.cancel();
                                cancel_deadline = Some(Instant::now() + CANCEL_GRACE);
                            }
                        }
                        Ok(Heartbeat::Lost) => {
                            tracing::warn!(job = %id, "lease lost to another worker: abandoning this run");
                            stop_handler(handler_task, cancel).await;
                            return (Outcome::LeaseLost, false);
                        }
                        Err(e) => {
                            if let Some(p) = &progress {
                                tracker.mark_unwritten(p);
                            }
                            if Instant::now() >= lease_deadline {
                                // Another worker may hold it by now; we cannot tell, so stop.
                                tracing::error!(job = %id, error = %e, "heartbeats failed until the lease ran out: abandoning this run");
                                stop_handler(handler_task, cancel).await;
                                return (Outcome::LeaseLost, false);
                            }
                            tracing::warn!(job = %id, error = %e, "heartbeat failed; retrying");
                        }
                    }
                }
                _ = sleep_until_opt(cancel_deadline) => {
                    tracing::warn!(job = %id, "handler ignored the cancel request: aborting it");
                    stop_handler(handler_task, cancel).await;
                    return (Outcome::Cancelled, true);
                }
                _ = self.release.cancelled() => {
                    cancel.cancel();
                    let outcome = match tokio::time::timeout(RELEASE_WAIT, handler_task.join_next()).await {
                        // It finished in time after all: record that rather than redo it.
                        Ok(Some(Ok(Ok(value)))) => Outcome::Finished(Ok(Ok(value))),
                        _ => {
                            stop_handler(handler_task, cancel).await;
                            Outcome::Released
                        }
                    };
                    return (outcome, cancel_deadline.is_some());
                }
            }
        }
    }

    /// Writes the final state for `outcome`.
    async fn finish(&self, id: &str, outcome: Outcome, cancel_requested: bool) {
        let last_write = match outcome {
            Outcome::Finished(Ok(Ok(value))) => FinalWrite::Complete(value),
            Outcome::Finished(result) if cancel_requested => {
                if let Some(error) = failure_message(result) {
                    tracing::info!(job = %id, %error, "handler stopped on cancel");
                }
                FinalWrite::Cancel
            }
            Outcome::Finished(Ok(Err(e))) if e.is_permanent() => {
                let error = e.to_string();
                tracing::warn!(job = %id, %error, "job failed without retry");
                FinalWrite::FailPermanently(error)
            }
            Outcome::Finished(result) => {
                let error = failure_message(result).unwrap_or_default();
                tracing::warn!(job = %id, %error, "job attempt failed");
                FinalWrite::Fail(error)
            }
            Outcome::Cancelled => FinalWrite::Cancel,
            Outcome::LeaseLost => return,
            Outcome::Released => {
                tracing::info!(job = %id, "shutdown grace over: handing the job back");
                FinalWrite::Release
            }
        };
        self.write_final(id, last_write).await;
    }

    async fn fail_permanently(&self, id: &str, error: String) {
        tracing::warn!(job = %id, %error, "job failed without retry");
        self.write_final(id, FinalWrite::FailPermanently(error))
            .await;
    }

    /// A job's last state write, retried briefly: if it never lands, the lease expires and
    /// another worker runs the job again, which is safe but wasteful.
    async fn write_final(&self, id: &str, write: FinalWrite) {
        let (queue, owner) = (&self.queue, &*self.owner);
        let action = write.action();
        for attempt in 1..=FINAL_WRITE_TRIES {
            let written = match &write {
                FinalWrite::Complete(value) => queue.complete(id, owner, value).await,
                FinalWrite::Fail(error) => queue.fail(id, owner, error).await,
                FinalWrite::FailPermanently(error) => {
                    queue.fail_permanently(id, owner, error).await
                }
                FinalWrite::Cancel => queue.mark_cancelled(id, owner).await,
                FinalWrite::Release => queue.release(id, owner).await,
            };
            match written {
                Ok(Some(job)) => {
                    tracing::info!(job = %id, state = %job.state, attempts = job.attempts, "job {action} recorded");
                    return;
                }
                Ok(None) => {
                    tracing::warn!(job = %id, "cannot {action} job: its lease was lost to another worker; outcome dropped");
                    return;
                }
                Err(e) if attempt < FINAL_WRITE_TRIES => {
                    tracing::warn!(job = %id, error = %e, "cannot {action} job; retrying");
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                }
                Err(e) => {
                    tracing::error!(job = %id, error = %e, "cannot {action} job; its lease will expire and it will run again");
                }
            }
        }
    }
}

/// The state write that ends one run.
enum FinalWrite {
    Complete(serde_json::Value),
    Fail(String),
    FailPermanently(String),
    Cancel,
    Release,
}

impl FinalWrite {
    fn action(&self) -> &'static str {
        match self {
            FinalWrite::Complete(_) => "complete",
            FinalWrite::Fail(_) | FinalWrite::FailPermanently(_) => "fail",
            FinalWrite::Cancel => "cancel",
            FinalWrite::Release => "release",
        }
    }
}

/// Cancels the context, aborts the handler and waits (briefly) until it is gone, so it is not
/// still running when the job is handed on.
async fn stop_handler(
    handler_task: &mut JoinSet<Result<serde_json::Value, JobError>>,
    cancel: &CancellationToken,
) {
    cancel.cancel();
    handler_task.abort_all();
    // A handler stuck in blocking code cannot be aborted; do not hang on it.
    let _ = tokio::time::timeout(RELEASE_WAIT, async {
        while handler_task.join_next().await.is_some() {}
    })
    .await;
}

/// The error text of a failed run, None for a success.
fn failure_message(result: HandlerResult) -> Option<String> {
    match result {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) if e.is_panic() => Some(format!("handler panicked: {}", panic_text(e))),
        Err(e) => Some(format!("handler task ended abnormally: {e}")),
    }
}

fn panic_text(e: JoinError) -> String {
    let payload = e.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic payload)".to_string()
    }
}

/// When our lease runs out by the local clock (the DB's `lease_expires_at` is the truth; this
/// is only used when the DB cannot be reached).
fn lease_deadline(job: &Job) -> Instant {
    let left = job.lease_expires_at.unwrap_or(0) - crate::db::now_ms();
    Instant::now() + Duration::from_millis(left.max(0) as u64)
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
