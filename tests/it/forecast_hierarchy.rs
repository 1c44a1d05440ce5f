//! Hierarchical forecasts: a reconciled run forecasts the total, every item, every store and
//! every item x store series from the sales the real ETL landed, and every level served
//! adds up exactly; the methods are backtested, `auto` applies the best, and a reconciled run
//! that would miss series is refused.

use std::collections::BTreeMap;
use std::process::Stdio;

use chrono::{Days, NaiveDate};
use recast::auth::Role;
use recast::forecast::hierarchy::ReconcileBy;
use recast::forecast::series::Frequency;
use recast::forecast::train::{SelectBy, TrainParams, run as train};
use serde_json::Value;

use crate::common::{TestServer, expect_problem, land, recast_command, sales_env};

const DAYS: u64 = 84;
const HORIZON: usize = 7;
const ITEMS: [&str; 3] = ["A", "B", "C"];
const STORES: [&str; 2] = ["S1", "S2"];

fn day(t: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5).unwrap() + Days::new(t)
}

/// Weekly patterns of different sizes per item and store, with deterministic noise; item C
/// starts selling in store S2 on day 30.
fn quantity(item: usize, store: usize, t: u64) -> Option<f64> {
    if item == 2 && store == 1 && t < 30 {
        return None;
    }
    let weekly = [1.0, 0.8, 0.9, 1.1, 1.3, 1.6, 1.2][(t % 7) as usize];
    let level: f64 = [20.0, 8.0, 3.0][item] * [1.0, 0.6][store];
    let noise = ((t * 7919 + item as u64 * 104_729 + store as u64 * 1_299_709) % 11) as f64 - 5.0;
    Some(
        (level * weekly + noise * 0.3 * level.sqrt())
            .max(0.0)
            .round(),
    )
}

fn sales_csv() -> String {
    let mut csv = String::from("date,item_id,store_id,quantity,revenue,price,on_promo\n");
    for t in 0..DAYS {
        for (i, item) in ITEMS.iter().enumerate() {
            for (s, store) in STORES.iter().enumerate() {
                if let Some(q) = quantity(i, s, t) {
                    csv.push_str(&format!("{},{item},{store},{q},{q},1,false\n", day(t)));
                }
            }
        }
    }
    csv
}

