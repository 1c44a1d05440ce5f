//! EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", 2019): a linear
//! item-to-item model with a closed form. With the item Gram matrix `G = XᵀX` and
//! `P = (G + λI)⁻¹`, the weights are `B = I − P·diag(1/diag(P))`, i.e. `B_ij = −P_ij / P_jj`
//! off the diagonal and 0 on it; a user's scores are `x·B` for their interaction row `x`.
//!
//! Why it is here: on implicit-feedback benchmarks this one regularised inverse matches or
//! beats tuned ALS and item-kNN (Steck 2019; Anelli et al. 2022), in seconds, with a single
//! hyperparameter.
//!
//! Cost and the catalogue limit: `G` and its inverse are dense (8 bytes × items² each, in
//! f64 for the factorisation), so the model is fitted on at most `max_items` items, the most
//! interacted-with ones; the others get no weights (serving fills from popularity). Above
//! the limit the fit says how many items it kept. The Cholesky factorisation and inverse
//! are `faer`'s. For serving, each row of `B` keeps its `keep` largest weights, so the
//! artifact and a request cost `keep` entries per history item (the dense `B` of 10,000
//! items would be 400 MB).

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use serde::{Deserialize, Serialize};
use sprs::CsMat;

use super::item_knn::ItemKnn;
use super::sparse::{SparseRows, keep_top_k};

/// EASE's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EaseParams {
    /// L2 regularisation λ added to the Gram matrix's diagonal.
    pub lambda: f64,
    /// Most items the dense fit takes (the most interacted-with ones).
    pub max_items: usize,
    /// Weights kept per item row for serving.
    pub keep: usize,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams {
            lambda: 250.0,
            max_items: 10_000,
            keep: 200,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EaseError {
    #[error("lambda must be a finite number > 0, got {0}")]
    BadLambda(f64),
    #[error("max_items and keep must be at least 1")]
    BadLimits,
    #[error("the regularised Gram matrix is not positive definite (raise lambda)")]
    NotPositiveDefinite,
}

/// A fitted EASE model: the pruned weight rows, scored like item-kNN neighbours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ease {
    pub weights: ItemKnn,
    /// Items the dense fit took (all of them unless the catalogue exceeded `max_items`).
    pub items_fitted: usize,
}

impl Ease {
    /// Scores over all items for a history of `(item, strength)`: `x·B` with the kept weights.
    pub fn score(&self, history: &[(u32, f32)]) -> Vec<f32> {
        self.weights.score(history)
    }

    /// The items an item's weights point to, strongest first.
    pub fn similar(&self, item: u32) -> Vec<(u32, f32)> {
        self.weights.similar(item)
    }
}

/// The dense weights `B` over `items` (indices into the full catalogue), row-major.
pub struct DenseWeights {
    pub items: Vec<u32>,
    pub b: Vec<f64>,
}

/// The `max_items` items with the most interactions (ties: lower index), ascending.
fn chosen_items(x: &CsMat<f64>, max_items: usize) -> Vec<u32> {
    let mut counts = vec![0usize; x.cols()];
    for row in x.outer_iterator() {
        for (j, _) in row.iter() {
            counts[j] += 1;
        }
    }
    let mut order: Vec<u32> = (0..x.cols() as u32)
        .filter(|&j| counts[j as usize] > 0)
        .collect();
    order.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
    order.truncate(max_items);
    order.sort_unstable();
    order
}

