//! The real-time user context: an accepted event changes the next answer on any replica.

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
    let removed = recast::db::activity::trim(db, before, 2).await.unwrap();
    assert_eq!(
        removed, 4,
        "three past the newest two, one past the retention"
    );
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
