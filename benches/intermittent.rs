//! Intermittent demand: recast's automatic choice by demand class next to statsforecast's
//! Croston (classic, SBA, optimised), TSB, ADIDA and IMAPA on the same sparse series, in the
//! same run, scored by the same code.
//!
//!     cargo bench --bench intermittent
//!     RECAST_PYTHON=/root/.venvs/recast-fc/bin/python cargo bench --bench intermittent
//!
//! Series: the demo world's item x store daily sales (5,000 items, 20 stores, a year, so the
//! long tail sells rarely per store; `RECAST_BENCH_ITEMS`, `RECAST_BENCH_STORES`, a different
//! seed with `RECAST_BENCH_SEED`), kept when at least half of the training days
//! sold nothing and at least 5 did sell. The last 28 days are held out. Scores: MAE, RMSE and
//! MASE (MAE over the training part's mean absolute day-to-day change), means over series.
//! statsforecast runs in a child process (`references/forecast/intermittent_peers.py`, the
//! environment of `references/forecast/requirements.txt`); without it only recast's rows print.

#[path = "common/knobs.rs"]
mod knobs;
use knobs::{env_or, peer_python};

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDate;
use rayon::prelude::*;
use recast::demo::DemoConfig;
use recast::forecast::intermittent::classify_demand;
use recast::forecast::{Forecast, ModelSpec, backtest};

const HORIZON: usize = 28;

/// Item x store daily quantities, zero-filled, keyed `item/store`.
fn demo_series(seed: u64) -> BTreeMap<String, Vec<f64>> {
    let mut config = DemoConfig::new(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
    config.seed = seed;
    config.items = env_or("RECAST_BENCH_ITEMS", 5_000);
    config.stores = env_or("RECAST_BENCH_STORES", 20);
    let world = recast::demo::build(&config);
    let first = config.sales_first_day();
    let days = (config.end - first).num_days() as usize + 1;
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &world.sales.rows {
        let y = series
            .entry(format!("{}/{}", r.item, r.store))
            .or_insert_with(|| vec![0.0; days]);
        y[(r.date - first).num_days() as usize] += f64::from(r.quantity);
    }
    series
}

fn sparse(y: &[f64]) -> bool {
    let train = &y[..y.len() - HORIZON];
    let sold = train.iter().filter(|v| **v > 0.0).count();
    sold >= 5 && sold * 2 <= train.len()
}

/// One table row: the model, its mean scores and the seconds it took.
type Row = (String, Score, f64);

#[derive(Default, Clone, Copy)]
struct Score {
    mae: f64,
    rmse: f64,
    mase: f64,
}

/// The backtests' own scoring (`forecast::backtest::score`), with the naive (lag 1) MASE
/// scale: a daily season would compare against last week's zeros.
fn score(train: &[f64], test: &[f64], forecast: &[f64]) -> Score {
    let forecast = Forecast {
        mean: forecast.to_vec(),
        intervals: Vec::new(),
    };
    let m = backtest::score(test, &forecast, train, 1);
    Score {
        mae: m.mae,
        rmse: m.rmse,
        mase: m.mase,
    }
}

fn mean(scores: &[Score]) -> Score {
    let n = scores.len() as f64;
    let finite: Vec<f64> = scores
        .iter()
        .map(|s| s.mase)
        .filter(|m| m.is_finite())
        .collect();
    Score {
        mae: scores.iter().map(|s| s.mae).sum::<f64>() / n,
        rmse: scores.iter().map(|s| s.rmse).sum::<f64>() / n,
        mase: finite.iter().sum::<f64>() / finite.len() as f64,
    }
}

fn recast_rows(series: &BTreeMap<String, Vec<f64>>) -> Vec<Row> {
    let specs = [
        ("recast auto (by demand class)", ModelSpec::AutoIntermittent),
        ("recast Croston", ModelSpec::CrostonClassic),
        ("recast SBA", ModelSpec::CrostonSba),
        ("recast Croston optimised", ModelSpec::CrostonOptimized),
        (
            "recast TSB (optimised)",
            ModelSpec::Tsb {
                alpha_d: None,
                alpha_p: None,
            },
        ),
        ("recast ADIDA", ModelSpec::Adida),
        ("recast IMAPA", ModelSpec::Imapa),
    ];
    specs
        .iter()
        .map(|(name, spec)| {
            let started = Instant::now();
            let scores: Vec<Score> = series
                .par_iter()
                .map(|(_, y)| {
                    let (train, test) = y.split_at(y.len() - HORIZON);
                    let f = spec.fit(train, 7).expect("fits").forecast(HORIZON, &[]);
                    score(train, test, &f.mean)
                })
                .collect();
            (
                name.to_string(),
                mean(&scores),
                started.elapsed().as_secs_f64(),
            )
        })
        .collect()
}

fn peer_rows(series: &BTreeMap<String, Vec<f64>>) -> Result<(String, Vec<Row>), String> {
    let python = peer_python();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/references/forecast/intermittent_peers.py"
    );
    let mut csv = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    writeln!(csv, "unique_id,ds,y").map_err(|e| e.to_string())?;
    for (id, y) in series {
        for (t, v) in y[..y.len() - HORIZON].iter().enumerate() {
            writeln!(csv, "{id},{t},{v}").map_err(|e| e.to_string())?;
        }
    }
    let out = Command::new(&python)
        .arg(script)
        .arg(csv.path())
        .arg(HORIZON.to_string())
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let forecasts = v["forecasts"].as_object().ok_or("no forecasts")?;
    let mut rows = Vec::new();
    for (model, by_id) in forecasts {
        let scores: Vec<Score> = series
            .iter()
            .map(|(id, y)| {
                let (train, test) = y.split_at(y.len() - HORIZON);
                let f: Vec<f64> = by_id[id]
                    .as_array()
                    .expect("a forecast per series")
                    .iter()
                    .map(|x| x.as_f64().unwrap_or(f64::NAN))
                    .collect();
                score(train, test, &f)
            })
            .collect();
        let seconds = v["seconds"][model].as_f64().unwrap_or(f64::NAN);
        rows.push((format!("statsforecast {model}"), mean(&scores), seconds));
    }
    Ok((v["version"].as_str().unwrap_or("?").to_string(), rows))
}

