//! The job queue over the metadata DB: what callers (API, CLI, scheduler) and workers do with
//! jobs.
//!
//! The queue lives in the DB rather than in a broker because the DB is already the one piece
//! every replica shares, and a job's state must survive any process. Correctness rests on
//! leases: a worker owns a job only until its lease expires, every write a worker makes is
//! conditional on still owning it (see `db::jobs`), and an expired lease makes the job
//! available again, so a killed worker's job is picked up by another one. Jobs therefore run
//! at least once; handlers are written to be idempotent.

use std::time::Duration;

use crate::db::jobs::{self as sql, InsertJob, JobRow, ListJobs, ProgressUpdate};
use crate::db::{Db, DbError, now_ms};

use super::JobError;
use super::model::{Job, JobFilter, JobState, NewJob, Progress};
use super::retry::RetryPolicy;

/// Longest accepted idempotency key.
const MAX_KEY_LEN: usize = 256;

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease is extended; `cancel_requested` tells whether someone asked to stop the job.
    Held { cancel_requested: bool },
    /// Another worker took the job over (our lease had expired) or it was ended elsewhere.
    Lost,
}

/// Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct JobQueue {
    db: Db,
    retry: RetryPolicy,
}

impl JobQueue {
    pub fn new(db: Db) -> Self {
        JobQueue {
            db,
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces the retry backoff (tests use short delays).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Adds a job. With an idempotency key that is already taken, nothing is added and the
    /// existing job comes back with `created = false` (whatever its kind and payload): a
    /// client retrying a timed-out request, or several scheduler replicas, get one job.
    /// Checks a caller's request (its fields, then the kind and its payload against `kinds`)
    /// and enqueues it; a job that can never run is refused here, not failed in a worker.
    pub async fn submit(
        &self,
        app: &crate::app::App,
        kinds: &super::JobKinds,
        request: super::model::JobRequest,
    ) -> Result<(Job, bool), JobError> {
        let job = request.into_new_job()?;
        kinds.validate_in(app, &job.kind, &job.payload).await?;
        self.enqueue(job).await
    }

    pub async fn enqueue(&self, job: NewJob) -> Result<(Job, bool), JobError> {
        validate_new(&job)?;
        let now = now_ms();
        let id = uuid::Uuid::now_v7().to_string();
        let payload = job.payload.to_string();
        let insert = InsertJob {
            id: &id,
            kind: &job.kind,
            payload: &payload,
            priority: job.priority,
            idempotency_key: job.idempotency_key.as_deref(),
            max_attempts: job.max_attempts,
            run_at: job.run_at.unwrap_or(now),
            now,
        };
        if let Some(row) = sql::insert(&self.db, &insert).await? {
            return Ok((job_from_row(row)?, true));
        }
        // The key is taken; rows are never deleted, so the holder is there to read.
        let key = job.idempotency_key.as_deref().unwrap_or_default();
        match sql::get_by_idempotency_key(&self.db, key).await? {
            Some(row) => Ok((job_from_row(row)?, false)),
            None => Err(DbError::Corrupt(format!(
                "insert of job with idempotency key `{key}` conflicted but no such job exists"
            ))
            .into()),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Job, JobError> {
        match sql::get(&self.db, id).await? {
            Some(row) => job_from_row(row),
            None => Err(JobError::NotFound(id.to_string())),
        }
    }

    /// One page, newest first, and the cursor of the next page (None on the last one).
    pub async fn list(&self, filter: &JobFilter) -> Result<(Vec<Job>, Option<String>), JobError> {
        let limit = filter.limit.clamp(1, JobFilter::MAX_LIMIT);
        let before = filter.cursor.as_deref().map(decode_cursor).transpose()?;
        let rows = sql::list(
            &self.db,
            &ListJobs {
                state: filter.state.map(JobState::as_str),
                kind: filter.kind.as_deref(),
                before: before.as_ref().map(|(t, id)| (*t, id.as_str())),
                // One extra row tells whether another page exists.
                limit: limit + 1,
            },
        )
        .await?;
        let mut jobs = rows
            .into_iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if jobs.len() as i64 > limit {
            jobs.truncate(limit as usize);
            jobs.last().map(|j| encode_cursor(j.created_at, &j.id))
        } else {
            None
        };
        Ok((jobs, next))
    }

    /// A queued job is cancelled at once; a running one gets `cancel_requested` and its worker
    /// stops it (the returned job still says `running`); a finished one cannot be cancelled.
    pub async fn cancel(&self, id: &str) -> Result<Job, JobError> {
        if let Some(row) = sql::request_cancel(&self.db, id, now_ms()).await? {
            return job_from_row(row);
        }
        let job = self.get(id).await?;
        Err(JobError::InvalidState {
            id: job.id,
            state: job.state.to_string(),
            action: "cancelled",
        })
    }

    /// Jobs per state, every state listed (zero when none).
    pub async fn counts_by_state(&self) -> Result<Vec<(JobState, i64)>, JobError> {
        let stored = sql::counts_by_state(&self.db).await?;
        let mut counts: Vec<(JobState, i64)> = JobState::ALL.iter().map(|s| (*s, 0)).collect();
        for (state, n) in stored {
            let state: JobState = state.parse().map_err(DbError::Corrupt)?;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
                slot.1 += n;
            }
        }
        Ok(counts)
    }

    /// Leases the best ready job to `owner` for `lease_ms`, counting an attempt.
    pub async fn lease(&self, owner: &str, lease_ms: i64) -> Result<Option<Job>, JobError> {
        let now = now_ms();
        let Some(row) = sql::lease(&self.db, owner, now, now + lease_ms).await? else {
            return Ok(None);
        };
        let id = row.id.clone();
        match job_from_row(row) {
            Ok(job) => Ok(Some(job)),
            Err(e) => {
                // Re-leasing an unreadable row would only fail again, forever.
                sql::fail_permanently(&self.db, &id, owner, now, &e.to_string()).await?;
                Err(e)
            }
        }
    }

    /// Extends `owner`'s lease by `lease_ms` from now and records `progress` if given.
    pub async fn heartbeat(
        &self,
        id: &str,
        owner: &str,
        lease_ms: i64,
        progress: Option<&Progress>,
    ) -> Result<Heartbeat, JobError> {
        let now = now_ms();
        let update = progress.map(|p| ProgressUpdate {
            progress: p.percent,
            message: p.message.as_deref(),
        });
        Ok(
            match sql::heartbeat(&self.db, id, owner, now, now + lease_ms, update).await? {
                Some(cancel_requested) => Heartbeat::Held { cancel_requested },
                None => Heartbeat::Lost,
            },
        )
    }

    /// Records progress; false when `owner` no longer holds the job.
    pub async fn set_progress(
        &self,
        id: &str,
        owner: &str,
        progress: &Progress,
    ) -> Result<bool, JobError> {
        let update = ProgressUpdate {
            progress: progress.percent,
            message: progress.message.as_deref(),
        };
        Ok(sql::set_progress(&self.db, id, owner, now_ms(), update).await?)
    }

    /// Success. None when `owner` had lost the lease (the result is dropped).
    pub async fn complete(
        &self,
        id: &str,
        owner: &str,
        result: &serde_json::Value,
    ) -> Result<Option<Job>, JobError> {
        let row = sql::complete(&self.db, id, owner, now_ms(), &result.to_string()).await?;
        row.map(job_from_row).transpose()
    }

    /// A failed attempt: queued again after a backoff while attempts remain, else `failed`
    /// with `error` as `last_error`. None when `owner` had lost the lease.
    pub async fn fail(&self, id: &str, owner: &str, error: &str) -> Result<Option<Job>, JobError> {
        let Some(current) = sql::get(&self.db, id).await? else {
            return Ok(None);
        };
        if current.lease_owner.as_deref() != Some(owner) || current.state != "running" {
            return Ok(None);
        }
        let delay = self.retry.delay(current.attempts, &mut rand::rng());
        let now = now_ms();
        let retry_at = now.saturating_add(duration_ms(delay));
        let row =
            sql::fail_attempt(&self.db, id, owner, current.attempts, now, retry_at, error).await?;
        row.map(job_from_row).transpose()
    }

    /// Fails the job without retry (a retry cannot help: unknown kind, no attempts left).
    pub async fn fail_permanently(
        &self,
        id: &str,
        owner: &str,
        error: &str,
    ) -> Result<Option<Job>, JobError> {
        let row = sql::fail_permanently(&self.db, id, owner, now_ms(), error).await?;
        row.map(job_from_row).transpose()
    }

    /// Hands the job back, queued and due now, without counting the attempt (graceful
    /// shutdown). A job with a pending cancel request ends `cancelled` instead.
    pub async fn release(&self, id: &str, owner: &str) -> Result<Option<Job>, JobError> {
        let row = sql::release(&self.db, id, owner, now_ms()).await?;
        row.map(job_from_row).transpose()
    }

    /// Ends a running job as `cancelled` after its worker stopped it.
    pub async fn mark_cancelled(&self, id: &str, owner: &str) -> Result<Option<Job>, JobError> {
        let row = sql::mark_cancelled(&self.db, id, owner, now_ms()).await?;
        row.map(job_from_row).transpose()
    }
}

fn validate_new(job: &NewJob) -> Result<(), JobError> {
    if job.kind.trim().is_empty() {
        return Err(JobError::invalid("kind", "must not be empty"));
    }
    if job.max_attempts < 1 {
        return Err(JobError::invalid("max_attempts", "must be at least 1"));
    }
    if let Some(key) = &job.idempotency_key
        && (key.is_empty() || key.len() > MAX_KEY_LEN)
    {
        return Err(JobError::invalid(
            "idempotency_key",
            format!("must be 1 to {MAX_KEY_LEN} bytes long"),
        ));
    }
    Ok(())
}

fn job_from_row(row: JobRow) -> Result<Job, JobError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        JobError::Db(DbError::Corrupt(format!("job `{}`: {what}: {e}", row.id)))
    };
    let state = row
        .state
        .parse()
        .map_err(|e: String| corrupt("state", &e))?;
    let payload = serde_json::from_str(&row.payload).map_err(|e| corrupt("payload", &e))?;
    let result = row
        .result
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| corrupt("result", &e))?;
    Ok(Job {
        id: row.id,
        kind: row.kind,
        payload,
        state,
        priority: row.priority,
        idempotency_key: row.idempotency_key,
        attempts: row.attempts,
        max_attempts: row.max_attempts,
        run_at: row.run_at,
        lease_owner: row.lease_owner,
        lease_expires_at: row.lease_expires_at,
        cancel_requested: row.cancel_requested,
        progress: row.progress,
        progress_message: row.progress_message,
        result,
        last_error: row.last_error,
        created_at: row.created_at,
        updated_at: row.updated_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
    })
}

