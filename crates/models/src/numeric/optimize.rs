//! Bound-constrained minimisation by projected BFGS with finite-difference gradients.
//!
//! Why this method: the likelihoods we maximise are smooth inside their admissible box, have
//! from 1 to ~60 parameters (ETS with weekly seasonality estimates 51 initial seasonal
//! states), and their optima often sit exactly on a bound (a seasonal smoothing parameter at
//! its lower limit is common). statsmodels fits the same models with L-BFGS-B; a projected
//! quasi-Newton method converges to the same points, including those on a bound, which a
//! penalty or a logistic reparametrisation would only approach. Gradients are central
//! differences (one-sided next to a bound) because the objectives are cheap to evaluate and
//! analytic gradients of the filters would be a lot of code for little gain.
//!
//! An objective may return `f64::INFINITY` (or NaN) to say "not admissible here"; the line
//! search then shortens the step.

/// Stopping rules and limits.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Maximum number of quasi-Newton iterations.
    pub max_iter: usize,
    /// Stop when the largest projected-gradient component is below this.
    pub gtol: f64,
    /// Stop when an iteration improves the objective by less than `ftol · max(|f|, 1)`.
    pub ftol: f64,
    /// How many times to restart from the optimum with a fresh Hessian approximation.
    /// Restarts cost little and guard against a stale approximation stopping early.
    pub restarts: usize,
    /// One-sided (forward) difference gradients: half the evaluations of central ones, less
    /// accurate; for searches that only rank models (scipy's BFGS default).
    pub forward_differences: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_iter: 500,
            gtol: 1e-6,
            ftol: 1e-12,
            restarts: 2,
            forward_differences: false,
        }
    }
}

/// Result of a minimisation.
#[derive(Debug, Clone)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub f: f64,
    pub iterations: usize,
    pub evaluations: usize,
    /// `true` when a gradient or objective tolerance was met (rather than the iteration cap).
    pub converged: bool,
}

/// Minimises `f` over the box `lower ≤ x ≤ upper` (use ±∞ for free coordinates), starting
/// at `x0` (clamped into the box). The objective must be finite at the clamped start.
pub fn minimize_box<F>(mut f: F, x0: &[f64], lower: &[f64], upper: &[f64], opts: Options) -> Minimum
where
    F: FnMut(&[f64]) -> f64,
{
    let n = x0.len();
    assert!(
        lower.len() == n && upper.len() == n,
        "bounds must match the start vector"
    );
    let mut x: Vec<f64> = (0..n).map(|i| x0[i].clamp(lower[i], upper[i])).collect();
    let mut evals = 0usize;
    let mut fx = f(&x);
    evals += 1;
    let mut total_iter = 0;
    let mut converged = false;
    if n == 0 || !fx.is_finite() {
        return Minimum {
            x,
            f: fx,
            iterations: 0,
            evaluations: evals,
            converged: n == 0,
        };
    }
    for _round in 0..=opts.restarts {
        let before = fx;
        let run = bfgs_run(&mut f, &mut x, &mut fx, lower, upper, &opts, &mut evals);
        total_iter += run.0;
        converged = run.1;
        // A restart that no longer improves anything means we are done.
        if before - fx <= opts.ftol * before.abs().max(1.0) {
            break;
        }
    }
    Minimum {
        x,
        f: fx,
        iterations: total_iter,
        evaluations: evals,
        converged,
    }
}

/// One BFGS run from `x`; returns (iterations, converged).
fn bfgs_run<F>(
    f: &mut F,
    x: &mut [f64],
    fx: &mut f64,
    lower: &[f64],
    upper: &[f64],
    opts: &Options,
    evals: &mut usize,
) -> (usize, bool)
where
    F: FnMut(&[f64]) -> f64,
{
    let n = x.len();
    let mut h = identity(n);
    let mut fresh = true;
    let mut g = gradient(f, x, *fx, lower, upper, evals, opts.forward_differences);
    for iter in 0..opts.max_iter {
        let active: Vec<bool> = (0..n)
            .map(|i| (x[i] <= lower[i] && g[i] > 0.0) || (x[i] >= upper[i] && g[i] < 0.0))
            .collect();
        let pg_norm = (0..n)
            .filter(|&i| !active[i])
            .map(|i| g[i].abs())
            .fold(0.0, f64::max);
        if pg_norm < opts.gtol || !pg_norm.is_finite() {
            return (iter, pg_norm.is_finite());
        }
        // Quasi-Newton direction on the free coordinates.
        let mut d = vec![0.0; n];
        for i in 0..n {
            if active[i] {
                continue;
            }
            d[i] = -(0..n)
                .filter(|&j| !active[j])
                .map(|j| h[i * n + j] * g[j])
                .sum::<f64>();
        }
        let slope: f64 = (0..n).map(|i| d[i] * g[i]).sum();
        if slope >= 0.0 || !slope.is_finite() {
            // Not a descent direction: fall back to steepest descent.
            h = identity(n);
            fresh = true;
            for i in 0..n {
                d[i] = if active[i] { 0.0 } else { -g[i] };
            }
        }
        // First step of a fresh approximation: unit-ish length, since the scale is unknown.
        let mut t = if fresh {
            let dn = d.iter().map(|v| v * v).sum::<f64>().sqrt();
            (1.0 / dn.max(1e-12)).min(1.0)
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..60 {
            let xn: Vec<f64> = (0..n)
                .map(|i| (x[i] + t * d[i]).clamp(lower[i], upper[i]))
                .collect();
            let fnew = f(&xn);
            *evals += 1;
            let decrease: f64 = (0..n).map(|i| g[i] * (xn[i] - x[i])).sum();
            if fnew.is_finite() && fnew <= *fx + 1e-4 * decrease {
                accepted = Some((xn, fnew));
                break;
            }
            t *= if fnew.is_finite() { 0.5 } else { 0.1 };
        }
        let Some((xn, fnew)) = accepted else {
            if fresh {
                // Even a steepest-descent step fails: we are at a (numerical) minimum.
                return (iter, true);
            }
            h = identity(n);
            fresh = true;
            continue;
        };
        let gn = gradient(f, &xn, fnew, lower, upper, evals, opts.forward_differences);
        let s: Vec<f64> = (0..n).map(|i| xn[i] - x[i]).collect();
        let y: Vec<f64> = (0..n).map(|i| gn[i] - g[i]).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        let improvement = *fx - fnew;
        x.copy_from_slice(&xn);
        let fprev = *fx;
        *fx = fnew;
        g = gn;
        let ss: f64 = s.iter().map(|v| v * v).sum();
        let yy: f64 = y.iter().map(|v| v * v).sum();
        if sy > 1e-12 * (ss * yy).sqrt() {
            if fresh {
                // Scale the identity before the first update (Nocedal & Wright 6.20).
                let scale = sy / yy;
                h.iter_mut().for_each(|v| *v *= scale);
            }
            bfgs_update(&mut h, &s, &y, sy);
            fresh = false;
        }
        if improvement <= opts.ftol * fprev.abs().max(1.0) {
            return (iter + 1, true);
        }
    }
    (opts.max_iter, false)
}

fn identity(n: usize) -> Vec<f64> {
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        m[i * n + i] = 1.0;
    }
    m
}

