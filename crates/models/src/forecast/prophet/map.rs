//! The maximum a posteriori fit of a Prophet-style model: a linear model in its parameters
//! (trend slope and offset, changepoint slope changes, seasonal, holiday and regressor
//! coefficients) with Gaussian noise of unknown scale σ, normal priors on all but the
//! changepoint changes and a Laplace prior on those.
//!
//! Why not a general optimiser: for a fixed σ the negative log posterior is a least-squares
//! term plus ridge and lasso penalties, a convex problem that coordinate descent solves
//! exactly (the Laplace prior's kink at zero is handled by soft thresholding, so changepoints
//! that do not earn their keep get a change of exactly zero). For fixed coefficients the best
//! σ has a closed form. Alternating the two descends the one objective the `prophet` package
//! hands to Stan's L-BFGS, to a tighter optimum than that optimiser reaches.
//!
//! A logistic trend is not linear in its rate and offset; [`fit_nonlinear`] solves that
//! posterior by Gauss–Newton steps, each of them the same exact coordinate descent.
//!
//! The objective, with y scaled to at most 1 in absolute value and X the design:
//! `‖y − Xθ‖²/(2σ²) + n ln σ + σ²/(2·0.5²) + Σ_ridge θⱼ²/(2sⱼ²) + Σ_lasso |θⱼ|/τ`.

use crate::numeric::linalg::dot;

/// How a coefficient is held near zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prior {
    /// Normal(0, scale).
    Normal(f64),
    /// Laplace(0, scale).
    Laplace(f64),
}

/// The prior on the noise scale: half-normal(0, 0.5), as the `prophet` package uses.
const SIGMA_PRIOR_SD: f64 = 0.5;
/// Sweeps before the fit gives up tightening (it keeps the best point reached).
const MAX_SWEEPS: usize = 50_000;
/// Stop when no coefficient moves the fit by more than this (in scaled units).
const TOLERANCE: f64 = 1e-10;

/// The MAP coefficients and noise scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    pub theta: Vec<f64>,
    pub sigma: f64,
    /// The work done: sweeps of the linear fit, rounds of the multiplicative one, or
    /// Gauss–Newton steps of the nonlinear one.
    pub sweeps: usize,
}

/// Fits `theta` (one per column of the row-major `n × p` design `x`) and σ to `y`.
pub fn fit(x: &[f64], y: &[f64], priors: &[Prior]) -> Map {
    let block = Block::new(x, y, priors.len());
    let mut theta = vec![0.0; priors.len()];
    let mut g = vec![0.0; priors.len()];
    let mut sigma2 = (block.yty / y.len() as f64).max(1e-12);
    let mut sweeps = 0;
    while sweeps < MAX_SWEEPS {
        sweeps += 1;
        let moved = block.sweep(&mut theta, &mut g, priors, sigma2);
        let next = best_sigma2(block.rss(&theta, &g), y.len());
        let sigma_moved = (next - sigma2).abs() / sigma2.max(1e-300);
        sigma2 = next;
        if moved < TOLERANCE && sigma_moved < TOLERANCE {
            break;
        }
    }
    Map {
        theta,
        sigma: sigma2.sqrt(),
        sweeps,
    }
}

/// The least-squares part of one block of coefficients: XᵀX, Xᵀy and yᵀy.
struct Block {
    gram: Vec<f64>,
    xty: Vec<f64>,
    yty: f64,
    p: usize,
}

impl Block {
    fn new(x: &[f64], y: &[f64], p: usize) -> Block {
        let n = y.len();
        Block {
            gram: gram(x, n, p),
            xty: (0..p)
                .map(|j| (0..n).map(|i| x[i * p + j] * y[i]).sum())
                .collect(),
            yty: y.iter().map(|v| v * v).sum(),
            p,
        }
    }

    /// `g = Gθ` for a start other than zero.
    fn g(&self, theta: &[f64]) -> Vec<f64> {
        (0..self.p)
            .map(|a| dot(&self.gram[a * self.p..(a + 1) * self.p], theta))
            .collect()
    }

