//! Known-future regressors for a regression with SARIMA errors or the Prophet-style model:
//! fill the observed columns, build the design (dropping regressors that cannot be estimated,
//! with a note), pick the error orders and backtest or fit the candidate.
//!
//! Why here and not with the feature store: this is arithmetic on arrays. Where the values
//! come from (the offline feature store, by a time rule) is the service's business; the model
//! takes one column per regressor aligned with the series and holds the last value over the
//! horizon ("no planned change"), which the notes record.

use super::backtest::{BacktestConfig, BacktestReport, rolling_origin_with};
use super::prophet::{Prophet, ProphetSpec, Regressors};
use super::sarima::ArimaSpec;
use super::sarimax::Sarimax;
use super::{FittedModel, Forecast, ForecastError, ModelSpec, closed};

/// Observed regressor values per series, day and regressor (NaN = missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub names: Vec<String>,
    /// Per regressor, one value per day of the series (NaN where missing).
    pub columns: Vec<Vec<f64>>,
}

/// A regressor column with its gaps filled: forward from the previous value, then backward
/// for a leading gap. `None` when no value is present. Also returns how many were filled.
pub fn fill(column: &[f64]) -> Option<(Vec<f64>, usize)> {
    let first = column.iter().position(|v| !v.is_nan())?;
    let mut out = Vec::with_capacity(column.len());
    let mut filled = 0;
    let mut last = column[first];
    for v in column {
        if v.is_nan() {
            out.push(last);
            filled += 1;
        } else {
            last = *v;
            out.push(*v);
        }
    }
    Some((out, filled))
}

/// A series' usable regressors, aligned with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    pub names: Vec<String>,
    /// Row-major `days × names.len()`.
    pub x: Vec<f64>,
    /// The value each regressor holds over the horizon (its last one).
    pub future: Vec<f64>,
}

impl Design {
    pub fn k(&self) -> usize {
        self.names.len()
    }

    /// `h` rows of the held future values.
    pub fn future_rows(&self, h: usize) -> Vec<f64> {
        (0..h).flat_map(|_| self.future.iter().copied()).collect()
    }
}

/// Fills each regressor and keeps those that vary; `None` when none does. The notes say what
/// was filled or dropped.
pub fn design(observed: &Observed, notes: &mut Vec<String>) -> Option<Design> {
    let mut names = Vec::new();
    let mut columns = Vec::new();
    for (name, column) in observed.names.iter().zip(&observed.columns) {
        let Some((values, filled)) = fill(column) else {
            notes.push(format!(
                "regressor {name}: no value on any day of the series (not materialized, null \
                 or past its TTL): not used"
            ));
            continue;
        };
        if values.iter().all(|v| *v == values[0]) {
            notes.push(format!(
                "regressor {name}: constant ({}) over the series: not used",
                values[0]
            ));
            continue;
        }
        if filled > 0 {
            notes.push(format!(
                "regressor {name}: {filled} of {} days filled from the nearest earlier day (a \
                 leading gap from the first later one)",
                values.len()
            ));
        }
        names.push(name.clone());
        columns.push(values);
    }
    if names.is_empty() {
        return None;
    }
    let n = columns[0].len();
    let k = names.len();
    let mut x = Vec::with_capacity(n * k);
    for t in 0..n {
        x.extend(columns.iter().map(|c| c[t]));
    }
    let future = columns.iter().map(|c| c[n - 1]).collect();
    Some(Design { names, x, future })
}

/// The model a regression candidate is: a regression with SARIMA errors of fixed orders, or
/// the Prophet-style model with the regressors as extra regressors.
#[derive(Debug, Clone, PartialEq)]
pub enum Regression {
    ArimaErrors(ArimaSpec),
    Prophet(ProphetSpec),
}

