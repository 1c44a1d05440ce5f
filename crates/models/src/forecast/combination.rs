//! Forecast combinations: several models fitted to the same series, their forecasts averaged
//! (mean or median per step).
//!
//! Why: no single family wins on every series, and simple averages of a few reasonable
//! models are among the most reliable forecasts known (the M competitions' recurring result);
//! the median guards against one member going astray. The member models are named in
//! configuration like any other ([`super::ModelSpec`]), so a combination can hold automatic
//! models, baselines or other combinations.
//!
//! Intervals are a simple rule, not a calibrated one: each bound at each step is the mean
//! (or median) of the members' bounds at that level. Averaging bounds of correlated forecasts
//! roughly keeps their width; calibrated intervals for combinations come later from conformal
//! backtests. A member that fails to fit is skipped with a note; a combination with no member
//! left is an error.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FitLeaf, FittedModel, Forecast, ForecastError, Interval, ModelSpec};

/// How member forecasts are combined at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    Mean,
    Median,
}

impl Combine {
    pub fn as_str(self) -> &'static str {
        match self {
            Combine::Mean => "mean",
            Combine::Median => "median",
        }
    }

    /// Combines the values (non-empty).
    pub fn apply(self, values: &[f64]) -> f64 {
        match self {
            Combine::Mean => values.iter().sum::<f64>() / values.len() as f64,
            Combine::Median => {
                let mut v = values.to_vec();
                v.sort_by(f64::total_cmp);
                let n = v.len();
                if n % 2 == 1 {
                    v[n / 2]
                } else {
                    (v[n / 2 - 1] + v[n / 2]) / 2.0
                }
            }
        }
    }
}

/// A fitted combination.
#[derive(Debug)]
pub struct Combination {
    how: Combine,
    members: Vec<(String, Box<dyn FittedModel>)>,
    notes: Vec<String>,
}

impl Combination {
    /// Fits every member (its leaves by `leaf`, see [`ModelSpec::fit_through`]); failures
    /// are skipped with a note.
    pub fn fit(
        y: &[f64],
        season: usize,
        members: &[ModelSpec],
        how: Combine,
        leaf: &mut FitLeaf<'_>,
    ) -> Result<Combination, ForecastError> {
        if members.is_empty() {
            return Err(ForecastError::InvalidInput(
                "a combination needs at least one member".into(),
            ));
        }
        let mut fitted = Vec::new();
        let mut notes = Vec::new();
        for spec in members {
            match spec.fit_through(y, season, leaf) {
                Ok(model) => fitted.push((spec.label(), model)),
                Err(e) => notes.push(format!("member {} skipped: {e}", spec.label())),
            }
        }
        if fitted.is_empty() {
            return Err(ForecastError::NotConverged {
                model: "combination".into(),
                detail: format!("no member could be fitted ({})", notes.join("; ")),
            });
        }
        Ok(Combination {
            how,
            members: fitted,
            notes,
        })
    }

    /// Combines one value per member at each of `len` positions, skipping non-finite ones.
    fn per_step(&self, len: usize, value: impl Fn(usize, usize) -> f64) -> Vec<f64> {
        (0..len)
            .map(|t| {
                let v: Vec<f64> = (0..self.members.len())
                    .map(|m| value(m, t))
                    .filter(|x| x.is_finite())
                    .collect();
                if v.is_empty() {
                    f64::NAN
                } else {
                    self.how.apply(&v)
                }
            })
            .collect()
    }
}

/// Combines already computed member forecasts (`h` steps, intervals at `levels`) the way a
/// fitted [`Combination`] does: per step, the mean or median of the finite member values,
/// for the point forecast and for each interval bound. The pooled backtest choice uses it to
/// form every combination from one fit per member.
pub fn combine_forecasts(how: Combine, fs: &[&Forecast], h: usize, levels: &[f64]) -> Forecast {
    let per_step = |value: &dyn Fn(&Forecast, usize) -> f64| -> Vec<f64> {
        (0..h)
            .map(|t| {
                let v: Vec<f64> = fs
                    .iter()
                    .map(|f| value(f, t))
                    .filter(|x| x.is_finite())
                    .collect();
                if v.is_empty() {
                    f64::NAN
                } else {
                    how.apply(&v)
                }
            })
            .collect()
    };
    let mean = per_step(&|f, t| f.mean.get(t).copied().unwrap_or(f64::NAN));
    let intervals = super::valid_levels(levels)
        .map(|level| {
            let bound = |f: &Forecast, t: usize, upper: bool| {
                f.interval(level).map_or(f64::NAN, |i| {
                    let b = if upper { &i.upper } else { &i.lower };
                    b.get(t).copied().unwrap_or(f64::NAN)
                })
            };
            Interval {
                level,
                lower: per_step(&|f, t| bound(f, t, false)),
                upper: per_step(&|f, t| bound(f, t, true)),
            }
        })
        .collect();
    Forecast { mean, intervals }
}

