//! Complex exponential smoothing (Svetunkov & Kourentzes), as statsforecast 2.1.1's `AutoCES`
//! defines it: non-seasonal (N), simple seasonal (S), partial seasonal (P) and full seasonal
//! (F) models, the one with the lowest AICc kept.
//!
//! Why: CES models the level with a complex-valued smoothing parameter `α₀ + iα₁`, which lets
//! one model move between a level and a trend without choosing either — a useful, cheap
//! competitor to ETS on short business series, and statsforecast's AutoCES is a standard
//! benchmark that teams compare against.
//!
//! State equations (real part `ℓ`, imaginary part `c`; error `e_t = y_t − ŷ_t`):
//!
//! * N: `ŷ_t = ℓ_{t-1}`; `ℓ_t = ℓ_{t-1} − (1−α₁)c_{t-1} + (α₀−α₁)e_t`,
//!   `c_t = ℓ_{t-1} + (1−α₀)c_{t-1} + (α₀+α₁)e_t`.
//! * S: the same recursion on lag `m` (`ℓ_{t-m}`, `c_{t-m}`) — each season its own CES.
//! * P: N plus an additive seasonal `s_t = s_{t-m} + β₀e_t`, `ŷ_t = ℓ_{t-1} + s_{t-m}`.
//! * F: N plus a complex seasonal pair (`s`, `d`) on lag `m` with `β₀ + iβ₁`.
//!
//! Fitting follows statsforecast exactly, because its optimum is that of a Nelder–Mead search
//! stopped early, not the exact minimum: initial states (N: mean of the first ten values
//! and that over 1.1; S: the first season and it over 1.1; P/F: the first season's mean, it
//! over 1.1 and the additive classical seasonal indices, F also those over 1.1); states kept in
//! double precision; the criterion `n·ln(SSE)` after a forward pass, a
//! backward pass over the reversed series (backcasting the initial states) and a forward pass
//! again; Nelder–Mead ([`crate::numeric::nelder_mead`]) from α₀ = 1.3, α₁ = 1, β₀ = 0.1 (P) or
//! 1.3 (F), β₁ = 1, with bounds 0.01 ≤ · ≤ (1.8, 1.9, 1.5, 1.5) by position. AICc counts the
//! state components plus one as parameters; the variance is SSE/(n − k − 1).
//!
//! Prediction intervals as statsforecast makes them: 5 000 sample paths, each forecast from
//! the final states with independent N(0, σ²) noise added to every state component, and the
//! bands the paths' quantiles (checked against statsforecast's bands within Monte Carlo
//! error). An earlier `σ√h` rule grew like a random walk and, on strongly seasonal daily
//! sales, covered every held-out day at both levels.

use serde::{Deserialize, Serialize};
use serde_json::json;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::paths::{PATHS, forecast_from_draws, standard_normal};
use super::{FittedModel, Forecast, ForecastError, valid_levels};
use crate::numeric::nelder_mead::{NmOptions, nelder_mead};

/// The CES seasonal structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CesSeason {
    None,
    Simple,
    Partial,
    Full,
}

impl CesSeason {
    pub const ALL: [CesSeason; 4] = [
        CesSeason::None,
        CesSeason::Simple,
        CesSeason::Partial,
        CesSeason::Full,
    ];

    /// statsforecast's letter.
    pub fn code(self) -> &'static str {
        match self {
            CesSeason::None => "N",
            CesSeason::Simple => "S",
            CesSeason::Partial => "P",
            CesSeason::Full => "F",
        }
    }

    fn components(self) -> usize {
        match self {
            CesSeason::None | CesSeason::Simple => 2,
            CesSeason::Partial => 3,
            CesSeason::Full => 4,
        }
    }

    fn has_seasonal_state(self) -> bool {
        matches!(self, CesSeason::Partial | CesSeason::Full)
    }
}

/// Smoothing parameters (β unused by N and S, β₁ by P).
#[derive(Debug, Clone, Copy, PartialEq)]
struct CesParams {
    a0: f64,
    a1: f64,
    b0: f64,
    b1: f64,
}

type Row = [f64; 4];

/// The one-step prediction for row `i`.
fn predict(states: &[Row], i: usize, m: usize, season: CesSeason) -> f64 {
    let base = if season == CesSeason::Simple {
        states[i - m][0]
    } else {
        states[i - 1][0]
    };
    let mut f = base;
    if season.has_seasonal_state() {
        f += states[i - m][2];
    }
    f
}