impl Regression {
    /// What the notes call it.
    pub fn label(&self) -> &'static str {
        match self {
            Regression::ArimaErrors(_) => "regression with ARIMA errors",
            Regression::Prophet(_) => "Prophet with regressors",
        }
    }

    /// The model's structure for the stored params (the error orders, or the Prophet spec's
    /// label).
    pub fn describe(&self) -> String {
        match self {
            Regression::ArimaErrors(order) => order.name(),
            Regression::Prophet(_) => "prophet".into(),
        }
    }

    /// The spec the candidate goes by in reports and stored params.
    pub fn spec(&self, design: &Design) -> ModelSpec {
        match self {
            Regression::ArimaErrors(_) => ModelSpec::AutoArimaRegression {
                regressors: design.names.clone(),
            },
            Regression::Prophet(spec) => ModelSpec::Prophet(ProphetSpec {
                regressors: design.names.clone(),
                ..spec.clone()
            }),
        }
    }

    fn fit(&self, y: &[f64], design: &Design, rows: usize) -> Result<Fit, ForecastError> {
        let k = design.k();
        let x = &design.x[..rows * k];
        Ok(match self {
            Regression::ArimaErrors(order) => Fit::Arima(Sarimax::fit(y, x, k, order)?),
            Regression::Prophet(spec) => {
                let regs = Regressors {
                    names: &design.names,
                    x,
                    future: &design.future,
                };
                Fit::Prophet(Prophet::fit_with(y, spec, Some(regs))?)
            }
        })
    }
}

/// A fitted regression candidate.
enum Fit {
    Arima(Sarimax),
    Prophet(Prophet),
}

impl Fit {
    fn forecast_with(
        &self,
        rows: &[f64],
        h: usize,
        levels: &[f64],
    ) -> Result<Forecast, ForecastError> {
        match self {
            Fit::Arima(m) => m.forecast_with(rows, levels),
            Fit::Prophet(m) => m.forecast_with(rows, h, levels),
        }
    }

    fn name(&self) -> String {
        match self {
            Fit::Arima(m) => m.name(),
            Fit::Prophet(m) => m.name(),
        }
    }

    fn params(&self) -> serde_json::Value {
        match self {
            Fit::Arima(m) => m.params(),
            Fit::Prophet(m) => m.params(),
        }
    }

    /// The change in demand per unit of each regressor.
    fn effects(&self) -> Vec<f64> {
        match self {
            Fit::Arima(m) => m.beta().to_vec(),
            Fit::Prophet(m) => m.regressor_effects(),
        }
    }
}

/// The regression-with-ARIMA-errors candidate of one series: its error orders, found once on
/// the whole series by [`Sarimax::auto_order`] (OLS residuals through the automatic ARIMA
/// search).
pub fn order(y: &[f64], season: usize, design: &Design) -> Result<Regression, ForecastError> {
    Sarimax::auto_order(y, &design.x, design.k(), season).map(Regression::ArimaErrors)
}

/// Rolling-origin backtest of the candidate, re-estimating every coefficient at each origin
/// and forecasting with the window's actual regressor values.
pub fn backtest(
    y: &[f64],
    season: usize,
    design: &Design,
    regression: &Regression,
    cfg: &BacktestConfig,
) -> Result<BacktestReport, ForecastError> {
    let k = design.k();
    let spec = regression.spec(design);
    rolling_origin_with(y, season, &spec, cfg, &|origin, h, levels| {
        let model = regression.fit(&y[..origin], design, origin)?;
        let fc = model.forecast_with(&design.x[origin * k..(origin + h) * k], h, levels)?;
        let slots = closed::closed_slots(&y[..origin], season);
        Ok(closing(model.name(), fc, origin, season, &slots))
    })
}

/// The name and forecast with the closed slots of the training part shut, as every other
/// model's choice gets them ([`closed`]): a regression knows the promotions, not the days a
/// shop never opens.
fn closing(
    name: String,
    fc: Forecast,
    n: usize,
    season: usize,
    slots: &[usize],
) -> (String, Forecast) {
    if slots.is_empty() {
        return (name, fc);
    }
    (
        closed::closed_name(&name, slots.len(), season),
        closed::shut(fc, n, season, slots),
    )
}

