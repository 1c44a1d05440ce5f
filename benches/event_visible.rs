//! Event-to-visible latency: how long after `POST /v1/events` acknowledges a purchase the first
//! recommendation answer leaves the purchased item out, read from a *second* `recast serve`
//! process sharing the database, while a background client ingests events at a fixed rate.
//!
//! A synthetic ALS version (20,000 users × 20,000 items × 32 factors by default) is promoted in
//! a temp SQLite database and file lake; two real `recast serve` binaries start on loopback.
//! Each probe asks replica B for a random user's top 10, posts a purchase of the first item to
//! replica A, and from the acknowledgement on asks B again until the item is gone; the time
//! from the acknowledgement to that answer is the probe's latency (so it includes one request
//! to B at least). Prints p50/p99/max over the probes, the acknowledgement latency of the
//! probes' purchases, and the background rate achieved.
//!
//!     cargo bench --bench event_visible
//!     RECAST_BENCH_RATE=1000 RECAST_BENCH_PROBES=300 cargo bench --bench event_visible
//!
//! Knobs: `RECAST_BENCH_RATE` (background events/s, 1000), `RECAST_BENCH_PROBES` (300),
//! `RECAST_BENCH_USERS`, `RECAST_BENCH_ITEMS`, `RECAST_BENCH_FACTORS`.

#[path = "common/knobs.rs"]
mod knobs;
use knobs::{env_or, percentile};

#[path = "common/synthetic_als.rs"]
mod synthetic_als;

#[path = "common/server.rs"]
mod server;
use server::{free_port, serve};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use recast::config::{Settings, Sources};
use recast::recommend::train::REGISTRY_KIND;
use recast::registry::NewVersion;
use serde_json::{Value, json};

/// Promotes a synthetic ALS version; returns an admin key (ingest and read).
async fn prepare(database_url: &str, lake_url: &str, users: usize, items: usize) -> String {
    let factors = env_or("RECAST_BENCH_FACTORS", 32);
    let settings = Settings::load(&Sources {
        file: None,
        env: vec![
            ("RECAST_DATABASE_URL".into(), database_url.to_string()),
            ("RECAST_LAKE_URL".into(), lake_url.to_string()),
        ],
        overrides: Vec::new(),
    })
    .unwrap();
    let app = recast::service::open(settings).await.unwrap();
    let bytes = synthetic_als::artifact(users, items, factors)
        .encode()
        .unwrap();
    let version = app
        .models
        .register(NewVersion {
            kind: REGISTRY_KIND,
            params: json!({"model": "als", "synthetic": true}),
            data_snapshot: None,
            metrics: json!({}),
            artifact: bytes,
        })
        .await
        .unwrap();
    app.models.promote(&version.id).await.unwrap();
    let key = recast::auth::KeyStore::new(app.db.clone())
        .create("event_visible", recast::auth::Role::Admin)
        .await
        .unwrap()
        .secret;
    app.db.close().await;
    key
}

