//! Series building loses nothing silently: period-keyed rows keep their last period, series
//! that stopped selling are reported (and padded, or forecast from their own end, only when
//! asked), and a CLI run whose stderr is not a terminal still shows progress.

use std::process::Stdio;

use chrono::{Months, NaiveDate};
use serde_json::Value;

use crate::common::{TestEnv, recast_command, sales_env};

/// Months from January 2022; `M1` sells every month, `M2` stops after 18 months.
const MONTHS: u32 = 36;

fn month(t: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 1, 1).unwrap() + Months::new(t)
}

fn monthly_csv() -> String {
    let mut csv = String::from("date,item_id,store_id,quantity,revenue,price,on_promo\n");
    for t in 0..MONTHS {
        let season = [
            5.0, 3.0, 4.0, 6.0, 8.0, 9.0, 12.0, 11.0, 7.0, 6.0, 9.0, 15.0,
        ][(t % 12) as usize];
        csv.push_str(&format!(
            "{},M1,S1,{},0,1,false\n",
            month(t),
            40.0 + season + t as f64
        ));
        if t < 18 {
            csv.push_str(&format!("{},M2,S1,{},0,1,false\n", month(t), 20.0 + season));
        }
    }
    csv
}

fn train(env: &TestEnv, extra: &[&str]) -> (Value, String) {
    let out = recast_command(&env.path())
        .env("RECAST_DATABASE_URL", &env.settings.database_url)
        .env("RECAST_LAKE_URL", &env.settings.lake_url)
        .env("RECAST_PIPELINES_DIR", env.path().join("pipelines"))
        .args([
            "train",
            "forecaster",
            "--frequency",
            "month",
            "--horizon",
            "6",
            "--json",
        ])
        .args(extra)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

#[tokio::test]
async fn month_keyed_sales_keep_their_last_month_and_ended_series_are_reported() {
    let env = sales_env(&monthly_csv()).await;
    let pipelines = env.path().join("pipelines");
    let run = recast_command(&env.path())
        .env("RECAST_DATABASE_URL", &env.settings.database_url)
        .env("RECAST_LAKE_URL", &env.settings.lake_url)
        .env("RECAST_PIPELINES_DIR", &pipelines)
        .args(["pipeline", "run", "sales"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let (report, stderr) = train(&env, &[]);
    // The last month (dated on its first day) is history, not dropped as incomplete.
    assert_eq!(
        report["history_end"],
        month(MONTHS - 1).to_string(),
        "{report}"
    );
    assert!(
        report
            .get("warnings")
            .is_none_or(|w| !w.to_string().contains("incomplete"))
    );
    assert_eq!(report["series_fitted"], 1, "{report}");
    assert_eq!(report["series_ended"][0]["series_id"], "item=M2/store=S1");
    assert_eq!(
        report["series_ended"][0]["last_period"],
        month(17).to_string()
    );
    assert!(
        report["warnings"][0]
            .as_str()
            .unwrap()
            .contains("left out as ended")
    );
    assert_eq!(report["filled_periods"], 0, "nothing padded");
    // stderr is a pipe here: progress comes as log lines, not a bar.
    assert!(stderr.contains("forecaster [00:00:"), "{stderr}");
    assert!(stderr.contains("% "), "{stderr}");

    // Forecast from its own end instead: M2's forecast starts the month after its last sale.
    let (own, _) = train(&env, &["--own-end"]);
    assert_eq!(own["series_fitted"], 2, "{own}");
    assert_eq!(own["filled_periods"], 0, "{own}");
    assert_eq!(own["series_ended"][0]["series_id"], "item=M2/store=S1");
    assert!(
        own["warnings"][0]
            .as_str()
            .unwrap()
            .contains("forecast from their own last period"),
        "{own}"
    );
    let app = recast::service::open(env.settings.clone()).await.unwrap();
    // Neither run named a choice: both used the default, the pooled backtest of ETS, ARIMA,
    // Theta, CES and their combinations.
    let versions = app
        .models
        .list(Some(recast::registry::Kind::Forecaster), 10)
        .await
        .unwrap();
    assert_eq!(versions.len(), 2, "{versions:#?}");
    assert!(versions.iter().all(|v| v.params["select"] == "pooled"));
    let m2 = recast::db::forecasts::get(&app.db, "item=M2/store=S1")
        .await
        .unwrap()
        .expect("M2's forecast");
    assert_eq!(m2.history_end, month(17).to_string());

    let (padded, _) = train(&env, &["--pad-ended"]);
    assert_eq!(padded["series_fitted"], 2, "{padded}");
    assert_eq!(padded["filled_periods"], MONTHS - 18);
    assert!(padded.get("series_ended").is_none(), "{padded}");

    // The calendar rule treats the month of a 1st-of-month row as in progress, and says so.
    let (calendar, _) = train(&env, &["--last-period", "calendar", "--pad-ended"]);
    assert_eq!(calendar["history_end"], month(MONTHS - 2).to_string());
    assert!(
        calendar["warnings"][0]
            .as_str()
            .unwrap()
            .contains("is incomplete"),
        "{calendar}"
    );
    // Refused flags name the flag at fault.
    for (args, names) in [
        (&["--last-period", "sometimes"][..], "--last-period"),
        (&["--own-end", "--pad-ended"][..], "--pad-ended"),
    ] {
        let out = recast_command(&env.path())
            .env("RECAST_DATABASE_URL", &env.settings.database_url)
            .args(["train", "forecaster"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(names),
            "{args:?}"
        );
    }
}
