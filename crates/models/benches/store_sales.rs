//! Daily store-sales bench: recast's automatic forecasts against statsforecast's on the
//! Rossmann sample's stores (daily sales with weekly and yearly seasonality, promotions,
//! holidays and closed days), in one run.
//!
//! Why a bench and not a test: it needs public data that are not in the repository and
//! minutes of CPU. Each store's daily sales (a day missing from the file is a closed day, 0)
//! are fitted on all but the last `RECAST_STORE_H` days (default 42, six weeks) with a weekly
//! season and scored on them (MASE with the in-sample seasonal-naive scale, sMAPE 0-200,
//! 80 %/95 % coverage). recast's rows: AICc ETS, ARIMA, Theta, CES and MSTL with periods 7
//! and 365 as they are (statsforecast's models' counterparts), AICc ETS as training's
//! default makes it (`select()`: fitted after the last outage, zero on closed weekdays), the
//! ETS-Theta-CES mean, and the pooled choice as `select()` makes it (`PooledConfig::standard`)
//! with its bands conformal on the errors pooled over the stores, as training calibrates
//! them. Then `references/forecast/store_sales_peers.py` runs
//! statsforecast's AutoETS, AutoARIMA, AutoTheta, AutoCES, MSTL and their ETS-Theta-CES mean
//! on the same splits.
//!
//! A weekly part then sums each store's days into weeks (blocks of seven ending on its last
//! day) and times recast's automatic ETS with a 52-week season against statsforecast's
//! AutoETS on all but the last 13 weeks, scoring both.
//!
//! Environment: `RECAST_STORE_SALES` (default `../shared/data/rossmann-sample/store_sales.csv`
//! beside the repository), `RECAST_STORE_H`, `RECAST_STORE_PARTS` (`daily,weekly` by
//! default), `RECAST_BENCH_PYTHON` (default `python3`), `RECAST_STORE_HOLDOUT=validation`
//! (the daily part alone, each store's last `h` days dropped first, so the score is on the
//! `h` days before the test part, statsforecast's too: how choices are tuned without looking
//! at the test part). Run:
//! `RECAST_BENCH_PYTHON=/root/.venvs/recast-fc/bin/python cargo bench -p recast-models --bench store_sales`

mod common;
#[path = "parts/store_regressors.rs"]
mod regressors;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use common::rossmann::open;
use common::{Row, peer_rows, peers, print_table};
use rayon::prelude::*;
use recast_models::forecast::backtest::{BacktestConfig, rolling_origin_kept, score};
use recast_models::forecast::combination::{Combine, combine_forecasts};
use recast_models::forecast::conformal::Calibration;
use recast_models::forecast::select::{PooledConfig, SelectionMethod, select};
use recast_models::forecast::{Forecast, ModelSpec};

const LEVELS: [f64; 2] = [80.0, 95.0];
const SEASON: usize = 7;

/// The fixed recast rows, in order.
fn fixed() -> Vec<(&'static str, ModelSpec)> {
    vec![
        ("auto_ets (AICc)", ModelSpec::AutoEts),
        ("auto_arima", ModelSpec::AutoArima),
        ("auto_theta", ModelSpec::AutoTheta),
        ("auto_ces", ModelSpec::AutoCes),
        (
            "mstl(7,365)",
            ModelSpec::Mstl {
                periods: vec![7, 365],
            },
        ),
        (
            // What `select()` makes of AICc ETS on a regular series: training's default.
            "auto_ets after outage, closed days 0 (default)",
            ModelSpec::AfterOutage {
                model: Box::new(ModelSpec::Closed {
                    model: Box::new(ModelSpec::AutoEts),
                }),
            },
        ),
    ]
}

/// One store's pooled choice on its training part, as `select()` makes it, with the backtest
/// training runs on it (three windows of the horizon); the daily and regressors parts share it.
struct Pooled {
    forecast: Forecast,
    /// The backtest's errors, which calibrate the bands.
    calibration: Option<Calibration>,
    /// The backtest's MASE, the yardstick of the regression candidates.
    backtest_mase: Option<f64>,
    label: String,
    seconds: f64,
}

fn pooled(train: &[f64], h: usize) -> Pooled {
    let t0 = Instant::now();
    let method = SelectionMethod::Pooled(PooledConfig::standard(h));
    let (spec, forecast) = match select(train, SEASON, &method) {
        Ok(sel) => {
            let fc = sel.model.forecast(h, &LEVELS);
            let finite = fc.mean.iter().all(|v| v.is_finite());
            (sel.spec, finite.then_some(fc))
        }
        Err(_) => (ModelSpec::SeasonalNaive, None),
    };
    let forecast = forecast.unwrap_or_else(|| naive(train, h));
    let backtest = BacktestConfig {
        horizon: h,
        step: h,
        windows: 3,
        levels: LEVELS.to_vec(),
    };
    let report = rolling_origin_kept(train, SEASON, &spec, &backtest).ok();
    Pooled {
        forecast,
        calibration: report
            .as_ref()
            .and_then(|r| Calibration::from_windows(&r.windows)),
        backtest_mase: report.map(|r| r.summary.mase),
        label: spec.label(),
        seconds: t0.elapsed().as_secs_f64(),
    }
}

