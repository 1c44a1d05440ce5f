//! A Prophet-style model: `y(t) = trend(t) + seasonalities(t) + holidays(t) + β·regressors(t)
//! + ε`, with a piecewise-linear trend whose slope may change at automatic changepoints
//! (Laplace prior: most changes are exactly zero), Fourier seasonalities, holiday effects from
//! a calendar the caller supplies, extra regressors and a maximum a posteriori fit ([`map`]).
//!
//! Why a Prophet-style model at all: planners know Prophet by name, and it is the one model
//! here that takes a holiday calendar and yearly seasonality in daily data directly. It
//! follows the `prophet` package's defaults (25 changepoints over the first 80 % of the
//! history, changepoint prior 0.05, seasonality and holiday priors 10, yearly order 10,
//! weekly 3, y scaled by its largest absolute value, trend uncertainty simulated from
//! changepoints like the fitted ones in the future) and is checked against it on public data
//! (`tests/prophet_reference.rs`). Two deliberate differences: a holiday marks the period that
//! holds it (so weekly and monthly series see holidays too), and a seasonality whose period
//! spans fewer than two observations is left out (yearly terms on yearly data carry nothing).
//!
//! The trend is piecewise linear, flat, or logistic between a floor and a cap (the package's
//! `growth`); the logistic curve makes the fit nonlinear in the trend's parameters, and
//! [`map::fit_nonlinear`] solves it.
//!
//! Time: observation `i` is day `origin_day + i · step_days` (days since 1970-01-01), so the
//! model needs no date type and the Fourier phases and holiday dates are those of the
//! calendar.

pub mod layout;
pub mod map;
mod sample;

use serde::{Deserialize, Serialize};

use self::layout::{HolidayColumn, Layout};
use super::{FittedModel, Forecast, ForecastError};
use crate::numeric::linalg::dot;

/// One seasonality: `order` sine/cosine pairs of period `period` days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seasonality {
    pub name: String,
    pub period: f64,
    pub order: usize,
    #[serde(default = "default_prior_scale")]
    pub prior_scale: f64,
    /// A conditional seasonality (the `prophet` package's `condition_name`): the name of one
    /// of the fit's extra regressors, a 0/1 column; the seasonality acts only where it is 1
    /// (a weekly pattern of promotion weeks, of the summer season). The regressor's own
    /// effect stays in the model beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// One date of a holiday and the days around it that it affects (`lower_window ≤ 0 ≤
/// upper_window`, as in the `prophet` package's holidays table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holiday {
    pub name: String,
    /// Days since 1970-01-01.
    pub day: i64,
    #[serde(default)]
    pub lower_window: i64,
    #[serde(default)]
    pub upper_window: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_scale: Option<f64>,
}

/// How seasonalities, holidays and regressors combine with the trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `trend + effects`: effects in units of demand.
    #[default]
    Additive,
    /// `trend × (1 + effects)`: effects in proportion to the trend (seasons that grow with
    /// the business).
    Multiplicative,
}

impl Mode {
    /// A prediction from its trend and the sum of its effects.
    fn combine(self, trend: f64, effects: f64) -> f64 {
        match self {
            Mode::Additive => trend + effects,
            Mode::Multiplicative => trend * (1.0 + effects),
        }
    }

    /// What a change of the trend is multiplied by, given the effects (1 when additive).
    fn trend_multiplier(self, effects: f64) -> f64 {
        match self {
            Mode::Additive => 1.0,
            Mode::Multiplicative => 1.0 + effects,
        }
    }

    /// What an effect is multiplied by, given the trend (1 when additive).
    fn effect_unit(self, trend: f64) -> f64 {
        match self {
            Mode::Additive => 1.0,
            Mode::Multiplicative => trend,
        }
    }
}

fn is_additive(m: &Mode) -> bool {
    *m == Mode::Additive
}

/// The trend's shape (the `prophet` package's `growth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Growth {
    /// Piecewise linear, its slope changing at the changepoints.
    #[default]
    Linear,
    /// A constant level: no slope and no changepoints (demand with no trend, where a
    /// fitted slope would only carry noise into the horizon).
    Flat,
    /// A logistic curve between the spec's `floor` and `cap`, its growth rate changing at the
    /// changepoints (a market that saturates: a product's adoption, a store's catchment).
    Logistic,
}

