//! The learning loop: fresh events change answers on any replica, training promotes only
//! through its gate, forecasts are scored as their actuals land.

use std::time::{Duration, Instant};

use recast::auth::Role;
use recast::recommend::artifact::ModelKind;
use serde_json::{Value, json};

use crate::common::{TestEnv, TestServer, recast_command, wait_healthy};
use crate::recommend::{land_world, train};

fn event(id: &str, user: &str, item: &str, kind: &str) -> Value {
    json!({
        "event_id": id,
        "user_id": user,
        "item_id": item,
        "event_type": kind,
        "ts": chrono::Utc::now().to_rfc3339(),
    })
}

fn item_ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .collect()
}

async fn recommendations(client: &reqwest::Client, base: &str, key: &str, user: &str) -> Value {
    let res = client
        .get(format!("{base}/v1/users/{user}/recommendations?k=5"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Another `recast serve` process on the same DB and lake as `srv`.
fn second_replica(srv: &TestServer) -> (std::process::Child, String) {
    let port = crate::common::free_port();
    let child = recast_command(&srv.env.path())
        .env("RECAST_DATABASE_URL", &srv.env.settings.database_url)
        .env("RECAST_LAKE_URL", &srv.env.settings.lake_url)
        .env(
            "RECAST_PIPELINES_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines"),
        )
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_leaves_the_next_answer_of_another_replica_within_a_second() {
    let srv = TestServer::start(TestEnv::new().await).await;
    land_world(&srv.app).await;
    let version = train(&srv.app, ModelKind::Als).await;
    srv.app.models.promote(&version).await.unwrap();
    let key = srv.key(Role::Ingest).await;
    let (mut replica, base) = second_replica(&srv);
    wait_healthy(&base, &mut replica).await;
    let client = reqwest::Client::new();

    let before = recommendations(&client, &base, &key, "user-1").await;
    assert!(before.get("recent_events").is_none(), "{before}");
    let bought = item_ids(&before)[0].clone();

    // Posted to this process, served by the other.
    let res = srv
        .post_as(
            "/v1/events",
            &key,
            &json!({ "events": [event("rt-1", "user-1", &bought, "purchase")] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let acked = Instant::now();
    let after = loop {
        let body = recommendations(&client, &base, &key, "user-1").await;
        if !item_ids(&body).contains(&bought) || acked.elapsed() > Duration::from_secs(1) {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let waited = acked.elapsed();
    assert!(
        !item_ids(&after).contains(&bought),
        "{bought} still recommended after {waited:?}: {after}"
    );
    assert!(waited <= Duration::from_secs(1), "took {waited:?}");
    assert_eq!(after["recent_events"]["count"], 1);
    assert!(after["recent_events"]["newest"].is_string());
    // Other users are untouched by it.
    let other = recommendations(&client, &base, &key, "user-5").await;
    assert!(other.get("recent_events").is_none(), "{other}");
    // The other replica answered from its in-memory copy, kept current by its tail.
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("recast_activity_copy_current 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("recast_activity_copy_users 2"),
        "{metrics}"
    );

    let exit = crate::common::terminate(&mut replica, Duration::from_secs(30)).await;
    assert!(exit.success());
}

#[tokio::test]
async fn a_new_user_who_views_one_category_gets_it_with_reasons_naming_a_viewed_item() {
    let srv = TestServer::start(TestEnv::new().await).await;
    land_world(&srv.app).await;
    let version = train(&srv.app, ModelKind::Als).await;
    srv.app.models.promote(&version).await.unwrap();
    let key = srv.key(Role::Ingest).await;

    // Unknown and with no history: trending across categories.
    let cold = recommendations(&srv.client, &srv.base, &key, "newcomer").await;
    let cold_categories: std::collections::HashSet<String> = item_ids(&cold)
        .iter()
        .map(|i| i.split('-').next().unwrap().to_string())
        .collect();
    assert!(cold_categories.len() > 1, "{cold}");

    let viewed = ["kitchen-1", "kitchen-2", "kitchen-3"];
    let events: Vec<Value> = viewed
        .iter()
        .enumerate()
        .map(|(n, item)| event(&format!("nv-{n}"), "newcomer", item, "view"))
        .collect();
    let res = srv
        .post_as("/v1/events", &key, &json!({ "events": events }))
        .await;
    assert_eq!(res.status(), 200);

    let warm = recommendations(&srv.client, &srv.base, &key, "newcomer").await;
    assert_eq!(warm["recent_events"]["count"], 3, "{warm}");
    let items = item_ids(&warm);
    assert_eq!(items.len(), 5);
    assert!(
        items.iter().all(|i| i.starts_with("kitchen-")),
        "not all from the viewed category: {warm}"
    );
    let reasons: Vec<&str> = warm["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("because you just viewed")
                && viewed
                    .iter()
                    .any(|v| r.ends_with(&format!("model {}", &v["kitchen-".len()..])))),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn the_recent_activity_state_stays_bounded() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let key = srv.key(Role::Ingest).await;
    let now = chrono::Utc::now();
    let events: Vec<Value> = (0..5)
        .map(|n| {
            json!({
                "event_id": format!("b-{n}"),
                "user_id": "busy",
                "item_id": format!("item-{n}"),
                "event_type": "view",
                "ts": (now - chrono::Duration::minutes(10 - n)).to_rfc3339(),
            })
        })
        .chain(std::iter::once(json!({
            "event_id": "old", "user_id": "idle", "item_id": "x", "event_type": "view",
            "ts": (now - chrono::Duration::days(40)).to_rfc3339(),
        })))
        .collect();
    let res = srv
        .post_as("/v1/events", &key, &json!({ "events": events }))
        .await;
    assert_eq!(res.status(), 200);
    let db = &srv.app.db;
    let before = (now - chrono::Duration::days(30)).timestamp_millis();
    // Users written to since a moment still to come: only the retention applies.
    let later = chrono::Utc::now().timestamp_millis() + 60_000;
    let removed = recast::db::activity::trim(db, before, 2, later)
        .await
        .unwrap();
    assert_eq!(removed, 1, "one past the retention");
    // Since a minute ago: `busy` was written to, three past its newest two go.
    let since = chrono::Utc::now().timestamp_millis() - 60_000;
    let removed = recast::db::activity::trim(db, before, 2, since)
        .await
        .unwrap();
    assert_eq!(removed, 3, "three past the newest two");
    let kept = recast::db::activity::recent(db, "busy", 100).await.unwrap();
    let ids: Vec<&str> = kept.iter().map(|a| a.item_id.as_str()).collect();
    assert_eq!(ids, ["item-4", "item-3"], "newest first");
    assert!(
        recast::db::activity::recent(db, "idle", 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn gated_training(srv: &TestServer, admin: &str, model: &str) -> Value {
    gated_training_with(
        srv,
        admin,
        model,
        json!({ "metric": "ndcg", "min_gain": 0.05 }),
    )
    .await
}

async fn gated_training_with(srv: &TestServer, admin: &str, model: &str, gate: Value) -> Value {
    let payload = json!({
        "model": model, "factors": 8, "iterations": 8, "alpha": 5.0, "holdout_days": 3.0,
        "gate": gate,
    });
    let job = srv
        .run_job_as(
            admin,
            &json!({ "kind": "train_recommender", "payload": payload }),
        )
        .await;
    assert_eq!(job.state.as_str(), "succeeded", "{:?}", job.last_error);
    job.result.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gated_training_promotes_a_better_candidate_refuses_a_worse_one_and_rolls_back() {
    let srv = TestServer::start(TestEnv::new().await).await;
    land_world(&srv.app).await;
    let first = train(&srv.app, ModelKind::Popularity).await;
    srv.app.models.promote(&first).await.unwrap();
    let admin = srv.key(Role::Admin).await;
    let reader = srv.key(Role::Reader).await;

    // ALS against the promoted popularity model, refitted on the same split.
    let better = gated_training(&srv, &admin, "als").await;
    assert_eq!(better["status"], "promoted", "{better}");
    let gate = &better["gate"];
    assert_eq!(gate["promoted"], true);
    assert_eq!(gate["champion_version"], first.as_str());
    assert!(gate["candidate"].as_f64().unwrap() > 1.05 * gate["champion"].as_f64().unwrap());
    let als = better["version"].as_str().unwrap().to_string();
    let v: Value = srv
        .get_as(format!("/v1/models/{als}"), &reader)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "promoted", "{v}");
    assert!(
        v["metrics"]["gate"]["reason"]
            .as_str()
            .unwrap()
            .contains("beats")
    );

    // Popularity against the promoted ALS model: refused, recorded, ALS keeps serving.
    let worse = gated_training(&srv, &admin, "popularity").await;
    assert_eq!(worse["status"], "candidate", "{worse}");
    assert_eq!(worse["gate"]["promoted"], false);
    assert!(
        worse["gate"]["reason"]
            .as_str()
            .unwrap()
            .contains("does not beat")
    );
    let promoted = srv
        .app
        .models
        .promoted(recast::registry::Kind::Recommender)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(promoted.id, als);

    // A serving guardrail: item-kNN may beat ALS or not; an impossible time budget refuses it
    // before any comparison, with the figure measured on the holdout.
    let slow = gated_training_with(
        &srv,
        &admin,
        "item-knn",
        json!({ "min_gain": -0.9, "max_fallback_share": 0.0, "max_score_ms_p99": 1e-9 }),
    )
    .await;
    assert_eq!(slow["status"], "candidate", "{slow}");
    let reason = slow["gate"]["reason"].as_str().unwrap();
    assert!(reason.contains("p99 time to score a user"), "{reason}");
    let v: Value = srv
        .get_as(
            format!("/v1/models/{}", slow["version"].as_str().unwrap()),
            &reader,
        )
        .await
        .json()
        .await
        .unwrap();
    let holdout = &v["metrics"]["model"];
    assert_eq!(holdout["fallback_share"], 0.0, "{v}");
    assert!(holdout["score_ms_p99"].as_f64().unwrap() > 0.0, "{v}");

    // Rollback through the API: admin only; the popularity model serves again.
    let res = srv
        .post_as("/v1/models/recommender/rollback", &reader, &json!({}))
        .await;
    assert_eq!(res.status(), 403);
    let res = srv
        .post_as("/v1/models/recommender/rollback", &admin, &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let back: Value = res.json().await.unwrap();
    assert_eq!(back["id"], first.as_str());
    assert_eq!(back["status"], "promoted");

    // Served versions and gate outcomes in /metrics.
    let text = srv.get_text("/metrics").await;
    let served = format!("recast_served_model{{kind=\"recommender\",version=\"{first}\"}} 1");
    assert!(text.contains(&served), "{text}");
    for outcome in ["promoted", "refused"] {
        let n = if outcome == "refused" { 2 } else { 1 };
        let line =
            format!("recast_promotion_decisions{{kind=\"recommender\",outcome=\"{outcome}\"}} {n}");
        assert!(text.contains(&line), "{line} missing in {text}");
    }
}

fn sales_csv(rows: &[(chrono::NaiveDate, f64)]) -> String {
    let mut csv = String::from("date,item_id,store_id,quantity,revenue,price,on_promo\n");
    for (d, q) in rows {
        csv.push_str(&format!("{d},I1,S1,{q},{},2.5,false\n", q * 2.5));
    }
    csv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecasts_are_scored_when_later_sales_land_and_equal_a_hand_computation() {
    use recast::forecast::series::{Frequency, Level};
    use recast::forecast::train::{SelectBy, TrainParams as ForecastParams};

    let mut env = TestEnv::new().await;
    let landing = env.path().join("landing");
    let pipelines = env.path().join("pipelines");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::create_dir_all(&pipelines).unwrap();
    std::fs::write(
        pipelines.join("sales.toml"),
        crate::common::sales_pipeline(&landing),
    )
    .unwrap();
    env.settings.pipelines_dir = pipelines.display().to_string();
    // A weekly pattern on a trend of one unit a week: the seasonal-naive scale is exactly 1.
    let first = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let weekly = [3.0, 2.0, 2.0, 4.0, 6.0, 9.0, 5.0];
    let history: Vec<_> = (0..35u64)
        .map(|t| {
            let q = 10.0 + weekly[(t % 7) as usize] + (t / 7) as f64;
            (first + chrono::Days::new(t), q)
        })
        .collect();
    std::fs::write(landing.join("sales-1.csv"), sales_csv(&history)).unwrap();
    let srv = TestServer::start(env).await;
    let spec = recast::etl::pipelines::find_pipeline(&srv.app, "sales").unwrap();
    recast::etl::runner::run_pipeline(&srv.app, &spec, &recast::progress::none())
        .await
        .unwrap();
    let params = ForecastParams {
        frequency: Frequency::Day,
        horizon: Some(7),
        level: Level::ItemStore,
        series: None,
        select: SelectBy::Aicc,
        ..ForecastParams::default()
    };
    let trained = recast::forecast::train::run(&srv.app, &params, &recast::progress::none())
        .await
        .unwrap();
    let key = srv.key(Role::Reader).await;
    let admin = srv.key(Role::Admin).await;
    let series = "item=I1/store=S1".replace('=', "%3D").replace('/', "%2F");
    let forecast: Value = srv
        .get_as(format!("/v1/forecasts/{series}"), &key)
        .await
        .json()
        .await
        .unwrap();

    // Four later days land through the pipeline job; the job scores the forecast.
    let actual = [14.0, 30.0, 11.0, 15.0];
    let later: Vec<_> = (0..4u64)
        .map(|t| (first + chrono::Days::new(35 + t), actual[t as usize]))
        .collect();
    std::fs::write(landing.join("sales-2.csv"), sales_csv(&later)).unwrap();
    let job = srv
        .run_job_as(
            &admin,
            &json!({ "kind": "run_pipeline", "payload": { "pipeline": "sales" } }),
        )
        .await;
    let result = job.result.unwrap();
    assert_eq!(result["forecasts_scored"]["points_scored"], 4, "{result}");

    let got: Value = srv
        .get_as(format!("/v1/forecasts/{series}/accuracy"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["run_id"], trained.run_id.as_str(), "{got}");
    let points = forecast["points"].as_array().unwrap();
    let (mut abs, mut smape, mut bias, mut in80, mut in95) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (p, a) in points.iter().zip(actual) {
        let f = p["mean"].as_f64().unwrap();
        abs += (a - f).abs();
        smape += 200.0 * (a - f).abs() / (a.abs() + f.abs());
        bias += f - a;
        let within =
            |lo: &str, hi: &str| p[lo].as_f64().unwrap() <= a && a <= p[hi].as_f64().unwrap();
        in80 += f64::from(u8::from(within("lower_80", "upper_80")));
        in95 += f64::from(u8::from(within("lower_95", "upper_95")));
    }
    let r = &got["realised"];
    let close = |field: &str, want: f64| {
        let have = r[field].as_f64().unwrap();
        assert!((have - want).abs() < 1e-9, "{field}: {have} vs {want}");
    };
    assert_eq!(r["points"], 4);
    close("mase", abs / 4.0); // scale 1
    close("smape", smape / 4.0);
    close("bias", bias / 4.0);
    close("coverage_80", in80 / 4.0);
    close("coverage_95", in95 / 4.0);
    assert_eq!(got["by_step"].as_array().unwrap().len(), 4);
    assert!(got["backtest_mase"].is_number());
    // Day two sold 30 against a forecast near 12: drift against a tight backtest.
    assert_eq!(
        got["drift"],
        r["mase"].as_f64().unwrap() > 1.5 * got["backtest_mase"].as_f64().unwrap()
    );

    let run: Value = srv
        .get_as(
            format!("/v1/forecasts/runs/{}/accuracy", trained.run_id),
            &key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["series_scored"], 1, "{run}");
    assert_eq!(run["realised"], got["realised"]);
    assert_eq!(run["by_level"][0]["key"], "item_store");

    // The served run's realised error in /metrics.
    let text = srv.get_text("/metrics").await;
    assert!(text.contains("recast_forecast_realised_points 4"), "{text}");
    let mase_line = text
        .lines()
        .find(|l| l.starts_with("recast_forecast_realised_mase "))
        .unwrap();
    let value: f64 = mase_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (value - r["mase"].as_f64().unwrap()).abs() < 1e-9,
        "{mase_line}"
    );
}

fn activity(id: &str, user: &str, item: &str, ts: i64) -> recast::db::activity::Activity {
    recast::db::activity::Activity {
        event_id: id.into(),
        user_id: user.into(),
        item_id: item.into(),
        event_type: "view".into(),
        value: None,
        ts,
    }
}

#[tokio::test]
async fn the_tail_pages_through_one_millisecond_of_thousands_of_rows_once() {
    use recast::db::activity::{Received, insert, received_since};
    let env = TestEnv::new().await;
    let now = chrono::Utc::now().timestamp_millis();
    // One batch: every row stamped with the same `received_at`.
    let rows: Vec<_> = (0..12_000)
        .map(|n| activity(&format!("e{n:05}"), &format!("u{}", n % 7), "i", now))
        .collect();
    insert(&env.db, &rows).await.unwrap();
    let mut after = Received::default();
    let mut seen = std::collections::HashSet::new();
    loop {
        let (page, last) = received_since(&env.db, &after, 5_000).await.unwrap();
        for r in &page {
            assert!(seen.insert(r.event_id.clone()), "{} twice", r.event_id);
        }
        match last {
            Some(last) if page.len() == 5_000 => after = last,
            _ => break,
        }
    }
    assert_eq!(seen.len(), 12_000);
}

/// A replica's copy of the recent activity: loaded at start and served from memory (a row
/// deleted behind its back is still served), kept current by the tail (another writer's row shows
/// within a second), and given up when the tail stops (the DB again).
#[tokio::test]
async fn a_replica_serves_recent_activity_from_its_copy_while_the_tail_keeps_it_current() {
    use recast::db::activity::insert;
    use recast::db::activity_cache::{ActivityCache, ActivitySource};
    let env = TestEnv::new().await;
    let now = || chrono::Utc::now().timestamp_millis();
    let cache = std::sync::Arc::new(ActivityCache::new(10_000, 100, 86_400_000));
    let source = ActivitySource {
        db: &env.db,
        cache: &cache,
        limit: 100,
    };
    insert(&env.db, &[activity("a1", "u", "first", now() - 10)])
        .await
        .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let tail = tokio::spawn(recast::db::activity_tail::follow(
        env.db.clone(),
        cache.clone(),
        Duration::from_millis(50),
        stop.clone(),
    ));
    let started = Instant::now();
    while !cache.is_current(now()) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the tail never vouched"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let items = |rows: Vec<recast::db::activity::Activity>| -> Vec<String> {
        rows.into_iter().map(|r| r.item_id).collect()
    };
    // Loaded when the tail started, before any request asked for the user.
    assert_eq!(items(cache.get("u", now()).expect("loaded")), ["first"]);
    assert_eq!(items(source.recent("u", now()).await.unwrap()), ["first"]);

    // Deleted behind the copy's back: still served from memory.
    sqlx::query("DELETE FROM recent_activity WHERE event_id = 'a1'")
        .execute(env.db.pool())
        .await
        .unwrap();
    assert_eq!(items(source.recent("u", now()).await.unwrap()), ["first"]);

    // Written by another process: in the copy within a second.
    insert(&env.db, &[activity("a2", "u", "second", now())])
        .await
        .unwrap();
    let written = Instant::now();
    while items(source.recent("u", now()).await.unwrap()).len() < 2 {
        assert!(
            written.elapsed() < Duration::from_secs(1),
            "not tailed in 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        items(source.recent("u", now()).await.unwrap()),
        ["second", "first"]
    );

    // The tail stops: the copy is given up, the DB answers (without the deleted row).
    stop.cancel();
    tail.await.unwrap();
    assert_eq!(items(source.recent("u", now()).await.unwrap()), ["second"]);
}
