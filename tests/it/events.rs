//! `POST /v1/events` and the flush into the lake: per-event errors, idempotency, limits,
//! exactly-once landing through simulated and real crashes (`kill -9` of the binary).

use crate::common::assert_success;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use recast::auth::Role;
use recast::etl::events::{self as events, FlushOptions};
use serde_json::{Value, json};

use crate::common::{TestEnv, TestServer, expect_problem, fresh_database_url};

fn ts_ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn event(id: &str) -> Value {
    json!({"event_id": id, "user_id": "u1", "item_id": "i1", "event_type": "view", "ts": ts_ago(10)})
}

fn batch(prefix: &str, n: usize) -> Value {
    let events: Vec<Value> = (0..n).map(|i| event(&format!("{prefix}-{i}"))).collect();
    json!({ "events": events })
}

async fn post(srv: &TestServer, key: &str, body: &Value) -> reqwest::Response {
    srv.post_as("/v1/events", key, body).await
}

async fn post_ok(srv: &TestServer, key: &str, body: &Value) -> Value {
    let res = post(srv, key, body).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// event_id → how many rows carry it in the committed `interactions` dataset.
async fn landed(lake: &recast::lake::Lake) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for batch in lake.read("interactions", None, None).await.unwrap() {
        let ids = batch.column_by_name("event_id").unwrap().as_string::<i32>();
        for id in ids.iter().flatten() {
            *counts.entry(id.to_string()).or_default() += 1;
        }
    }
    counts
}

fn assert_exactly_once(counts: &HashMap<String, usize>, expected: &[String]) {
    for id in expected {
        assert_eq!(counts.get(id), Some(&1), "`{id}` lands exactly once");
    }
    assert_eq!(counts.len(), expected.len(), "nothing else landed");
}

