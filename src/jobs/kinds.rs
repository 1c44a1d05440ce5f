//! Built-in job kinds. Each handler parses its payload, calls one domain function and returns
//! that function's report as the job result; the work itself lives in the domain modules.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::JobError;
use super::registry::{JobContext, JobHandler, JobRegistry};

/// Registers every built-in kind (what [`JobRegistry::builtin`] holds).
pub fn register_builtin(registry: &mut JobRegistry) {
    registry.register(Arc::new(SweepLake));
}

/// Parses a payload object into `T`; `null` (no payload given) reads as `{}`. Only objects
/// are accepted: serde would otherwise read `[1]` as a struct by field position.
fn parse_payload<T: serde::de::DeserializeOwned>(
    payload: &serde_json::Value,
) -> Result<T, JobError> {
    let value = match payload {
        serde_json::Value::Null => serde_json::json!({}),
        serde_json::Value::Object(_) => payload.clone(),
        _ => return Err(JobError::InvalidPayload("expected a JSON object".into())),
    };
    serde_json::from_value(value).map_err(|e| JobError::InvalidPayload(e.to_string()))
}

/// `sweep_lake`: deletes files of lake runs that never committed (crashed writers).
pub struct SweepLake;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepLakePayload {
    /// Leave files younger than this alone; default `lake.sweep_grace_seconds`.
    grace_seconds: Option<u64>,
}

#[async_trait]
impl JobHandler for SweepLake {
    fn kind(&self) -> &'static str {
        "sweep_lake"
    }

    fn validate(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        parse_payload::<SweepLakePayload>(payload).map(|_| ())
    }

    async fn run(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let payload: SweepLakePayload = parse_payload(ctx.payload())?;
        let app = ctx.app();
        let grace = payload
            .grace_seconds
            .unwrap_or(app.settings.lake.sweep_grace_seconds);
        ctx.progress(0.0, "sweeping uncommitted files").await;
        // Dropping the sweep midway is safe: what it has not deleted yet, the next sweep will.
        let report = tokio::select! {
            report = app.lake.sweep(Duration::from_secs(grace)) => report,
            _ = ctx.cancelled() => return Err(JobError::Cancelled),
        }
        .map_err(|e| JobError::Failed(format!("lake sweep failed: {e}")))?;
        serde_json::to_value(report)
            .map_err(|e| JobError::Failed(format!("cannot encode the sweep report: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sweep_payload_validation() {
        let h = SweepLake;
        assert!(h.validate(&json!({})).is_ok());
        assert!(h.validate(&serde_json::Value::Null).is_ok());
        assert!(h.validate(&json!({"grace_seconds": 60})).is_ok());
        for bad in [
            json!({"grace_seconds": -1}),
            json!({"grace_seconds": "1h"}),
            json!({"grace": 5}),
            json!([1]),
        ] {
            assert!(
                matches!(h.validate(&bad), Err(JobError::InvalidPayload(_))),
                "{bad}"
            );
        }
    }
}
