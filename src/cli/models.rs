//! `recast models`: list registered versions, promote one, roll back a kind. Serving
//! replicas pick up the change within seconds (they poll the registry).

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::config::Settings;
use crate::error::Result;
use crate::registry::Kind;

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// List versions, newest first.
    List {
        /// Only this kind (e.g. recommender).
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Promote a version: it serves from now on (its artifact is verified first).
    Promote { id: String },
    /// Re-promote the version promoted before the current one of KIND.
    Rollback { kind: String },
}

/// A promotion gate's decision in a few words: the outcome, the two scores.
fn gate_summary(gate: &serde_json::Value) -> String {
    let Some(promoted) = gate["promoted"].as_bool() else {
        return String::new();
    };
    let outcome = if promoted { "promoted" } else { "refused" };
    let metric = gate["metric"].as_str().unwrap_or("");
    match (gate["candidate"].as_f64(), gate["champion"].as_f64()) {
        (Some(c), Some(b)) => format!("{outcome}: {metric} {c:.4} vs {b:.4}"),
        (Some(c), None) => format!("{outcome}: {metric} {c:.4}, nothing promoted before"),
        _ => outcome.to_string(),
    }
}

pub async fn run(settings: Settings, command: ModelsCommand) -> Result<()> {
    let app = crate::service::open_existing(settings).await?;
    let registry = app.models.clone();
    let outcome = match command {
        ModelsCommand::List { kind, limit, json } => {
            let versions = registry
                .list(
                    kind.as_deref().map(Kind::parse).transpose()?,
                    limit.clamp(1, 10_000),
                )
                .await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&versions).unwrap_or_default()
                );
            } else {
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED);
                t.set_header(vec![
                    "id", "kind", "model", "status", "ndcg", "gate", "created", "promoted",
                ]);
                for v in versions {
                    let ndcg = v.metrics["model"]["ndcg"]
                        .as_f64()
                        .map(|x| format!("{x:.4}"))
                        .unwrap_or_default();
                    t.add_row(vec![
                        v.id,
                        v.kind,
                        v.params["model"].as_str().unwrap_or("").to_string(),
                        v.status,
                        ndcg,
                        gate_summary(&v.metrics["gate"]),
                        v.created_at,
                        v.promoted_at.unwrap_or_default(),
                    ]);
                }
                println!("{t}");
            }
            Ok(())
        }
        ModelsCommand::Promote { id } => registry.promote(&id).await.map(|v| {
            println!("promoted {} version {}", v.kind, v.id);
        }),
        ModelsCommand::Rollback { kind } => registry.rollback(Kind::parse(&kind)?).await.map(|v| {
            println!("rolled back {kind}: version {} is promoted again", v.id);
        }),
    };
    app.db.close().await;
    Ok(outcome?)
}
