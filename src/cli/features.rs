//! `recast features`: list views and their versions, materialize, build point-in-time
//! training sets, look up online values.

use std::path::PathBuf;

use super::bar::Bar;
use chrono::NaiveDate;
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::app::App;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::features::materialize::{self, MaterializeReport, MaterializeRequest};
use crate::features::{catalog, historical, online};

#[derive(Subcommand, Debug)]
pub enum FeaturesCommand {
    /// List feature views: versions, features, materialized days.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Compute views day by day into the offline store and the latest day into the online
    /// store (incremental: resumes at the last materialized day).
    Materialize {
        /// Only these views (repeatable); default: all.
        #[arg(long = "view")]
        views: Vec<String>,
        /// First as-of day (YYYY-MM-DD), to backfill or recompute.
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last as-of day (YYYY-MM-DD); default: the newest source day.
        #[arg(long)]
        to: Option<NaiveDate>,
        #[arg(long)]
        json: bool,
    },
    /// Join features onto entity rows as of each row's timestamp (no leakage).
    Historical {
        /// Entity rows: .parquet, .csv, .json or .ndjson with key columns (user_id, item_id,
        /// store_id) and a timestamp column.
        #[arg(long)]
        entities: PathBuf,
        /// Features: `view:feature`, `view:*` or `view@VERSION:feature`, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        features: Vec<String>,
        /// Output Parquet file.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = historical::TIMESTAMP_COLUMN)]
        timestamp_column: String,
        #[arg(long)]
        json: bool,
    },
    /// Online values of one entity of a view.
    Online { view: String, entity_id: String },
}

pub async fn run(settings: Settings, command: FeaturesCommand) -> Result<()> {
    let app = crate::service::open_existing(settings).await?;
    let outcome = run_with(&app, command).await;
    app.db.close().await;
    outcome
}

async fn run_with(app: &App, command: FeaturesCommand) -> Result<()> {
    let pipelines_dir = PathBuf::from(&app.settings.pipelines_dir);
    let catalog = catalog::sync_dir(&app.db, &pipelines_dir).await?;
    match command {
        FeaturesCommand::List { json } => list(app, &catalog, json).await,
        FeaturesCommand::Materialize {
            views,
            from,
            to,
            json,
        } => {
            let bar = Bar::new("materialize");
            let request = MaterializeRequest { views, from, to };
            let outcome = materialize::materialize(app, &catalog, &request, &bar).await;
            bar.finish();
            let report = outcome?;
            if json {
                println!("{}", to_json(&report)?);
            } else {
                print_materialize(&report);
            }
            Ok(())
        }
        FeaturesCommand::Historical {
            entities,
            features,
            out,
            timestamp_column,
            json,
        } => {
            let input = historical::read_entity_file(&entities, &timestamp_column)?;
            let retrieved = historical::retrieve(
                &app.lake,
                &app.db,
                &catalog,
                &features,
                &input.keys,
                &input.timestamps,
            )
            .await?;
            let batch = historical::output_batch(&input.batch, &retrieved)?;
            historical::write_parquet(&out, &batch)?;
            if json {
                println!("{}", to_json(&retrieved.summary)?);
            } else {
                println!(
                    "wrote {} rows x {} features to {}",
                    retrieved.summary.rows,
                    retrieved.columns.len(),
                    out.display()
                );
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED);
                t.set_header(vec!["feature", "null rows"]);
                for (name, nulls) in &retrieved.summary.nulls {
                    t.add_row(vec![name.clone(), nulls.to_string()]);
                }
                println!("{t}");
                if retrieved.summary.rows_without_snapshot > 0 {
                    println!(
                        "warning: {} rows fall on days that are not materialized; their \
                         features are null (run `recast features materialize --from ...`)",
                        retrieved.summary.rows_without_snapshot
                    );
                }
            }
            Ok(())
        }
        FeaturesCommand::Online { view, entity_id } => {
            let store = online::OnlineStore::new(app.db.clone(), pipelines_dir);
            let (v, (view_state, values)) = store.entity(&view, &entity_id).await?;
            let body = serde_json::json!({
                "view": v.spec.name,
                "entity_id": entity_id,
                "state": view_state,
                "features": values.into_iter().collect::<serde_json::Map<_, _>>(),
            });
            println!("{}", to_json(&body)?);
            Ok(())
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(Error::internal)
}

async fn list(app: &App, catalog: &catalog::Catalog, json: bool) -> Result<()> {
    let views = catalog::describe_views(&app.db, catalog).await?;
    if json {
        println!("{}", to_json(&views)?);
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "view",
        "version",
        "entity",
        "source",
        "ttl days",
        "features",
        "materialized",
    ]);
    for v in views {
        let range = match (&v.materialized_from, &v.materialized_to) {
            (Some(a), Some(b)) => format!("{a} .. {b} ({} days)", v.materialized_days),
            _ => "never".into(),
        };
        t.add_row(vec![
            v.view,
            v.version.to_string(),
            v.entity,
            v.source,
            v.ttl_days.to_string(),
            v.features.len().to_string(),
            range,
        ]);
    }
    println!("{t}");
    Ok(())
}

fn print_materialize(report: &MaterializeReport) {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "view",
        "version",
        "days",
        "from",
        "to",
        "source rows",
        "rows",
        "rows/s",
        "note",
    ]);
    for v in &report.views {
        let rate = if v.seconds > 0.0 {
            format!("{:.0}", v.source_rows as f64 / v.seconds)
        } else {
            String::new()
        };
        t.add_row(vec![
            v.view.clone(),
            v.version.to_string(),
            v.days.to_string(),
            v.from.map(|d| d.to_string()).unwrap_or_default(),
            v.to.map(|d| d.to_string()).unwrap_or_default(),
            v.source_rows.to_string(),
            v.rows.to_string(),
            rate,
            v.skipped.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
    for v in &report.views {
        if v.stats.is_empty() {
            continue;
        }
        let mut s = Table::new();
        s.load_preset(UTF8_FULL_CONDENSED);
        s.set_header(vec![
            format!("{} (newest day)", v.view),
            "null rate".into(),
            "mean".into(),
            "min".into(),
            "max".into(),
            "distinct".into(),
        ]);
        let f = |x: Option<f64>| x.map(|x| format!("{x:.4}")).unwrap_or_default();
        for st in &v.stats {
            s.add_row(vec![
                st.feature.clone(),
                format!("{:.3}", st.null_rate),
                f(st.mean),
                f(st.min),
                f(st.max),
                st.distinct.to_string(),
            ]);
        }
        println!("{s}");
        for w in &v.warnings {
            println!("drift warning: {}: {w}", v.view);
        }
    }
}