    /// One pass of exact coordinate updates at noise variance `sigma2`, keeping `g = Gθ`;
    /// returns the largest move (scaled by its column's norm).
    fn sweep(&self, theta: &mut [f64], g: &mut [f64], priors: &[Prior], sigma2: f64) -> f64 {
        let p = self.p;
        let mut moved: f64 = 0.0;
        for j in 0..p {
            let gjj = self.gram[j * p + j];
            if gjj <= 0.0 {
                continue;
            }
            // Gradient of ‖y − Xθ‖²/2 along j without θⱼ's own term.
            let z = self.xty[j] - (g[j] - gjj * theta[j]);
            let new = match priors[j] {
                Prior::Normal(s) => z / (gjj + sigma2 / (s * s)),
                Prior::Laplace(b) => soft_threshold(z, sigma2 / b) / gjj,
            };
            let step = new - theta[j];
            if step != 0.0 {
                for (gl, col) in g.iter_mut().zip(&self.gram[j * p..(j + 1) * p]) {
                    *gl += col * step;
                }
                theta[j] = new;
                moved = moved.max(step.abs() * gjj.sqrt());
            }
        }
        moved
    }

    /// Sweeps at a fixed `sigma2` until nothing moves, or `max_sweeps` times.
    fn solve(&self, theta: &mut [f64], priors: &[Prior], sigma2: f64, max_sweeps: usize) {
        let mut g = self.g(theta);
        for _ in 0..max_sweeps {
            if self.sweep(theta, &mut g, priors, sigma2) < TOLERANCE {
                break;
            }
        }
    }

    /// The block with Levenberg–Marquardt damping: `λ·Gⱼⱼ·(θ'ⱼ − θⱼ)²/2` added for every
    /// column, which pulls the solution toward `theta` as λ grows.
    fn damped(&self, lambda: f64, theta: &[f64]) -> Block {
        let mut out = Block {
            gram: self.gram.clone(),
            xty: self.xty.clone(),
            yty: self.yty,
            p: self.p,
        };
        for (j, t) in theta.iter().enumerate() {
            let d = lambda * self.gram[j * self.p + j];
            out.gram[j * self.p + j] += d;
            out.xty[j] += d * t;
        }
        out
    }

    fn rss(&self, theta: &[f64], g: &[f64]) -> f64 {
        (self.yty - 2.0 * dot(theta, &self.xty) + dot(theta, g)).max(0.0)
    }
}

/// Rounds of the multiplicative fit's block alternation before it keeps what it has.
const MAX_ROUNDS: usize = 500;

