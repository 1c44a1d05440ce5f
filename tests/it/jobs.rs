//! The job queue, workers and scheduler through their public interfaces, on the real DB.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use recast::app::App;
use recast::config::{ScheduleSpec, WorkerSettings};
use recast::jobs::{
    Job, JobContext, JobError, JobFilter, JobHandler, JobKinds, JobQueue, JobState, NewJob,
    RetryPolicy, Scheduler, Worker,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::common::TestEnv;

const WAIT: Duration = Duration::from_secs(20);

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(50),
        max: Duration::from_millis(200),
    }
}

fn worker_settings(concurrency: usize, grace_seconds: u64) -> WorkerSettings {
    WorkerSettings {
        concurrency,
        lease_seconds: 1,
        poll_interval_ms: 20,
        shutdown_grace_seconds: grace_seconds,
    }
}

async fn open_app(env: &TestEnv) -> App {
    recast::service::open(env.settings.clone()).await.unwrap()
}

struct RunningWorker {
    owner: String,
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), JobError>>,
}

impl RunningWorker {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("worker stops")
            .expect("worker task")
            .expect("worker result");
    }
}

fn start_worker(
    app: &App,
    queue: &JobQueue,
    handlers: Vec<Arc<dyn JobHandler>>,
    settings: WorkerSettings,
) -> RunningWorker {
    let mut registry = JobKinds::new();
    for h in handlers {
        registry.register(h);
    }
    let worker = Worker::new(app.clone(), queue.clone(), Arc::new(registry), settings);
    let owner = worker.owner().to_string();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(worker.run(shutdown.clone()));
    RunningWorker {
        owner,
        shutdown,
        handle,
    }
}

/// Polls the job until `done` holds; panics with the job after [`WAIT`].
async fn wait_for(queue: &JobQueue, id: &str, what: &str, done: impl Fn(&Job) -> bool) -> Job {
    let deadline = Instant::now() + WAIT;
    loop {
        let job = queue.get(id).await.unwrap();
        if done(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {job:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn enqueue(queue: &JobQueue, job: NewJob) -> Job {
    queue.enqueue(job).await.unwrap().0
}

// ---- test handlers ------------------------------------------------------------------------

/// Never returns and ignores cancellation (a hung job).
struct Hang(&'static str);

#[async_trait]
impl JobHandler for Hang {
    fn kind(&self) -> &'static str {
        self.0
    }
    async fn run(&self, _ctx: &JobContext) -> Result<Value, JobError> {
        std::future::pending().await
    }
}

/// Succeeds at once with `{"by": <tag>}`.
struct Done(&'static str, &'static str);

#[async_trait]
impl JobHandler for Done {
    fn kind(&self) -> &'static str {
        self.0
    }
    async fn run(&self, _ctx: &JobContext) -> Result<Value, JobError> {
        Ok(json!({ "by": self.1 }))
    }
}

/// Counts executions per job id.
struct Count(Arc<Mutex<HashMap<String, usize>>>);

#[async_trait]
impl JobHandler for Count {
    fn kind(&self) -> &'static str {
        "t_count"
    }
    async fn run(&self, ctx: &JobContext) -> Result<Value, JobError> {
        *self
            .0
            .lock()
            .unwrap()
            .entry(ctx.id().to_string())
            .or_default() += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(json!({}))
    }
}

/// Fails its first `n` attempts.
struct Flaky(i64);

#[async_trait]
impl JobHandler for Flaky {
    fn kind(&self) -> &'static str {
        "t_flaky"
    }
    async fn run(&self, ctx: &JobContext) -> Result<Value, JobError> {
        if ctx.attempt() <= self.0 {
            return Err(JobError::Failed(format!("boom {}", ctx.attempt())));
        }
        Ok(json!({ "attempt": ctx.attempt() }))
    }
}

/// Refuses its payload when it runs (what a handler does with input that cannot work).
struct Refuses;

#[async_trait]
impl JobHandler for Refuses {
    fn kind(&self) -> &'static str {
        "t_refuses"
    }
    async fn run(&self, _ctx: &JobContext) -> Result<Value, JobError> {
        Err(JobError::invalid("payload.series", "matches nothing"))
    }
}

