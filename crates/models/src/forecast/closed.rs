//! Closed periods: a shop closed on Sundays sells nothing on Sundays, and a model that
//! knows it forecasts exactly zero there instead of a small seasonal residue (and
//! calibrates its bands on the days the shop is open).
//!
//! Why a wrapper and not a model feature: every family (ETS, ARIMA, Theta, CES and their
//! combinations) leaks a little level into a slot that is always zero, and Theta's
//! seasonal decomposition a lot. The rule is the same for all of them, so it sits around
//! whichever the choice picked ([`ModelSpec::Closed`]): a slot of the season (a weekday of a
//! daily series, an hour of an hourly one) that was exactly zero at each of its last
//! [`CYCLES`] occurrences is closed, and its forecast steps are zero with a band of zero
//! width. The inner model is fitted on the series as it is; the closed slots are found
//! again at every fit, so a backtest origin or a refit sees only its own history.

use super::{FitLeaf, FittedModel, Forecast, ForecastError, Interval, ModelSpec};

/// Occurrences of a slot that must all be zero for it to count as closed (twelve weeks of
/// a daily series, twelve days of an hourly one).
pub const CYCLES: usize = 12;

/// The slots (positions modulo `season`, counted from `y`'s first value) that were exactly
/// zero at each of their last [`CYCLES`] occurrences; empty when the series is shorter than
/// that, has no season, or is zero at every slot (which is not a shop with closing days).
pub fn closed_slots(y: &[f64], season: usize) -> Vec<usize> {
    let n = y.len();
    if season < 2 || n < CYCLES * season {
        return Vec::new();
    }
    let window = &y[n - CYCLES * season..];
    let start = n - CYCLES * season;
    let closed: Vec<usize> = (0..season)
        .filter(|&offset| {
            window
                .iter()
                .skip(offset)
                .step_by(season)
                .all(|&v| v == 0.0)
        })
        .map(|offset| (start + offset) % season)
        .collect();
    if closed.len() == season {
        return Vec::new();
    }
    let mut closed = closed;
    closed.sort_unstable();
    closed
}

/// `model` with its forecast at closed slots set to zero.
#[derive(Debug)]
pub struct Closed {
    model: Box<dyn FittedModel>,
    season: usize,
    n: usize,
    slots: Vec<usize>,
}

impl Closed {
    /// Fits `inner` on `y` (its leaves by `leaf`, see [`ModelSpec::fit_through`]) and
    /// closes the slots [`closed_slots`] finds; `inner` alone when there are none.
    pub fn fit(
        y: &[f64],
        season: usize,
        inner: &ModelSpec,
        leaf: &mut FitLeaf<'_>,
    ) -> Result<Box<dyn FittedModel>, ForecastError> {
        let model = inner.fit_through(y, season, leaf)?;
        Ok(Closed::around(model, y, season))
    }

    /// `model`, already fitted on `y`, with `y`'s closed slots closed (as it is when none).
    pub fn around(model: Box<dyn FittedModel>, y: &[f64], season: usize) -> Box<dyn FittedModel> {
        let slots = closed_slots(y, season);
        if slots.is_empty() {
            return model;
        }
        Box::new(Closed::with(model, y.len(), season, slots))
    }

    /// `model`, fitted on `n` observations, closed at `slots` (from [`closed_slots`]).
    pub fn with(model: Box<dyn FittedModel>, n: usize, season: usize, slots: Vec<usize>) -> Closed {
        Closed {
            model,
            season,
            n,
            slots,
        }
    }

    fn zeroed(&self, v: &[f64]) -> Vec<f64> {
        zeroed(v, self.n, self.season, &self.slots)
    }
}

/// `v`, a forecast (or a part of one) after `n` observations, with its steps on `slots` set
/// to 0.
pub fn zeroed(v: &[f64], n: usize, season: usize, slots: &[usize]) -> Vec<f64> {
    v.iter()
        .enumerate()
        .map(|(k, &x)| {
            if slots.contains(&((n + k) % season)) {
                0.0
            } else {
                x
            }
        })
        .collect()
}

/// `fc`, forecast after `n` observations, with its steps on `slots` set to 0 with bands of
/// no width: what [`Closed`] serves, for a model outside [`ModelSpec`] (a regression on
/// known-future regressors).
pub fn shut(fc: Forecast, n: usize, season: usize, slots: &[usize]) -> Forecast {
    Forecast {
        mean: zeroed(&fc.mean, n, season, slots),
        intervals: fc
            .intervals
            .iter()
            .map(|iv| Interval {
                level: iv.level,
                lower: zeroed(&iv.lower, n, season, slots),
                upper: zeroed(&iv.upper, n, season, slots),
            })
            .collect(),
    }
}

/// The steps of `fc` forecast with certainty: exactly 0 with bands of no width, as [`shut`]
/// leaves a closed slot (and the naive forecast leaves a series that never sold). A
/// reconciliation keeps them; [`super::conformal::spreads`] gives them spread 0.
pub fn certain_steps(fc: &Forecast) -> Vec<bool> {
    (0..fc.mean.len())
        .map(|t| {
            fc.mean[t] == 0.0
                && !fc.intervals.is_empty()
                && fc
                    .intervals
                    .iter()
                    .all(|iv| iv.lower[t] == 0.0 && iv.upper[t] == 0.0)
        })
        .collect()
}

/// The name [`Closed`] gives `name` closed at `slots` of `season`.
pub fn closed_name(name: &str, slots: usize, season: usize) -> String {
    format!("{name} closed at {slots} of {season} slots")
}