/// The MAP fit of a multiplicative model `y = T(1 + Zβ) + ε` with the trend `T = Xθ`:
/// `x` (`n × trend_priors.len()`) holds the trend columns, `z` (`n × beta_priors.len()`)
/// the seasonal, holiday and regressor columns that scale it.
///
/// Why alternating blocks: for a fixed β the model is linear in θ (each trend row scaled by
/// its multiplier `1 + zᵢβ`), for a fixed θ it is linear in β (each `z` row scaled by its
/// trend), and σ has its closed form; each step is solved exactly, so the objective never
/// rises. It starts from the trend fitted alone.
pub fn fit_multiplicative(
    x: &[f64],
    z: &[f64],
    y: &[f64],
    trend_priors: &[Prior],
    beta_priors: &[Prior],
) -> (Map, Vec<f64>) {
    let (n, pt, pz) = (y.len(), trend_priors.len(), beta_priors.len());
    let first = fit(x, y, trend_priors);
    let mut theta = first.theta;
    let mut beta = vec![0.0; pz];
    let mut sigma2 = first.sigma * first.sigma;
    let mut last = f64::INFINITY;
    let mut rounds = 0;
    while rounds < MAX_ROUNDS {
        rounds += 1;
        let scale: Vec<f64> = (0..n)
            .map(|i| 1.0 + dot(&z[i * pz..(i + 1) * pz], &beta))
            .collect();
        let scaled_x: Vec<f64> = (0..n * pt).map(|k| x[k] * scale[k / pt]).collect();
        Block::new(&scaled_x, y, pt).solve(&mut theta, trend_priors, sigma2, MAX_SWEEPS);
        let trend: Vec<f64> = (0..n)
            .map(|i| dot(&x[i * pt..(i + 1) * pt], &theta))
            .collect();
        let scaled_z: Vec<f64> = (0..n * pz).map(|k| z[k] * trend[k / pz]).collect();
        let rest: Vec<f64> = y.iter().zip(&trend).map(|(v, t)| v - t).collect();
        Block::new(&scaled_z, &rest, pz).solve(&mut beta, beta_priors, sigma2, MAX_SWEEPS);
        let rss: f64 = (0..n)
            .map(|i| {
                let fit = trend[i] * (1.0 + dot(&z[i * pz..(i + 1) * pz], &beta));
                (y[i] - fit).powi(2)
            })
            .sum();
        sigma2 = best_sigma2(rss, n);
        let objective = rss / (2.0 * sigma2)
            + n as f64 * sigma2.sqrt().ln()
            + sigma2 / (2.0 * SIGMA_PRIOR_SD * SIGMA_PRIOR_SD)
            + penalty(trend_priors, &theta)
            + penalty(beta_priors, &beta);
        if (last - objective).abs() <= 1e-12 * objective.abs().max(1.0) {
            break;
        }
        last = objective;
    }
    let map = Map {
        theta,
        sigma: sigma2.sqrt(),
        sweeps: rounds,
    };
    (map, beta)
}

/// Gauss–Newton steps before the nonlinear fit keeps what it has.
const MAX_STEPS: usize = 1000;
/// Sweeps of one Gauss–Newton step's solve: the step need not be exact (it is kept only
/// when the posterior falls, and the next step corrects it), and on a near-exact fit, where
/// the priors barely regularise the correlated trend columns, an exact solve can take tens
/// of thousands of sweeps.
const STEP_SWEEPS: usize = 500;

/// A model whose predictions are not linear in its coefficients θ.
pub trait Nonlinear {
    /// Predictions at θ (into `out`) and, when asked, their row-major `n × p` Jacobian.
    fn predict(&self, theta: &[f64], out: &mut [f64], jacobian: Option<&mut [f64]>);
    /// The negative log prior at θ (up to a constant).
    fn penalty(&self, theta: &[f64]) -> f64;
    /// The priors of θ's coordinates; with [`Nonlinear::prior_residuals`] they make up
    /// [`Nonlinear::penalty`].
    fn priors(&self) -> Vec<Prior>;
    /// The rest of the penalty as `Σ r(θ)²/2` (a prior on a function of θ), each residual
    /// with its gradient, which the linearised step linearises like the predictions.
    fn prior_residuals(&self, _theta: &[f64]) -> Vec<(f64, Vec<f64>)> {
        Vec::new()
    }
}

/// The MAP fit of a model whose predictions are not linear in θ (a logistic trend), from
/// `start`: proximal Gauss–Newton with Levenberg–Marquardt damping.
///
/// Why this way: each step linearises the predictions at θ, `f(θ') ≈ f(θ) + J(θ' − θ)`, and
/// solves the resulting ridge-and-lasso problem exactly with the same coordinate descent as
/// the linear fit, so the Laplace prior's kinks are handled by soft thresholding rather than
/// smoothed over. A step is kept only when the negative log posterior (σ at its best for
/// the step's residuals) falls; otherwise the damping grows until it does, so the objective
/// never rises, and the fit stops when a step gains nothing.
///
/// Each of `starts` is descended from, and the lowest optimum is kept: a nonlinear
/// posterior may have more than one, and one start may sit where the predictions barely
/// move (a logistic curve deep in its tail).
pub fn fit_nonlinear(y: &[f64], starts: &[Vec<f64>], model: &impl Nonlinear) -> Map {
    starts
        .iter()
        .map(|start| descend(y, start.clone(), model))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one start")
        .0
}