struct Panics;

#[async_trait]
impl JobHandler for Panics {
    fn kind(&self) -> &'static str {
        "t_panic"
    }
    async fn run(&self, _ctx: &JobContext) -> Result<Value, JobError> {
        panic!("handler exploded")
    }
}

/// Reports 40 % and then waits, politely, for cancellation.
struct Patient;

#[async_trait]
impl JobHandler for Patient {
    fn kind(&self) -> &'static str {
        "t_patient"
    }
    async fn run(&self, ctx: &JobContext) -> Result<Value, JobError> {
        ctx.progress(40.0, "loading").await;
        ctx.cancelled().await;
        Err(JobError::Cancelled)
    }
}

struct Sleep(Duration);

#[async_trait]
impl JobHandler for Sleep {
    fn kind(&self) -> &'static str {
        "t_sleep"
    }
    async fn run(&self, _ctx: &JobContext) -> Result<Value, JobError> {
        tokio::time::sleep(self.0).await;
        Ok(json!({ "slept_ms": self.0.as_millis() as u64 }))
    }
}

// ---- queue --------------------------------------------------------------------------------

#[tokio::test]
async fn enqueue_is_idempotent_per_key() {
    let env = TestEnv::new().await;
    let queue = JobQueue::new(env.db.clone());

    let (first, created) = queue
        .enqueue(NewJob::new("t_x", json!({"n": 1})).idempotency_key("k1"))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(first.state, JobState::Queued);
    assert_eq!(first.attempts, 0);
    assert_eq!(first.payload, json!({"n": 1}));

    let (again, created) = queue
        .enqueue(NewJob::new("t_x", json!({"n": 2})).idempotency_key("k1"))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, first.id);
    assert_eq!(
        again.payload,
        json!({"n": 1}),
        "the first job is returned as is"
    );

    // Without a key every enqueue is a new job.
    let a = enqueue(&queue, NewJob::new("t_x", json!({}))).await;
    let b = enqueue(&queue, NewJob::new("t_x", json!({}))).await;
    assert_ne!(a.id, b.id);

    // Racing enqueues with one key: one creates, all see the same job.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                queue
                    .enqueue(NewJob::new("t_x", json!({})).idempotency_key("race"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut creators = 0;
    for r in racers {
        let (job, created) = r.await.unwrap();
        ids.push(job.id);
        creators += usize::from(created);
    }
    assert_eq!(creators, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1);

    let err = queue
        .enqueue(NewJob::new("t_x", json!({})).max_attempts(0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, JobError::Invalid { field, .. } if field == "max_attempts"),
        "{err}"
    );
}

#[tokio::test]
async fn list_filters_and_paginates_newest_first() {
    let env = TestEnv::new().await;
    let queue = JobQueue::new(env.db.clone());
    let mut a_ids = Vec::new();
    for i in 0..5 {
        a_ids.push(
            enqueue(&queue, NewJob::new("t_a", json!({ "i": i })))
                .await
                .id,
        );
    }
    for i in 0..3 {
        enqueue(&queue, NewJob::new("t_b", json!({ "i": i }))).await;
    }
    queue.cancel(&a_ids[1]).await.unwrap();

    // Every job once, in pages of 3, newest first.
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let filter = JobFilter {
            limit: 3,
            cursor: cursor.clone(),
            ..Default::default()
        };
        let (page, next) = queue.list(&filter).await.unwrap();
        assert!(page.len() <= 3);
        seen.extend(page);
        pages += 1;
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 8);
    let keys: Vec<(i64, String)> = seen.iter().map(|j| (j.created_at, j.id.clone())).collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    sorted.dedup();
    assert_eq!(keys, sorted, "newest first, no duplicates");

    let kind_b = JobFilter {
        kind: Some("t_b".into()),
        ..Default::default()
    };
    let (page, next) = queue.list(&kind_b).await.unwrap();
    assert_eq!(page.len(), 3);
    assert!(page.iter().all(|j| j.kind == "t_b"));
    assert!(next.is_none());

    let cancelled = JobFilter {
        state: Some(JobState::Cancelled),
        ..Default::default()
    };
    let (page, _) = queue.list(&cancelled).await.unwrap();
    assert_eq!(
        page.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        [a_ids[1].as_str()]
    );

    let queued_a = JobFilter {
        state: Some(JobState::Queued),
        kind: Some("t_a".into()),
        limit: 2,
        cursor: None,
    };
    let (first, next) = queue.list(&queued_a).await.unwrap();
    let (second, last) = queue
        .list(&JobFilter {
            cursor: next,
            ..queued_a.clone()
        })
        .await
        .unwrap();
    assert_eq!(first.len() + second.len(), 4);
    assert!(last.is_none());

    let err = queue
        .list(&JobFilter {
            cursor: Some("not-a-cursor".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, JobError::Invalid { field, .. } if field == "cursor"),
        "{err}"
    );

    let counts: BTreeMap<String, i64> = queue
        .counts_by_state()
        .await
        .unwrap()
        .into_iter()
        .map(|(s, n)| (s.to_string(), n))
        .collect();
    assert_eq!(counts["queued"], 7);
    assert_eq!(counts["cancelled"], 1);
    assert_eq!(counts["running"], 0);
    assert_eq!(counts.len(), 5);
}

#[tokio::test]
async fn cancel_queued_running_and_terminal_jobs() {
    let env = TestEnv::new().await;
    let queue = JobQueue::new(env.db.clone());

    let queued = enqueue(&queue, NewJob::new("t_x", json!({}))).await;
    let cancelled = queue.cancel(&queued.id).await.unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(cancelled.finished_at.is_some());

    let err = queue.cancel(&queued.id).await.unwrap_err();
    assert!(matches!(err, JobError::InvalidState { .. }), "{err}");
    assert_eq!(recast::Error::from(err).code(), "conflict");

    let running = enqueue(&queue, NewJob::new("t_x", json!({}))).await;
    let leased = queue.lease("owner-1", 10_000).await.unwrap().unwrap();
    assert_eq!(leased.id, running.id);
    let requested = queue.cancel(&running.id).await.unwrap();
    assert_eq!(requested.state, JobState::Running, "the worker stops it");
    assert!(requested.cancel_requested);
    let stopped = queue
        .mark_cancelled(&running.id, "owner-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped.state, JobState::Cancelled);

    let err = queue.cancel("no-such-job").await.unwrap_err();
    assert_eq!(recast::Error::from(err).code(), "not-found");
}

#[tokio::test]
async fn failed_attempts_back_off_then_fail_with_last_error() {
    let env = TestEnv::new().await;
    let queue = JobQueue::new(env.db.clone()).with_retry_policy(RetryPolicy {
        base: Duration::from_millis(600),
        max: Duration::from_secs(5),
    });
    let job = enqueue(&queue, NewJob::new("t_x", json!({})).max_attempts(2)).await;

    let leased = queue.lease("w1", 10_000).await.unwrap().unwrap();
    assert_eq!((leased.state, leased.attempts), (JobState::Running, 1));
    assert!(
        queue
            .fail(&job.id, "someone-else", "no")
            .await
            .unwrap()
            .is_none()
    );
    let before = recast::db::now_ms();
    let retry = queue.fail(&job.id, "w1", "first").await.unwrap().unwrap();
    assert_eq!(retry.state, JobState::Queued);
    assert_eq!(retry.last_error.as_deref(), Some("first"));
    assert!(
        retry.run_at >= before + 300,
        "backed off: {}",
        retry.run_at - before
    );
    assert!(retry.finished_at.is_none());
    assert!(
        queue.lease("w1", 10_000).await.unwrap().is_none(),
        "not due during the backoff"
    );

    let delay = (retry.run_at - recast::db::now_ms()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(delay + 20)).await;
    let second = queue.lease("w2", 10_000).await.unwrap().unwrap();
    assert_eq!(second.attempts, 2);
    let failed = queue.fail(&job.id, "w2", "second").await.unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("second"));
    assert!(failed.finished_at.is_some());
}

#[tokio::test]
async fn lease_prefers_priority_then_age_and_skips_future_jobs() {
    let env = TestEnv::new().await;
    let queue = JobQueue::new(env.db.clone());
    let later = enqueue(
        &queue,
        NewJob::new("t_x", json!({})).run_at(recast::db::now_ms() + 60_000),
    )
    .await;
    let low = enqueue(&queue, NewJob::new("t_x", json!({}))).await;
    let high = enqueue(&queue, NewJob::new("t_x", json!({})).priority(5)).await;

    let order: Vec<String> = [
        queue.lease("w", 10_000).await.unwrap(),
        queue.lease("w", 10_000).await.unwrap(),
    ]
    .into_iter()
    .map(|j| j.unwrap().id)
    .collect();
    assert_eq!(order, [high.id, low.id]);
    assert!(queue.lease("w", 10_000).await.unwrap().is_none());
    assert_eq!(queue.get(&later.id).await.unwrap().state, JobState::Queued);
}

// ---- workers ------------------------------------------------------------------------------

#[tokio::test]
async fn killed_worker_lease_expires_and_another_worker_takes_over() {
    let env = TestEnv::new().await;
    let app = open_app(&env).await;
    let queue = JobQueue::new(app.db.clone());
    let job = enqueue(&queue, NewJob::new("t_hang", json!({}))).await;

    let a = start_worker(
        &app,
        &queue,
        vec![Arc::new(Hang("t_hang"))],
        worker_settings(1, 1),
    );
    let a_owner = a.owner.clone();
    wait_for(&queue, &job.id, "worker A to lease", |j| {
        j.state == JobState::Running && j.lease_owner.as_deref() == Some(a_owner.as_str())
    })
    .await;
    // Let A heartbeat at least once, then kill it: no more heartbeats, no clean-up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.handle.abort();
    assert!(a.handle.await.unwrap_err().is_cancelled());
    let orphaned = queue.get(&job.id).await.unwrap();
    assert_eq!(orphaned.state, JobState::Running);
    let expiry = orphaned.lease_expires_at.unwrap();

    let b = start_worker(
        &app,
        &queue,
        vec![Arc::new(Done("t_hang", "b"))],
        worker_settings(1, 1),
    );
    let done = wait_for(&queue, &job.id, "worker B to finish", |j| {
        j.state == JobState::Succeeded
    })
    .await;
    assert_eq!(done.attempts, 2);
    assert_eq!(done.lease_owner.as_deref(), Some(b.owner.as_str()));
    assert_eq!(done.result, Some(json!({"by": "b"})));
    assert!(
        done.started_at.unwrap() >= expiry,
        "B took the job only after A's lease expired"
    );
    b.stop().await;
}

// Real parallelism: the workers' lease statements genuinely race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_each_of_fifty_jobs_exactly_once() {
    let env = TestEnv::new().await;
    let app = open_app(&env).await;
    let queue = JobQueue::new(app.db.clone());
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            enqueue(&queue, NewJob::new("t_count", json!({ "i": i })))
                .await
                .id,
        );
    }
    let runs = Arc::new(Mutex::new(HashMap::new()));
    let mut settings = worker_settings(4, 5);
    settings.lease_seconds = 2;
    let w1 = start_worker(
        &app,
        &queue,
        vec![Arc::new(Count(runs.clone()))],
        settings.clone(),
    );
    let w2 = start_worker(&app, &queue, vec![Arc::new(Count(runs.clone()))], settings);

    let deadline = Instant::now() + WAIT;
    loop {
        let counts: HashMap<JobState, i64> =
            queue.counts_by_state().await.unwrap().into_iter().collect();
        if counts[&JobState::Succeeded] == 50 {
            break;
        }
        assert!(Instant::now() < deadline, "jobs did not finish: {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w1.stop().await;
    w2.stop().await;

    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 50);
    assert!(runs.values().all(|n| *n == 1), "{runs:?}");
    let mut owners = std::collections::HashSet::new();
    for id in &ids {
        let job = queue.get(id).await.unwrap();
        assert_eq!(job.attempts, 1);
        owners.insert(job.lease_owner.unwrap());
    }
    assert!(!owners.is_empty() && owners.len() <= 2);
}

