//! Start-up: the one place that wires the domains into the generic machinery and starts a
//! process's services.
//!
//! Why here: the job queue, the model registry and the HTTP layer are generic; which job kinds
//! exist and what promoting a forecaster means are decisions about the whole product. Making
//! them here (and nowhere else) keeps `jobs` and `registry` free of upward calls, and gives
//! `recast serve`, `recast worker`, every CLI command, the integration tests and the benches
//! the same wiring.

pub mod kinds;
pub mod server;

use std::sync::Arc;

use crate::app::App;
use crate::config::Settings;
use crate::error::Result;
use crate::jobs::JobKinds;
use crate::registry::PromoteHooks;

/// Every built-in job kind.
pub fn job_kinds() -> JobKinds {
    let mut table = JobKinds::new();
    kinds::register_builtin(&mut table);
    table
}

/// The promotion hooks of every model kind that has one.
pub fn promote_hooks() -> PromoteHooks {
    let mut hooks = PromoteHooks::default();
    hooks.register(
        crate::forecast::versions::REGISTRY_KIND,
        Arc::new(crate::forecast::versions::RestoreForecasts),
    );
    hooks
}

/// What follows a pipeline run that landed rows: new sales score the stored forecasts
/// against their actuals (`forecast::realised`). Best effort: a failure is logged and the
/// landing stands (the next landing, or `recast forecasts score`, scores again).
pub async fn after_landing(
    app: &App,
    spec: &crate::etl::PipelineSpec,
    report: &crate::etl::report::RunReport,
) -> Option<crate::forecast::realised::ScoreReport> {
    if spec.dataset != crate::etl::Dataset::Sales || report.rows_landed == 0 {
        return None;
    }
    match crate::forecast::realised::score(app).await {
        Ok(scored) => Some(scored),
        Err(e) => {
            tracing::warn!(error = %e, "forecasts not scored against the new sales");
            None
        }
    }
}

/// [`open`] for commands that only read state: an embedded database that does not exist is
/// an error naming where it was looked for, instead of a new, empty world (a command run in
/// the wrong directory).
pub async fn open_existing(settings: Settings) -> Result<App> {
    if let Some(file) = crate::db::sqlite_file(&settings.database_url)
        && !file.exists()
    {
        return Err(crate::error::Error::Unavailable {
            detail: format!(
                "no recast state here: the database {} does not exist; run the command where \
                 recast's data/ is, or set RECAST_DATABASE_URL (or `database_url` in recast.toml)",
                file.display()
            ),
        });
    }
    open(settings).await
}

/// Opens the shared services (DB, lake, model registry) with the start-up wiring.
pub async fn open(settings: Settings) -> Result<App> {
    Ok(App::open(settings, promote_hooks()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_include_the_lake_sweep() {
        assert!(job_kinds().kinds().contains(&"sweep_lake"));
    }

    #[test]
    fn gated_training_payloads_are_checked_when_queued() {
        let kinds = job_kinds();
        let gated = serde_json::json!({
            "model": "als",
            "gate": { "metric": "ndcg", "min_gain": 0.01, "min_coverage": 0.05 },
        });
        kinds.validate("train_recommender", &gated).unwrap();
        let bad = serde_json::json!({ "model": "als", "gate": { "min_coverage": 2.0 } });
        let e = kinds.validate("train_recommender", &bad).unwrap_err();
        assert!(e.to_string().contains("gate.min_coverage"), "{e}");
        let unknown = serde_json::json!({ "model": "als", "gate": { "metric": "auc" } });
        assert!(kinds.validate("train_recommender", &unknown).is_err());
    }

    #[test]
    fn shipped_feature_view_schedules_name_a_registered_kind() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let views = crate::features::spec::load_dir(&dir).unwrap();
        let schedules = crate::features::spec::schedules(&views);
        assert_eq!(schedules.len(), views.len());
        job_kinds().check_schedules(&schedules).unwrap();
    }
}
