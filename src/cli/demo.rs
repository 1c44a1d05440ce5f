//! `recast demo`: one command from an empty directory to a running shop.
//!
//! It generates the demo world (`crate::demo`) into the landing zone that the pipeline
//! definitions name, lands it with the same runner the scheduler uses (so the demo shows the
//! real validation, quarantine and dedup, not a shortcut), creates an admin key and prints
//! what happened. With `--serve` it then becomes `recast serve`.
//!
//! Where to write comes from the loaded definitions, never from hard-coded paths: each
//! dataset's files go to the `url` of the files pipeline that feeds it, and the definition
//! is checked first (file-name pattern, format, source column names) so a customised
//! pipeline that would not read the demo's files fails here with a clear message instead of
//! landing nothing. In a directory without definitions the shipped ones are written to
//! `pipelines_dir` first, so the demo (and a later `recast serve`) work from anywhere.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use clap::Args;
use comfy_table::{CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};

use super::bar::Bar;

use crate::app::App;
use crate::auth::{KeyStore, Role};
use crate::config::Settings;
use crate::demo::{self, DemoConfig, DemoSummary, LandingDirs};
use crate::error::{Error, Result};
use crate::etl::report::RunReport;
use crate::etl::runner;
use crate::etl::spec::{FileFormat, PipelineSpec, SourceSpec};
use crate::etl::{Dataset, spec};
use crate::forecast::series::{Frequency, Level};
use crate::forecast::train::{SelectBy, TrainParams as ForecastParams};
use crate::recommend::artifact::ModelKind;
use crate::recommend::eval::MIN_MEANINGFUL_USERS;
use crate::recommend::train::{REGISTRY_KIND, TrainParams as RecommenderParams, TrainReport};
use crate::{forecast, recommend};

/// Options of `recast demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Customers to generate.
    #[arg(long, default_value_t = 2_000)]
    pub users: usize,
    /// Catalogue items to generate (at least one per category, 8).
    #[arg(long, default_value_t = 500)]
    pub items: usize,
    /// Days of daily store sales ending yesterday (the clickstream covers the last 90 at most).
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Random seed: the same seed (on the same day) gives the same world.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep running as `recast serve` afterwards.
    #[arg(long)]
    pub serve: bool,
    /// With `--serve`: the address to listen on (overrides `listen`). It is taken before any
    /// work, so a busy port is reported at once.
    #[arg(long, value_name = "HOST:PORT", requires = "serve")]
    pub listen: Option<String>,
}

/// The definitions shipped in `pipelines/`, for directories that have none.
const SHIPPED_PIPELINES: &[(&str, &str)] = &[
    ("events.toml", include_str!("../../pipelines/events.toml")),
    (
        "interactions.toml",
        include_str!("../../pipelines/interactions.toml"),
    ),
    ("items.toml", include_str!("../../pipelines/items.toml")),
    ("sales.toml", include_str!("../../pipelines/sales.toml")),
    ("users.toml", include_str!("../../pipelines/users.toml")),
    (
        "features.toml",
        include_str!("../../pipelines/features.toml"),
    ),
];

/// Writes the shipped definitions when `dir` holds none; returns whether it did.
fn install_shipped_pipelines(dir: &Path) -> Result<bool> {
    let has_any = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.path().extension().is_some_and(|x| x == "toml"))
        })
        .unwrap_or(false);
    if has_any {
        return Ok(false);
    }
    let io =
        |e: std::io::Error| Error::Internal(format!("cannot write {}: {e}", dir.display()).into());
    std::fs::create_dir_all(dir).map_err(io)?;
    for (name, text) in SHIPPED_PIPELINES {
        std::fs::write(dir.join(name), text).map_err(io)?;
    }
    Ok(true)
}

/// The format the demo writes for a dataset.
fn demo_format(dataset: Dataset) -> FileFormat {
    match dataset {
        Dataset::Items => FileFormat::Ndjson,
        _ => FileFormat::Csv,
    }
}

