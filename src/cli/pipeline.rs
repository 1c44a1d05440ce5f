//! `recast pipeline list|run|runs`: inspect definitions, run one now with a progress bar,
//! and read past run reports. `--json` for scripts.

use std::collections::HashMap;

use super::bar::Bar;
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::app::App;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::etl::report::RunReport;
use crate::etl::spec::SourceSpec;
use crate::etl::{pipelines, runner};

#[derive(Subcommand, Debug)]
pub enum PipelineCommand {
    /// List the pipeline definitions and their last run.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Run one pipeline now, in this process.
    Run {
        name: String,
        /// Stream sources (type nats): keep following the stream until SIGTERM or Ctrl-C,
        /// instead of taking what waits and stopping.
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        json: bool,
    },
    /// Recent run reports, newest first.
    Runs {
        /// Only this pipeline.
        name: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(Error::internal)
}

fn source_label(source: &SourceSpec) -> String {
    match source {
        SourceSpec::Files { url, .. } => crate::lake::store::redact(url),
        SourceSpec::Sql { table, query, .. } => {
            format!(
                "sql: {}",
                table.as_deref().or(query.as_deref()).unwrap_or("")
            )
        }
        SourceSpec::Events { .. } => "POST /v1/events".into(),
        SourceSpec::Nats { stream, .. } => format!("nats: stream {stream}"),
    }
}

/// `recast pipeline run NAME --follow`: a dedicated stream consumer process.
async fn follow_stream(app: &App, name: &str) -> Result<()> {
    let spec = pipelines::find_pipeline(app, name)?;
    if !matches!(spec.source, SourceSpec::Nats { .. }) {
        return Err(Error::Invalid {
            field: Some("--follow".into()),
            detail: format!(
                "pipeline `{name}` does not read a stream; --follow is for type = \"nats\""
            ),
        });
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            super::serve::shutdown_signal().await;
            stop.cancel();
        })
    };
    eprintln!("following pipeline `{name}`; SIGTERM or Ctrl-C stops");
    crate::etl::source::nats::follow(app.clone(), spec, REPORT_EVERY, stop).await;
    signal.abort();
    Ok(())
}

/// A stream follower stores a run report this often (when it moved rows).
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn run(settings: Settings, command: PipelineCommand) -> Result<()> {
    let app = crate::service::open(settings).await?;
    let result = dispatch(&app, command).await;
    app.db.close().await;
    result
}

async fn dispatch(app: &App, command: PipelineCommand) -> Result<()> {
    match command {
        PipelineCommand::List { json } => {
            let specs = pipelines::load_pipelines(app)?;
            let last: HashMap<String, RunReport> = runner::list_runs(app, None, 500)
                .await?
                .into_iter()
                .rev()
                .map(|r| (r.pipeline.clone(), r))
                .collect();
            if json {
                let items: Vec<serde_json::Value> = specs
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "name": s.name, "dataset": s.dataset, "schedule": s.schedule,
                            "source": source_label(&s.source), "description": s.description,
                            "last_run": last.get(&s.name),
                        })
                    })
                    .collect();
                println!("{}", to_json(&items)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED).set_header([
                "pipeline", "dataset", "schedule", "source", "last run", "status",
            ]);
            for s in specs {
                let run = last.get(&s.name);
                table.add_row([
                    s.name.clone(),
                    s.dataset.to_string(),
                    s.schedule.clone().unwrap_or_else(|| "on demand".into()),
                    source_label(&s.source),
                    run.map(|r| r.started_at.clone()).unwrap_or_default(),
                    run.map(|r| r.status.clone()).unwrap_or_default(),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        PipelineCommand::Run { name, follow, .. } if follow => follow_stream(app, &name).await,
        PipelineCommand::Run { name, json, .. } => {
            let spec = pipelines::find_pipeline(app, &name)?;
            let bar = Bar::new(&name);
            let outcome = runner::run_pipeline(app, &spec, &bar).await;
            bar.finish();
            let report = outcome?;
            let scored = crate::service::after_landing(app, &spec, &report).await;
            if json {
                println!("{}", to_json(&report)?);
            } else {
                print_report(&report);
                if let Some(s) = scored {
                    println!(
                        "forecasts scored against the new sales: {} series, {} points",
                        s.series_scored, s.points_scored
                    );
                }
            }
            Ok(())
        }
        PipelineCommand::Runs { name, limit, json } => {
            if let Some(n) = &name {
                pipelines::find_pipeline(app, n)?;
            }
            let runs = runner::list_runs(app, name.as_deref(), limit.clamp(1, 1000)).await?;
            if json {
                println!("{}", to_json(&runs)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED).set_header([
                "started",
                "pipeline",
                "status",
                "read",
                "landed",
                "quarantined",
                "duplicates",
                "seconds",
            ]);
            for r in runs {
                table.add_row([
                    r.started_at,
                    r.pipeline,
                    r.status,
                    r.rows_read.to_string(),
                    r.rows_landed.to_string(),
                    r.rows_quarantined.to_string(),
                    r.duplicates.to_string(),
                    format!("{:.1}", r.seconds),
                ]);
            }
            println!("{table}");
            Ok(())
        }
    }
}

/// A finished run, for people.
pub fn print_report(r: &RunReport) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let mut row = |k: &str, v: String| {
        table.add_row([k.to_string(), v]);
    };
    row("pipeline", r.pipeline.clone());
    row("run", r.run_id.clone());
    row("status", r.status.clone());
    row("rows read", r.rows_read.to_string());
    row("rows landed", r.rows_landed.to_string());
    row("rows quarantined", r.rows_quarantined.to_string());
    for (reason, n) in &r.quarantined_by_reason {
        row(&format!("  {reason}"), n.to_string());
    }
    row(
        "duplicates dropped",
        format!(
            "{} (in run {}, already landed {})",
            r.duplicates, r.duplicates_in_run, r.duplicates_landed
        ),
    );
    row("files read", r.files_read.to_string());
    row(
        "bytes read / written",
        format!("{} / {}", r.bytes_read, r.bytes_written),
    );
    row("seconds", format!("{:.2}", r.seconds));
    if r.already_landed {
        row(
            "note",
            "this input was landed before; nothing new published".into(),
        );
    }
    println!("{table}");
}
