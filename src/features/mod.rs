//! The feature store: feature views defined in `pipelines/`, materialized day by day into the
//! lake (offline, `features/<view>__v<version>/dt=...`) and into the DB (online, latest
//! snapshot), with point-in-time correct historical retrieval and TTL-enforced online lookup.
//!
//! Why this split: `compute` is pure (rows in, daily snapshots out), so it is checked against
//! a brute-force reference; `source` is the only reader of canonical datasets, `materialize`
//! the only writer, `historical` and `online` the only readers of what it wrote, `catalog`
//! the only place that turns definitions into versions. Time semantics, in one place:
//! the snapshot of day `D` holds values computed from source rows with `ts < D+1 00:00 UTC`
//! (its `as_of`); a historical row at instant `t` uses the snapshot with `as_of <= t`
//! closest to `t`, so no row after `t` ever counts; a value is null when the entity's latest
//! source row is older than the TTL at the time of use.

pub mod catalog;
pub mod compute;
pub mod historical;
pub mod materialize;
pub mod online;
pub mod source;
pub mod spec;
pub mod stats;

use crate::db::DbError;
use crate::etl::spec::SpecError;
use crate::lake::LakeError;

/// Microseconds per day.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// Errors of the feature store.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// A definition file is malformed (names the file, key and line).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A request names a view that is not defined.
    #[error("feature view `{0}` not found")]
    UnknownView(String),
    /// A request is not acceptable; `field` names the part at fault.
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    /// An input file of a historical retrieval is unusable (names the file and line).
    #[error("{file}: line {line}: {detail}")]
    Input {
        file: String,
        line: usize,
        detail: String,
    },
    /// A lake column has an unexpected type.
    #[error("dataset `{dataset}` column `{column}`: {detail}")]
    Schema {
        dataset: String,
        column: String,
        detail: String,
    },
    /// Stored metadata cannot be decoded.
    #[error("stored feature metadata is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Io(String),
}

impl FeatureError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FeatureError::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }
}
