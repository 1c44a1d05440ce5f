//! Serving under sustained load: a synthetic ALS version (100,000 users × 100,000 items × 64
//! factors, ~20 history items per user) is registered and promoted in a temp SQLite database
//! and file lake, the real `recast serve` binary is started on loopback, and `oha` drives
//! `GET /v1/users/{random user}/recommendations` at a fixed rate (`-q`, with latency
//! correction, so a slow answer cannot lower the offered load). Prints p50/p99/p99.9, the
//! achieved rate, non-200 answers and errors, and the server's peak RSS (VmHWM).
//!
//!     cargo install oha                         # the load generator (crates.io)
//!     cargo bench --bench serve_load            # 2,000 req/s for 60 s
//!     RECAST_BENCH_RATE=500 RECAST_BENCH_SECONDS=10 cargo bench --bench serve_load
//!
//! `RECAST_BENCH_OHA` names the oha binary (default `oha` on PATH); `RECAST_BENCH_USERS`,
//! `RECAST_BENCH_ITEMS`, `RECAST_BENCH_FACTORS` resize the model.
//!
//! Real-time context: every user has `RECAST_BENCH_RECENT` (default 20) recent events in
//! `recent_activity` (views, clicks, carts and a purchase in the last 24 hours), so each answer
//! reads them, folds them into the user's scores and excludes the purchased item, as in
//! production; `RECAST_BENCH_RECENT=0` measures the model alone. Goal: p99 under 5 ms at
//! 2,000 req/s with the context on, zero errors.

#[path = "common/knobs.rs"]
mod knobs;
use knobs::{cpu_seconds, env_or};

use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/synthetic_als.rs"]
mod synthetic_als;

#[path = "common/server.rs"]
mod server;
use server::{free_port, serve};

use recast::config::{Settings, Sources};
use recast::recommend::train::REGISTRY_KIND;
use recast::registry::NewVersion;

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn get(url: &str, key: &str) -> Option<(u16, String)> {
    let res = reqwest::Client::new()
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .ok()?;
    let code = res.status().as_u16();
    Some((code, res.text().await.ok()?))
}

/// A gauge's value in `/metrics` text.
fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

