//! The crate-wide error: every layer's error is sorted into one of a few kinds here, so the
//! HTTP mapping (`api::problem`) and the CLI's exit messages each have exactly one place that
//! decides what a caller sees. Codes are stable strings clients may match on.

use crate::config::ConfigError;
use crate::db::DbError;
use crate::etl::EtlError;
use crate::jobs::JobError;
use crate::lake::LakeError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request parsed but a value is not acceptable.
    #[error("{detail}")]
    Invalid {
        field: Option<String>,
        detail: String,
    },
    /// The body is not the JSON the route expects (syntax or types).
    #[error("{detail}")]
    MalformedBody {
        field: Option<String>,
        detail: String,
    },
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{detail}")]
    UnsupportedMediaType { detail: String },
    /// Too many request headers, or too many bytes of them.
    #[error("{detail}")]
    HeadersTooLarge { detail: String },
    #[error("{resource} `{id}` not found")]
    NotFound { resource: &'static str, id: String },
    #[error("{detail}")]
    Conflict { detail: String },
    #[error("{detail}")]
    Unauthenticated { detail: String },
    #[error("{detail}")]
    Forbidden { detail: String },
    #[error("{detail}")]
    Unavailable { detail: String },
    /// The route exists, not with this method.
    #[error("{method} is not allowed here; allowed: {}", allowed.join(", "))]
    MethodNotAllowed {
        method: String,
        allowed: Vec<String>,
    },
    /// The caller has too many requests in flight; retry after the given seconds.
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_seconds: u64,
    },
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Db(DbError),
    #[error("lake: {0}")]
    Lake(LakeError),
    #[error("job: {0}")]
    Job(JobError),
    #[error("etl: {0}")]
    Etl(EtlError),
    /// Anything else that is the server's fault; keeps its cause for the log.
    #[error("internal: {0}")]
    Internal(#[source] BoxError),
}

/// The cause an internal error carries (any error; a message converts with `.into()`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An internal error that keeps `cause` as its source.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Internal(Box::new(cause))
    }

    /// The message with every cause after it (`a: b: c`), for logs.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let text = c.to_string();
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cause = c.source();
        }
        out
    }

    /// Stable machine-readable code; also the last segment of the problem `type`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "invalid-request",
            Error::MalformedBody { .. } => "malformed-body",
            Error::PayloadTooLarge { .. } => "payload-too-large",
            Error::UnsupportedMediaType { .. } => "unsupported-media-type",
            Error::HeadersTooLarge { .. } => "headers-too-large",
            Error::NotFound { .. } => "not-found",
            Error::Conflict { .. } => "conflict",
            Error::Unauthenticated { .. } => "unauthenticated",
            Error::Forbidden { .. } => "forbidden",
            Error::Unavailable { .. } => "unavailable",
            Error::TooManyRequests { .. } => "too-many-requests",
            Error::MethodNotAllowed { .. } => "method-not-allowed",
            Error::Config(_) => "configuration",
            Error::Db(_) => "database",
            Error::Lake(_) => "lake",
            Error::Job(_) => "job",
            Error::Etl(_) => "etl",
            Error::Internal(_) => "internal",
        }
    }

    /// The field at fault, where there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } | Error::MalformedBody { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// Whether the message is safe and useful to show a caller; internal errors are logged,
    /// not echoed, so connection strings and paths never leak into responses.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::Db(_)
                | Error::Lake(_)
                | Error::Job(_)
                | Error::Etl(_)
                | Error::Internal(_)
        )
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Invalid {
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            resource,
            id: id.into(),
        }
    }
}

impl From<crate::app::OpenError> for Error {
    fn from(e: crate::app::OpenError) -> Self {
        match e {
            crate::app::OpenError::Db(db) => Error::from(db),
            crate::app::OpenError::Lake(lake) => Error::from(lake),
        }
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        Error::Db(e)
    }
}

impl From<LakeError> for Error {
    fn from(e: LakeError) -> Self {
        match e {
            LakeError::InvalidInput { field, detail } => Error::Invalid {
                field: Some(field),
                detail,
            },
            e @ (LakeError::Store(_)
            | LakeError::Parquet(_)
            | LakeError::Arrow(_)
            | LakeError::Db(_)
            | LakeError::Url { .. }
            | LakeError::SchemaMismatch { .. }
            | LakeError::RunNotOpen { .. }
            | LakeError::Conflict { .. }
            | LakeError::Task(_)
            | LakeError::Delta(_)
            | LakeError::Unmigrated { .. }) => Error::Lake(e),
        }
    }
}

impl From<JobError> for Error {
    fn from(e: JobError) -> Self {
        match e {
            JobError::NotFound(id) => Error::not_found("job", id),
            e @ JobError::UnknownKind { .. } => Error::invalid("kind", e.to_string()),
            JobError::InvalidPayload(detail) => Error::invalid("payload", detail),
            JobError::Invalid { field, detail } => Error::invalid(field, detail),
            JobError::InvalidState { id, state, action } => Error::Conflict {
                detail: format!("job `{id}` is {state} and cannot be {action}"),
            },
            e @ (JobError::Db(_) | JobError::Failed(_) | JobError::Cancelled) => Error::Job(e),
        }
    }
}

