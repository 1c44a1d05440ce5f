//! Item-kNN: items are similar when the same users interacted with them. The item×item
//! similarity is one sparse product `Xᵀ·X` of the (weighted) user×item matrix, then every row
//! keeps only its K strongest neighbours, which bounds both the artifact and the scoring cost
//! (a user's score touches K entries per item in their history).
//!
//! Weighting: plain cosine, or BM25 (Okapi), which damps heavy users (length normalisation)
//! and users who touch everything (IDF) before a raw dot product; it often beats cosine on
//! implicit data where a few users dominate.

use serde::{Deserialize, Serialize};
use sprs::CsMat;

use super::sparse::{SparseRows, keep_top_k};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Weighting {
    #[default]
    Cosine,
    Bm25 {
        k1: f64,
        b: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemKnn {
    /// items × items, row i = the top-K neighbours of item i (no self-similarity).
    pub neighbours: SparseRows,
}

/// BM25 weights of a user×item matrix. Documents are items (their column of users), terms are
/// users: `idf(u) = ln(n_items / (1 + df(u))) ` clipped at 0, and the term frequency `x` is
/// normalised by the item's total against the average item total.
pub fn bm25_weight(x: &CsMat<f64>, k1: f64, b: f64) -> CsMat<f64> {
    let n_items = x.cols() as f64;
    let mut item_len = vec![0f64; x.cols()];
    for row in x.outer_iterator() {
        for (j, &v) in row.iter() {
            item_len[j] += v;
        }
    }
    let avg = (item_len.iter().sum::<f64>() / n_items.max(1.0)).max(f64::MIN_POSITIVE);
    let mut out = x.to_csr();
    for (u, mut row) in out.outer_iterator_mut().enumerate() {
        let df = x.outer_view(u).map(|r| r.nnz()).unwrap_or(0) as f64;
        let idf = (n_items / (1.0 + df)).ln().max(0.0) + 1e-6;
        for (j, v) in row.iter_mut() {
            let norm = k1 * (1.0 - b + b * item_len[j] / avg);
            *v = *v * (k1 + 1.0) / (norm + *v) * idf;
        }
    }
    out
}

impl ItemKnn {
    /// Fits from a user×item CSR matrix, keeping `k` neighbours per item.
    pub fn fit(x: &CsMat<f64>, weighting: Weighting, k: usize) -> ItemKnn {
        let xw = match weighting {
            Weighting::Cosine => x.to_csr(),
            Weighting::Bm25 { k1, b } => bm25_weight(x, k1, b),
        };
        let xt = xw.transpose_view().to_csr();
        // items × items co-occurrence (sparse × sparse).
        let gram: CsMat<f64> = &xt * &xw;
        let norms: Vec<f64> = (0..gram.rows())
            .map(|i| gram.get(i, i).copied().unwrap_or(0.0).sqrt())
            .collect();
        let mut rows = Vec::with_capacity(gram.rows());
        for (i, row) in gram.outer_iterator().enumerate() {
            let entries: Vec<(u32, f32)> = row
                .iter()
                .filter(|&(j, _)| j != i)
                .filter_map(|(j, &v)| {
                    let s = match weighting {
                        Weighting::Cosine => {
                            let d = norms[i] * norms[j];
                            if d > 0.0 { v / d } else { 0.0 }
                        }
                        Weighting::Bm25 { .. } => v,
                    };
                    (s > 0.0).then_some((j as u32, s as f32))
                })
                .collect();
            rows.push(keep_top_k(entries, k));
        }
        ItemKnn {
            neighbours: SparseRows::from_rows(x.cols(), &rows),
        }
    }

    /// Scores of every item for a history of `(item, weight)`.
    pub fn score(&self, history: &[(u32, f32)]) -> Vec<f32> {
        self.neighbours.score_history(history)
    }

    /// The neighbours of one item, strongest first.
    pub fn similar(&self, item: u32) -> Vec<(u32, f32)> {
        self.neighbours.row_by_strength(item as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::data::matrix_from_triplets;

    #[test]
    fn pruning_keeps_the_strongest_neighbours() {
        let x = matrix_from_triplets(
            3,
            3,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (2, 0, 1.0),
                (2, 2, 1.0),
            ],
        );
        let knn = ItemKnn::fit(&x, Weighting::Cosine, 1);
        let s = knn.similar(0);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0, 1);
        let bm = ItemKnn::fit(&x, Weighting::Bm25 { k1: 1.2, b: 0.75 }, 5);
        assert_eq!(bm.similar(0)[0].0, 1);
    }
}
