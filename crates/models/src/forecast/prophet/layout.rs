//! The columns of a Prophet-style model and their rows at any day: trend (slope, offset and
//! one hinge per changepoint), Fourier terms per seasonality, one indicator per holiday and
//! day offset, and the extra regressors (standardised unless binary).
//!
//! Why one layout for fitting and forecasting: the future rows must be built by exactly the
//! rule the history's were (the same changepoints, time scale, phases and regressor
//! scaling), so the layout is fixed at fit time and kept with the model.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::map::Prior;
use super::{Holiday, ProphetSpec, Seasonality};
use crate::numeric::linalg::dot;

/// Slope and offset priors: normal(0, 5), as the `prophet` package sets them.
const TREND_PRIOR_SD: f64 = 5.0;

/// How one extra regressor is scaled before it enters the design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressorScale {
    pub name: String,
    pub mean: f64,
    pub std: f64,
}

/// One holiday indicator: the days it marks (a holiday's dates shifted by one offset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HolidayColumn {
    pub name: String,
    pub days: Vec<f64>,
    pub prior_scale: f64,
}

impl HolidayColumn {
    /// Whether the observation starting on `day` and covering `step_days` holds one of the
    /// days: a holiday is a whole day, so it marks every observation whose span meets it (the
    /// day's hours, or the week, month, quarter or year holding it).
    pub fn marks(&self, day: f64, step_days: f64) -> bool {
        let end = day + step_days - 1e-9;
        self.days.iter().any(|d| *d > day - 1.0 + 1e-9 && *d < end)
    }
}

/// Every column of a fitted model, in design order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    /// Day number (days since 1970-01-01) of the first observation.
    pub first_day: f64,
    /// Days from the first to the last observation (the trend's unit of time).
    pub t_scale: f64,
    /// Days one observation covers (a holiday inside it marks it).
    pub step_days: f64,
    /// Changepoints on the trend's time scale (0 = first observation, 1 = last).
    pub changepoints: Vec<f64>,
    pub seasonalities: Vec<Seasonality>,
    pub holidays: Vec<HolidayColumn>,
    pub regressors: Vec<RegressorScale>,
    pub changepoint_prior_scale: f64,
    /// A flat trend: the slope's column is all zeros, so its coefficient stays 0.
    #[serde(default)]
    pub flat: bool,
    /// A logistic trend's capacity on the scaled data (`(cap − floor) / y_scale`); `None`: the
    /// trend is linear in its columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<f64>,
}

impl Layout {
    pub fn width(&self) -> usize {
        2 + self.changepoints.len()
            + self.seasonal_width()
            + self.holidays.len()
            + self.regressors.len()
    }

    /// Slope, offset and one hinge per changepoint.
    pub fn trend_width(&self) -> usize {
        2 + self.changepoints.len()
    }

    fn seasonal_width(&self) -> usize {
        self.seasonalities.iter().map(|s| 2 * s.order).sum()
    }

    /// The trend's time of `day` (0 at the first observation, 1 at the last).
    pub fn t(&self, day: f64) -> f64 {
        (day - self.first_day) / self.t_scale
    }

    /// Appends the row of `day` with these raw regressor values.
    pub fn row(&self, day: f64, regressors: &[f64], out: &mut Vec<f64>) {
        let t = self.t(day);
        out.push(if self.flat { 0.0 } else { t });
        out.push(1.0);
        out.extend(self.changepoints.iter().map(|c| (t - c).max(0.0)));
        for s in &self.seasonalities {
            let on = self.condition(s).map_or(1.0, |j| regressors[j]);
            for k in 1..=s.order {
                let angle = 2.0 * PI * k as f64 * day / s.period;
                out.push(on * angle.sin());
                out.push(on * angle.cos());
            }
        }
        for h in &self.holidays {
            out.push(if h.marks(day, self.step_days) {
                1.0
            } else {
                0.0
            });
        }
        for (r, v) in self.regressors.iter().zip(regressors) {
            out.push((v - r.mean) / r.std);
        }
    }

    /// The trend's linear predictor at design row `row`: the trend itself when it is linear,
    /// the logit `k(t − m) + Σ δⱼ(t − sⱼ)₊` when it is logistic.
    ///
    /// Why that logit: the `prophet` package moves the offset at each changepoint (its γ) so
    /// the curve stays continuous, `kⱼ(sⱼ − mⱼ) = kⱼ₋₁(sⱼ − mⱼ₋₁)`; unrolled, the logit of
    /// segment `j` is `k(t − m) + Σ_{l≤j} δₗ(t − sₗ)`, the same posterior without dividing by
    /// a rate that may pass through zero.
    pub fn trend_base(&self, row: &[f64], theta: &[f64]) -> f64 {
        let pt = self.trend_width();
        match self.cap {
            None => dot(&row[..pt], &theta[..pt]),
            Some(_) => theta[0] * (row[0] - theta[1] * row[1]) + dot(&row[2..pt], &theta[2..pt]),
        }
    }

