//! Complex exponential smoothing against statsforecast 2.1.1: `references/forecast/ces.json`
//! (made by `references/forecast/make_ces_fixtures.py`) holds AirPassengers and M3
//! quarterly, yearly and other series with AutoCES's choice, AICc, point forecasts and bands, and
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

#[test]
fn auto_ces_bands_match_statsforecasts_simulation() {
    // Both simulate 5 000 paths with their own random numbers, so the bounds agree to Monte
    // Carlo error: within 5 % of statsforecast's band width at every step (the old σ√h rule
    // was several times wider by the last step of AirPassengers).
    for case in fixture()["cases"].as_array().unwrap() {
        let (name, y, m, h) = seasonal_case(case);
        let auto = &case["auto"];
        let fc = Ces::auto(&y, m).unwrap().forecast(h, &[80.0, 95.0]);
        for level in [80, 95] {
            let band = fc.interval(f64::from(level)).unwrap();
            let lo = floats(&auto[format!("lo_{level}")]);
            let hi = floats(&auto[format!("hi_{level}")]);
            for k in 0..h {
                let tol = 0.05 * (hi[k] - lo[k]);
                let (dl, du) = (band.lower[k] - lo[k], band.upper[k] - hi[k]);
                assert!(
                    dl.abs() <= tol && du.abs() <= tol,
                    "{name} {level}% step {}: [{}, {}] vs [{}, {}]",
                    k + 1,
                    band.lower[k],
                    band.upper[k],
                    lo[k],
                    hi[k]
                );
            }
        }
    }
}