#[tokio::test]
async fn handler_errors_are_retried_until_success() {
    let env = TestEnv::new().await;
    let app = open_app(&env).await;
    let queue = JobQueue::new(app.db.clone()).with_retry_policy(fast_retries());
    let job = enqueue(&queue, NewJob::new("t_flaky", json!({})).max_attempts(3)).await;
    let worker = start_worker(
        &app,
        &queue,
        vec![Arc::new(Flaky(2))],
        worker_settings(1, 1),
    );
    let done = wait_for(&queue, &job.id, "success on the third attempt", |j| {
        j.state.is_terminal()
    })
    .await;
    worker.stop().await;
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.attempts, 3);
    assert_eq!(done.result, Some(json!({"attempt": 3})));
    assert_eq!(done.last_error.as_deref(), Some("boom 2"));
    assert_eq!(done.progress, 100.0);
}

#[tokio::test]
async fn exhausted_retries_panics_and_unknown_kinds_end_failed() {
    let env = TestEnv::new().await;
    let app = open_app(&env).await;
    let queue = JobQueue::new(app.db.clone()).with_retry_policy(fast_retries());
    let flaky = enqueue(&queue, NewJob::new("t_flaky", json!({})).max_attempts(2)).await;
    let panics = enqueue(&queue, NewJob::new("t_panic", json!({})).max_attempts(1)).await;
    let unknown = enqueue(&queue, NewJob::new("t_unknown", json!({})).max_attempts(3)).await;
    let refused = enqueue(&queue, NewJob::new("t_refuses", json!({})).max_attempts(3)).await;
    let worker = start_worker(
        &app,
        &queue,
        vec![Arc::new(Flaky(99)), Arc::new(Panics), Arc::new(Refuses)],
        worker_settings(2, 1),
    );
    let terminal = |j: &Job| j.state.is_terminal();
    let flaky = wait_for(&queue, &flaky.id, "retries to run out", terminal).await;
    let panics = wait_for(&queue, &panics.id, "the panic to be recorded", terminal).await;
    let unknown = wait_for(&queue, &unknown.id, "the unknown kind to fail", terminal).await;
    let refused = wait_for(&queue, &refused.id, "the refused payload to fail", terminal).await;
    worker.stop().await;
    assert_eq!(
        (refused.state, refused.attempts),
        (JobState::Failed, 1),
        "a payload the handler refuses is not retried"
    );
    assert!(refused.last_error.unwrap().contains("matches nothing"));

    assert_eq!((flaky.state, flaky.attempts), (JobState::Failed, 2));
    assert_eq!(flaky.last_error.as_deref(), Some("boom 2"));

    assert_eq!(panics.state, JobState::Failed);
    let error = panics.last_error.unwrap();
    assert!(
        error.contains("panicked") && error.contains("handler exploded"),
        "{error}"
    );

    assert_eq!(
        (unknown.state, unknown.attempts),
        (JobState::Failed, 1),
        "no retry"
    );
    assert!(unknown.last_error.unwrap().contains("t_unknown"));
}

