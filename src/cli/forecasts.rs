//! `recast forecasts`: how accurate stored forecasts turned out once their actuals landed
//! (`forecast::realised`), scoring them on demand, and planner overrides
//! (`forecast::overrides`, the same functions the HTTP routes call).

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::forecast::overrides::{self, NewOverride};
use crate::forecast::realised::{self, Group, Realised};

#[derive(Subcommand, Debug)]
pub enum ForecastsCommand {
    /// Realised accuracy of one series (its latest scored run) or of a whole run.
    Accuracy {
        /// A series id (e.g. `item=I1/store=S1`).
        #[arg(long, conflicts_with = "run", required_unless_present = "run")]
        series: Option<String>,
        /// A forecast run id.
        #[arg(long)]
        run: Option<String>,
        /// Realised MASE above this many times the backtest MASE flags drift.
        #[arg(long, default_value_t = realised::DEFAULT_DRIFT_FACTOR)]
        drift_factor: f64,
        #[arg(long)]
        json: bool,
    },
    /// Score every stored forecast against the actuals in `sales` now (landing new sales
    /// does this by itself).
    Score {
        #[arg(long)]
        json: bool,
    },
    /// Set a planner override of a series' forecast (recorded as set by `cli`).
    Override {
        #[arg(long)]
        series: String,
        /// First period start (YYYY-MM-DD, or YYYY-MM-DDTHH:00:00Z on an hourly series).
        #[arg(long)]
        start: crate::forecast::period::Period,
        /// Last period start (default: --start); a date covers each of its hours.
        #[arg(long)]
        end: Option<crate::forecast::period::Period>,
        /// The quantity to plan.
        #[arg(long, conflicts_with = "percent", required_unless_present = "percent")]
        value: Option<f64>,
        /// A change of the statistical forecast in percent.
        #[arg(long, allow_hyphen_values = true)]
        percent: Option<f64>,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// A series' overrides, withdrawn ones too, with their forecast value added.
    Overrides {
        #[arg(long)]
        series: String,
        #[arg(long)]
        json: bool,
    },
    /// Withdraw an override (it stays in the trail).
    Withdraw {
        #[arg(long)]
        series: String,
        /// The override id.
        id: String,
    },
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(Error::internal)
}

/// Who the audit trail names for overrides set from the command line.
const CLI_USER: &str = "cli";

fn overrides_table(list: &overrides::OverrideList) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "id",
        "from",
        "to",
        "change",
        "reason",
        "by",
        "set",
        "active",
        "value added",
    ]);
    for o in &list.overrides {
        let change = match (o.value, o.percent) {
            (Some(v), _) => format!("= {v}"),
            (_, Some(p)) => format!("{p:+}%"),
            _ => "-".into(),
        };
        t.add_row(vec![
            o.override_id.clone(),
            o.start.to_string(),
            o.end.to_string(),
            change,
            o.reason.clone(),
            o.created_by.clone(),
            o.created_at.clone(),
            if o.active { "yes" } else { "no" }.into(),
            figure(o.value_added.as_ref().map(|v| v.value_added)),
        ]);
    }
    t
}

fn figure(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into())
}

fn table(overall: &Realised, groups: &[(&str, &[Group])]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "group", "points", "mase", "smape", "bias", "cover 80", "cover 95",
    ]);
    let mut row = |name: String, r: &Realised| {
        t.add_row(vec![
            name,
            r.points.to_string(),
            figure(r.mase),
            figure(r.smape),
            figure(r.bias),
            figure(r.coverage_80),
            figure(r.coverage_95),
        ]);
    };
    row("all".into(), overall);
    for (label, gs) in groups {
        for g in *gs {
            row(
                format!("{label} {}", g.key.trim_start_matches('0')),
                &g.realised,
            );
        }
    }
    t
}

pub async fn run(settings: Settings, command: ForecastsCommand) -> Result<()> {
    if let ForecastsCommand::Accuracy { drift_factor, .. } = &command
        && !(1.0..=100.0).contains(drift_factor)
    {
        return Err(Error::invalid("drift_factor", "must be between 1 and 100"));
    }
    let app = crate::service::open_existing(settings).await?;
    let outcome = run_with(&app, command).await;
    app.db.close().await;
    outcome
}

async fn run_with(app: &crate::app::App, command: ForecastsCommand) -> Result<()> {
    match command {
        ForecastsCommand::Override {
            series,
            start,
            end,
            value,
            percent,
            reason,
            json,
        } => {
            let new = NewOverride {
                start,
                end,
                value,
                percent,
                reason,
            };
            let view = overrides::create(app, &series, &new, CLI_USER).await?;
            if json {
                println!("{}", to_json(&view)?);
            } else {
                println!("override {} set on {series}", view.override_id);
            }
        }
        ForecastsCommand::Overrides { series, json } => {
            let list = overrides::list(app, &series).await?;
            if json {
                println!("{}", to_json(&list)?);
            } else {
                println!("{}", overrides_table(&list));
            }
        }
        ForecastsCommand::Withdraw { series, id } => {
            let view = overrides::retire(app, &series, &id, CLI_USER).await?;
            println!("override {} withdrawn", view.override_id);
        }
        ForecastsCommand::Score { json } => {
            let report = realised::score(app).await?;
            if json {
                println!("{}", to_json(&report)?);
            } else {
                println!(
                    "scored {} points of {} series against sales through {}",
                    report.points_scored,
                    report.series_scored,
                    report
                        .actuals_through
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "-".into())
                );
            }
        }
        ForecastsCommand::Accuracy {
            series: Some(series),
            drift_factor,
            json,
            ..
        } => {
            let a = realised::series_accuracy(app, &series, drift_factor).await?;
            if json {
                println!("{}", to_json(&a)?);
                return Ok(());
            }
            println!("{}", table(&a.realised, &[("step", &a.by_step)]));
            println!(
                "run {}; backtest MASE {}; {}",
                a.run_id.as_deref().unwrap_or("-"),
                figure(a.backtest_mase),
                if a.drift { "DRIFT" } else { "no drift" }
            );
        }
        ForecastsCommand::Accuracy {
            run: Some(run),
            drift_factor,
            json,
            ..
        } => {
            let a = realised::run_accuracy(app, &run, drift_factor).await?;
            if json {
                println!("{}", to_json(&a)?);
                return Ok(());
            }
            println!(
                "{}",
                table(&a.realised, &[("step", &a.by_step), ("level", &a.by_level)])
            );
            println!(
                "{} series scored; mean backtest MASE {}; {} drifting",
                a.series_scored,
                figure(a.backtest_mase),
                a.drifting_series.len()
            );
        }
        ForecastsCommand::Accuracy { .. } => {
            return Err(Error::invalid("series", "name --series or --run"));
        }
    }
    Ok(())
}