/// Waits until the replica has loaded its in-memory copy of the recent activity (the copy is
/// current and stopped growing), as a replica that has been up for a while has; prints how
/// long the load took and what it holds.
fn wait_for_activity_copy(runtime: &tokio::runtime::Runtime, base: &str, key: &str) {
    if std::env::var("RECAST_REALTIME_CACHE_EVENTS").is_ok_and(|v| v.trim() == "0") {
        println!("activity copy: off (RECAST_REALTIME_CACHE_EVENTS=0): every answer reads the DB");
        return;
    }
    let started = Instant::now();
    let mut last = -1.0;
    loop {
        let metrics = runtime
            .block_on(get(&format!("{base}/metrics"), key))
            .map(|(_, body)| body)
            .unwrap_or_default();
        let current = gauge(&metrics, "recast_activity_copy_current ") == Some(1.0);
        let events = gauge(&metrics, "recast_activity_copy_events ").unwrap_or(0.0);
        if current && events == last {
            let users = gauge(&metrics, "recast_activity_copy_users ").unwrap_or(0.0);
            println!(
                "activity copy: {users} users, {events} events in memory after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        if started.elapsed() > Duration::from_secs(300) {
            println!("activity copy: not settled after 300 s ({events} events)");
            return;
        }
        last = events;
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `per_user` recent events for every user, spread over the last 24 hours, one purchase each.
async fn seed_recent_activity(db: &recast::db::Db, users: usize, items: usize, per_user: usize) {
    use rand::{Rng, SeedableRng};
    if per_user == 0 {
        return;
    }
    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let now = chrono::Utc::now().timestamp_millis();
    let kinds = ["view", "view", "view", "click", "add_to_cart"];
    let mut rows = Vec::with_capacity(50_000);
    for u in 0..users {
        for e in 0..per_user {
            let item = rng.random_range(0..items);
            rows.push(recast::db::activity::Activity {
                event_id: format!("r{u}-{e}"),
                user_id: format!("u{u}"),
                item_id: format!("i{item}"),
                event_type: if e == 0 {
                    "purchase"
                } else {
                    kinds[e % kinds.len()]
                }
                .into(),
                value: None,
                ts: now - rng.random_range(0..86_400_000),
            });
        }
        if rows.len() >= 50_000 {
            recast::db::activity::insert(db, &rows).await.unwrap();
            rows.clear();
        }
    }
    recast::db::activity::insert(db, &rows).await.unwrap();
    println!(
        "recent activity: {} events ({per_user} per user) written in {:.1} s",
        users * per_user,
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let users = env_or("RECAST_BENCH_USERS", 100_000);
    let items = env_or("RECAST_BENCH_ITEMS", 100_000);
    let factors = env_or("RECAST_BENCH_FACTORS", 64);
    let rate = env_or("RECAST_BENCH_RATE", 2_000);
    let seconds = env_or("RECAST_BENCH_SECONDS", 60);
    let recent = env_or("RECAST_BENCH_RECENT", 20);
    let oha = std::env::var("RECAST_BENCH_OHA").unwrap_or_else(|_| "oha".into());
    if std::env::var_os("RECAST_REALTIME_CACHE_EVENTS").is_none() {
        // Size the replica's copy for every user's recent events, as an operator would (each
        // user also counts one); RECAST_REALTIME_CACHE_EVENTS=0 measures the DB path.
        let events = users * (recent + 1) * 5 / 4;
        // SAFETY: set before any thread of this process starts; the server inherits it.
        unsafe { std::env::set_var("RECAST_REALTIME_CACHE_EVENTS", events.to_string()) };
    }
    if Command::new(&oha).arg("--version").output().is_err() {
        eprintln!("serve_load: `{oha}` not found (cargo install oha, or set RECAST_BENCH_OHA)");
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("recast.db").display());
    let lake_url = format!("file://{}", dir.path().join("lake").display());

    let start = Instant::now();
    let artifact = synthetic_als::artifact(users, items, factors);
    let nnz = artifact.history.indices.len();
    let bytes = artifact.encode().unwrap();
    drop(artifact);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key = runtime.block_on(async {
        let settings = Settings::load(&Sources {
            file: None,
            env: vec![
                ("RECAST_DATABASE_URL".into(), database_url.clone()),
                ("RECAST_LAKE_URL".into(), lake_url.clone()),
            ],
            overrides: Vec::new(),
        })
        .unwrap();
        let app = recast::service::open(settings).await.unwrap();
        let registry = app.models.clone();
        let version = registry
            .register(NewVersion {
                kind: REGISTRY_KIND,
                params: serde_json::json!({"model": "als", "factors": factors, "synthetic": true}),
                data_snapshot: None,
                metrics: serde_json::json!({}),
                artifact: bytes,
            })
            .await
            .unwrap();
        registry.promote(&version.id).await.unwrap();
        seed_recent_activity(&app.db, users, items, recent).await;
        recast::auth::KeyStore::new(app.db.clone())
            .create("serve_load", recast::auth::Role::Reader)
            .await
            .unwrap()
            .secret
    });
    println!(
        "serve_load: {users} users × {items} items × {factors} factors, {nnz} history entries, \
         artifact registered in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve(dir.path(), &database_url, &lake_url, port);
    let pid = server.0.id();

    // Healthy, then the model loaded: the first answer carries a model version.
    let deadline = Instant::now() + Duration::from_secs(120);
    let probe = format!("{base}/v1/users/u1/recommendations?k=10");
    loop {
        if let Some((200, body)) = runtime.block_on(get(&probe, &key)) {
            println!("first answer: {}", &body[..body.len().min(600)]);
            assert!(
                recent == 0 || body.contains("\"recent_events\""),
                "the answer did not use the recent events: {body}"
            );
            break;
        }
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "recast serve exited"
        );
        assert!(Instant::now() < deadline, "no 200 answer within 120 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for_activity_copy(&runtime, &base, &key);
    println!(
        "server ready: RSS peak so far {:.0} MiB; load average {}",
        peak_rss_mib(pid),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    // Random users u1..u99999 (oha draws the path from the regex per request). In oha's
    // regex mode `.` is already literal; an escaped `\.` turns into random text and sends
    // the requests to some other host, so the dots stay unescaped.
    let digits = (users.max(10) - 1).to_string().len();
    let url_regex = format!(
        r"http://127.0.0.1:{port}/v1/users/u[1-9][0-9]{{0,{}}}/recommendations\?k=10",
        digits - 1
    );
    let dumped = Command::new(&oha)
        .args(["--dump-urls", "1", "--rand-regex-url", &url_regex])
        .output()
        .expect("run oha --dump-urls");
    let sample = String::from_utf8_lossy(&dumped.stdout);
    assert!(
        sample.starts_with(&format!("http://127.0.0.1:{port}/v1/users/u")),
        "oha draws unexpected URLs from {url_regex}: {sample}"
    );
    let cpu_before = cpu_seconds(pid);
    let out = Command::new(&oha)
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "--latency-correction",
        ])
        .args(["-z", &format!("{seconds}s"), "-q", &rate.to_string()])
        // Requests in flight at the deadline finish instead of counting as errors.
        .arg("--wait-ongoing-requests-after-deadline")
        .args(["-c", "64"])
        .args(["-H", &format!("Authorization: Bearer {key}")])
        .arg("--rand-regex-url")
        .arg(&url_regex)
        .output()
        .expect("run oha");
    let rss = peak_rss_mib(pid);
    let server_cpu = cpu_seconds(pid) - cpu_before;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    drop(server);
    if !out.status.success() {
        eprintln!("oha failed: {}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
    let report: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => {
            eprintln!(
                "oha output is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            );
            std::process::exit(1);
        }
    };
    let ms = |p: &str| report["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN) * 1000.0;
    let codes = &report["statusCodeDistribution"];
    let total: u64 = codes
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    let ok = codes["200"].as_u64().unwrap_or(0);
    let errors: u64 = report["errorDistribution"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    println!(
        "| rate target | achieved req/s | requests | p50 ms | p99 ms | p99.9 ms | max ms | non-200 | errors | server peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {rate}/s × {seconds} s | {:.0} | {total} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {errors} | {rss:.0} |",
        report["summary"]["requestsPerSec"]
            .as_f64()
            .unwrap_or(f64::NAN),
        ms("p50"),
        ms("p99"),
        ms("p99.9"),
        report["summary"]["slowest"].as_f64().unwrap_or(f64::NAN) * 1000.0,
        total - ok,
    );
    println!("status codes: {codes}");
    println!(
        "server CPU during the run: {server_cpu:.1} s ({:.0} µs per request, {:.2} cores)",
        server_cpu * 1e6 / total.max(1) as f64,
        server_cpu / seconds as f64
    );
    println!("load average after the run: {}", load.trim());
    if errors > 0 {
        println!("errors: {}", report["errorDistribution"]);
    }
    let goal_ms = if recent > 0 { 5.0 } else { 10.0 };
    let met = ms("p99") < goal_ms && errors == 0 && total == ok && total > 0;
    println!(
        "goal (p99 under {goal_ms} ms, zero errors, every answer 200): {}",
        if met { "met" } else { "NOT met" }
    );
}