#[tokio::test]
async fn progress_is_visible_and_cancel_stops_a_running_job() {
    let env = TestEnv::new().await;
    let app = open_app(&env).await;
    let queue = JobQueue::new(app.db.clone());
    let job = enqueue(&queue, NewJob::new("t_patient", json!({}))).await;
    let worker = start_worker(&app, &queue, vec![Arc::new(Patient)], worker_settings(1, 1));

    let mid = wait_for(&queue, &job.id, "progress", |j| j.progress == 40.0).await;
    assert_eq!(mid.state, JobState::Running);
    assert_eq!(mid.progress_message.as_deref(), Some("loading"));

    let requested = queue.cancel(&job.id).await.unwrap();
    assert!(requested.cancel_requested);
    let stopped = wait_for(&queue, &job.id, "the worker to stop the job", |j| {
        j.state.is_terminal()
    })
    .await;
    assert_eq!(stopped.state, JobState::Cancelled);
    assert!(stopped.finished_at.is_some());
    assert_eq!(stopped.attempts, 1);
    worker.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_running_jobs_within_grace_and_leases_no_more() {
    let env = TestEnv::new().await;
    let app = open_app(&env).await;
    let queue = JobQueue::new(app.db.clone());
    let first = enqueue(&queue, NewJob::new("t_sleep", json!({})).priority(1)).await;
    let second = enqueue(&queue, NewJob::new("t_sleep", json!({}))).await;
    let worker = start_worker(
        &app,
        &queue,
        vec![Arc::new(Sleep(Duration::from_millis(700)))],
        worker_settings(1, 10),
    );
    wait_for(&queue, &first.id, "the first job to start", |j| {
        j.state == JobState::Running
    })
    .await;
    let started = Instant::now();
    worker.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));

    assert_eq!(
        queue.get(&first.id).await.unwrap().state,
        JobState::Succeeded
    );
    let untouched = queue.get(&second.id).await.unwrap();
    assert_eq!((untouched.state, untouched.attempts), (JobState::Queued, 0));
}

