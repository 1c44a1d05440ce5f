//! Automatic SARIMA order selection after Hyndman & Khandakar (2008), as in R's
//! `auto.arima()` and statsforecast's `AutoARIMA`.
//!
//! Why each step:
//! - **D** (0 or 1) from the *seasonal strength* `F_s = max(0, 1 − Var(R)/Var(S+R))` with
//!   R's threshold 0.64 (Wang, Smith & Hyndman 2006). R and statsforecast decompose with STL;
//!   here the trend is a centred moving average and the seasonal component a local average
//!   over ±5 cycles, which like STL's seasonal window lets the pattern evolve (a growing
//!   seasonal swing is seasonal signal, not remainder) at a fraction of the code.
//! - **d** (0..2) by repeated KPSS level-stationarity tests at 5 % (critical value 0.463)
//!   with the lag truncation `⌊3√n/13⌋` that `ndiffs()` uses: differencing continues while
//!   stationarity is rejected.
//! - **p, q, P, Q** by the stepwise search: four start models, then moves of ±1 in one or two
//!   orders and toggling the constant, always to the first neighbour that lowers AICc, until
//!   none does. A constant is allowed only when d + D ≤ 1 (with more differencing it would be
//!   a polynomial trend). Every fit is exact maximum likelihood (the series this serves are
//!   short enough that R's CSS approximation during the search buys nothing).

use std::collections::HashSet;

use super::ForecastError;
use super::sarima::{ArimaSpec, Sarima, difference};

/// Search limits (R's defaults).
#[derive(Debug, Clone, Copy)]
pub struct AutoArimaOptions {
    pub max_p: usize,
    pub max_q: usize,
    pub max_seasonal_p: usize,
    pub max_seasonal_q: usize,
    /// Bound on p + q + P + Q.
    pub max_order: usize,
    pub max_d: usize,
    pub max_seasonal_d: usize,
    /// Bound on the number of models fitted.
    pub max_models: usize,
}

impl Default for AutoArimaOptions {
    fn default() -> Self {
        AutoArimaOptions {
            max_p: 5,
            max_q: 5,
            max_seasonal_p: 2,
            max_seasonal_q: 2,
            max_order: 5,
            max_d: 2,
            max_seasonal_d: 1,
            max_models: 94,
        }
    }
}

/// KPSS statistic for level stationarity with `lags` Bartlett-weighted autocovariances.
pub fn kpss_statistic(x: &[f64], lags: usize) -> f64 {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n as f64;
    let e: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let mut s = 0.0;
    let mut eta = 0.0;
    for v in &e {
        s += v;
        eta += s * s;
    }
    let nf = n as f64;
    let mut lrv = e.iter().map(|v| v * v).sum::<f64>() / nf;
    for l in 1..=lags.min(n.saturating_sub(1)) {
        let w = 1.0 - l as f64 / (lags as f64 + 1.0);
        let cov: f64 = (l..n).map(|t| e[t] * e[t - l]).sum::<f64>() / nf;
        lrv += 2.0 * w * cov;
    }
    if lrv <= 0.0 {
        return 0.0;
    }
    eta / (nf * nf) / lrv
}

/// 5 % critical value of the KPSS level test (Kwiatkowski et al. 1992, table 1).
pub const KPSS_CRITICAL_5PCT: f64 = 0.463;

fn is_constant(x: &[f64]) -> bool {
    x.iter()
        .all(|v| (v - x[0]).abs() <= 1e-12 * (1.0 + x[0].abs()))
}

/// Number of first differences for stationarity by repeated KPSS tests.
pub fn ndiffs(x: &[f64], max_d: usize) -> usize {
    let mut cur = x.to_vec();
    let mut d = 0;
    while d < max_d && cur.len() > 3 && !is_constant(&cur) {
        let lags = (3.0 * (cur.len() as f64).sqrt() / 13.0).floor() as usize;
        if kpss_statistic(&cur, lags) <= KPSS_CRITICAL_5PCT {
            break;
        }
        cur = difference(&cur, 1, 0, 1);
        d += 1;
    }
    d
}

/// Cycles either side averaged for the local seasonal component (STL's default seasonal
/// window in `mstl` spans 11 cycles).
const SEASONAL_HALF_WINDOW: usize = 5;

