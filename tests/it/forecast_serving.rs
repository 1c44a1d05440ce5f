//! Demand forecasting end to end: sales landed by the real ETL, trained through the
//! `train_forecaster` job handler and the train function, then every forecast route through
//! a real server, and the Parquet export in the lake.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use chrono::{Days, NaiveDate};
use recast::auth::Role;
use recast::config::WorkerSettings;
use recast::etl::pipelines::find_pipeline;
use recast::etl::runner::run_pipeline;
use recast::forecast::series::{Frequency, Level};
use recast::forecast::train::{SelectBy, TrainParams, TrainReport, run as train};
use recast::jobs::{JobQueue, JobState, NewJob, Worker};
use recast::recommend::artifact::ModelKind;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::common::{TestServer, expect_problem};

const FIRST: &str = "2026-01-05";
pub(crate) const DAYS: u64 = 42; // 2026-01-05 (Monday) ..= 2026-02-15 (Sunday)
pub(crate) const HORIZON: usize = 7;

pub(crate) fn day(offset: u64) -> NaiveDate {
    NaiveDate::parse_from_str(FIRST, "%Y-%m-%d").unwrap() + Days::new(offset)
}

/// The landed sales: `None` where the CSV has no row. I1/S2 has gaps; I2/S2 starts late.
pub(crate) fn quantity(item: &str, store: &str, t: u64) -> Option<f64> {
    let weekly = [3.0, 2.0, 2.0, 4.0, 6.0, 9.0, 5.0][(t % 7) as usize];
    match (item, store) {
        ("I1", "S1") => Some(10.0 + weekly + (t / 7) as f64),
        ("I1", "S2") => (t % 5 != 3).then_some(2.0 + weekly),
        ("I2", "S1") => Some(20.0 + 2.0 * weekly),
        ("I2", "S2") => (t >= 15).then_some(1.0 + (t % 3) as f64),
        _ => None,
    }
}

const PAIRS: [(&str, &str); 4] = [("I1", "S1"), ("I1", "S2"), ("I2", "S1"), ("I2", "S2")];

fn sales_csv() -> String {
    let mut csv = String::from("date,item_id,store_id,quantity,revenue,price,on_promo\n");
    for t in 0..DAYS {
        for (item, store) in PAIRS {
            if let Some(q) = quantity(item, store, t) {
                csv.push_str(&format!(
                    "{},{item},{store},{q},{},2.5,false\n",
                    day(t),
                    q * 2.5
                ));
            }
        }
    }
    csv
}

pub(crate) fn enc(series_id: &str) -> String {
    series_id.replace('=', "%3D").replace('/', "%2F")
}

