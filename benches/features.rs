//! Feature store figures: materialization throughput on a year of demo data, and online
//! retrieval latency through the real HTTP stack on loopback.
//!
//! 1. Lands the demo world (`recast demo`: 365 days of sales, 90 days of clickstream) into a
//!    temp SQLite DB and lake with the real binary.
//! 2. Materializes every shipped view (`pipelines/features.toml`) over the whole range and
//!    prints source rows, snapshot rows, seconds and source rows/s per view.
//! 3. Starts the API in-process and sends sequential `POST /v1/features/online` requests on
//!    one keep-alive connection: 1 entity × 20 features and 100 entities × 20 features
//!    (user_activity:* and item_popularity:*, 11 + 9 features), random entities per request,
//!    after a warm-up; prints p50/p90/p99/max per shape. Goal: p99 under 5 ms at 100 × 20.
//!
//! ```sh
//! cargo bench --bench features
//! ```
//! Knobs: `RECAST_BENCH_REQUESTS` (per shape, 3000).

#[path = "common/knobs.rs"]
mod knobs;
use knobs::percentile;

use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use recast::config::{Settings, Sources};

fn land_demo(dir: &Path, database_url: &str, lake_url: &str, pipelines: &Path) {
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recast"))
        .current_dir(dir)
        .env_remove("RECAST_CONFIG")
        .env("RECAST_DATABASE_URL", database_url)
        .env("RECAST_LAKE_URL", lake_url)
        .env("RECAST_PIPELINES_DIR", pipelines)
        .env("RECAST_LOG_LEVEL", "warn")
        .arg("demo")
        .output()
        .expect("run recast demo");
    knobs::stdout_of(&out, "demo");
    println!(
        "demo data landed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::var("RECAST_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("recast.db").display());
    let lake_url = format!("file://{}", dir.path().join("lake").display());
    let pipelines = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    land_demo(dir.path(), &database_url, &lake_url, &pipelines);

    let settings = Settings::load(&Sources {
        env: vec![
            ("RECAST_DATABASE_URL".into(), database_url),
            ("RECAST_LAKE_URL".into(), lake_url),
            ("RECAST_LISTEN".into(), "127.0.0.1:0".into()),
            (
                "RECAST_PIPELINES_DIR".into(),
                pipelines.display().to_string(),
            ),
        ],
        ..Default::default()
    })
    .expect("settings");
    let app = recast::service::open(settings.clone()).await.expect("app");
    let catalog = recast::features::catalog::sync_dir(&app.db, &pipelines)
        .await
        .expect("catalog");

    // --- materialization ---------------------------------------------------------------
    let started = Instant::now();
    // The demo already materialized incrementally; recompute every day of its history.
    let request = recast::features::materialize::MaterializeRequest {
        views: Vec::new(),
        from: Some(chrono::Utc::now().date_naive() - chrono::Duration::days(366)),
        to: None,
    };
    let report = recast::features::materialize::materialize(
        &app,
        &catalog,
        &request,
        &recast::progress::none(),
    )
    .await
    .expect("materialize");
    let total = started.elapsed().as_secs_f64();
    println!("\nmaterialization (all days of the demo data, every shipped view)");
    println!(
        "{:<20} {:>6} {:>12} {:>12} {:>8} {:>14}",
        "view", "days", "source rows", "rows out", "seconds", "source rows/s"
    );
    let (mut source_rows, mut rows) = (0u64, 0u64);
    for v in &report.views {
        source_rows += v.source_rows;
        rows += v.rows;
        println!(
            "{:<20} {:>6} {:>12} {:>12} {:>8.2} {:>14.0}",
            v.view,
            v.days,
            v.source_rows,
            v.rows,
            v.seconds,
            v.source_rows as f64 / v.seconds.max(1e-9)
        );
    }
    println!(
        "{:<20} {:>6} {:>12} {:>12} {:>8.2} {:>14.0}",
        "total",
        "",
        source_rows,
        rows,
        total,
        source_rows as f64 / total
    );

    // --- online retrieval --------------------------------------------------------------
    let user_ids = ids(&app, "user_activity").await;
    let item_ids = ids(&app, "item_popularity").await;
    assert!(
        !user_ids.is_empty() && !item_ids.is_empty(),
        "the demo produced online values"
    );
    let server = recast::service::server::start_on_loopback(
        settings,
        recast::service::server::Background::NONE,
    )
    .await
    .expect("server");
    let base = server.base_url();
    let key = recast::auth::KeyStore::new(app.db.clone())
        .create("bench", recast::auth::Role::Reader)
        .await
        .expect("key")
        .secret;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let url = format!("{base}/v1/features/online");
    let features = ["user_activity:*", "item_popularity:*"];
    println!(
        "\nonline retrieval: POST /v1/features/online, sequential, one keep-alive connection, {requests} requests per shape"
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9}",
        "shape", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for entities in [1usize, 100] {
        let mut latencies = Vec::with_capacity(requests);
        let mut feature_count = 0;
        for i in 0..requests + 200 {
            let rows: Vec<serde_json::Value> = (0..entities)
                .map(|_| {
                    serde_json::json!({
                        "user_id": user_ids[rng.random_range(0..user_ids.len())],
                        "item_id": item_ids[rng.random_range(0..item_ids.len())],
                    })
                })
                .collect();
            let body = serde_json::json!({"features": features, "entities": rows});
            let t = Instant::now();
            let res = client
                .post(&url)
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), 200);
            let parsed: serde_json::Value = res.json().await.expect("body");
            let elapsed = t.elapsed().as_secs_f64() * 1000.0;
            if i >= 200 {
                latencies.push(elapsed);
            }
            feature_count = parsed["results"][0]["features"]
                .as_object()
                .map_or(0, |m| m.len());
        }
        latencies.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{:<28} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            format!("{entities} entities x {feature_count} features"),
            percentile(&latencies, 50.0),
            percentile(&latencies, 90.0),
            percentile(&latencies, 99.0),
            latencies.last().copied().unwrap_or(0.0)
        );
    }
    println!(
        "(latency includes the client's JSON encoding and decoding; the in-process cache keeps rows for {} s)",
        recast::features::online::CACHE_TTL.as_secs()
    );
    server.shutdown().await;
}

/// Entity ids with an online value for the current version of `view`.
async fn ids(app: &recast::app::App, view: &str) -> Vec<String> {
    use sqlx::Row;
    sqlx::query("SELECT entity_id FROM online_features WHERE view = $1")
        .bind(view)
        .fetch_all(app.db.pool())
        .await
        .expect("ids")
        .iter()
        .map(|r| r.get::<String, _>("entity_id"))
        .collect()
}