async fn top_items(client: &reqwest::Client, base: &str, key: &str, user: &str) -> Vec<String> {
    let res = client
        .get(format!("{base}/v1/users/{user}/recommendations?k=10"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .collect()
}

fn event(id: String, user: String, item: String, kind: &str) -> Value {
    json!({
        "event_id": id, "user_id": user, "item_id": item, "event_type": kind,
        "ts": chrono::Utc::now().to_rfc3339(),
    })
}

/// Offers `rate` events/s to `base` in 20 requests a second until `stop`; counts accepted.
async fn background(
    base: String,
    key: String,
    rate: usize,
    users: usize,
    items: usize,
    accepted: Arc<AtomicU64>,
    stop: tokio_util::sync::CancellationToken,
) {
    let client = reqwest::Client::new();
    let per_request = (rate / 20).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut n = 0u64;
    while !stop.is_cancelled() {
        tick.tick().await;
        let events: Vec<Value> = (0..per_request)
            .map(|_| {
                n += 1;
                event(
                    format!("bg{n}"),
                    format!("u{}", rng.random_range(0..users)),
                    format!("i{}", rng.random_range(0..items)),
                    "view",
                )
            })
            .collect();
        let client = client.clone();
        let (base, key, accepted) = (base.clone(), key.clone(), accepted.clone());
        tokio::spawn(async move {
            if let Ok(res) = client
                .post(format!("{base}/v1/events"))
                .bearer_auth(&key)
                .json(&json!({ "events": events }))
                .send()
                .await
                && let Ok(body) = res.json::<Value>().await
            {
                accepted.fetch_add(body["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
            }
        });
    }
}

fn main() {
    let users = env_or("RECAST_BENCH_USERS", 20_000);
    let items = env_or("RECAST_BENCH_ITEMS", 20_000);
    let rate = env_or("RECAST_BENCH_RATE", 1000);
    let probes = env_or("RECAST_BENCH_PROBES", 300);
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("recast.db").display());
    let lake_url = format!("file://{}", dir.path().join("lake").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key = runtime.block_on(prepare(&database_url, &lake_url, users, items));
    let (port_a, port_b) = (free_port(), free_port());
    let _a = serve(dir.path(), &database_url, &lake_url, port_a);
    let _b = serve(dir.path(), &database_url, &lake_url, port_b);
    let (base_a, base_b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for base in [&base_a, &base_b] {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let ok = client
                    .get(format!("{base}/v1/users/u1/recommendations?k=10"))
                    .bearer_auth(&key)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if ok {
                    break;
                }
                assert!(Instant::now() < deadline, "{base} did not answer within 120 s");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = tokio_util::sync::CancellationToken::new();
        let load = tokio::spawn(background(
            base_a.clone(),
            key.clone(),
            rate,
            users,
            items,
            accepted.clone(),
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let started = Instant::now();
        let mut visible = Vec::with_capacity(probes);
        let mut acks = Vec::with_capacity(probes);
        let mut polls = 0usize;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for p in 0..probes {
            let user = format!("u{}", rng.random_range(0..users));
            let Some(item) = top_items(&client, &base_b, &key, &user).await.first().cloned() else {
                continue;
            };
            let sent = Instant::now();
            let res = client
                .post(format!("{base_a}/v1/events"))
                .bearer_auth(&key)
                .json(&json!({ "events": [event(format!("probe{p}"), user.clone(), item.clone(), "purchase")] }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let acked = Instant::now();
            acks.push((acked - sent).as_secs_f64() * 1000.0);
            loop {
                polls += 1;
                if !top_items(&client, &base_b, &key, &user).await.contains(&item) {
                    break;
                }
                assert!(acked.elapsed() < Duration::from_secs(10), "{item} still shown to {user} after 10 s");
            }
            visible.push(acked.elapsed().as_secs_f64() * 1000.0);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        stop.cancel();
        let _ = load.await;
        visible.sort_by(f64::total_cmp);
        acks.sort_by(f64::total_cmp);
        let achieved = accepted.load(Ordering::Relaxed) as f64 / (elapsed + 2.0);
        println!(
            "event_visible: {users} users × {items} items, two replicas on one SQLite database, \
             background {rate} events/s offered ({achieved:.0} accepted/s)"
        );
        println!("| probes | ack p50 ms | ack p99 ms | visible p50 ms | visible p99 ms | visible max ms | polls per probe |");
        println!("|---|---|---|---|---|---|---|");
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            visible.len(),
            percentile(&acks, 50.0),
            percentile(&acks, 99.0),
            percentile(&visible, 50.0),
            percentile(&visible, 99.0),
            visible.last().copied().unwrap_or(f64::NAN),
            polls as f64 / visible.len().max(1) as f64
        );
        let met = percentile(&visible, 99.0) < 1000.0;
        println!(
            "goal (a purchase is out of the other replica's answers within 1 s at p99): {}",
            if met { "met" } else { "NOT met" }
        );
    });
}
