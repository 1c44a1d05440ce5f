//! Job kinds: the handler trait and the table from kind name to handler. The built-in kinds
//! are wired in at start-up (`service::job_kinds`), so this module knows no domain.
//!
//! Kinds are registered in code, not discovered, so the set a process can run is explicit and
//! the API can refuse an unknown kind or a malformed payload when the job is submitted (422)
//! rather than have it fail later in a worker. Workers only run kinds in their table.

use crate::config::{ConfigError, ScheduleSpec};
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::app::App;

use super::JobError;
pub use super::context::JobContext;

/// One kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// The name jobs of this kind carry (`sweep_lake`, ...).
    fn kind(&self) -> &'static str;

    /// Checks a payload before the job is queued (answer: [`JobError::InvalidPayload`]).
    fn validate(&self, _payload: &serde_json::Value) -> Result<(), JobError> {
        Ok(())
    }

    /// Checks what only the deployment can tell (a pipeline that exists, ...) before the job
    /// is queued; after [`JobHandler::validate`]. A job that can never succeed is refused at
    /// submission instead of failing its attempts in a worker.
    async fn validate_in(&self, _app: &App, _payload: &serde_json::Value) -> Result<(), JobError> {
        Ok(())
    }

    /// Does the work; the value returned is stored as the job's result. An error fails the
    /// attempt (retried with backoff while attempts remain). Runs at least once per job, so
    /// it must be safe to repeat; long runs should watch [`JobContext::cancelled`].
    async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError>;
}

#[derive(Clone, Default)]
pub struct JobKinds {
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
}

impl JobKinds {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a handler, replacing any earlier one of the same kind.
    pub fn register(&mut self, handler: Arc<dyn JobHandler>) {
        self.handlers.insert(handler.kind(), handler);
    }

    pub fn get(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(kind).cloned()
    }

    /// Registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = self.handlers.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    /// Whether a job of `kind` with `payload` can be queued in the deployment of `app`.
    pub async fn validate_in(
        &self,
        app: &App,
        kind: &str,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        self.validate(kind, payload)?;
        match self.get(kind) {
            Some(handler) => handler.validate_in(app, payload).await,
            None => Ok(()),
        }
    }

    /// Whether a job of `kind` with `payload` can be queued.
    pub fn validate(&self, kind: &str, payload: &serde_json::Value) -> Result<(), JobError> {
        self.get(kind)
            .ok_or_else(|| JobError::UnknownKind {
                kind: kind.to_string(),
                known: self.kinds(),
            })?
            .validate(payload)
    }

    /// Checks every schedule names a registered kind with a valid payload, so a typo in
    /// `recast.toml` stops the start instead of producing a failed job every tick.
    pub fn check_schedules(&self, schedules: &[ScheduleSpec]) -> Result<(), ConfigError> {
        for (i, schedule) in schedules.iter().enumerate() {
            self.validate(&schedule.kind, &schedule.payload)
                .map_err(|e| ConfigError::Invalid {
                    key: format!("scheduler.schedules[{i}].kind"),
                    // An unknown kind names the known ones itself.
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for JobKinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobKinds")
            .field("kinds", &self.kinds())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    #[async_trait]
    impl JobHandler for Echo {
        fn kind(&self) -> &'static str {
            "echo"
        }
        fn validate(&self, payload: &serde_json::Value) -> Result<(), JobError> {
            if payload.is_object() {
                Ok(())
            } else {
                Err(JobError::InvalidPayload("expected an object".into()))
            }
        }
        async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
            Ok(ctx.payload().clone())
        }
    }

    #[test]
    fn validates_kind_then_payload() {
        let mut registry = JobKinds::new();
        registry.register(Arc::new(Echo));
        assert_eq!(registry.kinds(), vec!["echo"]);
        assert!(registry.validate("echo", &serde_json::json!({})).is_ok());
        assert!(matches!(
            registry.validate("echo", &serde_json::json!(3)),
            Err(JobError::InvalidPayload(_))
        ));
        assert!(matches!(
            registry.validate("nope", &serde_json::json!({})),
            Err(JobError::UnknownKind { kind, known }) if kind == "nope" && known == vec!["echo"]
        ));
    }
}