#[tokio::test]
async fn shutdown_releases_jobs_that_outlast_grace() {
    let env = TestEnv::new().await;
    let app = open_app(&env).await;
    let queue = JobQueue::new(app.db.clone());
    let job = enqueue(&queue, NewJob::new("t_hang", json!({}))).await;
    let worker = start_worker(
        &app,
        &queue,
        vec![Arc::new(Hang("t_hang"))],
        worker_settings(1, 1),
    );
    wait_for(&queue, &job.id, "the job to start", |j| {
        j.state == JobState::Running
    })
    .await;
    let started = Instant::now();
    worker.stop().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(6),
        "{took:?}"
    );

    let released = queue.get(&job.id).await.unwrap();
    assert_eq!(released.state, JobState::Queued);
    assert_eq!(released.attempts, 0, "a released attempt does not count");
    assert!(released.lease_expires_at.is_none());

    // Available at once, not after a lease expiry.
    let next = start_worker(
        &app,
        &queue,
        vec![Arc::new(Done("t_hang", "next"))],
        worker_settings(1, 1),
    );
    let done = wait_for(&queue, &job.id, "another worker to finish it", |j| {
        j.state == JobState::Succeeded
    })
    .await;
    assert_eq!(done.attempts, 1);
    next.stop().await;
}