/// Seasonal strength in [0, 1] from an additive decomposition: centred moving-average trend,
/// locally averaged seasonal component.
pub fn seasonal_strength(x: &[f64], m: usize) -> f64 {
    let n = x.len();
    if m < 2 || n < 2 * m {
        return 0.0;
    }
    let half = m / 2;
    let trend: Vec<Option<f64>> = (0..n)
        .map(|i| {
            if i < half || i + half >= n {
                return None;
            }
            Some(if m.is_multiple_of(2) {
                (0.5 * (x[i - half] + x[i + half]) + x[i - half + 1..i + half].iter().sum::<f64>())
                    / m as f64
            } else {
                x[i - half..=i + half].iter().sum::<f64>() / m as f64
            })
        })
        .collect();
    // Seasonal component at each point: mean of the detrended values at the same position
    // in the neighbouring cycles (±SEASONAL_HALF_WINDOW), centred per cycle. A pattern that
    // evolves slowly is seasonal signal, not remainder, as with STL's seasonal window.
    let detr: Vec<Option<f64>> = (0..n).map(|i| trend[i].map(|t| x[i] - t)).collect();
    let mut seas = vec![None; n];
    for i in 0..n {
        if detr[i].is_none() {
            continue;
        }
        let mut sum = 0.0;
        let mut count = 0usize;
        for c in -(SEASONAL_HALF_WINDOW as isize)..=SEASONAL_HALF_WINDOW as isize {
            let j = i as isize + c * m as isize;
            if j >= 0
                && (j as usize) < n
                && let Some(v) = detr[j as usize]
            {
                sum += v;
                count += 1;
            }
        }
        seas[i] = Some(sum / count as f64);
    }
    // Centre the seasonal component over each run of m consecutive points.
    let mut centred = seas.clone();
    for i in 0..n {
        if seas[i].is_none() {
            continue;
        }
        let lo = i.saturating_sub(m / 2);
        let window: Vec<f64> = (lo..(lo + m).min(n)).filter_map(|k| seas[k]).collect();
        if window.len() == m {
            let mu = window.iter().sum::<f64>() / m as f64;
            centred[i] = seas[i].map(|v| v - mu);
        }
    }
    let mut rem = Vec::new();
    let mut sr = Vec::new();
    for i in 0..n {
        if let (Some(d), Some(s)) = (detr[i], centred[i]) {
            rem.push(d - s);
            sr.push(d);
        }
    }
    let var = |v: &[f64]| {
        let mu = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|a| (a - mu).powi(2)).sum::<f64>() / v.len() as f64
    };
    let total = var(&sr);
    if total <= 0.0 {
        return 0.0;
    }
    (1.0 - var(&rem) / total).max(0.0)
}

/// Seasonal differences (0 or 1 in practice) from the seasonal-strength rule.
pub fn nsdiffs(x: &[f64], m: usize, max_d: usize) -> usize {
    let mut cur = x.to_vec();
    let mut d = 0;
    while d < max_d && cur.len() > 2 * m && !is_constant(&cur) && seasonal_strength(&cur, m) > 0.64
    {
        cur = difference(&cur, 0, 1, m);
        d += 1;
    }
    d
}

/// Hyndman–Khandakar with the default limits.
pub fn auto_arima(y: &[f64], season: usize) -> Result<Sarima, ForecastError> {
    auto_arima_with(y, season, AutoArimaOptions::default())
}

