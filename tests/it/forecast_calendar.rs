//! Quarterly and yearly demand end to end: sales dated on each quarter's last day and on each
//! year's 1 January are landed by the sales pipeline, trained through the CLI and through
//! the jobs API at `quarter` and `year`, and served with quarter and year starts as dates,
//! the quarterly season in the forecast and the chart labelled `2026-Q1`; a quarter's actuals
//! are scored once its last day has landed; monthly rows complete a quarter with its third
//! month.

use chrono::{Months, NaiveDate};
use recast::auth::Role;
use serde_json::{Value, json};

use crate::common::{TestServer, expect_problem, fresh_json, point_dates, point_means, sales_env};

/// Quarters from 2018 Q1 to 2025 Q4.
const QUARTERS: u32 = 32;
/// Years from 2006 to 2025.
const YEARS: i32 = 20;
/// Units per quarter of the year: a strong fourth quarter.
const SEASON: [f64; 4] = [80.0, 100.0, 120.0, 200.0];

/// The last day of quarter `t` (counted from 2018 Q1).
fn quarter_end(t: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2018, 4, 1).unwrap() + Months::new(3 * t) - chrono::Days::new(1)
}

/// Item Q sells by quarter (a season and a slow rise, a little deterministic noise); item Y
/// is reported once a year on 1 January, rising by 10 a year.
fn sales_csv() -> String {
    let mut csv = String::from("date,item_id,store_id,quantity\n");
    for t in 0..QUARTERS {
        let wobble = [3.0, -2.0, 1.0, -3.0, 2.0][(t % 5) as usize];
        let q = SEASON[(t % 4) as usize] + 2.0 * f64::from(t) + wobble;
        csv.push_str(&format!("{},Q,S1,{q}\n", quarter_end(t)));
    }
    for k in 0..YEARS {
        let wobble = [4.0, -3.0, 2.0, -4.0, 1.0][(k % 5) as usize];
        let q = 100.0 + 10.0 * f64::from(k) + wobble;
        csv.push_str(&format!("{}-01-01,Y,S1,{q}\n", 2006 + k));
    }
    csv
}

async fn server() -> TestServer {
    let srv = TestServer::start(sales_env(&sales_csv()).await).await;
    let spec = recast::etl::pipelines::find_pipeline(&srv.app, "sales").unwrap();
    let landed = recast::etl::runner::run_pipeline(&srv.app, &spec, &recast::progress::none())
        .await
        .unwrap();
    assert_eq!(landed.rows_landed, u64::from(QUARTERS) + YEARS as u64);
    srv
}