fn is_linear(g: &Growth) -> bool {
    *g == Growth::Linear
}

/// A Prophet-style model as configuration names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProphetSpec {
    /// Days one observation covers (1 daily, 7 weekly, 365.25 / 12 monthly).
    pub step_days: f64,
    /// Day number (days since 1970-01-01) of the first observation.
    #[serde(default)]
    pub origin_day: f64,
    /// The seasonalities to fit; `None`: yearly, weekly and daily as the data allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seasonalities: Option<Vec<Seasonality>>,
    /// Seasonalities added to those (the `prophet` package's `add_seasonality`): first in
    /// the design, as prophet orders them, and one named like an automatic seasonality
    /// replaces it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_seasonalities: Vec<Seasonality>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<Holiday>,
    /// Extra regressors by name; their values come with the fit
    /// ([`Prophet::fit_with`]), so a spec naming any cannot be fitted from `y` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regressors: Vec<String>,
    /// How every seasonality, holiday and regressor combines with the trend.
    #[serde(default, skip_serializing_if = "is_additive")]
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "is_linear")]
    pub growth: Growth,
    /// The logistic trend's capacity, in units of demand (the `prophet` package's `cap`,
    /// constant over time); required by `Growth::Logistic`, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<f64>,
    /// The logistic trend's lower saturation (the package's `floor`, 0 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
    #[serde(default = "default_changepoints")]
    pub changepoints: usize,
    #[serde(default = "default_changepoint_range")]
    pub changepoint_range: f64,
    #[serde(default = "default_changepoint_prior_scale")]
    pub changepoint_prior_scale: f64,
    #[serde(default = "default_prior_scale")]
    pub seasonality_prior_scale: f64,
    #[serde(default = "default_prior_scale")]
    pub holidays_prior_scale: f64,
}

fn default_changepoints() -> usize {
    25
}
fn default_changepoint_range() -> f64 {
    0.8
}
fn default_changepoint_prior_scale() -> f64 {
    0.05
}
/// The prior scale of seasonalities, holidays and added seasonalities not given one (the
/// `prophet` package's default).
pub const DEFAULT_PRIOR_SCALE: f64 = 10.0;

fn default_prior_scale() -> f64 {
    DEFAULT_PRIOR_SCALE
}

impl ProphetSpec {
    /// The `prophet` package's defaults for observations `step_days` apart, the first on
    /// day `origin_day`.
    pub fn new(step_days: f64, origin_day: f64) -> ProphetSpec {
        ProphetSpec {
            step_days,
            origin_day,
            seasonalities: None,
            extra_seasonalities: Vec::new(),
            holidays: Vec::new(),
            regressors: Vec::new(),
            mode: Mode::Additive,
            growth: Growth::Linear,
            cap: None,
            floor: None,
            changepoints: default_changepoints(),
            changepoint_range: default_changepoint_range(),
            changepoint_prior_scale: default_changepoint_prior_scale(),
            seasonality_prior_scale: default_prior_scale(),
            holidays_prior_scale: default_prior_scale(),
        }
    }

