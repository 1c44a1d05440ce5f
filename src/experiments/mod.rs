//! A/B experiments on recommendation variants: definitions and their validation (`model`),
//! deterministic assignment (`assignment`, from the models crate), the variant models served
//! (`serving`), which model answers a request (`routing`), the pure statistics of a readout (`stats`, from the models crate) and the readout assembled from exposures and the lake
//! (`results`).
//!
//! Why exposures and not assignments: a user assigned to a variant who never asked for a
//! recommendation saw nothing of it; counting only users who were served (and the events
//! after) keeps the comparison to people the change could affect, and both arms are filtered
//! the same way because assignment does not depend on anything the variant does.

pub mod model;
pub mod results;
pub mod routing;
pub mod serving;

pub use recast_models::experiments::{assignment, stats};

/// Errors of the experiments domain.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A definition or request value is not acceptable.
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    #[error("experiment `{0}` not found")]
    NotFound(String),
    /// The experiment's state does not allow the action (edit while running, second running
    /// experiment in a layer, ...).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Lake(#[from] crate::lake::LakeError),
    #[error(transparent)]
    ModelRegistry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Recommend(#[from] crate::recommend::RecommendError),
}

impl ExperimentError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ExperimentError::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }
}