impl FittedModel for Combination {
    fn name(&self) -> String {
        let names: Vec<String> = self.members.iter().map(|(_, m)| m.name()).collect();
        format!("{}({})", self.how.as_str(), names.join(", "))
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        let fs: Vec<Forecast> = self
            .members
            .iter()
            .map(|(_, m)| m.forecast(h, levels))
            .collect();
        let refs: Vec<&Forecast> = fs.iter().collect();
        combine_forecasts(self.how, &refs, h, levels)
    }

    fn aicc(&self) -> Option<f64> {
        None
    }

    fn loglik(&self) -> Option<f64> {
        None
    }

    fn params(&self) -> serde_json::Value {
        let members: Vec<serde_json::Value> = self
            .members
            .iter()
            .map(|(label, m)| json!({"spec": label, "name": m.name(), "params": m.params()}))
            .collect();
        json!({"combine": self.how.as_str(), "members": members})
    }

    fn fitted(&self) -> Vec<f64> {
        let fitted: Vec<Vec<f64>> = self.members.iter().map(|(_, m)| m.fitted()).collect();
        let n = fitted.iter().map(Vec::len).max().unwrap_or(0);
        self.per_step(n, |m, t| fitted[m].get(t).copied().unwrap_or(f64::NAN))
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        for (label, m) in &self.members {
            notes.extend(m.notes().into_iter().map(|n| format!("{label}: {n}")));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::fit_leaf;

    fn trend() -> Vec<f64> {
        (0..30).map(|t| 10.0 + t as f64).collect()
    }

    #[test]
    fn mean_and_median_of_members() {
        let y = trend();
        let members = [
            ModelSpec::Naive,
            ModelSpec::Drift,
            ModelSpec::MovingAverage { window: 3 },
        ];
        let each: Vec<Forecast> = members
            .iter()
            .map(|s| s.fit(&y, 1).unwrap().forecast(2, &[80.0]))
            .collect();
        let mean = Combination::fit(&y, 1, &members, Combine::Mean, &mut fit_leaf).unwrap();
        let f = mean.forecast(2, &[80.0]);
        let want = (each[0].mean[1] + each[1].mean[1] + each[2].mean[1]) / 3.0;
        assert!((f.mean[1] - want).abs() < 1e-12);
        let lo = (0..3).map(|m| each[m].intervals[0].lower[0]).sum::<f64>() / 3.0;
        assert!((f.intervals[0].lower[0] - lo).abs() < 1e-12);

        let med = Combination::fit(&y, 1, &members, Combine::Median, &mut fit_leaf).unwrap();
        let mut v: Vec<f64> = each.iter().map(|f| f.mean[0]).collect();
        v.sort_by(f64::total_cmp);
        assert_eq!(med.forecast(2, &[]).mean[0], v[1]);
        assert!(med.name().starts_with("median("));
    }

    #[test]
    fn failing_members_are_skipped_and_all_failing_is_an_error() {
        let y = [1.0, 2.0, 3.0, 2.5, 3.5];
        let c = Combination::fit(
            &y,
            1,
            &[ModelSpec::Naive, ModelSpec::MovingAverage { window: 0 }],
            Combine::Mean,
            &mut fit_leaf,
        )
        .unwrap();
        assert_eq!(c.forecast(1, &[]).mean, vec![3.5]);
        assert!(c.notes()[0].contains("skipped"));
        assert!(matches!(
            Combination::fit(
                &y,
                1,
                &[ModelSpec::MovingAverage { window: 0 }],
                Combine::Mean,
                &mut fit_leaf,
            ),
            Err(ForecastError::NotConverged { .. })
        ));
        assert!(Combination::fit(&y, 1, &[], Combine::Median, &mut fit_leaf).is_err());
    }

    #[test]
    fn even_median_averages_the_middle_pair() {
        assert_eq!(Combine::Median.apply(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(Combine::Mean.apply(&[4.0, 2.0]), 3.0);
    }

    #[test]
    fn combining_member_forecasts_equals_the_fitted_combination() {
        let y = trend();
        let members = [ModelSpec::Naive, ModelSpec::Drift];
        let each: Vec<Forecast> = members
            .iter()
            .map(|s| s.fit(&y, 1).unwrap().forecast(3, &[80.0, 95.0]))
            .collect();
        let refs: Vec<&Forecast> = each.iter().collect();
        for how in [Combine::Mean, Combine::Median] {
            let fitted = Combination::fit(&y, 1, &members, how, &mut fit_leaf).unwrap();
            assert_eq!(
                combine_forecasts(how, &refs, 3, &[80.0, 95.0]),
                fitted.forecast(3, &[80.0, 95.0])
            );
        }
    }
}
