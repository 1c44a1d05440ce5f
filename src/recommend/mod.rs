//! Recommenders in the service: training data from the lake, training runs, the stored
//! artifact and the in-memory serving model.
//!
//! Why this split: the model files (`popularity`, `item_knn`, `als`, `content`, `hybrid`,
//! `eval`, ...) are pure and live in the models crate (`recast_models::recommend`, re-exported
//! here); `data` is the only place that reads the lake, `timeline` the only place that reads
//! the feature store for training, `fit` fits and evaluates on data in memory (with its
//! `params` and `report`), `train` the only place that ties data, fitting and the registry
//! together, and `serving` the only place that applies
//! business rules (seen, inactive, category, diversity, reasons) to scores.

pub mod artifact;
pub mod data;
pub mod fit;
pub mod gate;
pub mod params;
pub mod realtime;
pub mod report;
pub mod serving;
pub mod timeline;
pub mod train;
pub mod tune;

pub use recast_models::recommend::{
    InvalidParam, als, content, ease, eval, hybrid, item_knn, popularity, retrieval, sequence,
    signals, sparse,
};

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
    ModelRegistry(#[from] crate::registry::RegistryError),
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

impl From<InvalidParam> for RecommendError {
    fn from(e: InvalidParam) -> Self {
        RecommendError::InvalidParam {
            field: e.field,
            detail: e.detail,
        }
    }
}
