//! The Prophet-style model end to end: sales landed by the real ETL, a CLI run with
//! `--select prophet --holidays FILE.csv` (the `prophet` package's holidays table), the
//! forecasts served over HTTP carry the holiday's lift on the holiday in the horizon (and a
//! run without the calendar does not), and a bad table or payload is refused naming the
//! file and line or the payload field.

use chrono::{Days, NaiveDate};
use recast::auth::Role;
use serde_json::Value;

use crate::common::{TestServer, expect_problem, land, sales_env};

const DAYS: u64 = 140;
const HORIZON: u64 = 14;
/// Holiday days (offsets from the first day): every two weeks, one in the horizon.
const HOLIDAYS: [u64; 6] = [12, 40, 68, 96, 124, 145];

fn day(t: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5).unwrap() + Days::new(t)
}

/// A weekly pattern and a gentle trend; the holiday lifts sales by `lift` on the day and
/// by half of it the day after.
fn quantity(item: &str, t: u64) -> f64 {
    let weekly = [1.0, 0.8, 0.9, 1.1, 1.3, 1.6, 1.2][(t % 7) as usize];
    let (base, lift) = if item == "A" {
        (30.0, 40.0)
    } else {
        (12.0, 15.0)
    };
    let holiday = if HOLIDAYS.contains(&t) {
        lift
    } else if t > 0 && HOLIDAYS.contains(&(t - 1)) {
        lift / 2.0
    } else {
        0.0
    };
    let noise = ((t * 7919) % 5) as f64 - 2.0;
    (base * weekly + 0.05 * t as f64 + holiday + noise).round()
}

fn sales_csv() -> String {
    let mut csv = String::from("date,item_id,store_id,quantity,revenue,price,on_promo\n");
    for t in 0..DAYS {
        for item in ["A", "B"] {
            let q = quantity(item, t);
            csv.push_str(&format!("{},{item},S1,{q},{q},1,false\n", day(t)));
        }
    }
    csv
}

async fn world() -> TestServer {
    let srv = TestServer::start(sales_env(&sales_csv()).await).await;
    land(&srv, "sales").await;
    srv
}

fn train(srv: &TestServer, extra: &[&str]) -> std::process::Output {
    let args: Vec<&str> = ["--horizon", "14"].iter().chain(extra).copied().collect();
    crate::common::train_forecaster(srv, &args)
}

async fn json(srv: &TestServer, key: &str, path: &str) -> Value {
    crate::common::fresh_json(srv, key, path).await
}

