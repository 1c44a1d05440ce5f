//! Dense linear algebra for the few small systems the models solve (ARMA autocovariances,
//! least-squares start values). Matrices are row-major `Vec<f64>`: the sizes are tens, not
//! thousands, so a dependency would buy nothing.

/// The dot product of two vectors (over the shorter one's length), summed in order.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `a x = b` in place by Gaussian elimination with partial pivoting; `a` is `n × n`
/// row-major and is destroyed, `b` becomes `x`. Returns `false` when `a` is (numerically)
/// singular.
pub fn solve(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    debug_assert_eq!(a.len(), n * n);
    debug_assert_eq!(b.len(), n);
    let scale = a
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap_or(col);
        if a[pivot * n + col].abs() <= 1e-14 * scale {
            return false;
        }
        if pivot != col {
            for k in 0..n {
                a.swap(col * n + k, pivot * n + k);
            }
            b.swap(col, pivot);
        }
        let d = a[col * n + col];
        for row in col + 1..n {
            let f = a[row * n + col] / d;
            if f != 0.0 {
                for k in col..n {
                    a[row * n + k] -= f * a[col * n + k];
                }
                b[row] -= f * b[col];
            }
        }
    }
    for row in (0..n).rev() {
        let mut s = b[row];
        for k in row + 1..n {
            s -= a[row * n + k] * b[k];
        }
        b[row] = s / a[row * n + row];
    }
    true
}

/// Ordinary least squares `min |X β - y|²` through the normal equations; `x` is
/// `rows × cols` row-major. `None` when `X'X` is singular.
pub fn least_squares(x: &[f64], y: &[f64], rows: usize, cols: usize) -> Option<Vec<f64>> {
    let mut xtx = vec![0.0; cols * cols];
    let mut xty = vec![0.0; cols];
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        for i in 0..cols {
            xty[i] += row[i] * y[r];
            for j in 0..cols {
                xtx[i * cols + j] += row[i] * row[j];
            }
        }
    }
    solve(&mut xtx, &mut xty, cols).then_some(xty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_pivoting_system() {
        // The zero in the corner forces a row swap.
        let mut a = vec![0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 3.0];
        let mut b = vec![5.0, 5.0, 12.0];
        assert!(solve(&mut a, &mut b, 3));
        for (got, want) in b.iter().zip([1.0, 1.0, 3.0]) {
            assert!((got - want).abs() < 1e-12, "{b:?}");
        }
        let mut singular = vec![1.0, 2.0, 2.0, 4.0];
        assert!(!solve(&mut singular, &mut [1.0, 2.0], 2));
    }

    #[test]
    fn least_squares_recovers_a_line() {
        let xs: Vec<f64> = (0..5).flat_map(|i| [1.0, i as f64]).collect();
        let ys: Vec<f64> = (0..5).map(|i| 2.0 + 0.5 * i as f64).collect();
        let beta = least_squares(&xs, &ys, 5, 2).unwrap();
        assert!((beta[0] - 2.0).abs() < 1e-12 && (beta[1] - 0.5).abs() < 1e-12);
    }
}
