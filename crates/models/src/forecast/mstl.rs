//! MSTL: seasonal-trend decomposition by loess with several seasonal periods (Bandara,
//! Hyndman & Bergmeir 2021), and the forecaster built on it, as statsforecast 2.1.1's `mstl`
//! and `MSTL(season_length=[...])` define them (which follow R's `forecast::mstl`).
//!
//! Why: daily demand has a weekly and a yearly cycle at once. ETS and ARIMA take one season,
//! and a 365-state seasonal ETS is neither identifiable on three years of data nor cheap.
//! MSTL peels the cycles off one at a time with STL, forecasts what is left (trend +
//! remainder) with a small non-seasonal model, and adds the last observed cycle of each
//! seasonal component back: cheap, robust, and a standard benchmark for daily retail data.
//!
//! The decomposition ([`decompose`]):
//! - periods are sorted ascending; periods below 2 and periods with fewer than two full
//!   cycles in the series are dropped, with a note. R drops those too (and also a period of
//!   exactly half the series); statsforecast drops none and passes a long period to STL,
//!   which then extrapolates a cycle it never saw twice;
//! - the `i`-th kept period (from 0) gets the seasonal window `7 + 4(i + 1)` (11, 15, 19, ...),
//!   seasonal loess degree 0, and otherwise STL's defaults ([`super::stl`], statsmodels'
//!   non-robust STL);
//! - two passes over the periods (one when there is a single period: a second pass would give
//!   the same result): each period's seasonal component is added back to the deseasonalised
//!   series, re-estimated by STL, and subtracted again;
//! - the trend is the last STL fit's trend, and the remainder is `y − trend − Σ seasonals`.
//!   With no seasonal period left, R and statsforecast smooth the trend with Friedman's
//!   supersmoother; here the trend is the series itself and the remainder zero — the
//!   forecaster only uses their sum, so forecasts are unaffected.
//!
//! The forecaster ([`Mstl`]): the seasonally adjusted series `trend + remainder` is forecast
//! by recast's automatic ETS restricted to non-seasonal models ([`super::ets::auto_ets`] with
//! season 1 is exactly statsforecast's `AutoETS(model="ZZN")` model set: error A/M, trend
//! N/A/Ad, no season, lowest AICc); each seasonal component is forecast by repeating its last
//! cycle (seasonal naive), and the sum is added to the ETS mean and to both bounds of each ETS
//! interval (statsforecast shifts the intervals the same way, so they ignore the uncertainty of
//! the seasonal components). A (numerically) constant adjusted series is forecast as that
//! constant with zero-width intervals, as statsforecast's ETS does. Checked against
//! statsforecast in `tests/mstl_reference.rs`.

use serde_json::json;

use super::ets::{Ets, auto_ets};
use super::stl::{StlOptions, stl};
use super::{FittedModel, Forecast, ForecastError, Interval, valid_levels};

/// An additive decomposition `y = trend + Σ seasonal[i] + remainder`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decomposition {
    /// The seasonal periods kept, ascending; `seasonal[i]` belongs to `periods[i]`.
    pub periods: Vec<usize>,
    /// Periods asked for but left out (below 2, or fewer than two cycles in the series).
    pub dropped: Vec<usize>,
    pub trend: Vec<f64>,
    pub seasonal: Vec<Vec<f64>>,
    pub remainder: Vec<f64>,
}

impl Decomposition {
    /// `trend + remainder`: the series with every seasonal component removed.
    pub fn seasonally_adjusted(&self) -> Vec<f64> {
        self.trend
            .iter()
            .zip(&self.remainder)
            .map(|(t, r)| t + r)
            .collect()
    }

    /// The sum of the seasonal components at each observation.
    pub fn seasonal_sum(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.trend.len()];
        for s in &self.seasonal {
            out.iter_mut().zip(s).for_each(|(o, v)| *o += v);
        }
        out
    }

    /// Seasonal-naive forecast of the summed seasonal components for steps `1..=h`: each
    /// component's last cycle, repeated.
    pub fn seasonal_forecast(&self, h: usize) -> Vec<f64> {
        let n = self.trend.len();
        (0..h)
            .map(|j| {
                self.periods
                    .iter()
                    .zip(&self.seasonal)
                    .map(|(&p, s)| s[n - p + j % p])
                    .sum()
            })
            .collect()
    }
}

