//! An in-process service over a fresh SQLite database and file lake whose `sales` pipeline
//! reads `*.csv` from `dir/landing`: how the forecasting benches land their data and call the
//! service's training path without a server.
#![allow(dead_code)] // each bench includes this file and uses part of it

use std::path::Path;

/// Opens the service on `dir` (database, lake and pipelines inside it), with `settings` as
/// further `RECAST_*` variables; the pipeline reads a `date` column as `%Y-%m-%d`.
pub async fn open(dir: &Path, settings: &[(&str, &str)]) -> recast::app::App {
    open_with_columns(dir, "date = { format = \"%Y-%m-%d\" }\n", settings).await
}

/// [`open`] with `columns` (TOML lines of the pipeline's `[columns]` table, before its
/// `on_promo` default) instead of the daily `date` column.
pub async fn open_with_columns(
    dir: &Path,
    columns: &str,
    settings: &[(&str, &str)],
) -> recast::app::App {
    use recast::config::{Settings, Sources};
    let pipelines = dir.join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();
    std::fs::write(
        pipelines.join("sales.toml"),
        format!(
            "name = \"sales\"\ndataset = \"sales\"\n[source]\ntype = \"files\"\n\
             url = \"file://{}\"\npattern = \"*.csv\"\n[columns]\n{columns}\
             on_promo = {{ default = \"false\" }}\n",
            dir.join("landing").display()
        ),
    )
    .unwrap();
    let mut env = vec![
        (
            "RECAST_DATABASE_URL".to_string(),
            format!("sqlite://{}?mode=rwc", dir.join("recast.db").display()),
        ),
        (
            "RECAST_LAKE_URL".to_string(),
            format!("file://{}", dir.join("lake").display()),
        ),
        (
            "RECAST_PIPELINES_DIR".to_string(),
            pipelines.display().to_string(),
        ),
    ];
    env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = Settings::load(&Sources {
        file: None,
        env,
        overrides: Vec::new(),
    })
    .unwrap();
    recast::service::open(settings).await.unwrap()
}

/// Runs the `sales` pipeline over whatever waits in the landing folder.
pub async fn land(app: &recast::app::App) -> recast::etl::report::RunReport {
    let spec = recast::etl::pipelines::find_pipeline(app, "sales").unwrap();
    recast::etl::runner::run_pipeline(app, &spec, &recast::progress::none())
        .await
        .unwrap()
}

/// Runs the service's training path with `payload` (a `train_forecaster` payload) and times
/// it: the report and the seconds the run took.
pub async fn train(
    app: &recast::app::App,
    payload: serde_json::Value,
) -> (recast::forecast::report::TrainReport, f64) {
    let params: recast::forecast::train::TrainParams = serde_json::from_value(payload).unwrap();
    let t0 = std::time::Instant::now();
    let report = recast::forecast::train::run(app, &params, &recast::progress::none())
        .await
        .unwrap();
    (report, t0.elapsed().as_secs_f64())
}