fn train(srv: &TestServer, args: &[&str]) -> Value {
    let out = crate::common::train_forecaster(srv, args);
    crate::common::assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[actix_web::test]
async fn quarterly_and_yearly_sales_are_forecast_by_quarter_and_by_year() {
    let srv = server().await;
    let reader = srv.key(Role::Reader).await;

    // Quarters: the last row is 2025-12-31, which completes Q4; the default horizon is 8.
    let report = train(&srv, &["--frequency", "quarter", "--series", "item=Q/*"]);
    assert_eq!(report["frequency"], "quarter", "{report}");
    assert_eq!(report["history_end"], "2025-10-01", "{report}");
    assert_eq!(report["series_fitted"], 1, "{report}");
    assert!(!report.to_string().contains("incomplete"), "{report}");
    let q = "/v1/forecasts/item%3DQ%2Fstore%3DS1";
    let fc = fresh_json(&srv, &reader, q).await;
    assert_eq!(fc["frequency"], "quarter");
    let starts: Vec<String> = (0..8)
        .map(|k| (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Months::new(3 * k)).to_string())
        .collect();
    assert_eq!(point_dates(&fc), starts);
    // The season of 4 carries into the forecast: every fourth quarter far above the first.
    let m = point_means(&fc);
    for year in 0..2 {
        assert!(m[4 * year + 3] > m[4 * year] + 80.0, "{m:?}");
        assert!(m[4 * year + 3] > 230.0, "{m:?}");
    }
    // History holds quarter starts, each the quarter's sales.
    let history = fresh_json(&srv, &reader, &format!("{q}/history")).await;
    let points = history["points"].as_array().unwrap();
    assert_eq!(points.len(), QUARTERS as usize, "{history}");
    assert_eq!(points[0]["date"], "2018-01-01");
    assert_eq!(points[31]["date"], "2025-10-01");
    assert_eq!(points[31]["quantity"].as_f64().unwrap(), 200.0 + 62.0 - 2.0);
    // The chart names quarters.
    let svg = srv
        .get_as(format!("{q}/chart.svg"), &reader)
        .await
        .text()
        .await
        .unwrap();
    assert!(svg.contains(">2026-Q1<"), "{svg}");

    // Years, through the jobs API this time: keyed on 1 January, so 2025 is complete.
    let admin = srv.key(Role::Admin).await;
    let job = srv
        .run_job_as(
            &admin,
            &json!({"kind": "train_forecaster",
                    "payload": {"frequency": "year", "series": "item=Y/*"}}),
        )
        .await;
    assert_eq!(job.state.as_str(), "succeeded", "{:?}", job.last_error);
    // A payload that names no choice gets the default, the pooled backtest.
    let versions = srv
        .app
        .models
        .list(Some(recast::registry::Kind::Forecaster), 1)
        .await
        .unwrap();
    assert_eq!(versions[0].params["select"], "pooled", "{versions:#?}");
    let y = "/v1/forecasts/item%3DY%2Fstore%3DS1";
    let fc = fresh_json(&srv, &reader, y).await;
    assert_eq!(fc["frequency"], "year");
    let years: Vec<String> = (2026..2032).map(|y| format!("{y}-01-01")).collect();
    assert_eq!(point_dates(&fc), years);
    // The trend carries on: above the last year's 290 and rising.
    let m = point_means(&fc);
    assert!(m[0] > 285.0 && m.windows(2).all(|w| w[1] > w[0]), "{m:?}");
    assert_eq!(fc["history_end"], "2025-01-01", "{fc}");
    let history = fresh_json(&srv, &reader, &format!("{y}/history")).await;
    let points = history["points"].as_array().unwrap();
    assert_eq!(points.len(), YEARS as usize, "{history}");
    assert_eq!(points[0]["date"], "2006-01-01");
    assert_eq!(
        points[19]["quantity"].as_f64().unwrap(),
        100.0 + 190.0 + 1.0
    );

    // 2026 Q1's sales arrive, dated on its last day: that quarter is scored against the
    // quarterly forecast; the year 2026 is not complete, so the yearly one waits.
    let q1_forecast = point_means(&fresh_json(&srv, &reader, q).await)[0];
    let landing = srv.env.path().join("landing");
    std::fs::write(
        landing.join("2026q1.csv"),
        "date,item_id,store_id,quantity\n2026-03-31,Q,S1,150\n",
    )
    .unwrap();
    crate::common::land(&srv, "sales").await;
    let scored = recast::forecast::realised::score(&srv.app).await.unwrap();
    assert_eq!(
        (scored.series_scored, scored.points_scored),
        (1, 1),
        "{scored:?}"
    );
    let accuracy = fresh_json(&srv, &reader, &format!("{q}/accuracy")).await;
    assert_eq!(accuracy["realised"]["points"], 1, "{accuracy}");
    let mae = accuracy["realised"]["mae"].as_f64().unwrap();
    assert!(
        (mae - (q1_forecast - 150.0).abs()).abs() < 1e-9,
        "{accuracy}"
    );

    // An unknown frequency is refused naming the field and the ones there are.
    let body = json!({"kind": "train_forecaster", "payload": {"frequency": "fortnight"}});
    let problem = expect_problem(srv.post_as("/v1/jobs", &admin, &body).await, 422).await;
    assert_eq!(problem["field"], "payload.frequency", "{problem}");
}

/// Monthly rows (each dated on the 1st) trained by quarter: a quarter counts once its third
/// month's row is in, and until then it is left out with a warning that names the month.
#[actix_web::test]
async fn monthly_rows_complete_a_quarter_with_its_third_month() {
    let first = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let mut csv = String::from("date,item_id,store_id,quantity\n");
    for t in 0..23 {
        csv.push_str(&format!("{},M,S1,{}\n", first + Months::new(t), 10 + t));
    }
    let srv = TestServer::start(sales_env(&csv).await).await;
    crate::common::land(&srv, "sales").await;

    // To November 2025: the fourth quarter lacks December.
    let report = train(&srv, &["--frequency", "quarter"]);
    assert_eq!(report["history_end"], "2025-07-01", "{report}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("quarter starting 2025-10-01 is incomplete")
            && warnings.contains("with the month starting 2025-11-01"),
        "{report}"
    );

    // December arrives: the quarter is whole, kept, and the history's last point is the sum
    // of October (31), November (32) and December (33).
    std::fs::write(
        srv.env.path().join("landing").join("december.csv"),
        "date,item_id,store_id,quantity\n2025-12-01,M,S1,33\n",
    )
    .unwrap();
    crate::common::land(&srv, "sales").await;
    let report = train(&srv, &["--frequency", "quarter"]);
    assert_eq!(report["history_end"], "2025-10-01", "{report}");
    assert!(!report.to_string().contains("incomplete"), "{report}");
    // Served once promoted (the gate may hold back a run scored on one more quarter).
    let admin = srv.key(Role::Admin).await;
    let version = report["model_version"].as_str().unwrap();
    let promoted = srv
        .post_as(format!("/v1/models/{version}/promote"), &admin, &json!({}))
        .await;
    assert!(promoted.status().is_success(), "{}", promoted.status());
    let reader = srv.key(Role::Reader).await;
    let history = fresh_json(&srv, &reader, "/v1/forecasts/item%3DM%2Fstore%3DS1/history").await;
    let points = history["points"].as_array().unwrap();
    assert_eq!(points.len(), 8, "{history}");
    assert_eq!(points[7]["quantity"].as_f64().unwrap(), 31.0 + 32.0 + 33.0);
}
