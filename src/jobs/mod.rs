//! The job queue (work in progress: see the helper's task).

pub mod schedule;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job `{0}` not found")]
    NotFound(String),
    #[error("unknown job kind `{0}`")]
    UnknownKind(String),
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    #[error("job `{id}` is {state} and cannot be {action}")]
    InvalidState {
        id: String,
        state: String,
        action: &'static str,
    },
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// A handler's own failure; retried with backoff while attempts remain.
    #[error("{0}")]
    Failed(String),
}
