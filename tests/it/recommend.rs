//! Recommenders through their real interfaces: models against planted structure and dense
//! reference numbers, training from the lake, the registry (promote, rollback, corrupt
//! artifacts) and every serving rule over HTTP.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use recast::app::App;
use recast::auth::Role;
use recast::etl::Dataset;
use recast::lake::Area;
use recast::recommend::artifact::ModelKind;
use recast::recommend::data::{Interaction, matrix_from_triplets};
use recast::recommend::fit::train_on;
use recast::recommend::item_knn::{ItemKnn, Weighting};
use recast::recommend::train::TrainParams;
use serde_json::Value;

use crate::common::{TestEnv, TestServer, expect_problem};

const DAY: i64 = 86_400_000_000;
/// 2026-01-01T00:00:00Z in microseconds.
const T0: i64 = 1_767_225_600_000_000;

fn ev(user: &str, item: &str, event_type: &str, ts: i64) -> Interaction {
    Interaction {
        user_id: user.into(),
        item_id: item.into(),
        event_type: event_type.into(),
        weight: match event_type {
            "purchase" => 8.0,
            "add_to_cart" => 4.0,
            "click" => 2.0,
            _ => 1.0,
        },
        ts,
    }
}

#[test]
fn als_recovers_planted_groups_far_above_popularity() {
    // 10 groups of 10 items; each user touches 6 items of their own group (the last 2 in the
    // final day are held out) and one random item anywhere (noise); a few items of group 0 are
    // globally popular so the popularity baseline has a real ranking to offer.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut events = Vec::new();
    for u in 0..300 {
        let g = u % 10;
        let mut items: Vec<usize> = (0..10).map(|j| g * 10 + j).collect();
        for j in (1..items.len()).rev() {
            items.swap(j, rng.random_range(0..=j));
        }
        let user = format!("u{u}");
        for (n, &i) in items.iter().take(6).enumerate() {
            let ts = if n < 4 {
                T0 + n as i64 * DAY
            } else {
                T0 + 10 * DAY + n as i64
            };
            events.push(ev(&user, &format!("i{i}"), "click", ts));
        }
        let noise = rng.random_range(0..100);
        events.push(ev(&user, &format!("i{noise}"), "view", T0 + 2 * DAY));
        if u % 3 == 0 {
            events.push(ev(
                &user,
                &format!("i{}", rng.random_range(0..3)),
                "view",
                T0 + DAY,
            ));
        }
    }
    let params = TrainParams {
        model: ModelKind::Als,
        factors: 16,
        iterations: 15,
        regularization: 0.05,
        alpha: 10.0,
        holdout_days: 1.0,
        ..Default::default()
    };
    let trained = train_on(&events, &[], &params, &recast::progress::none()).unwrap();
    let (m, b) = (trained.metrics, trained.baseline);
    eprintln!("planted: ALS {m:?}\npopularity {b:?}");
    assert_eq!(m.users, 300, "every user has held-out items");
    assert!(m.ndcg > 0.5, "ALS NDCG@10 {:.3}", m.ndcg);
    assert!(
        m.ndcg > 3.0 * b.ndcg,
        "ALS {:.3} vs popularity {:.3}",
        m.ndcg,
        b.ndcg
    );
    assert!(
        m.hit_rate > 0.9 && m.coverage > b.coverage,
        "{m:?} vs {b:?}"
    );
}

#[test]
fn item_knn_equals_a_dense_reference() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let (users, items) = (40, 25);
    let mut dense = vec![vec![0f64; items]; users];
    let mut triplets = Vec::new();
    for (u, row) in dense.iter_mut().enumerate() {
        for (i, cell) in row.iter_mut().enumerate() {
            if rng.random::<f64>() < 0.2 {
                let v = rng.random_range(1..5) as f64;
                *cell = v;
                triplets.push((u, i, v));
            }
        }
    }
    let x = matrix_from_triplets(users, items, &triplets);
    let col = |i: usize| -> Vec<f64> { dense.iter().map(|r| r[i]).collect() };
    let reference = |a: usize, b: usize| -> f64 {
        let (p, q) = (col(a), col(b));
        let dot: f64 = p.iter().zip(&q).map(|(x, y)| x * y).sum();
        let n = p.iter().map(|x| x * x).sum::<f64>().sqrt()
            * q.iter().map(|x| x * x).sum::<f64>().sqrt();
        if n > 0.0 { dot / n } else { 0.0 }
    };
    let full = ItemKnn::fit(&x, Weighting::Cosine, items);
    for a in 0..items {
        let got: HashMap<u32, f32> = full.similar(a as u32).into_iter().collect();
        for b in 0..items {
            let want = if a == b { 0.0 } else { reference(a, b) };
            let have = got.get(&(b as u32)).copied().unwrap_or(0.0) as f64;
            assert!(
                (want - have).abs() < 1e-5,
                "sim({a},{b}) = {have}, dense {want}"
            );
        }
    }
    // Pruned to 3: exactly the 3 strongest of the dense row.
    let pruned = ItemKnn::fit(&x, Weighting::Cosine, 3);
    for a in 0..items {
        let mut want: Vec<(usize, f64)> = (0..items)
            .filter(|&b| b != a)
            .map(|b| (b, reference(a, b)))
            .filter(|e| e.1 > 0.0)
            .collect();
        want.sort_by(|p, q| q.1.total_cmp(&p.1).then(p.0.cmp(&q.0)));
        let got: Vec<f64> = pruned
            .similar(a as u32)
            .iter()
            .map(|e| e.1 as f64)
            .collect();
        let want: Vec<f64> = want.iter().take(3).map(|e| e.1).collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "item {a}: {got:?} vs {want:?}");
        }
    }
}

// ---------------------------------------------------------------- lake world

struct Item {
    id: String,
    title: String,
    category: &'static str,
    active: bool,
}

const CATEGORIES: [(&str, &str); 4] = [
    ("shoes", "running shoe sneaker"),
    ("kitchen", "espresso coffee grinder"),
    ("books", "novel paperback mystery"),
    ("garden", "hose shovel planter"),
];

fn catalogue() -> Vec<Item> {
    let mut items = Vec::new();
    for (c, (cat, words)) in CATEGORIES.iter().enumerate() {
        for n in 0..10 {
            items.push(Item {
                id: format!("{cat}-{n}"),
                title: format!("{words} model {n}"),
                category: cat,
                active: !(c == 0 && n == 9),
            });
        }
    }
    // Brand new: in the catalogue, never interacted with.
    items.push(Item {
        id: "shoes-new".into(),
        title: "running shoe sneaker model new".into(),
        category: "shoes",
        active: true,
    });
    items
}