/// Cursors are opaque to clients (hex of `created_at:id`), so the keyset may change later.
fn encode_cursor(created_at: i64, id: &str) -> String {
    hex::encode(format!("{created_at}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), JobError> {
    let invalid = || JobError::invalid("cursor", "not a cursor this service issued");
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (created, id) = text.split_once(':').ok_or_else(invalid)?;
    let created = created.parse().map_err(|_| invalid())?;
    Ok((created, id.to_string()))
}

/// Milliseconds for SQL from a duration, saturating.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = "0192f0e4-7c1a-7000-8000-000000000001";
        let cursor = encode_cursor(1_700_000_000_123, id);
        assert_eq!(
            decode_cursor(&cursor).unwrap(),
            (1_700_000_000_123, id.to_string())
        );
        for bad in ["", "zz", &hex::encode("no-colon"), &hex::encode("x:id")] {
            assert!(
                matches!(decode_cursor(bad), Err(JobError::Invalid { field, .. }) if field == "cursor"),
                "{bad}"
            );
        }
    }

    #[test]
    fn new_jobs_are_validated() {
        assert!(validate_new(&NewJob::new("sweep_lake", serde_json::json!({}))).is_ok());
        assert!(validate_new(&NewJob::new(" ", serde_json::json!({}))).is_err());
        assert!(validate_new(&NewJob::new("k", serde_json::json!({})).max_attempts(0)).is_err());
        assert!(
            validate_new(&NewJob::new("k", serde_json::json!({})).idempotency_key("")).is_err()
        );
    }
}