/// The seasonal loess window of the `i`-th kept period (from 0): 11, 15, 19, ...
pub fn seasonal_window(i: usize) -> usize {
    7 + 4 * (i + 1)
}

/// Splits `periods` into those a series of `n` observations can be decomposed by (ascending,
/// without repeats) and those dropped (below 2, or more than `n / 2`).
pub fn usable_periods(periods: &[usize], n: usize) -> (Vec<usize>, Vec<usize>) {
    let mut sorted = periods.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.into_iter().partition(|&p| p >= 2 && 2 * p <= n)
}

/// STL settings for the `i`-th kept period.
fn stl_options(i: usize) -> StlOptions {
    StlOptions {
        seasonal_window: seasonal_window(i),
        seasonal_degree: 0,
        ..StlOptions::default()
    }
}

/// MSTL decomposition of `y` by `periods` (see the module doc).
pub fn decompose(y: &[f64], periods: &[usize]) -> Result<Decomposition, ForecastError> {
    super::error::check_finite(y)?;
    if y.is_empty() {
        return Err(ForecastError::TooShort {
            model: "MSTL".into(),
            needed: 1,
            got: 0,
        });
    }
    let n = y.len();
    let (kept, dropped) = usable_periods(periods, n);
    if kept.is_empty() {
        return Ok(Decomposition {
            periods: kept,
            dropped,
            trend: y.to_vec(),
            seasonal: Vec::new(),
            remainder: vec![0.0; n],
        });
    }
    let passes = if kept.len() == 1 { 1 } else { 2 };
    let mut seasonal = vec![vec![0.0; n]; kept.len()];
    let mut deseasoned = y.to_vec();
    let mut trend = Vec::new();
    for _ in 0..passes {
        for (i, &p) in kept.iter().enumerate() {
            add(&mut deseasoned, &seasonal[i], 1.0);
            let fit = stl(&deseasoned, p, stl_options(i));
            seasonal[i] = fit.seasonal;
            add(&mut deseasoned, &seasonal[i], -1.0);
            trend = fit.trend;
        }
    }
    let remainder = deseasoned.iter().zip(&trend).map(|(d, t)| d - t).collect();
    Ok(Decomposition {
        periods: kept,
        dropped,
        trend,
        seasonal,
        remainder,
    })
}

/// `x += sign · v`, element by element.
fn add(x: &mut [f64], v: &[f64], sign: f64) {
    x.iter_mut().zip(v).for_each(|(a, b)| *a += sign * b);
}

/// The model of the seasonally adjusted series.
#[derive(Debug, Clone)]
enum TrendModel {
    Ets(Box<Ets>),
    /// A constant adjusted series: forecast as the constant, with no uncertainty.
    Constant(f64),
}

/// Whether every value equals the first up to rounding (1e-10 of the series' scale).
fn is_constant(x: &[f64]) -> bool {
    let scale = x.iter().fold(0.0_f64, |a, v| a.max(v.abs())).max(1e-300);
    x.iter().all(|v| (v - x[0]).abs() <= 1e-10 * scale)
}

impl TrendModel {
    fn fit(adjusted: &[f64]) -> Result<TrendModel, ForecastError> {
        if is_constant(adjusted) {
            return Ok(TrendModel::Constant(adjusted[0]));
        }
        Ok(TrendModel::Ets(Box::new(auto_ets(adjusted, 1)?)))
    }

    fn name(&self) -> String {
        match self {
            TrendModel::Ets(m) => m.name(),
            TrendModel::Constant(_) => "constant".into(),
        }
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        match self {
            TrendModel::Ets(m) => m.forecast(h, levels),
            TrendModel::Constant(c) => Forecast::gaussian(vec![*c; h], &vec![0.0; h], levels),
        }
    }

    fn fitted(&self, adjusted: &[f64]) -> Vec<f64> {
        match self {
            TrendModel::Ets(m) => m.fitted(),
            TrendModel::Constant(c) => vec![*c; adjusted.len()],
        }
    }

    fn params(&self) -> serde_json::Value {
        match self {
            TrendModel::Ets(m) => m.params(),
            TrendModel::Constant(c) => json!({ "model": "constant", "value": c }),
        }
    }
}

/// A fitted MSTL forecaster.
#[derive(Debug, Clone)]
pub struct Mstl {
    decomposition: Decomposition,
    trend: TrendModel,
    fitted: Vec<f64>,
    notes: Vec<String>,
}