    /// The trend at linear predictor `base` ([`Layout::trend_base`]).
    pub fn trend_at(&self, base: f64) -> f64 {
        match self.cap {
            None => base,
            Some(cap) => cap * logistic(base),
        }
    }

    /// The trend at design row `row`, on the scaled data.
    pub fn trend(&self, row: &[f64], theta: &[f64]) -> f64 {
        self.trend_at(self.trend_base(row, theta))
    }

    /// The regressor a conditional seasonality's terms are multiplied by (its raw 0/1 value).
    pub fn condition(&self, s: &Seasonality) -> Option<usize> {
        let name = s.condition.as_ref()?;
        self.regressors.iter().position(|r| &r.name == name)
    }

    /// The prior of each column, in design order.
    pub fn priors(&self) -> Vec<Prior> {
        let mut out = vec![Prior::Normal(TREND_PRIOR_SD); 2];
        out.extend(
            self.changepoints
                .iter()
                .map(|_| Prior::Laplace(self.changepoint_prior_scale)),
        );
        for s in &self.seasonalities {
            out.extend(std::iter::repeat_n(
                Prior::Normal(s.prior_scale),
                2 * s.order,
            ));
        }
        out.extend(self.holidays.iter().map(|h| Prior::Normal(h.prior_scale)));
        out.extend(
            self.regressors
                .iter()
                .map(|_| Prior::Normal(REGRESSOR_PRIOR_SCALE)),
        );
        out
    }

    /// Where each component's coefficients sit in θ.
    pub fn deltas<'a>(&self, theta: &'a [f64]) -> &'a [f64] {
        &theta[2..2 + self.changepoints.len()]
    }

    pub fn seasonal_range(&self) -> std::ops::Range<usize> {
        let start = 2 + self.changepoints.len();
        start..start + self.seasonal_width()
    }

    pub fn holiday_range(&self) -> std::ops::Range<usize> {
        let start = self.seasonal_range().end;
        start..start + self.holidays.len()
    }

    pub fn regressor_range(&self) -> std::ops::Range<usize> {
        let start = self.holiday_range().end;
        start..start + self.regressors.len()
    }
}

/// `1 / (1 + e^−x)`, without overflow at either end.
pub(super) fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Extra regressors' prior scale (the `prophet` package's default: the holidays' scale).
pub const REGRESSOR_PRIOR_SCALE: f64 = 10.0;

/// Changepoint positions as the `prophet` package places them: `n` of them spread evenly
/// (indices rounded half to even) over the first `range` of the `len` observations, the
/// first observation excluded; fewer when the history is short.
pub fn changepoint_indices(len: usize, n: usize, range: f64) -> Vec<usize> {
    let hist = (len as f64 * range).floor() as usize;
    let n = n.min(hist.saturating_sub(1));
    if n == 0 {
        return Vec::new();
    }
    let last = (hist - 1) as f64;
    (1..=n)
        .map(|i| (last * i as f64 / n as f64).round_ties_even() as usize)
        .collect()
}

/// The seasonalities the spec names, or the automatic ones: yearly (period 365.25 days,
/// order 10) with two years of history, weekly (7, 3) with two weeks of sub-weekly data,
/// daily (1, 4) with two days of sub-daily data. A seasonality whose period spans fewer
/// than two observations cannot be seen in the data and is left out with a note.
///
/// The spec's extra seasonalities come first (one named like an automatic one replaces it),
/// as the `prophet` package orders them; a conditional one whose condition is not among the
/// fit's `regressors` (a regressor left out for want of data) is left out with a note.
pub fn seasonalities(
    spec: &ProphetSpec,
    span_days: f64,
    regressors: &[String],
    notes: &mut Vec<String>,
) -> Vec<Seasonality> {
    let step = spec.step_days;
    let wanted = match &spec.seasonalities {
        Some(list) => list.clone(),
        None => {
            let mut auto = Vec::new();
            let mut add = |name: &str, period: f64, order: usize, min_span: f64, max_step: f64| {
                if span_days >= min_span && step < max_step {
                    auto.push(Seasonality {
                        name: name.into(),
                        period,
                        order,
                        prior_scale: spec.seasonality_prior_scale,
                        condition: None,
                    });
                } else if step < max_step {
                    notes.push(format!(
                        "{name} seasonality off: under {min_span} days of history"
                    ));
                }
            };
            add("yearly", 365.25, 10, 730.0, f64::INFINITY);
            add("weekly", 7.0, 3, 14.0, 7.0);
            add("daily", 1.0, 4, 2.0, 1.0);
            auto
        }
    };
    let extra = &spec.extra_seasonalities;
    extra
        .iter()
        .cloned()
        .chain(
            wanted
                .into_iter()
                .filter(|s| extra.iter().all(|e| e.name != s.name)),
        )
        .filter(|s| match why_off(s, step, regressors) {
            Some(why) => {
                notes.push(format!("{} seasonality off: {why}", s.name));
                false
            }
            None => true,
        })
        .collect()
}