/// Hyndman–Khandakar stepwise search.
pub fn auto_arima_with(
    y: &[f64],
    season: usize,
    opts: AutoArimaOptions,
) -> Result<Sarima, ForecastError> {
    super::error::check_finite(y)?;
    if y.len() < 3 {
        return Err(ForecastError::TooShort {
            model: "auto ARIMA".into(),
            needed: 3,
            got: y.len(),
        });
    }
    if is_constant(y) {
        return Err(ForecastError::InvalidInput(
            "auto ARIMA: the series is constant".into(),
        ));
    }
    let seasonal = season > 1 && y.len() > 2 * season;
    let m = if seasonal { season } else { 1 };
    let big_d = if seasonal {
        nsdiffs(y, m, opts.max_seasonal_d)
    } else {
        0
    };
    let after_seasonal = difference(y, 0, big_d, m);
    let d = ndiffs(&after_seasonal, opts.max_d);
    let allow_constant = d + big_d <= 1;
    let (max_sp, max_sq) = if seasonal {
        (opts.max_seasonal_p, opts.max_seasonal_q)
    } else {
        (0, 0)
    };

    type Key = (usize, usize, usize, usize, bool);
    let mut tried: HashSet<Key> = HashSet::new();
    let mut best: Option<Sarima> = None;
    let mut fitted_count = 0usize;
    let mut try_model = |key: Key, best: &mut Option<Sarima>| -> bool {
        let (p, q, sp, sq, c) = key;
        if p > opts.max_p
            || q > opts.max_q
            || sp > max_sp
            || sq > max_sq
            || p + q + sp + sq > opts.max_order
            || (c && !allow_constant)
            || !tried.insert(key)
            || fitted_count >= opts.max_models
        {
            return false;
        }
        fitted_count += 1;
        let spec = ArimaSpec {
            p,
            d,
            q,
            seasonal_p: sp,
            seasonal_d: big_d,
            seasonal_q: sq,
            season: m,
            include_constant: c,
        };
        let Ok(fit) = Sarima::fit(y, &spec) else {
            return false;
        };
        let better = best
            .as_ref()
            .is_none_or(|b| fit.aicc_value() < b.aicc_value());
        if better && fit.aicc_value().is_finite() {
            *best = Some(fit);
            return true;
        }
        false
    };
    let starts: [Key; 4] = if seasonal {
        [
            (2, 2, 1, 1, allow_constant),
            (0, 0, 0, 0, allow_constant),
            (1, 0, 1, 0, allow_constant),
            (0, 1, 0, 1, allow_constant),
        ]
    } else {
        [
            (2, 2, 0, 0, allow_constant),
            (0, 0, 0, 0, allow_constant),
            (1, 0, 0, 0, allow_constant),
            (0, 1, 0, 0, allow_constant),
        ]
    };
    for key in starts {
        try_model(key, &mut best);
    }
    if allow_constant {
        try_model((0, 0, 0, 0, false), &mut best);
    }
    while let Some(current) = best.as_ref() {
        let s = current.spec();
        let (p, q, sp, sq, c) = (
            s.p as isize,
            s.q as isize,
            s.seasonal_p as isize,
            s.seasonal_q as isize,
            s.include_constant,
        );
        let moves: [(isize, isize, isize, isize); 16] = [
            (0, 0, -1, 0),
            (0, 0, 1, 0),
            (0, 0, 0, -1),
            (0, 0, 0, 1),
            (0, 0, -1, -1),
            (0, 0, -1, 1),
            (0, 0, 1, -1),
            (0, 0, 1, 1),
            (-1, 0, 0, 0),
            (1, 0, 0, 0),
            (0, -1, 0, 0),
            (0, 1, 0, 0),
            (-1, -1, 0, 0),
            (-1, 1, 0, 0),
            (1, -1, 0, 0),
            (1, 1, 0, 0),
        ];
        let mut improved = false;
        for (dp, dq, dsp, dsq) in moves {
            let np = p + dp;
            let nq = q + dq;
            let nsp = sp + dsp;
            let nsq = sq + dsq;
            if np < 0 || nq < 0 || nsp < 0 || nsq < 0 {
                continue;
            }
            if try_model(
                (np as usize, nq as usize, nsp as usize, nsq as usize, c),
                &mut best,
            ) {
                improved = true;
                break;
            }
        }
        if !improved && allow_constant {
            improved = try_model(
                (p as usize, q as usize, sp as usize, sq as usize, !c),
                &mut best,
            );
        }
        if !improved {
            break;
        }
    }
    let mut best = best.ok_or_else(|| ForecastError::NotConverged {
        model: "auto ARIMA".into(),
        detail: "no candidate model could be fitted".into(),
    })?;
    if season > 1 && !seasonal {
        best.add_note(format!(
            "seasonal terms skipped: {} observations, need {} for season {season}",
            y.len(),
            2 * season + 1
        ));
    }
    Ok(best)
}

impl Sarima {
    fn aicc_value(&self) -> f64 {
        super::FittedModel::aicc(self).unwrap_or(f64::INFINITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::FittedModel;

    fn lcg(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        }
    }

    #[test]
    fn kpss_separates_noise_from_a_random_walk() {
        let mut noise = lcg(7);
        let white: Vec<f64> = (0..200).map(|_| noise()).collect();
        let mut walk = vec![0.0];
        for v in &white[1..] {
            walk.push(walk.last().unwrap() + v);
        }
        let lags = (3.0 * (200f64).sqrt() / 13.0) as usize;
        assert!(kpss_statistic(&white, lags) < KPSS_CRITICAL_5PCT);
        assert!(kpss_statistic(&walk, lags) > KPSS_CRITICAL_5PCT);
        assert_eq!(ndiffs(&white, 2), 0);
        assert_eq!(ndiffs(&walk, 2), 1);
    }

    #[test]
    fn kpss_matches_a_hand_computed_value() {
        // x = 1..4: e = −1.5, −.5, .5, 1.5; S = −1.5, −2, −1.5, 0; ΣS² = 8.5;
        // σ̂² (no lags) = 5/4 → stat = 8.5 / 16 / 1.25 = 0.425.
        assert!((kpss_statistic(&[1.0, 2.0, 3.0, 4.0], 0) - 0.425).abs() < 1e-12);
    }

    #[test]
    fn seasonal_strength_detects_a_strong_cycle() {
        let mut noise = lcg(3);
        let seasonal: Vec<f64> = (0..48)
            .map(|i| 10.0 * ((i % 12) as f64 - 5.5).abs() + noise())
            .collect();
        let plain: Vec<f64> = (0..48).map(|_| noise()).collect();
        assert!(seasonal_strength(&seasonal, 12) > 0.9);
        assert!(seasonal_strength(&plain, 12) < 0.64);
        assert_eq!(nsdiffs(&seasonal, 12, 1), 1);
    }

    #[test]
    fn finds_an_ar_structure_on_a_short_series() {
        let mut noise = lcg(11);
        let mut y = vec![0.0];
        for _ in 0..79 {
            let prev = *y.last().unwrap();
            y.push(0.8 * prev + noise());
        }
        let fit = auto_arima(&y, 1).unwrap();
        let spec = fit.spec();
        assert_eq!(spec.d, 0, "{}", fit.name());
        assert!(spec.p >= 1 || spec.q >= 1, "{}", fit.name());
        assert!(fit.aicc().unwrap().is_finite());
    }
}