fn fit(spec: &ModelSpec, y: &[f64], h: usize) -> Option<Forecast> {
    let fc = spec.fit(y, SEASON).ok()?.forecast(h, &LEVELS);
    fc.mean.iter().all(|v| v.is_finite()).then_some(fc)
}

fn naive(y: &[f64], h: usize) -> Forecast {
    ModelSpec::SeasonalNaive
        .fit(y, SEASON)
        .expect("seasonal naive fits a store's history")
        .forecast(h, &LEVELS)
}

/// The fixed rows and the ETS-Theta-CES mean of one store.
fn run_store(train: &[f64], test: &[f64]) -> Vec<Row> {
    let h = test.len();
    let mut rows = Vec::new();
    let mut fcs = Vec::new();
    for (_, spec) in fixed() {
        let t0 = Instant::now();
        let fc = fit(&spec, train, h).unwrap_or_else(|| naive(train, h));
        rows.push(Row::of(
            &score(test, &fc, train, SEASON),
            t0.elapsed().as_secs_f64(),
        ));
        fcs.push((fc, t0.elapsed().as_secs_f64()));
    }
    let members = [&fcs[0].0, &fcs[2].0, &fcs[3].0];
    let mean = combine_forecasts((Combine::Mean, None), &members, h, &LEVELS);
    let secs = fcs[0].1 + fcs[2].1 + fcs[3].1;
    rows.push(Row::of(&score(test, &mean, train, SEASON), secs));
    rows
}

fn main() {
    let Some((path, full, h)) = open("RECAST_STORE_H") else {
        return;
    };
    let validation = std::env::var("RECAST_STORE_HOLDOUT").is_ok_and(|v| v == "validation");
    let keep = |y: &[f64]| y[..y.len() - if validation { h } else { 0 }].to_vec();
    let stores: BTreeMap<String, Vec<f64>> = full
        .iter()
        .map(|(id, s)| (id.clone(), keep(&s.sales)))
        .collect();
    let parts = if validation {
        println!("VALIDATION: each store's last {h} days dropped; daily part only");
        "daily".to_string()
    } else {
        std::env::var("RECAST_STORE_PARTS").unwrap_or_else(|_| "daily,weekly,regressors".into())
    };
    let wanted = |part: &str| parts.split(',').any(|p| p.trim() == part);
    // The pooled choice per store (store id order), once for both parts that need it.
    let wall = Instant::now();
    let pooled: Vec<Pooled> = if wanted("daily") || wanted("regressors") {
        let trains: Vec<&[f64]> = stores.values().map(|y| &y[..y.len() - h]).collect();
        trains.par_iter().map(|train| pooled(train, h)).collect()
    } else {
        Vec::new()
    };
    let pooled_wall = wall.elapsed().as_secs_f64();
    if wanted("daily") {
        daily(&path, &stores, h, &pooled, pooled_wall);
    }
    if wanted("weekly") {
        weekly_part(&path, &stores);
    }
    if wanted("regressors") {
        regressors::part(&path, &full, h, &pooled);
    }
}

