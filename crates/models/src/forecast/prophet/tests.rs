use super::*;
use crate::forecast::ModelSpec;

/// Daily series from day 18_000 (2019-04-14): trend with a slope change, weekly and yearly
/// cycles, a holiday lift and deterministic noise.
fn daily(n: usize) -> (Vec<f64>, Vec<Holiday>) {
    let mut noise = crate::forecast::test_noise(3);
    let holidays: Vec<Holiday> = (0..n / 90)
        .map(|j| Holiday {
            name: "sale".into(),
            day: 18_000 + 45 + 90 * j as i64,
            lower_window: 0,
            upper_window: 1,
            prior_scale: None,
        })
        .collect();
    let y = (0..n)
        .map(|i| {
            let day = 18_000.0 + i as f64;
            let trend = 100.0 + 0.1 * i as f64 - 0.15 * (i as f64 - 400.0).max(0.0);
            let weekly = 8.0 * (2.0 * std::f64::consts::PI * day / 7.0).sin();
            let yearly = 15.0 * (2.0 * std::f64::consts::PI * day / 365.25).cos();
            let lift = if holidays
                .iter()
                .any(|h| (h.day..=h.day + 1).contains(&(18_000 + i as i64)))
            {
                30.0
            } else {
                0.0
            };
            trend + weekly + yearly + lift + 3.0 * noise()
        })
        .collect();
    (y, holidays)
}

#[test]
fn a_planted_trend_change_seasonality_and_holiday_are_recovered() {
    let (y, holidays) = daily(800);
    let spec = ProphetSpec {
        holidays,
        ..ProphetSpec::new(1.0, 18_000.0)
    };
    let m = Prophet::fit(&y, &spec).unwrap();
    assert_eq!(
        m.name(),
        "Prophet(25 changepoints, yearly+weekly, holidays)"
    );
    // The holiday columns carry the 30-unit lift (on the scaled data).
    let lift: Vec<f64> = m
        .betas()
        .into_iter()
        .filter(|(n, _)| n.starts_with("sale_"))
        .map(|(_, b)| b * m.y_scale)
        .collect();
    assert_eq!(lift.len(), 2);
    assert!(lift.iter().all(|b| (b - 30.0).abs() < 3.0), "{lift:?}");
    assert!(
        (m.sigma() - 3.0 / 12f64.sqrt()).abs() < 0.2,
        "{}",
        m.sigma()
    );
    // Most changepoints are exactly zero; the real change is found.
    let (_, _, delta) = m.trend();
    assert!(
        delta.iter().filter(|d| **d == 0.0).count() >= 15,
        "{delta:?}"
    );
    // The forecast follows the new slope (−0.05 a day) and the cycles.
    let fc = m.forecast(28, &[80.0, 95.0]);
    for (s, v) in fc.mean.iter().enumerate() {
        let i = 800 + s;
        let day = 18_000.0 + i as f64;
        let truth = 100.0 + 0.1 * i as f64 - 0.15 * (i as f64 - 400.0)
            + 8.0 * (2.0 * std::f64::consts::PI * day / 7.0).sin()
            + 15.0 * (2.0 * std::f64::consts::PI * day / 365.25).cos();
        assert!((v - truth).abs() < 4.0, "step {s}: {v} vs {truth}");
    }
    let i80 = fc.interval(80.0).unwrap();
    let i95 = fc.interval(95.0).unwrap();
    for s in 0..28 {
        assert!(i95.lower[s] < i80.lower[s] && i80.lower[s] < fc.mean[s]);
        assert!(i95.upper[s] > i80.upper[s] && i80.upper[s] > fc.mean[s]);
    }
    // The forecast splits into trend, seasonalities and holidays that add up to it.
    let parts = m.components(28).unwrap();
    let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["trend", "yearly", "weekly", "holidays"]);
    for s in 0..28 {
        let sum: f64 = parts.iter().map(|(_, v)| v[s]).sum();
        assert!((sum - fc.mean[s]).abs() < 1e-9, "step {s}");
    }
    // Far out, the simulated slope changes widen the band beyond the noise's.
    let far = m.forecast(365, &[80.0]);
    let far = far.interval(80.0).unwrap();
    assert!(far.upper[364] - far.lower[364] > 1.5 * (far.upper[0] - far.lower[0]));
}

