//! Accuracy of our automatic ETS and ARIMA against statsforecast's AutoETS and AutoARIMA on
//! the same public series and the same hold-out splits (last 18 months / 8 quarters / 13
//! weeks), by MASE with seasonal-naive scaling; then the pooled default (`select: pooled`)
//! against statsforecast's best single model (of AutoETS, AutoARIMA, AutoTheta, AutoCES) and
//! its ETS-Theta-CES mean. The series were never used to tune the pooled rule (that was M3).
//!
//!     cargo bench --bench forecast_accuracy
//!     RECAST_ACCURACY_ONLY=AirPassengers cargo bench --bench forecast_accuracy
//!
//! statsforecast's numbers come from `references/forecast/accuracy.json`, written by
//! `references/forecast/compare_accuracy.py`; this binary needs no Python.

use std::time::Instant;

use recast::forecast::backtest::score;
use recast::forecast::select::{PooledConfig, SelectionMethod, select};
use recast::forecast::{Forecast, ModelSpec};
use serde_json::Value;

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/references/forecast/accuracy.json"
    );
    let data: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("accuracy.json")).unwrap();
    let only = std::env::var("RECAST_ACCURACY_ONLY").ok();
    println!(
        "{:<26} {:>3} {:>3} | {:>8} {:>8} | {:>8} {:>8} | {:>6} {:>6} | ours: chosen models",
        "series", "m", "h", "ETS", "sf ETS", "ARIMA", "sf ARIMA", "s ETS", "s ARI"
    );
    let mut sums = [0.0f64; 4];
    // The pooled default, statsforecast's AutoTheta, AutoCES and ETS-Theta-CES mean.
    let mut pooled_sums = [0.0f64; 4];
    let mut pooled_seconds = 0.0;
    let mut count = 0usize;
    for row in data["series"].as_array().unwrap() {
        let name = row["name"].as_str().unwrap();
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let m = row["season"].as_u64().unwrap() as usize;
        let h = row["horizon"].as_u64().unwrap() as usize;
        let y: Vec<f64> = row["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let (train, test) = y.split_at(y.len() - h);
        let run = |spec: ModelSpec| -> (f64, f64, String) {
            let t0 = Instant::now();
            match spec.fit(train, m) {
                Ok(model) => {
                    let fc: Forecast = model.forecast(h, &[]);
                    (
                        score(test, &fc, train, m).mase,
                        t0.elapsed().as_secs_f64(),
                        model.name(),
                    )
                }
                Err(e) => (f64::NAN, t0.elapsed().as_secs_f64(), format!("failed: {e}")),
            }
        };
        let (ets, ets_s, ets_name) = run(ModelSpec::AutoEts);
        let (arima, arima_s, arima_name) = run(ModelSpec::AutoArima);
        let pooled_t0 = Instant::now();
        let pooled = select(
            train,
            m,
            &SelectionMethod::Pooled(PooledConfig::for_season(h, m)),
        )
        .map(|sel| score(test, &sel.model.forecast(h, &[]), train, m).mase)
        .unwrap_or(f64::NAN);
        pooled_seconds += pooled_t0.elapsed().as_secs_f64();
        let sf = |key: &str| row[key]["mase"].as_f64().unwrap_or(f64::NAN);
        for (s, v) in pooled_sums.iter_mut().zip([
            pooled,
            sf("statsforecast_auto_theta"),
            sf("statsforecast_auto_ces"),
            sf("statsforecast_mean_ets_theta_ces"),
        ]) {
            *s += v;
        }
        let sf_ets = row["statsforecast_auto_ets"]["mase"].as_f64().unwrap();
        let sf_arima = row["statsforecast_auto_arima"]["mase"].as_f64().unwrap();
        println!(
            "{name:<26} {m:>3} {h:>3} | {ets:>8.3} {sf_ets:>8.3} | {arima:>8.3} {sf_arima:>8.3} | {ets_s:>6.1} {arima_s:>6.1} | {ets_name}; {arima_name} | statsforecast: {}; {}",
            row["statsforecast_auto_ets"]["model"]
                .as_str()
                .unwrap_or("?"),
            row["statsforecast_auto_arima"]["model"]
                .as_str()
                .unwrap_or("?")
                .trim()
        );
        for (s, v) in sums.iter_mut().zip([ets, sf_ets, arima, sf_arima]) {
            *s += v;
        }
        count += 1;
    }
    let n = count as f64;
    println!(
        "mean MASE over {count} series: ours ETS {:.3} vs statsforecast AutoETS {:.3}; ours ARIMA {:.3} vs statsforecast AutoARIMA {:.3}",
        sums[0] / n,
        sums[1] / n,
        sums[2] / n,
        sums[3] / n
    );
    let sf_singles = [
        ("AutoETS", sums[1] / n),
        ("AutoARIMA", sums[3] / n),
        ("AutoTheta", pooled_sums[1] / n),
        ("AutoCES", pooled_sums[2] / n),
    ];
    let best = sf_singles
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("four models");
    let (pooled, sf_mean) = (pooled_sums[0] / n, pooled_sums[3] / n);
    println!(
        "pooled default {pooled:.3} ({pooled_seconds:.1} s) vs statsforecast's best single ({}) \
         {:.3} = {:.3}; vs its mean(ETS, Theta, CES) {sf_mean:.3} = {:.3}; AutoTheta {:.3}, \
         AutoCES {:.3}",
        best.0,
        best.1,
        pooled / best.1,
        pooled / sf_mean,
        sf_singles[2].1,
        sf_singles[3].1
    );
}
