//! A shop's calendar in its sales: closed on one weekday (the export has no rows for that
//! day, the series holds zeros there), every choice, the named Prophet-style model too,
//! forecasts exactly zero on it with a band of no width (a note says why) while the open days
//! keep their model's forecast, and reconciliation keeps that zero; an item whose sales
//! stopped for a month and came back at another level is fitted on the history after that
//! outage.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use recast::auth::Role;
use serde_json::Value;

use crate::common::{TestServer, assert_success, land, point_means, sales_env, train_forecaster};

const DAYS: u64 = 126;

fn day(t: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5).unwrap() + Days::new(t)
}

/// Monday to Saturday with a weekly shape and a little noise; no row on Sundays.
fn sales_csv() -> String {
    let mut csv = String::from("date,item_id,store_id,quantity,revenue,price,on_promo\n");
    for t in 0..DAYS {
        if day(t).weekday() == Weekday::Sun {
            continue;
        }
        let weekly = [1.0, 0.8, 0.9, 1.1, 1.3, 1.6, 0.0][(t % 7) as usize];
        let q = (40.0 * weekly + ((t * 7919) % 5) as f64).round();
        csv.push_str(&format!("{},A,S1,{q},{q},1,false\n", day(t)));
    }
    // Item B at S2, open every day: about 100 a day, nothing for a month, then about 30.
    for t in (0..40).chain(OUTAGE_END..DAYS) {
        let level = if t < 40 { 100.0 } else { 30.0 };
        let q = level + ((t * 7919) % 5) as f64;
        csv.push_str(&format!("{},B,S2,{q},{q},1,false\n", day(t)));
    }
    csv
}

/// The first day item B sells again.
const OUTAGE_END: u64 = 70;

fn train(srv: &TestServer, extra: &[&str]) -> Value {
    let args: Vec<&str> = ["--horizon", "14"].iter().chain(extra).copied().collect();
    let out = train_forecaster(srv, &args);
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekday_the_shop_never_opens_is_forecast_as_zero() {
    let srv = TestServer::start(sales_env(&sales_csv()).await).await;
    land(&srv, "sales").await;
    let key = srv.key(Role::Reader).await;
    for select in ["aicc", "pooled", "prophet"] {
        let report = train(&srv, &["--select", select]);
        assert_eq!(report["series_fitted"], 2, "{report}");
        let fc = crate::common::fresh_json(&srv, &key, "/v1/forecasts/item%3DA%2Fstore%3DS1").await;
        assert!(
            fc["model"]
                .as_str()
                .unwrap()
                .ends_with("closed at 1 of 7 slots"),
            "{select}: {fc}"
        );
        closed_on_sundays(&fc, select);
        let row = recast::db::forecasts::get(&srv.app.db, "item=A/store=S1")
            .await
            .unwrap()
            .unwrap();
        let params: Value = serde_json::from_str(&row.params).unwrap();
        assert!(
            params["notes"]
                .to_string()
                .contains("closed at 1 of 7 seasonal slot(s)"),
            "{select}: the note says why: {params}"
        );
        assert_eq!(params["spec"]["kind"], "closed", "{params}");

        let fc = crate::common::fresh_json(&srv, &key, "/v1/forecasts/item%3DB%2Fstore%3DS2").await;
        assert!(
            fc["model"].as_str().unwrap().ends_with("after an outage"),
            "{select}: {fc}"
        );
        let means = point_means(&fc);
        let level = means.iter().sum::<f64>() / means.len() as f64;
        assert!((level - 32.0).abs() < 3.0, "{select}: {means:?}");
        let row = recast::db::forecasts::get(&srv.app.db, "item=B/store=S2")
            .await
            .unwrap()
            .unwrap();
        let params: Value = serde_json::from_str(&row.params).unwrap();
        let skipped = format!("the first {OUTAGE_END} periods left out");
        assert!(
            params["notes"].to_string().contains(&skipped),
            "{select}: {params}"
        );
    }

    // Top-down hands each bottom series a share of the total and MinT a part of the
    // incoherence: the closed day keeps its 0, and the levels still add up.
    for reconcile in ["top_down", "mint_shrink"] {
        let report = train(&srv, &["--select", "aicc", "--reconcile", reconcile]);
        assert_eq!(report["reconciliation"]["method"], reconcile, "{report}");
        let a = crate::common::fresh_json(&srv, &key, "/v1/forecasts/item%3DA%2Fstore%3DS1").await;
        closed_on_sundays(&a, reconcile);
        let b = crate::common::fresh_json(&srv, &key, "/v1/forecasts/item%3DB%2Fstore%3DS2").await;
        let total = crate::common::fresh_json(&srv, &key, "/v1/forecasts/total").await;
        let parts = point_means(&a).into_iter().zip(point_means(&b));
        for (t, (sum, whole)) in parts
            .map(|(a, b)| a + b)
            .zip(point_means(&total))
            .enumerate()
        {
            assert!(
                (whole - sum).abs() <= 1e-9 * whole.abs().max(1.0),
                "{reconcile} step {t}: total {whole}, bottoms {sum}"
            );
        }
    }
}

/// Sundays forecast as 0 with all four band bounds 0; open days above 20 with a band.
fn closed_on_sundays(fc: &Value, select: &str) {
    let means = point_means(fc);
    let points = fc["points"].as_array().unwrap();
    assert_eq!(points.len(), 14);
    for (p, mean) in points.iter().zip(&means) {
        let date: NaiveDate = p["date"].as_str().unwrap().parse().unwrap();
        let band = [
            &p["lower_80"],
            &p["upper_80"],
            &p["lower_95"],
            &p["upper_95"],
        ];
        if date.weekday() == Weekday::Sun {
            assert_eq!(*mean, 0.0, "{select}: {p}");
            assert!(
                band.iter().all(|b| b.as_f64() == Some(0.0)),
                "{select}: {p}"
            );
        } else {
            assert!(*mean > 20.0, "{select}: {p}");
            let (lo, hi) = (band[0].as_f64().unwrap(), band[1].as_f64().unwrap());
            assert!(hi - lo > 1.0, "{select}: an open day keeps its band: {p}");
        }
    }
}