    fn check(&self) -> Result<(), ForecastError> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(ForecastError::InvalidInput(format!(
                    "prophet: {name} must be positive, got {v}"
                )))
            }
        };
        positive("step_days", self.step_days)?;
        positive("changepoint_prior_scale", self.changepoint_prior_scale)?;
        positive("seasonality_prior_scale", self.seasonality_prior_scale)?;
        positive("holidays_prior_scale", self.holidays_prior_scale)?;
        self.check_saturation()?;
        if !(self.changepoint_range > 0.0 && self.changepoint_range <= 1.0) {
            return Err(ForecastError::InvalidInput(format!(
                "prophet: changepoint_range must be in (0, 1], got {}",
                self.changepoint_range
            )));
        }
        for s in self
            .seasonalities
            .iter()
            .flatten()
            .chain(&self.extra_seasonalities)
        {
            positive(&format!("seasonality {} period", s.name), s.period)?;
            positive(
                &format!("seasonality {} prior_scale", s.name),
                s.prior_scale,
            )?;
            if s.order == 0 || s.order > 50 {
                return Err(ForecastError::InvalidInput(format!(
                    "prophet: seasonality {} order must be 1 to 50, got {}",
                    s.name, s.order
                )));
            }
        }
        for h in &self.holidays {
            if h.lower_window > 0 || h.upper_window < 0 {
                return Err(ForecastError::InvalidInput(format!(
                    "prophet: holiday {} needs lower_window ≤ 0 ≤ upper_window",
                    h.name
                )));
            }
            if let Some(s) = h.prior_scale {
                positive(&format!("holiday {} prior_scale", h.name), s)?;
            }
        }
        Ok(())
    }

    /// A logistic trend needs a finite cap above its floor; the other trends take neither.
    fn check_saturation(&self) -> Result<(), ForecastError> {
        match saturation_fault(self.growth, self.cap, self.floor) {
            Some((field, why)) => Err(ForecastError::InvalidInput(format!(
                "prophet: {field}: {why}"
            ))),
            None => Ok(()),
        }
    }

    /// The level demand is measured from: the logistic trend's floor, else 0.
    fn base_level(&self) -> f64 {
        match self.growth {
            Growth::Logistic => self.floor.unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// Day number of observation `i`.
    pub fn day(&self, i: usize) -> f64 {
        self.origin_day + i as f64 * self.step_days
    }
}

/// What is wrong with a trend's `cap` and `floor` for its `growth`, naming the field at
/// fault: a logistic trend needs a finite cap above its floor (0 when not given), the other
/// trends take neither. One rule for a spec and for the parameters of a run that builds one.
pub fn saturation_fault(
    growth: Growth,
    cap: Option<f64>,
    floor: Option<f64>,
) -> Option<(&'static str, String)> {
    let logistic = growth == Growth::Logistic;
    for (field, given) in [("cap", cap), ("floor", floor)] {
        if given.is_some() && !logistic {
            let why = format!("{field} is the logistic trend's: set `growth` to logistic");
            return Some((field, why));
        }
    }
    if !logistic {
        return None;
    }
    let Some(cap) = cap else {
        let why = "growth logistic needs a cap: the level demand saturates at, in units of demand";
        return Some(("cap", why.into()));
    };
    let floor = floor.unwrap_or(0.0);
    let fits = cap.is_finite() && floor.is_finite() && cap > floor;
    (!fits).then(|| {
        let why = format!("the cap ({cap}) must be above the floor ({floor})");
        ("cap", why)
    })
}

/// Extra regressors: one column per regressor aligned with the history, and the values
/// each takes over the horizon when the caller does not give them.
#[derive(Debug, Clone, PartialEq)]
pub struct Regressors<'a> {
    pub names: &'a [String],
    /// Row-major `n × names.len()`.
    pub x: &'a [f64],
    /// One value per regressor, held over the horizon by [`FittedModel::forecast`].
    pub future: &'a [f64],
}

/// A fitted Prophet-style model.
#[derive(Debug, Clone)]
pub struct Prophet {
    spec: ProphetSpec,
    layout: Layout,
    /// Coefficients on the scaled data, in layout order.
    theta: Vec<f64>,
    sigma: f64,
    /// Demand is modelled as `floor + y_scale · (scaled prediction)`.
    y_scale: f64,
    floor: f64,
    n: usize,
    fitted: Vec<f64>,
    future_regressors: Vec<f64>,
    notes: Vec<String>,
}

impl Prophet {
    /// Fits the spec to `y` (no extra regressors).
    pub fn fit(y: &[f64], spec: &ProphetSpec) -> Result<Prophet, ForecastError> {
        Prophet::fit_with(y, spec, None)
    }

