//! STL seasonal-trend decomposition by loess (Cleveland, Cleveland, McRae & Terpenning 1990),
//! the non-robust variant, for the seasonal-strength test that picks the seasonal differencing
//! order in automatic ARIMA.
//!
//! Why STL rather than a simpler decomposition: R's `nsdiffs()` and statsforecast's
//! `AutoARIMA` decide `D` from the strength of STL's seasonal component (seasonal window 11,
//! degree 0, as `mstl` calls it). A cruder decomposition moves the strength across the 0.64
//! threshold on real series (euro-area retail gets `D = 0` instead of 1), so the order search
//! starts from a different model. The defaults reproduce statsmodels' `STL` (which follows the
//! original Fortran): trend window the smallest odd integer ≥ 1.5·m / (1 − 1.5/s), low-pass
//! window the smallest odd integer > m, five inner passes (statsmodels' non-robust default), every point evaluated (jumps of 1).
//! Checked against statsmodels in `tests/it/forecast.rs`.

/// Seasonal, trend and remainder components of an additive decomposition.
#[derive(Debug, Clone)]
pub struct Stl {
    pub seasonal: Vec<f64>,
    pub trend: Vec<f64>,
    pub remainder: Vec<f64>,
}

/// Window lengths and loess degrees.
#[derive(Debug, Clone, Copy)]
pub struct StlOptions {
    pub seasonal_window: usize,
    pub seasonal_degree: usize,
    pub trend_window: Option<usize>,
    pub low_pass_window: Option<usize>,
    pub inner_iterations: usize,
}

impl Default for StlOptions {
    /// The settings of statsforecast's `mstl` for one seasonal period.
    fn default() -> Self {
        StlOptions {
            seasonal_window: 11,
            seasonal_degree: 0,
            trend_window: None,
            low_pass_window: None,
            inner_iterations: 5,
        }
    }
}

fn next_odd(x: usize) -> usize {
    if x.is_multiple_of(2) { x + 1 } else { x }
}

/// Loess estimate at position `xs` (1-based, possibly outside 1..=n) from `y[nleft..=nright]`
/// (1-based), tricube weights, degree 0 or 1. `None` when every weight is zero.
fn loess_at(
    y: &[f64],
    len: usize,
    degree: usize,
    xs: f64,
    nleft: usize,
    nright: usize,
    w: &mut [f64],
) -> Option<f64> {
    let n = y.len();
    let range = n as f64 - 1.0;
    let mut h = (xs - nleft as f64).max(nright as f64 - xs);
    if len > n {
        h += ((len - n) / 2) as f64;
    }
    let h9 = 0.999 * h;
    let h1 = 0.001 * h;
    let mut a = 0.0;
    for j in nleft..=nright {
        let r = (j as f64 - xs).abs();
        let wj = if r <= h9 {
            if r <= h1 {
                1.0
            } else {
                (1.0 - (r / h).powi(3)).powi(3)
            }
        } else {
            0.0
        };
        w[j - 1] = wj;
        a += wj;
    }
    if a <= 0.0 {
        return None;
    }
    for j in nleft..=nright {
        w[j - 1] /= a;
    }
    if h > 0.0 && degree > 0 {
        let a: f64 = (nleft..=nright).map(|j| w[j - 1] * j as f64).sum();
        let mut b = xs - a;
        let c: f64 = (nleft..=nright)
            .map(|j| w[j - 1] * (j as f64 - a).powi(2))
            .sum();
        if c.sqrt() > 0.001 * range {
            b /= c;
            for j in nleft..=nright {
                w[j - 1] *= b * (j as f64 - a) + 1.0;
            }
        }
    }
    Some((nleft..=nright).map(|j| w[j - 1] * y[j - 1]).sum())
}

/// Loess smooth of `y` evaluated at every point with a window of `len` points.
fn loess(y: &[f64], len: usize, degree: usize) -> Vec<f64> {
    let n = y.len();
    let mut w = vec![0.0; n];
    let mut out = vec![0.0; n];
    if n < 2 {
        out.copy_from_slice(y);
        return out;
    }
    let (mut nleft, mut nright) = if len >= n { (1, n) } else { (1, len) };
    let half = len.div_ceil(2);
    for i in 1..=n {
        if len < n && i > half && nright != n {
            nleft += 1;
            nright += 1;
        }
        out[i - 1] = loess_at(y, len, degree, i as f64, nleft, nright, &mut w).unwrap_or(y[i - 1]);
    }
    out
}

