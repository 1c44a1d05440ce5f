//! A plain, serializable CSR matrix for artifacts. `sprs::CsMat` is what training computes
//! with; this copy is what a model version stores, so the artifact format does not depend on
//! another crate's serde layout and rows can be read without any allocation.

use serde::{Deserialize, Serialize};
use sprs::CsMat;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SparseRows {
    pub cols: usize,
    pub indptr: Vec<u32>,
    pub indices: Vec<u32>,
    pub data: Vec<f32>,
}

impl SparseRows {
    /// From a CSR `sprs` matrix (a CSC one is converted first).
    pub fn from_csmat(m: &CsMat<f64>) -> SparseRows {
        let csr;
        let m = if m.is_csr() {
            m
        } else {
            csr = m.to_csr();
            &csr
        };
        let mut out = SparseRows {
            cols: m.cols(),
            indptr: Vec::with_capacity(m.rows() + 1),
            indices: Vec::with_capacity(m.nnz()),
            data: Vec::with_capacity(m.nnz()),
        };
        out.indptr.push(0);
        for row in m.outer_iterator() {
            for (j, &v) in row.iter() {
                out.indices.push(j as u32);
                out.data.push(v as f32);
            }
            out.indptr.push(out.indices.len() as u32);
        }
        out
    }

    /// From per-row lists of `(column, value)`.
    pub fn from_rows(cols: usize, rows: &[Vec<(u32, f32)>]) -> SparseRows {
        let mut out = SparseRows {
            cols,
            indptr: vec![0],
            ..Default::default()
        };
        for row in rows {
            for &(j, v) in row {
                out.indices.push(j);
                out.data.push(v);
            }
            out.indptr.push(out.indices.len() as u32);
        }
        out
    }

    pub fn rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Column indices and values of one row (empty beyond the last row).
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        if i + 1 >= self.indptr.len() {
            return (&[], &[]);
        }
        let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
        (&self.indices[a..b], &self.data[a..b])
    }

    /// Checks the structure (monotone pointers, indices in range) after decoding.
    /// Item-to-item scoring: the sum of each history item's neighbour row times its weight.
    pub fn score_history(&self, history: &[(u32, f32)]) -> Vec<f32> {
        let mut scores = vec![0f32; self.cols];
        for &(i, w) in history {
            let (idx, val) = self.row(i as usize);
            for (&j, &s) in idx.iter().zip(val) {
                scores[j as usize] += w * s;
            }
        }
        scores
    }

    /// One row's entries, strongest first (ties by column).
    pub fn row_by_strength(&self, i: usize) -> Vec<(u32, f32)> {
        let (idx, val) = self.row(i);
        let mut out: Vec<(u32, f32)> = idx.iter().copied().zip(val.iter().copied()).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.indptr.first() != Some(&0) {
            return Err("indptr must start at 0".into());
        }
        if self.indptr.windows(2).any(|w| w[0] > w[1]) {
            return Err("indptr is not monotone".into());
        }
        let nnz = *self.indptr.last().unwrap_or(&0) as usize;
        if nnz != self.indices.len() || nnz != self.data.len() {
            return Err("indptr does not match the stored entries".into());
        }
        if self.indices.iter().any(|&j| j as usize >= self.cols) {
            return Err("column index out of range".into());
        }
        Ok(())
    }
}

/// Keeps the `k` strongest entries (ties by column), returned in column order as
/// [`SparseRows::from_rows`] expects.
pub fn keep_top_k(mut entries: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    entries.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    entries.truncate(k);
    entries.sort_by_key(|e| e.0);
    entries
}