    /// Fits the spec to `y` with extra regressors.
    pub fn fit_with(
        y: &[f64],
        spec: &ProphetSpec,
        regressors: Option<Regressors<'_>>,
    ) -> Result<Prophet, ForecastError> {
        spec.check()?;
        super::error::check_finite(y)?;
        let n = y.len();
        if n < 2 {
            return Err(ForecastError::TooShort {
                model: "Prophet".into(),
                needed: 2,
                got: n,
            });
        }
        let (names, raw, future) = match &regressors {
            Some(r) => (r.names, r.x, r.future),
            None => (&[][..], &[][..], &[][..]),
        };
        if !spec.regressors.is_empty() && spec.regressors != names {
            return Err(ForecastError::InvalidInput(format!(
                "prophet: the spec names regressors {:?} but the fit was given {names:?}",
                spec.regressors
            )));
        }
        let k = names.len();
        if raw.len() != n * k || future.len() != k {
            return Err(ForecastError::InvalidInput(format!(
                "prophet: {} regressor values and {} future ones for {n} observations of {k} \
                 regressors",
                raw.len(),
                future.len()
            )));
        }
        let columns: Vec<Vec<f64>> = (0..k)
            .map(|j| raw.iter().skip(j).step_by(k).copied().collect())
            .collect();
        // As the `prophet` package scales: by the largest distance from the floor.
        let floor = spec.base_level();
        let y_scale = match y.iter().fold(0.0_f64, |m, v| m.max((v - floor).abs())) {
            s if s > 0.0 => s,
            _ => 1.0,
        };
        let mut notes = Vec::new();
        let mut layout = layout_for(spec, n, names, &columns, &mut notes);
        layout.cap = spec.cap.map(|cap| (cap - floor) / y_scale);
        if let Some(cap) = spec.cap.filter(|cap| y.iter().any(|v| v > cap)) {
            notes.push(format!(
                "the history exceeds the logistic trend's cap ({cap}) on some days"
            ));
        }
        check_conditions(&layout, &columns)?;
        let scaled: Vec<f64> = y.iter().map(|v| (v - floor) / y_scale).collect();
        let p = layout.width();
        let x = design(&layout, spec, 0, n, raw);
        let (theta, sigma) = fit_design(&layout, spec.mode, &x, &scaled);
        let mut model = Prophet {
            spec: spec.clone(),
            layout,
            theta,
            sigma,
            y_scale,
            floor,
            n,
            fitted: Vec::new(),
            future_regressors: future.to_vec(),
            notes,
        };
        model.fitted = (0..n)
            .map(|i| floor + y_scale * model.predict_row(&x[i * p..(i + 1) * p]))
            .collect();
        Ok(model)
    }

    /// Forecasts `h` steps with these future regressor values (row-major `h × k`).
    pub fn forecast_with(
        &self,
        future: &[f64],
        h: usize,
        levels: &[f64],
    ) -> Result<Forecast, ForecastError> {
        let rows = self.future_rows(future, h)?;
        let p = self.layout.width();
        let mean: Vec<f64> = rows
            .chunks(p)
            .map(|row| self.floor + self.y_scale * self.predict_row(row))
            .collect();
        let steps: Vec<sample::Step> = rows
            .chunks(p)
            .map(|row| sample::Step {
                t: row[0],
                base: self.layout.trend_base(row, &self.theta),
                scale: self.trend_scale(row),
            })
            .collect();
        Ok(sample::bands(self, mean, &steps, levels))
    }

    /// The `h`-step forecast with these future regressor values split into the trend, each
    /// seasonality, the holidays and the regressors, in units of demand; they add up to the
    /// point forecast (in the multiplicative mode each effect is the trend times its share).
    pub fn components_with(
        &self,
        future: &[f64],
        h: usize,
    ) -> Result<Vec<(String, Vec<f64>)>, ForecastError> {
        let rows = self.future_rows(future, h)?;
        let (p, pt) = (self.layout.width(), self.layout.trend_width());
        let mut groups: Vec<(String, std::ops::Range<usize>)> = Vec::new();
        let mut at = pt;
        for s in &self.layout.seasonalities {
            groups.push((s.name.clone(), at..at + 2 * s.order));
            at += 2 * s.order;
        }
        groups.push(("holidays".into(), self.layout.holiday_range()));
        groups.push(("regressors".into(), self.layout.regressor_range()));
        groups.retain(|(_, r)| !r.is_empty());
        let mut trend = Vec::with_capacity(h);
        let mut parts = vec![Vec::with_capacity(h); groups.len()];
        for row in rows.chunks(p) {
            let t = self.layout.trend(row, &self.theta);
            let unit = self.spec.mode.effect_unit(t);
            trend.push(self.floor + self.y_scale * t);
            for ((_, range), part) in groups.iter().zip(&mut parts) {
                let effect = dot(&row[range.clone()], &self.theta[range.clone()]);
                part.push(self.y_scale * unit * effect);
            }
        }
        let mut out = vec![("trend".to_string(), trend)];
        out.extend(groups.into_iter().map(|(name, _)| name).zip(parts));
        Ok(out)
    }

