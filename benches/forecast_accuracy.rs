//! Accuracy of our automatic ETS and ARIMA against statsforecast's AutoETS and AutoARIMA on
//! the same public series and the same hold-out splits (last 18 months / 8 quarters / 13
//! weeks), by MASE with seasonal-naive scaling.
//!
//!     cargo bench --bench forecast_accuracy
//!     RECAST_ACCURACY_ONLY=AirPassengers cargo bench --bench forecast_accuracy
//!
//! statsforecast's numbers come from `references/forecast/accuracy.json`, written by
//! `references/forecast/compare_accuracy.py`; this binary needs no Python.

use std::time::Instant;

use recast::forecast::backtest::score;
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
}
