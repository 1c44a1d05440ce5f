//! Exponential smoothing (ETS) in innovations state-space form, fitted by maximum likelihood,
//! with automatic model choice by AICc.
//!
//! Components: error additive (A) or multiplicative (M); trend none (N), additive (A) or
//! damped (Ad); season none, additive or multiplicative. Multiplicative trend is left out, as
//! in R's `ets()` default, because it forecasts explosively.
//!
//! Why this exact form: the recursions and the parametrisation follow statsmodels' `ETSModel`
//! so that the reference tests can compare parameters, not only forecasts:
//! - states are updated in component form, `l_t = α·(y_t ⊖ s_{t−m}) + (1−α)(l_{t−1} + φ b_{t−1})`,
//!   `b_t = β*·(l_t − l_{t−1}) + (1−β*)·φ b_{t−1}`, `s_t = γ*·(y_t ⊖ l_t) + (1−γ*) s_{t−m}` with
//!   `β* = β/α` and `γ* = γ/(1−α)` (⊖ is − or ÷ by seasonal type). For additive seasonality
//!   this is exactly Hyndman et al.'s error-correction form; for multiplicative seasonality it
//!   is the classical Holt–Winters update, which agrees with R's `s + γ e/(l+φb)` to first
//!   order in the error;
//! - the "usual" region is imposed as a box on `(α, β*, γ*, φ)`: each of α, β*, γ* in
//!   [1e-4, 1−1e-4] (so 0 < β < α and 0 < γ < 1−α) and φ in [0.8, 0.98]; the automatic
//!   choice also bounds a non-seasonal model's β by 0.2, as statsforecast's `AutoETS` does in
//!   effect (β* then spans `[0, min(1, 0.2/α)]`, still a box; `selection_beta_cap` says why);
//! - the initial states are estimated; the oldest initial seasonal state `s_{−m}` is fixed to
//!   0 (additive) or 1 (multiplicative), which only removes the level/season scale ambiguity;
//! - the log-likelihood is the concentrated Gaussian one,
//!   `−n/2 (ln(2π σ̂²) + 1) − Σ ln|ŷ_t|·[multiplicative error]` with σ̂² the mean squared
//!   (relative, for multiplicative error) one-step error.
//!
//! On top of the usual box, the fit must be *admissible* (Hyndman et al. 2008, ch. 10): the
//! discount matrix `D = F − g w'` of the linear counterpart must have spectral radius below 1
//! so the forecasts forget the distant past. The check is done at the optimum; a fit that fails
//! it is redone with the check inside the objective (rare, and too slow to do always).
//!
//! Prediction intervals are analytic for the linear models (additive error, no
//! multiplicative season: Hyndman et al. class 1); the others use 5 000 simulated sample paths
//! with a fixed seed, so results are reproducible.

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::paths::{PATHS, standard_normal};
use super::{FittedModel, Forecast, ForecastError, aicc, valid_levels};
use crate::numeric::optimize::{Options, minimize_box};

/// How the error enters the observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    Additive,
    Multiplicative,
}

/// Trend component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendType {
    None,
    Additive,
    Damped,
}

/// Seasonal component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeasonType {
    None,
    Additive,
    Multiplicative,
}

/// Which ETS model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtsSpec {
    pub error: ErrorType,
    pub trend: TrendType,
    pub season: SeasonType,
}

impl EtsSpec {
    pub const fn new(error: ErrorType, trend: TrendType, season: SeasonType) -> Self {
        EtsSpec {
            error,
            trend,
            season,
        }
    }

    /// Taxonomy name, e.g. `ETS(M,Ad,M)`.
    pub fn name(&self) -> String {
        let e = match self.error {
            ErrorType::Additive => "A",
            ErrorType::Multiplicative => "M",
        };
        let t = match self.trend {
            TrendType::None => "N",
            TrendType::Additive => "A",
            TrendType::Damped => "Ad",
        };
        let s = match self.season {
            SeasonType::None => "N",
            SeasonType::Additive => "A",
            SeasonType::Multiplicative => "M",
        };
        format!("ETS({e},{t},{s})")
    }

    fn has_trend(&self) -> bool {
        self.trend != TrendType::None
    }

    fn has_season(&self) -> bool {
        self.season != SeasonType::None
    }

    fn multiplicative(&self) -> bool {
        self.error == ErrorType::Multiplicative || self.season == SeasonType::Multiplicative
    }

    /// Linear models (Hyndman et al. class 1) have closed-form forecast variances.
    fn linear(&self) -> bool {
        !self.multiplicative()
    }
}

/// Fitted parameters in statsmodels' naming; `initial_seasonal[j]` is `s_{−1−j}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EtsParams {
    pub smoothing_level: f64,
    pub smoothing_trend: Option<f64>,
    pub smoothing_seasonal: Option<f64>,
    pub damping_trend: Option<f64>,
    pub initial_level: f64,
    pub initial_trend: Option<f64>,
    pub initial_seasonal: Vec<f64>,
}

/// Values of the smoothing parameters and initial states in the form the recursions use.
#[derive(Debug, Clone)]
struct Raw {
    alpha: f64,
    beta_star: f64,
    gamma_star: f64,
    phi: f64,
    l0: f64,
    b0: f64,
    /// `s_{−1−j}` at index j.
    s0: Vec<f64>,
}

impl Raw {
    fn beta(&self) -> f64 {
        self.beta_star * self.alpha
    }
    fn gamma(&self) -> f64 {
        self.gamma_star * (1.0 - self.alpha)
    }
}

/// End-of-sample state: level, trend and the last m seasonal states (index k is the one
/// used k+1 steps ahead, cyclically).
#[derive(Debug, Clone)]
struct State {
    level: f64,
    trend: f64,
    season: Vec<f64>,
}