fn moving_average(x: &[f64], len: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len() + 1 - len);
    let mut s: f64 = x[..len].iter().sum();
    out.push(s / len as f64);
    for i in len..x.len() {
        s += x[i] - x[i - len];
        out.push(s / len as f64);
    }
    out
}

/// Decomposes `y` with period `m` (≥ 2, at least two full cycles).
pub fn stl(y: &[f64], m: usize, opts: StlOptions) -> Stl {
    let n = y.len();
    assert!(m >= 2 && n >= 2 * m, "STL needs two full cycles");
    let ns = next_odd(opts.seasonal_window.max(3));
    let nt = opts
        .trend_window
        .map(next_odd)
        .unwrap_or_else(|| next_odd((1.5 * m as f64 / (1.0 - 1.5 / ns as f64)).ceil() as usize));
    let nl = opts
        .low_pass_window
        .map(next_odd)
        .unwrap_or(next_odd(m + 1));
    let mut trend = vec![0.0; n];
    let mut season = vec![0.0; n];
    let mut cycle = vec![0.0; n + 2 * m];
    for _ in 0..opts.inner_iterations.max(1) {
        let detrended: Vec<f64> = y.iter().zip(&trend).map(|(a, t)| a - t).collect();
        // Cycle-subseries smoothing, extended by one period at each end.
        for j in 0..m {
            let sub: Vec<f64> = detrended.iter().skip(j).step_by(m).copied().collect();
            let k = sub.len();
            let smooth = loess(&sub, ns, opts.seasonal_degree);
            let mut w = vec![0.0; k];
            let first = loess_at(&sub, ns, opts.seasonal_degree, 0.0, 1, ns.min(k), &mut w)
                .unwrap_or(smooth[0]);
            let last = loess_at(
                &sub,
                ns,
                opts.seasonal_degree,
                (k + 1) as f64,
                k.saturating_sub(ns) + 1,
                k,
                &mut w,
            )
            .unwrap_or(smooth[k - 1]);
            cycle[j] = first;
            for (i, v) in smooth.iter().enumerate() {
                cycle[(i + 1) * m + j] = *v;
            }
            cycle[(k + 1) * m + j] = last;
        }
        // Low-pass filter of the cycle-subseries: MA(m), MA(m), MA(3), then loess.
        let low = moving_average(&moving_average(&moving_average(&cycle, m), m), 3);
        let low = loess(&low, nl, 1);
        for i in 0..n {
            season[i] = cycle[m + i] - low[i];
        }
        let deseasoned: Vec<f64> = y.iter().zip(&season).map(|(a, s)| a - s).collect();
        trend = loess(&deseasoned, nt, 1);
    }
    let remainder = (0..n).map(|i| y[i] - season[i] - trend[i]).collect();
    Stl {
        seasonal: season,
        trend,
        remainder,
    }
}

/// Seasonal strength `max(0, min(1, 1 − Var(R) / Var(S + R)))` of an STL decomposition
/// (Wang, Smith & Hyndman 2006); 0 when the series is too short for two cycles.
pub fn seasonal_strength(y: &[f64], m: usize) -> f64 {
    if m < 2 || y.len() < 2 * m {
        return 0.0;
    }
    let d = stl(y, m, StlOptions::default());
    let sr: Vec<f64> = d
        .seasonal
        .iter()
        .zip(&d.remainder)
        .map(|(s, r)| s + r)
        .collect();
    let var = |v: &[f64]| {
        let mu = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|a| (a - mu).powi(2)).sum::<f64>()
    };
    let total = var(&sr);
    if total <= 0.0 {
        return 0.0;
    }
    (1.0 - var(&d.remainder) / total).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_add_up_and_a_pure_cycle_is_all_seasonal() {
        let y: Vec<f64> = (0..48)
            .map(|i| 100.0 + [5.0, -3.0, 1.0, -3.0][i % 4] + 0.5 * i as f64)
            .collect();
        let d = stl(&y, 4, StlOptions::default());
        for (i, v) in y.iter().enumerate() {
            let sum = d.seasonal[i] + d.trend[i] + d.remainder[i];
            assert!((sum - v).abs() < 1e-9);
        }
        assert!(seasonal_strength(&y, 4) > 0.99);
    }

    #[test]
    fn loess_of_a_line_is_the_line() {
        let y: Vec<f64> = (0..20).map(|i| 2.0 + 3.0 * i as f64).collect();
        let s = loess(&y, 7, 1);
        for (a, b) in s.iter().zip(&y) {
            assert!((a - b).abs() < 1e-9);
        }
    }
}