/// Checks that `spec` would read the demo's files for its dataset; the reason when not.
fn check_reads_demo_files(
    spec: &PipelineSpec,
    config: &DemoConfig,
) -> std::result::Result<(), String> {
    let SourceSpec::Files {
        pattern, format, ..
    } = &spec.source
    else {
        return Err("not a files pipeline".into());
    };
    let dataset = spec.dataset;
    if let Some(f) = format
        && *f != demo_format(dataset)
    {
        return Err(format!(
            "reads {f:?} files; the demo writes {:?}",
            demo_format(dataset)
        ));
    }
    if let Some(p) = pattern {
        let matcher = globset::Glob::new(p)
            .map_err(|e| e.to_string())?
            .compile_matcher();
        if let Some(name) = config
            .file_names(dataset)
            .into_iter()
            .find(|n| !matcher.is_match(n))
        {
            return Err(format!(
                "its pattern `{p}` does not match the demo's file `{name}`"
            ));
        }
    }
    let columns = demo::source_columns(dataset);
    for (canonical, c) in &spec.columns {
        if let Some(from) = &c.from
            && !columns.contains(&from.as_str())
        {
            return Err(format!(
                "column `{canonical}` reads `{from}`, which the demo does not write ({})",
                columns.join(", ")
            ));
        }
    }
    Ok(())
}