/// Writes row `i` from the earlier rows and the observation `y`.
fn update(states: &mut [Row], i: usize, m: usize, season: CesSeason, p: CesParams, y: f64) {
    let src = if season == CesSeason::Simple {
        i - m
    } else {
        i - 1
    };
    let mut e = y - states[src][0];
    if season.has_seasonal_state() {
        e -= states[i - m][2];
    }
    let (l, c) = (states[src][0], states[src][1]);
    states[i][0] = l - (1.0 - p.a1) * c + (p.a0 - p.a1) * e;
    states[i][1] = l + (1.0 - p.a0) * c + (p.a0 + p.a1) * e;
    match season {
        CesSeason::Partial => states[i][2] = states[i - m][2] + (p.b0) * e,
        CesSeason::Full => {
            let (s, d) = (states[i - m][2], states[i - m][3]);
            states[i][2] = s - (1.0 - p.b1) * d + (p.b0 - p.b1) * e;
            states[i][3] = s + (1.0 - p.b0) * d + (p.b0 + p.b1) * e;
        }
        CesSeason::None | CesSeason::Simple => {}
    }
}

/// One pass over `y` from the first `m` rows; fills rows `m..n+m` and the `m` forecast rows
/// after them. Returns the squared one-step errors' sum and writes the errors.
fn pass(
    states: &mut [Row],
    y: &[f64],
    m: usize,
    season: CesSeason,
    p: CesParams,
    errors: &mut [f64],
) -> f64 {
    let n = y.len();
    let mut sse = 0.0;
    for i in m..n + m {
        let e = y[i - m] - predict(states, i, m, season);
        errors[i - m] = e;
        update(states, i, m, season, p, y[i - m]);
        sse += e * e;
    }
    for i in n + m..n + 2 * m {
        let f = predict(states, i, m, season);
        update(states, i, m, season, p, f);
    }
    sse
}

/// Forward, backward (backcasting the initial states) and forward again; the criterion
/// `n·ln(SSE)` of the last pass, the final states and the one-step errors.
fn backfit(
    y: &[f64],
    m: usize,
    season: CesSeason,
    init: &[Row],
    p: CesParams,
) -> (f64, Vec<Row>, Vec<f64>) {
    let n = y.len();
    let mut states = vec![[0.0; 4]; n + 2 * m];
    states[..m].copy_from_slice(init);
    let mut errors = vec![0.0; n];
    let mut rev: Vec<f64> = y.to_vec();
    pass(&mut states, y, m, season, p, &mut errors);
    states.reverse();
    rev.reverse();
    pass(&mut states, &rev, m, season, p, &mut errors);
    states.reverse();
    let sse = pass(&mut states, y, m, season, p, &mut errors);
    (n as f64 * sse.ln(), states, errors)
}

/// statsforecast's initial states.
fn initial_states(y: &[f64], m: usize, season: CesSeason) -> Vec<Row> {
    let mut rows = vec![[0.0; 4]; m];
    match season {
        CesSeason::None => {
            let k = 10.min(y.len());
            let mean = y[..k].iter().sum::<f64>() / k as f64;
            rows[0][0] = mean;
            rows[0][1] = mean / 1.1;
        }
        CesSeason::Simple => {
            for (r, v) in rows.iter_mut().zip(y) {
                r[0] = *v;
                r[1] = v / 1.1;
            }
        }
        CesSeason::Partial | CesSeason::Full => {
            let mean = y[..m].iter().sum::<f64>() / m as f64;
            let seasonal = super::theta::classical_seasonal(y, m, false);
            for (r, s) in rows.iter_mut().zip(&seasonal) {
                r[0] = mean;
                r[1] = mean / 1.1;
                r[2] = *s;
                if season == CesSeason::Full {
                    r[3] = s / 1.1;
                }
            }
        }
    }
    rows
}

/// The Nelder–Mead objective (the reference's guards: −1e10 floor, NaN → −∞).
fn objective(lik: f64) -> f64 {
    let v = lik.max(-1e10);
    if v.is_nan() { f64::NEG_INFINITY } else { v }
}

/// A fitted CES model.
#[derive(Debug, Clone)]
pub struct Ces {
    season_type: CesSeason,
    m: usize,
    params: CesParams,
    /// The last `m` states of the final pass.
    last: Vec<Row>,
    lik: f64,
    aicc: f64,
    sigma2: f64,
    fitted: Vec<f64>,
    notes: Vec<String>,
}