fn main() {
    let seed = env_or("RECAST_BENCH_SEED", 42) as u64;
    let all = demo_series(seed);
    let total = all.len();
    let series: BTreeMap<String, Vec<f64>> = all.into_iter().filter(|(_, y)| sparse(y)).collect();
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    for y in series.values() {
        let class = classify_demand(&y[..y.len() - HORIZON]).class;
        *classes.entry(format!("{class:?}")).or_default() += 1;
    }
    println!(
        "intermittent: {} sparse item x store series of {} in the demo world (seed {seed}), horizon {HORIZON} days; classes {classes:?}",
        series.len(),
        total
    );
    let ours = recast_rows(&series);
    let peers = peer_rows(&series);
    println!("| model | mean MAE | mean RMSE | mean MASE | seconds |");
    println!("|---|---|---|---|---|");
    let print = |(name, s, secs): &Row| {
        println!(
            "| {name} | {:.4} | {:.4} | {:.4} | {secs:.2} |",
            s.mae, s.rmse, s.mase
        );
    };
    ours.iter().for_each(print);
    match &peers {
        Ok((version, rows)) => {
            rows.iter().for_each(print);
            let best = rows
                .iter()
                .min_by(|a, b| a.1.mase.total_cmp(&b.1.mase))
                .expect("peer rows");
            println!(
                "recast auto / best statsforecast ({}, statsforecast {version}) mean MASE: {:.3}",
                best.0,
                ours[0].1.mase / best.1.mase
            );
        }
        Err(e) => println!("statsforecast not run: {e}"),
    }
}