/// A candidate fitted on the whole series.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub name: String,
    pub params: serde_json::Value,
    /// The change in demand per unit of each regressor.
    pub effects: Vec<f64>,
    /// The `h`-step forecast with the held future values.
    pub forecast: Forecast,
    /// The forecast's parts (trend, seasonalities, holidays, regressors) where the model is
    /// a sum of parts (the Prophet-style model).
    pub components: Option<Vec<(String, Vec<f64>)>>,
}

/// Fits on the whole series and forecasts `h` steps with the held future values.
pub fn fit_and_forecast(
    y: &[f64],
    season: usize,
    design: &Design,
    regression: &Regression,
    h: usize,
    levels: &[f64],
) -> Result<Fitted, ForecastError> {
    let model = regression.fit(y, design, y.len())?;
    let future = design.future_rows(h);
    let slots = closed::closed_slots(y, season);
    let fc = model.forecast_with(&future, h, levels)?;
    let (name, forecast) = closing(model.name(), fc, y.len(), season, &slots);
    let shut = |v: Vec<f64>| closed::zeroed(&v, y.len(), season, &slots);
    Ok(Fitted {
        forecast,
        components: match &model {
            Fit::Arima(_) => None,
            Fit::Prophet(m) => m
                .components_with(&future, h)
                .ok()
                .map(|parts| parts.into_iter().map(|(part, v)| (part, shut(v))).collect()),
        },
        name,
        params: model.params(),
        effects: model.effects(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    #[test]
    fn gaps_fill_forward_then_backward_for_a_leading_gap() {
        let (v, filled) = fill(&[NAN, NAN, 1.0, NAN, 0.0, NAN, NAN, 2.0, NAN]).unwrap();
        assert_eq!(v, vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 2.0, 2.0]);
        assert_eq!(filled, 6);
        assert_eq!(fill(&[3.0, 4.0]).unwrap(), (vec![3.0, 4.0], 0));
        assert!(fill(&[NAN, NAN]).is_none());
        assert!(fill(&[]).is_none());
    }

    #[test]
    fn design_drops_missing_and_constant_regressors_with_notes_and_holds_the_last_value() {
        let observed = Observed {
            names: vec!["v:price".into(), "v:on_promo".into(), "v:gone".into()],
            columns: vec![
                vec![2.5, NAN, 2.5, 2.5],
                vec![NAN, 1.0, 0.0, NAN],
                vec![NAN; 4],
            ],
        };
        let mut notes = Vec::new();
        let d = design(&observed, &mut notes).unwrap();
        assert_eq!(d.names, vec!["v:on_promo".to_string()]);
        // Leading gap from the first later value, trailing one from the last earlier.
        assert_eq!(d.x, vec![1.0, 1.0, 0.0, 0.0]);
        assert_eq!(d.future, vec![0.0]);
        assert_eq!(d.future_rows(3), vec![0.0; 3]);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("v:price") && n.contains("constant"))
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("v:gone") && n.contains("no value"))
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("v:on_promo") && n.contains("2 of 4"))
        );

        let two = Observed {
            names: vec!["a".into(), "b".into()],
            columns: vec![vec![1.0, 2.0, 3.0], vec![0.0, 1.0, 0.0]],
        };
        let d = design(&two, &mut Vec::new()).unwrap();
        // Row-major: one row of both regressors per day.
        assert_eq!(d.x, vec![1.0, 0.0, 2.0, 1.0, 3.0, 0.0]);
        assert_eq!(d.future, vec![3.0, 0.0]);

        let none = Observed {
            names: vec!["a".into()],
            columns: vec![vec![5.0; 3]],
        };
        assert!(design(&none, &mut Vec::new()).is_none());
    }

    #[test]
    fn a_regression_forecasts_a_shops_closed_weekday_as_a_certain_zero() {
        // Closed on every seventh day; a promotion on every fifth.
        let n = 126;
        let promo: Vec<f64> = (0..n).map(|t| f64::from(u8::from(t % 5 == 0))).collect();
        let y: Vec<f64> = (0..n)
            .map(|t| {
                let open = [30.0, 32.0, 31.0, 35.0, 40.0, 45.0, 0.0][t % 7];
                if open == 0.0 {
                    0.0
                } else {
                    open + 10.0 * promo[t] + (t % 3) as f64
                }
            })
            .collect();
        let observed = Observed {
            names: vec!["v:on_promo".into()],
            columns: vec![promo],
        };
        let d = design(&observed, &mut Vec::new()).unwrap();
        let prophet = Regression::Prophet(ProphetSpec::new(1.0, 20_000.0));
        for candidate in [order(&y, 7, &d).unwrap(), prophet] {
            let fitted = fit_and_forecast(&y, 7, &d, &candidate, 14, &[80.0]).unwrap();
            assert!(
                fitted.name.ends_with("closed at 1 of 7 slots"),
                "{}",
                fitted.name
            );
            let fc = &fitted.forecast;
            for k in 0..14 {
                let (lo, up) = (fc.intervals[0].lower[k], fc.intervals[0].upper[k]);
                if (n + k) % 7 == 6 {
                    assert_eq!((fc.mean[k], lo, up), (0.0, 0.0, 0.0), "{}", fitted.name);
                } else {
                    assert!(fc.mean[k] > 20.0 && up > lo, "{} {k}: {fc:?}", fitted.name);
                }
            }
            let cfg = BacktestConfig {
                horizon: 14,
                step: 14,
                windows: 2,
                levels: vec![80.0],
            };
            let report = backtest(&y, 7, &d, &candidate, &cfg).unwrap();
            for w in &report.windows {
                assert!(w.model.ends_with("closed at 1 of 7 slots"), "{}", w.model);
                for (k, e) in w.errors.iter().enumerate() {
                    if (w.origin + k) % 7 == 6 {
                        assert_eq!(*e, 0.0);
                    }
                }
            }
        }
    }

    #[test]
    fn a_planted_promotion_lift_is_recovered_and_beats_the_plain_model() {
        // Weekly pattern + AR(1) noise + 20 units on pseudo-random promotion days.
        let mut state = 42u64;
        let mut rnd = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 120;
        let mut promo = Vec::new();
        let mut y = Vec::new();
        let mut e = 0.0;
        for t in 0..n {
            let p = if rnd() < 0.2 { 1.0 } else { 0.0 };
            e = 0.5 * e + 4.0 * (rnd() - 0.5);
            y.push(30.0 + [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 4.0][t % 7] + 20.0 * p + e);
            promo.push(p);
        }
        let observed = Observed {
            names: vec!["v:on_promo".into()],
            columns: vec![promo],
        };
        let d = design(&observed, &mut Vec::new()).unwrap();
        let order = order(&y, 7, &d).unwrap();
        let fitted = fit_and_forecast(&y, 7, &d, &order, 7, &[80.0, 95.0]).unwrap();
        let fc = fitted.forecast;
        assert!(
            (fitted.effects[0] - 20.0).abs() < 2.0,
            "{:?}",
            fitted.effects
        );
        // The Prophet-style model finds the same lift.
        let prophet = Regression::Prophet(ProphetSpec::new(1.0, 20_000.0));
        let fitted = fit_and_forecast(&y, 7, &d, &prophet, 7, &[80.0]).unwrap();
        assert!(
            (fitted.effects[0] - 20.0).abs() < 2.0,
            "{:?}",
            fitted.effects
        );
        assert!(fitted.name.contains("regressors"), "{}", fitted.name);
        let spec = prophet.spec(&d);
        assert!(matches!(&spec, ModelSpec::Prophet(p) if p.regressors == d.names));
        // Named regressors without their values: refused.
        assert!(spec.fit(&y, 7).is_err());
        assert_eq!(fc.mean.len(), 7);
        let cfg = BacktestConfig {
            horizon: 7,
            step: 7,
            windows: 3,
            levels: vec![80.0, 95.0],
        };
        let with = backtest(&y, 7, &d, &order, &cfg).unwrap();
        let without =
            super::super::backtest::rolling_origin(&y, 7, &ModelSpec::AutoEts, &cfg).unwrap();
        assert!(
            with.summary.mase < without.summary.mase,
            "{} vs {}",
            with.summary.mase,
            without.summary.mase
        );
    }
}