fn fit_one(y: &[f64], season_length: usize, season: CesSeason) -> Ces {
    let m = if season == CesSeason::None {
        1
    } else {
        season_length
    };
    let init = initial_states(y, m, season);
    let unpack = |x: &[f64]| CesParams {
        a0: x[0],
        a1: x[1],
        b0: match season {
            CesSeason::Partial | CesSeason::Full => x[2],
            _ => f64::NAN,
        },
        b1: if season == CesSeason::Full {
            x[3]
        } else {
            f64::NAN
        },
    };
    let x0: Vec<f64> = match season {
        CesSeason::None | CesSeason::Simple => vec![1.3, 1.0],
        CesSeason::Partial => vec![1.3, 1.0, 0.1],
        CesSeason::Full => vec![1.3, 1.0, 1.3, 1.0],
    };
    let k = x0.len();
    let lower = vec![0.01; k];
    let upper = [1.8, 1.9, 1.5, 1.5][..k].to_vec();
    let r = nelder_mead(
        |x| objective(backfit(y, m, season, &init, unpack(x)).0),
        &x0,
        &lower,
        &upper,
        NmOptions::default(),
    );
    let params = unpack(&r.x);
    let (lik, states, errors) = backfit(y, m, season, &init, params);
    let n = y.len();
    let np = season.components() + 1;
    let aic = lik + 2.0 * np as f64;
    let aicc = if n as f64 - np as f64 - 1.0 != 0.0 {
        aic + 2.0 * (np * (np + 1)) as f64 / (n as f64 - np as f64 - 1.0)
    } else {
        f64::INFINITY
    };
    let sse: f64 = errors.iter().map(|e| e * e).sum();
    Ces {
        season_type: season,
        m,
        params,
        last: states[n..n + m].to_vec(),
        lik,
        aicc,
        sigma2: sse / (n as f64 - np as f64 - 1.0),
        fitted: y.iter().zip(&errors).map(|(y, e)| y - e).collect(),
        notes: Vec::new(),
    }
}

impl Ces {
    /// The seasonal form fitted (what AutoCES chose).
    pub fn season_type(&self) -> CesSeason {
        self.season_type
    }

    /// Fits one CES model.
    pub fn fit(y: &[f64], season_length: usize, season: CesSeason) -> Result<Ces, ForecastError> {
        Self::fit_among(y, season_length, &[season])
    }

    /// AutoCES: N, S, P and F when the series has a season (`m > 1`, two seasons of data),
    /// otherwise N; the lowest AICc kept.
    pub fn auto(y: &[f64], season_length: usize) -> Result<Ces, ForecastError> {
        Self::fit_among(y, season_length, &CesSeason::ALL)
    }

    fn fit_among(
        y: &[f64],
        season_length: usize,
        candidates: &[CesSeason],
    ) -> Result<Ces, ForecastError> {
        super::error::check_finite(y)?;
        let seasonal_ok = season_length > 1 && y.len() >= 2 * season_length;
        let mut notes = Vec::new();
        let candidates: Vec<CesSeason> = if seasonal_ok {
            candidates.to_vec()
        } else {
            if candidates.iter().any(|s| *s != CesSeason::None) {
                notes.push(format!(
                    "season {season_length} with {} observations: non-seasonal CES only",
                    y.len()
                ));
            }
            vec![CesSeason::None]
        };
        let needed = if candidates.len() > 1 {
            5
        } else {
            candidates[0].components() + 1
        };
        if y.len() < needed.max(3) {
            return Err(ForecastError::TooShort {
                model: "CES".into(),
                needed: needed.max(3),
                got: y.len(),
            });
        }
        let mut best: Option<Ces> = None;
        let mut scores = Vec::new();
        for &s in &candidates {
            let fit = fit_one(y, season_length, s);
            scores.push(format!("{}: {:.3}", s.code(), fit.aicc));
            if !fit.aicc.is_nan() && best.as_ref().is_none_or(|b| fit.aicc < b.aicc) {
                best = Some(fit);
            }
        }
        // A perfect fit (a constant series) has AICc −∞; statsforecast refuses it, we keep it.
        let Some(mut best) = best.filter(|b| b.aicc < f64::INFINITY) else {
            return Err(ForecastError::NotConverged {
                model: "CES".into(),
                detail: "no CES model has a finite AICc".into(),
            });
        };
        if candidates.len() > 1 {
            notes.push(format!(
                "AutoCES chose {} (AICc {})",
                best.season_type.code(),
                scores.join(", ")
            ));
        }
        best.notes = notes;
        Ok(best)
    }