    /// The design rows of the `h` steps after the history, with these future regressor
    /// values (row-major `h × k`).
    fn future_rows(&self, future: &[f64], h: usize) -> Result<Vec<f64>, ForecastError> {
        let k = self.layout.regressors.len();
        if future.len() != h * k {
            return Err(ForecastError::InvalidInput(format!(
                "prophet: {} future regressor values for {h} steps of {k} regressors",
                future.len()
            )));
        }
        Ok(design(&self.layout, &self.spec, self.n, h, future))
    }

    /// The prediction of one design row, on the scaled data.
    fn predict_row(&self, row: &[f64]) -> f64 {
        predict(&self.layout, self.spec.mode, row, &self.theta)
    }

    /// What a change of the trend is multiplied by in the prediction of `row` (1 when
    /// additive).
    fn trend_scale(&self, row: &[f64]) -> f64 {
        let pt = self.layout.trend_width();
        self.spec
            .mode
            .trend_multiplier(dot(&row[pt..], &self.theta[pt..]))
    }

    /// The noise scale on the data's scale.
    pub fn sigma(&self) -> f64 {
        self.sigma * self.y_scale
    }

    /// The trend's slope and offset before any changepoint, and each changepoint's slope
    /// change (on the scaled data and time, as the `prophet` package reports `k`, `m`, `delta`;
    /// for a logistic trend the growth rate, the midpoint's time and the rate's changes).
    pub fn trend(&self) -> (f64, f64, &[f64]) {
        (
            self.theta[0],
            self.theta[1],
            self.layout.deltas(&self.theta),
        )
    }

    /// Coefficients of the seasonal, holiday and regressor columns, named.
    pub fn betas(&self) -> Vec<(String, f64)> {
        let mut names = Vec::new();
        for s in &self.layout.seasonalities {
            for k in 1..=s.order {
                names.push(format!("{}_sin{k}", s.name));
                names.push(format!("{}_cos{k}", s.name));
            }
        }
        names.extend(self.layout.holidays.iter().map(|h| h.name.clone()));
        names.extend(self.layout.regressors.iter().map(|r| r.name.clone()));
        let start = self.layout.seasonal_range().start;
        names
            .into_iter()
            .zip(&self.theta[start..])
            .map(|(n, b)| (n, *b))
            .collect()
    }

    /// Each extra regressor's effect on demand per unit of its raw value.
    pub fn regressor_effects(&self) -> Vec<f64> {
        let range = self.layout.regressor_range();
        self.theta[range]
            .iter()
            .zip(&self.layout.regressors)
            .map(|(b, r)| b * self.y_scale / r.std)
            .collect()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The coefficients on the scaled data, in layout order, and σ on the scaled data.
    pub fn theta(&self) -> (&[f64], f64) {
        (&self.theta, self.sigma)
    }

    /// The negative log posterior (up to a constant) of coefficients `theta` and noise
    /// scale `sigma` (both on the scaled data, layout order) for the history `y` with
    /// regressor rows `x`: what the fit minimised, to compare with another optimiser's answer.
    pub fn objective(&self, y: &[f64], x: &[f64], theta: &[f64], sigma: f64) -> f64 {
        let design = design(&self.layout, &self.spec, 0, y.len(), x);
        let p = self.layout.width();
        let at = Prophet {
            theta: theta.to_vec(),
            ..self.clone()
        };
        let rss: f64 = y
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let scaled = (v - self.floor) / self.y_scale;
                (scaled - at.predict_row(&design[i * p..(i + 1) * p])).powi(2)
            })
            .sum();
        map::posterior(rss, y.len(), &self.layout.priors(), theta, sigma)
    }
}