/// The landing directory of each dataset: the first `file://` files pipeline that feeds it
/// and reads the demo's layout.
fn landing_dirs(specs: &[PipelineSpec], config: &DemoConfig, cwd: &Path) -> Result<LandingDirs> {
    let find = |dataset: Dataset| -> Result<PathBuf> {
        let mut reasons = Vec::new();
        for spec in specs.iter().filter(|s| s.dataset == dataset) {
            let SourceSpec::Files { url, .. } = &spec.source else {
                continue;
            };
            let Some(dir) = url.strip_prefix("file://") else {
                reasons.push(format!(
                    "`{}` reads {} (the demo writes local files only)",
                    spec.name,
                    crate::lake::store::redact(url)
                ));
                continue;
            };
            match check_reads_demo_files(spec, config) {
                Ok(()) => return Ok(Settings::resolve_path(cwd, dir)),
                Err(why) => {
                    reasons.push(format!("`{}` ({}): {why}", spec.name, spec.file.display()))
                }
            }
        }
        let detail = if reasons.is_empty() {
            format!("no files pipeline feeds the `{dataset}` dataset")
        } else {
            format!(
                "no pipeline can land the demo's `{dataset}` files: {}",
                reasons.join("; ")
            )
        };
        Err(Error::invalid("pipelines_dir", detail))
    };
    Ok(LandingDirs {
        interactions: find(Dataset::Interactions)?,
        sales: find(Dataset::Sales)?,
        items: find(Dataset::Items)?,
        users: find(Dataset::Users)?,
    })
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn right_aligned(table: &mut Table, from: usize) {
    for i in from..table.column_count() {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Order in which the pipelines run: reference data first, then facts.
fn run_order(dataset: Dataset) -> u8 {
    match dataset {
        Dataset::Items => 0,
        Dataset::Users => 1,
        Dataset::Interactions => 2,
        Dataset::Sales => 3,
    }
}

pub async fn run(settings: Settings, args: DemoArgs) -> Result<()> {
    // Taken first: a busy port is reported before minutes of work, not after.
    let listener = if args.serve {
        Some(super::serve::bind(&settings)?)
    } else {
        None
    };
    let cwd = std::env::current_dir()
        .map_err(|e| Error::Internal(format!("cannot read the working directory: {e}").into()))?;
    let pipelines_dir = Settings::resolve_path(&cwd, &settings.pipelines_dir);
    if install_shipped_pipelines(&pipelines_dir)? {
        eprintln!(
            "no pipeline definitions in {}: wrote the shipped ones there",
            pipelines_dir.display()
        );
    }
    let specs = spec::load_dir(&pipelines_dir).map_err(crate::etl::EtlError::from)?;

    let yesterday = Utc::now().date_naive() - chrono::Duration::days(1);
    let mut config = DemoConfig::new(yesterday).with_days(args.days);
    config.users = args.users;
    config.items = args.items;
    config.seed = args.seed;
    config.validate().map_err(|e| match e {
        demo::DemoError::Invalid { field, detail } => {
            Error::invalid(format!("--{field}"), format!("--{field} {detail}"))
        }
        other => Error::internal(other),
    })?;
    let dirs = landing_dirs(&specs, &config, &cwd)?;

    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    let summary = {
        let spinner = spinner.clone();
        let config = config.clone();
        let dirs = dirs.clone();
        tokio::task::spawn_blocking(move || {
            demo::generate(&config, &dirs, &|msg: &str| {
                spinner.set_message(msg.to_string())
            })
        })
        .await
        .map_err(|e| Error::Internal(format!("demo generator failed: {e}").into()))?
        .map_err(Error::internal)?
    };
    spinner.finish_and_clear();

    let app = crate::service::open(settings.clone()).await?;
    let outcome = land_and_report(&app, &specs, &summary).await;
    app.db.close().await;
    outcome?;
    match listener {
        Some(listener) => {
            eprintln!("serving; stop with Ctrl-C");
            super::serve::serve_on(settings, listener).await
        }
        None => Ok(()),
    }
}

/// Runs the files pipelines, makes the admin key, prints the summary.
async fn land_and_report(app: &App, specs: &[PipelineSpec], summary: &DemoSummary) -> Result<()> {
    let mut files: Vec<&PipelineSpec> = specs
        .iter()
        .filter(|s| matches!(s.source, SourceSpec::Files { .. }))
        .collect();
    files.sort_by_key(|s| (run_order(s.dataset), s.name.clone()));

    let mut reports: Vec<(String, Dataset, std::result::Result<RunReport, String>)> = Vec::new();
    for spec in files {
        let bar = Bar::new(&spec.name);
        let outcome = runner::run_pipeline(app, spec, &bar).await;
        bar.finish();
        reports.push((
            spec.name.clone(),
            spec.dataset,
            outcome.map_err(|e| e.to_string()),
        ));
    }

    let key = KeyStore::new(app.db.clone())
        .create("demo", Role::Admin)
        .await?;
    print_summary(summary, &reports);
    let failed: Vec<&str> = reports
        .iter()
        .filter(|(_, _, r)| r.is_err())
        .map(|(name, _, _)| name.as_str())
        .collect();
    if !failed.is_empty() {
        print_access(&app.settings, &key.secret);
        return Err(Error::Internal(
            format!("pipeline(s) failed: {}", failed.join(", ")).into(),
        ));
    }
    let landed = reports
        .iter()
        .any(|(_, _, r)| r.as_ref().is_ok_and(|r| r.files_read > 0));
    // Features first: the hybrid recommender learns from the feature store's snapshots.
    let mut outcome = materialize_features(app).await;
    if outcome.is_ok() {
        outcome = train_models(app, landed).await;
    }
    print_access(&app.settings, &key.secret);
    outcome
}

/// Materializes the shipped feature views over the demo's history (incremental: a re-run
/// recomputes only the newest day), so online features answer at once.
async fn materialize_features(app: &App) -> Result<()> {
    let dir = Path::new(&app.settings.pipelines_dir);
    let catalog = crate::features::catalog::sync_dir(&app.db, dir).await?;
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let progress = {
        let spinner = spinner.clone();
        move |_: f64, msg: &str| spinner.set_message(format!("materializing features: {msg}"))
    };
    let report =
        crate::features::materialize::materialize(app, &catalog, &Default::default(), &progress)
            .await;
    spinner.finish_and_clear();
    let report = report?;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec!["feature view", "days", "entity rows", "seconds"]);
    for v in &report.views {
        table.add_row(vec![
            format!("{} v{}", v.view, v.version),
            v.days.to_string(),
            thousands(v.rows),
            format!("{:.2}", v.seconds),
        ]);
    }
    right_aligned(&mut table, 1);
    println!("Feature store");
    println!("{table}");
    println!();
    Ok(())
}

/// Recommenders the demo trains and compares, popularity first (the baseline).
const DEMO_RECOMMENDERS: [ModelKind; 5] = [
    ModelKind::Popularity,
    ModelKind::ItemKnn,
    ModelKind::Als,
    ModelKind::Ease,
    ModelKind::Hybrid,
];

/// Trains the recommenders, promotes the best by NDCG, and fits the demand forecasts, so the
/// API answers as soon as it starts. Skipped when nothing new landed and a recommender is
/// already promoted (a second run in the same directory).
async fn train_models(app: &App, landed: bool) -> Result<()> {
    let registry = app.models.clone();
    if !landed && registry.promoted(REGISTRY_KIND).await?.is_some() {
        println!("models: nothing new landed; keeping the promoted versions");
        println!();
        return Ok(());
    }
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    let mut trained = Vec::new();
    for kind in DEMO_RECOMMENDERS {
        spinner.set_message(format!("training recommender {}", kind.as_str()));
        let params = RecommenderParams {
            model: kind,
            ..Default::default()
        };
        trained.push((
            kind,
            recommend::train::run(app, &params, std::sync::Arc::new(crate::progress::none()))
                .await?,
        ));
    }
    spinner.set_message("training demand forecasts");
    // One ETS per item by AICc: the demo's item series in seconds, where training's default
    // (`pooled`, 30 to 60 times the CPU) would keep a first look waiting over a minute.
    let forecast_params = ForecastParams {
        frequency: Frequency::Day,
        horizon: None,
        level: Level::Item,
        series: None,
        select: SelectBy::Aicc,
        ..ForecastParams::default()
    };
    let forecasts = forecast::train::run(app, &forecast_params, &crate::progress::none()).await;
    spinner.finish_and_clear();

    let reports: Vec<TrainReport> = trained.iter().map(|(_, r)| r.clone()).collect();
    let best = &trained[recommend::train::best_run(&reports).expect("at least one recommender")];
    registry.promote(&best.1.version.id).await?;
    let k = best.1.metrics.k;
    println!(
        "Recommenders (holdout: the last {} days)",
        RecommenderParams::default().holdout_days
    );
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "model".to_string(),
        format!("ndcg@{k}"),
        format!("precision@{k}"),
        format!("recall@{k}"),
        format!("map@{k}"),
        format!("hit_rate@{k}"),
        "coverage".to_string(),
        "users".to_string(),
        "version".to_string(),
    ]);
    for (kind, report) in &trained {
        let m = &report.metrics;
        let mut name = kind.as_str().to_string();
        if std::ptr::eq(report, &best.1) {
            name.push_str(" (promoted)");
        }
        table.add_row(vec![
            name,
            format!("{:.4}", m.ndcg),
            format!("{:.4}", m.precision),
            format!("{:.4}", m.recall),
            format!("{:.4}", m.map),
            format!("{:.4}", m.hit_rate),
            format!("{:.4}", m.coverage),
            if m.users >= MIN_MEANINGFUL_USERS {
                m.users.to_string()
            } else {
                format!("{} (not meaningful)", m.users)
            },
            report.version.id.clone(),
        ]);
    }
    right_aligned(&mut table, 1);
    println!("{table}");
    println!();
    let forecasts = forecasts?;
    println!(
        "Forecasts: {} of {} {} series fitted, horizon {} days",
        forecasts.series_fitted, forecasts.series_total, forecasts.level, forecasts.horizon
    );
    println!("{}", super::train_forecast::summary_table(&forecasts));
    println!();
    Ok(())
}