/// Why seasonality `s` cannot be fitted on observations `step` days apart with these
/// regressors, if it cannot.
fn why_off(s: &Seasonality, step: f64, regressors: &[String]) -> Option<String> {
    if s.period < 2.0 * step {
        return Some(format!(
            "its period ({} days) spans fewer than two observations of {step} days",
            s.period
        ));
    }
    match &s.condition {
        Some(c) if !regressors.contains(c) => {
            Some(format!("its condition `{c}` is not among the regressors"))
        }
        _ => None,
    }
}

/// One indicator column per holiday name and day offset in its window (`name_+0`,
/// `name_-1`, ...), each marking every date of that holiday shifted by the offset.
pub fn holiday_columns(holidays: &[Holiday], default_scale: f64) -> Vec<HolidayColumn> {
    let mut out: Vec<HolidayColumn> = Vec::new();
    for h in holidays {
        for offset in h.lower_window..=h.upper_window {
            let sign = if offset < 0 { '-' } else { '+' };
            let name = format!("{}_{sign}{}", h.name, offset.unsigned_abs());
            let day = (h.day + offset) as f64;
            match out.iter_mut().find(|c| c.name == name) {
                Some(c) => c.days.push(day),
                None => out.push(HolidayColumn {
                    name,
                    days: vec![day],
                    prior_scale: h.prior_scale.unwrap_or(default_scale),
                }),
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Scales each regressor column as the `prophet` package's `standardize='auto'` does:
/// binary (0/1) columns as they are, others to mean 0 and (sample) standard deviation 1.
pub fn regressor_scales(names: &[String], columns: &[Vec<f64>]) -> Vec<RegressorScale> {
    names
        .iter()
        .zip(columns)
        .map(|(name, c)| {
            let binary = c.iter().all(|v| *v == 0.0 || *v == 1.0);
            let n = c.len() as f64;
            let mean = c.iter().sum::<f64>() / n;
            let var = c.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
            if binary || var <= 0.0 {
                RegressorScale {
                    name: name.clone(),
                    mean: 0.0,
                    std: 1.0,
                }
            } else {
                RegressorScale {
                    name: name.clone(),
                    mean,
                    std: var.sqrt(),
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changepoints_are_placed_as_prophet_places_them() {
        // prophet on 200 daily rows: hist 160, linspace(0, 159, 26) rounded half to even.
        let idx = changepoint_indices(200, 25, 0.8);
        assert_eq!(idx.len(), 25);
        assert_eq!(&idx[..5], &[6, 13, 19, 25, 32]);
        assert_eq!(idx[24], 159);
        // Short history: hist − 1 changepoints.
        assert_eq!(changepoint_indices(10, 25, 0.8), vec![1, 2, 3, 4, 5, 6, 7]);
        assert!(changepoint_indices(2, 25, 0.8).is_empty());
    }

    #[test]
    fn holidays_with_windows_make_one_column_per_offset() {
        let hs = vec![
            Holiday {
                name: "xmas".into(),
                day: 100,
                lower_window: -1,
                upper_window: 0,
                prior_scale: None,
            },
            Holiday {
                name: "xmas".into(),
                day: 465,
                lower_window: -1,
                upper_window: 0,
                prior_scale: None,
            },
        ];
        let cols = holiday_columns(&hs, 10.0);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["xmas_+0", "xmas_-1"]);
        assert_eq!(cols[0].days, vec![100.0, 465.0]);
        assert_eq!(cols[1].days, vec![99.0, 464.0]);
    }

    #[test]
    fn a_holiday_marks_every_hour_of_its_day_and_the_week_holding_it() {
        let holiday = |step_days: f64| Layout {
            first_day: 0.0,
            t_scale: 1.0,
            step_days,
            changepoints: Vec::new(),
            seasonalities: Vec::new(),
            holidays: vec![HolidayColumn {
                name: "h_+0".into(),
                days: vec![10.0],
                prior_scale: 10.0,
            }],
            regressors: Vec::new(),
            changepoint_prior_scale: 0.05,
            flat: false,
            cap: None,
        };
        let marked = |layout: &Layout, day: f64| {
            let mut row = Vec::new();
            layout.row(day, &[], &mut row);
            row[layout.holiday_range().start] == 1.0
        };
        let hourly = holiday(1.0 / 24.0);
        let hours: Vec<f64> = (0..24 * 12).map(|h| h as f64 / 24.0).collect();
        let hit: Vec<f64> = hours.into_iter().filter(|d| marked(&hourly, *d)).collect();
        assert_eq!(hit.len(), 24);
        assert_eq!((hit[0], hit[23]), (10.0, 10.0 + 23.0 / 24.0));
        let daily = holiday(1.0);
        assert!(marked(&daily, 10.0) && !marked(&daily, 9.0) && !marked(&daily, 11.0));
        let weekly = holiday(7.0);
        assert!(marked(&weekly, 7.0) && !marked(&weekly, 14.0) && !marked(&weekly, 0.0));
    }
}
