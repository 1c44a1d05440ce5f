//! Forecast combinations: several models fitted to the same series, their forecasts averaged
//! (mean, median or weighted mean per step).
//!
//! Why: no single family wins on every series, and simple averages of a few reasonable
//! models are among the most reliable forecasts known (the M competitions' recurring result);
//! the median guards against one member going astray. Weights (the pooled choice sets them
//! from the members' backtest errors, see [`super::select`]) let a member that describes a
//! series much better than the others count for more without dropping the others. The
//! member models are named in configuration like any other ([`super::ModelSpec`]), so a
//! combination can hold automatic models, baselines or other combinations.
//!
//! Intervals are a simple rule, not a calibrated one: each bound at each step is the mean
//! (median, weighted mean) of the members' bounds at that level. Averaging bounds of
//! correlated forecasts roughly keeps their width; calibrated intervals for combinations come
//! later from conformal backtests. A member that fails to fit is skipped with a note; a combination with no member
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

/// Combines one value per member: `how` over the finite values, or with `weights` (one per
/// member) their weighted mean, the weights of non-finite values left out. NaN when no
/// value is finite (or every finite value has weight 0).
pub fn combine_step(how: Combine, weights: Option<&[f64]>, values: &[f64]) -> f64 {
    match weights {
        None => {
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            if finite.is_empty() {
                f64::NAN
            } else {
                how.apply(&finite)
            }
        }
        Some(w) => {
            let (sum, total) = values
                .iter()
                .zip(w)
                .filter(|(v, _)| v.is_finite())
                .fold((0.0, 0.0), |(s, t), (v, w)| (s + v * w, t + w));
            if total > 0.0 { sum / total } else { f64::NAN }
        }
    }
}

/// Checks weights given for `members` members: one each, finite, not negative, not all 0,
/// and only for a mean.
pub fn check_weights(how: Combine, weights: &[f64], members: usize) -> Result<(), ForecastError> {
    let problem = if how != Combine::Mean {
        Some("weights apply to a mean only".to_string())
    } else if weights.len() != members {
        Some(format!("{} weights for {members} members", weights.len()))
    } else if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
        Some("weights must be finite and not negative".to_string())
    } else if weights.iter().sum::<f64>() <= 0.0 {
        Some("at least one weight must be above 0".to_string())
    } else {
        None
    };
    problem.map_or(Ok(()), |p| {
        Err(ForecastError::InvalidInput(format!("combination: {p}")))
    })
}

/// A fitted combination.
#[derive(Debug)]
pub struct Combination {
    how: Combine,
    /// One per fitted member (a skipped member's weight is dropped with it).
    weights: Option<Vec<f64>>,
    members: Vec<(String, Box<dyn FittedModel>)>,
    notes: Vec<String>,
}

impl Combination {
    /// Fits every member (its leaves by `leaf`, see [`ModelSpec::fit_through`]); failures
    /// are skipped with a note. `weights`, if given, one per member (see [`check_weights`]).
    pub fn fit(
        y: &[f64],
        season: usize,
        members: &[ModelSpec],
        (how, weights): (Combine, Option<&[f64]>),
        leaf: &mut FitLeaf<'_>,
    ) -> Result<Combination, ForecastError> {
        if members.is_empty() {
            return Err(ForecastError::InvalidInput(
                "a combination needs at least one member".into(),
            ));
        }
        if let Some(w) = weights {
            check_weights(how, w, members.len())?;
        }
        let mut fitted = Vec::new();
        let mut kept_weights = Vec::new();
        let mut notes = Vec::new();
        for (i, spec) in members.iter().enumerate() {
            match spec.fit_through(y, season, leaf) {
                Ok(model) => {
                    fitted.push((spec.label(), model));
                    kept_weights.extend(weights.map(|w| w[i]));
                }
                Err(e) => notes.push(format!("member {} skipped: {e}", spec.label())),
            }
        }
        if fitted.is_empty() {
            return Err(ForecastError::NotConverged {
                model: "combination".into(),
                detail: format!("no member could be fitted ({})", notes.join("; ")),
            });
        }
        if kept_weights.iter().sum::<f64>() <= 0.0 && weights.is_some() {
            return Err(ForecastError::NotConverged {
                model: "combination".into(),
                detail: format!(
                    "every member with a weight above 0 failed ({})",
                    notes.join("; ")
                ),
            });
        }
        Ok(Combination {
            how,
            weights: weights.map(|_| kept_weights),
            members: fitted,
            notes,
        })
    }

    /// Combines one value per member at each of `len` positions, skipping non-finite ones.
    fn per_step(&self, len: usize, value: impl Fn(usize, usize) -> f64) -> Vec<f64> {
        (0..len)
            .map(|t| {
                let v: Vec<f64> = (0..self.members.len()).map(|m| value(m, t)).collect();
                combine_step(self.how, self.weights.as_deref(), &v)
            })
            .collect()
    }
}