fn no_progress() -> impl Fn(f64, &str) + Send + Sync {
    |_, _| {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_batch_keeps_the_valid_and_names_each_refusal() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let key = srv.key(Role::Ingest).await;
    let mut full = event("ok-2");
    full["value"] = json!(4.5);
    full["session_id"] = json!("s1");
    full["recommendation_id"] = json!("r1");
    full["ts"] = json!("2026-01-02T03:04:05.123456+02:00");
    let body = json!({"events": [
        event("ok-1"),
        {"event_id": "bad-1", "user_id": 5, "item_id": "i", "event_type": "view", "ts": ts_ago(1)},
        {"event_id": "bad-2", "user_id": "u", "item_id": "i", "event_type": "like", "ts": ts_ago(1)},
        {"event_id": "bad-3", "user_id": "u", "item_id": "i", "event_type": "view", "ts": "2026-01-02T03:04:05"},
        "not an event",
        full,
        {"event_id": "bad-4", "user_id": "u", "item_id": "i", "event_type": "view", "ts": ts_ago(-60)},
        {"event_id": "bad-5", "user_id": "u", "item_id": "i", "event_type": "rating", "value": -1, "ts": ts_ago(1)},
        {"event_id": "", "user_id": "u", "item_id": "i", "event_type": "view", "ts": ts_ago(1)},
        {"event_id": "bad-7", "user_id": "u", "event_type": "view", "ts": ts_ago(1)},
        {"event_id": "bad-8", "user_id": "u", "item_id": "i", "event_type": "view", "ts": ts_ago(1), "color": "red"},
        {"event_id": "bad-9", "user_id": "u", "item_id": "i".repeat(257), "event_type": "view", "ts": ts_ago(1)},
        {"event_id": "bad\u{0}nul", "user_id": "u", "item_id": "i", "event_type": "view", "ts": ts_ago(1)},
    ]});
    let out = post_ok(&srv, &key, &body).await;
    assert_eq!(out["accepted"], 2);
    assert_eq!(out["duplicates"], 0);
    let errors: Vec<(u64, String)> = out["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["detail"].as_str().is_some_and(|d| !d.is_empty()), "{e}");
            (
                e["index"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = [
        (1, "user_id"),
        (2, "event_type"),
        (3, "ts"),
        (4, "(event)"),
        (6, "ts"),
        (7, "value"),
        (8, "event_id"),
        (9, "item_id"),
        (10, "color"),
        (11, "item_id"),
        (12, "event_id"),
    ]
    .iter()
    .map(|(i, f)| (*i, f.to_string()))
    .collect();
    assert_eq!(errors, expected);

    let summary = events::flush_with(
        &srv.app,
        &events::default_spec(),
        &FlushOptions::default(),
        &no_progress(),
    )
    .await
    .unwrap();
    assert_eq!(summary.rows_read, 2);
    assert_eq!(summary.landing.rows_landed, 2);
    assert_eq!(summary.landing.rows_quarantined, 0);
    let counts = landed(&srv.app.lake).await;
    assert_exactly_once(&counts, &["ok-1".into(), "ok-2".into()]);

    // The full event landed with every column, its time in UTC.
    let batches = srv.app.lake.read("interactions", None, None).await.unwrap();
    let mut found = false;
    for b in &batches {
        let ids = b.column_by_name("event_id").unwrap().as_string::<i32>();
        for row in 0..b.num_rows() {
            if ids.value(row) != "ok-2" {
                continue;
            }
            found = true;
            let value = b
                .column_by_name("value")
                .unwrap()
                .as_primitive::<arrow_array::types::Float64Type>()
                .value(row);
            assert_eq!(value, 4.5);
            let ts = b
                .column_by_name("ts")
                .unwrap()
                .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                .value(row);
            let expected: chrono::DateTime<chrono::Utc> =
                "2026-01-02T01:04:05.123456Z".parse().unwrap();
            assert_eq!(ts, expected.timestamp_micros());
            for (col, v) in [("session_id", "s1"), ("recommendation_id", "r1")] {
                assert_eq!(
                    b.column_by_name(col).unwrap().as_string::<i32>().value(row),
                    v
                );
            }
        }
    }
    assert!(found);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_within_and_across_batches_are_counted_not_stored() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let key = srv.key(Role::Ingest).await;
    let body = json!({"events": [event("a"), event("b"), event("a"), event("c")]});
    let out = post_ok(&srv, &key, &body).await;
    assert_eq!(
        (out["accepted"].as_u64(), out["duplicates"].as_u64()),
        (Some(3), Some(1))
    );

    // A retry of the same request: everything is a duplicate.
    let out = post_ok(&srv, &key, &body).await;
    assert_eq!(
        (out["accepted"].as_u64(), out["duplicates"].as_u64()),
        (Some(0), Some(4))
    );

    // Re-sent after the flush: still recognised (the window is 7 days).
    events::flush_with(
        &srv.app,
        &events::default_spec(),
        &FlushOptions::default(),
        &no_progress(),
    )
    .await
    .unwrap();
    let body = json!({"events": [event("c"), event("d")]});
    let out = post_ok(&srv, &key, &body).await;
    assert_eq!(
        (out["accepted"].as_u64(), out["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    events::flush_with(
        &srv.app,
        &events::default_spec(),
        &FlushOptions::default(),
        &no_progress(),
    )
    .await
    .unwrap();
    let counts = landed(&srv.app.lake).await;
    assert_exactly_once(&counts, &["a", "b", "c", "d"].map(String::from));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_roles_and_envelope_errors() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let ingest = srv.key(Role::Ingest).await;
    let admin = srv.key(Role::Admin).await;
    let reader = srv.key(Role::Reader).await;

    let res = post(&srv, &reader, &batch("r", 1)).await;
    expect_problem(res, 403).await;
    let res = srv
        .client
        .post(srv.url("/v1/events"))
        .json(&batch("x", 1))
        .send()
        .await
        .unwrap();
    expect_problem(res, 401).await;
    // Admin outranks ingest.
    assert_eq!(post_ok(&srv, &admin, &batch("adm", 1)).await["accepted"], 1);

    for body in [
        json!({}),
        json!({"events": "many"}),
        json!({"events": {"a": 1}}),
    ] {
        let p = expect_problem(post(&srv, &ingest, &body).await, 422).await;
        assert_eq!(p["field"], "events", "{body}");
    }
    let p = expect_problem(
        post(&srv, &ingest, &json!({"events": [], "x": 1})).await,
        422,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains('x'), "{p}");
    assert_eq!(
        post_ok(&srv, &ingest, &json!({"events": []})).await["accepted"],
        0
    );

    // 10,000 is the largest batch; one more is refused as a whole.
    let p = expect_problem(post(&srv, &ingest, &batch("big", 10_001)).await, 422).await;
    assert_eq!(p["field"], "events");
    let out = post_ok(&srv, &ingest, &batch("max", 10_000)).await;
    assert_eq!(out["accepted"], 10_000);
    assert_eq!(out["errors"].as_array().unwrap().len(), 0);

    // The default body limit holds a full batch of events with 256-character ids.
    let long = "x".repeat(256);
    let largest = json!({"event_id": long, "user_id": long, "item_id": long,
        "event_type": "add_to_cart", "value": 123456.789, "ts": "2026-11-22T10:00:00.123456+01:00",
        "session_id": long, "recommendation_id": long});
    let per_event = serde_json::to_vec(&largest).unwrap().len() + 1;
    assert!(
        10_000 * per_event + 64 <= recast::config::Settings::default().max_body_bytes,
        "{per_event} bytes an event do not fit 10,000 times"
    );
    srv.stop().await;

    // A body over the limit is 413, before any event is looked at.
    let mut env = TestEnv::new().await;
    env.settings.max_body_bytes = 16 * 1024;
    let small = TestServer::start(env).await;
    let key = small.key(Role::Ingest).await;
    let p = expect_problem(post(&small, &key, &batch("too-large", 200)).await, 413).await;
    assert_eq!(p["type"], "urn:recast:problem:payload-too-large");
    assert_eq!(
        recast::db::events::counts(&small.app.db)
            .await
            .unwrap()
            .unclaimed,
        0
    );
}

/// A flusher that dies after making its claim, or after the lake commit but before the
/// bookkeeping, leaves a claim without `flushed_at`; the next flush lands it under the same
/// commit key, so every event is in the lake exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_interrupted_at_any_step_lands_every_event_once() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let key = srv.key(Role::Ingest).await;
    let app = &srv.app;
    let spec = events::default_spec();
    let mut expected = Vec::new();
    for b in 0..3 {
        let body = batch(&format!("b{b}"), 100);
        assert_eq!(post_ok(&srv, &key, &body).await["accepted"], 100);
        expected.extend((0..100).map(|i| format!("b{b}-{i}")));
    }

    // Crash 1: claimed, landed and committed, never recorded as flushed.
    let committed = events::claim(&app.db, 120).await.unwrap().unwrap();
    assert_eq!(committed.width(), 120);
    let first = events::land_claim(app, &spec, &committed).await.unwrap();
    assert_eq!((first.rows_read, first.landing.rows_landed), (120, 120));
    // Crash 2: claimed, nothing written.
    let lost = events::claim(&app.db, 80).await.unwrap().unwrap();
    assert_eq!(lost.width(), 80);
    let counts = recast::db::events::counts(&app.db).await.unwrap();
    assert_eq!((counts.unclaimed, counts.in_flight), (100, 200));

    // Claims younger than `stale_after` belong to a live flusher: left alone.
    let live = FlushOptions {
        stale_after: Duration::from_secs(3600),
        ..FlushOptions::default()
    };
    let s = events::flush_with(app, &spec, &live, &no_progress())
        .await
        .unwrap();
    assert_eq!((s.recovered_claims, s.rows_read), (0, 100));
    assert_eq!(
        recast::db::events::counts(&app.db).await.unwrap().in_flight,
        200
    );

    // Once stale, both claims are taken over: the committed one lands nothing new.
    let recover = FlushOptions {
        stale_after: Duration::ZERO,
        ..FlushOptions::default()
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let s = events::flush_with(app, &spec, &recover, &no_progress())
        .await
        .unwrap();
    assert_eq!(s.recovered_claims, 2);
    assert_eq!(s.rows_read, 200);
    assert_eq!(
        s.landing.rows_landed, 80,
        "the committed claim is not landed twice"
    );
    assert!(s.landing.already_committed);
    let counts = recast::db::events::counts(&app.db).await.unwrap();
    assert_eq!(
        (counts.unclaimed, counts.in_flight, counts.flushed),
        (0, 0, 300)
    );
    assert_exactly_once(&landed(&app.lake).await, &expected);

    // Nothing left: another flush is a no-op.
    let s = events::flush_with(app, &spec, &recover, &no_progress())
        .await
        .unwrap();
    assert_eq!(s.rows_read, 0);
    assert_exactly_once(&landed(&app.lake).await, &expected);
}

/// Replicas flushing at once, each also taking over the others' claims as soon as it sees
/// them (the most hostile setting): still exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_flushers_land_every_event_once() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let key = srv.key(Role::Ingest).await;
    let mut expected = Vec::new();
    for b in 0..4 {
        post_ok(&srv, &key, &batch(&format!("c{b}"), 250)).await;
        expected.extend((0..250).map(|i| format!("c{b}-{i}")));
    }
    let spec = events::default_spec();
    let hostile = FlushOptions {
        max_rows_per_commit: 60,
        max_commits: 100,
        stale_after: Duration::ZERO,
    };
    let quiet = no_progress();
    let run = || events::flush_with(&srv.app, &spec, &hostile, &quiet);
    let (a, b, c) = tokio::join!(run(), run(), run());
    for r in [a, b, c] {
        r.unwrap();
    }
    // A flusher may have stopped while a claim it did not own was in flight: finish up.
    events::flush_with(&srv.app, &spec, &hostile, &no_progress())
        .await
        .unwrap();
    let counts = recast::db::events::counts(&srv.app.db).await.unwrap();
    assert_eq!(
        (counts.unclaimed, counts.in_flight, counts.flushed),
        (0, 0, 1000)
    );
    assert_exactly_once(&landed(&srv.app.lake).await, &expected);
}

/// Claims are ranges of the buffer: a claim made while inserts are in flight must not skip
/// a row that commits after it with a lower `seq`. Ingest and flush hard at the same time,
/// then every acknowledged event must be in the lake once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flushing_while_ingesting_skips_nothing() {
    let env = TestEnv::new().await;
    let app = recast::service::open(env.settings.clone()).await.unwrap();
    let spec = events::default_spec();
    let done = std::sync::atomic::AtomicBool::new(false);
    // Each claim takes everything committed, so claims keep reaching the rows in flight.
    let greedy = FlushOptions::default();
    let quiet = no_progress();
    let (writers, batches, size) = (6, 5, 2500);
    let ingest = async {
        let senders = (0..writers).map(|w| {
            let app = &app;
            async move {
                for b in 0..batches {
                    let events = (0..size)
                        .map(|i| events::parse(event(&format!("w{w}-{b}-{i}"))))
                        .collect();
                    let out = events::ingest(
                        &app.db,
                        &app.activity,
                        events,
                        chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
                    )
                    .await
                    .unwrap();
                    assert_eq!(out.accepted, size as u64);
                }
            }
        });
        futures::future::join_all(senders).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let flush_loop = || async {
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            events::flush_with(&app, &spec, &greedy, &quiet)
                .await
                .unwrap();
        }
    };
    tokio::join!(ingest, flush_loop(), flush_loop());
    events::flush_with(&app, &spec, &FlushOptions::default(), &quiet)
        .await
        .unwrap();
    let expected: Vec<String> = (0..writers)
        .flat_map(|w| {
            (0..batches).flat_map(move |b| (0..size).map(move |i| format!("w{w}-{b}-{i}")))
        })
        .collect();
    assert_exactly_once(&landed(&app.lake).await, &expected);
}

/// The flusher loop of `serve`: it lands an abandoned claim on its interval even with
/// nothing new waiting, and flushes what is left when it is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flusher_loop_recovers_claims_and_flushes_on_shutdown() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let key = srv.key(Role::Ingest).await;
    let app = &srv.app;
    post_ok(&srv, &key, &batch("lost", 50)).await;
    let lost = events::claim(&app.db, 1000).await.unwrap().unwrap();
    assert_eq!(lost.width(), 50);
    // The claim's flusher died long ago.
    sqlx::query("UPDATE event_flushes SET claimed_at = 0")
        .execute(app.db.pool())
        .await
        .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let flusher = tokio::spawn(events::run_flusher(
        app.clone(),
        events::default_spec(),
        Duration::from_millis(300),
        stop.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while recast::db::events::counts(&app.db).await.unwrap().flushed < 50 {
        assert!(Instant::now() < deadline, "abandoned claim not recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    flusher.await.unwrap();

    // Below `flush_rows` and before the interval: only the shutdown flush moves these.
    let stop = tokio_util::sync::CancellationToken::new();
    let flusher = tokio::spawn(events::run_flusher(
        app.clone(),
        events::default_spec(),
        Duration::from_secs(3600),
        stop.clone(),
    ));
    post_ok(&srv, &key, &batch("late", 30)).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        recast::db::events::counts(&app.db).await.unwrap().unclaimed,
        30
    );
    stop.cancel();
    flusher.await.unwrap();
    let counts = recast::db::events::counts(&app.db).await.unwrap();
    assert_eq!(
        (counts.unclaimed, counts.in_flight, counts.flushed),
        (0, 0, 80)
    );
    let expected: Vec<String> = (0..50)
        .map(|i| format!("lost-{i}"))
        .chain((0..30).map(|i| format!("late-{i}")))
        .collect();
    assert_exactly_once(&landed(&app.lake).await, &expected);
}

/// Rows the events pipeline's own rules refuse are quarantined with their reason, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_rules_quarantine_buffered_events() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let key = srv.key(Role::Ingest).await;
    let mut rated = event("rated-9");
    rated["event_type"] = json!("rating");
    rated["value"] = json!(9);
    let body = json!({"events": [event("plain"), rated]});
    assert_eq!(post_ok(&srv, &key, &body).await["accepted"], 2);
    let spec = recast::etl::PipelineSpec::parse(
        std::path::Path::new("events.toml"),
        "name = \"events\"\ndataset = \"interactions\"\n[source]\ntype = \"events\"\n\
         [columns]\nvalue = { min = 0, max = 5 }\n",
    )
    .unwrap();
    let report = events::flush(&srv.app, &spec, &no_progress())
        .await
        .unwrap();
    assert_eq!(report.rows_read, 2);
    assert_eq!(report.rows_landed, 1);
    assert_eq!(report.rows_quarantined, 1);
    assert_eq!(report.quarantined_by_reason.get("out_of_range"), Some(&1));
    assert_exactly_once(&landed(&srv.app.lake).await, &["plain".to_string()]);
    let quarantined = srv
        .app
        .lake
        .read_scan(
            &recast::lake::Scan::dataset("interactions").in_area(recast::lake::Area::Quarantine),
        )
        .await
        .unwrap();
    let raw = quarantined[0]
        .column_by_name("raw")
        .unwrap()
        .as_string::<i32>();
    assert!(raw.value(0).contains("rated-9"));
    assert_eq!(
        recast::db::events::counts(&srv.app.db)
            .await
            .unwrap()
            .flushed,
        2
    );
}

fn recast_bin(dir: &std::path::Path) -> Command {
    crate::common::recast_command(dir)
}

/// Acknowledged events survive `kill -9` of the server: after a restart they are flushed
/// into the lake, each exactly once. SIGTERM flushes before the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_database_url(dir.path()).await;
    let out = recast_bin(dir.path())
        .env("RECAST_DATABASE_URL", &db_url)
        .args(["keys", "create", "--role", "ingest"])
        .output()
        .unwrap();
    assert_success(&out);
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let port = crate::common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = |interval: &str| {
        recast_bin(dir.path())
            .env("RECAST_DATABASE_URL", &db_url)
            .env("RECAST_EVENTS_FLUSH_INTERVAL_SECONDS", interval)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = serve("3600");
    crate::common::wait_healthy(&base, &mut child).await;

    // Concurrent batches below `flush_rows` (5000), so nothing is flushed before the kill.
    let client = reqwest::Client::new();
    let posts = (0..4).map(|b| {
        let client = client.clone();
        let (url, key) = (format!("{base}/v1/events"), key.clone());
        async move {
            let res = client
                .post(url)
                .bearer_auth(key)
                .json(&batch(&format!("k{b}"), 1000))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let out: Value = res.json().await.unwrap();
            assert_eq!(out["accepted"], 1000);
        }
    });
    futures::future::join_all(posts).await;
    child.kill().unwrap(); // SIGKILL: no shutdown flush
    child.wait().unwrap();
    let expected: Vec<String> = (0..4)
        .flat_map(|b| (0..1000).map(move |i| format!("k{b}-{i}")))
        .collect();

    let settings = recast::config::Settings::load(&recast::config::Sources {
        env: vec![
            ("RECAST_DATABASE_URL".into(), db_url.clone()),
            (
                "RECAST_LAKE_URL".into(),
                format!("file://{}", dir.path().join("data/lake").display()),
            ),
        ],
        ..Default::default()
    })
    .unwrap();
    let db = recast::db::Db::open(&db_url).await.unwrap();
    let lake = recast::lake::Lake::open(&settings, db.clone())
        .await
        .unwrap();
    let counts = recast::db::events::counts(&db).await.unwrap();
    assert_eq!(
        counts.unclaimed, 4000,
        "every acknowledged event is in the buffer"
    );
    assert!(
        landed(&lake).await.is_empty(),
        "nothing flushed before the kill"
    );

    let mut child = serve("1");
    crate::common::wait_healthy(&base, &mut child).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = recast::db::events::counts(&db).await.unwrap();
        if counts.flushed == 4000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not flushed after restart: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_exactly_once(&landed(&lake).await, &expected);
    child.kill().unwrap();
    child.wait().unwrap();

    // SIGTERM: the shutdown flush lands what waits, long before the interval.
    let mut child = serve("3600");
    crate::common::wait_healthy(&base, &mut child).await;
    let res = client
        .post(format!("{base}/v1/events"))
        .bearer_auth(&key)
        .json(&batch("term", 500))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let exit = crate::common::terminate(&mut child, Duration::from_secs(60)).await;
    assert!(exit.success(), "{exit:?}");
    let all: Vec<String> = expected
        .into_iter()
        .chain((0..500).map(|i| format!("term-{i}")))
        .collect();
    assert_exactly_once(&landed(&lake).await, &all);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_flusher_leaves_a_run_report() {
    use recast::service::server::{Background, start_on_loopback};
    let mut env = TestEnv::new().await;
    env.settings.events.flush_interval_seconds = 1;
    let server = start_on_loopback(
        env.settings.clone(),
        Background {
            event_flusher: true,
            ..Background::NONE
        },
    )
    .await
    .unwrap();
    let app = server.app.clone();
    let key = recast::auth::KeyStore::new(app.db.clone())
        .create("t", recast::auth::Role::Admin)
        .await
        .unwrap()
        .secret;
    let client = reqwest::Client::new();
    let events: Vec<serde_json::Value> = (0..3)
        .map(|n| {
            serde_json::json!({
                "event_id": format!("fl-{n}"), "user_id": "u", "item_id": "i",
                "event_type": "view", "ts": chrono::Utc::now().to_rfc3339(),
            })
        })
        .collect();
    let res = client
        .post(format!("{}/v1/events", server.base_url()))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let name = recast::etl::events::events_spec(&app).unwrap().name;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let run = loop {
        let runs: serde_json::Value = client
            .get(format!("{}/v1/pipelines/{name}/runs", server.base_url()))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(run) = runs["runs"].as_array().and_then(|r| r.first()).cloned() {
            break run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run report: {runs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["rows_landed"], 3, "{run}");
    server.shutdown().await;
}