/// A fitted ETS model.
#[derive(Debug, Clone)]
pub struct Ets {
    spec: EtsSpec,
    m: usize,
    raw: Raw,
    n: usize,
    fitted: Vec<f64>,
    loglik: f64,
    aicc: f64,
    /// Innovation variance used for intervals: SSE/(n − k), as R's `ets()`.
    sigma2: f64,
    n_params: usize,
    state: State,
    notes: Vec<String>,
}

const LOW: f64 = 1e-4;
const HIGH: f64 = 1.0 - 1e-4;

/// The standard model set for `auto_ets` (R's default: no multiplicative trend, no additive
/// error with multiplicative season, which is numerically unstable).
pub fn standard_models(season: bool, positive: bool) -> Vec<EtsSpec> {
    let mut out = Vec::new();
    let errors: &[ErrorType] = if positive {
        &[ErrorType::Additive, ErrorType::Multiplicative]
    } else {
        &[ErrorType::Additive]
    };
    let seasons: Vec<SeasonType> = match (season, positive) {
        (false, _) => vec![SeasonType::None],
        (true, false) => vec![SeasonType::None, SeasonType::Additive],
        (true, true) => vec![
            SeasonType::None,
            SeasonType::Additive,
            SeasonType::Multiplicative,
        ],
    };
    for &error in errors {
        for trend in [TrendType::None, TrendType::Additive, TrendType::Damped] {
            for &s in &seasons {
                if error == ErrorType::Additive && s == SeasonType::Multiplicative {
                    continue;
                }
                out.push(EtsSpec::new(error, trend, s));
            }
        }
    }
    out
}

/// Minimum length for a seasonal ETS fit: two full cycles, so the initial seasonal states
/// are identified by data rather than by the start values.
pub fn min_seasonal_length(m: usize) -> usize {
    2 * m + 2
}

/// Optimiser settings for the automatic choice: no restarts and a relative tolerance of
/// 1e-9 on the likelihood (R's `ets()` stops Nelder–Mead at 1e-8).
const SELECTION_OPTIONS: Options = Options {
    max_iter: 500,
    gtol: 1e-5,
    ftol: 1e-9,
    restarts: 0,
    forward_differences: false,
};

/// Seasons longer than this have as many initial seasonal states to optimise as the
/// season is long (51 more coordinates for a 52-week season), which central-difference
/// gradients make slow.
const LONG_SEASON: usize = 24;

/// The automatic choice's settings for seasonal candidates of a long season: forward
/// differences (half the likelihood evaluations per gradient) and a looser tolerance, enough
/// to rank candidates by AICc.
const LONG_SEASON_OPTIONS: Options = Options {
    ftol: 1e-7,
    forward_differences: true,
    ..SELECTION_OPTIONS
};

/// The automatic choice's bound on the trend's smoothing β of a non-seasonal model: 0.2
/// (seasonal models keep the usual region).
///
/// Why: statsforecast's `AutoETS` fits with such a bound in effect. Its `initparam` starts α
/// at 0.2 / m (m = 1 without a season) and narrows β's upper bound to that α in the bounds
/// array every candidate shares (R's `ets()` narrows a copy). The maximum-likelihood β is
/// often larger on short trended series, and a trend that chases the last few points
/// extrapolates badly. On M3's validation holdout (the last horizon of each training part)
/// the bound took recast's AICc ETS from 2.293 to 2.272 mean MASE, whether seasonal models
/// were bounded (by 0.2 / m) too or not; bounding them as well cost 4 % on the daily store
/// sales (β ≤ 0.029 for a weekly season), so they are not. [`Ets::fit`] (one named model)
/// keeps the usual region.
fn selection_beta_cap(spec: EtsSpec) -> f64 {
    if spec.has_season() { 1.0 } else { 0.2 }
}

/// Whether the automatic choice optimises a candidate from every start value (else from the
/// slow-adapting one alone): the non-seasonal candidates only.
///
/// Why: a short series' likelihood often has a second basin at α near 1 (a random walk)
/// that the optimiser does not reach from α = 0.1. On M3 Yearly, from the first start alone
/// recast's lowest AICc was above statsforecast's `AutoETS`'s on 56 of 645 series and the
/// two chose the same model for 554; from both starts, 13 and 604. On M3's validation
/// holdout (the last horizon of each training part) the AICc choice went from 2.272 to
/// 2.250 mean MASE. Seasonal candidates keep one start: both starts took the daily store
/// sales' AICc choice from 0.677 to 0.728 on their validation holdout (the six weeks before
/// the test part), and changed M3 Quarterly by less than 0.1 %.
fn selection_every_start(spec: EtsSpec) -> bool {
    !spec.has_season()
}

