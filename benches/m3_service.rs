//! M3 Quarterly and Yearly through the service, as a planner would run them: each series'
//! training part dated on its own calendar (M3's start year and period) and landed as sales
//! rows by a `sales` pipeline, trained by the service's training path at `frequency` quarter
//! or year with `select: pooled` and `own_end` (the series end in different years, so each is
//! forecast from its own last period), and the served forecasts read back from the database
//! and scored on M3's test part. Next to them, in the same run, the same pooled choice called
//! on the raw values from the models crate (what `cargo bench -p recast-models --bench m3`
//! scores): the two must agree, or landing, series building or serving changed the data.
//!
//!     cargo bench --bench m3_service
//!     RECAST_M3_SETS=quarterly cargo bench --bench m3_service
//!
//! Data: `../shared/data/m3-quarterly-yearly-other` (`RECAST_M3_DIR` elsewhere); the bench
//! says so and stops when it is absent.

#[path = "common/sales_app.rs"]
mod sales_app;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{Months, NaiveDate};
use recast::forecast::Forecast;
use recast::forecast::backtest::score;
use recast::forecast::select::{PooledConfig, SelectionMethod, select};

/// One M3 series: its first period's start and its training and test values.
struct M3Series {
    id: String,
    first: NaiveDate,
    train: Vec<f64>,
    test: Vec<f64>,
}

/// The set's frequency name, season and M3 horizon.
fn set_shape(set: &str) -> (&'static str, usize, usize) {
    match set {
        "quarterly" => ("quarter", 4, 8),
        "yearly" => ("year", 1, 6),
        other => panic!("unknown M3 set `{other}` (quarterly, yearly)"),
    }
}

fn load(path: &Path, months_per_period: u32) -> Vec<M3Series> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut by_id: BTreeMap<String, M3Series> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (year, period): (i32, u32) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        // M3 has a quarterly series starting in "period 9" and a yearly one in period 3:
        // taken modulo the periods of a year, so every row stays on its period's first day
        // (else the data are not period-keyed and their last period counts as incomplete).
        let per_year = 12 / months_per_period;
        let month = 1 + ((period.max(1) - 1) % per_year) * months_per_period;
        let s = by_id.entry(f[0].to_string()).or_insert_with(|| M3Series {
            id: f[0].replace(' ', ""),
            first: NaiveDate::from_ymd_opt(year, month, 1).unwrap(),
            train: Vec::new(),
            test: Vec::new(),
        });
        let y: f64 = f[5].parse().unwrap();
        if f[6] == "train" {
            s.train.push(y);
        } else {
            s.test.push(y);
        }
    }
    by_id.into_values().collect()
}

/// The training parts as sales rows, one per period, dated on the period's first day.
fn sales_csv(series: &[M3Series], months_per_period: u32) -> String {
    let mut csv = String::from("date,item_id,store_id,quantity\n");
    for s in series {
        for (t, y) in s.train.iter().enumerate() {
            let date = s.first + Months::new(months_per_period * t as u32);
            csv.push_str(&format!("{date},{},M3,{y}\n", s.id));
        }
    }
    csv
}

/// Mean MASE and sMAPE of `forecasts` (by series id) on the test parts.
fn scores(
    series: &[M3Series],
    forecasts: &BTreeMap<String, Vec<f64>>,
    season: usize,
) -> (f64, f64, usize) {
    let (mut mase, mut smape, mut n) = (0.0, 0.0, 0);
    for s in series {
        let Some(mean) = forecasts.get(&s.id) else {
            continue;
        };
        let fc = Forecast {
            mean: mean.clone(),
            intervals: Vec::new(),
        };
        let m = score(&s.test, &fc, &s.train, season);
        mase += m.mase;
        smape += m.smape;
        n += 1;
    }
    (mase / n as f64, smape / n as f64, n)
}

