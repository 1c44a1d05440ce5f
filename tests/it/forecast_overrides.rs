//! Planner overrides through the API: only planners (and admins) write them, served forecasts
//! apply the newest in force, they survive retraining, withdrawing one keeps it in the audit
//! trail, and once actuals land their forecast value added equals a hand computation.

use recast::auth::Role;
use recast::forecast::series::{Frequency, Level};
use recast::forecast::train::{SelectBy, TrainParams, run as train};
use serde_json::{Value, json};

use crate::common::expect_problem;
use crate::forecast_serving::{DAYS, HORIZON, day, enc, quantity, world};

const SERIES: &str = "item=I1/store=S1";

async fn body(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn means(forecast: &Value) -> Vec<(f64, Option<f64>, Option<String>)> {
    forecast["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["mean"].as_f64().unwrap(),
                p["statistical_mean"].as_f64(),
                p["override_id"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planner_overrides_apply_survive_retraining_keep_their_trail_and_report_value_added() {
    let (srv, reader, _) = world().await;
    let planner = srv.key(Role::Planner).await;
    let ingest = srv.key(Role::Ingest).await;
    let path = format!("/v1/forecasts/{}/overrides", enc(SERIES));
    let forecast_path = format!("/v1/forecasts/{}", enc(SERIES));
    let statistical = body(srv.get_as(&forecast_path, &reader).await, 200).await;
    let stat: Vec<f64> = means(&statistical).iter().map(|m| m.0).collect();

    // Roles: readers and ingest keys cannot write; planners cannot reach admin routes.
    let value = json!({"start": day(DAYS).to_string(), "end": day(DAYS + 1).to_string(),
                       "value": 40.0, "reason": "listing on the home page"});
    for key in [&reader, &ingest] {
        let res = srv.post_as(&path, key, &value).await;
        expect_problem(res, 403).await;
    }
    let res = srv
        .post_as(
            "/v1/keys",
            &planner,
            &json!({"name": "x", "role": "reader"}),
        )
        .await;
    expect_problem(res, 403).await;
    // Bad input names its field.
    let both = json!({"start": day(DAYS).to_string(), "value": 1.0, "percent": 5.0, "reason": "x"});
    let res = srv.post_as(&path, &planner, &both).await;
    assert_eq!(expect_problem(res, 422).await["field"], "value");
    let backwards = json!({"start": day(DAYS + 3).to_string(), "end": day(DAYS).to_string(),
                           "percent": 5.0, "reason": "x"});
    let res = srv.post_as(&path, &planner, &backwards).await;
    assert_eq!(expect_problem(res, 422).await["field"], "end");
    let unknown = srv
        .post_as("/v1/forecasts/item%3DNOPE/overrides", &planner, &value)
        .await;
    expect_problem(unknown, 404).await;

    let first = body(srv.post_as(&path, &planner, &value).await, 201).await;
    let campaign = json!({"start": day(DAYS + 1).to_string(), "end": day(DAYS + 2).to_string(),
                          "percent": -50.0, "reason": "campaign moved to next month"});
    let second = body(srv.post_as(&path, &planner, &campaign).await, 201).await;
    let (first_id, second_id) = (
        first["override_id"].as_str().unwrap().to_string(),
        second["override_id"].as_str().unwrap().to_string(),
    );

    // Served: the newest override in force per period, the model's mean beside it.
    let check_served = |served: &Value, stat: &[f64], with_second: bool| {
        let m = means(served);
        assert_eq!(m[0], (40.0, Some(stat[0]), Some(first_id.clone())));
        if with_second {
            assert_eq!(m[1].2.as_deref(), Some(second_id.as_str()));
            assert!((m[1].0 - stat[1] * 0.5).abs() < 1e-9, "{served}");
            assert!((m[2].0 - stat[2] * 0.5).abs() < 1e-9, "{served}");
        } else {
            assert_eq!(m[1], (40.0, Some(stat[1]), Some(first_id.clone())));
            assert_eq!(m[2], (stat[2], None, None));
        }
        assert_eq!(m[3], (stat[3], None, None));
    };
    let served = body(srv.get_as(&forecast_path, &reader).await, 200).await;
    check_served(&served, &stat, true);
    let p0 = &served["points"][0];
    let width = p0["upper_80"].as_f64().unwrap() - p0["lower_80"].as_f64().unwrap();
    let stat_width = statistical["points"][0]["upper_80"].as_f64().unwrap()
        - statistical["points"][0]["lower_80"].as_f64().unwrap();
    assert!(
        (width - stat_width).abs() < 1e-9 || p0["lower_80"] == 0.0,
        "{served}"
    );

    // Retraining replaces the statistical forecast; the overrides stay.
    let params = TrainParams {
        frequency: Frequency::Day,
        horizon: Some(HORIZON),
        level: Level::ItemStore,
        select: SelectBy::Aicc,
        ..TrainParams::default()
    };
    train(&srv.app, &params, &recast::progress::none())
        .await
        .unwrap();
    let retrained = body(srv.get_as(&forecast_path, &reader).await, 200).await;
    let stat2: Vec<f64> = means(&retrained)
        .iter()
        .map(|m| m.1.unwrap_or(m.0))
        .collect();
    check_served(&retrained, &stat2, true);

    // Withdrawn: no longer applied, still in the trail with who withdrew it.
    let url = format!("/v1/forecasts/{}/overrides/{second_id}", enc(SERIES));
    let res = srv
        .client
        .delete(format!("{}{url}", srv.base))
        .bearer_auth(&planner)
        .send()
        .await
        .unwrap();
    let retired = body(res, 200).await;
    assert_eq!(retired["active"], false);
    assert!(retired["retired_by"].is_string());
    let served = body(srv.get_as(&forecast_path, &reader).await, 200).await;
    check_served(&served, &stat2, false);
    let trail = body(srv.get_as(&path, &reader).await, 200).await;
    let trail = trail["overrides"].as_array().unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0]["reason"], "listing on the home page");
    assert_eq!(trail[0]["active"], true);
    assert_eq!(trail[1]["active"], false);
    assert!(trail[0].get("value_added").is_none(), "no actuals yet");

    // Actuals land for the first two forecast days: value added = MAE(model) - MAE(override).
    let landing = srv.env.path().join("landing");
    let mut csv = String::from("date,item_id,store_id,quantity,revenue,price,on_promo\n");
    for t in DAYS..DAYS + 2 {
        let q = quantity("I1", "S1", t).unwrap();
        csv.push_str(&format!("{},I1,S1,{q},{},2.5,false\n", day(t), q * 2.5));
    }
    std::fs::write(landing.join("sales-2.csv"), csv).unwrap();
    let spec = recast::etl::pipelines::find_pipeline(&srv.app, "sales").unwrap();
    recast::etl::runner::run_pipeline(&srv.app, &spec, &recast::progress::none())
        .await
        .unwrap();
    recast::forecast::realised::score(&srv.app).await.unwrap();
    let trail = body(srv.get_as(&path, &reader).await, 200).await;
    let va = &trail["overrides"][0]["value_added"];
    let actual: Vec<f64> = (DAYS..DAYS + 2)
        .map(|t| quantity("I1", "S1", t).unwrap())
        .collect();
    let mae_stat = ((actual[0] - stat2[0]).abs() + (actual[1] - stat2[1]).abs()) / 2.0;
    let mae_over = ((actual[0] - 40.0).abs() + (actual[1] - 40.0).abs()) / 2.0;
    assert_eq!(va["points"], 2, "{trail}");
    assert!(
        (va["mae_statistical"].as_f64().unwrap() - mae_stat).abs() < 1e-9,
        "{trail}"
    );
    assert!(
        (va["mae_override"].as_f64().unwrap() - mae_over).abs() < 1e-9,
        "{trail}"
    );
    assert!((va["value_added"].as_f64().unwrap() - (mae_stat - mae_over)).abs() < 1e-9);
}

/// The CLI calls the same functions: set, list (the trail) and withdraw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_are_set_listed_and_withdrawn_from_the_cli() {
    let (srv, _, _) = world().await;
    let cli = |args: &[&str]| {
        let out = crate::common::recast_command(&srv.env.path())
            .env("RECAST_DATABASE_URL", &srv.env.settings.database_url)
            .env("RECAST_LAKE_URL", &srv.env.settings.lake_url)
            .arg("forecasts")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            stderr,
        )
    };
    let start = day(DAYS).to_string();
    let (ok, out, err) = cli(&[
        "override",
        "--series",
        SERIES,
        "--start",
        &start,
        "--percent",
        "-20",
        "--reason",
        "shelf reset",
        "--json",
    ]);
    assert!(ok, "{err}");
    let set: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(set["percent"], -20.0);
    assert_eq!(set["created_by"], "cli");
    let id = set["override_id"].as_str().unwrap().to_string();
    let (ok, out, err) = cli(&["withdraw", "--series", SERIES, &id]);
    assert!(ok && out.contains("withdrawn"), "{out}{err}");
    let (ok, out, _) = cli(&["overrides", "--series", SERIES, "--json"]);
    assert!(ok);
    let trail: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(trail["overrides"][0]["active"], false);
    assert_eq!(trail["overrides"][0]["retired_by"], "cli");
    // A refused override names the field, like the API.
    let (ok, _, err) = cli(&[
        "override",
        "--series",
        SERIES,
        "--start",
        &start,
        "--value=-3",
        "--reason",
        "x",
    ]);
    assert!(!ok && err.contains("value"), "{err}");
}