#[test]
fn regressors_are_scaled_fitted_and_held_or_given_over_the_horizon() {
    let n = 300;
    let price: Vec<f64> = (0..n).map(|i| 2.0 + ((i / 10) % 3) as f64 * 0.5).collect();
    let promo: Vec<f64> = (0..n).map(|i| ((i % 9) == 0) as u8 as f64).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| 50.0 - 10.0 * price[i] + 12.0 * promo[i] + (i % 7) as f64)
        .collect();
    let names = vec!["price".to_string(), "promo".to_string()];
    let x: Vec<f64> = (0..n).flat_map(|i| [price[i], promo[i]]).collect();
    let regs = Regressors {
        names: &names,
        x: &x,
        future: &[2.5, 0.0],
    };
    let m = Prophet::fit_with(&y, &ProphetSpec::new(1.0, 19_000.0), Some(regs)).unwrap();
    let scales = &m.layout().regressors;
    assert!(scales[0].std > 0.0 && scales[0].mean > 2.0, "{scales:?}");
    assert_eq!((scales[1].mean, scales[1].std), (0.0, 1.0), "binary: as is");
    let held = m.forecast(3, &[80.0]);
    let planned = m
        .forecast_with(&[2.5, 1.0, 2.5, 0.0, 2.5, 0.0], 3, &[80.0])
        .unwrap();
    assert!((planned.mean[0] - held.mean[0] - 12.0).abs() < 1.0);
    assert!((planned.mean[1] - held.mean[1]).abs() < 1e-9);
    assert!(m.forecast_with(&[1.0], 3, &[80.0]).is_err());
}

#[test]
fn the_spec_round_trips_checks_its_values_and_fits_through_model_spec() {
    let spec = ModelSpec::Prophet(ProphetSpec::new(7.0, 18_004.0));
    let text = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<ModelSpec>(&text).unwrap(), spec);
    let y: Vec<f64> = (0..120).map(|i| 10.0 + (i % 52) as f64).collect();
    let m = spec.fit(&y, 52).unwrap();
    assert!(m.name().starts_with("Prophet("), "{}", m.name());
    assert_eq!(m.forecast(13, &[80.0]).mean.len(), 13);
    assert!(m.notes().is_empty(), "{:?}", m.notes());
    // Yearly data: yearly terms are left out with a note.
    let yearly = ProphetSpec::new(365.25, 0.0);
    let m = Prophet::fit(&[1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 7.0, 6.5], &yearly).unwrap();
    assert!(
        m.notes()
            .iter()
            .any(|n| n.contains("yearly seasonality off"))
    );
    let bad = ProphetSpec {
        changepoint_range: 1.5,
        ..ProphetSpec::new(1.0, 0.0)
    };
    assert!(Prophet::fit(&[1.0, 2.0, 3.0], &bad).is_err());
    assert!(Prophet::fit(&[1.0], &ProphetSpec::new(1.0, 0.0)).is_err());
}

#[test]
fn a_season_that_grows_with_the_trend_is_fitted_by_the_multiplicative_mode() {
    // Weekly swing of ±30 % around a level that triples over the history.
    let truth = |i: usize| {
        let day = 19_000.0 + i as f64;
        (40.0 + 0.2 * i as f64) * (1.0 + 0.3 * (2.0 * std::f64::consts::PI * day / 7.0).sin())
    };
    let y: Vec<f64> = (0..400).map(truth).collect();
    let spec = |mode| ProphetSpec {
        mode,
        seasonalities: Some(vec![Seasonality {
            name: "weekly".into(),
            period: 7.0,
            order: 3,
            prior_scale: 10.0,
            condition: None,
        }]),
        ..ProphetSpec::new(1.0, 19_000.0)
    };
    let mult = Prophet::fit(&y, &spec(Mode::Multiplicative)).unwrap();
    let add = Prophet::fit(&y, &spec(Mode::Additive)).unwrap();
    let error = |m: &Prophet| {
        let fc = m.forecast(28, &[80.0]);
        (0..28)
            .map(|s| (fc.mean[s] - truth(400 + s)).abs())
            .sum::<f64>()
            / 28.0
    };
    assert!(error(&mult) < 0.5, "multiplicative: {}", error(&mult));
    let fc = mult.forecast(7, &[80.0]);
    let parts = mult.components(7).unwrap();
    for s in 0..7 {
        let sum: f64 = parts.iter().map(|(_, v)| v[s]).sum();
        assert!((sum - fc.mean[s]).abs() < 1e-9, "step {s}");
    }
    assert!(
        error(&add) > 3.0 * error(&mult),
        "additive {} vs {}",
        error(&add),
        error(&mult)
    );
    let text = serde_json::to_string(&ModelSpec::Prophet(spec(Mode::Multiplicative))).unwrap();
    assert!(text.contains("\"mode\":\"multiplicative\""), "{text}");
    let additive = serde_json::to_string(&ModelSpec::Prophet(spec(Mode::Additive))).unwrap();
    assert!(
        !additive.contains("mode"),
        "the default is left out: {additive}"
    );
}