async fn run_set(set: &str, dir: &Path) {
    let (frequency, season, h) = set_shape(set);
    let months = 12 / season.max(1) as u32;
    let series = load(&dir.join(format!("{set}.csv")), months);
    let work = tempfile::tempdir().unwrap();
    let landing = work.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("m3.csv"), sales_csv(&series, months)).unwrap();
    // M3's calendars start as early as 1811: older than the default `plausible_since`.
    let app = sales_app::open(work.path(), &[("RECAST_PLAUSIBLE_SINCE", "1800-01-01")]).await;
    let landed = sales_app::land(&app).await;
    let payload = serde_json::json!({
        "frequency": frequency,
        "horizon": h,
        "select": "pooled",
        "own_end": true,
    });
    let (report, service_s) = sales_app::train(&app, payload).await;
    let rows = recast::db::forecasts::all(&app.db).await.unwrap();
    let served: BTreeMap<String, Vec<f64>> = rows
        .iter()
        .map(|row| {
            let points: Vec<serde_json::Value> = serde_json::from_str(&row.points).unwrap();
            let mean = points.iter().map(|p| p["mean"].as_f64().unwrap()).collect();
            (row.item_id.clone().unwrap_or_default(), mean)
        })
        .collect();
    let models: BTreeMap<String, String> = rows
        .iter()
        .map(|row| {
            let params: serde_json::Value = serde_json::from_str(&row.params).unwrap();
            let what = format!("{} on {}", row.model, params["observations"]);
            (row.item_id.clone().unwrap_or_default(), what)
        })
        .collect();

    let t0 = Instant::now();
    let method = SelectionMethod::Pooled(PooledConfig::for_season(h, season));
    let direct: BTreeMap<String, Vec<f64>> = series
        .iter()
        .filter_map(|s| {
            let sel = select(&s.train, season, &method).ok()?;
            Some((s.id.clone(), sel.model.forecast(h, &[]).mean))
        })
        .collect();
    let direct_s = t0.elapsed().as_secs_f64();
    let differ = series
        .iter()
        .filter(|s| match (served.get(&s.id), direct.get(&s.id)) {
            (Some(a), Some(b)) => a
                .iter()
                .zip(b)
                .any(|(x, y)| (x - y).abs() > 1e-6 * y.abs().max(1.0)),
            _ => true,
        })
        .map(|s| {
            let first = |m: &BTreeMap<String, Vec<f64>>| m.get(&s.id).map(|v| v[0]);
            format!(
                "{}: {:?} served by {:?}, {:?} direct on {}",
                s.id,
                first(&served),
                models.get(&s.id),
                first(&direct),
                s.train.len()
            )
        })
        .collect::<Vec<String>>();
    let (mase, smape, n) = scores(&series, &served, season);
    let (d_mase, d_smape, d_n) = scores(&series, &direct, season);
    println!(
        "M3 {set}: {} series, {} of {} rows landed ({} quarantined); service run: {} fitted, {} \
         failed, {} forecast from their own end, {service_s:.1} s",
        series.len(),
        landed.rows_landed,
        series.iter().map(|s| s.train.len()).sum::<usize>(),
        landed.rows_quarantined,
        report.series_fitted,
        report.series_failed,
        report.series_ended.len()
    );
    for w in &report.warnings {
        println!("  run warning: {}", &w[..w.len().min(160)]);
    }
    println!(
        "  served (sales pipeline -> train -> database)  MASE {mase:.4}  sMAPE {smape:.3}  over {n} series"
    );
    println!(
        "  models crate, same pooled choice              MASE {d_mase:.4}  sMAPE {d_smape:.3}  over {d_n} series, {direct_s:.1} s"
    );
    println!(
        "  series whose served points differ from the models crate's: {} {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );
}

fn main() {
    let dir = std::env::var("RECAST_M3_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/m3-quarterly-yearly-other")
        });
    if !dir.join("quarterly.csv").exists() {
        println!(
            "M3 data not found at {} (RECAST_M3_DIR); nothing to do",
            dir.display()
        );
        return;
    }
    let sets = std::env::var("RECAST_M3_SETS").unwrap_or_else(|_| "quarterly,yearly".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for set in sets.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        runtime.block_on(run_set(set, &dir));
    }
}
