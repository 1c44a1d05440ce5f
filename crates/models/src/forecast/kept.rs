//! Keeping, at a backtest's later origins, what the automatic choices took at its first one.
//!
//! Why: an automatic ETS tries up to 19 forms and an automatic ARIMA a few dozen orders; at
//! origins whose training parts differ by a small share of the history the searches seldom
//! choose differently, yet they are most of a backtest's cost (and ARIMA's exact-likelihood
//! estimate is the dearest fit of all where the season is long: a state of 25 to 50 for
//! hourly data). A [`Keeper`] fits a spec the way [`ModelSpec::fit`] does, except that each
//! automatic leaf reuses what it chose at the keeper's previous fit: ETS and CES refit that
//! form (searching again only where that fit fails); ARIMA forecasts with that order and
//! those coefficients, filtered through the longer history (no estimation). The first origin's
//! choices use no observation after it, so the later forecasts stay out of sample.
//! Combinations and wrappers (closed slots, local time, outages) do their own part afresh.

use super::ces::{Ces, CesSeason};
use super::ets::{self, EtsSpec};
use super::sarima::{ArimaCoefficients, ArimaSpec, Sarima};
use super::{FittedModel, ForecastError, ModelSpec, auto_arima, fit_leaf};

/// How a leaf was fitted last: searched as its spec says, or its automatic choice (ETS's
/// and CES's form; ARIMA's order and estimates).
#[derive(Debug, Clone)]
enum Form {
    Search,
    Ets(EtsSpec),
    Ces(CesSeason),
    Arima(ArimaSpec, ArimaCoefficients),
}

/// Whether a backtest of a series of `n` observations whose first origin is `first` keeps
/// that origin's choices at the later ones: its first training part holds at least `share`
/// of the series (`select::KEEP_FORMS_FROM`, `backtest::KEEP_FITS_FROM`).
pub fn keeps(first: Option<usize>, n: usize, share: f64) -> bool {
    first.is_some_and(|o| o as f64 >= share * n as f64)
}

/// The automatic choices of one spec's leaves at the last origin it was fitted at.
#[derive(Debug, Clone, Default)]
pub struct Keeper {
    forms: Vec<Form>,
}

impl Keeper {
    /// `spec` fitted on `y`, each automatic leaf as it came out at this keeper's previous fit
    /// (a search at the first), its choice kept for the next.
    pub fn fit(
        &mut self,
        spec: &ModelSpec,
        y: &[f64],
        season: usize,
    ) -> Result<Box<dyn FittedModel>, ForecastError> {
        let mut next = 0;
        let forms = &mut self.forms;
        spec.fit_through(y, season, &mut |leaf, y, season| {
            // The leaves come in the same order at every fit; a failed one keeps its slot.
            let i = next;
            next += 1;
            if forms.len() <= i {
                forms.resize(i + 1, Form::Search);
            }
            let (model, chosen) = fit_kept(leaf, &forms[i], y, season)?;
            forms[i] = chosen;
            Ok(model)
        })
    }
}

