//! Recommender models: matrices in, scores out.
//!
//! Why this split: model files (`popularity`, `item_knn`, `als`, `content`, `hybrid`) take
//! the arrays of [`data`] and return scores with no I/O, so they are tested against reference
//! numbers and benched alone. [`eval`] holds the offline metrics and the bounded top-k,
//! [`retrieval`] the exact quantised scan over ALS factors, [`signals`] the item prior and
//! activity blends learned from feature values the service hands in.

pub mod als;
pub mod content;
pub mod data;
pub mod ease;
pub mod eval;
pub mod hybrid;
pub mod item_knn;
pub mod popularity;
pub mod retrieval;
pub mod sequence;
pub mod signals;
pub mod sparse;

/// A model parameter out of its range: the field and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct InvalidParam {
    pub field: String,
    pub detail: String,
}

impl InvalidParam {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        InvalidParam {
            field: field.into(),
            detail: detail.into(),
        }
    }
}