/// A conditional seasonality's condition must be a 0/1 column (prophet's boolean), else its
/// terms would be scaled rather than switched.
fn check_conditions(layout: &Layout, columns: &[Vec<f64>]) -> Result<(), ForecastError> {
    for s in &layout.seasonalities {
        let Some(j) = layout.condition(s) else {
            continue;
        };
        if let Some(v) = columns[j].iter().find(|v| **v != 0.0 && **v != 1.0) {
            return Err(ForecastError::InvalidInput(format!(
                "prophet: seasonality {}'s condition `{}` must be 0 or 1, found {v}",
                s.name, layout.regressors[j].name
            )));
        }
    }
    Ok(())
}

/// The design rows (row-major) of observations `from..from + n`, observation `from + i`
/// taking row `i` of the row-major regressor values `regressors`.
fn design(
    layout: &Layout,
    spec: &ProphetSpec,
    from: usize,
    n: usize,
    regressors: &[f64],
) -> Vec<f64> {
    let k = layout.regressors.len();
    let mut rows = Vec::with_capacity(n * layout.width());
    for i in 0..n {
        layout.row(
            spec.day(from + i),
            &regressors[i * k..(i + 1) * k],
            &mut rows,
        );
    }
    rows
}

/// The prediction of design row `row` under coefficients `theta`, on the scaled data.
fn predict(layout: &Layout, mode: Mode, row: &[f64], theta: &[f64]) -> f64 {
    let pt = layout.trend_width();
    let trend = layout.trend(row, theta);
    mode.combine(trend, dot(&row[pt..], &theta[pt..]))
}

/// A logistic model's design, for the nonlinear fit.
///
/// Why its own coordinates: in the package's (k, m) the logit `k(t − m)` couples rate and
/// midpoint, and Gauss–Newton crawls along that ridge (tens of damped steps on the Rossmann
/// stores); in `(k, c = k·m)` the logit `kt − c + Σ δⱼ(t − sⱼ)₊` is linear and a fit takes a
/// handful. The prior stays the package's, on m: normal(0, 5) on `c / k`.
struct Logistic<'a> {
    layout: &'a Layout,
    mode: Mode,
    x: &'a [f64],
    priors: Vec<map::Prior>,
}

impl Logistic<'_> {
    /// θ in the layout's (k, m) coordinates from the fit's (k, c).
    fn to_layout(mut phi: Vec<f64>) -> Vec<f64> {
        phi[1] = if phi[0] != 0.0 { phi[1] / phi[0] } else { 0.0 };
        phi
    }

    /// The fit's (k, c) coordinates from θ in the layout's (k, m).
    fn from_layout(mut theta: Vec<f64>) -> Vec<f64> {
        theta[1] *= theta[0];
        theta
    }

    /// The trend's logit at `row` in the fit's coordinates: `kt − c + Σ δⱼ(t − sⱼ)₊`.
    fn logit(&self, row: &[f64], phi: &[f64]) -> f64 {
        let pt = self.layout.trend_width();
        phi[0] * row[0] - phi[1] * row[1] + dot(&row[2..pt], &phi[2..pt])
    }
}