async fn write_items(app: &App, items: &[Item]) {
    let mut tags = ListBuilder::new(StringBuilder::new());
    for it in items {
        tags.values().append_value(it.category);
        tags.append(true);
    }
    let n = items.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            items.iter().map(|i| i.id.clone()),
        )),
        Arc::new(StringArray::from_iter_values(
            items.iter().map(|i| i.title.clone()),
        )),
        Arc::new(StringArray::from(vec![Some("a fine product"); n])),
        Arc::new(StringArray::from_iter_values(
            items.iter().map(|i| i.category),
        )),
        Arc::new(StringArray::from(vec![None::<&str>; n])),
        Arc::new(Float64Array::from(vec![Some(10.0); n])),
        Arc::new(tags.finish()),
        Arc::new(BooleanArray::from(
            items.iter().map(|i| i.active).collect::<Vec<_>>(),
        )),
        Arc::new(TimestampMicrosecondArray::from(vec![T0; n]).with_timezone("UTC")),
    ];
    let batch = RecordBatch::try_new(Dataset::Items.arrow_schema(), columns).unwrap();
    let mut w = app.lake.writer("items", Area::Datasets).await.unwrap();
    w.write(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), &batch)
        .await
        .unwrap();
    w.commit(None).await.unwrap();
}

async fn write_events(app: &App, events: &[(String, String, &str, i64)]) {
    let mut by_day: BTreeMap<NaiveDate, Vec<&(String, String, &str, i64)>> = BTreeMap::new();
    for e in events {
        let day = chrono::DateTime::from_timestamp_micros(e.3)
            .unwrap()
            .date_naive();
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
        let ids: Vec<String> = evs
            .iter()
            .map(|_| {
                seq += 1;
                format!("e{seq}")
            })
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from_iter_values(
                evs.iter().map(|e| e.0.clone()),
            )),
            Arc::new(StringArray::from_iter_values(
                evs.iter().map(|e| e.1.clone()),
            )),
            Arc::new(StringArray::from_iter_values(evs.iter().map(|e| e.2))),
            Arc::new(Float64Array::from(vec![None::<f64>; n])),
            Arc::new(
                TimestampMicrosecondArray::from(evs.iter().map(|e| e.3).collect::<Vec<_>>())
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

/// 60 users, each loyal to one category: views and purchases of its items over 20 days.
/// `shoes-0` is the most popular shoe, `shoes-9` (inactive) is popular too.
pub(crate) async fn land_world(app: &App) -> Vec<(String, String, &'static str, i64)> {
    land_world_with(app, &[]).await
}

/// [`land_world`] with `extra` catalogue rows (id, title) that nobody interacted with.
pub(crate) async fn land_world_with(
    app: &App,
    extra: &[(&str, &str)],
) -> Vec<(String, String, &'static str, i64)> {
    let mut items = catalogue();
    items.extend(extra.iter().map(|(id, title)| Item {
        id: id.to_string(),
        title: title.to_string(),
        category: "other",
        active: true,
    }));
    write_items(app, &items).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut events = Vec::new();
    for u in 0..60 {
        let (cat, _) = CATEGORIES[u % 4];
        let user = format!("user-{u}");
        for d in 0..20 {
            let n = rng.random_range(0..9);
            let ts = T0 + d * DAY + u as i64 * 1000;
            events.push((user.clone(), format!("{cat}-{n}"), "view", ts));
            if d % 5 == 0 {
                events.push((user.clone(), format!("{cat}-{n}"), "purchase", ts + 1));
            }
        }
        if cat == "shoes" {
            events.push((user.clone(), "shoes-0".into(), "purchase", T0 + 19 * DAY));
            events.push((user.clone(), "shoes-9".into(), "purchase", T0 + 19 * DAY));
        }
    }
    write_events(app, &events).await;
    events
}

/// A version trained on the bag of items: without the hybrid's transition part (in this
/// world every shoe lover ends with the same purchase, which the transition part rightly
/// learns and which would crowd out the content and cold-start rules these tests check;
/// `transitions_predict_what_comes_next_and_react_to_fresh_events` tests it on its own).
pub(crate) async fn train(app: &App, model: ModelKind) -> String {
    let params = TrainParams {
        model,
        factors: 8,
        iterations: 8,
        alpha: 5.0,
        holdout_days: 3.0,
        transition_window: 0,
        ..Default::default()
    };
    recast::recommend::train::run(app, &params, std::sync::Arc::new(recast::progress::none()))
        .await
        .unwrap()
        .version
        .id
}

async fn get(srv: &TestServer, key: &str, path: &str) -> reqwest::Response {
    srv.get_as(path, key).await
}

async fn promote(srv: &TestServer, admin: &str, id: &str) -> reqwest::Response {
    srv.client
        .post(srv.url(&format!("/v1/models/{id}/promote")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .collect()
}

/// ALS serving answers from the quantised scan (`recommend::retrieval`); over HTTP it must give
/// exactly what a full f32 scan of the promoted artifact gives under every rule.
#[tokio::test]
async fn als_serving_equals_a_full_scan_under_every_rule() {
    use recast::recommend::artifact::{Model, RecommenderArtifact};
    use recast::recommend::retrieval::exact_dot;
    let srv = TestServer::start(TestEnv::new().await).await;
    let reader = srv.key(Role::Reader).await;
    let admin = srv.key(Role::Admin).await;
    land_world(&srv.app).await;
    let version = train(&srv.app, ModelKind::Als).await;
    assert_eq!(promote(&srv, &admin, &version).await.status(), 200);
    let registry = srv.app.models.clone();
    let v = registry.get(&version).await.unwrap();
    let art = RecommenderArtifact::decode(&registry.load(&v).await.unwrap()).unwrap();
    let Model::Als(als) = &art.model else {
        panic!("trained ALS")
    };
    let f = als.factors;
    // (user, k, exclude_seen, category, exclude)
    type Case<'a> = (&'a str, usize, bool, Option<&'a str>, &'a [&'a str]);
    let cases: [Case; 5] = [
        ("user-0", 5, true, None, &[]),
        ("user-1", 12, false, None, &[]),
        ("user-2", 4, true, Some("books"), &[]),
        ("user-3", 6, true, None, &["garden-1", "garden-2"]),
        ("user-7", 40, true, None, &[]),
    ];
    for (user, k, exclude_seen, category, exclude) in cases {
        let u = art.users.iter().position(|x| x == user).unwrap();
        let x = &als.user_factors[u * f..(u + 1) * f];
        let seen: HashSet<u32> = art.history.row(u).0.iter().copied().collect();
        let mut want: Vec<(usize, String, f32)> = art
            .items
            .iter()
            .enumerate()
            .filter(|(i, m)| {
                m.active
                    && !(exclude_seen && seen.contains(&(*i as u32)))
                    && !exclude.contains(&m.item_id.as_str())
                    && category.is_none_or(|c| m.category.as_deref() == Some(c))
            })
            .map(|(i, m)| {
                let s = exact_dot(x, &als.item_factors[i * f..(i + 1) * f]);
                (i, m.item_id.clone(), s)
            })
            .filter(|e| e.2 > 0.0)
            .collect();
        want.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        want.truncate(k);
        let want: Vec<(String, f32)> = want.into_iter().map(|e| (e.1, e.2)).collect();
        let mut path =
            format!("/v1/users/{user}/recommendations?k={k}&exclude_seen={exclude_seen}");
        if let Some(c) = category {
            path.push_str(&format!("&category={c}"));
        }
        if !exclude.is_empty() {
            path.push_str(&format!("&exclude={}", exclude.join(",")));
        }
        let body: Value = get(&srv, &reader, &path).await.json().await.unwrap();
        let got: Vec<(String, f32)> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["item_id"].as_str().unwrap().to_string(),
                    i["score"].as_f64().unwrap() as f32,
                )
            })
            .collect();
        assert!(!want.is_empty(), "{user}: no positive scores to compare");
        // Personal answers first, in the full scan's order and with its scores; trending
        // fills the rest when fewer than k items score above zero.
        assert!(got.len() >= want.len() && got.len() <= k, "{path}: {body}");
        assert_eq!(got[..want.len()], want[..], "{path}: {body}");
    }
}

#[tokio::test]
async fn serving_rules_over_http() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let reader = srv.key(Role::Reader).await;
    let admin = srv.key(Role::Admin).await;

    // No model yet: 503 problem.
    let res = get(&srv, &reader, "/v1/users/user-0/recommendations").await;
    assert_eq!(
        expect_problem(res, 503).await["type"],
        "urn:recast:problem:unavailable"
    );

    let events = land_world(&srv.app).await;
    let version = train(&srv.app, ModelKind::Hybrid).await;
    // Readers cannot promote; admins can.
    expect_problem(promote(&srv, &reader, &version).await, 403).await;
    expect_problem(promote(&srv, &admin, "no-such-version").await, 404).await;
    let res = promote(&srv, &admin, &version).await;
    assert_eq!(res.status(), 200);
    let promoted: Value = res.json().await.unwrap();
    assert_eq!(promoted["status"], "promoted");
    assert!(promoted["metrics"]["popularity_baseline"]["ndcg"].is_number());
    assert!(promoted["data_snapshot"].is_number());

    // Without a key: 401.
    let res = srv
        .client
        .get(srv.url("/v1/users/user-0/recommendations"))
        .send()
        .await
        .unwrap();
    expect_problem(res, 401).await;

    // A shoe lover (user-0): shoes, fresh ids, shape exactly as the blueprint.
    let res = get(&srv, &reader, "/v1/users/user-0/recommendations?k=5").await;
    assert_eq!(res.status(), 200);
    let a: Value = res.json().await.unwrap();
    let keys: HashSet<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from(["user_id", "model_version", "recommendation_id", "items"])
    );
    assert_eq!(a["user_id"], "user-0");
    assert_eq!(a["model_version"], version.as_str());
    let items = a["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    for (n, it) in items.iter().enumerate() {
        let keys: HashSet<&str> = it.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, HashSet::from(["item_id", "rank", "score", "reason"]));
        assert_eq!(it["rank"], n + 1);
        assert!(it["reason"].as_str().unwrap().len() > 5);
    }
    let top = ids(&a);
    assert!(top[0].starts_with("shoes-"), "{top:?}");
    assert!(
        items[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("because you"),
        "{items:?}"
    );
    // Every "because you <did> <title>" names what user-0 really did with that item at most.
    let wide: Value = get(&srv, &reader, "/v1/users/user-0/recommendations?k=20")
        .await
        .json()
        .await
        .unwrap();
    let mut explained = 0;
    for it in wide["items"].as_array().unwrap() {
        let reason = it["reason"].as_str().unwrap();
        let Some(rest) = reason.strip_prefix("because you ") else {
            continue;
        };
        let (verb, title) = rest.split_once(' ').unwrap();
        let title = title.strip_suffix(" to your cart").unwrap_or(title);
        let item = catalogue().into_iter().find(|i| i.title == title).unwrap();
        let did: HashSet<&str> = events
            .iter()
            .filter(|e| e.0 == "user-0" && e.1 == item.id)
            .map(|e| e.2)
            .collect();
        let expected = if did.contains("purchase") {
            "bought"
        } else if did.contains("add_to_cart") {
            "added"
        } else if did.contains("click") {
            "clicked"
        } else {
            assert!(did.contains("view"), "{reason}: user-0 never touched it");
            "viewed"
        };
        assert_eq!(verb, expected, "{reason}");
        explained += 1;
    }
    assert!(explained > 0, "{wide}");
    let b: Value = get(&srv, &reader, "/v1/users/user-0/recommendations?k=5")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(a["recommendation_id"], b["recommendation_id"]);
    uuid::Uuid::parse_str(a["recommendation_id"].as_str().unwrap()).unwrap();

    // Never inactive items, seen items excluded by default, not when asked.
    let all: Value = get(&srv, &reader, "/v1/users/user-0/recommendations?k=500")
        .await
        .json()
        .await
        .unwrap();
    let all_ids = ids(&all);
    assert!(!all_ids.contains(&"shoes-9".to_string()));
    assert!(
        !all_ids.contains(&"shoes-0".to_string()),
        "bought by user-0, so seen"
    );
    let with_seen: Value = get(
        &srv,
        &reader,
        "/v1/users/user-0/recommendations?k=500&exclude_seen=false",
    )
    .await
    .json()
    .await
    .unwrap();
    let with_seen = ids(&with_seen);
    assert!(with_seen.contains(&"shoes-0".to_string()));
    assert!(!with_seen.contains(&"shoes-9".to_string()));

    // exclude, category, diversity.
    let excluded = format!(
        "/v1/users/user-0/recommendations?k=5&exclude={},{}",
        top[0], top[1]
    );
    let ex: Value = get(&srv, &reader, &excluded).await.json().await.unwrap();
    assert!(!ids(&ex).contains(&top[0]) && !ids(&ex).contains(&top[1]));
    let books: Value = get(
        &srv,
        &reader,
        "/v1/users/user-0/recommendations?k=5&category=books",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(ids(&books).len(), 5);
    assert!(
        ids(&books).iter().all(|i| i.starts_with("books-")),
        "{books}"
    );
    let diverse: Value = get(
        &srv,
        &reader,
        "/v1/users/user-0/recommendations?k=8&diversity=1",
    )
    .await
    .json()
    .await
    .unwrap();
    let cats: HashSet<String> = ids(&diverse)
        .iter()
        .map(|i| i.split('-').next().unwrap().to_string())
        .collect();
    assert!(cats.len() >= 3, "diversity=1 spreads categories: {diverse}");

    // Brand-new user: 200 trending; with recent shoes: shoes.
    let cold: Value = get(&srv, &reader, "/v1/users/nobody/recommendations?k=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&cold).len(), 3);
    assert!(
        cold["items"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("popular"),
        "{cold}"
    );
    let warm: Value = get(
        &srv,
        &reader,
        "/v1/users/nobody/recommendations?k=3&recent=shoes-1,shoes-2",
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(ids(&warm).iter().all(|i| i.starts_with("shoes-")), "{warm}");
    assert!(!ids(&warm).contains(&"shoes-1".to_string()));

    // A user who arrived after training: the feature store's last item stands in for
    // `recent` (the shipped `user_activity:last_item`, materialized from yesterday's events).
    let yesterday = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    let at = yesterday
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    write_events(
        &srv.app,
        &[("newcomer".to_string(), "shoes-2".to_string(), "view", at)],
    )
    .await;
    let catalog = recast::features::catalog::sync_dir(
        &srv.app.db,
        std::path::Path::new(&srv.app.settings.pipelines_dir),
    )
    .await
    .unwrap();
    recast::features::materialize::materialize(
        &srv.app,
        &catalog,
        &recast::features::materialize::MaterializeRequest {
            views: vec!["user_activity".into()],
            from: Some(yesterday),
            to: None,
        },
        &recast::progress::none(),
    )
    .await
    .unwrap();
    let newcomer: Value = get(&srv, &reader, "/v1/users/newcomer/recommendations?k=3")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        ids(&newcomer).iter().all(|i| i.starts_with("shoes-")),
        "{newcomer}"
    );
    assert!(
        newcomer["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("because you viewed"),
        "{newcomer}"
    );

    // Brand-new item: content neighbours (shoes).
    let res = get(&srv, &reader, "/v1/items/shoes-new/similar?k=3").await;
    assert_eq!(res.status(), 200);
    let sim: Value = res.json().await.unwrap();
    assert_eq!(sim["item_id"], "shoes-new");
    assert_eq!(sim["model_version"], version.as_str());
    assert_eq!(ids(&sim).len(), 3);
    assert!(
        ids(&sim)
            .iter()
            .all(|i| i.starts_with("shoes-") && i != "shoes-9"),
        "{sim}"
    );
    let known: Value = get(&srv, &reader, "/v1/items/kitchen-1/similar?k=4")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        ids(&known).iter().all(|i| i.starts_with("kitchen-")),
        "{known}"
    );

    // Item and user lookups: the served catalogue, known-or-not and the recent events.
    let item: Value = get(&srv, &reader, "/v1/items/shoes-9")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["item_id"], "shoes-9");
    assert_eq!(item["active"], false, "{item}");
    assert_eq!(item["category"], "shoes");
    assert_eq!(item["model_version"], version.as_str());
    expect_problem(get(&srv, &reader, "/v1/items/nope").await, 404).await;
    let user: Value = get(&srv, &reader, "/v1/users/user-0")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["known_to_model"], true, "{user}");
    let stranger: Value = get(&srv, &reader, "/v1/users/nobody-yet")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stranger["known_to_model"], false, "{stranger}");
    assert_eq!(stranger["recent_events"], serde_json::json!([]));
    let res = srv
        .post_as(
            "/v1/events",
            &admin,
            &serde_json::json!({ "events": [{ "event_id": "lookup-1", "user_id": "nobody-yet",
                "item_id": "books-1", "event_type": "view", "ts": chrono::Utc::now().to_rfc3339() }] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let stranger: Value = get(&srv, &reader, "/v1/users/nobody-yet")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stranger["recent_events"][0]["item_id"], "books-1",
        "{stranger}"
    );

    // Unknown item → 404; k out of range → 422 naming k.
    expect_problem(get(&srv, &reader, "/v1/items/nope/similar").await, 404).await;
    for bad in ["k=0", "k=501", "k=-3"] {
        let p = expect_problem(
            get(
                &srv,
                &reader,
                &format!("/v1/users/user-0/recommendations?{bad}"),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(p["field"], "k");
        let p = expect_problem(
            get(&srv, &reader, &format!("/v1/items/shoes-1/similar?{bad}")).await,
            422,
        )
        .await;
        assert_eq!(p["field"], "k");
    }
    // Out of range, including values that round into it in single precision (a negative
    // subnormal, found by schemathesis, was served with 200).
    for bad in ["2", "-2.2250738585e-313", "1.0000000001"] {
        let url = format!("/v1/users/user-0/recommendations?diversity={bad}");
        let p = expect_problem(get(&srv, &reader, &url).await, 422).await;
        assert_eq!(p["field"], "diversity", "{bad}");
    }

    // The list of versions.
    let list: Value = get(&srv, &reader, "/v1/models?kind=recommender")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["models"].as_array().unwrap().len(), 1);
    assert_eq!(list["models"][0]["params"]["model"], "hybrid");
    srv.stop().await;
}

#[tokio::test]
async fn promote_and_rollback_while_requests_run() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let reader = srv.key(Role::Reader).await;
    let admin = srv.key(Role::Admin).await;
    land_world(&srv.app).await;
    let v1 = train(&srv.app, ModelKind::ItemKnn).await;
    let v2 = train(&srv.app, ModelKind::Als).await;
    assert_eq!(promote(&srv, &admin, &v1).await.status(), 200);

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let mut loops = Vec::new();
    for n in 0..4 {
        let (client, url, key) = (
            srv.client.clone(),
            srv.url(&format!("/v1/users/user-{n}/recommendations?k=5")),
            reader.clone(),
        );
        let (stop, failures, seen) = (stop.clone(), failures.clone(), seen.clone());
        loops.push(tokio::spawn(async move {
            let mut count = 0;
            while !stop.load(Ordering::Relaxed) {
                let res = client.get(&url).bearer_auth(&key).send().await.unwrap();
                if res.status() != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let body: Value = res.json().await.unwrap();
                if body["items"].as_array().unwrap().len() != 5 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                seen.lock()
                    .unwrap()
                    .insert(body["model_version"].as_str().unwrap().to_string());
                count += 1;
            }
            count
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(promote(&srv, &admin, &v2).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Rollback through the registry (what the CLI does): the poller swaps within seconds.
    let registry = srv.app.models.clone();
    let restored = registry
        .rollback(recast::registry::Kind::Recommender)
        .await
        .unwrap();
    assert_eq!(restored.id, v1);
    assert_eq!(registry.get(&v2).await.unwrap().status, "retired");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body: Value = get(&srv, &reader, "/v1/users/user-0/recommendations")
            .await
            .json()
            .await
            .unwrap();
        if body["model_version"] == v1.as_str() {
            break;
        }
        assert!(Instant::now() < deadline, "rollback not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for l in loops {
        total += l.await.unwrap();
    }
    assert!(total > 20, "requests ran during the swaps ({total})");
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert_eq!(
        *seen.lock().unwrap(),
        HashSet::from([v1.clone(), v2.clone()])
    );
    // Nothing before v1: a second rollback is refused (409) and v1 stays.
    let err = registry
        .rollback(recast::registry::Kind::Recommender)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("roll back"), "{err}");
    assert_eq!(
        registry
            .promoted(recast::registry::Kind::Recommender)
            .await
            .unwrap()
            .unwrap()
            .id,
        v1
    );
    srv.stop().await;
}

#[tokio::test]
async fn corrupt_artifact_is_refused_and_the_old_model_keeps_serving() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let reader = srv.key(Role::Reader).await;
    let admin = srv.key(Role::Admin).await;
    land_world(&srv.app).await;
    let good = train(&srv.app, ModelKind::Popularity).await;
    let bad = train(&srv.app, ModelKind::Content).await;
    assert_eq!(promote(&srv, &admin, &good).await.status(), 200);

    let registry = srv.app.models.clone();
    let version = registry.get(&bad).await.unwrap();
    let path = object_store::path::Path::from(version.artifact_path.as_str());
    let store = srv.app.lake.store();
    let mut bytes = store
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    store
        .put(&path, bytes::Bytes::from(bytes).into())
        .await
        .unwrap();

    let p = expect_problem(promote(&srv, &admin, &bad).await, 409).await;
    assert!(p["detail"].as_str().unwrap().contains("corrupt"), "{p}");
    assert_eq!(
        registry
            .promoted(recast::registry::Kind::Recommender)
            .await
            .unwrap()
            .unwrap()
            .id,
        good
    );
    let body: Value = get(&srv, &reader, "/v1/users/user-0/recommendations")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["model_version"], good.as_str());
    srv.stop().await;
}

#[tokio::test]
async fn training_job_registers_a_version_with_progress() {
    let env = TestEnv::new().await;
    let app = recast::service::open(env.settings.clone()).await.unwrap();
    land_world(&app).await;
    let registry = recast::service::job_kinds();
    let handler = registry.get("train_recommender").expect("registered");
    assert!(
        handler
            .validate(&serde_json::json!({"model": "als", "factors": 0}))
            .is_err()
    );
    assert!(
        handler
            .validate(&serde_json::json!({"model": "svd"}))
            .is_err()
    );
    assert!(
        handler
            .validate(&serde_json::json!({"model": "item-knn", "neighbours": 10}))
            .is_ok()
    );
    // Event weights: the types left out keep their defaults; a bad one names the field.
    assert!(
        handler
            .validate(&serde_json::json!({"model": "als", "event_weights": {"purchase": 16}}))
            .is_ok()
    );
    let bad = handler
        .validate(&serde_json::json!({"model": "als", "event_weights": {"purchase": -1}}))
        .unwrap_err();
    assert!(bad.to_string().contains("event_weights"), "{bad}");
    let queue = recast::jobs::JobQueue::new(app.db.clone());
    let (job, _) = queue
        .enqueue(recast::jobs::NewJob::new(
            "train_recommender",
            serde_json::json!({"model": "item-knn"}),
        ))
        .await
        .unwrap();
    let job = crate::common::run_job(&app, &env.settings.worker, &job.id).await;
    assert_eq!(job.state.as_str(), "succeeded", "{:?}", job.last_error);
    assert_eq!(job.progress, 100.0);
    assert_eq!(
        job.progress_message.as_deref(),
        Some("done"),
        "a finished job says so"
    );
    let result = job.result.clone().unwrap();
    assert!(
        result["metrics"]["ndcg"].is_number() && result["popularity_baseline"]["ndcg"].is_number()
    );
    let id = result["version"].as_str().unwrap().to_string();
    let v = app.models.clone().get(&id).await.unwrap();
    assert_eq!(v.status, "candidate");
    assert_eq!(v.params["model"], "item-knn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_trains_lists_promotes_and_rolls_back() {
    let env = TestEnv::new().await;
    let app = recast::service::open(env.settings.clone()).await.unwrap();
    land_world(&app).await;
    let run = |args: &[&str]| {
        let out = crate::common::recast_command(&env.path())
            .env("RECAST_DATABASE_URL", &env.settings.database_url)
            .env("RECAST_LAKE_URL", &env.settings.lake_url)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, table, err) = run(&[
        "train",
        "recommender",
        "--model",
        "item-knn",
        "--neighbours",
        "20",
        "--holdout-days",
        "3",
    ]);
    assert!(ok, "{err}");
    for needle in [
        "ndcg@10",
        "popularity",
        "item-knn",
        "coverage",
        "novelty (bits)",
        "diversity",
        "long-tail share",
        "popularity bias",
        // The toy world's holdout has fewer users than a meaningful evaluation needs.
        "not meaningful",
        "registered recommender version",
    ] {
        assert!(table.contains(needle), "{needle} missing from:\n{table}");
    }
    let (ok, _, err) = run(&[
        "train",
        "recommender",
        "--model",
        "als",
        "--factors",
        "4",
        "--iterations",
        "3",
        "--holdout-days",
        "3",
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["train", "recommender", "--model", "als", "--factors", "0"]);
    assert!(!ok && err.contains("factors"), "{err}");
    let (ok, _, err) = run(&[
        "train",
        "recommender",
        "--model",
        "hybrid",
        "--item-features",
        "item_popularity:views_7d,views_only",
    ]);
    assert!(
        !ok && err.contains("item_features") && err.contains("views_only"),
        "{err}"
    );

    let (ok, json, err) = run(&["models", "list", "--json"]);
    assert!(ok, "{err}");
    let list: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .all(|v| v["status"] == "candidate" && v["kind"] == "recommender")
    );
    // Newest first: the ALS version, then item-kNN.
    assert_eq!(list[0]["params"]["model"], "als");
    let (als, knn) = (
        list[0]["id"].as_str().unwrap(),
        list[1]["id"].as_str().unwrap(),
    );

    assert!(run(&["models", "promote", knn]).0);
    assert!(run(&["models", "promote", als]).0);
    let (ok, out, _) = run(&["models", "rollback", "recommender"]);
    assert!(ok && out.contains(knn), "{out}");
    let (ok, _, err) = run(&["models", "rollback", "recommender"]);
    assert!(!ok && err.contains("roll back"), "{err}");
    let (ok, _, err) = run(&["models", "promote", "missing"]);
    assert!(!ok && err.contains("not found"), "{err}");
    let registry = app.models.clone();
    assert_eq!(
        registry
            .promoted(recast::registry::Kind::Recommender)
            .await
            .unwrap()
            .unwrap()
            .id,
        knn
    );
    let (ok, table, _) = run(&["models", "list"]);
    assert!(
        ok && table.contains("promoted") && table.contains("retired"),
        "{table}"
    );
}

/// Active users work through their category; occasional users follow what is trending, and
/// the trend moves: each item's pull grows or fades linearly over the four weeks. The
/// hybrid, trained with the shipped feature views materialized, must learn an item prior
/// from recent item counts, give it weight where it predicts (the occasional users), and beat
/// the same hybrid without feature-store signals on the holdout.
#[tokio::test]
async fn hybrid_learns_an_item_prior_and_user_blends_from_the_feature_store() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let app = srv.app.clone();
    let items = catalogue();
    write_items(&app, &items).await;
    // Four weeks up to yesterday, so online values are fresh by their TTL today.
    let today = chrono::Utc::now().date_naive();
    let start = (today - chrono::Duration::days(28))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    let n_items = 40;
    let slope: Vec<f64> = (0..n_items)
        .map(|_| rng.random_range(-1.0..1.0f64))
        .collect();
    let pull = |j: usize, d: i64| (1.0 + slope[j] * (d as f64 - 14.0) / 14.0).max(0.02);
    let days = 28;
    let fan_orders: Vec<Vec<usize>> = (0..80)
        .map(|_| {
            let mut order: Vec<usize> = (0..10).collect();
            for j in (1..order.len()).rev() {
                order.swap(j, rng.random_range(0..=j));
            }
            order
        })
        .collect();
    let mut events: Vec<(String, String, &str, i64)> = Vec::new();
    for d in 0..days {
        let weights: Vec<f64> = (0..n_items).map(|j| pull(j, d).powi(3)).collect();
        let total: f64 = weights.iter().sum();
        let draw = |rng: &mut rand::rngs::StdRng| {
            let mut x = rng.random::<f64>() * total;
            for (j, w) in weights.iter().enumerate() {
                if x < *w {
                    return j;
                }
                x -= w;
            }
            n_items - 1
        };
        // Fans work through their category in their own order, a new item every few days
        // (and the previous one again), so any three days bring them an item of their
        // category they have not seen yet.
        let at = (d * 10 / days) as usize;
        for (u, order) in fan_orders.iter().enumerate() {
            let user = format!("fan-{u}");
            let (cat, _) = CATEGORIES[u % 4];
            for (v, n) in [order[at], order[at.saturating_sub(1)]]
                .into_iter()
                .enumerate()
            {
                let ts = start + d * DAY + (u * 10 + v) as i64 * 1_000_000;
                events.push((user.clone(), format!("{cat}-{n}"), "view", ts));
            }
        }
        for u in 0..160 {
            if rng.random::<f64>() < 0.5 {
                let j = draw(&mut rng);
                let ts = start + d * DAY + 40_000_000_000 + u as i64 * 1_000_000;
                events.push((format!("visitor-{u}"), items[j].id.clone(), "view", ts));
            }
        }
    }
    write_events(&app, &events).await;
    let catalog = recast::features::catalog::sync_dir(
        &app.db,
        std::path::Path::new(&app.settings.pipelines_dir),
    )
    .await
    .unwrap();
    recast::features::materialize::materialize(
        &app,
        &catalog,
        &recast::features::materialize::MaterializeRequest {
            views: vec!["item_popularity".into(), "user_activity".into()],
            from: None,
            to: None,
        },
        &recast::progress::none(),
    )
    .await
    .unwrap();

    let params = TrainParams {
        model: ModelKind::Hybrid,
        factors: 8,
        iterations: 8,
        alpha: 5.0,
        holdout_days: 3.0,
        ..Default::default()
    };
    let with =
        recast::recommend::train::run(&app, &params, std::sync::Arc::new(recast::progress::none()))
            .await
            .unwrap();
    let without = recast::recommend::train::run(
        &app,
        &TrainParams {
            item_features: Vec::new(),
            user_feature: None,
            ..params.clone()
        },
        std::sync::Arc::new(recast::progress::none()),
    )
    .await
    .unwrap();
    let report = with.hybrid.clone().expect("hybrid report");
    eprintln!(
        "with features {:?}\nwithout {:?}\n{report:?}",
        with.metrics, without.metrics
    );
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let prior = report.item_prior.as_ref().expect("an item prior");
    let views = prior
        .features
        .iter()
        .position(|f| f == "item_popularity:views_7d")
        .unwrap();
    assert!(prior.coefficients[views] > 0.2, "{prior:?}");
    let blends = report.blends.expect("tuned blends");
    assert!(
        blends.light.prior > blends.active.prior,
        "occasional users lean on the prior: {blends:?}"
    );
    assert!(report.activity_threshold.is_some());
    assert!(
        with.metrics.ndcg > 1.1 * without.metrics.ndcg,
        "with features {:.4} vs without {:.4}",
        with.metrics.ndcg,
        without.metrics.ndcg
    );
    // The version's metrics carry the choices; the artifact serves with them.
    let stored = &with.version.metrics["hybrid"];
    assert!(stored["item_prior"]["coefficients"].is_array(), "{stored}");
    assert!(without.version.metrics["hybrid"]["item_prior"].is_null());

    // Naming a feature the definitions do not have is refused, naming the field.
    let err = recast::recommend::train::run(
        &app,
        &TrainParams {
            item_features: vec!["item_popularity:no_such_feature".into()],
            ..params.clone()
        },
        std::sync::Arc::new(recast::progress::none()),
    )
    .await
    .unwrap_err();
    let problem = recast::error::Error::from(err);
    assert!(format!("{problem}").contains("item_features"), "{problem}");

    // Serving re-applies the prior to the online store's newest item features: an item that
    // nobody had touched at training time and that takes off today is recommended to
    // occasional visitors, as trending, as soon as its view is materialized again.
    let reader = srv.key(Role::Reader).await;
    let admin = srv.key(Role::Admin).await;
    assert_eq!(promote(&srv, &admin, &with.version.id).await.status(), 200);
    let rank_of_new = |body: &Value| {
        ids(body)
            .iter()
            .position(|i| i == "shoes-new")
            .unwrap_or(usize::MAX)
    };
    let path = "/v1/users/visitor-3/recommendations?k=5";
    let before: Value = get(&srv, &reader, path).await.json().await.unwrap();
    assert_eq!(rank_of_new(&before), usize::MAX, "{before}");
    let now = chrono::Utc::now().timestamp_micros();
    let midnight = today
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let surge: Vec<(String, String, &str, i64)> = (0..400)
        .map(|n| {
            let ts = midnight + (now - midnight) * n / 400;
            (format!("crowd-{n}"), "shoes-new".to_string(), "view", ts)
        })
        .collect();
    write_events(&app, &surge).await;
    recast::features::materialize::materialize(
        &app,
        &catalog,
        &recast::features::materialize::MaterializeRequest {
            views: vec!["item_popularity".into()],
            from: Some(today),
            to: Some(today),
        },
        &recast::progress::none(),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let body: Value = get(&srv, &reader, path).await.json().await.unwrap();
        if rank_of_new(&body) < 5 || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rank = rank_of_new(&after);
    assert!(rank < 5, "the surging item is not recommended: {after}");
    assert_eq!(
        after["items"][rank]["reason"], "trending in shoes",
        "{after}"
    );
}

/// EASE end to end: trained by the training run (CLI/job code path), promoted over HTTP,
/// served with the serving rules: a loyal user gets their category, with reasons, seen items
/// left out; similar items come from EASE's weights; a bad λ names the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ease_is_trained_promoted_and_served() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let reader = srv.key(Role::Reader).await;
    let admin = srv.key(Role::Admin).await;
    let events = land_world(&srv.app).await;
    let params = TrainParams {
        model: ModelKind::Ease,
        lambda: 5.0,
        holdout_days: 3.0,
        ..Default::default()
    };
    let report = recast::recommend::train::run(
        &srv.app,
        &params,
        std::sync::Arc::new(recast::progress::none()),
    )
    .await
    .unwrap();
    let metrics = &report.version.metrics;
    let (ndcg, baseline) = (
        metrics["model"]["ndcg"].as_f64().unwrap(),
        metrics["popularity_baseline"]["ndcg"].as_f64().unwrap(),
    );
    assert!(ndcg > baseline, "EASE {ndcg} vs popularity {baseline}");
    assert_eq!(
        promote(&srv, &admin, &report.version.id).await.status(),
        200
    );

    // user-0 has seen every active shoe with interactions: with seen items allowed, the
    // top 5 are shoes, explained by what they did; with the default rule, none of the seen.
    let a: Value = get(
        &srv,
        &reader,
        "/v1/users/user-0/recommendations?k=5&exclude_seen=false",
    )
    .await
    .json()
    .await
    .unwrap();
    let top = ids(&a);
    assert_eq!(top.len(), 5, "{a}");
    assert!(top.iter().all(|i| i.starts_with("shoes-")), "{top:?}");
    assert!(
        a["items"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("because you"),
        "{a}"
    );
    let seen: HashSet<&str> = events
        .iter()
        .filter(|e| e.0 == "user-0")
        .map(|e| e.1.as_str())
        .collect();
    let fresh: Value = get(&srv, &reader, "/v1/users/user-0/recommendations?k=5")
        .await
        .json()
        .await
        .unwrap();
    let fresh = ids(&fresh);
    assert_eq!(fresh.len(), 5);
    assert!(
        fresh.iter().all(|i| !seen.contains(i.as_str())),
        "{fresh:?}"
    );
    let similar: Value = get(&srv, &reader, "/v1/items/shoes-3/similar?k=3")
        .await
        .json()
        .await
        .unwrap();
    let near = ids(&similar);
    assert!(
        !near.is_empty() && near.iter().all(|i| i.starts_with("shoes-")),
        "{near:?}"
    );

    // The per-user temporal split: each user's last two interactions are the test set.
    let per_user = TrainParams {
        test_per_user: Some(2),
        ..params.clone()
    };
    let report = recast::recommend::train::run(
        &srv.app,
        &per_user,
        std::sync::Arc::new(recast::progress::none()),
    )
    .await
    .unwrap();
    // Evaluated: users whose last two interactions hold an item they had not had before.
    let mut by_user: std::collections::HashMap<&str, Vec<(i64, &str)>> = Default::default();
    for e in &events {
        by_user
            .entry(e.0.as_str())
            .or_default()
            .push((e.3, e.1.as_str()));
    }
    for evs in by_user.values_mut() {
        evs.sort();
    }
    let expected = by_user
        .values()
        .filter(|evs| {
            let (past, last) = evs.split_at(evs.len() - 2);
            last.iter().any(|(_, i)| past.iter().all(|(_, p)| p != i))
        })
        .count() as u64;
    let users = report.version.metrics["model"]["users"].as_u64().unwrap();
    assert_eq!(users, expected, "{}", report.version.metrics);
    assert!(users > 0);
    let ci = &report.version.metrics["model"]["ci95"]["ndcg"];
    let ndcg = report.version.metrics["model"]["ndcg"].as_f64().unwrap();
    assert!(
        ci[0].as_f64().unwrap() <= ndcg && ndcg <= ci[1].as_f64().unwrap(),
        "{ci}"
    );

    let bad = TrainParams {
        lambda: -1.0,
        ..params
    };
    let err = recast::recommend::train::run(
        &srv.app,
        &bad,
        std::sync::Arc::new(recast::progress::none()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("lambda"), "{err}");
}

/// The search tunes on a validation split cut from the training part: from poor given
/// settings it finds better ones, trains the version with them and stores the table; the
/// CLI prints it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuning_improves_validation_ndcg_over_the_given_settings() {
    let env = TestEnv::new().await;
    let app = recast::service::open(env.settings.clone()).await.unwrap();
    land_world(&app).await;
    let params = TrainParams {
        model: ModelKind::Als,
        factors: 2,
        iterations: 4,
        regularization: 50.0,
        alpha: 0.5,
        holdout_days: 3.0,
        tune_trials: Some(6),
        ..Default::default()
    };
    let report =
        recast::recommend::train::run(&app, &params, std::sync::Arc::new(recast::progress::none()))
            .await
            .unwrap();
    let search = report.tuning.expect("a search table");
    assert_eq!(search.trials.len(), 6);
    let given = search.trials[0].ndcg;
    let best = &search.trials[search.best];
    assert!(best.ndcg > given, "best {} vs given {given}", best.ndcg);
    assert_eq!(search.trials[0].params["factors"], 2);
    // The version is trained with the winner and says so.
    let stored = &report.version.params;
    assert_eq!(stored["factors"], best.params["factors"], "{stored}");
    assert_eq!(stored["tune_trials"], 6);
    assert_eq!(
        report.version.metrics["tuning"]["best"].as_u64(),
        Some(search.best as u64)
    );

    let out = crate::common::recast_command(&env.path())
        .env("RECAST_DATABASE_URL", &env.settings.database_url)
        .env("RECAST_LAKE_URL", &env.settings.lake_url)
        .args(["train", "recommender", "--model", "item-knn", "--tune", "3"])
        .args(["--holdout-days", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("validation ndcg") && stdout.contains("(best)"),
        "{stdout}"
    );
}

/// Users who walk through a category in order (model 2, then 3, then 4, ...): a world where
/// what comes next is the signal. Each user starts somewhere in their category's chain and
/// takes 5 to 7 steps, one a day, after two random views of other categories.
fn walks() -> Vec<(String, String, &'static str, i64)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut events = Vec::new();
    for u in 0..80 {
        let (cat, _) = CATEGORIES[u % 4];
        let user = format!("walker-{u}");
        for d in 0..2 {
            let (other, _) = CATEGORIES[(u + 1 + d) % 4];
            let n = rng.random_range(0..9);
            events.push((
                user.clone(),
                format!("{other}-{n}"),
                "view",
                T0 + d as i64 * DAY,
            ));
        }
        let steps = rng.random_range(5..=7);
        let start = rng.random_range(0..=(9 - steps));
        for s in 0..steps {
            let ts = T0 + (2 + s as i64) * DAY + u as i64 * 1000;
            events.push((user.clone(), format!("{cat}-{}", start + s), "view", ts));
        }
    }
    events
}

async fn land_walks(app: &App) -> Vec<(String, String, &'static str, i64)> {
    write_items(app, &catalogue()).await;
    let events = walks();
    write_events(app, &events).await;
    events
}

/// The transition signal through the real interfaces: on a per-user temporal split the
/// hybrid that blends in "what users did next" beats ALS and its own collaborative part by
/// far, its tuned blend gives transitions weight and says so in the report; served over
/// HTTP, a visitor's `recent` item and a known user's fresh event both put the next model of
/// the chain first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_predict_what_comes_next_and_react_to_fresh_events() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let reader = srv.key(Role::Reader).await;
    let ingest = srv.key(Role::Ingest).await;
    let admin = srv.key(Role::Admin).await;
    land_walks(&srv.app).await;
    let run = |model| {
        let p = TrainParams {
            model,
            factors: 8,
            test_per_user: Some(2),
            history_half_life: Some(2.0),
            transition_window: 3,
            item_features: Vec::new(),
            user_feature: None,
            ..Default::default()
        };
        let app = srv.app.clone();
        async move {
            recast::recommend::train::run(&app, &p, Arc::new(recast::progress::none()))
                .await
                .unwrap()
        }
    };
    let als = run(ModelKind::Als).await;
    let hybrid = run(ModelKind::Hybrid).await;
    let ndcg = |r: &recast::recommend::train::TrainReport| {
        r.version.metrics["model"]["ndcg"].as_f64().unwrap()
    };
    let (a, h) = (ndcg(&als), ndcg(&hybrid));
    assert!(h > 1.5 * a && h > 0.3, "hybrid {h} vs ALS {a}");
    let blends = &hybrid.version.metrics["hybrid"]["blends"]["overall"];
    assert!(blends["next"].as_f64().unwrap() > 0.0, "{blends}");
    assert_eq!(hybrid.version.params["transition_window"], 3);

    assert_eq!(
        promote(&srv, &admin, &hybrid.version.id).await.status(),
        200
    );
    let visitor: Value = get(
        &srv,
        &reader,
        "/v1/users/nobody/recommendations?k=3&recent=kitchen-2,kitchen-3",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(ids(&visitor)[0], "kitchen-4", "{visitor}");

    // walker-2 walked through books (and glanced at garden and shoes); a fresh view of
    // kitchen-5 brings kitchen-6, the next model, into their top 5, ahead of every other
    // kitchen item (their titles are equally similar to kitchen-5's).
    let before: Value = get(&srv, &reader, "/v1/users/walker-2/recommendations?k=10")
        .await
        .json()
        .await
        .unwrap();
    assert!(!ids(&before).contains(&"kitchen-6".to_string()), "{before}");
    let res = srv
        .post_as(
            "/v1/events",
            &ingest,
            &serde_json::json!({ "events": [{
                "event_id": "walk-fresh-1", "user_id": "walker-2", "item_id": "kitchen-5",
                "event_type": "view", "ts": chrono::Utc::now().to_rfc3339(),
            }] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let body: Value = get(&srv, &reader, "/v1/users/walker-2/recommendations?k=10")
            .await
            .json()
            .await
            .unwrap();
        if body.get("recent_events").is_some() || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(after["recent_events"]["count"], 1, "{after}");
    let top = ids(&after);
    let kitchen: Vec<&String> = top.iter().filter(|i| i.starts_with("kitchen-")).collect();
    assert_eq!(
        kitchen.first().map(|s| s.as_str()),
        Some("kitchen-6"),
        "{after}"
    );
    assert!(top[..5].contains(&"kitchen-6".to_string()), "{after}");
}

/// The training table tells the truth about serving: models trained on a lake without each
/// user's last two events rank, by their own holdout NDCG@10, in the same order as the
/// NDCG@10 of their answers served over HTTP against those held-out events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_training_table_ranks_models_as_their_served_answers_do() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let reader = srv.key(Role::Reader).await;
    let admin = srv.key(Role::Admin).await;
    write_items(&srv.app, &catalogue()).await;
    let mut by_user: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for e in walks() {
        by_user.entry(e.0).or_default().push((e.3, e.1));
    }
    let mut landed = Vec::new();
    let mut held_out: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for (user, mut evs) in by_user {
        evs.sort();
        let (past, last) = evs.split_at(evs.len() - 2);
        let seen: HashSet<&String> = past.iter().map(|e| &e.1).collect();
        let new: HashSet<String> = last.iter().map(|e| e.1.clone()).collect();
        held_out.insert(
            user.clone(),
            new.into_iter().filter(|i| !seen.contains(i)).collect(),
        );
        landed.extend(
            past.iter()
                .map(|(ts, i)| (user.clone(), i.clone(), "view", *ts)),
        );
    }
    write_events(&srv.app, &landed).await;

    let discounts: Vec<f64> = (0..10).map(|r| 1.0 / (r as f64 + 2.0).log2()).collect();
    let mut table = Vec::new();
    let mut served = Vec::new();
    for model in [ModelKind::Popularity, ModelKind::Als, ModelKind::Hybrid] {
        let p = TrainParams {
            model,
            factors: 8,
            test_per_user: Some(2),
            item_features: Vec::new(),
            user_feature: None,
            ..Default::default()
        };
        let report =
            recast::recommend::train::run(&srv.app, &p, Arc::new(recast::progress::none()))
                .await
                .unwrap();
        table.push(report.version.metrics["model"]["ndcg"].as_f64().unwrap());
        assert_eq!(
            promote(&srv, &admin, &report.version.id).await.status(),
            200
        );
        let (mut sum, mut users) = (0.0, 0);
        for (user, relevant) in held_out.iter().filter(|(_, r)| !r.is_empty()) {
            let body: Value = get(
                &srv,
                &reader,
                &format!("/v1/users/{user}/recommendations?k=10"),
            )
            .await
            .json()
            .await
            .unwrap();
            let dcg: f64 = ids(&body)
                .iter()
                .zip(&discounts)
                .filter(|(i, _)| relevant.contains(*i))
                .map(|(_, d)| d)
                .sum();
            let ideal: f64 = discounts[..relevant.len().min(10)].iter().sum();
            sum += dcg / ideal;
            users += 1;
        }
        served.push(sum / users as f64);
    }
    let order = |v: &[f64]| {
        let mut o: Vec<usize> = (0..v.len()).collect();
        o.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
        o
    };
    eprintln!("training table {table:?}, served {served:?}");
    assert_eq!(
        order(&table),
        order(&served),
        "table {table:?} served {served:?}"
    );
    // Popularity, ALS, hybrid: each clearly better than the one before, in both.
    assert_eq!(order(&served), vec![2, 1, 0], "served {served:?}");
}
