//! Ingest throughput to the lake, side by side in one run: the same N interaction events
//! (a) published to a NATS JetStream stream and landed by the `nats` pipeline (one drain:
//! batches committed to the lake, then acknowledged), and (b) posted to `POST /v1/events` in
//! 1,000-event requests from 4 clients, then flushed into the lake. Each figure is events in
//! the lake per second of wall time from the first event offered to the last one committed;
//! for (a) the publishing is timed apart (it is the producer's cost, not recast's).
//!
//!     cargo bench --bench stream_ingest                  # nats-server on 127.0.0.1:4222
//!     RECAST_BENCH_EVENTS=50000 RECAST_BENCH_BATCH=5000 cargo bench --bench stream_ingest
//!
//! Knobs: `RECAST_BENCH_EVENTS` (200,000), `RECAST_BENCH_BATCH` (messages per lake commit,
//! 1,000), `RECAST_BENCH_NATS_URL` (nats://127.0.0.1:4222). SQLite metadata DB, file lake.

#[path = "common/knobs.rs"]
mod knobs;
use knobs::env_or;

use std::time::Instant;

use recast::config::{Settings, Sources};
use serde_json::json;

fn event(i: usize, ts: &str) -> serde_json::Value {
    json!({
        "event_id": format!("e{i}"),
        "user_id": format!("u{}", i % 100_000),
        "item_id": format!("i{}", (i * 7919) % 20_000),
        "event_type": if i.is_multiple_of(10) { "purchase" } else { "view" },
        "ts": ts,
    })
}

async fn open(dir: &std::path::Path) -> recast::app::App {
    let mut settings = Settings::load(&Sources {
        file: None,
        env: vec![
            (
                "RECAST_DATABASE_URL".into(),
                format!("sqlite://{}", dir.join("recast.db").display()),
            ),
            (
                "RECAST_LAKE_URL".into(),
                format!("file://{}", dir.join("lake").display()),
            ),
            ("RECAST_LISTEN".into(), "127.0.0.1:0".into()),
        ],
        overrides: Vec::new(),
    })
    .unwrap();
    settings.pipelines_dir = dir.join("pipelines").display().to_string();
    recast::service::open(settings).await.unwrap()
}

async fn landed(app: &recast::app::App) -> usize {
    app.lake
        .read("interactions", None, None)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

/// (a): publish, then one drain; returns (publish seconds, land seconds, commits).
async fn through_nats(n: usize, batch: usize, url: &str, ts: &str) -> (f64, f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (stream, subject) = (format!("BENCH_{tag}"), format!("bench.{tag}"));
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    std::fs::write(
        dir.path().join("pipelines/stream.toml"),
        format!(
            "name = \"stream\"\ndataset = \"interactions\"\n[source]\ntype = \"nats\"\n\
             url = \"{url}\"\nstream = \"{stream}\"\nsubjects = [\"{subject}\"]\n\
             batch_rows = {batch}\nmax_wait_ms = 200\n"
        ),
    )
    .unwrap();
    let app = open(dir.path()).await;
    let spec = recast::etl::pipelines::find_pipeline(&app, "stream").unwrap();
    let none = recast::progress::none();
    // Creates the stream and the consumer.
    recast::etl::runner::run_pipeline(&app, &spec, &none)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
    let published = Instant::now();
    let mut acks = Vec::with_capacity(n);
    for i in 0..n {
        let payload = serde_json::to_vec(&event(i, ts)).unwrap();
        acks.push(js.publish(subject.clone(), payload.into()).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
    let publish_seconds = published.elapsed().as_secs_f64();
    let started = Instant::now();
    let report = recast::etl::runner::run_pipeline(&app, &spec, &none)
        .await
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.rows_landed as usize, n, "{report:?}");
    assert_eq!(landed(&app).await, n);
    let commits = n.div_ceil(batch) as u64;
    js.delete_stream(&stream).await.unwrap();
    app.db.close().await;
    (publish_seconds, seconds, commits)
}

/// (b): 4 clients post 1,000-event batches, then the buffer is flushed; returns seconds.
async fn through_http(n: usize, ts: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path()).await;
    let settings = (*app.settings).clone();
    app.db.close().await;
    let server = recast::service::server::start_on_loopback(
        settings,
        recast::service::server::Background::NONE,
    )
    .await
    .unwrap();
    let key = recast::auth::KeyStore::new(server.app.db.clone())
        .create("bench", recast::auth::Role::Ingest)
        .await
        .unwrap()
        .secret;
    let base = format!("http://{}", server.addr);
    let bodies: Vec<String> = (0..n)
        .step_by(1000)
        .map(|start| {
            let events: Vec<_> = (start..(start + 1000).min(n))
                .map(|i| event(i, ts))
                .collect();
            json!({ "events": events }).to_string()
        })
        .collect();
    let started = Instant::now();
    let clients = 4;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mine: Vec<String> = bodies.iter().skip(c).step_by(clients).cloned().collect();
        let (base, key) = (base.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for body in mine {
                let res = client
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let spec = recast::etl::events::default_spec();
    let none = recast::progress::none();
    while recast::db::events::pending(&server.app.db, 1)
        .await
        .unwrap()
        > 0
    {
        recast::etl::events::flush(&server.app, &spec, &none)
            .await
            .unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(landed(&server.app).await, n);
    server.shutdown().await;
    seconds
}

fn main() {
    let n = env_or("RECAST_BENCH_EVENTS", 200_000);
    let batch = env_or("RECAST_BENCH_BATCH", 1000);
    let url =
        std::env::var("RECAST_BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let ts = "2026-12-01T10:00:00Z";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (publish, nats, commits) = runtime.block_on(through_nats(n, batch, &url, ts));
    let http = runtime.block_on(through_http(n, ts));
    println!("stream_ingest: {n} events into the interactions dataset (SQLite, file lake)");
    println!("| path | seconds | events/s to the lake | lake commits |");
    println!("|---|---|---|---|");
    println!(
        "| NATS JetStream, batch_rows {batch} (publishing took {publish:.2} s more) | {nats:.2} | {:.0} | {commits} |",
        n as f64 / nats
    );
    println!(
        "| POST /v1/events, 4 clients × 1,000-event requests, then flush | {http:.2} | {:.0} | {} |",
        n as f64 / http,
        n.div_ceil(100_000)
    );
    println!("ratio NATS / HTTP: {:.2}", http / nats);
}
