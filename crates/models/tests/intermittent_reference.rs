//! Intermittent-demand models against statsforecast 2.1.1: `references/forecast/intermittent.json`
//! (made by `references/forecast/make_intermittent_fixtures.py`) holds eight seeded series —
//! intermittent, lumpy, smooth, erratic, dying, sparse, a single non-zero value, short with
//! real-valued sizes — and statsforecast's point forecasts of CrostonClassic, CrostonSBA,
//! CrostonOptimized, TSB (given αs, and αs from statsforecast's golden-section optimiser),
//! ADIDA and IMAPA, plus the Syntetos–Boylan statistics. Everything must agree to 1e-6
//! relative.

use recast_models::forecast::FittedModel;
use recast_models::forecast::intermittent::{Intermittent, Method, classify_demand};
use serde_json::Value;

mod common;
use common::floats;

const REL: f64 = 1e-6;

fn fixture() -> Value {
    serde_json::from_str(include_str!(
        "../../../references/forecast/intermittent.json"
    ))
    .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= REL * b.abs().max(1e-3)
}

fn method_of(key: &str) -> Method {
    match key {
        "croston_classic" => Method::CrostonClassic,
        "croston_sba" => Method::CrostonSba,
        "croston_optimized" => Method::CrostonOptimized,
        "tsb_0.2_0.1" => Method::Tsb {
            alpha_d: Some(0.2),
            alpha_p: Some(0.1),
        },
        "tsb_optimized" => Method::Tsb {
            alpha_d: None,
            alpha_p: None,
        },
        "adida" => Method::Adida,
        "imapa" => Method::Imapa,
        other => panic!("unknown fixture model {other}"),
    }
}

#[test]
fn point_forecasts_equal_statsforecast() {
    let fixture = fixture();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let y = floats(&case["series"]);
        let h = case["h"].as_u64().unwrap() as usize;
        for (key, want) in case["forecasts"].as_object().unwrap() {
            let want = floats(want);
            let got = Intermittent::fit(&y, method_of(key))
                .unwrap()
                .forecast(h, &[])
                .mean;
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!(close(*g, *w), "{name} {key}: got {g}, statsforecast {w}");
            }
        }
    }
}

#[test]
fn optimised_tsb_uses_statsforecasts_optimal_alphas() {
    for case in fixture()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let y = floats(&case["series"]);
        let alphas = floats(&case["tsb_alphas"]);
        let m = Intermittent::fit(
            &y,
            Method::Tsb {
                alpha_d: None,
                alpha_p: None,
            },
        )
        .unwrap();
        let p = m.params();
        let (a_d, a_p) = (
            p["alpha_d"].as_f64().unwrap(),
            p["alpha_p"].as_f64().unwrap(),
        );
        assert!(
            (a_d - alphas[0]).abs() < 1e-8,
            "{name}: alpha_d {a_d} vs {}",
            alphas[0]
        );
        assert!(
            (a_p - alphas[1]).abs() < 1e-8,
            "{name}: alpha_p {a_p} vs {}",
            alphas[1]
        );
    }
}

#[test]
fn demand_statistics_equal_numpy() {
    for case in fixture()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let p = classify_demand(&floats(&case["series"]));
        let (adi, cv2) = (case["adi"].as_f64().unwrap(), case["cv2"].as_f64().unwrap());
        assert!(
            (p.adi - adi).abs() < 1e-12 * adi.max(1.0),
            "{name}: ADI {} vs {adi}",
            p.adi
        );
        assert!(
            (p.cv2 - cv2).abs() < 1e-9 * cv2.max(1.0),
            "{name}: CV² {} vs {cv2}",
            p.cv2
        );
    }
}

#[test]
fn automatic_choice_follows_the_demand_class() {
    let fixture = fixture();
    let by_name = |n: &str| {
        let case = fixture["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap();
        floats(&case["series"])
    };
    let expect = [
        ("smooth", "croston_optimized"),
        ("erratic", "croston_sba"),
        ("intermittent", "croston_sba"),
        ("lumpy", "croston_sba"),
        // Intermittent by class, but 14 trailing zeros: demand may have stopped.
        ("dying", "tsb(opt,opt)"),
    ];
    for (name, label) in expect {
        let y = by_name(name);
        let m = Intermittent::auto(&y).unwrap();
        assert_eq!(m.method().label(), label, "{name}");
        let class = classify_demand(&y).class.as_str();
        assert!(m.notes()[0].contains(class), "{name}: {:?}", m.notes());
    }
}

#[test]
fn in_sample_predictions_equal_statsforecast_after_the_first_demand() {
    for case in fixture()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let y = floats(&case["series"]);
        let first = y.iter().position(|v| *v > 0.0).unwrap();
        for (key, want) in case["fitted"].as_object().unwrap() {
            let got = Intermittent::fit(&y, method_of(key)).unwrap().fitted();
            let want = want.as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{name} {key}");
            // Before the first demand there is nothing to predict from: statsforecast says 0,
            // we say undefined (NaN), so those periods do not count towards the intervals.
            assert!(got[..=first].iter().all(|v| v.is_nan()), "{name} {key}");
            for t in first + 1..y.len() {
                let w = want[t].as_f64().unwrap();
                assert!(
                    close(got[t], w),
                    "{name} {key} t={t}: got {}, statsforecast {w}",
                    got[t]
                );
            }
        }
    }
}