/// Combines already computed member forecasts (`h` steps, intervals at `levels`) the way a
/// fitted [`Combination`] does: per step, the mean, median or weighted mean of the finite
/// member values ([`combine_step`]), for the point forecast and for each interval bound. The
/// pooled backtest choice uses it to form every combination from one fit per member.
pub fn combine_forecasts(
    (how, weights): (Combine, Option<&[f64]>),
    fs: &[&Forecast],
    h: usize,
    levels: &[f64],
) -> Forecast {
    let per_step = |value: &dyn Fn(&Forecast, usize) -> f64| -> Vec<f64> {
        (0..h)
            .map(|t| {
                let v: Vec<f64> = fs.iter().map(|f| value(f, t)).collect();
                combine_step(how, weights, &v)
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

impl Combination {
    /// "mean", "median" or "weighted".
    fn kind(&self) -> &'static str {
        if self.weights.is_some() {
            "weighted"
        } else {
            self.how.as_str()
        }
    }
}

impl FittedModel for Combination {
    fn name(&self) -> String {
        let names: Vec<String> = self.members.iter().map(|(_, m)| m.name()).collect();
        format!("{}({})", self.kind(), names.join(", "))
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        let fs: Vec<Forecast> = self
            .members
            .iter()
            .map(|(_, m)| m.forecast(h, levels))
            .collect();
        let refs: Vec<&Forecast> = fs.iter().collect();
        combine_forecasts((self.how, self.weights.as_deref()), &refs, h, levels)
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
        json!({"combine": self.kind(), "weights": self.weights, "members": members})
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

    /// Fits a combination of `members` on `y` (season 1).
    fn fit_on(
        y: &[f64],
        members: &[ModelSpec],
        mix: (Combine, Option<&[f64]>),
    ) -> Result<Combination, ForecastError> {
        Combination::fit(y, 1, members, mix, &mut fit_leaf)
    }

    /// Each member's own forecast.
    fn member_forecasts(
        y: &[f64],
        members: &[ModelSpec],
        h: usize,
        levels: &[f64],
    ) -> Vec<Forecast> {
        members
            .iter()
            .map(|s| s.fit(y, 1).unwrap().forecast(h, levels))
            .collect()
    }

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
        let each = member_forecasts(&y, &members, 2, &[80.0]);
        let mean = fit_on(&y, &members, (Combine::Mean, None)).unwrap();
        let f = mean.forecast(2, &[80.0]);
        let want = (each[0].mean[1] + each[1].mean[1] + each[2].mean[1]) / 3.0;
        assert!((f.mean[1] - want).abs() < 1e-12);
        let lo = (0..3).map(|m| each[m].intervals[0].lower[0]).sum::<f64>() / 3.0;
        assert!((f.intervals[0].lower[0] - lo).abs() < 1e-12);

        let med = fit_on(&y, &members, (Combine::Median, None)).unwrap();
        let mut v: Vec<f64> = each.iter().map(|f| f.mean[0]).collect();
        v.sort_by(f64::total_cmp);
        assert_eq!(med.forecast(2, &[]).mean[0], v[1]);
        assert!(med.name().starts_with("median("));
    }

    #[test]
    fn failing_members_are_skipped_and_all_failing_is_an_error() {
        let y = [1.0, 2.0, 3.0, 2.5, 3.5];
        let c = fit_on(
            &y,
            &[ModelSpec::Naive, ModelSpec::MovingAverage { window: 0 }],
            (Combine::Mean, None),
        )
        .unwrap();
        assert_eq!(c.forecast(1, &[]).mean, vec![3.5]);
        assert!(c.notes()[0].contains("skipped"));
        assert!(matches!(
            fit_on(
                &y,
                &[ModelSpec::MovingAverage { window: 0 }],
                (Combine::Mean, None)
            ),
            Err(ForecastError::NotConverged { .. })
        ));
        assert!(fit_on(&y, &[], (Combine::Median, None)).is_err());
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
        let each = member_forecasts(&y, &members, 3, &[80.0, 95.0]);
        let refs: Vec<&Forecast> = each.iter().collect();
        let weights = [3.0, 1.0];
        for mix in [
            (Combine::Mean, None),
            (Combine::Median, None),
            (Combine::Mean, Some(&weights[..])),
        ] {
            let fitted = fit_on(&y, &members, mix).unwrap();
            assert_eq!(
                combine_forecasts(mix, &refs, 3, &[80.0, 95.0]),
                fitted.forecast(3, &[80.0, 95.0])
            );
        }
    }

    #[test]
    fn weighted_mean_weighs_each_member_and_drops_a_failed_ones_weight() {
        let y = trend();
        let members = [ModelSpec::Naive, ModelSpec::Drift];
        let each = member_forecasts(&y, &members, 2, &[80.0]);
        let weights = [0.75, 0.25];
        let c = fit_on(&y, &members, (Combine::Mean, Some(&weights))).unwrap();
        let f = c.forecast(2, &[80.0]);
        for t in 0..2 {
            let want = 0.75 * each[0].mean[t] + 0.25 * each[1].mean[t];
            assert!((f.mean[t] - want).abs() < 1e-12, "{} vs {want}", f.mean[t]);
            let lo = 0.75 * each[0].intervals[0].lower[t] + 0.25 * each[1].intervals[0].lower[t];
            assert!((f.intervals[0].lower[t] - lo).abs() < 1e-12);
        }
        assert!(c.name().starts_with("weighted("));
        assert_eq!(c.params()["weights"], json!([0.75, 0.25]));
        // A member that fails takes its weight with it: the rest is that member alone.
        let failing = [ModelSpec::MovingAverage { window: 0 }, ModelSpec::Drift];
        let c = fit_on(&y, &failing, (Combine::Mean, Some(&weights))).unwrap();
        assert_eq!(c.forecast(2, &[]).mean, each[1].mean);
    }

    #[test]
    fn weights_must_fit_their_members() {
        let y = trend();
        let members = [ModelSpec::Naive, ModelSpec::Drift];
        for (how, weights) in [
            (Combine::Median, vec![1.0, 1.0]),
            (Combine::Mean, vec![1.0]),
            (Combine::Mean, vec![1.0, -1.0]),
            (Combine::Mean, vec![f64::NAN, 1.0]),
            (Combine::Mean, vec![0.0, 0.0]),
        ] {
            let r = fit_on(&y, &members, (how, Some(&weights)));
            assert!(
                matches!(r, Err(ForecastError::InvalidInput(_))),
                "{how:?} {weights:?}"
            );
        }
    }
}
