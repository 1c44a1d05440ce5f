//! Box-constrained Nelder–Mead simplex search, in the variant statsforecast uses for its
//! Theta and CES fits.
//!
//! Why a second minimiser next to the projected BFGS of [`super::optimize`]: the Theta and CES
//! objectives are flat along some directions and statsforecast does not find their optimum
//! exactly — it stops its simplex when the spread of the objective values falls below a fixed
//! tolerance. Reproducing its point forecasts therefore means walking the same simplex: the
//! same starting simplex (each coordinate scaled by `1 + init_step`, or set to `zero_pert`
//! when it is zero), the adaptive coefficients of Gao & Han (2012), every trial point clamped
//! into the box, reflection/expansion/contraction accepted by the same comparisons, a shrink
//! that moves every vertex but the best, the same stopping rule (population standard deviation
//! of the vertex values below `tol_std`) and the best final vertex. With all of that the
//! reference fixtures agree to rounding; dropping any one of them moved some forecasts by
//! 1e-4 to 1e-3 relative.

/// Settings of one search.
#[derive(Debug, Clone, Copy)]
pub struct NmOptions {
    pub init_step: f64,
    pub zero_pert: f64,
    pub max_iter: usize,
    pub tol_std: f64,
}

impl Default for NmOptions {
    fn default() -> Self {
        NmOptions {
            init_step: 0.05,
            zero_pert: 1e-4,
            max_iter: 1000,
            tol_std: 1e-4,
        }
    }
}

/// The vertex returned and its objective value.
#[derive(Debug, Clone)]
pub struct NmResult {
    pub x: Vec<f64>,
    pub f: f64,
    pub iterations: usize,
}

fn clamp_into(x: &mut [f64], lower: &[f64], upper: &[f64]) {
    for (i, v) in x.iter_mut().enumerate() {
        *v = v.max(lower[i]).min(upper[i]);
    }
}

fn population_sd(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt()
}

/// Indices of `v` in increasing order (stable, so ties keep their vertex order).
fn order(v: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|a, b| {
        v[*a]
            .partial_cmp(&v[*b])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    idx
}

/// `a + t·(b − a)`, clamped into the box.
fn towards(a: &[f64], b: &[f64], t: f64, lower: &[f64], upper: &[f64]) -> Vec<f64> {
    let mut p: Vec<f64> = a.iter().zip(b).map(|(a, b)| a + t * (b - a)).collect();
    clamp_into(&mut p, lower, upper);
    p
}

/// Minimises `f` over `lower ≤ x ≤ upper` from `x0` (clamped into the box).
pub fn nelder_mead<F>(
    mut f: F,
    x0: &[f64],
    lower: &[f64],
    upper: &[f64],
    opts: NmOptions,
) -> NmResult
where
    F: FnMut(&[f64]) -> f64,
{
    let n = x0.len();
    let mut start = x0.to_vec();
    clamp_into(&mut start, lower, upper);
    let nf = n as f64;
    let (gamma, rho, sigma) = (1.0 + 2.0 / nf, 0.75 - 1.0 / (2.0 * nf), 1.0 - 1.0 / nf);
    let mut simplex: Vec<Vec<f64>> = vec![start; n + 1];
    for (i, vertex) in simplex.iter_mut().take(n).enumerate() {
        let v = vertex[i];
        let moved = if v == 0.0 {
            opts.zero_pert
        } else {
            v * (1.0 + opts.init_step)
        };
        vertex[i] = moved.max(lower[i]).min(upper[i]);
    }
    let mut values: Vec<f64> = simplex.iter().map(|v| f(v)).collect();
    let mut iter = 0;
    while iter < opts.max_iter {
        if population_sd(&values) < opts.tol_std {
            break;
        }
        iter += 1;
        let ord = order(&values);
        let best = ord[0];
        let worst = ord[n];
        let second_worst = ord[n - 1];
        let centroid: Vec<f64> = (0..n)
            .map(|j| (simplex.iter().map(|v| v[j]).sum::<f64>() - simplex[worst][j]) / nf)
            .collect();
        let reflected = towards(&centroid, &simplex[worst], -1.0, lower, upper);
        let f_r = f(&reflected);
        if values[best] <= f_r && f_r < values[second_worst] {
            simplex[worst] = reflected;
            values[worst] = f_r;
            continue;
        }
        if f_r < values[best] {
            let expanded = towards(&centroid, &reflected, gamma, lower, upper);
            let f_e = f(&expanded);
            if f_e < f_r {
                simplex[worst] = expanded;
                values[worst] = f_e;
            } else {
                simplex[worst] = reflected;
                values[worst] = f_r;
            }
            continue;
        }
        if values[second_worst] <= f_r && f_r < values[worst] {
            let outside = towards(&centroid, &reflected, rho, lower, upper);
            let f_oc = f(&outside);
            if f_oc <= f_r {
                simplex[worst] = outside;
                values[worst] = f_oc;
                continue;
            }
        } else {
            let inside = towards(&centroid, &reflected, -rho, lower, upper);
            let f_ic = f(&inside);
            if f_ic < values[worst] {
                simplex[worst] = inside;
                values[worst] = f_ic;
                continue;
            }
        }
        // Shrink every other vertex towards the best one.
        let anchor = simplex[best].clone();
        for j in (0..=n).filter(|j| *j != best) {
            simplex[j] = towards(&anchor, &simplex[j], sigma, lower, upper);
            values[j] = f(&simplex[j]);
        }
    }
    let best = order(&values)[0];
    NmResult {
        x: simplex[best].clone(),
        f: values[best],
        iterations: iter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_shifted_quadratic_inside_the_box() {
        let r = nelder_mead(
            |x| (x[0] - 1.5).powi(2) + 3.0 * (x[1] + 0.5).powi(2),
            &[0.2, 0.2],
            &[-5.0, -5.0],
            &[5.0, 5.0],
            NmOptions {
                tol_std: 1e-14,
                ..NmOptions::default()
            },
        );
        assert!(
            (r.x[0] - 1.5).abs() < 1e-4 && (r.x[1] + 0.5).abs() < 1e-4,
            "{r:?}"
        );
    }

    #[test]
    fn stops_on_a_bound_when_the_optimum_is_outside() {
        let r = nelder_mead(
            |x| (x[0] - 3.0).powi(2),
            &[0.5],
            &[0.0],
            &[1.0],
            NmOptions {
                tol_std: 1e-14,
                ..NmOptions::default()
            },
        );
        assert!((r.x[0] - 1.0).abs() < 1e-6, "{r:?}");
    }
}