/// Inverse-Hessian BFGS update `H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ`.
fn bfgs_update(h: &mut [f64], s: &[f64], y: &[f64], sy: f64) {
    let n = s.len();
    let rho = 1.0 / sy;
    let hy: Vec<f64> = (0..n)
        .map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum())
        .collect();
    let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
    for i in 0..n {
        for j in 0..n {
            h[i * n + j] +=
                -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

/// Central differences, one-sided where a bound is within a step.
fn gradient<F>(
    f: &mut F,
    x: &[f64],
    fx: f64,
    lower: &[f64],
    upper: &[f64],
    evals: &mut usize,
    forward: bool,
) -> Vec<f64>
where
    F: FnMut(&[f64]) -> f64,
{
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut xp = x.to_vec();
    for i in 0..n {
        let h = if forward {
            1e-7 * x[i].abs().max(1.0)
        } else {
            6e-6 * x[i].abs().max(1.0)
        };
        let up = x[i] + h <= upper[i];
        // A forward gradient steps down only where it cannot step up.
        let down = x[i] - h >= lower[i] && !(forward && up);
        g[i] = if up && down {
            xp[i] = x[i] + h;
            let fp = f(&xp);
            xp[i] = x[i] - h;
            let fm = f(&xp);
            *evals += 2;
            if fp.is_finite() && fm.is_finite() {
                (fp - fm) / (2.0 * h)
            } else if fp.is_finite() {
                (fp - fx) / h
            } else if fm.is_finite() {
                (fx - fm) / h
            } else {
                0.0
            }
        } else if up {
            xp[i] = x[i] + h;
            let fp = f(&xp);
            *evals += 1;
            if fp.is_finite() { (fp - fx) / h } else { 0.0 }
        } else if down {
            xp[i] = x[i] - h;
            let fm = f(&xp);
            *evals += 1;
            if fm.is_finite() { (fx - fm) / h } else { 0.0 }
        } else {
            0.0
        };
        xp[i] = x[i];
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let rosen = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let inf = f64::INFINITY;
        let m = minimize_box(
            rosen,
            &[-1.2, 1.0],
            &[-inf, -inf],
            &[inf, inf],
            Options::default(),
        );
        assert!(
            (m.x[0] - 1.0).abs() < 1e-4 && (m.x[1] - 1.0).abs() < 1e-4,
            "{m:?}"
        );
        assert!(m.converged);
    }

    #[test]
    fn stops_exactly_on_an_active_bound() {
        // Unconstrained minimum at (-1, 2); the box cuts x0 at 0, so x0 = 0 and x1 = 2.
        let f = |x: &[f64]| (x[0] + 1.0).powi(2) + (x[1] - 2.0).powi(2) + 0.5 * x[0] * x[1];
        let m = minimize_box(
            f,
            &[0.5, 0.5],
            &[0.0, -10.0],
            &[1.0, 10.0],
            Options::default(),
        );
        assert_eq!(m.x[0], 0.0);
        assert!((m.x[1] - 2.0).abs() < 1e-5, "{m:?}");
    }

    #[test]
    fn treats_infinite_values_as_inadmissible() {
        // The minimum of the parabola (at 3) lies in a forbidden region; the best admissible
        // point is just below 2.
        let f = |x: &[f64]| {
            if x[0] > 2.0 {
                f64::INFINITY
            } else {
                (x[0] - 3.0).powi(2)
            }
        };
        let m = minimize_box(f, &[0.0], &[-10.0], &[10.0], Options::default());
        assert!(m.x[0] <= 2.0 && m.x[0] > 1.99, "{m:?}");
    }
}
