//! What the reference tests share: reading fixture arrays and comparing forecasts.
#![allow(dead_code)] // each test binary uses part of it

use serde_json::Value;

/// A JSON array of numbers.
pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Every step of `got` within `rel` (relative, at least absolute for values below 1) of the
/// reference's `want`; the message names the case and the step.
pub fn assert_close(name: &str, got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tol,
            "{name} step {}: got {g}, reference {w} (|diff| {} > {tol})\n got {got:?}\nwant {want:?}",
            i + 1,
            (g - w).abs()
        );
    }
}

/// A seasonal fixture case: its name, series, season and horizon.
pub fn seasonal_case(case: &Value) -> (&str, Vec<f64>, usize, usize) {
    (
        case["name"].as_str().unwrap(),
        floats(&case["series"]),
        case["season"].as_u64().unwrap() as usize,
        case["h"].as_u64().unwrap() as usize,
    )
}
