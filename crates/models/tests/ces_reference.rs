//! Complex exponential smoothing against statsforecast 2.1.1: `references/forecast/ces.json`
//! (made by `references/forecast/make_ces_fixtures.py`) holds AirPassengers and M3
//! quarterly, yearly and other series with AutoCES's choice, AICc and point forecasts, and
//! every single model's (N, S, P, F) AICc and point forecasts.
//!
//! Point forecasts must agree to 1e-6 relative and AICc to 1e-9 relative (they agree to rounding:
//! the Nelder–Mead search is the reference's, so is the backcasting).

use recast_models::forecast::FittedModel;
use recast_models::forecast::ces::{Ces, CesSeason};
use serde_json::Value;

mod common;
use common::{assert_close, floats, seasonal_case};

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../../references/forecast/ces.json")).unwrap()
}

fn season_of(code: &str) -> CesSeason {
    CesSeason::ALL
        .into_iter()
        .find(|s| s.code() == code)
        .unwrap()
}

#[test]
fn each_ces_model_matches_statsforecast() {
    for case in fixture()["cases"].as_array().unwrap() {
        let (name, y, m, h) = seasonal_case(case);
        for (code, want) in case["models"].as_object().unwrap() {
            let fit = Ces::fit(&y, m, season_of(code)).unwrap();
            let label = format!("{name} CES({code})");
            let aicc = want["aicc"].as_f64().unwrap();
            let got = fit.aicc().unwrap();
            assert!(
                (got - aicc).abs() <= 1e-9 * aicc.abs(),
                "{label}: AICc {got} vs {aicc}"
            );
            assert_close(
                &label,
                &fit.forecast(h, &[]).mean,
                &floats(&want["mean"]),
                1e-4,
            );
        }
    }
}

#[test]
fn auto_ces_matches_statsforecast_choice_and_forecasts() {
    for case in fixture()["cases"].as_array().unwrap() {
        let (name, y, m, h) = seasonal_case(case);
        let auto = &case["auto"];
        let fit = Ces::auto(&y, m).unwrap();
        assert_eq!(fit.params()["season_type"], auto["model"], "{name}");
        assert_close(
            &format!("{name} AutoCES"),
            &fit.forecast(h, &[]).mean,
            &floats(&auto["mean"]),
            1e-6,
        );
    }
}
