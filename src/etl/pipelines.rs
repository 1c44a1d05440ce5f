//! The pipelines of a deployment: the definitions in the configured directory, one by name,
//! and the cron schedules they declare.

use super::EtlError;
use super::spec::{PipelineSpec, SourceSpec};
use crate::app::App;

/// The pipelines defined in the configured directory.
pub fn load_pipelines(app: &App) -> Result<Vec<PipelineSpec>, EtlError> {
    let dir = crate::config::Settings::resolve_path(
        &std::env::current_dir().unwrap_or_default(),
        &app.settings.pipelines_dir,
    );
    let since = app.settings.plausible_since_date().ok();
    let mut specs = super::spec::load_dir(&dir)?;
    for spec in &mut specs {
        spec.plausible_since = since;
    }
    Ok(specs)
}

/// One pipeline by name.
pub fn find_pipeline(app: &App, name: &str) -> Result<PipelineSpec, EtlError> {
    load_pipelines(app)?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| EtlError::UnknownPipeline(name.to_string()))
}

/// The cron schedules the pipelines declare, as scheduler entries (`pipeline:<name>` running
/// the `run_pipeline` job). Event-buffer pipelines are flushed by every `serve` process on
/// its own interval and are not scheduled as jobs.
pub fn pipeline_schedules(specs: &[PipelineSpec]) -> Vec<crate::config::ScheduleSpec> {
    specs
        .iter()
        .filter(|s| !matches!(s.source, SourceSpec::Events { .. }))
        .filter_map(|s| {
            s.schedule.as_ref().map(|cron| crate::config::ScheduleSpec {
                name: format!("pipeline:{}", s.name),
                cron: cron.clone(),
                kind: "run_pipeline".into(),
                payload: serde_json::json!({ "pipeline": s.name }),
            })
        })
        .collect()
}