impl FittedModel for Closed {
    fn name(&self) -> String {
        closed_name(&self.model.name(), self.slots.len(), self.season)
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        shut(
            self.model.forecast(h, levels),
            self.n,
            self.season,
            &self.slots,
        )
    }

    fn aicc(&self) -> Option<f64> {
        self.model.aicc()
    }

    fn loglik(&self) -> Option<f64> {
        self.model.loglik()
    }

    fn params(&self) -> serde_json::Value {
        self.model.params()
    }

    fn fitted(&self) -> Vec<f64> {
        self.model.fitted()
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = self.model.notes();
        notes.push(format!(
            "closed at {} of {} seasonal slot(s) (zero at each of their last {CYCLES} \
             occurrences): forecast 0 there",
            self.slots.len(),
            self.season
        ));
        notes
    }

    fn components(&self, h: usize) -> Option<Vec<(String, Vec<f64>)>> {
        let parts = self.model.components(h)?;
        Some(
            parts
                .into_iter()
                .map(|(name, v)| (name, self.zeroed(&v)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twenty weeks of a shop open six days a week, closed on the series' sixth weekday.
    fn shop() -> Vec<f64> {
        (0..20 * 7)
            .map(|i| match i % 7 {
                5 => 0.0,
                d => 100.0 + 10.0 * d as f64 + (i / 7) as f64,
            })
            .collect()
    }

    #[test]
    fn only_a_zero_with_a_band_of_no_width_is_certain() {
        let fc = Forecast {
            mean: vec![0.0, 0.0, 3.0],
            intervals: vec![Interval {
                level: 80.0,
                lower: vec![0.0, -1.0, 3.0],
                upper: vec![0.0, 1.0, 3.0],
            }],
        };
        assert_eq!(certain_steps(&fc), [true, false, false]);
        let bare = Forecast {
            mean: vec![0.0],
            intervals: Vec::new(),
        };
        assert_eq!(certain_steps(&bare), [false]);
    }

    #[test]
    fn a_slot_zero_in_each_of_its_last_cycles_is_closed() {
        let y = shop();
        assert_eq!(closed_slots(&y, 7), [5]);
        // Counted from the first value, whatever the window's phase.
        assert_eq!(closed_slots(&y[3..], 7), [2]);
        // One sale on that day in the last twelve weeks: open.
        let mut sold = y.clone();
        sold[y.len() - 9] = 4.0;
        assert!(closed_slots(&sold, 7).is_empty());
        // Too short, no season, or zero everywhere: nothing closed.
        assert!(closed_slots(&y[..11 * 7], 7).is_empty());
        assert!(closed_slots(&y, 1).is_empty());
        assert!(closed_slots(&[0.0; 200], 7).is_empty());
    }

    #[test]
    fn closed_steps_are_zero_with_a_band_of_no_width_and_open_ones_keep_the_model() {
        let y = shop();
        let plain = ModelSpec::AutoEts.fit(&y, 7).unwrap();
        let closed = ModelSpec::Closed {
            model: Box::new(ModelSpec::AutoEts),
        }
        .fit(&y, 7)
        .unwrap();
        let (a, b) = (plain.forecast(14, &[80.0]), closed.forecast(14, &[80.0]));
        for k in 0..14 {
            if (y.len() + k) % 7 == 5 {
                assert_eq!(b.mean[k], 0.0);
                assert_eq!(
                    (b.intervals[0].lower[k], b.intervals[0].upper[k]),
                    (0.0, 0.0)
                );
                assert_ne!(a.mean[k], 0.0, "the plain model leaks level into the slot");
            } else {
                assert_eq!(b.mean[k], a.mean[k]);
                assert_eq!(b.intervals[0].upper[k], a.intervals[0].upper[k]);
            }
        }
        assert!(
            closed
                .notes()
                .iter()
                .any(|n| n.contains("closed at 1 of 7"))
        );
        // With no closed slot the wrapper is not there at all.
        let mut open = y.clone();
        open[y.len() - 2] = 1.0;
        let model = ModelSpec::Closed {
            model: Box::new(ModelSpec::SeasonalNaive),
        }
        .fit(&open, 7)
        .unwrap();
        assert!(model.notes().iter().all(|n| !n.contains("closed")));
    }

    #[test]
    fn conformal_bands_calibrate_on_open_days_and_stay_shut_on_closed_ones() {
        use crate::forecast::backtest::{BacktestConfig, rolling_origin};
        use crate::forecast::conformal::{Calibration, Normaliser};
        let y = shop();
        let spec = ModelSpec::Closed {
            model: Box::new(ModelSpec::AutoEts),
        };
        let cfg = BacktestConfig {
            horizon: 14,
            step: 14,
            windows: 3,
            levels: vec![80.0],
        };
        let report = rolling_origin(&y, 7, &spec, &cfg).unwrap();
        let cal = Calibration::from_windows(&report.windows).unwrap();
        // Closed days leave no score and do not push the series onto the √step scale.
        assert_eq!(cal.normaliser, Normaliser::ModelSpread);
        assert_eq!(cal.len(), 3 * 12);
        let fc = spec.fit(&y, 7).unwrap().forecast(14, &[80.0]);
        let (banded, _) = cal.apply(&fc, &[80.0]);
        for k in 0..14 {
            let band = (banded.intervals[0].lower[k], banded.intervals[0].upper[k]);
            if (y.len() + k) % 7 == 5 {
                assert_eq!(band, (0.0, 0.0));
            } else {
                assert!(band.1 - band.0 > 0.1, "an open day keeps a band: {band:?}");
            }
        }
    }
}