/// Leaf `spec` fitted on `y` in `form` (searching where that is [`Form::Search`] or its fit
/// fails), with the form to keep.
fn fit_kept(
    spec: &ModelSpec,
    form: &Form,
    y: &[f64],
    season: usize,
) -> Result<(Box<dyn FittedModel>, Form), ForecastError> {
    match (spec, form) {
        (ModelSpec::AutoEts, Form::Ets(f)) => {
            if let Ok(m) = ets::fit_as_candidate(y, season, *f) {
                return Ok((Box::new(m), form.clone()));
            }
        }
        (ModelSpec::AutoCes, Form::Ces(f)) => {
            if let Ok(m) = Ces::fit(y, season, *f) {
                return Ok((Box::new(m), form.clone()));
            }
        }
        (ModelSpec::AutoArima, Form::Arima(order, coef)) => {
            if let Ok(m) = Sarima::from_coefficients(y, order, coef.clone()) {
                return Ok((Box::new(m), form.clone()));
            }
        }
        _ => {}
    }
    Ok(match spec {
        ModelSpec::AutoEts => {
            let m = ets::auto_ets(y, season)?;
            let form = Form::Ets(m.spec());
            (Box::new(m), form)
        }
        ModelSpec::AutoCes => {
            let m = Ces::auto(y, season)?;
            let form = Form::Ces(m.season_type());
            (Box::new(m), form)
        }
        ModelSpec::AutoArima => {
            let m = auto_arima::auto_arima(y, season)?;
            let form = Form::Arima(*m.spec(), m.coefficients().clone());
            (Box::new(m), form)
        }
        other => (fit_leaf(other, y, season)?, Form::Search),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::combination::Combine;

    /// A trending quarterly series whose last 24 values swing wildly, so that a search on
    /// the longer training parts chooses differently from one on the first 176 values.
    fn swinging_series() -> Vec<f64> {
        (0..200)
            .map(|t| {
                let season = [4.0, -2.0, 1.0, -3.0][t % 4];
                let wobble = ((t * 7919) % 13) as f64 / 6.0 - 1.0;
                let swing = match t {
                    0..176 => 0.0,
                    _ if t % 2 == 0 => 60.0,
                    _ => -60.0,
                };
                50.0 + 0.4 * t as f64 + season + wobble + swing
            })
            .collect()
    }

    #[test]
    fn each_leaf_of_a_wrapped_combination_keeps_its_choice_and_a_failed_one_its_slot() {
        let y = swinging_series();
        let members = vec![
            ModelSpec::MovingAverage { window: 0 }, // always fails
            ModelSpec::AutoEts,
            ModelSpec::AutoArima,
            ModelSpec::AutoCes,
        ];
        let spec = ModelSpec::Closed {
            model: Box::new(ModelSpec::Combination {
                members,
                how: Combine::Mean,
                weights: None,
            }),
        };
        let mut keeper = Keeper::default();
        let first = keeper.fit(&spec, &y[..176], 4).unwrap();
        assert_eq!(
            first.forecast(8, &[]).mean,
            spec.fit(&y[..176], 4).unwrap().forecast(8, &[]).mean
        );
        let ets_form = ets::auto_ets(&y[..176], 4).unwrap().spec();
        let arima = auto_arima::auto_arima(&y[..176], 4).unwrap();
        let ces_form = Ces::auto(&y[..176], 4).unwrap().season_type();
        for origin in [184, 192] {
            let later = keeper
                .fit(&spec, &y[..origin], 4)
                .unwrap()
                .forecast(8, &[])
                .mean;
            let e = ets::fit_as_candidate(&y[..origin], 4, ets_form).unwrap();
            let coef = arima.coefficients().clone();
            let a = Sarima::from_coefficients(&y[..origin], arima.spec(), coef).unwrap();
            let c = Ces::fit(&y[..origin], 4, ces_form).unwrap();
            let (e, a, c) = (
                e.forecast(8, &[]).mean,
                a.forecast(8, &[]).mean,
                c.forecast(8, &[]).mean,
            );
            let kept: Vec<f64> = (0..8).map(|k| (e[k] + a[k] + c[k]) / 3.0).collect();
            for (k, (got, want)) in later.iter().zip(&kept).enumerate() {
                assert!(
                    (got - want).abs() < 1e-9,
                    "origin {origin} step {k}: {got} {want}"
                );
            }
            let searched = spec.fit(&y[..origin], 4).unwrap().forecast(8, &[]).mean;
            assert_ne!(later, searched, "origin {origin}");
        }
    }

    #[test]
    fn a_backtest_keeps_the_first_windows_choices_only_where_it_holds_most_of_the_series() {
        use crate::forecast::backtest::{BacktestConfig, rolling_origin, rolling_origin_kept};
        let y = swinging_series();
        let spec = ModelSpec::AutoArima;
        let cfg = |windows| BacktestConfig {
            horizon: 8,
            step: 8,
            windows,
            levels: vec![80.0],
        };
        // Three windows from 176 (88 % of the series): the later two keep the first's fit.
        let kept = rolling_origin_kept(&y, 4, &spec, &cfg(3)).unwrap();
        let arima = auto_arima::auto_arima(&y[..176], 4).unwrap();
        for w in &kept.windows[1..] {
            let coef = arima.coefficients().clone();
            let m = Sarima::from_coefficients(&y[..w.origin], arima.spec(), coef).unwrap();
            let errors: Vec<f64> = (0..8)
                .map(|k| y[w.origin + k] - m.forecast(8, &[]).mean[k])
                .collect();
            assert_eq!(w.errors, errors, "origin {}", w.origin);
        }
        let searched = rolling_origin(&y, 4, &spec, &cfg(3)).unwrap();
        assert_eq!(kept.windows[0].errors, searched.windows[0].errors);
        assert_ne!(kept.windows[2].errors, searched.windows[2].errors);
        // Eight windows from 136 (68 %): every window searches.
        let short = rolling_origin_kept(&y, 4, &spec, &cfg(8)).unwrap();
        let searched = rolling_origin(&y, 4, &spec, &cfg(8)).unwrap();
        let errors = |r: &crate::forecast::backtest::BacktestReport| -> Vec<Vec<f64>> {
            r.windows.iter().map(|w| w.errors.clone()).collect()
        };
        assert_eq!(errors(&short), errors(&searched));
    }

    #[test]
    fn ces_keeps_the_form_it_chose_at_the_first_origin() {
        // No season in the first 176 values, a seasonal swing after: a search from 184 on
        // chooses a seasonal CES where the first origin chose none.
        let y: Vec<f64> = (0..200)
            .map(|t| {
                let wobble = ((t * 7919) % 13) as f64 / 6.0 - 1.0;
                let swing = if t < 176 {
                    0.0
                } else {
                    [20.0, -10.0, 5.0, -15.0][t % 4]
                };
                50.0 + 0.4 * t as f64 + wobble + swing
            })
            .collect();
        let first = Ces::auto(&y[..176], 4).unwrap().season_type();
        assert_eq!(first, CesSeason::None);
        assert_ne!(Ces::auto(&y[..184], 4).unwrap().season_type(), first);
        let mut keeper = Keeper::default();
        keeper.fit(&ModelSpec::AutoCes, &y[..176], 4).unwrap();
        let kept = keeper.fit(&ModelSpec::AutoCes, &y[..184], 4).unwrap();
        let refit = Ces::fit(&y[..184], 4, first).unwrap();
        assert_eq!(kept.forecast(8, &[]).mean, refit.forecast(8, &[]).mean);
    }
}