impl map::Nonlinear for Logistic<'_> {
    fn predict(&self, phi: &[f64], out: &mut [f64], mut jacobian: Option<&mut [f64]>) {
        let (p, pt) = (self.layout.width(), self.layout.trend_width());
        let cap = self.layout.cap.expect("a logistic layout has a cap");
        for (i, row) in self.x.chunks(p).enumerate() {
            let s = layout::logistic(self.logit(row, phi));
            let trend = cap * s;
            let effects = dot(&row[pt..], &phi[pt..]);
            out[i] = self.mode.combine(trend, effects);
            let Some(jac) = jacobian.as_deref_mut() else {
                continue;
            };
            let grad = &mut jac[i * p..(i + 1) * p];
            let slope = cap * s * (1.0 - s) * self.mode.trend_multiplier(effects);
            grad[0] = slope * row[0];
            grad[1] = -slope * row[1];
            for (g, r) in grad[2..pt].iter_mut().zip(&row[2..pt]) {
                *g = slope * r;
            }
            let unit = self.mode.effect_unit(trend);
            for (g, r) in grad[pt..].iter_mut().zip(&row[pt..]) {
                *g = unit * r;
            }
        }
    }

    fn penalty(&self, phi: &[f64]) -> f64 {
        map::penalty(&self.priors, &Logistic::to_layout(phi.to_vec()))
    }

    /// c has no prior of its own: the package's is on m = c / k (below).
    fn priors(&self) -> Vec<map::Prior> {
        let mut priors = self.priors.clone();
        priors[1] = map::Prior::Normal(f64::INFINITY);
        priors
    }

    /// The package's normal(0, s) prior on m = c / k as the residual `c / (s·k)`.
    fn prior_residuals(&self, phi: &[f64]) -> Vec<(f64, Vec<f64>)> {
        let map::Prior::Normal(s) = self.priors[1] else {
            return Vec::new();
        };
        let (k, c) = (phi[0], phi[1]);
        if k == 0.0 {
            return Vec::new();
        }
        let mut grad = vec![0.0; phi.len()];
        grad[0] = -c / (s * k * k);
        grad[1] = 1.0 / (s * k);
        vec![(c / (s * k), grad)]
    }
}

/// Where the logistic fit starts: the `prophet` package's start, the one logistic curve
/// through the first and last observations (each held inside 1 % to 99 % of the cap), and
/// the curve through the means of the first and last tenth held only below 99 % (demand far
/// under its cap sits deep in the curve's tail, where the package's start is far off and
/// the predictions barely move). No changes, no effects.
fn logistic_starts(cap: f64, y: &[f64], p: usize) -> Vec<Vec<f64>> {
    let tenth = (y.len() / 10).max(1);
    let mean = |part: &[f64]| part.iter().sum::<f64>() / part.len() as f64;
    vec![
        logistic_start(cap, (y[0], y[y.len() - 1]), 0.01, p),
        logistic_start(
            cap,
            (mean(&y[..tenth]), mean(&y[y.len() - tenth..])),
            1e-9,
            p,
        ),
    ]
}

/// The rate and offset of the logistic curve under `cap` through `ends` (the first and last
/// observations' levels, held inside `low` to 99 % of the cap).
fn logistic_start(cap: f64, ends: (f64, f64), low: f64, p: usize) -> Vec<f64> {
    let inside = |v: f64| v.clamp(low * cap, 0.99 * cap);
    let (y0, y1) = (inside(ends.0), inside(ends.1));
    let (mut r0, r1) = (cap / y0, cap / y1);
    if (r0 - r1).abs() <= 0.01 {
        r0 *= 1.05;
    }
    let (l0, l1) = ((r0 - 1.0).ln(), (r1 - 1.0).ln());
    let mut start = vec![0.0; p];
    // Trend time runs from 0 at the first observation to 1 at the last.
    start[0] = l0 - l1;
    start[1] = l0 / (l0 - l1);
    start
}

/// The MAP coefficients (layout order) and σ of `mode` on the design `x` of `layout`.
fn fit_design(layout: &Layout, mode: Mode, x: &[f64], y: &[f64]) -> (Vec<f64>, f64) {
    let priors = layout.priors();
    if let Some(cap) = layout.cap {
        let starts: Vec<Vec<f64>> = logistic_starts(cap, y, layout.width())
            .into_iter()
            .map(Logistic::from_layout)
            .collect();
        let model = Logistic {
            layout,
            mode,
            x,
            priors,
        };
        let fit = map::fit_nonlinear(y, &starts, &model);
        return (Logistic::to_layout(fit.theta), fit.sigma);
    }
    match mode {
        Mode::Additive => {
            let fit = map::fit(x, y, &priors);
            (fit.theta, fit.sigma)
        }
        Mode::Multiplicative => {
            let (p, pt) = (layout.width(), layout.trend_width());
            let (mut trend, mut effects) = (Vec::new(), Vec::new());
            for row in x.chunks(p) {
                trend.extend_from_slice(&row[..pt]);
                effects.extend_from_slice(&row[pt..]);
            }
            let (fit, beta) =
                map::fit_multiplicative(&trend, &effects, y, &priors[..pt], &priors[pt..]);
            let mut theta = fit.theta;
            theta.extend(beta);
            (theta, fit.sigma)
        }
    }
}

