//! Hourly demand end to end: sales stamped with the minute of each sale are landed by a
//! sales pipeline that maps the time to `ts` (two sales of one item in one hour stay two
//! rows; a re-delivered row is a duplicate), a CLI run at `--frequency hour` forecasts the
//! daily shape of demand, the API serves hours (`2026-03-23T12:00:00Z`) for points, history
//! and overrides, and a daily run over the same rows sums each day's hours.

use chrono::{Days, NaiveDate, NaiveDateTime, Timelike};
use recast::auth::Role;
use serde_json::{Value, json};

use crate::common::{TestEnv, TestServer, expect_problem, fresh_json};

const DAYS: u64 = 21;
/// Demand by hour of day (UTC): nothing at night, a midday peak.
const SHAPE: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 9.0, 10.0, 9.0, 8.0, 7.0, 7.0, 8.0, 9.0,
    8.0, 6.0, 4.0, 2.0, 1.0,
];

fn hour(t: u64) -> NaiveDateTime {
    let first = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(); // a Monday
    (first + Days::new(t / 24))
        .and_hms_opt((t % 24) as u32, 0, 0)
        .unwrap()
}

/// Units of `item` sold in hour `t`: the daily shape, busier on Saturdays.
fn quantity(item: &str, t: u64) -> f64 {
    let weekday = [1.0, 1.0, 1.0, 1.0, 1.0, 1.5, 0.5][((t / 24) % 7) as usize];
    let scale = if item == "A" { 2.0 } else { 1.0 };
    (SHAPE[(t % 24) as usize] * weekday * scale).round()
}

/// Each hour's units as two sales, at :10 and :40; the first sale is delivered twice.
fn sales_csv() -> String {
    let mut csv = hours_csv(0..DAYS * 24);
    let redelivered = csv.lines().nth(1).unwrap().to_string();
    csv.push_str(&redelivered);
    csv.push('\n');
    csv
}

/// The sales of `hours`, two per busy hour.
fn hours_csv(hours: std::ops::Range<u64>) -> String {
    let mut csv = String::from("sold_at,item_id,store_id,quantity\n");
    for t in hours {
        for item in ["A", "B"] {
            let q = quantity(item, t);
            if q == 0.0 {
                continue;
            }
            let first = (q / 2.0).floor();
            let at = hour(t);
            csv.push_str(&format!(
                "{},{item},S1,{first}\n",
                at.format("%Y-%m-%d %H:10")
            ));
            csv.push_str(&format!(
                "{},{item},S1,{}\n",
                at.format("%Y-%m-%d %H:40"),
                q - first
            ));
        }
    }
    csv
}

/// A server whose `sales` pipeline maps `sold_at` to both `date` and `ts`; nothing landed.
async fn hourly_server() -> TestServer {
    hourly_server_with(sales_csv()).await
}

/// [`hourly_server`] with `csv` waiting in its landing folder.
async fn hourly_server_with(csv: String) -> TestServer {
    let mut env = TestEnv::new().await;
    let landing = env.path().join("landing");
    let pipelines = env.path().join("pipelines");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::create_dir_all(&pipelines).unwrap();
    std::fs::write(landing.join("sales.csv"), csv).unwrap();
    let pipeline = format!(
        r#"
name = "sales"
dataset = "sales"
[source]
type = "files"
url = "file://{}"
pattern = "*.csv"
[columns]
date = {{ from = "sold_at", format = "%Y-%m-%d %H:%M" }}
ts = {{ from = "sold_at", format = "%Y-%m-%d %H:%M", timezone = "UTC" }}
quantity = {{ min = 0 }}
on_promo = {{ default = "false" }}
"#,
        landing.display()
    );
    std::fs::write(pipelines.join("sales.toml"), pipeline).unwrap();
    env.settings.pipelines_dir = pipelines.display().to_string();
    TestServer::start(env).await
}

async fn land_sales(srv: &TestServer) -> recast::etl::report::RunReport {
    let spec = recast::etl::pipelines::find_pipeline(&srv.app, "sales").unwrap();
    recast::etl::runner::run_pipeline(&srv.app, &spec, &recast::progress::none())
        .await
        .unwrap()
}

