//! Background jobs: a durable queue in the metadata DB, workers that lease from it, a cron
//! scheduler that feeds it. The built-in kinds are wired in at start-up (`service`).
//!
//! Every heavy step (ingest, materialize, train, backtest, lake sweep) runs as a job so that
//! it survives restarts, can be retried, watched and cancelled, and spreads over however many
//! worker processes share the DB. No broker: the DB is already the one thing all replicas
//! share. Delivery is at least once (a worker that dies mid-job loses its lease and the job
//! runs again elsewhere), so handlers must be idempotent.
//!
//! - `model`: the job record and request types.
//! - `queue`: enqueue, inspect, cancel; lease, heartbeat and state changes for workers.
//! - `retry`: backoff between attempts.
//! - `handler` / `context`: the handler trait and the table of kinds, what a handler sees.
//! - `worker` / `runner`: the worker loop and the supervision of one running job.
//! - `schedule`: cron schedules to jobs, exactly once per tick across replicas.

pub mod context;
pub mod handler;
pub mod model;
pub mod queue;
pub mod retry;
mod runner;
pub mod schedule;
pub mod worker;

pub use context::JobContext;
pub use handler::{JobHandler, JobKinds};
pub use model::{Job, JobFilter, JobRequest, JobState, NewJob, Progress};
pub use queue::{Heartbeat, JobQueue};
pub use retry::RetryPolicy;
pub use schedule::{ScheduledJob, Scheduler};
pub use worker::Worker;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job `{0}` not found")]
    NotFound(String),
    #[error("unknown job kind `{kind}` (known kinds: {})", known.join(", "))]
    UnknownKind {
        kind: String,
        known: Vec<&'static str>,
    },
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    #[error("job `{id}` is {state} and cannot be {action}")]
    InvalidState {
        id: String,
        state: String,
        action: &'static str,
    },
    /// A request value other than the payload is not acceptable (`max_attempts`, `cursor`, ...).
    #[error("invalid `{field}`: {detail}")]
    Invalid { field: String, detail: String },
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// A handler's own failure; retried with backoff while attempts remain.
    #[error("{0}")]
    Failed(String),
    /// A handler stopped because its job was cancelled (or its worker is shutting down).
    #[error("stopped on request")]
    Cancelled,
}

impl JobError {
    /// Whether a retry of the same payload is bound to fail again (a payload the handler
    /// refuses): such a job fails at once instead of using up its attempts.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            JobError::InvalidPayload(_) | JobError::Invalid { .. } | JobError::UnknownKind { .. }
        )
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        JobError::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }
}
