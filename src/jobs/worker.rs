//! The worker loop: lease jobs up to the concurrency limit, run each under a supervisor
//! (`runner.rs`), poll with jitter when idle, and shut down gracefully.
//!
//! Shutdown (SIGTERM in production) stops leasing at once, gives running jobs
//! `shutdown_grace_seconds` to finish, then cancels what is left and releases it to the queue
//! uncounted, so another worker starts it immediately instead of after a lease expiry. Idle
//! polling is jittered so that many workers started together (a deploy) do not hit the DB in
//! lock step.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::app::App;
use crate::config::WorkerSettings;

use super::JobError;
use super::handler::JobKinds;
use super::queue::JobQueue;
use super::runner::Runner;

pub struct Worker {
    app: App,
    queue: JobQueue,
    kinds: Arc<JobKinds>,
    settings: WorkerSettings,
    owner: String,
}

impl Worker {
    /// A worker whose lease owner id is `hostname-pid-random`: unique per process and per
    /// worker, and readable in `lease_owner` when tracking down who runs what.
    pub fn new(app: App, queue: JobQueue, kinds: Arc<JobKinds>, settings: WorkerSettings) -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let owner = format!("{}-{}-{}", hostname(), std::process::id(), &random[..8]);
        Worker {
            app,
            queue,
            kinds,
            settings,
            owner,
        }
    }

    /// The id this worker's leases carry.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs until `shutdown` is cancelled and the running jobs are finished or released.
    /// Failures of single jobs or DB calls are logged and retried, never returned.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), JobError> {
        let concurrency = self.settings.concurrency.max(1);
        let lease_ms = i64::try_from(self.settings.lease_seconds.max(1))
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let runner = Runner {
            app: self.app.clone(),
            queue: self.queue.clone(),
            kinds: self.kinds.clone(),
            owner: Arc::from(self.owner.as_str()),
            lease_ms,
            release: CancellationToken::new(),
        };
        tracing::info!(owner = %self.owner, concurrency, kinds = ?self.kinds.kinds(), "worker started");

        let mut running: JoinSet<()> = JoinSet::new();
        while !shutdown.is_cancelled() {
            while let Some(exit) = running.try_join_next() {
                log_supervisor_exit(exit);
            }
            if running.len() < concurrency {
                match self.queue.lease(&self.owner, lease_ms).await {
                    Ok(Some(job)) => {
                        let span = tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempts);
                        tracing::info!(parent: &span, "job leased");
                        running.spawn(runner.clone().run(job).instrument(span));
                        // More may be ready: look again without waiting.
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot lease a job"),
                }
            }
            let full = running.len() >= concurrency;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                exit = running.join_next(), if full => {
                    if let Some(exit) = exit {
                        log_supervisor_exit(exit);
                    }
                }
                _ = tokio::time::sleep(jittered(self.settings.poll_interval_ms)), if !full => {}
            }
        }

        let grace = Duration::from_secs(self.settings.shutdown_grace_seconds);
        tracing::info!(
            running = running.len(),
            ?grace,
            "worker stopping: no new jobs; waiting for running ones"
        );
        if tokio::time::timeout(grace, drain(&mut running))
            .await
            .is_err()
        {
            tracing::warn!(
                running = running.len(),
                "shutdown grace over: cancelling and releasing the remaining jobs"
            );
            runner.release.cancel();
            drain(&mut running).await;
        }
        tracing::info!(owner = %self.owner, "worker stopped");
        Ok(())
    }
}

async fn drain(running: &mut JoinSet<()>) {
    while let Some(exit) = running.join_next().await {
        log_supervisor_exit(exit);
    }
}

fn log_supervisor_exit(exit: Result<(), tokio::task::JoinError>) {
    if let Err(e) = exit {
        tracing::error!(error = %e, "job supervisor ended abnormally");
    }
}

/// The poll interval, spread uniformly over ±25 %.
fn jittered(poll_interval_ms: u64) -> Duration {
    let base = poll_interval_ms.max(1) as f64;
    Duration::from_secs_f64(base * rand::rng().random_range(0.75..1.25) / 1000.0)
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..200 {
            let d = jittered(400);
            assert!(
                d >= Duration::from_millis(300) && d <= Duration::from_millis(500),
                "{d:?}"
            );
        }
    }

    #[test]
    fn hostname_is_never_empty() {
        assert!(!hostname().is_empty());
    }
}
