//! Interrupted histories: a series that sells every week, then shows four weeks or more of
//! nothing, then sells again, was interrupted (a store refit, a stock-out, a feed that
//! delivered no rows). Those zeros are not demand, and a model fitted across them learns a
//! level and a trend that never were. Every choice, a named model too, fits on the history
//! after the last interruption instead ([`ModelSpec::AfterOutage`]), and says so.
//!
//! The rule ([`history_start`]): the last run of at least `max(28, 4 × season)` zeros that
//! has sales before it and leaves at least `max(56, 8 × season)` periods after it, when
//! that part is not itself mostly zeros. Daily series: four weeks of zeros, eight weeks
//! after. Weekly and monthly series would need four years of zeros, so in practice this is
//! about days and hours. Intermittent series (mostly zeros) never qualify: their zeros are
//! their demand.

use super::{FitLeaf, FittedModel, Forecast, ForecastError, ModelSpec};

/// The shortest run of zeros that interrupts a history.
pub fn min_run(season: usize) -> usize {
    (4 * season).max(28)
}

/// The shortest history after an interruption worth fitting on alone.
pub fn min_after(season: usize) -> usize {
    (8 * season).max(56)
}

/// Where the history after the last interruption starts (0 when there is none).
pub fn history_start(y: &[f64], season: usize) -> usize {
    let (run, after) = (min_run(season), min_after(season));
    let mut best = 0;
    let mut i = 0;
    while i < y.len() {
        if y[i] != 0.0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < y.len() && y[i] == 0.0 {
            i += 1;
        }
        let sold_before = y[..start].iter().any(|&v| v != 0.0);
        let tail = &y[i..];
        let sells_after = tail.iter().filter(|&&v| v != 0.0).count() * 2 > tail.len();
        if i - start >= run && sold_before && tail.len() >= after && sells_after {
            best = i;
        }
    }
    best
}

/// `model` fitted on the history after an interruption of `skipped` periods' history.
#[derive(Debug)]
pub struct AfterOutage {
    model: Box<dyn FittedModel>,
    skipped: usize,
}

impl AfterOutage {
    /// Fits `inner` on `y` after its last interruption (its leaves by `leaf`, see
    /// [`ModelSpec::fit_through`]); `inner` on all of `y` when there is none.
    pub fn fit(
        y: &[f64],
        season: usize,
        inner: &ModelSpec,
        leaf: &mut FitLeaf<'_>,
    ) -> Result<Box<dyn FittedModel>, ForecastError> {
        let start = history_start(y, season);
        let model = inner
            .shifted(start as isize)
            .fit_through(&y[start..], season, leaf)?;
        Ok(AfterOutage::around(model, start))
    }

    /// `model`, fitted on a series' history from `start` on (as it is when `start` is 0).
    pub fn around(model: Box<dyn FittedModel>, start: usize) -> Box<dyn FittedModel> {
        if start == 0 {
            return model;
        }
        Box::new(AfterOutage {
            model,
            skipped: start,
        })
    }
}

impl FittedModel for AfterOutage {
    fn name(&self) -> String {
        format!("{} after an outage", self.model.name())
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        self.model.forecast(h, levels)
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
        let mut fitted = vec![f64::NAN; self.skipped];
        fitted.extend(self.model.fitted());
        fitted
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = self.model.notes();
        notes.push(format!(
            "fitted after the history's last long run of zeros (an outage, not demand): the \
             first {} periods left out",
            self.skipped
        ));
        notes
    }

    fn components(&self, h: usize) -> Option<Vec<(String, Vec<f64>)>> {
        self.model.components(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 200 days at about 100 a day (a weekly shape), then 60 days of nothing, then 90 days
    /// at about 40.
    fn interrupted() -> Vec<f64> {
        let weekly = |t: usize| [1.0, 0.9, 1.0, 1.1, 1.2, 1.4, 0.6][t % 7];
        (0..350)
            .map(|t| match t {
                0..200 => 100.0 * weekly(t),
                200..260 => 0.0,
                _ => 40.0 * weekly(t),
            })
            .collect()
    }

    #[test]
    fn the_history_starts_after_the_last_long_run_of_zeros() {
        let y = interrupted();
        assert_eq!(history_start(&y, 7), 260);
        // A shorter run (three weeks), too little after it, or mostly zeros after it: none.
        let mut short = y.clone();
        short[221..260].iter_mut().for_each(|v| *v = 50.0);
        assert_eq!(history_start(&short, 7), 0);
        assert_eq!(history_start(&y[..300], 7), 0);
        let mut sparse = y.clone();
        sparse[260..].iter_mut().step_by(3).for_each(|v| *v = 0.0);
        sparse[261..].iter_mut().step_by(3).for_each(|v| *v = 0.0);
        assert_eq!(history_start(&sparse, 7), 0);
        // Leading zeros are not an interruption; nor is a weekly closing day.
        let mut leading = vec![0.0; 40];
        leading.extend(&y[..200]);
        assert_eq!(history_start(&leading, 7), 0);
    }

    #[test]
    fn the_forecast_follows_the_level_after_the_outage() {
        let y = interrupted();
        let spec = ModelSpec::AfterOutage {
            model: Box::new(ModelSpec::AutoEts),
        };
        let model = spec.fit(&y, 7).unwrap();
        let fc = model.forecast(14, &[80.0]);
        let mean = fc.mean.iter().sum::<f64>() / 14.0;
        assert!((mean - 41.14).abs() < 0.5, "{mean}");
        assert_eq!(model.fitted().len(), y.len());
        assert!(model.fitted()[..260].iter().all(|v| v.is_nan()));
        assert!(
            model
                .notes()
                .iter()
                .any(|n| n.contains("first 260 periods left out"))
        );
    }

    #[test]
    fn a_calendar_model_after_an_outage_keeps_its_dates() {
        use crate::forecast::backtest::BacktestConfig;
        use crate::forecast::prophet::ProphetSpec;
        use crate::forecast::select::{Metric, SelectionMethod, select};
        // With a little noise: a model that fits exactly has no spread to backtest.
        let y: Vec<f64> = interrupted()
            .iter()
            .enumerate()
            .map(|(t, v)| {
                if *v == 0.0 {
                    0.0
                } else {
                    v + ((t * 7919) % 5) as f64
                }
            })
            .collect();
        let prophet = ModelSpec::Prophet(ProphetSpec::new(1.0, 20_000.0));
        let wrapped = ModelSpec::AfterOutage {
            model: Box::new(prophet.clone()),
        };
        let ours = wrapped.fit(&y, 7).unwrap().forecast(7, &[]);
        let on_tail = ModelSpec::Prophet(ProphetSpec::new(1.0, 20_260.0));
        let theirs = on_tail.fit(&y[260..], 7).unwrap().forecast(7, &[]);
        assert_eq!(ours.mean, theirs.mean);
        // A choice among calendar models stores its spec in the whole history's frame.
        let method = SelectionMethod::Backtest {
            config: BacktestConfig {
                horizon: 14,
                step: 14,
                windows: 2,
                levels: vec![80.0],
            },
            metric: Metric::Mase,
            candidates: vec![prophet.clone()],
        };
        let sel = select(&y, 7, &method).unwrap();
        let stored = ModelSpec::AfterOutage {
            model: Box::new(ModelSpec::Closed {
                model: Box::new(prophet),
            }),
        };
        assert!(sel.spec == stored || sel.spec == wrapped, "{:?}", sel.notes);
        let again = sel.spec.fit(&y, 7).unwrap().forecast(7, &[]);
        assert_eq!(again.mean, sel.model.forecast(7, &[]).mean);
    }
}