/// Fits every model of the standard set that the data allow and keeps the lowest AICc.
pub fn auto_ets(y: &[f64], m: usize) -> Result<Ets, ForecastError> {
    super::error::check_finite(y)?;
    let positive = y.iter().all(|v| *v > 0.0);
    let seasonal = m > 1 && y.len() >= min_seasonal_length(m);
    let mut best: Option<Ets> = None;
    let mut last_err = None;
    for spec in standard_models(seasonal, positive) {
        match fit_as_candidate(y, m, spec) {
            Ok(fit) => {
                if best.as_ref().is_none_or(|b| fit.aicc < b.aicc) {
                    best = Some(fit);
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    let mut best = best.ok_or_else(|| {
        last_err.unwrap_or_else(|| ForecastError::NotConverged {
            model: "auto ETS".into(),
            detail: "no candidate model could be fitted".into(),
        })
    })?;
    if m > 1 && !seasonal {
        best.notes.push(format!(
            "seasonal models skipped: {} observations, need {} for season {m}",
            y.len(),
            min_seasonal_length(m)
        ));
    }
    if !positive {
        best.notes
            .push("multiplicative models skipped: data not strictly positive".into());
    }
    Ok(best)
}

/// The fit [`auto_ets`] makes of its candidate `spec` (its optimiser settings, β bound and
/// start values): how a backtest that keeps the form chosen at its first origin refits it at
/// the later ones (`select::pooled_backtest`).
pub fn fit_as_candidate(y: &[f64], m: usize, spec: EtsSpec) -> Result<Ets, ForecastError> {
    let options = if spec.has_season() && m > LONG_SEASON {
        LONG_SEASON_OPTIONS
    } else {
        SELECTION_OPTIONS
    };
    let cap = selection_beta_cap(spec);
    let every_start = selection_every_start(spec);
    Ets::fit_with(y, m, spec, options, every_start, cap)
}

/// Which internal coordinates are present, in order: α, β*, γ*, φ, l0, b0, s_{−1..−(m−1)}.
struct Layout {
    spec: EtsSpec,
    m: usize,
    /// Upper bound of β (`α·β*`); 1 leaves only the usual `β < α`.
    beta_cap: f64,
}

impl Layout {
    fn seasonal_count(&self) -> usize {
        if self.spec.has_season() { self.m } else { 0 }
    }

    fn len(&self) -> usize {
        1 + usize::from(self.spec.has_trend())
            + usize::from(self.spec.has_season())
            + usize::from(self.spec.trend == TrendType::Damped)
            + 1
            + usize::from(self.spec.has_trend())
            + self.seasonal_count().saturating_sub(1)
    }

    fn unpack(&self, x: &[f64]) -> Raw {
        let mut i = 0;
        let mut next = || {
            i += 1;
            x[i - 1]
        };
        let alpha = next();
        let beta_star = if self.spec.has_trend() {
            next() * self.beta_scale(alpha)
        } else {
            0.0
        };
        let gamma_star = if self.spec.has_season() { next() } else { 0.0 };
        let phi = match self.spec.trend {
            TrendType::Damped => next(),
            _ => 1.0,
        };
        let l0 = next();
        let b0 = if self.spec.has_trend() { next() } else { 0.0 };
        let mut s0 = Vec::with_capacity(self.seasonal_count());
        for _ in 1..self.seasonal_count() {
            s0.push(next());
        }
        if self.spec.has_season() {
            s0.push(if self.spec.season == SeasonType::Multiplicative {
                1.0
            } else {
                0.0
            });
        }
        Raw {
            alpha,
            beta_star,
            gamma_star,
            phi,
            l0,
            b0,
            s0,
        }
    }

    /// The coordinate β* spans `[0, min(1, cap/α)]`: with a cap, `β = α·β* ≤ cap` holds on
    /// the whole box, so the optimiser needs no extra constraint.
    fn beta_scale(&self, alpha: f64) -> f64 {
        (self.beta_cap / alpha).min(1.0)
    }

    fn pack(&self, r: &Raw) -> Vec<f64> {
        let mut x = vec![r.alpha];
        if self.spec.has_trend() {
            x.push((r.beta_star / self.beta_scale(r.alpha)).clamp(LOW, HIGH));
        }
        if self.spec.has_season() {
            x.push(r.gamma_star);
        }
        if self.spec.trend == TrendType::Damped {
            x.push(r.phi);
        }
        x.push(r.l0);
        if self.spec.has_trend() {
            x.push(r.b0);
        }
        if self.spec.has_season() {
            x.extend_from_slice(&r.s0[..self.m - 1]);
        }
        x
    }

    fn bounds(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.len();
        let k = 1
            + usize::from(self.spec.has_trend())
            + usize::from(self.spec.has_season())
            + usize::from(self.spec.trend == TrendType::Damped);
        let mut lo = vec![f64::NEG_INFINITY; n];
        let mut hi = vec![f64::INFINITY; n];
        for i in 0..k {
            lo[i] = LOW;
            hi[i] = HIGH;
        }
        if self.spec.trend == TrendType::Damped {
            lo[k - 1] = 0.8;
            hi[k - 1] = 0.98;
        }
        (lo, hi)
    }
}

/// Runs the recursions over `y`, writing one-step predictions into `yhat`. Returns the final
/// state, or `None` when a multiplicative model leaves the positive half-line.
fn filter(spec: EtsSpec, m: usize, r: &Raw, y: &[f64], yhat: &mut [f64]) -> Option<State> {
    let seasonal = spec.has_season();
    let mseason = spec.season == SeasonType::Multiplicative;
    let mult = spec.multiplicative();
    let mm = if seasonal { m } else { 1 };
    // buf[t mod m] holds s_{t−m} when observation t is processed.
    let mut buf: Vec<f64> = if seasonal {
        (0..m).map(|i| r.s0[m - 1 - i]).collect()
    } else {
        vec![0.0]
    };
    let (mut l, mut b) = (r.l0, r.b0);
    for (t, &yt) in y.iter().enumerate() {
        let s_old = buf[t % mm];
        let q = l + r.phi * b;
        let pred = match spec.season {
            SeasonType::None => q,
            SeasonType::Additive => q + s_old,
            SeasonType::Multiplicative => q * s_old,
        };
        if mult && (pred <= 0.0 || !pred.is_finite()) {
            return None;
        }
        yhat[t] = pred;
        let l_new = match spec.season {
            SeasonType::None => r.alpha * yt + (1.0 - r.alpha) * q,
            SeasonType::Additive => r.alpha * (yt - s_old) + (1.0 - r.alpha) * q,
            SeasonType::Multiplicative => r.alpha * (yt / s_old) + (1.0 - r.alpha) * q,
        };
        if mseason && l_new <= 0.0 {
            return None;
        }
        b = r.beta_star * (l_new - l) + (1.0 - r.beta_star) * r.phi * b;
        if seasonal {
            let detr = if mseason { yt / l_new } else { yt - l_new };
            buf[t % mm] = r.gamma_star * detr + (1.0 - r.gamma_star) * s_old;
        }
        l = l_new;
    }
    let n = y.len();
    let season = if seasonal {
        (0..m).map(|k| buf[(n + k) % m]).collect()
    } else {
        Vec::new()
    };
    Some(State {
        level: l,
        trend: b,
        season,
    })
}

/// Concentrated log-likelihood (statsmodels' `ETSModel.loglike`).
fn loglik_of(spec: EtsSpec, y: &[f64], yhat: &[f64]) -> f64 {
    let n = y.len() as f64;
    let mult = spec.error == ErrorType::Multiplicative;
    let mut ss = 0.0;
    let mut logs = 0.0;
    for (yt, ft) in y.iter().zip(yhat) {
        let e = if mult { (yt - ft) / ft } else { yt - ft };
        ss += e * e;
        if mult {
            logs += ft.abs().ln();
        }
    }
    let mse = (ss / n).max(f64::MIN_POSITIVE);
    -n / 2.0 * ((2.0 * std::f64::consts::PI * mse).ln() + 1.0) - logs
}

impl Ets {
    /// Fits one ETS model by maximum likelihood.
    pub fn fit(y: &[f64], m: usize, spec: EtsSpec) -> Result<Ets, ForecastError> {
        Self::fit_with(y, m, spec, Options::default(), true, 1.0)
    }

    /// [`Ets::fit`] with explicit optimiser settings (the automatic choice uses looser ones:
    /// it compares AICc values far apart compared with the last digits a tight optimum buys).
    /// `every_start`: optimise from each start value and keep the best (else the first only).
    fn fit_with(
        y: &[f64],
        m: usize,
        spec: EtsSpec,
        options: Options,
        every_start: bool,
        beta_cap: f64,
    ) -> Result<Ets, ForecastError> {
        super::error::check_finite(y)?;
        let name = spec.name();
        if spec.multiplicative() && y.iter().any(|v| *v <= 0.0) {
            return Err(ForecastError::NonPositive { model: name });
        }
        let m = if spec.has_season() { m } else { 1 };
        if spec.has_season() && m < 2 {
            return Err(ForecastError::InvalidInput(format!(
                "{name} needs a season of at least 2"
            )));
        }
        let layout = Layout { spec, m, beta_cap };
        let k = layout.len();
        let needed = if spec.has_season() {
            min_seasonal_length(m)
        } else {
            (k + 3).max(4)
        };
        if y.len() < needed || y.len() < k + 3 {
            return Err(ForecastError::TooShort {
                model: name,
                needed: needed.max(k + 3),
                got: y.len(),
            });
        }
        if y.iter().all(|v| *v == y[0]) {
            return Err(ForecastError::InvalidInput(format!(
                "{name}: the series is constant, there is nothing to smooth"
            )));
        }
        // Work on y / scale so that finite-difference steps suit the state parameters
        // whatever the units; the likelihood is converted back exactly.
        let scale = y.iter().map(|v| v.abs()).sum::<f64>() / y.len() as f64;
        let ys: Vec<f64> = y.iter().map(|v| v / scale).collect();
        let (lo, hi) = layout.bounds();
        let mut starts = start_values(&layout, &ys);
        if !every_start {
            starts.truncate(1);
        }
        let mut yhat = vec![0.0; ys.len()];
        let mut best: Option<(Vec<f64>, f64)> = None;
        for admissible_only in [false, true] {
            for start in &starts {
                let x0 = layout.pack(start);
                let objective = |x: &[f64]| {
                    let raw = layout.unpack(x);
                    if admissible_only && !admissible(spec, m, &raw) {
                        return f64::INFINITY;
                    }
                    match filter(spec, m, &raw, &ys, &mut yhat) {
                        Some(_) => -loglik_of(spec, &ys, &yhat),
                        None => f64::INFINITY,
                    }
                };
                let opt = minimize_box(objective, &x0, &lo, &hi, options);
                if opt.f.is_finite() && best.as_ref().is_none_or(|b| opt.f < b.1) {
                    best = Some((opt.x, opt.f));
                }
            }
            match &best {
                Some((x, _)) if admissible(spec, m, &layout.unpack(x)) => break,
                _ => best = None,
            }
        }
        let Some((x, _)) = best else {
            return Err(ForecastError::NotConverged {
                model: name,
                detail: "no admissible parameters with a finite likelihood".into(),
            });
        };
        let mut raw = layout.unpack(&x);
        raw.l0 *= scale;
        raw.b0 *= scale;
        if spec.season == SeasonType::Additive {
            raw.s0.iter_mut().for_each(|s| *s *= scale);
        }
        let mut fitted = vec![0.0; y.len()];
        let state =
            filter(spec, m, &raw, y, &mut fitted).ok_or_else(|| ForecastError::NotConverged {
                model: spec.name(),
                detail: "fitted states left the positive half-line".into(),
            })?;
        let loglik = loglik_of(spec, y, &fitted);
        let n = y.len();
        let sse: f64 = y
            .iter()
            .zip(&fitted)
            .map(|(yt, ft)| {
                let e = if spec.error == ErrorType::Multiplicative {
                    (yt - ft) / ft
                } else {
                    yt - ft
                };
                e * e
            })
            .sum();
        let sigma2 = sse / (n - k).max(1) as f64;
        Ok(Ets {
            spec,
            m,
            raw,
            n,
            fitted,
            loglik,
            aicc: aicc(loglik, k + 1, n),
            sigma2,
            n_params: k + 1,
            state,
            notes: Vec::new(),
        })
    }

    /// The model's components.
    pub fn spec(&self) -> EtsSpec {
        self.spec
    }

    /// Fitted parameters, statsmodels' names and conventions.
    pub fn parameters(&self) -> EtsParams {
        let r = &self.raw;
        EtsParams {
            smoothing_level: r.alpha,
            smoothing_trend: self.spec.has_trend().then(|| r.beta()),
            smoothing_seasonal: self.spec.has_season().then(|| r.gamma()),
            damping_trend: (self.spec.trend == TrendType::Damped).then_some(r.phi),
            initial_level: r.l0,
            initial_trend: self.spec.has_trend().then_some(r.b0),
            initial_seasonal: r.s0.clone(),
        }
    }

    /// Innovation variance used for the intervals.
    pub fn sigma2(&self) -> f64 {
        self.sigma2
    }

    /// Number of estimated parameters, the innovation variance included.
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// Log-likelihood at given parameters (statsmodels' names), for reference checks.
    pub fn loglik_at(y: &[f64], m: usize, spec: EtsSpec, p: &EtsParams) -> Option<f64> {
        let alpha = p.smoothing_level;
        let raw = Raw {
            alpha,
            beta_star: p.smoothing_trend.map_or(0.0, |b| b / alpha),
            gamma_star: p.smoothing_seasonal.map_or(0.0, |g| g / (1.0 - alpha)),
            phi: match spec.trend {
                TrendType::Damped => p.damping_trend?,
                _ => 1.0,
            },
            l0: p.initial_level,
            b0: p.initial_trend.unwrap_or(0.0),
            s0: p.initial_seasonal.clone(),
        };
        if spec.has_season() && raw.s0.len() != m {
            return None;
        }
        let mut yhat = vec![0.0; y.len()];
        filter(spec, m, &raw, y, &mut yhat)?;
        Some(loglik_of(spec, y, &yhat))
    }

    fn point_forecast(&self, h: usize) -> Vec<f64> {
        let st = &self.state;
        let mut phi_sum = 0.0;
        let mut phi_pow = 1.0;
        (0..h)
            .map(|k| {
                phi_pow *= self.raw.phi;
                phi_sum += phi_pow;
                let q = st.level + phi_sum * st.trend;
                match self.spec.season {
                    SeasonType::None => q,
                    SeasonType::Additive => q + st.season[k % self.m],
                    SeasonType::Multiplicative => q * st.season[k % self.m],
                }
            })
            .collect()
    }

    /// Forecast standard deviations for linear models: σ²(1 + Σ_{j<h} c_j²) with
    /// c_j = α + β·(φ + … + φ^j) + γ·[j ≡ 0 mod m] (Hyndman et al. 2008, table 6.1).
    fn analytic_sd(&self, h: usize) -> Vec<f64> {
        let r = &self.raw;
        let (beta, gamma) = (r.beta(), r.gamma());
        let mut acc = 1.0;
        let mut phi_sum = 0.0;
        let mut phi_pow = 1.0;
        let mut out = Vec::with_capacity(h);
        for j in 1..=h {
            out.push((self.sigma2 * acc).sqrt());
            phi_pow *= r.phi;
            phi_sum += phi_pow;
            let mut c = r.alpha;
            if self.spec.has_trend() {
                c += beta * phi_sum;
            }
            if self.spec.has_season() && j % self.m == 0 {
                c += gamma;
            }
            acc += c * c;
        }
        out
    }

    /// Simulated sample paths from the end state; returns per-horizon draws.
    fn simulate(&self, h: usize, paths: usize) -> Vec<Vec<f64>> {
        let mut rng = StdRng::seed_from_u64(0x05ee_de75);
        let sd = self.sigma2.sqrt();
        let r = &self.raw;
        let m = self.m;
        let mut draws = vec![Vec::with_capacity(paths); h];
        for _ in 0..paths {
            let (mut l, mut b) = (self.state.level, self.state.trend);
            let mut season = self.state.season.clone();
            for (k, out) in draws.iter_mut().enumerate() {
                let s_old = if self.spec.has_season() {
                    season[k % m]
                } else {
                    0.0
                };
                let q = l + r.phi * b;
                let pred = match self.spec.season {
                    SeasonType::None => q,
                    SeasonType::Additive => q + s_old,
                    SeasonType::Multiplicative => q * s_old,
                };
                let e = sd * standard_normal(&mut rng);
                let yt = match self.spec.error {
                    ErrorType::Additive => pred + e,
                    ErrorType::Multiplicative => pred * (1.0 + e),
                };
                out.push(yt);
                let l_new = match self.spec.season {
                    SeasonType::None => r.alpha * yt + (1.0 - r.alpha) * q,
                    SeasonType::Additive => r.alpha * (yt - s_old) + (1.0 - r.alpha) * q,
                    SeasonType::Multiplicative => r.alpha * (yt / s_old) + (1.0 - r.alpha) * q,
                };
                b = r.beta_star * (l_new - l) + (1.0 - r.beta_star) * r.phi * b;
                if self.spec.has_season() {
                    let detr = if self.spec.season == SeasonType::Multiplicative {
                        yt / l_new
                    } else {
                        yt - l_new
                    };
                    season[k % m] = r.gamma_star * detr + (1.0 - r.gamma_star) * s_old;
                }
                l = l_new;
            }
        }
        draws
    }
}

impl FittedModel for Ets {
    fn name(&self) -> String {
        self.spec.name()
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        let mean = self.point_forecast(h);
        if self.spec.linear() {
            let sd = self.analytic_sd(h);
            return Forecast::gaussian(mean, &sd, levels);
        }
        let levels: Vec<f64> = valid_levels(levels).collect();
        if levels.is_empty() || h == 0 {
            return Forecast {
                mean,
                intervals: Vec::new(),
            };
        }
        super::paths::forecast_from_draws(mean, self.simulate(h, PATHS), &levels)
    }

    fn aicc(&self) -> Option<f64> {
        Some(self.aicc)
    }

    fn loglik(&self) -> Option<f64> {
        Some(self.loglik)
    }

    fn params(&self) -> serde_json::Value {
        json!({
            "model": self.name(),
            "spec": self.spec,
            "season": self.m,
            "params": self.parameters(),
            "sigma2": self.sigma2,
            "loglik": self.loglik,
            "aicc": self.aicc,
            "nobs": self.n,
        })
    }

    fn fitted(&self) -> Vec<f64> {
        self.fitted.clone()
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

/// Start values: the heuristic initial states with two sets of smoothing parameters
/// (statsmodels' defaults, which favour slow adaptation, and a faster-adapting set), so the
/// optimiser sees both basins the likelihood commonly has.
fn start_values(layout: &Layout, y: &[f64]) -> Vec<Raw> {
    let spec = layout.spec;
    let m = layout.m;
    let (l0, b0, s0) = initial_states(spec, m, y);
    let mut out = Vec::new();
    for (alpha, beta, gamma, phi) in [(0.1, 0.01, 0.01, 0.98), (0.5, 0.1, 0.1, 0.9)] {
        let a: f64 = alpha + 1e-3;
        out.push(Raw {
            alpha: a,
            beta_star: ((beta + 1e-3) / a).clamp(LOW, HIGH),
            gamma_star: ((gamma + 1e-3) / (1.0 - a)).clamp(LOW, HIGH),
            phi: phi_clamp(phi),
            l0,
            b0,
            s0: s0.clone(),
        });
    }
    out
}

fn phi_clamp(phi: f64) -> f64 {
    phi.clamp(0.8, 0.98)
}

/// Heuristic initial states (Hyndman & Athanasopoulos, section on ETS initialisation): a
/// classical decomposition over the first few full cycles gives the seasonal states; a
/// straight line through the first seasonally adjusted values gives level and trend.
/// The result follows the fixed-`s_{−m}` convention.
fn initial_states(spec: EtsSpec, m: usize, y: &[f64]) -> (f64, f64, Vec<f64>) {
    let mseason = spec.season == SeasonType::Multiplicative;
    let mut season_by_pos = vec![if mseason { 1.0 } else { 0.0 }; m];
    if spec.has_season() {
        let cycles = (y.len() / m).clamp(2, 5);
        let x = &y[..(cycles * m).min(y.len())];
        let trend = centred_moving_average(x, m);
        let mut sums = vec![0.0; m];
        let mut counts = vec![0usize; m];
        for (i, tr) in trend.iter().enumerate() {
            if let Some(tr) = tr {
                sums[i % m] += if mseason { x[i] / tr } else { x[i] - tr };
                counts[i % m] += 1;
            }
        }
        for j in 0..m {
            season_by_pos[j] = if counts[j] > 0 {
                sums[j] / counts[j] as f64
            } else if mseason {
                1.0
            } else {
                0.0
            };
        }
        let mean = season_by_pos.iter().sum::<f64>() / m as f64;
        for s in &mut season_by_pos {
            if mseason {
                *s /= mean;
            } else {
                *s -= mean;
            }
        }
    }
    // Seasonally adjusted start of the series; regress on time t = 1..k so the intercept is
    // the level one step before the first observation.
    let k = y
        .len()
        .min(if spec.has_season() { 2 * m.max(5) } else { 10 });
    let adj: Vec<f64> = (0..k)
        .map(|i| {
            let s = season_by_pos[i % m];
            if mseason { y[i] / s } else { y[i] - s }
        })
        .collect();
    let (mut l0, b0) = if spec.has_trend() && k >= 2 {
        let tm = (k as f64 + 1.0) / 2.0;
        let am = adj.iter().sum::<f64>() / k as f64;
        let mut num = 0.0;
        let mut den = 0.0;
        for (i, a) in adj.iter().enumerate() {
            let t = i as f64 + 1.0 - tm;
            num += t * (a - am);
            den += t * t;
        }
        let slope = num / den;
        (am - slope * tm, slope)
    } else {
        (adj.iter().sum::<f64>() / k as f64, 0.0)
    };
    // season_by_pos[j] is s_{j−m}; internal order is s_{−1−i} at i, i.e. position m−1−i.
    let mut s0: Vec<f64> = if spec.has_season() {
        (0..m).map(|i| season_by_pos[m - 1 - i]).collect()
    } else {
        Vec::new()
    };
    if spec.has_season() {
        let last = s0[m - 1];
        if mseason {
            l0 *= last;
            s0.iter_mut().for_each(|s| *s /= last);
        } else {
            l0 += last;
            s0.iter_mut().for_each(|s| *s -= last);
        }
    }
    (l0, b0, s0)
}

/// Centred moving average of order m (2×m for even m); `None` where the window is incomplete.
fn centred_moving_average(x: &[f64], m: usize) -> Vec<Option<f64>> {
    let n = x.len();
    let mut out = vec![None; n];
    let half = m / 2;
    for (i, o) in out.iter_mut().enumerate() {
        if i < half || i + half >= n {
            continue;
        }
        *o = Some(if m.is_multiple_of(2) {
            let mut s = 0.5 * (x[i - half] + x[i + half]);
            s += x[i - half + 1..i + half].iter().sum::<f64>();
            s / m as f64
        } else {
            x[i - half..=i + half].iter().sum::<f64>() / m as f64
        });
    }
    out
}

/// Admissibility of the linear counterpart: the spectral radius of `D = F − g w'` below 1.
/// Estimated as ‖D^(2^20)‖^(2^−20) by repeated squaring with renormalisation.
fn admissible(spec: EtsSpec, m: usize, r: &Raw) -> bool {
    let has_t = spec.has_trend();
    let ms = if spec.has_season() { m } else { 0 };
    let dim = 1 + usize::from(has_t) + ms;
    // State (l, b, s_{t−1}, …, s_{t−m}); w picks l + φb + s_{t−m}.
    let mut f = vec![0.0; dim * dim];
    let mut w = vec![0.0; dim];
    let mut g = vec![0.0; dim];
    f[0] = 1.0;
    w[0] = 1.0;
    g[0] = r.alpha;
    if has_t {
        f[1] = r.phi;
        f[dim + 1] = r.phi;
        w[1] = r.phi;
        g[1] = r.beta();
    }
    if ms > 0 {
        let s0 = 1 + usize::from(has_t);
        // New s_t row copies s_{t−m}; the others shift.
        f[s0 * dim + s0 + ms - 1] = 1.0;
        for j in 1..ms {
            f[(s0 + j) * dim + s0 + j - 1] = 1.0;
        }
        w[s0 + ms - 1] = 1.0;
        g[s0] = r.gamma();
    }
    let mut d: Vec<f64> = (0..dim * dim)
        .map(|i| f[i] - g[i / dim] * w[i % dim])
        .collect();
    let mut log_scale = 0.0;
    let squarings = 20;
    for _ in 0..squarings {
        let mut next = vec![0.0; dim * dim];
        for i in 0..dim {
            for k in 0..dim {
                let a = d[i * dim + k];
                if a == 0.0 {
                    continue;
                }
                for j in 0..dim {
                    next[i * dim + j] += a * d[k * dim + j];
                }
            }
        }
        let norm = next.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
        log_scale *= 2.0;
        if norm == 0.0 {
            return true;
        }
        log_scale += norm.ln();
        next.iter_mut().for_each(|v| *v /= norm);
        d = next;
    }
    let rho = (log_scale / f64::from(1u32 << squarings)).exp();
    rho < 1.0 + 1e-5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(e: ErrorType, t: TrendType, s: SeasonType) -> EtsSpec {
        EtsSpec::new(e, t, s)
    }

    #[test]
    fn recursions_match_hand_computation() {
        // ETS(A,A,A), m = 2: two steps by hand.
        let r = Raw {
            alpha: 0.5,
            beta_star: 0.2,
            gamma_star: 0.4,
            phi: 1.0,
            l0: 10.0,
            b0: 1.0,
            s0: vec![-1.0, 0.0], // s_{-1} = -1, s_{-2} = 0
        };
        let y = [12.0, 10.0];
        let mut yhat = [0.0; 2];
        let sp = spec(
            ErrorType::Additive,
            TrendType::Additive,
            SeasonType::Additive,
        );
        let st = filter(sp, 2, &r, &y, &mut yhat).unwrap();
        // t=0: ŷ = 10+1+s_{-2}=11; l = .5·12 + .5·11 = 11.5; b = .2·1.5 + .8·1 = 1.1;
        //      s_0 = .4·(12−11.5) + .6·0 = 0.2
        // t=1: ŷ = 11.5+1.1+s_{-1} = 11.6; l = .5·(10+1) + .5·12.6 = 11.8;
        //      b = .2·0.3 + .8·1.1 = 0.94; s_1 = .4·(10−11.8) + .6·(−1) = −1.32
        assert!((yhat[0] - 11.0).abs() < 1e-12 && (yhat[1] - 11.6).abs() < 1e-12);
        assert!((st.level - 11.8).abs() < 1e-12 && (st.trend - 0.94).abs() < 1e-12);
        // Next step uses s_0, then s_1.
        assert!((st.season[0] - 0.2).abs() < 1e-12 && (st.season[1] + 1.32).abs() < 1e-12);
    }

    #[test]
    fn multiplicative_error_loglik_includes_the_jacobian() {
        let y = [10.0, 11.0, 12.0];
        let yhat = [10.5, 10.5, 11.5];
        let sp = spec(ErrorType::Multiplicative, TrendType::None, SeasonType::None);
        let e: Vec<f64> = y.iter().zip(&yhat).map(|(a, f)| (a - f) / f).collect();
        let mse = e.iter().map(|v| v * v).sum::<f64>() / 3.0;
        let want = -1.5 * ((2.0 * std::f64::consts::PI * mse).ln() + 1.0)
            - yhat.iter().map(|v: &f64| v.ln()).sum::<f64>();
        assert!((loglik_of(sp, &y, &yhat) - want).abs() < 1e-12);
    }

    #[test]
    fn simple_smoothing_recovers_a_level_and_gives_sqrt_growth_free_intervals() {
        // A noisy level series: SES with α small; intervals widen as σ²(1 + (h−1)α²).
        let y: Vec<f64> = (0..40)
            .map(|i| 50.0 + ((i * 7919) % 13) as f64 - 6.0)
            .collect();
        let fit = Ets::fit(
            &y,
            1,
            spec(ErrorType::Additive, TrendType::None, SeasonType::None),
        )
        .unwrap();
        let f = fit.forecast(3, &[95.0]);
        assert!((f.mean[0] - f.mean[2]).abs() < 1e-12);
        assert!((f.mean[0] - 50.0).abs() < 2.0, "{}", f.mean[0]);
        let a = fit.parameters().smoothing_level;
        let sd = fit.sigma2().sqrt();
        let iv = f.interval(95.0).unwrap();
        let want = 1.959_963_984_540_054 * sd * (1.0 + 2.0 * a * a).sqrt();
        assert!((iv.upper[2] - f.mean[2] - want).abs() < 1e-9);
    }

    #[test]
    fn admissibility_rejects_an_explosive_seasonal_model() {
        let base = Raw {
            alpha: 0.3,
            beta_star: 0.1,
            gamma_star: 0.1,
            phi: 1.0,
            l0: 0.0,
            b0: 0.0,
            s0: vec![0.0; 4],
        };
        let sp = spec(
            ErrorType::Additive,
            TrendType::Additive,
            SeasonType::Additive,
        );
        assert!(admissible(sp, 4, &base));
        // γ far above 1 − α is outside the admissible region.
        let bad = Raw {
            gamma_star: 5.0,
            ..base
        };
        assert!(!admissible(sp, 4, &bad));
    }

    #[test]
    fn auto_ets_finds_seasonality_and_refuses_multiplicative_on_zeros() {
        let y: Vec<f64> = (0..48)
            .map(|i| {
                100.0 + i as f64 + [10.0, -5.0, 3.0, -8.0][i % 4] + ((i * 37) % 5) as f64 * 0.3
            })
            .collect();
        let fit = auto_ets(&y, 4).unwrap();
        assert!(fit.spec().has_season(), "{}", fit.name());
        let mut z = y.clone();
        z[3] = 0.0;
        assert!(matches!(
            Ets::fit(
                &z,
                4,
                spec(ErrorType::Multiplicative, TrendType::None, SeasonType::None)
            ),
            Err(ForecastError::NonPositive { .. })
        ));
        let fit = auto_ets(&z, 4).unwrap();
        assert_eq!(fit.spec().error, ErrorType::Additive);
        assert!(fit.notes().iter().any(|n| n.contains("multiplicative")));
    }

    #[test]
    fn the_automatic_choice_bounds_the_trend_smoothing_where_one_named_fit_does_not() {
        // Thirty "years" of a trend that wanders a lot more than the level around it does:
        // maximum likelihood wants a fast-moving trend.
        let mut noise = crate::forecast::test_noise(17);
        let (mut level, mut slope) = (500.0, 5.0);
        let y: Vec<f64> = (0..30)
            .map(|_| {
                slope += 12.0 * noise();
                level += slope;
                level + noise()
            })
            .collect();
        let aan = spec(ErrorType::Additive, TrendType::Additive, SeasonType::None);
        let free = Ets::fit(&y, 1, aan).unwrap();
        let free_beta = free.parameters().smoothing_trend.unwrap();
        assert!(free_beta > 0.25, "the unbounded β is {free_beta}");
        let cap = selection_beta_cap(aan);
        let bounded = Ets::fit_with(&y, 1, aan, SELECTION_OPTIONS, false, cap).unwrap();
        let beta = bounded.parameters().smoothing_trend.unwrap();
        assert!(beta <= cap + 1e-12, "β {beta} above the bound {cap}");
        assert!(bounded.loglik <= free.loglik + 1e-6);
        let auto = auto_ets(&y, 1).unwrap();
        if let Some(beta) = auto.parameters().smoothing_trend {
            assert!(beta <= cap + 1e-12, "{}: β {beta}", auto.name());
        }
        // Seasonal models keep the usual region.
        let aaa = spec(
            ErrorType::Additive,
            TrendType::Additive,
            SeasonType::Additive,
        );
        assert_eq!(selection_beta_cap(aaa), 1.0);
    }

    #[test]
    fn the_automatic_choice_reaches_the_random_walk_basin_of_a_short_series() {
        // Fourteen "years" of a random walk with large steps: the likelihood's best α is
        // near 1, out of reach of the optimiser started from the slow-adapting α = 0.1.
        let mut noise = crate::forecast::test_noise(2);
        let mut level = 2000.0;
        let y: Vec<f64> = (0..14)
            .map(|_| {
                level += 600.0 * noise();
                level
            })
            .collect();
        let auto = auto_ets(&y, 1).unwrap();
        for error in [ErrorType::Additive, ErrorType::Multiplicative] {
            let s = spec(error, TrendType::None, SeasonType::None);
            let one = Ets::fit_with(&y, 1, s, SELECTION_OPTIONS, false, 1.0).unwrap();
            let both = Ets::fit_with(&y, 1, s, SELECTION_OPTIONS, true, 1.0).unwrap();
            assert!(
                both.loglik > one.loglik + 0.5,
                "{}: one start {} both {}",
                s.name(),
                one.loglik,
                both.loglik
            );
            assert!(both.parameters().smoothing_level > 0.9);
            assert!(
                auto.aicc <= both.aicc + 1e-9,
                "{} {}",
                auto.name(),
                auto.aicc
            );
        }
    }

    #[test]
    fn a_52_week_season_is_found_and_forecast_by_the_long_season_settings() {
        // Three years of weeks: a Christmas peak, a summer dip, a little noise.
        let pattern = |w: usize| match w % 52 {
            49..=51 => 40.0,
            24..=31 => -15.0,
            _ => 0.0,
        };
        let y: Vec<f64> = (0..156)
            .map(|t| 200.0 + pattern(t) + ((t * 7919) % 11) as f64 * 0.5)
            .collect();
        let fit = auto_ets(&y, 52).unwrap();
        assert!(fit.spec().has_season(), "{}", fit.name());
        let fc = fit.forecast(52, &[]).mean;
        // Next year's peak and dip are where this year's were.
        let (peak, dip, rest) = (fc[50], fc[27], fc[10]);
        assert!(
            peak - rest > 25.0 && rest - dip > 8.0,
            "{peak} {dip} {rest}"
        );
    }
}
