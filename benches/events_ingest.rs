//! Sustained `POST /v1/events` throughput and latency through the real HTTP stack.
//!
//! Starts the server in-process on loopback (the same `api::start` as `recast serve`, with
//! the event flusher running as in production), then runs two phases with 1,000-event
//! batches from several client tasks:
//!
//! 1. **rate**: the clients together offer a fixed rate (default 50,000 events/s) for a fixed
//!    time. Latency is measured from each batch's *scheduled* send time, so a server that
//!    falls behind shows it in the percentiles instead of silently slowing the clients down.
//! 2. **max**: the clients post back to back (closed loop): the most the server sustains.
//!
//! After each phase it reports how long the flusher needs to empty the buffer (every accepted
//! event must reach the lake). SQLite always; Postgres too when `RECAST_BENCH_PG_URL` names a
//! server (a fresh database is created and dropped).
//!
//! ```sh
//! cargo bench --bench events_ingest
//! RECAST_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench events_ingest
//! ```
//!
//! Knobs: `RECAST_BENCH_RATE` (events/s offered in phase 1, 50000), `RECAST_BENCH_SECONDS`
//! (per phase, 20), `RECAST_BENCH_CLIENTS` (8), `RECAST_BENCH_BATCH` (1000).
//! Goal: 50,000 events/s sustained with p99 batch latency under 50 ms.

use std::time::{Duration, Instant};

use recast::config::{Settings, Sources};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