/// A server over a lake holding the synthetic sales, with item x store forecasts trained by
/// the job handler and item-level ones by the train function.
pub(crate) async fn world() -> (TestServer, String, TrainReport) {
    let env = crate::common::sales_env(&sales_csv()).await;
    let srv = TestServer::start(env).await;
    let spec = find_pipeline(&srv.app, "sales").unwrap();
    let landed = run_pipeline(&srv.app, &spec, &recast::progress::none())
        .await
        .unwrap();
    assert_eq!(landed.rows_landed, expected_rows(), "{landed:?}");

    // Item x store through the job handler, as the worker runs it.
    let registry = recast::service::job_kinds();
    let handler = registry.get("train_forecaster").expect("kind registered");
    let payload =
        serde_json::json!({"frequency": "day", "horizon": HORIZON, "level": "item_store"});
    handler.validate(&payload).unwrap();
    assert!(
        handler
            .validate(&serde_json::json!({"horizon": 0}))
            .is_err()
    );
    assert!(
        handler
            .validate(&serde_json::json!({"frequency": "minute"}))
            .is_err()
    );
    let queue = JobQueue::new(srv.app.db.clone());
    let (job, _) = queue
        .enqueue(NewJob::new("train_forecaster", payload))
        .await
        .unwrap();
    let worker = Worker::new(
        srv.app.clone(),
        queue.clone(),
        Arc::new(registry),
        WorkerSettings {
            poll_interval_ms: 20,
            ..WorkerSettings::default()
        },
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let j = queue.get(&job.id).await.unwrap();
        if matches!(
            j.state,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        ) {
            break j;
        }
        assert!(
            Instant::now() < deadline,
            "training job did not finish: {j:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    shutdown.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Succeeded, "{job:#?}");
    let report: TrainReport = serde_json::from_value(job.result.unwrap()).unwrap();
    assert_eq!(
        (
            report.series_total,
            report.series_fitted,
            report.series_failed
        ),
        (4, 4, 0)
    );

    // Item level through the train function (backtest selection is covered by unit tests:
    // it refits every candidate at every origin, which takes tens of seconds unoptimized).
    let items = train(
        &srv.app,
        &TrainParams {
            frequency: Frequency::Day,
            horizon: Some(HORIZON),
            level: Level::Item,
            select: SelectBy::Aicc,
            ..TrainParams::default()
        },
        &recast::progress::none(),
    )
    .await
    .unwrap();
    assert_eq!(items.series_fitted, 2);
    let key = srv.key(Role::Reader).await;
    (srv, key, report)
}

fn expected_rows() -> u64 {
    (0..DAYS)
        .flat_map(|t| PAIRS.iter().map(move |(i, s)| quantity(i, s, t)))
        .filter(Option::is_some)
        .count() as u64
}

async fn get(srv: &TestServer, key: &str, path: &str) -> reqwest::Response {
    srv.get_as(path, key).await
}

async fn json(srv: &TestServer, key: &str, path: &str) -> Value {
    let res = get(srv, key, path).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["series_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecasts_are_trained_listed_served_charted_and_exported() {
    let (srv, key, report) = world().await;

    // A series filter that matches nothing is refused when the job is submitted.
    let admin = srv.key(recast::auth::Role::Admin).await;
    let submit = |series: &'static str| {
        let body = serde_json::json!({"kind": "train_forecaster",
            "payload": {"level": "item", "series": series}});
        let (srv, admin) = (&srv, admin.clone());
        async move { srv.post_as("/v1/jobs", &admin, &body).await }
    };
    let body = expect_problem(submit("item=NOPE*").await, 422).await;
    assert_eq!(body["field"], "payload.series", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("item=NOPE*"),
        "{body}"
    );
    // An item-store filter names no item-level series either.
    expect_problem(submit("item=I1/store=*").await, 422).await;
    assert_eq!(submit("item=I*").await.status(), 202);

    // Auth.
    let res = srv
        .client
        .get(srv.url("/v1/forecasts"))
        .send()
        .await
        .unwrap();
    expect_problem(res, 401).await;

    // List: everything in id order, paginated.
    let page1 = json(&srv, &key, "/v1/forecasts?limit=4").await;
    assert_eq!(
        ids(&page1),
        ["item=I1", "item=I1/store=S1", "item=I1/store=S2", "item=I2"]
    );
    let cursor = page1["next_cursor"].as_str().expect("a next page");
    let page2 = json(
        &srv,
        &key,
        &format!("/v1/forecasts?limit=4&cursor={}", enc(cursor)),
    )
    .await;
    assert_eq!(ids(&page2), ["item=I2/store=S1", "item=I2/store=S2"]);
    assert!(page2.get("next_cursor").is_none());
    let first = &page1["series"][1];
    assert_eq!(first["item_id"], "I1");
    assert_eq!(first["store_id"], "S1");
    assert_eq!(first["frequency"], "day");
    assert!(!first["model"].as_str().unwrap().is_empty());
    assert!(
        page1["series"][0].get("store_id").is_none(),
        "item level has no store"
    );

    // Filters.
    let by_item = json(&srv, &key, "/v1/forecasts?item_id=I1").await;
    assert_eq!(
        ids(&by_item),
        ["item=I1", "item=I1/store=S1", "item=I1/store=S2"]
    );
    let by_store = json(&srv, &key, "/v1/forecasts?store_id=S2&level=item_store").await;
    assert_eq!(ids(&by_store), ["item=I1/store=S2", "item=I2/store=S2"]);
    let by_level = json(&srv, &key, "/v1/forecasts?level=item").await;
    assert_eq!(ids(&by_level), ["item=I1", "item=I2"]);
    let bad = expect_problem(get(&srv, &key, "/v1/forecasts?level=region").await, 422).await;
    assert_eq!(bad["field"], "level");
    let bad = expect_problem(get(&srv, &key, "/v1/forecasts?limit=0").await, 422).await;
    assert_eq!(bad["field"], "limit");

    // One forecast: consecutive dates after the history end, nested bands.
    let id = "item=I1/store=S1";
    let fc = json(&srv, &key, &format!("/v1/forecasts/{}", enc(id))).await;
    assert_eq!(fc["series_id"], id);
    assert!(fc["trained_at"].as_str().unwrap().starts_with("20"));
    assert!(fc["accuracy"]["mase"].is_number(), "{}", fc["accuracy"]);
    assert!(fc["accuracy"]["smape"].is_number());
    let points = fc["points"].as_array().unwrap();
    assert_eq!(points.len(), HORIZON);
    for (k, p) in points.iter().enumerate() {
        assert_eq!(p["date"], day(DAYS + k as u64).to_string());
        let v = |f: &str| p[f].as_f64().unwrap();
        assert!(
            v("lower_95") <= v("lower_80")
                && v("lower_80") <= v("mean")
                && v("mean") <= v("upper_80")
                && v("upper_80") <= v("upper_95"),
            "{p}"
        );
    }
    // Bands are conformal, calibrated on the backtest errors of the run's series pooled
    // (3 windows of 7 days from each series whose model has a spread); q10/q90 are the
    // 80 % band.
    let acc = &fc["accuracy"];
    assert!(
        ["conformal", "conformal_symmetric"].contains(&acc["interval_80"].as_str().unwrap()),
        "{acc}"
    );
    let scores = acc["calibration_scores"].as_u64().unwrap() as usize;
    assert!(
        scores.is_multiple_of(3 * HORIZON) && scores >= 3 * HORIZON,
        "{acc}"
    );
    for f in ["coverage_80", "model_coverage_80"] {
        assert!((0.0..=1.0).contains(&acc[f].as_f64().unwrap()), "{acc}");
    }
    for p in points {
        let v = |f: &str| p[f].as_f64().unwrap();
        assert_eq!((v("q10"), v("q90")), (v("lower_80"), v("upper_80")), "{p}");
        assert!(v("q10") <= v("q50") && v("q50") <= v("q90"), "{p}");
    }
    // A trending, weekly-seasonal series: the forecast stays in a sane range.
    let mean0 = points[0]["mean"].as_f64().unwrap();
    assert!((10.0..40.0).contains(&mean0), "{mean0}");

    let short = json(
        &srv,
        &key,
        &format!("/v1/forecasts/{}?horizon=3&levels=80", enc(id)),
    )
    .await;
    let pts = short["points"].as_array().unwrap();
    assert_eq!(pts.len(), 3);
    assert!(pts[0]["lower_80"].is_number() && pts[0].get("lower_95").is_none());

    // Errors.
    let missing = expect_problem(
        get(&srv, &key, &format!("/v1/forecasts/{}", enc("item=I9"))).await,
        404,
    )
    .await;
    assert!(missing["detail"].as_str().unwrap().contains("item=I9"));
    let too_far = expect_problem(
        get(
            &srv,
            &key,
            &format!("/v1/forecasts/{}?horizon={}", enc(id), HORIZON + 1),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(too_far["field"], "horizon");
    assert!(
        too_far["detail"]
            .as_str()
            .unwrap()
            .contains(&HORIZON.to_string()),
        "{too_far}"
    );
    let level = expect_problem(
        get(
            &srv,
            &key,
            &format!("/v1/forecasts/{}?levels=80,90", enc(id)),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(level["field"], "levels");
    expect_problem(
        get(&srv, &key, &format!("/v1/forecasts/{}?horizon=x", enc(id))).await,
        422,
    )
    .await;

    // History: the landed actuals with the gaps filled with zero.
    let gappy = "item=I1/store=S2";
    let hist = json(&srv, &key, &format!("/v1/forecasts/{}/history", enc(gappy))).await;
    let got: Vec<(String, f64)> = hist["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["date"].as_str().unwrap().to_string(),
                p["quantity"].as_f64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, f64)> = (0..DAYS)
        .map(|t| (day(t).to_string(), quantity("I1", "S2", t).unwrap_or(0.0)))
        .collect();
    assert_eq!(got, want);
    let gaps = (0..DAYS)
        .filter(|t| quantity("I1", "S2", *t).is_none())
        .count();
    assert_eq!(hist["filled_periods"], gaps as u64);
    // The late starter begins at its first sale.
    let late = json(
        &srv,
        &key,
        &format!("/v1/forecasts/{}/history", enc("item=I2/store=S2")),
    )
    .await;
    assert_eq!(late["points"][0]["date"], day(15).to_string());
    assert_eq!(
        late["points"].as_array().unwrap().len(),
        (DAYS - 15) as usize
    );
    // Item level sums the stores.
    let item = json(
        &srv,
        &key,
        &format!("/v1/forecasts/{}/history", enc("item=I1")),
    )
    .await;
    assert_eq!(
        item["points"][3]["quantity"].as_f64().unwrap(),
        quantity("I1", "S1", 3).unwrap() + quantity("I1", "S2", 3).unwrap_or(0.0)
    );
    expect_problem(
        get(
            &srv,
            &key,
            &format!("/v1/forecasts/{}/history", enc("store=S9")),
        )
        .await,
        404,
    )
    .await;

    // Chart: well-formed SVG with one point per shown actual and per forecast step. By
    // default it shows max(4 x horizon, 28) periods of history.
    let chart = |query: &'static str| {
        let path = format!("/v1/forecasts/{}/chart.svg{query}", enc(gappy));
        let (srv, key) = (&srv, &key);
        async move { get(srv, key, &path).await }
    };
    let res = chart("").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    let svg = res.text().await.unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
    assert_balanced(&svg);
    let window = (4 * HORIZON).max(28).min(DAYS as usize);
    assert!(
        window < DAYS as usize,
        "the default window cuts this series"
    );
    assert_eq!(polyline_points(&svg, "actual"), window);
    assert_eq!(polyline_points(&svg, "forecast"), HORIZON);
    assert!(svg.contains(r#"class="band-80""#) && svg.contains(r#"class="band-95""#));
    // No recommender is served here: the title falls back to the series id.
    assert!(svg.contains(&format!(
        r#"<text class="title" x="8" y="22" font-size="14">{gappy} — "#
    )));
    // `history` picks the window; more than the series has shows all of it.
    let five = chart("?history=5").await;
    assert_eq!(five.status(), 200);
    let svg = five.text().await.unwrap();
    assert_balanced(&svg);
    assert_eq!(polyline_points(&svg, "actual"), 5);
    assert_eq!(polyline_points(&svg, "forecast"), HORIZON);
    let all = chart("?history=3660").await.text().await.unwrap();
    assert_eq!(polyline_points(&all, "actual"), DAYS as usize);
    for bad in ["?history=0", "?history=3661", "?history=-1", "?history=x"] {
        let problem = expect_problem(chart(bad).await, 422).await;
        assert_eq!(problem["field"], "history", "{bad}: {problem}");
    }
    let unknown = expect_problem(chart("?window=5").await, 422).await;
    assert!(
        unknown["detail"].as_str().unwrap().contains("window"),
        "{unknown}"
    );
    // Once a recommender is served, the chart is titled with the item's catalogue name
    // (as `GET /v1/items/I1` serves it); an item the catalogue lacks keeps the series id.
    crate::recommend::land_world_with(&srv.app, &[("I1", "Blue <mug> & saucer")]).await;
    let version = crate::recommend::train(&srv.app, ModelKind::Popularity).await;
    let admin = srv.key(Role::Admin).await;
    let promoted = srv
        .client
        .post(srv.url(&format!("/v1/models/{version}/promote")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(promoted.status(), 200);
    let named = get(&srv, &key, &format!("/v1/forecasts/{}/chart.svg", enc(id)))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        named.contains(r#"font-size="14">Blue &lt;mug&gt; &amp; saucer, store S1 — "#),
        "{}",
        &named[..400.min(named.len())]
    );
    let other = "item=I2/store=S1";
    let unnamed = get(
        &srv,
        &key,
        &format!("/v1/forecasts/{}/chart.svg", enc(other)),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(unnamed.contains(&format!(r#"font-size="14">{other} — "#)));

    // Export of the job's run: one row per series and step, the run's one file of the Delta
    // table `exports/forecasts`.
    let path = report.export_path.clone().expect("export written");
    assert!(path.starts_with("exports/forecasts/dt="), "{path}");
    let run_files = srv
        .app
        .lake
        .files_holding(
            recast::lake::Area::Exports,
            "forecasts",
            "run_id",
            &report.run_id,
        )
        .await
        .unwrap();
    assert_eq!(
        run_files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        [path.as_str()],
        "the run's export is live in the table's Delta log, found by its statistics"
    );
    let bytes = srv
        .app
        .lake
        .store()
        .get(&object_store::path::Path::from(path.as_str()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "series_id",
            "item_id",
            "store_id",
            "date",
            "mean",
            "lower_80",
            "upper_80",
            "lower_95",
            "upper_95",
            "q50",
            "model",
            "run_id",
            "ts"
        ]
    );
    // `ts` holds an hourly period's start: a daily run leaves it null.
    assert!(
        batches
            .iter()
            .all(|b| b.column(12).null_count() == b.num_rows())
    );
    let mut per_series: BTreeMap<String, usize> = BTreeMap::new();
    let mut first_mean = None;
    for b in &batches {
        let sid = b.column(0).as_string::<i32>();
        let mean = b.column(4).as_primitive::<Float64Type>();
        let q50 = b.column(9).as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            *per_series.entry(sid.value(r).to_string()).or_default() += 1;
            if sid.value(r) == id && first_mean.is_none() {
                first_mean = Some((mean.value(r), q50.is_valid(r).then(|| q50.value(r))));
            }
        }
    }
    assert_eq!(per_series.len(), 4);
    assert!(per_series.values().all(|n| *n == HORIZON));
    assert_eq!(
        first_mean,
        Some((mean0, points[0]["q50"].as_f64())),
        "the export holds the served numbers, the conformal median too"
    );
    let run = recast::db::forecasts::get_run(&srv.app.db, &report.run_id)
        .await
        .unwrap()
        .expect("run recorded");
    assert_eq!(run.status, "succeeded");
    assert_eq!(
        (run.series_total, run.series_fitted, run.series_failed),
        (4, 4, 0)
    );
    assert_eq!(run.export_path.as_deref(), Some(path.as_str()));
    assert!(run.finished_at.unwrap() >= run.started_at);
    let params: Value = serde_json::from_str(&run.params).unwrap();
    assert_eq!(params["horizon"], HORIZON as u64);

    // History is the run's actuals file: the fitted series, sorted, next to the export.
    let actuals = report.actuals_path.clone().expect("actuals written");
    assert!(actuals.starts_with("exports/actuals/dt="), "{actuals}");
    let snapshot = recast::forecast::actuals::read(&srv.app.lake, &report.run_id, gappy)
        .await
        .unwrap()
        .expect("the run's actuals");
    assert_eq!(snapshot.points.len(), DAYS as usize);
    assert_eq!(snapshot.filled, gaps);
    // A late correction landed after training (a sale on one of gappy's empty days) does not
    // change what the run fitted, so its history stays as trained...
    let gap_day = (0..DAYS)
        .find(|t| quantity("I1", "S2", *t).is_none())
        .unwrap();
    let landing = std::path::Path::new(&srv.app.settings.pipelines_dir)
        .parent()
        .unwrap()
        .join("landing");
    std::fs::write(
        landing.join("sales-2.csv"),
        format!(
            "date,item_id,store_id,quantity,revenue,price,on_promo\n{},I1,S2,50,125,2.5,false\n",
            day(gap_day)
        ),
    )
    .unwrap();
    let spec = find_pipeline(&srv.app, "sales").unwrap();
    let landed = run_pipeline(&srv.app, &spec, &recast::progress::none())
        .await
        .unwrap();
    assert_eq!(landed.rows_landed, 1, "{landed:?}");
    let path_hist = format!("/v1/forecasts/{}/history", enc(gappy));
    let after = json(&srv, &key, &path_hist).await;
    assert_eq!(after, hist);
    // ...while a run without an actuals file (trained before they were kept) is rebuilt from
    // `sales` up to its history end, and so shows the correction.
    srv.app
        .lake
        .store()
        .delete(&object_store::path::Path::from(actuals.as_str()))
        .await
        .unwrap();
    let rebuilt = json(&srv, &key, &path_hist).await;
    assert_eq!(rebuilt["points"].as_array().unwrap().len(), DAYS as usize);
    assert_eq!(
        rebuilt["points"][gap_day as usize]["quantity"].as_f64(),
        Some(50.0)
    );
    assert_eq!(rebuilt["filled_periods"], gaps as u64 - 1);

    // A weekly run of one series (glob filter) replaces that series' daily forecast.
    let weekly = train(
        &srv.app,
        &TrainParams {
            frequency: Frequency::Week,
            horizon: Some(4),
            level: Level::Item,
            series: Some("item=I2*".into()),
            ..TrainParams::default()
        },
        &recast::progress::none(),
    )
    .await
    .unwrap();
    assert_eq!((weekly.series_total, weekly.series_fitted), (1, 1));
    let fc = json(&srv, &key, "/v1/forecasts/item%3DI2").await;
    assert_eq!(fc["frequency"], "week");
    assert_eq!(
        crate::common::point_dates(&fc),
        ["2026-02-16", "2026-02-23", "2026-03-02", "2026-03-09"]
    );
    let hist = json(&srv, &key, "/v1/forecasts/item%3DI2/history").await;
    let weeks = hist["points"].as_array().unwrap();
    assert_eq!(weeks.len(), (DAYS / 7) as usize);
    let week0: f64 = (0..7)
        .map(|t| quantity("I2", "S1", t).unwrap_or(0.0) + quantity("I2", "S2", t).unwrap_or(0.0))
        .sum();
    assert_eq!(weeks[0]["quantity"].as_f64().unwrap(), week0);
    assert_eq!(weeks[0]["date"], FIRST);
    let none = train(
        &srv.app,
        &TrainParams {
            series: Some("item=nope*".into()),
            ..TrainParams::default()
        },
        &recast::progress::none(),
    )
    .await;
    assert!(
        matches!(&none, Err(recast::forecast::DemandError::Invalid { field, .. }) if field == "series"),
        "{none:?}"
    );
    srv.stop().await;
}

/// Every element opened is closed in order (a minimal XML well-formedness check).
fn assert_balanced(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("tag closed") + start;
        let tag = &rest[start + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap().to_string();
            stack.push(name);
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

/// Number of `x,y` pairs in the polyline of `class`.
fn polyline_points(svg: &str, class: &str) -> usize {
    let marker = format!(r#"<polyline class="{class}" points=""#);
    let start = svg
        .find(&marker)
        .unwrap_or_else(|| panic!("no {class} polyline"))
        + marker.len();
    let end = svg[start..].find('"').unwrap() + start;
    svg[start..end]
        .split_whitespace()
        .inspect(|pair| {
            let (x, y) = pair.split_once(',').unwrap();
            x.parse::<f64>().unwrap();
            y.parse::<f64>().unwrap();
        })
        .count()
}
