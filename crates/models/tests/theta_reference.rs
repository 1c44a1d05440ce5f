//! Theta family against statsforecast 2.1.1: `references/forecast/theta.json` (made by
//! `references/forecast/make_theta_fixtures.py`) holds AirPassengers (multiplicatively and
//! additively seasonal), M3 quarterly, yearly and other series with statsforecast's AutoTheta
//! choice and forecasts and the point forecasts of each of STM, OTM, DSTM and DOTM.
//!
//! Point forecasts must agree to 1e-6 relative (they agree to rounding: the Nelder–Mead search
//! is the reference's). Intervals are ours (analytic, see the module doc) against
//! statsforecast's 200 simulated paths, so they are compared loosely: each half-width within
//! 25 % of statsforecast's. Additively adjusted cases are left out of that check: statsforecast
//! adds the seasonal component to the residuals before taking their standard deviation, which
//! widens its intervals by the seasonal amplitude; ours use the adjusted-scale residuals.

use recast_models::forecast::FittedModel;
use recast_models::forecast::theta::{Theta, ThetaModel};
use serde_json::Value;

mod common;
use common::{assert_close, floats, seasonal_case};

const REL: f64 = 1e-6;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../../references/forecast/theta.json")).unwrap()
}

fn model_of(code: &str) -> ThetaModel {
    ThetaModel::ALL
        .into_iter()
        .find(|m| m.code() == code)
        .unwrap()
}

#[test]
fn auto_theta_matches_statsforecast_choice_and_point_forecasts() {
    for case in fixture()["cases"].as_array().unwrap() {
        let (name, y, m, h) = seasonal_case(case);
        let auto = &case["auto"];
        let fit = Theta::auto(&y, m).unwrap();
        let p = fit.params();
        assert_eq!(p["model"], auto["model"], "{name}: chosen model");
        let decomposition = auto["decomposition_type"].as_str().unwrap_or("none");
        assert_eq!(p["decomposition"], decomposition, "{name}: decomposition");
        let f = fit.forecast(h, &[80.0, 95.0]);
        assert_close(
            &format!("{name} AutoTheta"),
            &f.mean,
            &floats(&auto["mean"]),
            REL,
        );
    }
}

#[test]
fn each_theta_model_matches_statsforecast_point_forecasts() {
    for case in fixture()["cases"].as_array().unwrap() {
        let (name, y, m, h) = seasonal_case(case);
        for (code, want) in case["models"].as_object().unwrap() {
            let fit = Theta::fit(&y, m, model_of(code)).unwrap();
            let f = fit.forecast(h, &[]);
            assert_close(&format!("{name} {code}"), &f.mean, &floats(want), REL);
        }
    }
}

#[test]
fn theta_intervals_are_close_to_statsforecast_simulated_ones() {
    for case in fixture()["cases"].as_array().unwrap() {
        let (name, y, m, h) = seasonal_case(case);
        let auto = &case["auto"];
        if auto["decomposition_type"] == "additive" {
            continue;
        }
        let f = Theta::auto(&y, m).unwrap().forecast(h, &[80.0, 95.0]);
        for level in [80, 95] {
            let lo = floats(&auto[format!("lo{level}")]);
            let hi = floats(&auto[format!("hi{level}")]);
            let i = f.interval(level as f64).unwrap();
            for s in 0..h {
                let want = (hi[s] - lo[s]) / 2.0;
                let got = (i.upper[s] - i.lower[s]) / 2.0;
                assert!(
                    (got / want - 1.0).abs() < 0.25,
                    "{name} {level}% step {}: half-width {got} vs statsforecast {want}",
                    s + 1
                );
                assert!(i.lower[s] <= f.mean[s] && f.mean[s] <= i.upper[s]);
            }
        }
    }
}