/// One proximal Gauss–Newton descent from `start`; the optimum and its objective.
fn descend(y: &[f64], start: Vec<f64>, model: &impl Nonlinear) -> (Map, f64) {
    let mut pred = vec![0.0; y.len()];
    let priors = model.priors();
    let mut theta = start;
    let (mut best, mut sigma2) = score(y, model, &theta, &mut pred);
    let mut lambda = 1e-3;
    let mut steps = 0;
    while steps < MAX_STEPS {
        steps += 1;
        let block = linearised(y, model, &theta, sigma2, &mut pred);
        let mut accepted = None;
        while lambda < 1e12 && accepted.is_none() {
            let mut next = theta.clone();
            block
                .damped(lambda, &theta)
                .solve(&mut next, &priors, sigma2, STEP_SWEEPS);
            let (objective, s2) = score(y, model, &next, &mut pred);
            if objective < best {
                accepted = Some((next, objective, s2));
                lambda = (lambda / 3.0).max(1e-9);
            } else {
                lambda *= 4.0;
            }
        }
        let Some(step) = accepted else {
            break;
        };
        let (next, objective, s2) = stretch(y, model, &theta, step, &mut pred);
        let gain = best - objective;
        (theta, best, sigma2) = (next, objective, s2);
        if gain <= 1e-12 * best.abs().max(1.0) {
            break;
        }
    }
    let map = Map {
        theta,
        sigma: sigma2.sqrt(),
        sweeps: steps,
    };
    (map, best)
}

/// The negative log posterior at θ with σ at its best for θ's residuals, and that σ².
fn score(y: &[f64], model: &impl Nonlinear, theta: &[f64], pred: &mut [f64]) -> (f64, f64) {
    model.predict(theta, pred, None);
    let rss: f64 = y
        .iter()
        .zip(pred.iter())
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let sigma2 = best_sigma2(rss, y.len());
    let objective = posterior(rss, y.len(), &[], &[], sigma2.sqrt()) + model.penalty(theta);
    let objective = if objective.is_finite() {
        objective
    } else {
        f64::INFINITY
    };
    (objective, sigma2)
}

/// The least-squares block of the problem linearised at θ: `y − f(θ) + Jθ ≈ Jθ'`, plus one
/// row per prior residual r with gradient ∇r, whose `(r + ∇r·(θ' − θ))²/2` is
/// `‖σ∇r·θ' − σ(∇r·θ − r)‖²/(2σ²)` at this step's σ.
fn linearised(
    y: &[f64],
    model: &impl Nonlinear,
    theta: &[f64],
    sigma2: f64,
    pred: &mut [f64],
) -> Block {
    let (n, p) = (y.len(), theta.len());
    let mut rows = vec![0.0; n * p];
    model.predict(theta, pred, Some(&mut rows));
    let mut target: Vec<f64> = (0..n)
        .map(|i| y[i] - pred[i] + dot(&rows[i * p..(i + 1) * p], theta))
        .collect();
    let sigma = sigma2.sqrt();
    for (r, grad) in model.prior_residuals(theta) {
        target.push(sigma * (dot(&grad, theta) - r));
        rows.extend(grad.iter().map(|g| sigma * g));
    }
    Block::new(&rows, &target, p)
}

/// An accepted step from θ stretched to 2, 4, 8... times its length while that keeps
/// lowering the posterior.
///
/// Why: σ is held at its value for each step's solve, and the profile of σ makes the true
/// curvature lower than the step assumes, so steps fall short on a long, shallow valley (a
/// near-exact fit deep in the logistic curve's tail took hundreds of them); trying longer
/// steps costs predictions, not solves.
fn stretch(
    y: &[f64],
    model: &impl Nonlinear,
    theta: &[f64],
    step: (Vec<f64>, f64, f64),
    pred: &mut [f64],
) -> (Vec<f64>, f64, f64) {
    let mut best = step;
    for _ in 0..6 {
        let longer: Vec<f64> = theta
            .iter()
            .zip(&best.0)
            .map(|(t, n)| t + 2.0 * (n - t))
            .collect();
        let (objective, s2) = score(y, model, &longer, pred);
        if objective >= best.1 {
            break;
        }
        best = (longer, objective, s2);
    }
    best
}

