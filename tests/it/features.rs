//! The feature store through its real interfaces: `recast features` (child process) for
//! materialization and training sets, HTTP for historical and online retrieval. Point-in-time
//! results are checked against a brute-force computation over the raw events written here.

use crate::common::assert_success;
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use recast::app::App;
use recast::auth::Role;
use recast::etl::Dataset;
use recast::lake::Area;
use serde_json::{Value, json};

use crate::common::{TestEnv, TestServer, expect_problem, recast_command};

const DAY: i64 = 86_400_000_000;
const SECOND: i64 = 1_000_000;

/// Short TTL and windows so every boundary is exercised within a few days of data.
const VIEWS: &str = r#"
[[view]]
name = "u"
entity = "user"
source = "interactions"
ttl_days = 3
  [[view.features]]
  name = "events_2d"
  agg = "count"
  window_days = 2
  [[view.features]]
  name = "spend_3d"
  agg = "sum"
  column = "value"
  window_days = 3
  filter = { event_type = ["purchase"] }
  [[view.features]]
  name = "last_item"
  agg = "last"
  column = "item_id"
  [[view.features]]
  name = "days_since_last"
  agg = "days_since_last"
"#;

#[derive(Clone)]
struct Ev {
    user: String,
    item: String,
    kind: &'static str,
    value: Option<f64>,
    ts: i64,
}

fn midnight(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros()
}

async fn write_events(app: &App, events: &[Ev]) {
    let mut by_day: BTreeMap<NaiveDate, Vec<&Ev>> = BTreeMap::new();
    for e in events {
        let day = DateTime::from_timestamp_micros(e.ts).unwrap().date_naive();
        by_day.entry(day).or_default().push(e);
    }
    let mut w = app
        .lake
        .writer("interactions", Area::Datasets)
        .await
        .unwrap();
    let mut seq = 0;
    for (day, evs) in by_day {
        let n = evs.len();
        let ids: Vec<String> = (0..n)
            .map(|_| {
                seq += 1;
                format!("e{seq}")
            })
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from_iter_values(
                evs.iter().map(|e| e.user.clone()),
            )),
            Arc::new(StringArray::from_iter_values(
                evs.iter().map(|e| e.item.clone()),
            )),
            Arc::new(StringArray::from_iter_values(evs.iter().map(|e| e.kind))),
            Arc::new(Float64Array::from(
                evs.iter().map(|e| e.value).collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(evs.iter().map(|e| e.ts).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec![None::<&str>; n])),
            Arc::new(StringArray::from(vec![None::<&str>; n])),
        ];
        let batch = RecordBatch::try_new(Dataset::Interactions.arrow_schema(), columns).unwrap();
        w.write(day, &batch).await.unwrap();
    }
    w.commit(None).await.unwrap();
}

/// Random events over `days` days ending yesterday, with many timestamps on or right next to
/// midnight, plus the planted adversarial ones the tests name.
fn world(seed: u64, days: i64) -> (Vec<Ev>, NaiveDate) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let yesterday = Utc::now().date_naive() - Duration::days(1);
    let first = yesterday - Duration::days(days - 1);
    let kinds = ["view", "click", "purchase"];
    let mut events = Vec::new();
    for _ in 0..400 {
        let d = first + Duration::days(rng.random_range(0..days));
        let offset = match rng.random_range(0..4) {
            0 => 0,
            1 => DAY - SECOND,
            2 => rng.random_range(0..3) * SECOND,
            _ => rng.random_range(0..DAY / SECOND) * SECOND,
        };
        let kind = kinds[rng.random_range(0..3)];
        events.push(Ev {
            user: format!("u{}", rng.random_range(0..8)),
            item: format!("i{}", rng.random_range(0..6)),
            kind,
            value: (kind == "purchase").then(|| rng.random_range(1..50) as f64),
            ts: midnight(d) + offset,
        });
    }
    (events, first)
}