fn print_summary(
    summary: &DemoSummary,
    reports: &[(String, Dataset, std::result::Result<RunReport, String>)],
) {
    let c = &summary.config;
    println!(
        "recast demo: {} customers, {} items, {} stores; sales {} .. {}, clickstream from {} (seed {})",
        thousands(c.users as u64),
        thousands(c.items as u64),
        c.stores,
        c.sales_first_day(),
        c.end,
        c.interactions_first_day(),
        c.seed
    );
    println!();

    if summary.generated {
        println!("Landing zone");
    } else {
        println!(
            "Landing zone: every demo file was already there and was kept (delete the landing \
             directories to generate a new world)"
        );
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "dataset",
        "directory",
        "files written",
        "files kept",
        "clean rows",
        "bad rows",
        "duplicates",
    ]);
    for d in &summary.datasets {
        table.add_row([
            d.dataset.to_string(),
            d.dir.display().to_string(),
            d.files_written.len().to_string(),
            d.files_kept.len().to_string(),
            thousands(d.rows),
            thousands(d.bad_total()),
            thousands(d.duplicates),
        ]);
    }
    right_aligned(&mut table, 2);
    println!("{table}");
    if summary.generated {
        let funnel: Vec<String> = crate::demo::behaviour::EventKind::ALL
            .iter()
            .map(|k| {
                format!(
                    "{} {}",
                    thousands(summary.events_by_type.get(k.name()).copied().unwrap_or(0)),
                    k.name()
                )
            })
            .collect();
        println!("clickstream: {}", funnel.join(", "));
        println!(
            "store sales: {} item x store series, {} promotion days, {} stock-out days",
            thousands(summary.sales_series as u64),
            thousands(summary.promo_days as u64),
            thousands(summary.stockout_days as u64)
        );
        let mut kinds: std::collections::BTreeMap<&str, u64> = Default::default();
        for d in &summary.datasets {
            for (k, n) in &d.bad_rows {
                *kinds.entry(k.name()).or_default() += n;
            }
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("bad rows injected: {}", kinds.join(", "));
    }
    println!();

    println!("Pipelines");
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "pipeline",
        "dataset",
        "files",
        "rows read",
        "landed",
        "quarantined",
        "duplicates",
        "seconds",
    ]);
    for (name, dataset, report) in reports {
        match report {
            Ok(r) => table.add_row([
                name.clone(),
                dataset.to_string(),
                r.files_read.to_string(),
                thousands(r.rows_read),
                thousands(r.rows_landed),
                thousands(r.rows_quarantined),
                thousands(r.duplicates),
                format!("{:.1}", r.seconds),
            ]),
            Err(e) => table.add_row([name.clone(), dataset.to_string(), format!("failed: {e}")]),
        };
    }
    right_aligned(&mut table, 2);
    println!("{table}");
    for (name, _, report) in reports {
        if let Ok(r) = report
            && !r.quarantined_by_reason.is_empty()
        {
            let reasons: Vec<String> = r
                .quarantined_by_reason
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            println!("quarantined in {name}: {}", reasons.join(", "));
        }
    }
    if reports
        .iter()
        .all(|(_, _, r)| r.as_ref().is_ok_and(|r| r.files_read == 0))
    {
        println!("no new landing files: everything was landed by an earlier run");
    }
    println!();
}