    /// Per-step forecasts of `paths` simulations whose final states each got independent
    /// N(0, σ²) noise on every component (statsforecast's rule); draws unsorted.
    fn simulate(&self, h: usize, paths: usize) -> Vec<Vec<f64>> {
        let mut rng = StdRng::seed_from_u64(0x0ce5_0001);
        let sigma = self.sigma2.max(0.0).sqrt();
        let m = self.m;
        let mut draws = vec![Vec::with_capacity(paths); h];
        let mut rows = Vec::with_capacity(m + h);
        for _ in 0..paths {
            rows.clear();
            rows.extend(
                self.last
                    .iter()
                    .map(|r| r.map(|c| c + sigma * standard_normal(&mut rng))),
            );
            rows.resize(m + h, [0.0; 4]);
            for (k, out) in draws.iter_mut().enumerate() {
                let f = predict(&rows, m + k, m, self.season_type);
                update(&mut rows, m + k, m, self.season_type, self.params, f);
                out.push(f);
            }
        }
        draws
    }

    fn point_forecasts(&self, h: usize) -> Vec<f64> {
        let m = self.m;
        let mut rows = self.last.clone();
        rows.resize(m + h, [0.0; 4]);
        (m..m + h)
            .map(|i| {
                let f = predict(&rows, i, m, self.season_type);
                update(&mut rows, i, m, self.season_type, self.params, f);
                f
            })
            .collect()
    }
}

impl FittedModel for Ces {
    fn name(&self) -> String {
        format!("CES({})", self.season_type.code())
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        let mean = self.point_forecasts(h);
        if valid_levels(levels).next().is_none() || h == 0 {
            return Forecast {
                mean,
                intervals: Vec::new(),
            };
        }
        forecast_from_draws(mean, self.simulate(h, PATHS), levels)
    }

    fn aicc(&self) -> Option<f64> {
        Some(self.aicc)
    }

    fn loglik(&self) -> Option<f64> {
        Some(-0.5 * self.lik)
    }

    fn params(&self) -> serde_json::Value {
        let opt = |v: f64| if v.is_nan() { None } else { Some(v) };
        json!({
            "season_type": self.season_type.code(),
            "m": self.m,
            "alpha_0": self.params.a0,
            "alpha_1": self.params.a1,
            "beta_0": opt(self.params.b0),
            "beta_1": opt(self.params.b1),
            "aicc": self.aicc,
            "sigma2": self.sigma2,
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

    #[test]
    fn too_short_is_refused() {
        assert!(matches!(
            Ces::auto(&[1.0, 2.0], 1),
            Err(ForecastError::TooShort { .. })
        ));
    }

    #[test]
    fn short_seasonal_series_uses_the_non_seasonal_model_and_says_so() {
        let y: Vec<f64> = (0..10).map(|t| 5.0 + (t % 4) as f64).collect();
        let m = Ces::auto(&y, 12).unwrap();
        assert_eq!(m.name(), "CES(N)");
        assert!(m.notes()[0].contains("non-seasonal"));
        let f = m.forecast(4, &[80.0]);
        assert!(f.mean.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn constant_series_stays_near_the_constant() {
        let y = [4.0; 24];
        let m = Ces::fit(&y, 1, CesSeason::None).unwrap();
        for v in m.forecast(6, &[]).mean {
            assert!((v - 4.0).abs() < 0.05, "{v}");
        }
    }

    #[test]
    fn seasonal_series_prefers_a_seasonal_model() {
        let y: Vec<f64> = (0..48)
            .map(|t| 50.0 + 0.2 * t as f64 + [8.0, -3.0, -9.0, 4.0][t % 4])
            .collect();
        let m = Ces::auto(&y, 4).unwrap();
        assert_ne!(m.name(), "CES(N)", "{:?}", m.notes());
        let f = m.forecast(8, &[95.0]);
        let i = f.interval(95.0).unwrap();
        assert!(i.upper[7] - i.lower[7] > i.upper[0] - i.lower[0]);
    }
}
