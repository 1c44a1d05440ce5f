//! Recommenders: training data from the lake, pure model code, offline evaluation and the
//! in-memory serving model.
//!
//! Why this split: model files (`popularity`, `item_knn`, `als`, `content`, `hybrid`) take
//! matrices and return scores with no I/O, so they are tested against reference numbers and
//! benched alone; `data` is the only place that reads the lake, `train` the only place that
//! ties data, models, evaluation and the registry together, and `serving` the only place that
//! applies business rules (seen, inactive, category, diversity, reasons) to scores.

pub mod als;
pub mod artifact;
pub mod content;
pub mod data;
pub mod eval;
pub mod hybrid;
pub mod item_knn;
pub mod popularity;
pub mod retrieval;
pub mod serving;
pub mod signals;
pub mod sparse;
pub mod train;

/// Errors of the recommender domain.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    /// A training or serving parameter is out of range.
    #[error("{field}: {detail}")]
    InvalidParam { field: String, detail: String },
    /// The lake holds no usable interactions for training.
    #[error("no training data: {0}")]
    NoData(String),
    /// A lake column has an unexpected type.
    #[error("dataset `{dataset}` column `{column}`: {detail}")]
    Schema {
        dataset: &'static str,
        column: &'static str,
        detail: String,
    },
    /// The requested item is not in the model's catalogue.
    #[error("item `{0}` not found")]
    UnknownItem(String),
    /// No promoted model version exists yet.
    #[error("no recommender model is promoted yet")]
    NoModel,
    /// An artifact decoded but its content is inconsistent.
    #[error("artifact content: {0}")]
    Artifact(String),
    #[error(transparent)]
    Lake(#[from] crate::lake::LakeError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// The feature store could not supply the hybrid's features.
    #[error(transparent)]
    Features(#[from] crate::features::FeatureError),
}

impl RecommendError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        RecommendError::InvalidParam {
            field: field.into(),
            detail: detail.into(),
        }
    }
}