/// The negative log prior of `theta` under `priors` (up to a constant).
pub fn penalty(priors: &[Prior], theta: &[f64]) -> f64 {
    priors
        .iter()
        .zip(theta)
        .map(|(prior, t)| match prior {
            Prior::Normal(s) => t * t / (2.0 * s * s),
            Prior::Laplace(b) => t.abs() / b,
        })
        .sum()
}

/// The σ² minimising `rss/(2σ²) + n ln σ + σ²/(2·0.5²)`: the positive root of
/// `σ⁴/0.25 + nσ² − rss = 0`.
fn best_sigma2(rss: f64, n: usize) -> f64 {
    let a = 1.0 / (SIGMA_PRIOR_SD * SIGMA_PRIOR_SD);
    let n = n as f64;
    // (−n + √(n² + 4a·rss)) / 2a, written to keep its precision when rss is tiny.
    (2.0 * rss / (n + (n * n + 4.0 * a * rss).sqrt())).max(1e-300)
}

fn soft_threshold(z: f64, by: f64) -> f64 {
    if z > by {
        z - by
    } else if z < -by {
        z + by
    } else {
        0.0
    }
}

/// XᵀX of the row-major `n × p` design, row-major `p × p`.
fn gram(x: &[f64], n: usize, p: usize) -> Vec<f64> {
    let mut g = vec![0.0; p * p];
    for i in 0..n {
        let row = &x[i * p..(i + 1) * p];
        for (a, xa) in row.iter().enumerate() {
            if *xa == 0.0 {
                continue;
            }
            for (b, xb) in row.iter().enumerate().skip(a) {
                g[a * p + b] += xa * xb;
            }
        }
    }
    for a in 0..p {
        for b in 0..a {
            g[a * p + b] = g[b * p + a];
        }
    }
    g
}

/// The negative log posterior at (θ, σ) (up to a constant), for checking optimality.
pub fn objective(x: &[f64], y: &[f64], priors: &[Prior], theta: &[f64], sigma: f64) -> f64 {
    let p = priors.len();
    let rss: f64 = y
        .iter()
        .enumerate()
        .map(|(i, v)| (v - dot(&x[i * p..(i + 1) * p], theta)).powi(2))
        .sum();
    posterior(rss, y.len(), priors, theta, sigma)
}

