//! The Parquet lake (work in progress: see the helper's task).

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A caller-supplied value is not acceptable (dataset name, date range, ...).
    #[error("{detail}")]
    InvalidInput { field: String, detail: String },
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("invalid lake url `{url}`: {reason}")]
    Url { url: String, reason: String },
}