#[test]
fn a_conditional_seasonality_acts_only_where_its_condition_holds() {
    // A weekly swing of ±20 on "season" days only (every other fortnight), none elsewhere.
    let on = |i: usize| if (i / 14).is_multiple_of(2) { 1.0 } else { 0.0 };
    let swing = |i: usize| 20.0 * (2.0 * std::f64::consts::PI * (19_000 + i) as f64 / 7.0).sin();
    let truth = |i: usize| 100.0 + on(i) * swing(i);
    let y: Vec<f64> = (0..364).map(truth).collect();
    let names = vec!["season".to_string()];
    let x: Vec<f64> = (0..364).map(on).collect();
    let weekly_in_season = Seasonality {
        name: "weekly_season".into(),
        period: 7.0,
        order: 3,
        prior_scale: 10.0,
        condition: Some("season".into()),
    };
    let spec = ProphetSpec {
        seasonalities: Some(Vec::new()),
        extra_seasonalities: vec![weekly_in_season],
        ..ProphetSpec::new(1.0, 19_000.0)
    };
    let regs = |x| Regressors {
        names: &names,
        x,
        future: &[0.0],
    };
    let m = Prophet::fit_with(&y, &spec, Some(regs(&x))).unwrap();
    // Two weeks in season, then two out: the swing comes and goes with the condition.
    let future: Vec<f64> = (364..392).map(on).collect();
    let fc = m.forecast_with(&future, 28, &[80.0]).unwrap();
    for (s, v) in fc.mean.iter().enumerate() {
        assert!(
            (v - truth(364 + s)).abs() < 1.0,
            "step {s}: {v} vs {}",
            truth(364 + s)
        );
    }
    // The design order is prophet's: the added seasonality first.
    assert!(m.betas()[0].0.starts_with("weekly_season"));

    // Without its condition among the regressors the seasonality is left out, with a note.
    let plain = Prophet::fit(&y, &spec).unwrap();
    assert!(
        plain
            .betas()
            .iter()
            .all(|(n, _)| !n.starts_with("weekly_season"))
    );
    assert!(
        plain
            .notes()
            .iter()
            .any(|n| n.contains("condition `season`")),
        "{:?}",
        plain.notes()
    );
    // A condition that is not 0/1 is refused, naming it.
    let scaled: Vec<f64> = x.iter().map(|v| v * 2.0).collect();
    let err = Prophet::fit_with(&y, &spec, Some(regs(&scaled))).unwrap_err();
    assert!(err.to_string().contains("`season` must be 0 or 1"), "{err}");
}

#[test]
fn a_logistic_trend_saturates_at_its_cap_where_a_linear_one_runs_on() {
    // Adoption rising from 100 toward 1,000 (the midpoint at day 300), with a weekly cycle.
    let truth = |i: usize| {
        let day = 19_000.0 + i as f64;
        let s = 1.0 / (1.0 + (-(i as f64 - 300.0) / 60.0).exp());
        100.0 + 900.0 * s + 20.0 * (2.0 * std::f64::consts::PI * day / 7.0).sin()
    };
    let mut noise = crate::forecast::test_noise(5);
    let y: Vec<f64> = (0..420).map(|i| truth(i) + 5.0 * noise()).collect();
    let logistic = ProphetSpec {
        growth: Growth::Logistic,
        cap: Some(1_000.0),
        floor: Some(100.0),
        ..ProphetSpec::new(1.0, 19_000.0)
    };
    let m = Prophet::fit(&y, &logistic).unwrap();
    assert!(m.name().contains("logistic"), "{}", m.name());
    let fc = m.forecast(180, &[80.0]);
    let last = fc.mean[179];
    // Half a year on, the truth is within 0.1 % of its cap; the fit stays under it.
    assert!((last - truth(599)).abs() < 25.0, "{last} vs {}", truth(599));
    let band = fc.interval(80.0).unwrap();
    assert!(band.upper[179] < 1_000.0 + 60.0, "{}", band.upper[179]);
    let linear = Prophet::fit(&y, &ProphetSpec::new(1.0, 19_000.0)).unwrap();
    assert!(linear.forecast(180, &[80.0]).mean[179] > last + 50.0);
    // The trend part of the components is the curve between floor and cap.
    let parts = m.components(180).unwrap();
    let trend = &parts[0].1;
    assert!(
        trend.iter().all(|t| *t > 100.0 && *t < 1_000.0),
        "{trend:?}"
    );
    assert!(trend.windows(2).all(|w| w[1] >= w[0] - 1e-9));
}