/// The definition, straight: features of `user` as of instant `t` from the raw events.
fn expected(events: &[Ev], user: &str, t: i64) -> Option<(f64, f64, String, f64)> {
    let cutoff = midnight(DateTime::from_timestamp_micros(t).unwrap().date_naive());
    let mut mine: Vec<&Ev> = events
        .iter()
        .filter(|e| e.user == user && e.ts < cutoff)
        .collect();
    mine.sort_by_key(|e| e.ts);
    let last = mine.last()?;
    if t - last.ts > 3 * DAY {
        return None;
    }
    let events_2d = mine.iter().filter(|e| e.ts >= cutoff - 2 * DAY).count() as f64;
    let spend_3d: f64 = mine
        .iter()
        .filter(|e| e.ts >= cutoff - 3 * DAY && e.kind == "purchase")
        .filter_map(|e| e.value)
        .sum();
    Some((
        events_2d,
        spend_3d,
        last.item.clone(),
        (cutoff - last.ts) as f64 / DAY as f64,
    ))
}

async fn setup(seed: u64) -> (TestServer, Vec<Ev>, NaiveDate) {
    let mut env = TestEnv::new().await;
    let dir = env.path().join("pipelines");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("features.toml"), VIEWS).unwrap();
    env.settings.pipelines_dir = dir.display().to_string();
    let srv = TestServer::start(env).await;
    let (events, first) = world(seed, 8);
    write_events(&srv.app, &events).await;
    (srv, events, first)
}

/// `recast` in the test's world (its DB, lake and definitions).
fn recast_in(srv: &TestServer) -> std::process::Command {
    let mut cmd = recast_command(&srv.env.path());
    cmd.env("RECAST_DATABASE_URL", &srv.env.settings.database_url)
        .env("RECAST_LAKE_URL", &srv.env.settings.lake_url)
        .env("RECAST_PIPELINES_DIR", &srv.env.settings.pipelines_dir);
    cmd
}