#[tokio::test]
async fn sweep_lake_runs_through_the_worker() {
    let env = TestEnv::new().await;
    let app = open_app(&env).await;
    let queue = JobQueue::new(app.db.clone());
    let registry = recast::service::job_kinds();

    let err = registry
        .validate("sweep_lake", &json!({"grace_seconds": "soon"}))
        .unwrap_err();
    assert!(
        matches!(&err, JobError::Invalid { field, .. } if field == "payload.grace_seconds"),
        "{err}"
    );
    assert_eq!(recast::Error::from(err).code(), "invalid-request");
    let err = registry.validate("no_such_kind", &json!({})).unwrap_err();
    assert!(matches!(err, JobError::UnknownKind { .. }), "{err}");
    assert!(
        err.to_string().contains("run_pipeline"),
        "the known kinds are listed: {err}"
    );
    registry
        .validate("sweep_lake", &json!({"grace_seconds": 0}))
        .unwrap();

    let job = enqueue(
        &queue,
        NewJob::new("sweep_lake", json!({"grace_seconds": 0})),
    )
    .await;
    let worker = Worker::new(
        app.clone(),
        queue.clone(),
        Arc::new(registry),
        worker_settings(1, 1),
    );
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(worker.run(shutdown.clone()));
    let done = wait_for(&queue, &job.id, "the sweep", |j| j.state.is_terminal()).await;
    shutdown.cancel();
    handle.await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
    assert!(done.result.unwrap().is_object());
}