/// The negative log posterior (up to a constant) of coefficients `theta` under `priors`
/// whose predictions leave the residual sum of squares `rss` over `n` observations.
pub fn posterior(rss: f64, n: usize, priors: &[Prior], theta: &[f64], sigma: f64) -> f64 {
    rss / (2.0 * sigma * sigma)
        + n as f64 * sigma.ln()
        + sigma * sigma / (2.0 * SIGMA_PRIOR_SD * SIGMA_PRIOR_SD)
        + penalty(priors, theta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_priors_give_least_squares_and_the_residual_scale() {
        // y = 0.3 + 0.5 t + noise-free wiggle: least squares is exact up to the prior.
        let n = 200;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let t = i as f64 / n as f64;
            let wiggle = if i % 2 == 0 { 0.01 } else { -0.01 };
            x.extend([t, 1.0]);
            y.push(0.3 + 0.5 * t + wiggle);
        }
        let map = fit(&x, &y, &[Prior::Normal(1e6), Prior::Normal(1e6)]);
        let ls = crate::numeric::linalg::least_squares(&x, &y, n, 2).unwrap();
        assert!(
            (map.theta[0] - ls[0]).abs() < 1e-8,
            "{:?} {ls:?}",
            map.theta
        );
        assert!(
            (map.theta[1] - ls[1]).abs() < 1e-8,
            "{:?} {ls:?}",
            map.theta
        );
        // The prior on σ barely moves it from the residual scale.
        assert!((map.sigma - 0.01).abs() < 1e-4, "{}", map.sigma);
    }

    #[test]
    fn the_fit_is_a_minimum_of_the_objective_and_the_lasso_zeroes_useless_columns() {
        let n = 120;
        let mut rnd = crate::forecast::test_noise(9);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let t = i as f64 / n as f64;
            let useless = 0.01 * rnd();
            let hinge = (t - 0.5).max(0.0);
            x.extend([t, 1.0, hinge, useless]);
            y.push(0.2 + 0.4 * t - 0.8 * hinge + 0.05 * rnd());
        }
        let priors = [
            Prior::Normal(5.0),
            Prior::Normal(5.0),
            Prior::Laplace(0.05),
            Prior::Laplace(0.05),
        ];
        let map = fit(&x, &y, &priors);
        assert_eq!(map.theta[3], 0.0, "{:?}", map.theta);
        assert!(map.theta[2] < -0.5, "{:?}", map.theta);
        let best = objective(&x, &y, &priors, &map.theta, map.sigma);
        for j in 0..4 {
            for d in [1e-4, -1e-4] {
                let mut t = map.theta.clone();
                t[j] += d;
                assert!(objective(&x, &y, &priors, &t, map.sigma) >= best - 1e-9);
            }
        }
        for s in [map.sigma * 1.001, map.sigma * 0.999] {
            assert!(objective(&x, &y, &priors, &map.theta, s) >= best - 1e-9);
        }
    }

    /// `y = a·e^(−b·t)`, with a normal(0, 10) prior on a and the prior residual `b − 1` (a
    /// normal(1, 1) prior on b, given as a function of θ).
    struct Decay(Vec<f64>);

    impl Nonlinear for Decay {
        fn predict(&self, theta: &[f64], out: &mut [f64], jacobian: Option<&mut [f64]>) {
            let (a, b) = (theta[0], theta[1]);
            for (o, t) in out.iter_mut().zip(&self.0) {
                *o = a * (-b * t).exp();
            }
            if let Some(jac) = jacobian {
                for (row, t) in jac.chunks_mut(2).zip(&self.0) {
                    row[0] = (-b * t).exp();
                    row[1] = -a * t * (-b * t).exp();
                }
            }
        }
        fn penalty(&self, theta: &[f64]) -> f64 {
            theta[0].powi(2) / 200.0 + (theta[1] - 1.0).powi(2) / 2.0
        }
        fn priors(&self) -> Vec<Prior> {
            vec![Prior::Normal(10.0), Prior::Normal(f64::INFINITY)]
        }
        fn prior_residuals(&self, theta: &[f64]) -> Vec<(f64, Vec<f64>)> {
            vec![(theta[1] - 1.0, vec![0.0, 1.0])]
        }
    }

    #[test]
    fn the_nonlinear_fit_reaches_a_minimum_of_its_objective() {
        let ts: Vec<f64> = (0..60).map(|i| i as f64 / 20.0).collect();
        let mut rnd = crate::forecast::test_noise(4);
        let y: Vec<f64> = ts
            .iter()
            .map(|t| 2.0 * (-1.5 * t).exp() + 0.02 * rnd())
            .collect();
        let model = Decay(ts.clone());
        let map = fit_nonlinear(&y, &[vec![1.0, 0.1]], &model);
        assert!((map.theta[0] - 2.0).abs() < 0.05, "{:?}", map.theta);
        assert!((map.theta[1] - 1.5).abs() < 0.05, "{:?}", map.theta);
        let objective = |theta: &[f64], sigma: f64| {
            let mut pred = vec![0.0; y.len()];
            model.predict(theta, &mut pred, None);
            let rss: f64 = y.iter().zip(&pred).map(|(a, b)| (a - b).powi(2)).sum();
            posterior(rss, y.len(), &[], &[], sigma) + model.penalty(theta)
        };
        let best = objective(&map.theta, map.sigma);
        for j in 0..2 {
            for d in [1e-4, -1e-4] {
                let mut t = map.theta.clone();
                t[j] += d;
                assert!(objective(&t, map.sigma) >= best - 1e-9, "{j} {d}");
            }
        }
    }
}