fn layout_for(
    spec: &ProphetSpec,
    n: usize,
    names: &[String],
    columns: &[Vec<f64>],
    notes: &mut Vec<String>,
) -> Layout {
    let span = spec.day(n - 1) - spec.day(0);
    let t_scale = span;
    let flat = spec.growth == Growth::Flat;
    let wanted = if flat { 0 } else { spec.changepoints };
    let changepoints = layout::changepoint_indices(n, wanted, spec.changepoint_range)
        .into_iter()
        .map(|i| (spec.day(i) - spec.day(0)) / t_scale)
        .collect();
    Layout {
        first_day: spec.day(0),
        t_scale,
        step_days: spec.step_days,
        changepoints,
        seasonalities: layout::seasonalities(spec, span, names, notes),
        holidays: varying_holidays(spec, n, notes),
        regressors: layout::regressor_scales(names, columns),
        changepoint_prior_scale: spec.changepoint_prior_scale,
        flat,
        cap: None,
    }
}

/// The spec's holiday columns, less those that mark every observation of the history (each
/// year of yearly data holds every holiday): such a column is the intercept over again, so
/// its effect could not be told from the level, and the components would show a holiday
/// effect where there is none.
fn varying_holidays(spec: &ProphetSpec, n: usize, notes: &mut Vec<String>) -> Vec<HolidayColumn> {
    let (kept, constant): (Vec<_>, Vec<_>) =
        layout::holiday_columns(&spec.holidays, spec.holidays_prior_scale)
            .into_iter()
            .partition(|h| (0..n).any(|i| !h.marks(spec.day(i), spec.step_days)));
    if !constant.is_empty() {
        let names: Vec<&str> = constant.iter().map(|h| h.name.as_str()).collect();
        notes.push(format!(
            "holidays in every period of the history left out (their effect is the level's): {}",
            names.join(", ")
        ));
    }
    kept
}

impl FittedModel for Prophet {
    fn name(&self) -> String {
        let parts: Vec<&str> = self
            .layout
            .seasonalities
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let mut name = if self.layout.flat {
            "Prophet(flat trend".to_string()
        } else {
            format!("Prophet({} changepoints", self.layout.changepoints.len())
        };
        if self.layout.cap.is_some() {
            name.push_str(", logistic");
        }
        if !parts.is_empty() {
            name.push_str(&format!(", {}", parts.join("+")));
        }
        if !self.layout.holidays.is_empty() {
            name.push_str(", holidays");
        }
        if !self.layout.regressors.is_empty() {
            name.push_str(", regressors");
        }
        if self.spec.mode == Mode::Multiplicative {
            name.push_str(", multiplicative");
        }
        name.push(')');
        name
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        let future: Vec<f64> = (0..h)
            .flat_map(|_| self.future_regressors.iter().copied())
            .collect();
        self.forecast_with(&future, h, levels)
            .expect("held regressor values have one per regressor and step")
    }

    fn aicc(&self) -> Option<f64> {
        None
    }

    fn loglik(&self) -> Option<f64> {
        None
    }

    fn params(&self) -> serde_json::Value {
        let (k, m, delta) = self.trend();
        serde_json::json!({
            "k": k,
            "m": m,
            "delta": delta,
            "sigma_obs": self.sigma,
            "y_scale": self.y_scale,
            "floor": self.floor,
            "cap": self.spec.cap,
            "beta": self
                .betas()
                .into_iter()
                .map(|(n, b)| (n, serde_json::json!(b)))
                .collect::<serde_json::Map<_, _>>(),
            "changepoints_t": self.layout.changepoints,
            "regressor_scales": self.layout.regressors,
        })
    }

    fn fitted(&self) -> Vec<f64> {
        self.fitted.clone()
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn components(&self, h: usize) -> Option<Vec<(String, Vec<f64>)>> {
        let future: Vec<f64> = (0..h)
            .flat_map(|_| self.future_regressors.iter().copied())
            .collect();
        self.components_with(&future, h).ok()
    }
}

#[cfg(test)]
mod tests;