// ---- scheduler ----------------------------------------------------------------------------

fn every_second(name: &str) -> ScheduleSpec {
    ScheduleSpec {
        name: name.into(),
        cron: "* * * * * *".into(),
        kind: "t_sched".into(),
        payload: json!({"from": "schedule"}),
    }
}

#[tokio::test]
async fn two_schedulers_enqueue_exactly_one_job_per_tick() {
    let env = TestEnv::new().await;
    let queue = JobQueue::new(env.db.clone());
    let shutdown = CancellationToken::new();
    let started = Utc::now();
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            let scheduler = Scheduler::new(queue.clone(), vec![every_second("beat")]);
            tokio::spawn(scheduler.run(shutdown.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(3200)).await;
    shutdown.cancel();
    for r in replicas {
        r.await.unwrap().unwrap();
    }
    let stopped = Utc::now();

    let (jobs, next) = queue
        .list(&JobFilter {
            kind: Some("t_sched".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(next.is_none());
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for job in &jobs {
        *per_key
            .entry(job.idempotency_key.clone().unwrap())
            .or_default() += 1;
        assert_eq!(job.payload, json!({"from": "schedule"}));
    }
    assert!(per_key.values().all(|n| *n == 1), "{per_key:?}");
    let seconds: Vec<i64> = jobs
        .iter()
        .map(|j| {
            let key = j.idempotency_key.as_deref().unwrap();
            let second: i64 = key.strip_prefix("schedule:beat:").unwrap().parse().unwrap();
            assert_eq!(j.run_at, second * 1000);
            second
        })
        .collect();
    let (first, last) = (
        *seconds.iter().min().unwrap(),
        *seconds.iter().max().unwrap(),
    );
    assert!(jobs.len() >= 2, "{per_key:?}");
    assert_eq!(
        jobs.len() as i64,
        last - first + 1,
        "no tick missing: {per_key:?}"
    );
    assert!(
        first > started.timestamp(),
        "no backfill from before the start"
    );
    assert!(last <= stopped.timestamp());
}

#[tokio::test]
async fn scheduler_tick_is_idempotent_across_replicas_and_does_not_backfill() {
    let env = TestEnv::new().await;
    let queue = JobQueue::new(env.db.clone());
    let start = Utc::now() - chrono::Duration::seconds(10);
    let now = start + chrono::Duration::seconds(5);
    let a = Scheduler::new(queue.clone(), vec![every_second("tick")]).starting_at(start);
    let b = Scheduler::new(queue.clone(), vec![every_second("tick")]).starting_at(start);

    let from_a = a.tick(now).await.unwrap();
    let from_b = b.tick(now).await.unwrap();
    assert_eq!(from_a.len(), 5);
    assert!(from_a.iter().all(|s| s.created));
    assert!(from_b.iter().all(|s| !s.created));
    let ids =
        |v: &[recast::jobs::ScheduledJob]| v.iter().map(|s| s.job_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&from_a), ids(&from_b));
    assert!(
        a.tick(now).await.unwrap().is_empty(),
        "a tick is enqueued once"
    );

    // A fresh scheduler starts from now: earlier ticks are not enqueued.
    let fresh = Scheduler::new(queue.clone(), vec![every_second("fresh")]);
    assert!(
        fresh
            .tick(Utc::now() - chrono::Duration::seconds(30))
            .await
            .unwrap()
            .is_empty()
    );
}