#[test]
fn logistic_growth_needs_a_cap_above_its_floor_and_other_trends_take_none() {
    let y = [1.0, 2.0, 3.0, 4.0, 5.0];
    let with = |growth: Growth, cap: Option<f64>, floor: Option<f64>| ProphetSpec {
        growth,
        cap,
        floor,
        ..ProphetSpec::new(1.0, 0.0)
    };
    assert!(Prophet::fit(&y, &with(Growth::Logistic, None, None)).is_err());
    assert!(Prophet::fit(&y, &with(Growth::Logistic, Some(3.0), Some(3.0))).is_err());
    assert!(Prophet::fit(&y, &with(Growth::Logistic, Some(f64::NAN), None)).is_err());
    assert!(Prophet::fit(&y, &with(Growth::Linear, Some(9.0), None)).is_err());
    assert!(Prophet::fit(&y, &with(Growth::Flat, None, Some(0.0))).is_err());
    // A history above the cap fits, with a note saying so.
    let m = Prophet::fit(&y, &with(Growth::Logistic, Some(4.5), None)).unwrap();
    assert!(
        m.notes().iter().any(|n| n.contains("exceeds")),
        "{:?}",
        m.notes()
    );
    let spec = ModelSpec::Prophet(with(Growth::Logistic, Some(9.0), Some(0.5)));
    let text = serde_json::to_string(&spec).unwrap();
    assert!(text.contains("\"cap\":9.0"), "{text}");
    assert_eq!(serde_json::from_str::<ModelSpec>(&text).unwrap(), spec);
}

#[test]
fn a_cap_far_above_demand_and_odd_histories_still_fit() {
    let spec = |cap: f64, floor: Option<f64>| ProphetSpec {
        growth: Growth::Logistic,
        cap: Some(cap),
        floor,
        ..ProphetSpec::new(1.0, 19_000.0)
    };
    // Demand rising 5 to 64 under caps up to 10¹²: deep in the curve's tail it grows like an
    // exponential, and the next days continue the line (the `prophet` package: 65.4).
    let ramp: Vec<f64> = (0..60).map(|i| 5.0 + i as f64).collect();
    for cap in [1e12, 1e6, 1e3] {
        let next = Prophet::fit(&ramp, &spec(cap, None))
            .unwrap()
            .forecast(3, &[80.0])
            .mean;
        assert!((next[0] - 65.4).abs() < 0.5, "cap {cap}: {next:?}");
    }
    // At the floor, above the cap, below the floor, all zeros: finite forecasts and bands.
    for (y, s) in [
        (vec![3.0; 40], spec(10.0, Some(3.0))),
        (vec![50.0; 40], spec(10.0, None)),
        (ramp.clone(), spec(20.0, Some(-5.0))),
        (vec![0.0; 30], spec(1.0, None)),
    ] {
        let f = Prophet::fit(&y, &s).unwrap().forecast(10, &[80.0]);
        let band = f.interval(80.0).unwrap();
        assert!(
            f.mean
                .iter()
                .chain(&band.lower)
                .chain(&band.upper)
                .all(|v| v.is_finite()),
            "{y:?}"
        );
    }
}

#[test]
fn a_holiday_in_every_year_of_yearly_data_is_left_out_and_a_one_off_event_kept() {
    // Twenty years from 2006-01-01 (day 13_149), rising by 10 a year.
    let origin = 13_149.0;
    let y: Vec<f64> = (0..20).map(|k| 100.0 + 10.0 * k as f64).collect();
    let day_of = |k: usize, day_of_year: f64| (origin + 365.25 * k as f64 + day_of_year) as i64;
    let holiday = |name: &str, day: i64| Holiday {
        name: name.into(),
        day,
        lower_window: 0,
        upper_window: 0,
        prior_scale: None,
    };
    let mut holidays: Vec<Holiday> = (0..26)
        .map(|k| holiday("christmas", day_of(k, 358.0)))
        .collect();
    holidays.extend([3, 11].map(|k| holiday("world_cup", day_of(k, 170.0))));
    let spec = ProphetSpec {
        holidays,
        ..ProphetSpec::new(365.25, origin)
    };
    let m = Prophet::fit(&y, &spec).unwrap();
    let columns: Vec<String> = m.betas().into_iter().map(|(n, _)| n).collect();
    assert!(
        !columns.iter().any(|n| n.starts_with("christmas")),
        "{columns:?}"
    );
    assert!(
        columns.iter().any(|n| n.starts_with("world_cup")),
        "{columns:?}"
    );
    assert!(
        m.notes().iter().any(|n| n.contains("christmas_+0")),
        "{:?}",
        m.notes()
    );
    // The level is the trend's: the forecast carries the rise on.
    let fc = m.forecast(2, &[80.0]);
    assert!((fc.mean[0] - 300.0).abs() < 5.0, "{:?}", fc.mean);
}
