//! ETL: pipeline definitions, sources, validation with quarantine, and the runner that lands
//! canonical datasets in the lake.
//!
//! Flow of one run: a source yields raw rows (CSV records, JSON objects, SQL rows) → the
//! [`convert::Converter`] types and validates them into canonical Arrow batches, rejecting bad
//! rows with a reason → [`landing::Landing`] drops duplicates, splits by `dt` partition and
//! writes data and quarantine files → one commit per area makes the run visible at once →
//! the run's [`report::RunReport`] is stored. [`pipelines`] finds a deployment's definitions.

pub mod compact;
pub mod convert;
pub mod dedup;
pub mod events;
pub mod landing;
pub mod pipelines;
pub mod report;
pub mod runner;
pub mod schema;
pub mod source;
pub mod spec;
pub mod upsert;

pub use schema::Dataset;
pub use spec::{PipelineSpec, SourceSpec, SpecError};

use crate::db::DbError;
use crate::lake::LakeError;

#[derive(Debug, thiserror::Error)]
pub enum EtlError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("pipeline `{0}` not found")]
    UnknownPipeline(String),
    /// The source cannot be read at all (unreachable store, unreadable file, bad query).
    #[error("source {location}: {detail}")]
    Source { location: String, detail: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("run cancelled")]
    Cancelled,
    /// A record written through the API that the column rules refuse (`field` names the
    /// column).
    #[error("{detail}")]
    Refused {
        field: Option<String>,
        detail: String,
    },
}

impl EtlError {
    pub fn source(location: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        EtlError::Source {
            location: location.into(),
            detail: detail.to_string(),
        }
    }
}

impl From<sqlx::Error> for EtlError {
    fn from(e: sqlx::Error) -> Self {
        EtlError::Db(DbError::Query(e))
    }
}