impl From<EtlError> for Error {
    fn from(e: EtlError) -> Self {
        match e {
            EtlError::UnknownPipeline(name) => Error::not_found("pipeline", name),
            EtlError::Spec(spec) => Error::Invalid {
                field: Some(spec.key.clone()),
                detail: spec.to_string(),
            },
            EtlError::Lake(lake) => Error::from(lake),
            EtlError::Db(db) => Error::Db(db),
            EtlError::Refused { field, detail } => Error::Invalid { field, detail },
            e @ (EtlError::Source { .. } | EtlError::Arrow(_) | EtlError::Cancelled) => {
                Error::Etl(e)
            }
        }
    }
}

impl From<crate::registry::RegistryError> for Error {
    fn from(e: crate::registry::RegistryError) -> Self {
        use crate::registry::RegistryError as R;
        match e {
            R::NotFound(id) => Error::not_found("model version", id),
            R::Invalid { field, detail } => Error::invalid(field, detail),
            // The caller asked for something the stored state does not allow; say why.
            e @ (R::NothingToRollBack(_) | R::Corrupt { .. } | R::UnsupportedFormat { .. }) => {
                Error::Conflict {
                    detail: e.to_string(),
                }
            }
            R::Db(db) => Error::Db(db),
            e @ R::Store(_) => Error::internal(e),
        }
    }
}

impl From<crate::recommend::RecommendError> for Error {
    fn from(e: crate::recommend::RecommendError) -> Self {
        use crate::recommend::RecommendError as R;
        match e {
            R::InvalidParam { field, detail } => {
                // The detail names the field too: the CLI shows only the message.
                let detail = format!("{field}: {detail}");
                Error::invalid(field, detail)
            }
            R::UnknownItem(id) => Error::not_found("item", id),
            R::NoModel => Error::Unavailable {
                detail: "no recommender model is promoted yet; train one and promote it".into(),
            },
            e @ R::NoData(_) => Error::Conflict {
                detail: e.to_string(),
            },
            R::Lake(lake) => Error::from(lake),
            R::ModelRegistry(reg) => Error::from(reg),
            R::Features(f) => Error::from(f),
            e @ (R::Schema { .. } | R::Artifact(_)) => Error::internal(e),
        }
    }
}

impl From<crate::forecast::DemandError> for Error {
    fn from(e: crate::forecast::DemandError) -> Self {
        use crate::forecast::DemandError as D;
        match e {
            D::Invalid { field, detail } => Error::invalid(field, detail),
            D::UnknownSeries(id) => Error::not_found("forecast series", id),
            D::UnknownOverride(id) => Error::not_found("forecast override", id),
            // Nothing to train on is the state of the data, not a server fault.
            e @ D::NoData(_) => Error::Conflict {
                detail: e.to_string(),
            },
            D::Lake(lake) => Error::from(lake),
            D::Db(db) => Error::Db(db),
            D::ModelRegistry(reg) => Error::from(reg),
            e @ (D::Data(_) | D::Corrupt(_) | D::Task(_)) => Error::internal(e),
        }
    }
}

impl From<crate::features::FeatureError> for Error {
    fn from(e: crate::features::FeatureError) -> Self {
        use crate::features::FeatureError as F;
        match e {
            F::Spec(spec) => Error::Invalid {
                field: Some(spec.key.clone()),
                detail: spec.to_string(),
            },
            F::UnknownView(name) => Error::not_found("feature view", name),
            F::Invalid { field, detail } => Error::invalid(field, detail),
            e @ F::Input { .. } => Error::Invalid {
                field: Some("entities".into()),
                detail: e.to_string(),
            },
            F::Lake(lake) => Error::from(lake),
            F::Db(db) => Error::Db(db),
            e @ (F::Schema { .. } | F::Corrupt(_) | F::Io(_)) => Error::internal(e),
        }
    }
}

impl From<crate::experiments::ExperimentError> for Error {
    fn from(e: crate::experiments::ExperimentError) -> Self {
        use crate::experiments::ExperimentError as X;
        match e {
            X::Invalid { field, detail } => {
                // The detail names the field too: the CLI shows only the message.
                let detail = format!("{field}: {detail}");
                Error::invalid(field, detail)
            }
            X::NotFound(id) => Error::not_found("experiment", id),
            X::Conflict(detail) => Error::Conflict { detail },
            X::Db(db) => Error::Db(db),
            X::Lake(lake) => Error::from(lake),
            X::ModelRegistry(reg) => Error::from(reg),
            X::Recommend(rec) => Error::from(rec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_keep_their_cause_for_the_log() {
        let e = Error::from(crate::forecast::DemandError::Task("worker panicked".into()));
        assert!(e.is_internal());
        let source = std::error::Error::source(&e).expect("the cause is kept");
        assert!(source.to_string().contains("worker panicked"), "{source}");
        let io = Error::internal(std::io::Error::other("disk full"));
        assert_eq!(io.chain(), "internal: disk full");
    }

    #[test]
    fn domain_errors_a_caller_can_fix_are_not_internal() {
        let e = Error::from(crate::forecast::DemandError::UnknownSeries("x".into()));
        assert_eq!(e.code(), "not-found");
        let e = Error::from(JobError::UnknownKind {
            kind: "nope".into(),
            known: vec!["sweep_lake"],
        });
        assert!(e.to_string().contains("known kinds: sweep_lake"), "{e}");
        assert_eq!(e.field(), Some("kind"));
    }
}
