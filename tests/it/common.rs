//! Shared test harness: per-test database and lake, backend chosen by the environment.
#![allow(dead_code)]

use std::path::PathBuf;

use recast::config::{Settings, Sources};
use recast::db::Db;
use sqlx::Connection;

/// Which metadata backend this run of the suite uses.
pub fn backend() -> &'static str {
    match std::env::var("RECAST_TEST_DATABASE").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

fn postgres_base_url() -> String {
    std::env::var("RECAST_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// True under CI, where a missing test service is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "false")
        .unwrap_or(false)
}

/// A database URL private to one test.
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    if backend() == "postgres" {
        let base = postgres_base_url();
        let name = format!("recast_t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .expect("connect to the test Postgres (RECAST_TEST_PG_URL)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let mut url = url::Url::parse(&base).unwrap();
        url.set_path(&format!("/{name}"));
        url.to_string()
    } else {
        format!("sqlite://{}", dir.join("recast.db").display())
    }
}

/// One test's world: a temp dir, settings pointing into it, a migrated database.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    pub db: Db,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database_url(dir.path()).await;
        let lake_url = format!("file://{}", dir.path().join("lake").display());
        let sources = Sources {
            file: None,
            env: vec![
                ("RECAST_DATABASE_URL".into(), database_url.clone()),
                ("RECAST_LAKE_URL".into(), lake_url),
                ("RECAST_LISTEN".into(), "127.0.0.1:0".into()),
            ],
            overrides: Vec::new(),
        };
        let settings = Settings::load(&sources).unwrap();
        let db = Db::open(&database_url).await.unwrap();
        TestEnv { dir, settings, db }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

/// Connection details of the S3-compatible server the test script started, if any.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

/// The loopback S3 server from `.ci/test` (`RECAST_TEST_S3_*`). Outside CI a missing server
/// skips the test (returns None); in CI it fails it, so the S3 path is never silently untested.
pub fn s3_server() -> Option<S3Server> {
    match std::env::var("RECAST_TEST_S3_ENDPOINT").map(|e| e.trim().to_string()) {
        Ok(endpoint) if !endpoint.is_empty() => Some(S3Server {
            endpoint,
            bucket: std::env::var("RECAST_TEST_S3_BUCKET").unwrap_or_else(|_| "recast".into()),
            access_key: std::env::var("RECAST_TEST_S3_ACCESS_KEY").unwrap_or_default(),
            secret_key: std::env::var("RECAST_TEST_S3_SECRET_KEY").unwrap_or_default(),
        }),
        _ if in_ci() => {
            panic!("RECAST_TEST_S3_ENDPOINT is not set: run the suite via .ci/test")
        }
        _ => {
            eprintln!("skipping: no S3 test server (run the suite via .ci/test)");
            None
        }
    }
}

/// A real HTTP server on an ephemeral loopback port, backed by the test's DB and lake, started
/// the way `recast serve` starts (`service::server::start`), without the background services:
/// tests drive jobs and flushes themselves.
pub struct TestServer {
    pub env: TestEnv,
    pub app: recast::app::App,
    pub base: String,
    pub client: reqwest::Client,
    server: recast::service::server::Server,
}

impl TestServer {
    pub async fn start(env: TestEnv) -> TestServer {
        let server = recast::service::server::start_on_loopback(
            env.settings.clone(),
            recast::service::server::Background::NONE,
        )
        .await
        .unwrap();
        TestServer {
            env,
            app: server.app.clone(),
            base: server.base_url(),
            client: reqwest::Client::new(),
            server,
        }
    }

    /// The body of an open `GET path` (no key), as text.
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `GET path` as the holder of `key`.
    pub async fn get_as(&self, path: impl AsRef<str>, key: &str) -> reqwest::Response {
        self.client
            .get(self.url(path.as_ref()))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// `POST path` with a JSON body as the holder of `key`.
    /// `POST /v1/jobs` with `body` (202 expected), then the job run to its end by a worker.
    pub async fn run_job_as(&self, key: &str, body: &serde_json::Value) -> recast::jobs::Job {
        let res = self.post_as("/v1/jobs", key, body).await;
        assert_eq!(res.status(), 202);
        let id = res.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        run_job(&self.app, &self.env.settings.worker, &id).await
    }

    pub async fn post_as<B: serde::Serialize + ?Sized>(
        &self,
        path: impl AsRef<str>,
        key: &str,
        body: &B,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path.as_ref()))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates a key of `role` through the same store the CLI uses.
    pub async fn key(&self, role: recast::auth::Role) -> String {
        recast::auth::KeyStore::new(self.app.db.clone())
            .create("test", role)
            .await
            .unwrap()
            .secret
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// Asserts a problem+json response and returns its body.
pub async fn expect_problem(res: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "unexpected status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(ct, "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:recast:problem:")
    );
    assert!(body["title"].is_string());
    assert!(body["detail"].is_string());
    body
}

/// Fails the test with the command's stderr unless it exited successfully.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `recast train forecaster --json ARGS` against `srv`'s database, lake and pipelines
/// (stderr captured).
pub fn train_forecaster(srv: &TestServer, args: &[&str]) -> std::process::Output {
    recast_command(&srv.env.path())
        .env("RECAST_DATABASE_URL", &srv.env.settings.database_url)
        .env("RECAST_LAKE_URL", &srv.env.settings.lake_url)
        .env("RECAST_PIPELINES_DIR", &srv.env.settings.pipelines_dir)
        .args(["train", "forecaster", "--json"])
        .args(args)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

/// A loopback port that was free a moment ago, for a server started as a child process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until a child `recast serve` answers `/healthz`, failing fast if it exits.
pub async fn wait_healthy(base: &str, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(res) = reqwest::get(format!("{base}/healthz")).await
            && res.status() == 200
        {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "server exited");
        assert!(
            std::time::Instant::now() < deadline,
            "server did not become healthy"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Sends SIGTERM and waits (up to `limit`) for the process to exit; returns its status.
pub async fn terminate(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The `recast` binary in `dir`, with every setting a developer's or CI's environment could
/// leak in removed, so a test sees exactly the embedded defaults plus what it sets itself.
pub fn recast_command(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_recast"));
    cmd.current_dir(dir);
    for var in [
        "RECAST_CONFIG",
        "RECAST_DATABASE_URL",
        "DATABASE_URL",
        "RECAST_LAKE_URL",
        "RECAST_LISTEN",
        "RECAST_PIPELINES_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RECAST_LOG_LEVEL", "warn");
    cmd
}

/// `GET path` as `key` on a fresh connection, expecting 200: a test that idles for seconds
/// (while the CLI trains) longer than the server keeps an idle connection open could have a
/// pooled one closed under it.
pub async fn fresh_json(srv: &TestServer, key: &str, path: &str) -> serde_json::Value {
    let res = reqwest::Client::new()
        .get(srv.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

/// The served point means of a forecast response, in horizon order.
pub fn point_means(forecast: &serde_json::Value) -> Vec<f64> {
    forecast["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["mean"].as_f64().unwrap())
        .collect()
}

/// The served point dates of a forecast response, in horizon order.
pub fn point_dates(forecast: &serde_json::Value) -> Vec<String> {
    forecast["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["date"].as_str().unwrap().to_string())
        .collect()
}

/// A test environment whose shared `sales` pipeline lands `csv` (from `landing/sales.csv`);
/// other pipelines can go into `pipelines_dir` before a server starts on it.
pub async fn sales_env(csv: &str) -> TestEnv {
    let mut env = TestEnv::new().await;
    let landing = env.path().join("landing");
    let pipelines = env.path().join("pipelines");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::create_dir_all(&pipelines).unwrap();
    std::fs::write(landing.join("sales.csv"), csv).unwrap();
    std::fs::write(pipelines.join("sales.toml"), sales_pipeline(&landing)).unwrap();
    env.settings.pipelines_dir = pipelines.display().to_string();
    env
}

/// Runs the server's pipeline `name` to completion.
pub async fn land(srv: &TestServer, name: &str) {
    let spec = recast::etl::pipelines::find_pipeline(&srv.app, name).unwrap();
    recast::etl::runner::run_pipeline(&srv.app, &spec, &recast::progress::none())
        .await
        .unwrap();
}

/// A `sales` files pipeline reading `*.csv` from `landing` (dates `%Y-%m-%d`).
pub fn sales_pipeline(landing: &std::path::Path) -> String {
    format!(
        r#"
name = "sales"
dataset = "sales"
dedup_key = ["date", "item_id", "store_id"]
[source]
type = "files"
url = "file://{}"
pattern = "*.csv"
[columns]
date = {{ format = "%Y-%m-%d" }}
quantity = {{ min = 0 }}
on_promo = {{ default = "false" }}
"#,
        landing.display()
    )
}

/// Runs queued jobs with one worker (every built-in kind) until job `id` has finished;
/// returns its record.
pub async fn run_job(
    app: &recast::app::App,
    settings: &recast::config::WorkerSettings,
    id: &str,
) -> recast::jobs::Job {
    let queue = recast::jobs::JobQueue::new(app.db.clone());
    let worker = recast::jobs::Worker::new(
        app.clone(),
        queue.clone(),
        std::sync::Arc::new(recast::service::job_kinds()),
        settings.clone(),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let job = loop {
        let job = queue.get(id).await.unwrap();
        if job.state.is_terminal() {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job {id} did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    stop.cancel();
    running.await.unwrap().unwrap();
    job
}

/// The values of number column `column` across `batches` (a null reads as NaN).
pub fn numbers(batches: &[arrow_array::RecordBatch], column: &str) -> Vec<f64> {
    use arrow_array::cast::AsArray;
    batches
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name(column).unwrap();
            let values = col.as_primitive::<arrow_array::types::Float64Type>();
            values
                .iter()
                .map(|v| v.unwrap_or(f64::NAN))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `line` column of quarantined rows across `batches` (None where a row has none).
pub fn lines(batches: &[arrow_array::RecordBatch]) -> Vec<Option<i64>> {
    use arrow_array::cast::AsArray;
    batches
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name("line").unwrap();
            let values = col.as_primitive::<arrow_array::types::Int64Type>();
            values.iter().collect::<Vec<_>>()
        })
        .collect()
}

/// One landed row of the `users` dataset (times in microseconds).
#[derive(Debug)]
pub struct UserRow {
    pub user_id: String,
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub segment: String,
}

/// The rows of `users` batches.
pub fn user_rows(batches: &[arrow_array::RecordBatch]) -> Vec<UserRow> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType as Micros;
    let mut rows = Vec::new();
    for b in batches {
        let one = std::slice::from_ref(b);
        let created = b
            .column_by_name("created_at")
            .unwrap()
            .as_primitive::<Micros>();
        let updated = b
            .column_by_name("updated_at")
            .unwrap()
            .as_primitive::<Micros>();
        let ids = strings(one, "user_id").into_iter();
        for (i, (user_id, segment)) in ids.zip(strings(one, "segment")).enumerate() {
            rows.push(UserRow {
                user_id,
                created_at: created.value(i),
                updated_at: updated.is_valid(i).then(|| updated.value(i)),
                segment,
            });
        }
    }
    rows
}

/// The values of text column `column` across `batches`.
pub fn strings(batches: &[arrow_array::RecordBatch], column: &str) -> Vec<String> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    batches
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name(column).unwrap().as_string::<i32>().clone();
            (0..col.len())
                .map(|i| col.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}