async fn world() -> (TestServer, recast::etl::report::RunReport) {
    let srv = hourly_server().await;
    let report = land_sales(&srv).await;
    (srv, report)
}

fn train(srv: &TestServer, frequency: &str, horizon: &str, extra: &[&str]) -> Value {
    let args: Vec<&str> = ["--frequency", frequency, "--horizon", horizon]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    let out = crate::common::train_forecaster(srv, &args);
    crate::common::assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not text: {v}"))
}

#[actix_web::test]
async fn hourly_sales_land_with_their_hour_and_are_forecast_by_the_hour() {
    let (srv, landed) = world().await;
    // Every sale lands, two per busy hour; only the re-delivered row is a duplicate.
    let sales: u64 = (0..DAYS * 24)
        .flat_map(|t| ["A", "B"].map(|i| quantity(i, t)))
        .filter(|q| *q > 0.0)
        .count() as u64
        * 2;
    assert_eq!(landed.rows_landed, sales, "{landed:?}");
    assert_eq!((landed.duplicates, landed.rows_quarantined), (1, 0));

    let report = train(&srv, "hour", "24", &[]);
    assert_eq!(report["frequency"], "hour");
    // The last sale is at 23:40: that hour is not complete, and the report says so.
    assert_eq!(report["history_end"], "2026-03-22T22:00:00Z");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("hour starting 2026-03-22T23:00:00Z is incomplete"),
        "{warnings}"
    );

    let reader = srv.key(Role::Reader).await;
    let a = "/v1/forecasts/item%3DA%2Fstore%3DS1";
    let fc = fresh_json(&srv, &reader, a).await;
    assert_eq!(fc["frequency"], "hour");
    let points = fc["points"].as_array().unwrap();
    assert_eq!(points.len(), 24);
    assert_eq!(points[0]["date"], "2026-03-22T23:00:00Z");
    assert_eq!(points[23]["date"], "2026-03-23T22:00:00Z");
    let at = |h: usize| points[h + 1]["mean"].as_f64().unwrap();
    // The daily shape carries into the forecast: the midday peak far above the night.
    assert!(at(12) > 3.0 * at(3) + 5.0, "{points:?}");
    assert!(at(12) > 10.0, "{points:?}");

    // History holds hours, each the sum of its sales.
    let history = fresh_json(&srv, &reader, &format!("{a}/history")).await;
    let noon = history["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["date"] == "2026-03-02T12:00:00Z")
        .unwrap_or_else(|| panic!("{history}"));
    assert_eq!(noon["quantity"].as_f64().unwrap(), quantity("A", 12));

    // A planner overrides one hour; the hours around it keep the model's forecast.
    let planner = srv.key(Role::Planner).await;
    let res = srv
        .post_as(
            &format!("{a}/overrides"),
            &planner,
            &json!({"start": "2026-03-23T12:00:00Z", "value": 99.0, "reason": "store event"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let fc = fresh_json(&srv, &reader, a).await;
    let by_hour = |p: &str| {
        fc["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["date"] == p)
            .unwrap()
            .clone()
    };
    assert_eq!(by_hour("2026-03-23T12:00:00Z")["mean"], 99.0);
    assert!(by_hour("2026-03-23T11:00:00Z")["override_id"].is_null());
    assert_eq!(
        text(&by_hour("2026-03-23T11:00:00Z")["date"]),
        "2026-03-23T11:00:00Z"
    );

    // A daily run over the same rows: each day is the sum of its hours (the sales' own
    // `date`), and an hour is refused as an override of a daily series.
    // The other families take hours too: the Prophet-style model (daily and weekly
    // seasonality on its own clock) and the backtest's candidates (MSTL on 24 and 168).
    // The pooled default has MSTL on hours as a member too: alone it is clearly better here.
    let runs = [
        ("prophet", "weekly+daily"),
        ("backtest", "MSTL(24,168"),
        ("pooled", "MSTL(24,168"),
    ];
    for (select, model) in runs {
        let report = train(&srv, "hour", "24", &["--select", select]);
        assert_eq!(report["series_failed"], 0, "{report}");
        let chosen = &report["models"][0];
        assert!(text(&chosen["model"]).contains(model), "{report}");
        if select != "prophet" {
            // Weekday x hour demand is what MSTL's two seasons describe.
            assert!(chosen["mean_mase"].as_f64().unwrap() < 0.3, "{report}");
        }
    }

    let daily = train(&srv, "day", "7", &[]);
    assert_eq!(daily["history_end"], "2026-03-22");
    let history = fresh_json(&srv, &reader, &format!("{a}/history")).await;
    let first = &history["points"][0];
    assert_eq!(first["date"], "2026-03-02");
    let day_total: f64 = (0..24).map(|t| quantity("A", t)).sum();
    assert_eq!(first["quantity"].as_f64().unwrap(), day_total);
    let res = srv
        .post_as(
            &format!("{a}/overrides"),
            &planner,
            &json!({"start": "2026-03-23T12:00:00Z", "value": 1.0, "reason": "x"}),
        )
        .await;
    let problem = expect_problem(res, 422).await;
    assert_eq!(problem["field"], "start", "{problem}");
}

/// A `sales` partition written before the dataset had `ts` (the seven columns of then) takes
/// hourly rows: landing checks their keys against the old file, compaction packs both files
/// into one with the old rows' `ts` null, and a daily run counts every row.
#[actix_web::test]
async fn a_partition_from_before_ts_takes_hourly_rows_and_compacts() {
    use std::sync::Arc;

    use arrow_array::{BooleanArray, Date32Array, Float64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    let srv = hourly_server().await;
    let first = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let old = Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        Field::new("item_id", DataType::Utf8, false),
        Field::new("store_id", DataType::Utf8, false),
        Field::new("quantity", DataType::Float64, false),
        Field::new("revenue", DataType::Float64, true),
        Field::new("price", DataType::Float64, true),
        Field::new("on_promo", DataType::Boolean, true),
    ]);
    let days = recast::etl::convert::date_to_days(first);
    let batch = RecordBatch::try_new(
        Arc::new(old),
        vec![
            Arc::new(Date32Array::from(vec![days])),
            Arc::new(StringArray::from(vec!["OLD"])),
            Arc::new(StringArray::from(vec!["S1"])),
            Arc::new(Float64Array::from(vec![5.0])),
            Arc::new(Float64Array::from(vec![None::<f64>])),
            Arc::new(Float64Array::from(vec![None::<f64>])),
            Arc::new(BooleanArray::from(vec![Some(false)])),
        ],
    )
    .unwrap();
    let mut writer = srv
        .app
        .lake
        .writer("sales", recast::lake::Area::Datasets)
        .await
        .unwrap();
    writer.write(first, &batch).await.unwrap();
    writer.commit(Some("before-ts")).await.unwrap();

    let landed = land_sales(&srv).await;
    assert_eq!(
        (landed.duplicates, landed.rows_quarantined),
        (1, 0),
        "{landed:?}"
    );
    let report =
        recast::etl::compact::compact(&srv.app, recast::etl::Dataset::Sales, Some(first), 2)
            .await
            .unwrap();
    assert_eq!(
        (report.files_before, report.files_after),
        (2, 1),
        "{report:?}"
    );
    let rows_that_day = (0..24)
        .flat_map(|t| ["A", "B"].map(|i| quantity(i, t)))
        .filter(|q| *q > 0.0)
        .count() as u64
        * 2;
    assert_eq!(report.rows, rows_that_day + 1);

    let daily = train(&srv, "day", "7", &[]);
    assert_eq!(daily["series_fitted"], 3, "{daily}");
    // The hourly run leaves the untimed row out, and says so.
    let hourly = train(&srv, "hour", "24", &["--last-period", "complete"]);
    assert_eq!(hourly["series_fitted"], 2, "{hourly}");
    assert!(
        hourly["warnings"]
            .to_string()
            .contains("1 sales rows have no `ts`"),
        "{hourly}"
    );

    // The next day's sales arrive: each hour the run forecast is scored against its actual
    // (the last hour, 23:00, is incomplete at 23:40); the untimed series' daily forecast gets
    // its first day.
    let landing = srv.env.path().join("landing");
    std::fs::write(
        landing.join("next.csv"),
        hours_csv(DAYS * 24..(DAYS + 1) * 24),
    )
    .unwrap();
    land_sales(&srv).await;
    let scored = recast::forecast::realised::score(&srv.app).await.unwrap();
    assert_eq!(
        (scored.series_scored, scored.points_scored),
        (3, 2 * 23 + 1),
        "{scored:?}"
    );
}

/// A Berlin store's hours: the daily shape on its wall clock, UTC+2 until 01:00 UTC on 25
/// October 2026, UTC+1 after.
fn berlin_quantity(utc: NaiveDateTime) -> f64 {
    let change = NaiveDate::from_ymd_opt(2026, 10, 25)
        .unwrap()
        .and_hms_opt(1, 0, 0)
        .unwrap();
    let offset = if utc < change { 2 } else { 1 };
    SHAPE[(utc + chrono::TimeDelta::hours(offset)).hour() as usize] * 2.0
}

/// Three weeks of a Berlin store's hourly sales in UTC, ending the day before the clocks go
/// back; a run with `--timezone Europe/Berlin` forecasts the next two days, across the change,
/// in step with the store's clock, where a run on UTC hours is an hour out after it.
#[actix_web::test]
async fn a_time_zone_keeps_the_daily_cycle_in_step_across_a_clock_change() {
    let first = NaiveDate::from_ymd_opt(2026, 10, 4)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let at = |t: i64| first + chrono::TimeDelta::hours(t);
    let mut csv = String::from("sold_at,item_id,store_id,quantity\n");
    for t in 0..21 * 24 {
        let q = berlin_quantity(at(t));
        csv.push_str(&format!("{},A,S1,{q}\n", at(t).format("%Y-%m-%d %H:10")));
    }
    let srv = hourly_server_with(csv).await;
    land_sales(&srv).await;
    let reader = srv.key(Role::Reader).await;
    let a = "/v1/forecasts/item%3DA%2Fstore%3DS1";
    let complete = ["--last-period", "complete"];
    let mut error = Vec::new();
    for zone in [None, Some("Europe/Berlin")] {
        let mut args = complete.to_vec();
        args.extend(zone.map(|z| ["--timezone", z]).into_iter().flatten());
        let report = train(&srv, "hour", "48", &args);
        assert_eq!(report["history_end"], "2026-10-24T23:00:00Z", "{report}");
        let fc = fresh_json(&srv, &reader, a).await;
        let points = fc["points"].as_array().unwrap();
        assert_eq!(points[0]["date"], "2026-10-25T00:00:00Z");
        let mae = (0..48)
            .map(|h| {
                let mean = points[h]["mean"].as_f64().unwrap();
                (mean - berlin_quantity(at(21 * 24 + h as i64))).abs()
            })
            .sum::<f64>()
            / 48.0;
        let model = text(&fc["model"]).to_string();
        assert_eq!(model.ends_with("on local time"), zone.is_some(), "{model}");
        error.push(mae);
    }
    println!(
        "MAE over the 48 hours across the change: {:.3} on UTC hours, {:.3} on local hours",
        error[0], error[1]
    );
    assert!(error[1] < 0.3 && error[1] < 0.25 * error[0], "{error:?}");
    // The pooled choice and a reconciled hierarchy run on local hours too.
    let report = train(
        &srv,
        "hour",
        "48",
        &[
            "--last-period",
            "complete",
            "--timezone",
            "Europe/Berlin",
            "--select",
            "pooled",
            "--reconcile",
            "bottom_up",
        ],
    );
    assert_eq!(report["series_failed"], 0, "{report}");
    let models = report["models"].to_string();
    assert!(models.contains("on local time"), "{models}");

    // A zone is for hourly runs, and must be one.
    let admin = srv.key(Role::Admin).await;
    for (payload, says) in [
        (
            json!({"timezone": "Europe/Berlin"}),
            "applies to hourly runs",
        ),
        (
            json!({"frequency": "hour", "timezone": "Mars/Olympus"}),
            "not an IANA time zone",
        ),
    ] {
        let body = json!({"kind": "train_forecaster", "payload": payload});
        let res = srv.post_as("/v1/jobs", &admin, &body).await;
        let problem = expect_problem(res, 422).await;
        assert_eq!(problem["field"], "payload.timezone", "{problem}");
        assert!(text(&problem["detail"]).contains(says), "{problem}");
    }
}