struct Knobs {
    rate: u64,
    seconds: u64,
    clients: usize,
    batch: usize,
}

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One request body: `batch` distinct events of client `client`, request `n`.
fn body(client: usize, n: u64, batch: usize, ts: &str) -> String {
    let mut s = String::with_capacity(32 + batch * 220);
    s.push_str("{\"events\":[");
    for i in 0..batch {
        if i > 0 {
            s.push(',');
        }
        let user = (n as usize * batch + i) % 100_000;
        let item = (user * 7919) % 20_000;
        let (kind, value) = match i % 10 {
            0 => ("purchase", ",\"value\":19.99"),
            1 | 2 => ("add_to_cart", ""),
            3..=5 => ("click", ""),
            _ => ("view", ""),
        };
        s.push_str(&format!(
            "{{\"event_id\":\"c{client}-{n}-{i}\",\"user_id\":\"u{user}\",\"item_id\":\"i{item}\",\
             \"event_type\":\"{kind}\"{value},\"ts\":\"{ts}\",\"session_id\":\"s{client}-{n}\"}}"
        ));
    }
    s.push_str("]}");
    s
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn run(label: &str, database_url: &str, knobs: &Knobs) {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = Settings::load(&Sources {
        env: vec![
            ("RECAST_DATABASE_URL".into(), database_url.to_string()),
            (
                "RECAST_LAKE_URL".into(),
                format!("file://{}", dir.path().join("lake").display()),
            ),
            ("RECAST_LISTEN".into(), "127.0.0.1:0".into()),
        ],
        ..Default::default()
    })
    .expect("settings");
    let server = recast::service::server::start_on_loopback(
        settings,
        recast::service::server::Background::NONE,
    )
    .await
    .expect("server");
    let app = server.app.clone();
    let base = server.base_url();
    let key = recast::auth::KeyStore::new(app.db.clone())
        .create("bench", recast::auth::Role::Ingest)
        .await
        .expect("key")
        .secret;

    let spec = recast::etl::events::default_spec();
    let stop_flusher = CancellationToken::new();
    let flusher = tokio::spawn(recast::etl::events::run_flusher(
        app.clone(),
        spec,
        Duration::from_secs(app.settings.events.flush_interval_seconds),
        stop_flusher.clone(),
    ));

    println!("events_ingest [{label}]");
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/events");
    for phase in [Phase::Rate, Phase::Max] {
        let (elapsed, mut latencies, accepted) = load(&client, &url, &key, knobs, phase).await;
        latencies.sort();
        let drain = drain(&app.db).await;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        match phase {
            Phase::Rate => println!(
                "  rate phase    {} events/s offered by {} clients in {}-event batches for {:.1} s",
                knobs.rate, knobs.clients, knobs.batch, elapsed
            ),
            Phase::Max => println!(
                "  max phase     {} clients posting {}-event batches back to back for {:.1} s",
                knobs.clients, knobs.batch, elapsed
            ),
        }
        println!(
            "    sustained   {:.0} events/s ({accepted} events in {} requests)",
            accepted as f64 / elapsed,
            latencies.len()
        );
        println!(
            "    latency     p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
            ms(latencies.last().copied().unwrap_or_default())
        );
        println!("    flush drain {drain:.1} s after the load stopped");
    }
    stop_flusher.cancel();
    let _ = flusher.await;
    // Before the HTTP server stops: pool connections opened on its worker threads belong to
    // their runtimes, which stop with it.
    let landed: u64 = app
        .lake
        .committed_files("interactions", None, None)
        .await
        .expect("files")
        .iter()
        .map(|f| f.rows)
        .sum();
    let counts = recast::db::events::counts(&app.db).await.expect("counts");
    assert_eq!(
        landed as i64, counts.flushed,
        "the lake holds every flushed event"
    );
    println!("  lake          {landed} rows, every accepted event exactly once");
    server.shutdown().await;
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Rate,
    Max,
}

/// Runs one phase; returns its duration, the batch latencies and the events accepted.
async fn load(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    knobs: &Knobs,
    phase: Phase,
) -> (f64, Vec<Duration>, u64) {
    static PHASE_RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = PHASE_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(knobs.seconds);
    // Rate phase: client `c` sends at start + offset + k * every.
    let every = Duration::from_secs_f64(
        knobs.clients as f64 * knobs.batch as f64 / knobs.rate.max(1) as f64,
    );
    let tasks: Vec<_> = (0..knobs.clients)
        .map(|c| {
            let client = client.clone();
            let (url, key) = (url.to_string(), key.to_string());
            let batch = knobs.batch;
            let offset = every.mul_f64(c as f64 / knobs.clients as f64);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut accepted = 0u64;
                let mut n = 0u64;
                loop {
                    let scheduled = match phase {
                        Phase::Rate => started + offset + every.mul_f64(n as f64),
                        Phase::Max => Instant::now(),
                    };
                    if scheduled >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(scheduled.into()).await;
                    let ts = (chrono::Utc::now() - chrono::Duration::seconds(30))
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                    let payload = body(c, run * 1_000_000_000 + n, batch, &ts);
                    n += 1;
                    let res = client
                        .post(&url)
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(payload)
                        .send()
                        .await
                        .expect("request");
                    let status = res.status();
                    let out: serde_json::Value = res.json().await.expect("response body");
                    latencies.push(scheduled.elapsed());
                    assert_eq!(status, 200, "{out}");
                    accepted += out["accepted"].as_u64().unwrap_or(0);
                }
                (latencies, accepted)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut accepted = 0;
    for t in tasks {
        let (l, a) = t.await.expect("client task");
        latencies.extend(l);
        accepted += a;
    }
    (started.elapsed().as_secs_f64(), latencies, accepted)
}

/// Seconds until the flusher has moved every buffered event into the lake.
async fn drain(db: &recast::db::Db) -> f64 {
    let started = Instant::now();
    loop {
        // Cheap probes (an index lookup each), so measuring does not slow the flusher down.
        let waiting = recast::db::events::pending(db, 1).await.expect("pending");
        let open = recast::db::events::stale_claims(db, i64::MAX)
            .await
            .expect("open claims");
        if waiting == 0 && open.is_empty() {
            return started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fresh_postgres(base: &str) -> (String, String) {
    let name = format!("recast_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to RECAST_BENCH_PG_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create bench database");
    let mut url = url::Url::parse(base).expect("RECAST_BENCH_PG_URL is a URL");
    url.set_path(&format!("/{name}"));
    (url.to_string(), name)
}

async fn drop_postgres(base: &str, name: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(base).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no arguments of its own.
    let knobs = Knobs {
        rate: knob("RECAST_BENCH_RATE", 50_000),
        seconds: knob("RECAST_BENCH_SECONDS", 20),
        clients: knob("RECAST_BENCH_CLIENTS", 8) as usize,
        batch: knob("RECAST_BENCH_BATCH", 1000) as usize,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        run("sqlite", &sqlite, &knobs).await;
        if let Ok(base) = std::env::var("RECAST_BENCH_PG_URL") {
            let (url, name) = fresh_postgres(&base).await;
            run("postgres", &url, &knobs).await;
            drop_postgres(&base, &name).await;
        }
    });
}