/// Served means of item A's series by horizon step, and its model's name.
async fn served_a(srv: &TestServer, key: &str) -> (Vec<f64>, String) {
    let fc = json(srv, key, "/v1/forecasts/item%3DA%2Fstore%3DS1").await;
    let means = crate::common::point_means(&fc);
    (means, fc["model"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_prophet_run_fits_the_holiday_calendar_and_serves_its_lift() {
    let srv = world().await;
    let key = srv.key(Role::Reader).await;
    let table = srv.env.path().join("holidays.csv");
    let mut csv = String::from("holiday,ds,lower_window,upper_window\n");
    for t in HOLIDAYS {
        csv.push_str(&format!("store_event,{},0,1\n", day(t)));
    }
    std::fs::write(&table, csv).unwrap();

    // Without the calendar the model sees no holiday coming.
    let out = train(&srv, &["--select", "prophet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (without, model) = served_a(&srv, &key).await;
    assert!(
        model.starts_with("Prophet(") && !model.contains("holidays"),
        "{model}"
    );
    assert!((without[5] - without[12]).abs() < 8.0, "{without:?}");

    // With it, the run (more accurate on its backtest, so promoted over the first) serves
    // the lift. Step 1 is day 140 (a Monday); the holiday in the horizon is day 145 (a
    // Saturday), compared with the Saturday after.
    let out = train(
        &srv,
        &["--select", "prophet", "--holidays", table.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["series_fitted"], 2, "{report}");
    let models = report["models"].as_array().unwrap();
    assert!(
        models
            .iter()
            .all(|m| m["model"].as_str().unwrap().starts_with("Prophet(")
                && m["model"].as_str().unwrap().contains("holidays")),
        "{models:?}"
    );
    let (with, model) = served_a(&srv, &key).await;
    assert!(
        model.contains("weekly") && model.contains("holidays"),
        "{model}"
    );
    // The forecast comes with its parts, which add up to it; the holiday's part is its lift.
    let fc = json(&srv, &key, "/v1/forecasts/item%3DA%2Fstore%3DS1").await;
    let parts = fc["components"].as_object().expect("components");
    let names: Vec<&str> = parts.keys().map(String::as_str).collect();
    assert_eq!(names, ["holidays", "trend", "weekly"], "{fc}");
    for (step, mean) in with.iter().enumerate() {
        let sum: f64 = parts.values().map(|v| v[step].as_f64().unwrap()).sum();
        assert!((sum - mean).abs() < 1e-6, "step {step}: {sum} vs {mean}");
    }
    let lift = parts["holidays"][5].as_f64().unwrap();
    assert!((lift - 40.0).abs() < 8.0, "holiday part {lift}");
    assert_eq!(parts["holidays"][12].as_f64().unwrap(), 0.0);
    // The series' stored spec leaves the table to the run's params (kept once per run).
    let row = recast::db::forecasts::get(&srv.app.db, "item=A/store=S1")
        .await
        .unwrap()
        .unwrap();
    let params: Value = serde_json::from_str(&row.params).unwrap();
    assert_eq!(params["spec"]["kind"], "prophet", "{params}");
    assert!(params["spec"].get("holidays").is_none(), "{params}");
    assert_eq!(with.len(), HORIZON as usize);
    let (on, after, plain, plain_after) = (with[5], with[6], with[12], with[13]);
    assert!(
        (on - plain - 40.0).abs() < 8.0,
        "holiday {on} against {plain} a week later"
    );
    assert!(
        (after - plain_after - 20.0).abs() < 8.0,
        "day after {after} against {plain_after}"
    );

    // A country's public holidays by rule: the US calendar of 2026 has two in the history
    // (Martin Luther King Jr. Day, Washington's Birthday) and Memorial Day on the horizon's
    // first day.
    // Multiplicative: the weekly swing scales with the level.
    let out = train(
        &srv,
        &[
            "--select",
            "prophet",
            "--holidays-country",
            "US",
            "--seasonality-mode",
            "multiplicative",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let models = report["models"].as_array().unwrap();
    assert!(
        models.iter().all(|m| {
            let name = m["model"].as_str().unwrap();
            name.contains("holidays") && name.contains("multiplicative")
        }),
        "{models:?}"
    );

    // An added monthly seasonality joins the automatic ones in every series' model.
    let seasonal = "monthly:30.5:3";
    every_model_has(&srv, &["--seasonality", seasonal], "monthly+");
    // A flat trend: a constant level without changepoints.
    every_model_has(&srv, &["--growth", "flat"], "Prophet(flat trend");

    // A German state's calendar (Bavaria adds Epiphany, 6 January, to the national days)
    // an Italian province's (Milan adds St Ambrose, 7 December) and an overseas French
    // department's (Réunion adds the abolition of slavery, 20 December).
    // Madrid's and California's days come from tables of each year's days.
    for region in ["DE-BY", "IT-MI", "FR-974", "ES-MD", "US-CA"] {
        every_model_has(&srv, &["--holidays-country", region], "holidays");
    }
}

#[tokio::test]
async fn a_logistic_trend_keeps_the_forecast_between_its_floor_and_cap() {
    let srv = world().await;
    let key = srv.key(Role::Reader).await;
    // Item A sells about 30 to 95 a day, rising 0.05 a day; a cap of 60 bounds its trend.
    let out = train(
        &srv,
        &[
            "--select", "prophet", "--series", "item=A/*", "--growth", "logistic", "--cap", "60",
            "--floor", "5",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["series_fitted"], 1, "{report}");
    let (means, model) = served_a(&srv, &key).await;
    assert!(model.contains("logistic"), "{model}");
    let fc = json(&srv, &key, "/v1/forecasts/item%3DA%2Fstore%3DS1").await;
    let trend: Vec<f64> = fc["components"]["trend"]
        .as_array()
        .expect("a trend part")
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(trend.len(), means.len());
    assert!(trend.iter().all(|t| *t > 5.0 && *t < 60.0), "{trend:?}");
    // The stored spec keeps the cap and floor, so a refit (the promotion gate's) saturates
    // at the same level.
    let row = recast::db::forecasts::get(&srv.app.db, "item=A/store=S1")
        .await
        .unwrap()
        .unwrap();
    let params: Value = serde_json::from_str(&row.params).unwrap();
    assert_eq!(params["spec"]["growth"], "logistic", "{params}");
    assert_eq!(params["spec"]["cap"], 60.0, "{params}");
    assert_eq!(params["spec"]["floor"], 5.0, "{params}");
}

/// Runs the CLI with `--select prophet` and `extra`, and checks every model it reports names
/// `part`.
fn every_model_has(srv: &TestServer, extra: &[&str], part: &str) {
    let args: Vec<&str> = ["--select", "prophet"]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    let out = train(srv, &args);
    assert!(
        out.status.success(),
        "{extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["models"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["model"].as_str().unwrap().contains(part)),
        "{extra:?}: {report}"
    );
}

#[tokio::test]
async fn a_bad_holidays_table_or_payload_is_refused_naming_where() {
    let srv = world().await;
    let table = srv.env.path().join("bad.csv");
    std::fs::write(
        &table,
        "holiday,ds,lower_window,upper_window\nok,2026-01-10,0,0\nbad,2026-02-30,0,0\n",
    )
    .unwrap();
    let out = train(
        &srv,
        &["--select", "prophet", "--holidays", table.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.csv:3"), "{stderr}");
    let out = train(
        &srv,
        &["--select", "prophet", "--seasonality", "monthly:30.5:five"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--seasonality `monthly:30.5:five`: the order is not a whole number"),
        "{stderr}"
    );
    let out = train(&srv, &["--select", "prophet", "--growth", "sideways"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--growth `sideways` is not linear, flat or logistic"),
        "{stderr}"
    );
    let out = train(&srv, &["--select", "prophet", "--growth", "logistic"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("growth logistic needs a cap"), "{stderr}");

    let admin = srv.key(Role::Admin).await;
    let cases = [
        (
            serde_json::json!({"holidays": [{"holiday": "x", "ds": "2026-01-10"}]}),
            "set `select` to prophet or backtest, or give `regressors`",
        ),
        (
            serde_json::json!({"select": "prophet", "holidays": [
                {"holiday": "x", "ds": "2026-01-10"},
                {"holiday": "y", "ds": "2026-01-11", "lower_window": 2}
            ]}),
            "holidays[1]",
        ),
        (
            serde_json::json!({"select": "prophet", "holidays_country": "XX"}),
            "no holiday rules for country `XX`",
        ),
        (
            serde_json::json!({"select": "prophet", "holidays_country": "DE-XX"}),
            "no holiday rules for country `DE-XX`",
        ),
        (
            serde_json::json!({"select": "prophet", "holidays_country": "IT-XX"}),
            "no holiday rules for country `IT-XX`",
        ),
        (
            serde_json::json!({"seasonality_mode": "multiplicative"}),
            "a seasonality mode is the prophet model's",
        ),
        (
            serde_json::json!({"growth": "flat"}),
            "a trend's growth is the prophet model's",
        ),
        (
            serde_json::json!({"seasonalities": [
                {"name": "monthly", "period": 30.5, "fourier_order": 3}
            ]}),
            "added seasonalities are the prophet model's",
        ),
        (
            serde_json::json!({"select": "prophet", "seasonalities": [
                {"name": "monthly", "period": 30.5, "fourier_order": 3},
                {"name": "weekly_promo", "period": 7, "fourier_order": 3,
                 "condition_name": "item_store_price:on_promo"}
            ]}),
            "seasonalities[1]: condition_name `item_store_price:on_promo` is not one of",
        ),
    ];
    // The logistic trend's cap and floor, with the field each refusal names.
    let saturation = [
        (
            serde_json::json!({"select": "prophet", "growth": "logistic"}),
            "payload.cap",
            "growth logistic needs a cap",
        ),
        (
            serde_json::json!({"select": "prophet", "cap": 50}),
            "payload.cap",
            "cap is the logistic trend's",
        ),
        (
            serde_json::json!({"select": "prophet", "growth": "flat", "floor": 1}),
            "payload.floor",
            "floor is the logistic trend's",
        ),
        (
            serde_json::json!({"select": "prophet", "growth": "logistic", "cap": 5, "floor": 9}),
            "payload.cap",
            "the cap (5) must be above the floor (9)",
        ),
        (
            serde_json::json!({"select": "prophet", "growth": "logistic", "cap": 50,
                               "reconcile": "bottom_up"}),
            "payload.growth",
            "set `reconcile` to none",
        ),
    ];
    for (payload, field, says) in saturation {
        let body = serde_json::json!({"kind": "train_forecaster", "payload": payload});
        let res = srv.post_as("/v1/jobs", &admin, &body).await;
        let problem = expect_problem(res, 422).await;
        assert_eq!(problem["field"], field, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
    for (payload, says) in cases {
        let body = serde_json::json!({"kind": "train_forecaster", "payload": payload});
        let res = srv.post_as("/v1/jobs", &admin, &body).await;
        let problem = expect_problem(res, 422).await;
        let field = if says.contains("country") {
            "payload.holidays_country"
        } else if says.contains("seasonality mode") {
            "payload.seasonality_mode"
        } else if says.contains("seasonalit") {
            "payload.seasonalities"
        } else if says.contains("growth") {
            "payload.growth"
        } else {
            "payload.holidays"
        };
        assert_eq!(problem["field"], field, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
}