/// `recast features materialize --json` in the test's world, through the real binary.
fn materialize_cli(srv: &TestServer, extra: &[&str]) -> Value {
    let out = recast_in(srv)
        .args(["features", "materialize", "--json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "materialize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn post(srv: &TestServer, key: &str, path: &str, body: Value) -> reqwest::Response {
    srv.post_as(path, key, &body).await
}

fn ts_text(t: i64) -> String {
    DateTime::from_timestamp_micros(t)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test]
async fn historical_retrieval_is_point_in_time_correct_against_brute_force() {
    let (srv, mut events, first) = setup(7).await;
    let report = materialize_cli(&srv, &[]);
    assert_eq!(report["views"][0]["view"], "u");
    assert_eq!(report["views"][0]["days"], 8, "{report}");

    // Adversarial rows: an event one second after the entity timestamp (must not count), and
    // one event exactly at a midnight entity timestamp (must not count either).
    let day5 = midnight(first + Duration::days(5));
    let planted = [
        Ev {
            user: "adv".into(),
            item: "before".into(),
            kind: "purchase",
            value: Some(10.0),
            ts: day5 - SECOND,
        },
        Ev {
            user: "adv".into(),
            item: "after".into(),
            kind: "purchase",
            value: Some(1000.0),
            ts: day5 + SECOND,
        },
        Ev {
            user: "adv".into(),
            item: "at".into(),
            kind: "purchase",
            value: Some(500.0),
            ts: day5 + DAY,
        },
    ];
    write_events(&srv.app, &planted).await;
    events.extend(planted.iter().cloned());
    let report = materialize_cli(&srv, &["--from", &(first).to_string()]);
    assert_eq!(report["views"][0]["days"], 8, "{report}");

    let key = srv.key(Role::Reader).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let mut rows = Vec::new();
    let mut instants = Vec::new();
    for _ in 0..300 {
        let d = first + Duration::days(rng.random_range(0..9));
        let t = midnight(d)
            + match rng.random_range(0..3) {
                0 => 0,
                1 => rng.random_range(0..3) * SECOND,
                _ => rng.random_range(0..DAY / SECOND) * SECOND,
            };
        let user = format!("u{}", rng.random_range(0..9));
        instants.push((user.clone(), t));
        rows.push(json!({"user_id": user, "event_timestamp": ts_text(t), "label": 1}));
    }
    // The adversarial instants: just after the planted row at day5 - 1 s, at midnight day5+1,
    // and more than the TTL after everything.
    for t in [
        day5,
        day5 + DAY,
        day5 + SECOND,
        midnight(first + Duration::days(30)),
    ] {
        instants.push(("adv".into(), t));
        rows.push(json!({"user_id": "adv", "event_timestamp": ts_text(t), "label": 0}));
    }
    let res = post(
        &srv,
        &key,
        "/v1/features/historical",
        json!({"features": ["u:*"], "entities": rows}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let out = body["rows"].as_array().unwrap();
    assert_eq!(out.len(), instants.len());
    let mut non_null = 0;
    for ((user, t), row) in instants.iter().zip(out) {
        assert!(row["label"].is_number(), "input fields come back: {row}");
        let want = expected(&events, user, *t);
        let got = &row["u__events_2d"];
        match want {
            None => {
                for f in [
                    "u__events_2d",
                    "u__spend_3d",
                    "u__last_item",
                    "u__days_since_last",
                ] {
                    assert!(
                        row[f].is_null(),
                        "{user} at {}: {f} should be null: {row}",
                        ts_text(*t)
                    );
                }
            }
            Some((events_2d, spend, last, days_since)) => {
                non_null += 1;
                assert_eq!(
                    got.as_f64(),
                    Some(events_2d),
                    "{user} at {}: {row}",
                    ts_text(*t)
                );
                assert!(
                    (row["u__spend_3d"].as_f64().unwrap() - spend).abs() < 1e-9,
                    "{row}"
                );
                assert_eq!(row["u__last_item"], last.as_str(), "{row}");
                assert!(
                    (row["u__days_since_last"].as_f64().unwrap() - days_since).abs() < 1e-9,
                    "{row}"
                );
            }
        }
    }
    assert!(
        non_null > 100,
        "the random rows exercise real values ({non_null})"
    );
    // The planted rows, spelled out.
    let adv = &out[out.len() - 4..];
    assert_eq!(
        adv[0]["u__spend_3d"], 10.0,
        "the row 1 s before counts: {}",
        adv[0]
    );
    assert_eq!(adv[0]["u__last_item"], "before");
    assert_eq!(
        adv[2]["u__spend_3d"], 10.0,
        "the row 1 s after never counts: {}",
        adv[2]
    );
    assert_eq!(
        adv[1]["u__spend_3d"], 1010.0,
        "a day later both count: {}",
        adv[1]
    );
    assert!(
        adv[3]["u__spend_3d"].is_null(),
        "older than the TTL: {}",
        adv[3]
    );
    srv.stop().await;
}

#[tokio::test]
async fn online_values_equal_offline_and_expire_with_the_ttl() {
    let (srv, mut events, _first) = setup(8).await;
    // A user whose last event is 1 s after midnight two days ago: inside the TTL at the
    // snapshot's as-of (today 00:00)? 2 days - 1 s: yes. At read time (later today) it is
    // older than 2 days but not 3, so present; `stale` is 3 days - 1 s before the as-of and
    // expires as soon as today is more than a second old.
    let today = midnight(Utc::now().date_naive());
    let planted = [
        Ev {
            user: "stale".into(),
            item: "i1".into(),
            kind: "view",
            value: None,
            ts: today - 3 * DAY + SECOND,
        },
        Ev {
            user: "fresh".into(),
            item: "i2".into(),
            kind: "purchase",
            value: Some(7.5),
            ts: today - SECOND,
        },
    ];
    write_events(&srv.app, &planted).await;
    events.extend(planted.iter().cloned());
    materialize_cli(&srv, &[]);
    let key = srv.key(Role::Reader).await;

    let users: Vec<String> = (0..8)
        .map(|u| format!("u{u}"))
        .chain(["fresh".into()])
        .collect();
    let entities: Vec<Value> = users.iter().map(|u| json!({"user_id": u})).collect();
    let online: Value = post(
        &srv,
        &key,
        "/v1/features/online",
        json!({"features": ["u:events_2d", "u:spend_3d", "u:last_item", "u:days_since_last"], "entities": entities}),
    )
    .await
    .json()
    .await
    .unwrap();
    let hist_rows: Vec<Value> = users
        .iter()
        .map(|u| json!({"user_id": u, "event_timestamp": ts_text(today)}))
        .collect();
    let historical: Value = post(
        &srv,
        &key,
        "/v1/features/historical",
        json!({"features": ["u:*"], "entities": hist_rows}),
    )
    .await
    .json()
    .await
    .unwrap();
    let mut compared = 0;
    for (i, u) in users.iter().enumerate() {
        let result = &online["results"][i];
        let off = &historical["rows"][i];
        if result["views"]["u"]["status"] != "present" {
            continue;
        }
        for f in ["events_2d", "spend_3d", "last_item", "days_since_last"] {
            let v = &result["features"][format!("u:{f}")];
            assert_eq!(
                v,
                &off[format!("u__{f}")],
                "{u} {f}: online {result} offline {off}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 8, "compared {compared} values");
    let fresh = &online["results"][8];
    assert_eq!(fresh["features"]["u:spend_3d"], 7.5);
    let state = &fresh["views"]["u"];
    assert_eq!(state["status"], "present");
    assert_eq!(state["version"], 1);
    assert!(state["staleness_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        state["as_of"].as_str().unwrap(),
        ts_text(today).replace(".000000", "")
    );

    // One entity, every feature.
    let res = srv.get_as("/v1/features/u/stale", &key).await;
    assert_eq!(res.status(), 200);
    let stale: Value = res.json().await.unwrap();
    assert_eq!(stale["version"], 1);
    assert_eq!(stale["status"], "expired", "{stale}");
    assert!(stale["features"]["events_2d"].is_null());
    assert!(stale["reason"].as_str().unwrap().contains("TTL"));
    let res = srv.get_as("/v1/features/u/nobody", &key).await;
    let nobody: Value = res.json().await.unwrap();
    assert_eq!(nobody["status"], "missing");
    assert!(nobody["features"]["events_2d"].is_null());

    // What recommenders use for users they were not trained on.
    let store = recast::features::online::OnlineStore::new(
        srv.app.db.clone(),
        std::path::PathBuf::from(&srv.env.settings.pipelines_dir),
    );
    assert_eq!(
        store.last_item("fresh").await.unwrap().as_deref(),
        Some("i2")
    );
    assert_eq!(store.last_item("stale").await.unwrap(), None, "expired");
    assert_eq!(store.last_item("nobody").await.unwrap(), None);

    // Materializing today (a day not over yet) is as of now: the value counts today's
    // purchase and its staleness is not negative.
    let now = Utc::now().timestamp_micros();
    let bought = Ev {
        user: "today".into(),
        item: "i3".into(),
        kind: "purchase",
        value: Some(2.5),
        ts: (now - 60 * SECOND).max(today),
    };
    write_events(&srv.app, std::slice::from_ref(&bought)).await;
    let day = Utc::now().date_naive().to_string();
    materialize_cli(&srv, &["--from", &day, "--to", &day]);
    let res = srv.get_as("/v1/features/u/today", &key).await;
    let fresh: Value = res.json().await.unwrap();
    assert_eq!(fresh["status"], "present", "{fresh}");
    assert_eq!(fresh["features"]["spend_3d"], 2.5, "{fresh}");
    let staleness = fresh["staleness_seconds"].as_f64().unwrap();
    assert!((0.0..600.0).contains(&staleness), "{fresh}");
    let as_of: DateTime<Utc> = fresh["as_of"].as_str().unwrap().parse().unwrap();
    assert!(
        as_of <= Utc::now() && as_of.timestamp_micros() > bought.ts,
        "{fresh}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn materialization_is_incremental_and_a_changed_definition_is_a_new_version() {
    let (srv, _events, first) = setup(9).await;
    let first_run = materialize_cli(&srv, &[]);
    assert_eq!(first_run["views"][0]["days"], 8);
    let stats = first_run["views"][0]["stats"].as_array().unwrap();
    assert_eq!(stats.len(), 4);
    assert!(stats[0]["mean"].as_f64().is_some(), "{stats:?}");
    // Nothing new: only the last day is recomputed.
    let again = materialize_cli(&srv, &[]);
    assert_eq!(again["views"][0]["days"], 1, "{again}");
    let files = srv
        .app
        .lake
        .files(
            &recast::lake::reader::Scan::dataset("u__v1")
                .in_area(Area::Features)
                .between(None, None),
        )
        .await
        .unwrap();
    let days: std::collections::HashSet<_> = files.iter().map(|f| f.dt).collect();
    assert_eq!(
        files.len(),
        days.len(),
        "one live file per day after recomputation"
    );

    // A changed window is version 2; version 1 stays readable.
    let dir = std::path::PathBuf::from(&srv.env.settings.pipelines_dir);
    std::fs::write(
        dir.join("features.toml"),
        VIEWS.replace("window_days = 2", "window_days = 1"),
    )
    .unwrap();
    let v2 = materialize_cli(&srv, &[]);
    assert_eq!(v2["views"][0]["version"], 2);
    assert_eq!(v2["views"][0]["days"], 8);
    let key = srv.key(Role::Reader).await;
    let t = ts_text(midnight(first + Duration::days(6)) + 5 * SECOND);
    let res = post(
        &srv,
        &key,
        "/v1/features/historical",
        json!({"features": ["u@1:events_2d", "u:events_2d"], "entities": (0..8).map(|u| json!({"user_id": format!("u{u}"), "event_timestamp": t})).collect::<Vec<_>>()}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let mut differs = false;
    for row in body["rows"].as_array().unwrap() {
        let (two_day, one_day) = (&row["u@1__events_2d"], &row["u__events_2d"]);
        if let (Some(a), Some(b)) = (two_day.as_f64(), one_day.as_f64()) {
            assert!(a >= b, "a 2-day window holds at least the 1-day one: {row}");
            differs |= a > b;
        }
    }
    assert!(differs, "the versions really differ: {body}");
    // The catalog lists both versions.
    let res = srv.get_as("/v1/features/views", &key).await;
    let views: Value = res.json().await.unwrap();
    let u = &views["views"][0];
    assert_eq!(u["view"], "u");
    assert_eq!(u["version"], 2);
    assert_eq!(u["versions"], json!([1, 2]));
    srv.stop().await;
}

#[tokio::test]
async fn bad_requests_name_the_field_and_readers_are_required() {
    let (srv, _events, _first) = setup(10).await;
    materialize_cli(&srv, &[]);
    let key = srv.key(Role::Reader).await;
    let res = srv
        .client
        .post(srv.url("/v1/features/online"))
        .json(&json!({"features": ["u:events_2d"], "entities": [{"user_id": "u1"}]}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 401).await;
    let cases = [
        (
            "/v1/features/online",
            json!({"features": ["u:nope"], "entities": [{"user_id": "u1"}]}),
            "features[0]",
        ),
        (
            "/v1/features/online",
            json!({"features": ["u:events_2d"], "entities": [{"user_id": "u1"}, {"item_id": "i1"}]}),
            "entities[1].user_id",
        ),
        (
            "/v1/features/online",
            json!({"features": ["zzz:events_2d"], "entities": [{"user_id": "u1"}]}),
            "features[0]",
        ),
        (
            "/v1/features/historical",
            json!({"features": ["u:events_2d"], "entities": [{"user_id": "u1", "event_timestamp": "2026-01-01T00:00:00Z"}, {"user_id": "u1", "event_timestamp": "yesterday"}]}),
            "entities[1].event_timestamp",
        ),
        (
            "/v1/features/historical",
            json!({"features": ["u@7:events_2d"], "entities": [{"user_id": "u1", "event_timestamp": "2026-01-01"}]}),
            "features[0]",
        ),
    ];
    for (path, body, field) in cases {
        let p = expect_problem(post(&srv, &key, path, body.clone()).await, 422).await;
        assert_eq!(p["field"], field, "{body}: {p}");
    }
    let res = srv.get_as("/v1/features/nope/u1", &key).await;
    expect_problem(res, 404).await;
    srv.stop().await;
}

#[tokio::test]
async fn cli_builds_a_training_set_from_csv_and_names_bad_lines() {
    let (srv, events, first) = setup(11).await;
    materialize_cli(&srv, &[]);
    let dir = srv.env.path();
    let t = midnight(first + Duration::days(4)) + 3 * SECOND;
    let csv = format!(
        "user_id,event_timestamp,label\nu1,{},1\nu2,{},0\n",
        ts_text(t),
        ts_text(t)
    );
    std::fs::write(dir.join("entities.csv"), csv).unwrap();
    let out = recast_in(&srv)
        .args([
            "features",
            "historical",
            "--entities",
            "entities.csv",
            "--features",
            "u:events_2d,u:spend_3d",
            "--out",
            "train.parquet",
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let file = std::fs::File::open(dir.join("train.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batch = reader.map(|b| b.unwrap()).next().unwrap();
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "user_id",
            "event_timestamp",
            "label",
            "u__events_2d",
            "u__spend_3d"
        ]
    );
    let col = batch
        .column_by_name("u__events_2d")
        .unwrap()
        .as_primitive::<Float64Type>();
    for (i, user) in ["u1", "u2"].iter().enumerate() {
        let want = expected(&events, user, t).map(|w| w.0);
        let got = (!col.is_null(i)).then(|| col.value(i));
        assert_eq!(got, want, "{user}");
    }

    std::fs::write(
        dir.join("bad.csv"),
        "user_id,event_timestamp\nu1,2026-01-01T00:00:00Z\nu2,not-a-time\n",
    )
    .unwrap();
    let out = recast_in(&srv)
        .args([
            "features",
            "historical",
            "--entities",
            "bad.csv",
            "--features",
            "u:events_2d",
            "--out",
            "x.parquet",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv") && err.contains("line 3"), "{err}");
    srv.stop().await;
}

#[tokio::test]
async fn materialization_runs_as_a_job_requested_over_http() {
    let (srv, _events, _first) = setup(12).await;
    let admin = srv.key(Role::Admin).await;
    let bad = post(
        &srv,
        &admin,
        "/v1/jobs",
        json!({"kind": "materialize_features", "payload": {"from": "2026-02-01", "to": "2026-01-01"}}),
    )
    .await;
    let p = expect_problem(bad, 422).await;
    assert_eq!(p["field"], "payload.from", "{p}");
    let res = post(
        &srv,
        &admin,
        "/v1/jobs",
        json!({"kind": "materialize_features", "payload": {"views": ["u"]}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let job: Value = res.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();

    let queue = recast::jobs::JobQueue::new(srv.app.db.clone());
    let worker = recast::jobs::Worker::new(
        srv.app.clone(),
        queue.clone(),
        Arc::new(recast::service::job_kinds()),
        recast::config::WorkerSettings {
            concurrency: 1,
            lease_seconds: 30,
            poll_interval_ms: 20,
            shutdown_grace_seconds: 5,
        },
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let done = loop {
        let job = queue.get(&id).await.unwrap();
        if job.state.is_terminal() {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job did not finish: {job:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    shutdown.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(done.state, recast::jobs::JobState::Succeeded, "{done:?}");
    let result = done.result.expect("a result");
    assert_eq!(result["views"][0]["view"], "u");
    assert_eq!(result["views"][0]["days"], 8);
    let reader = srv.key(Role::Reader).await;
    let res = srv.get_as("/v1/features/views", &reader).await;
    let views: Value = res.json().await.unwrap();
    assert!(views["views"][0]["materialized_to"].is_string(), "{views}");
    assert!(
        views["views"][0]["latest_run"]["stats"].is_array(),
        "{views}"
    );
    srv.stop().await;
}