/// The daily part: every recast row and statsforecast's on all but the last `h` days
/// (`pooled`: each store's pooled choice, found in `pooled_wall` seconds).
fn daily(
    path: &Path,
    stores: &BTreeMap<String, Vec<f64>>,
    h: usize,
    pooled: &[Pooled],
    pooled_wall: f64,
) {
    let splits: Vec<(&String, &[f64], &[f64])> = stores
        .iter()
        .map(|(id, y)| {
            let (train, test) = y.split_at(y.len() - h);
            (id, train, test)
        })
        .collect();
    let wall = Instant::now();
    let results: Vec<Vec<Row>> = splits
        .par_iter()
        .map(|(_, train, test)| run_store(train, test))
        .collect();
    let wall = wall.elapsed().as_secs_f64() + pooled_wall;
    let pool = Calibration::pool(pooled.iter().filter_map(|p| p.calibration.as_ref()));
    let mut names: Vec<String> = fixed().iter().map(|f| f.0.to_string()).collect();
    names.push("mean(ets,theta,ces)".into());
    names.push("DEFAULT pooled choice, model bands".into());
    names.push("DEFAULT pooled choice, conformal bands".into());
    let mut sums = vec![Row::default(); names.len()];
    let mut choices = BTreeMap::<String, usize>::new();
    for (((_, train, test), rows), p) in splits.iter().zip(&results).zip(pooled) {
        let fc = &p.forecast;
        let banded = pool
            .as_ref()
            .map_or_else(|| fc.clone(), |c| c.apply(fc, &LEVELS).0);
        let extra = [
            Row::of(&score(test, fc, train, SEASON), p.seconds),
            Row::of(&score(test, &banded, train, SEASON), p.seconds),
        ];
        for (acc, row) in sums.iter_mut().zip(rows.iter().chain(&extra)) {
            acc.add(row);
        }
        *choices.entry(p.label.clone()).or_default() += 1;
    }
    let rows: Vec<(String, Row)> = names.into_iter().zip(sums.iter().map(Row::mean)).collect();
    print_table(
        &format!(
            "{} stores, daily, h={h}, season 7 ({wall:.1} s wall; seconds = CPU summed over stores)",
            stores.len()
        ),
        &rows,
    );
    let picks: Vec<String> = choices.iter().map(|(l, n)| format!("{l} {n}")).collect();
    println!("pooled choices: {}", picks.join(", "));
    let h_arg = h.to_string();
    let args = [path.as_os_str(), std::ffi::OsStr::new(&h_arg)];
    let Some(peer) = peers("store_sales_peers.py", &args) else {
        return;
    };
    let peer = peer_rows(Some(&peer));
    let mut all = rows.clone();
    all.extend(peer.iter().cloned());
    print_table("recast and statsforecast", &all);
    let ours = rows
        .iter()
        .find(|r| r.0.starts_with("DEFAULT"))
        .map(|r| r.1.mase)
        .unwrap_or(f64::NAN);
    let singles = peer.iter().filter(|p| !p.0.contains("mean("));
    if let Some(best) = singles.min_by(|a, b| a.1.mase.total_cmp(&b.1.mase)) {
        println!(
            "pooled / best statsforecast single ({}): {:.3}",
            best.0,
            ours / best.1.mase
        );
    }
    if let Some(mean) = peer.iter().find(|p| p.0.contains("mean(")) {
        println!(
            "pooled / statsforecast mean(ETS,Theta,CES): {:.3}",
            ours / mean.1.mase
        );
    }
}

/// Weeks held out in the weekly part.
const WEEK_H: usize = 13;

/// Sums of seven-day blocks ending on the last day (an incomplete first block dropped).
fn weekly(days: &[f64]) -> Vec<f64> {
    let skip = days.len() % 7;
    days[skip..].chunks(7).map(|w| w.iter().sum()).collect()
}

/// The weekly part: automatic ETS with a 52-week season, recast's and statsforecast's, time
/// and accuracy on the same weeks.
fn weekly_part(path: &Path, stores: &BTreeMap<String, Vec<f64>>) {
    let weeks: Vec<Vec<f64>> = stores.values().map(|d| weekly(d)).collect();
    let rows: Vec<Row> = weeks
        .par_iter()
        .map(|w| {
            let (train, test) = w.split_at(w.len() - WEEK_H);
            let t0 = Instant::now();
            let fc = ModelSpec::AutoEts
                .fit(train, 52)
                .map(|m| m.forecast(WEEK_H, &LEVELS))
                .unwrap_or_else(|_| naive(train, WEEK_H));
            Row::of(&score(test, &fc, train, 52), t0.elapsed().as_secs_f64())
        })
        .collect();
    let mut sum = Row::default();
    rows.iter().for_each(|r| sum.add(r));
    let ours = ("auto_ets, season 52".to_string(), sum.mean());
    let n_weeks = weeks.iter().map(Vec::len).max().unwrap_or(0);
    let title = format!(
        "{} stores, weekly ({n_weeks} weeks), h={WEEK_H}, season 52; seconds = CPU summed over stores",
        weeks.len()
    );
    let h_arg = WEEK_H.to_string();
    let args = [
        path.as_os_str(),
        std::ffi::OsStr::new(&h_arg),
        std::ffi::OsStr::new("weekly"),
    ];
    let peer = peers("store_sales_peers.py", &args)
        .map(|p| peer_rows(Some(&p)))
        .unwrap_or_default();
    let mut all = vec![ours.clone()];
    all.extend(peer.iter().cloned());
    print_table(&title, &all);
    if let Some(theirs) = peer.first() {
        println!(
            "weekly ETS: time {:.2}x statsforecast AutoETS, MASE {:.3}x",
            ours.1.seconds / theirs.1.seconds,
            ours.1.mase / theirs.1.mase
        );
    }
}