impl Mstl {
    /// Decomposes `y` by `periods` and fits the non-seasonal automatic ETS to the seasonally
    /// adjusted series.
    pub fn fit(y: &[f64], periods: &[usize]) -> Result<Mstl, ForecastError> {
        let decomposition = decompose(y, periods)?;
        let adjusted = decomposition.seasonally_adjusted();
        let trend = TrendModel::fit(&adjusted)?;
        let fitted = trend
            .fitted(&adjusted)
            .iter()
            .zip(decomposition.seasonal_sum())
            .map(|(f, s)| f + s)
            .collect();
        let notes = notes_of(&decomposition, &trend, y.len());
        Ok(Mstl {
            decomposition,
            trend,
            fitted,
            notes,
        })
    }

    /// The decomposition the forecasts are built on.
    pub fn decomposition(&self) -> &Decomposition {
        &self.decomposition
    }

    /// Name of the model of the seasonally adjusted series, e.g. `ETS(M,N,N)`.
    pub fn trend_model(&self) -> String {
        self.trend.name()
    }
}

/// What a caller should know: dropped periods, and the adjusted model's own notes.
fn notes_of(d: &Decomposition, trend: &TrendModel, n: usize) -> Vec<String> {
    let mut notes = Vec::new();
    if !d.dropped.is_empty() {
        notes.push(format!(
            "seasonal periods {:?} dropped: below 2 or fewer than two cycles in {n} observations",
            d.dropped
        ));
    }
    if d.periods.is_empty() {
        notes.push("no seasonal period left: the series is forecast without seasonality".into());
    }
    match trend {
        TrendModel::Ets(m) => notes.extend(m.notes()),
        TrendModel::Constant(_) => {
            notes.push("seasonally adjusted series is constant: forecast as that constant".into())
        }
    }
    notes
}

/// `values + shift`, element by element.
fn shifted(values: &[f64], shift: &[f64]) -> Vec<f64> {
    values.iter().zip(shift).map(|(v, s)| v + s).collect()
}

impl FittedModel for Mstl {
    fn name(&self) -> String {
        let periods: Vec<String> = self
            .decomposition
            .periods
            .iter()
            .map(usize::to_string)
            .collect();
        format!("MSTL({}; {})", periods.join(","), self.trend.name())
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        let levels: Vec<f64> = valid_levels(levels).collect();
        let adjusted = self.trend.forecast(h, &levels);
        let season = self.decomposition.seasonal_forecast(h);
        Forecast {
            mean: shifted(&adjusted.mean, &season),
            intervals: adjusted
                .intervals
                .iter()
                .map(|i| Interval {
                    level: i.level,
                    lower: shifted(&i.lower, &season),
                    upper: shifted(&i.upper, &season),
                })
                .collect(),
        }
    }

    /// None: the ETS likelihood is of the adjusted series, not comparable with models of `y`.
    fn aicc(&self) -> Option<f64> {
        None
    }

    fn loglik(&self) -> Option<f64> {
        None
    }

    fn params(&self) -> serde_json::Value {
        let d = &self.decomposition;
        let n = d.trend.len();
        let last_cycles: Vec<&[f64]> = d
            .periods
            .iter()
            .zip(&d.seasonal)
            .map(|(&p, s)| &s[n - p..])
            .collect();
        let windows: Vec<usize> = (0..d.periods.len()).map(seasonal_window).collect();
        json!({
            "model": "MSTL",
            "periods": d.periods,
            "dropped_periods": d.dropped,
            "seasonal_windows": windows,
            "seasonal_last_cycles": last_cycles,
            "trend_model": self.trend.params(),
        })
    }