/// The admin key and example calls, last, so they are on screen when the demo ends.
fn print_access(settings: &Settings, key: &str) {
    let mut addr = settings.listen_addr();
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let base = format!("http://{addr}");
    println!("Admin key (shown once, store it now): {key}");
    println!("API: {base}   docs: {base}/docs");
    println!("Try:");
    for example in examples(&base, key) {
        println!("  {example}");
    }
}

/// Example calls for the routes this build serves (read from its OpenAPI document, so the
/// list grows with the API and never shows a route that does not exist).
fn examples(base: &str, key: &str) -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_str(&crate::api::openapi::document()).unwrap_or_default();
    let paths: Vec<String> = doc["paths"]
        .as_object()
        .map(|p| p.keys().map(|k| normalise(k)).collect())
        .unwrap_or_default();
    let has = |p: &str| paths.iter().any(|x| x == p);
    let auth = format!("-H 'Authorization: Bearer {key}'");
    let mut out = Vec::new();
    if has("/healthz") {
        out.push(format!("curl -s {base}/healthz"));
    }
    if has("/v1/users/{}/recommendations") {
        out.push(format!(
            "curl -s {auth} {base}/v1/users/u00001/recommendations"
        ));
    }
    if has("/v1/items/{}/similar") {
        out.push(format!("curl -s {auth} {base}/v1/items/i00001/similar"));
    }
    if has("/v1/forecasts") {
        out.push(format!("curl -s {auth} '{base}/v1/forecasts'"));
    }
    if has("/v1/features/{}/{}") {
        out.push(format!(
            "curl -s {auth} {base}/v1/features/user_activity/u00001"
        ));
    }
    if has("/v1/pipelines") {
        out.push(format!("curl -s {auth} {base}/v1/pipelines"));
    }
    if has("/v1/events") {
        let ts = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        out.push(format!(
            "curl -s {auth} -H 'Content-Type: application/json' {base}/v1/events -d \
             '{{\"events\": [{{\"event_id\": \"demo-1\", \"user_id\": \"u00001\", \
             \"item_id\": \"i00001\", \"event_type\": \"view\", \"ts\": \"{ts}\"}}]}}'"
        ));
    }
    if has("/v1/jobs") {
        out.push(format!("curl -s {auth} {base}/v1/jobs"));
    }
    out
}

/// `/v1/users/{id}/x` -> `/v1/users/{}/x`: compare paths whatever the parameter names.
fn normalise(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_pipelines_read_the_demo_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let specs = spec::load_dir(&dir).unwrap();
        let config = DemoConfig::new(Utc::now().date_naive());
        let dirs = landing_dirs(&specs, &config, Path::new("/srv/shop")).unwrap();
        assert_eq!(dirs.sales, Path::new("/srv/shop/data/landing/sales"));
        assert_eq!(dirs.items, Path::new("/srv/shop/data/landing/items"));
    }

    #[test]
    fn a_pipeline_that_cannot_read_the_demo_files_is_named() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let mut specs = spec::load_dir(&dir).unwrap();
        for s in &mut specs {
            if s.dataset == Dataset::Sales
                && let SourceSpec::Files { pattern, .. } = &mut s.source
            {
                *pattern = Some("*.parquet".into());
            }
        }
        let config = DemoConfig::new(Utc::now().date_naive());
        let e = landing_dirs(&specs, &config, Path::new("/x")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("sales") && text.contains("*.parquet"),
            "{text}"
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            normalise("/v1/items/{item_id}/similar"),
            "/v1/items/{}/similar"
        );
        let ex = examples("http://h", "rk_x");
        assert!(ex.iter().any(|e| e.contains("/healthz")));
    }
}