async fn world() -> TestServer {
    let env = sales_env(&sales_csv()).await;
    // The items catalog: A and B are `fresh`, C has no category.
    let catalog = env.path().join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    std::fs::write(
        catalog.join("items.ndjson"),
        [
            r#"{"item_id":"A","title":"Apples","category":"fresh","updated_at":"2026-01-01T00:00:00Z"}"#,
            r#"{"item_id":"B","title":"Bread","category":"fresh","updated_at":"2026-01-01T00:00:00Z"}"#,
            r#"{"item_id":"C","title":"Candles","updated_at":"2026-01-01T00:00:00Z"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    std::fs::write(
        std::path::Path::new(&env.settings.pipelines_dir).join("items.toml"),
        format!(
            "name = \"items\"\ndataset = \"items\"\n[source]\ntype = \"files\"\n\
             url = \"file://{}\"\nformat = \"ndjson\"\n[columns]\n\
             updated_at = {{ format = \"rfc3339\" }}\nactive = {{ default = \"true\" }}\n",
            catalog.display()
        ),
    )
    .unwrap();
    let srv = TestServer::start(env).await;
    for name in ["sales", "items"] {
        land(&srv, name).await;
    }
    srv
}

fn enc(id: &str) -> String {
    id.replace('=', "%3D").replace('/', "%2F")
}

async fn json(srv: &TestServer, key: &str, path: &str) -> Value {
    crate::common::fresh_json(srv, key, path).await
}

/// Every served series' means by date, keyed by series id.
async fn served_means(srv: &TestServer, key: &str) -> BTreeMap<String, Vec<f64>> {
    let list = json(srv, key, "/v1/forecasts?limit=100").await;
    let mut out = BTreeMap::new();
    for s in list["series"].as_array().unwrap() {
        let id = s["series_id"].as_str().unwrap().to_string();
        let fc = json(srv, key, &format!("/v1/forecasts/{}", enc(&id))).await;
        out.insert(id, crate::common::point_means(&fc));
    }
    out
}

/// Asserts `whole` equals the sum of `parts` at every step (to rounding).
fn adds_up(means: &BTreeMap<String, Vec<f64>>, whole: &str, parts: &[String]) {
    assert_eq!(means[whole].len(), HORIZON);
    for (k, &w) in means[whole].iter().enumerate() {
        let sum: f64 = parts.iter().map(|p| means[p][k]).sum();
        assert!(
            (w - sum).abs() <= 1e-9 * w.abs().max(1.0),
            "{whole} step {k}: {w} against the sum {sum} of {parts:?}"
        );
    }
}

fn bottoms(filter: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for item in ITEMS {
        for store in STORES {
            if filter(item, store) {
                out.push(format!("item={item}/store={store}"));
            }
        }
    }
    out
}

#[tokio::test]
async fn a_reconciled_run_serves_every_level_adding_up_exactly() {
    let srv = world().await;
    let key = srv.key(Role::Reader).await;
    let params = TrainParams {
        frequency: Frequency::Day,
        horizon: Some(HORIZON),
        select: SelectBy::Aicc,
        reconcile: ReconcileBy::MintShrink,
        ..TrainParams::default()
    };
    let report = train(&srv.app, &params, &recast::progress::none())
        .await
        .unwrap();
    assert_eq!((report.series_total, report.series_failed), (14, 0));
    let rec = report
        .reconciliation
        .as_ref()
        .expect("a reconciliation report");
    assert_eq!(rec.method, ReconcileBy::MintShrink);
    let nodes: Vec<(&str, usize)> = rec.nodes.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    assert_eq!(
        nodes,
        [
            ("category", 2),
            ("item", 3),
            ("item_store", 6),
            ("store", 2),
            ("total", 1)
        ]
    );
    // Base and the four methods compared, best first, each scored on all four levels.
    let methods: Vec<&str> = rec.backtest.iter().map(|m| m.method.as_str()).collect();
    for m in ["base", "bottom_up", "top_down", "wls_struct", "mint_shrink"] {
        assert!(methods.contains(&m), "{methods:?}");
    }
    assert!(rec.backtest.windows(2).all(|w| w[0].score <= w[1].score));
    assert!(rec.backtest.iter().all(|m| m.levels.len() == 5), "{rec:?}");
    assert!(rec.shrinkage.is_some());

    // Served: every level, and each aggregate is the sum of what it covers.
    let total = json(&srv, &key, "/v1/forecasts?level=total").await;
    assert_eq!(total["series"][0]["series_id"], "total");
    let items = json(&srv, &key, "/v1/forecasts?level=item").await;
    assert_eq!(items["series"].as_array().unwrap().len(), 3);
    let categories = json(&srv, &key, "/v1/forecasts?level=category").await;
    let category_ids: Vec<&str> = categories["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["series_id"].as_str().unwrap())
        .collect();
    assert_eq!(category_ids, ["category=fresh", "category=uncategorized"]);
    let means = served_means(&srv, &key).await;
    assert_eq!(means.len(), 14, "{:?}", means.keys());
    let fresh = bottoms(|i, _| i != "C");
    let adds_up_by_category = |means: &BTreeMap<String, Vec<f64>>| {
        adds_up(means, "category=fresh", &fresh);
        adds_up(means, "category=uncategorized", &bottoms(|i, _| i == "C"));
        let both = [
            "category=fresh".to_string(),
            "category=uncategorized".into(),
        ];
        adds_up(means, "total", &both);
    };
    adds_up_by_category(&means);
    let all = bottoms(|_, _| true);
    adds_up(&means, "total", &all);
    let item_ids: Vec<String> = ITEMS.iter().map(|i| format!("item={i}")).collect();
    let store_ids: Vec<String> = STORES.iter().map(|s| format!("store={s}")).collect();
    adds_up(&means, "total", &item_ids);
    adds_up(&means, "total", &store_ids);
    for item in ITEMS {
        adds_up(&means, &format!("item={item}"), &bottoms(|i, _| i == item));
    }
    for store in STORES {
        adds_up(
            &means,
            &format!("store={store}"),
            &bottoms(|_, s| s == store),
        );
    }
    // The reconciled mean moved off the base mean somewhere, and the base is on record.
    let fc = json(&srv, &key, "/v1/forecasts/total").await;
    assert!(fc["points"][0]["lower_80"].is_number());
    // The total's history is the sum of every sale of a day.
    let history = json(&srv, &key, "/v1/forecasts/total/history").await;
    let first = &history["points"][0];
    assert_eq!(first["date"], day(0).to_string(), "{history}");
    let sold: f64 = (0..3)
        .flat_map(|i| (0..2).filter_map(move |s| quantity(i, s, 0)))
        .sum();
    assert_eq!(first["quantity"].as_f64().unwrap(), sold);

    // Planner overrides carry through the hierarchy: item A planned at twice its forecast
    // on the first day, then the total cut by 10 % on the second.
    let planner = srv.key(Role::Planner).await;
    let first_day = fc["points"][0]["date"].as_str().unwrap().to_string();
    let second_day = fc["points"][1]["date"].as_str().unwrap().to_string();
    let before = means.clone();
    let a_plan = 2.0 * before["item=A"][0];
    let set = |series: &'static str, body: Value| {
        let (srv, planner) = (&srv, planner.clone());
        async move {
            let path = format!("/v1/forecasts/{}/overrides", enc(series));
            let res = srv.post_as(&path, &planner, &body).await;
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["override_id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let on_a = set(
        "item=A",
        serde_json::json!({"start": first_day, "value": a_plan, "reason": "listing"}),
    )
    .await;
    let on_total = set(
        "total",
        serde_json::json!({"start": second_day, "percent": -10.0, "reason": "strike"}),
    )
    .await;
    let after = served_means(&srv, &key).await;
    // Day 1: A's item x store series doubled, the total and the stores gained A's increase,
    // B and C untouched; every level still adds up.
    for id in bottoms(|i, _| i == "A") {
        assert!((after[&id][0] - 2.0 * before[&id][0]).abs() < 1e-9, "{id}");
    }
    for id in bottoms(|i, _| i != "A") {
        assert_eq!(after[&id][0], before[&id][0], "{id}");
    }
    let gain = a_plan - before["item=A"][0];
    assert!((after["total"][0] - before["total"][0] - gain).abs() < 1e-9);
    assert!((after["category=fresh"][0] - before["category=fresh"][0] - gain).abs() < 1e-9);
    assert_eq!(
        after["category=uncategorized"][0],
        before["category=uncategorized"][0]
    );
    // Day 2: every series 10 % lower.
    for (id, m) in &after {
        assert!((m[1] - 0.9 * before[id][1]).abs() < 1e-9, "{id}");
    }
    adds_up(&after, "total", &all);
    adds_up(&after, "total", &store_ids);
    adds_up_by_category(&after);
    for item in ITEMS {
        adds_up(&after, &format!("item={item}"), &bottoms(|i, _| i == item));
    }
    // Each point names the override that moved it and keeps the statistical mean.
    let s1 = json(&srv, &key, "/v1/forecasts/store%3DS1").await;
    assert_eq!(s1["points"][0]["override_id"], on_a.as_str());
    assert_eq!(s1["points"][1]["override_id"], on_total.as_str());
    assert_eq!(s1["points"][0]["statistical_mean"], before["store=S1"][0]);
    assert!(s1["points"][2].get("override_id").is_none());

    // A category planned at a value on day 4: its items' series share the change in
    // proportion, the uncategorised item stays, and everything still adds up.
    let fourth_day = fc["points"][3]["date"].as_str().unwrap().to_string();
    let fresh_plan = 1.5 * before["category=fresh"][3];
    let on_fresh = set(
        "category=fresh",
        serde_json::json!({"start": fourth_day, "value": fresh_plan, "reason": "campaign"}),
    )
    .await;
    let after = served_means(&srv, &key).await;
    assert!((after["category=fresh"][3] - fresh_plan).abs() < 1e-9);
    for id in &fresh {
        assert!((after[id][3] - 1.5 * before[id][3]).abs() < 1e-9, "{id}");
    }
    for id in bottoms(|i, _| i == "C") {
        assert_eq!(after[&id][3], before[&id][3], "{id}");
    }
    adds_up_by_category(&after);
    adds_up(&after, "total", &store_ids);
    let s1 = json(&srv, &key, "/v1/forecasts/store%3DS1").await;
    assert_eq!(s1["points"][3]["override_id"], on_fresh.as_str());
    let c = json(&srv, &key, "/v1/forecasts/item%3DC").await;
    assert!(c["points"][3].get("override_id").is_none(), "{c}");

    // Actuals land for the first four forecast days: each aggregate override's value added
    // is its series' MAE against the statistical (reconciled) mean minus against the plan.
    let landing = srv.env.path().join("landing");
    let mut csv = String::from("date,item_id,store_id,quantity,revenue,price,on_promo\n");
    let mut actual: BTreeMap<(&str, u64), f64> = BTreeMap::new();
    for t in DAYS..DAYS + 4 {
        for (i, item) in ITEMS.iter().enumerate() {
            for (s, store) in STORES.iter().enumerate() {
                let q = quantity(i, s, t).unwrap_or(0.0);
                csv.push_str(&format!("{},{item},{store},{q},{q},1,false\n", day(t)));
                *actual.entry(("total", t)).or_default() += q;
                if *item != "C" {
                    *actual.entry(("fresh", t)).or_default() += q;
                }
            }
        }
    }
    std::fs::write(landing.join("sales-2.csv"), csv).unwrap();
    land(&srv, "sales").await;
    recast::forecast::realised::score(&srv.app).await.unwrap();
    let trail = json(&srv, &key, "/v1/forecasts/category%3Dfresh/overrides").await;
    let va = &trail["overrides"][0]["value_added"];
    let a = actual[&("fresh", DAYS + 3)];
    let stat = before["category=fresh"][3];
    assert_eq!(va["points"], 1, "{trail}");
    let by_hand = (a - stat).abs() - (a - fresh_plan).abs();
    assert!(
        (va["value_added"].as_f64().unwrap() - by_hand).abs() < 1e-9,
        "{trail}: by hand {by_hand}"
    );
    let trail = json(&srv, &key, "/v1/forecasts/total/overrides").await;
    let va = &trail["overrides"][0]["value_added"];
    // The cut covers its start day only (no end given).
    assert_eq!(va["points"], 1, "{trail}");
    let a = actual[&("total", DAYS + 1)];
    let mae_stat = (a - before["total"][1]).abs();
    let mae_over = (a - 0.9 * before["total"][1]).abs();
    assert!(
        (va["mae_statistical"].as_f64().unwrap() - mae_stat).abs() < 1e-9,
        "{trail}"
    );
    assert!(
        (va["value_added"].as_f64().unwrap() - (mae_stat - mae_over)).abs() < 1e-9,
        "{trail}"
    );

    // A reconciled run of one level, or of a subset of series, is refused naming the field.
    let admin = srv.key(Role::Admin).await;
    for payload in [
        serde_json::json!({"level": "item", "reconcile": "bottom_up"}),
        serde_json::json!({"series": "item=A/*", "reconcile": "bottom_up"}),
    ] {
        let body = serde_json::json!({"kind": "train_forecaster", "payload": payload});
        let res = srv.post_as("/v1/jobs", &admin, &body).await;
        let problem = expect_problem(res, 422).await;
        assert_eq!(problem["field"], "payload.reconcile", "{problem}");
    }

    // `auto` from the CLI applies the method that won its backtest.
    let out = recast_command(&srv.env.path())
        .env("RECAST_DATABASE_URL", &srv.env.settings.database_url)
        .env("RECAST_LAKE_URL", &srv.env.settings.lake_url)
        .env("RECAST_PIPELINES_DIR", &srv.env.settings.pipelines_dir)
        .args([
            "train",
            "forecaster",
            "--horizon",
            "7",
            "--reconcile",
            "auto",
            "--json",
        ])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rec = &report["reconciliation"];
    assert_eq!(rec["requested"], "auto");
    let best = rec["backtest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .find(|m| ["bottom_up", "top_down", "wls_struct", "mint_shrink"].contains(m))
        .unwrap();
    assert_eq!(rec["method"], best, "{rec}");
    let means = served_means(&srv, &key).await;
    adds_up(&means, "total", &all);
}

/// `level: category` without reconciliation: one series per catalog category (its items over
/// every store), items without one under `uncategorized`, each row keeping the items it sums
/// so realised scoring groups them as the run did.
#[tokio::test]
async fn a_category_run_forecasts_each_category_as_the_sum_of_its_items() {
    let srv = world().await;
    let key = srv.key(Role::Reader).await;
    let params = TrainParams {
        level: recast::forecast::series::Level::Category,
        horizon: Some(HORIZON),
        ..TrainParams::default()
    };
    let report = train(&srv.app, &params, &recast::progress::none())
        .await
        .unwrap();
    assert_eq!((report.series_total, report.series_failed), (2, 0));
    let listed = json(&srv, &key, "/v1/forecasts?level=category").await;
    let ids: Vec<&str> = listed["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["series_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["category=fresh", "category=uncategorized"]);
    let history = json(&srv, &key, "/v1/forecasts/category%3Dfresh/history").await;
    let first = history["points"][0]["quantity"].as_f64().unwrap();
    let day0: f64 = (0..2)
        .flat_map(|i| (0..2).filter_map(move |s| quantity(i, s, 0)))
        .sum();
    assert_eq!(first, day0);
    let row = recast::db::forecasts::get(&srv.app.db, "category=fresh")
        .await
        .unwrap()
        .unwrap();
    let params: Value = serde_json::from_str(&row.params).unwrap();
    assert_eq!(params["members"], serde_json::json!(["A", "B"]));
    let scored = recast::forecast::realised::score(&srv.app).await.unwrap();
    assert_eq!(scored.series_scored, 0, "no actuals after the history yet");
}
