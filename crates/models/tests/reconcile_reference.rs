//! Forecast reconciliation against hierarchicalforecast 1.5.3:
//! `references/forecast/reconcile.json` (made by
//! `references/forecast/make_reconcile_fixtures.py`) holds a seeded 2 stores × 3 items
//! hierarchy (total, item totals, store totals, bottoms) with incoherent base forecasts,
//! history and in-sample residuals, once with T = 48 periods and once with T = 6 (where the
//! sample covariance is singular and only shrinkage makes MinT usable), and
//! hierarchicalforecast's BottomUp, TopDown (average_proportions, proportion_averages) and
//! MinTrace (ols, wls_struct, wls_var, mint_shrink) results.
//!
//! Reconciled forecasts must agree to 1e-6 relative (they agree to ~1e-9: hierarchicalforecast
//! adds a 2e-8 ridge to its variances, we do not).

use recast_models::forecast::reconcile::{
    COHERENCE_TOLERANCE, Hierarchy, Insample, MinTraceCovariance, Proportions, Reconciliation,
    reconcile,
};
use serde_json::Value;

mod common;
use common::{assert_close, floats};

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../../references/forecast/reconcile.json")).unwrap()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(floats).collect()
}

fn hierarchy(case: &Value) -> Hierarchy {
    let bottom = case["bottom"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect();
    let aggregates = case["aggregates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let members = a["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_u64().unwrap() as usize)
                .collect();
            (a["id"].as_str().unwrap().to_string(), members)
        })
        .collect();
    Hierarchy::new(bottom, aggregates).unwrap()
}

fn methods() -> Vec<(&'static str, Reconciliation)> {
    use MinTraceCovariance::*;
    use Proportions::*;
    vec![
        ("bottom_up", Reconciliation::BottomUp),
        (
            "top_down_average_proportions",
            Reconciliation::TopDown {
                proportions: AverageHistoricalProportions,
            },
        ),
        (
            "top_down_proportion_averages",
            Reconciliation::TopDown {
                proportions: ProportionsOfHistoricalAverages,
            },
        ),
        (
            "min_trace_ols",
            Reconciliation::MinTrace { covariance: Ols },
        ),
        (
            "min_trace_wls_struct",
            Reconciliation::MinTrace {
                covariance: WlsStruct,
            },
        ),
        (
            "min_trace_wls_var",
            Reconciliation::MinTrace { covariance: WlsVar },
        ),
        (
            "min_trace_mint_shrink",
            Reconciliation::MinTrace {
                covariance: MinTShrink,
            },
        ),
    ]
}

#[test]
fn summing_matrix_matches_the_reference() {
    for case in fixture()["cases"].as_array().unwrap() {
        assert_eq!(hierarchy(case).summing_matrix(), rows(&case["S"]));
    }
}

#[test]
fn every_method_matches_hierarchicalforecast() {
    for case in fixture()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let h = hierarchy(case);
        let base = rows(&case["base"]);
        let history = rows(&case["history"]);
        let residuals = rows(&case["residuals"]);
        let insample = Insample {
            history: Some(&history),
            residuals: Some(&residuals),
        };
        for (key, method) in methods() {
            let got = reconcile(&h, method, &base, insample).unwrap();
            assert!(got.notes.is_empty(), "{name} {key}: {:?}", got.notes);
            assert!(h.is_coherent(&got.forecasts, COHERENCE_TOLERANCE));
            let want = rows(&case["reconciled"][key]);
            for (node, (g, w)) in got.forecasts.iter().zip(&want).enumerate() {
                assert_close(&format!("{name} {key} node {node}"), g, w, 1e-6);
            }
        }
    }
}

#[test]
fn shrinkage_intensity_matches_the_reference_covariance() {
    for case in fixture()["cases"].as_array().unwrap() {
        let h = hierarchy(case);
        let base = rows(&case["base"]);
        let residuals = rows(&case["residuals"]);
        let w = rows(&case["mint_shrink_covariance"]);
        // hierarchicalforecast's W keeps the sample covariance's diagonal and scales the rest by
        // 1 − λ: read λ off one off-diagonal entry and the sample covariance.
        let t = residuals[0].len() as f64;
        let centred: Vec<Vec<f64>> = residuals
            .iter()
            .map(|r| {
                let m = r.iter().sum::<f64>() / t;
                r.iter().map(|v| v - m).collect()
            })
            .collect();
        let cov01: f64 = centred[0]
            .iter()
            .zip(&centred[1])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / (t - 1.0);
        let want = 1.0 - w[0][1] / cov01;
        let got = reconcile(
            &h,
            Reconciliation::MinTrace {
                covariance: MinTraceCovariance::MinTShrink,
            },
            &base,
            Insample {
                history: None,
                residuals: Some(&residuals),
            },
        )
        .unwrap()
        .shrinkage
        .unwrap();
        assert!((got - want).abs() < 1e-7, "λ {got} vs {want}");
    }
}
