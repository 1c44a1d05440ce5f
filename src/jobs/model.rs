//! The job record and the values callers pass in. Plain data: the queue (`queue.rs`) and its SQL
//! (`db::jobs`) give it behaviour, the API serializes it as is, so field names are contract.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a job is in its life. `queued` covers both "never run" and "waiting for a retry";
/// the three terminal states never change again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// The stored (and serialized) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown job state `{s}` (expected one of: queued, running, succeeded, failed, cancelled)"
                )
            })
    }
}

/// One row of the queue. Times are epoch milliseconds, like every timestamp in the DB.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub state: JobState,
    /// Higher runs first among ready jobs.
    pub priority: i64,
    pub idempotency_key: Option<String>,
    /// Leases taken so far (a retry, or a re-lease after a worker died, counts one more).
    pub attempts: i64,
    pub max_attempts: i64,
    /// Not before this time; pushed back by retry backoff.
    pub run_at: i64,
    /// The worker holding (or that last held) the lease.
    pub lease_owner: Option<String>,
    /// Set while running: after this time another worker may take the job over.
    pub lease_expires_at: Option<i64>,
    pub cancel_requested: bool,
    /// 0 to 100.
    pub progress: f64,
    pub progress_message: Option<String>,
    pub result: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Start of the current (or last) attempt.
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// How far a running job is: a percentage (0 to 100) and an optional human note.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub percent: f64,
    pub message: Option<String>,
}

impl Progress {
    /// Clamps into 0..=100; a NaN (a handler's division by zero) reads as 0.
    pub fn new(percent: f64, message: Option<String>) -> Self {
        let percent = if percent.is_nan() {
            0.0
        } else {
            percent.clamp(0.0, 100.0)
        };
        Progress { percent, message }
    }
}

/// What a caller asks to run.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    /// A second enqueue with the same key returns the first job instead of a new one.
    pub idempotency_key: Option<String>,
    pub priority: i64,
    pub max_attempts: i64,
    /// Epoch ms; `None` means now.
    pub run_at: Option<i64>,
}

/// A job as a caller asks for it (the API, the CLI): optional fields unset.
#[derive(Debug, Clone, Default)]
pub struct JobRequest {
    pub kind: String,
    pub payload: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    pub priority: Option<i64>,
    pub max_attempts: Option<i64>,
}

impl JobRequest {
    /// Checks the request's own fields (not the kind's payload rules) and fills the defaults.
    pub fn into_new_job(self) -> Result<NewJob, super::JobError> {
        use super::JobError;
        let payload = self.payload.unwrap_or_else(|| serde_json::json!({}));
        if !payload.is_object() {
            return Err(JobError::invalid("payload", "must be a JSON object"));
        }
        let max_attempts = self.max_attempts.unwrap_or(NewJob::DEFAULT_MAX_ATTEMPTS);
        if !(1..=20).contains(&max_attempts) {
            return Err(JobError::invalid(
                "max_attempts",
                "must be between 1 and 20",
            ));
        }
        if let Some(key) = &self.idempotency_key
            && (key.is_empty() || key.len() > 200)
        {
            return Err(JobError::invalid(
                "idempotency_key",
                "must be 1 to 200 characters",
            ));
        }
        let mut job = NewJob::new(self.kind, payload);
        job.idempotency_key = self.idempotency_key;
        job.priority = self.priority.unwrap_or(0);
        job.max_attempts = max_attempts;
        Ok(job)
    }
}

impl NewJob {
    /// Attempts a job gets unless the caller says otherwise: one run and two retries.
    pub const DEFAULT_MAX_ATTEMPTS: i64 = 3;

    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        NewJob {
            kind: kind.into(),
            payload,
            idempotency_key: None,
            priority: 0,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            run_at: None,
        }
    }

    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn priority(mut self, priority: i64) -> Self {
        self.priority = priority;
        self
    }

    pub fn max_attempts(mut self, max_attempts: i64) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    pub fn run_at(mut self, epoch_ms: i64) -> Self {
        self.run_at = Some(epoch_ms);
        self
    }
}

/// A page request for [`crate::jobs::JobQueue::list`]: newest first, optionally narrowed.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    /// Page size; clamped to `1..=MAX_LIMIT`.
    pub limit: i64,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl JobFilter {
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 500;
}

impl Default for JobFilter {
    fn default() -> Self {
        JobFilter {
            state: None,
            kind: None,
            limit: Self::DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>().unwrap(), state);
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        assert!("done".parse::<JobState>().is_err());
        assert!(!JobState::Running.is_terminal());
        assert!(JobState::Cancelled.is_terminal());
    }

    #[test]
    fn progress_is_clamped() {
        assert_eq!(Progress::new(150.0, None).percent, 100.0);
        assert_eq!(Progress::new(-3.0, None).percent, 0.0);
        assert_eq!(Progress::new(f64::NAN, None).percent, 0.0);
        assert_eq!(Progress::new(42.5, None).percent, 42.5);
    }
}