/// The dense EASE weights over the chosen items of the user×item matrix `x` (rows users).
pub fn dense_weights(x: &CsMat<f64>, params: &EaseParams) -> Result<DenseWeights, EaseError> {
    if !(params.lambda.is_finite() && params.lambda > 0.0) {
        return Err(EaseError::BadLambda(params.lambda));
    }
    if params.max_items == 0 || params.keep == 0 {
        return Err(EaseError::BadLimits);
    }
    let items = chosen_items(x, params.max_items);
    let m = items.len();
    let mut position = vec![usize::MAX; x.cols()];
    for (p, &j) in items.iter().enumerate() {
        position[j as usize] = p;
    }
    // G = XᵀX over the chosen columns, one user row at a time (rows are short).
    let mut g = Mat::<f64>::zeros(m, m);
    let mut row: Vec<(usize, f64)> = Vec::new();
    for user in x.outer_iterator() {
        row.clear();
        row.extend(
            user.iter()
                .filter_map(|(j, &v)| (position[j] != usize::MAX).then_some((position[j], v))),
        );
        for &(a, va) in &row {
            for &(b, vb) in &row {
                g[(a, b)] += va * vb;
            }
        }
    }
    for d in 0..m {
        g[(d, d)] += params.lambda;
    }
    let p = g
        .llt(Side::Lower)
        .map_err(|_| EaseError::NotPositiveDefinite)?
        .inverse();
    drop(g);
    let mut b = vec![0f64; m * m];
    for j in 0..m {
        let pjj = p[(j, j)];
        for i in 0..m {
            if i != j {
                b[i * m + j] = -p[(i, j)] / pjj;
            }
        }
    }
    Ok(DenseWeights { items, b })
}

/// Fits EASE on the user×item matrix `x` and keeps each row's `keep` largest weights.
pub fn fit(x: &CsMat<f64>, params: &EaseParams) -> Result<Ease, EaseError> {
    let dense = dense_weights(x, params)?;
    let m = dense.items.len();
    let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); x.cols()];
    for (p, &i) in dense.items.iter().enumerate() {
        let entries: Vec<(u32, f32)> = dense.b[p * m..(p + 1) * m]
            .iter()
            .enumerate()
            .filter(|&(q, &w)| q != p && w > 0.0)
            .map(|(q, &w)| (dense.items[q], w as f32))
            .collect();
        rows[i as usize] = keep_top_k(entries, params.keep);
    }
    Ok(Ease {
        weights: ItemKnn {
            neighbours: SparseRows::from_rows(x.cols(), &rows),
        },
        items_fitted: m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::data::matrix_from_triplets;

    fn small() -> CsMat<f64> {
        // 4 users × 4 items; item 3 is never touched.
        matrix_from_triplets(
            4,
            4,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (1, 2, 1.0),
                (2, 1, 1.0),
                (2, 2, 1.0),
                (3, 0, 1.0),
            ],
        )
    }

    #[test]
    fn weights_solve_the_closed_form() {
        let x = small();
        let params = EaseParams {
            lambda: 0.5,
            ..EaseParams::default()
        };
        let dense = dense_weights(&x, &params).unwrap();
        assert_eq!(dense.items, [0, 1, 2], "untouched items are left out");
        // The closed form satisfies (G + λI)·B = G − (G + λI)·diag-correction: equivalently
        // off-diagonal entries of (G + λI)·B equal G's, by construction of B = I − P·D.
        let g = [[3.0, 2.0, 1.0], [2.0, 3.0, 2.0], [1.0, 2.0, 2.0]];
        for (i, gi) in g.iter().enumerate() {
            assert_eq!(dense.b[i * 3 + i], 0.0);
            for (j, gij) in gi.iter().enumerate() {
                if i == j {
                    continue;
                }
                let lhs: f64 = gi
                    .iter()
                    .enumerate()
                    .map(|(k, gik)| (gik + if i == k { 0.5 } else { 0.0 }) * dense.b[k * 3 + j])
                    .sum();
                assert!((lhs - gij).abs() < 1e-9, "({i},{j}): {lhs} vs {gij}");
            }
        }
    }

    #[test]
    fn the_catalogue_limit_keeps_the_most_active_items_and_bad_settings_are_refused() {
        let x = small();
        let params = EaseParams {
            lambda: 1.0,
            max_items: 2,
            keep: 5,
        };
        let fitted = fit(&x, &params).unwrap();
        assert_eq!(fitted.items_fitted, 2);
        // Items 0 and 1 (three interactions each) stay; 2 gets no row and is in none.
        assert!(fitted.weights.similar(2).is_empty());
        assert!(fitted.weights.similar(0).iter().all(|&(j, _)| j == 1));
        let bad = EaseParams {
            lambda: 0.0,
            ..params
        };
        assert_eq!(fit(&x, &bad).unwrap_err(), EaseError::BadLambda(0.0));
    }
}