    fn fitted(&self) -> Vec<f64> {
        self.fitted.clone()
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weekly and 30-day cycles on a slow trend, with a little deterministic wiggle.
    fn two_cycles(n: usize) -> Vec<f64> {
        let tau = 2.0 * std::f64::consts::PI;
        (0..n)
            .map(|t| {
                let t = t as f64;
                200.0
                    + 0.1 * t
                    + 10.0 * (tau * t / 7.0).sin()
                    + 25.0 * (tau * t / 30.0).cos()
                    + 0.5 * (1.7 * t).sin()
            })
            .collect()
    }

    fn assert_all_close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol, "index {i}: {x} vs {y}");
        }
    }

    #[test]
    fn components_add_up_to_the_series() {
        let y = two_cycles(180);
        let d = decompose(&y, &[30, 7]).unwrap();
        assert_eq!(d.periods, vec![7, 30]);
        let sum: Vec<f64> = d
            .seasonally_adjusted()
            .iter()
            .zip(d.seasonal_sum())
            .map(|(a, s)| a + s)
            .collect();
        assert_all_close(&sum, &y, 1e-9);
        // Each cycle lands in its own component.
        let amplitude = |s: &[f64]| s.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
        assert!((amplitude(&d.seasonal[0]) - 10.0).abs() < 2.0);
        assert!((amplitude(&d.seasonal[1]) - 25.0).abs() < 4.0);
    }

    #[test]
    fn a_period_longer_than_half_the_series_is_dropped() {
        let y = two_cycles(50);
        let d = decompose(&y, &[7, 30, 1]).unwrap();
        assert_eq!(d.periods, vec![7]);
        assert_eq!(d.dropped, vec![1, 30]);
        let alone = decompose(&y, &[7]).unwrap();
        assert_eq!(
            d,
            Decomposition {
                dropped: vec![1, 30],
                ..alone
            }
        );
        let m = Mstl::fit(&y, &[7, 30]).unwrap();
        assert!(m.notes().iter().any(|n| n.contains("[30] dropped")));
        assert_eq!(m.name(), format!("MSTL(7; {})", m.trend_model()));
    }

    #[test]
    fn a_single_period_is_one_stl_with_window_11_and_degree_0() {
        let y = two_cycles(120);
        let d = decompose(&y, &[7]).unwrap();
        let s = stl(
            &y,
            7,
            StlOptions {
                seasonal_window: 11,
                seasonal_degree: 0,
                ..StlOptions::default()
            },
        );
        assert_eq!(d.seasonal, vec![s.seasonal]);
        assert_eq!(d.trend, s.trend);
        assert_all_close(&d.remainder, &s.remainder, 1e-9);
    }

    #[test]
    fn forecast_is_the_adjusted_forecast_plus_the_last_cycles() {
        let y = two_cycles(180);
        let m = Mstl::fit(&y, &[7, 30]).unwrap();
        let d = m.decomposition();
        let ets = auto_ets(&d.seasonally_adjusted(), 1).unwrap();
        let base = ets.forecast(40, &[80.0]);
        let f = m.forecast(40, &[80.0, 120.0]);
        assert_eq!(f.intervals.len(), 1);
        for j in 0..40 {
            let season = d.seasonal[0][180 - 7 + j % 7] + d.seasonal[1][180 - 30 + j % 30];
            assert!((f.mean[j] - base.mean[j] - season).abs() < 1e-9);
            let (i, b) = (&f.intervals[0], &base.intervals[0]);
            assert!((i.upper[j] - i.lower[j] - (b.upper[j] - b.lower[j])).abs() < 1e-9);
        }
        // The forecast continues the cycles: close to the noise-free truth a week out.
        let truth = two_cycles(187);
        for j in 0..7 {
            assert!(
                (f.mean[j] - truth[180 + j]).abs() < 3.0,
                "{:?}",
                &f.mean[..7]
            );
        }
    }

    #[test]
    fn constant_series_forecasts_the_constant() {
        let y = [42.0; 60];
        let m = Mstl::fit(&y, &[7, 12]).unwrap();
        let d = m.decomposition();
        assert!(d.seasonal.iter().flatten().all(|s| s.abs() < 1e-9));
        assert_all_close(&d.trend, &y, 1e-9);
        let f = m.forecast(10, &[95.0]);
        assert_all_close(&f.mean, &[42.0; 10], 1e-9);
        let i = f.interval(95.0).unwrap();
        assert_all_close(&i.lower, &i.upper, 1e-9);
        assert_eq!(m.trend_model(), "constant");
    }

    #[test]
    fn no_usable_period_leaves_the_series_as_trend() {
        let y = two_cycles(20);
        let d = decompose(&y, &[12]).unwrap();
        assert!(d.periods.is_empty() && d.seasonal.is_empty());
        assert_eq!(d.trend, y);
        let m = Mstl::fit(&y, &[12]).unwrap();
        assert_eq!(m.forecast(3, &[]).mean.len(), 3);
        assert!(decompose(&[], &[7]).is_err());
    }
}
