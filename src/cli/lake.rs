//! `recast lake`: table maintenance an operator runs by hand.
//!
//! `migrate` turns a lake written before the Delta logs existed into Delta tables in place:
//! every committed file of the old commit log is registered in its table's log (orphans are
//! left to the sweep), idempotently, so an interrupted migrate is finished by running it again;
//! forecast exports kept as one file per run move into the `exports/` Delta tables.

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::config::Settings;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::migrate::Published;

#[derive(Subcommand, Debug)]
pub enum LakeCommand {
    /// Register a lake from before the Delta logs in Delta logs (idempotent).
    Migrate {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// The lake's tables, then the forecast exports of older runs.
async fn migrate(lake: &Lake) -> Result<Vec<Published>> {
    let mut published = lake.migrate().await?;
    published.extend(crate::forecast::legacy_exports::migrate(lake).await?);
    Ok(published)
}

pub async fn run(settings: Settings, command: LakeCommand) -> Result<()> {
    let db = Db::open(&settings.database_url).await?;
    let lake = Lake::open(&settings, db.clone()).await?;
    let LakeCommand::Migrate { json } = command;
    let published = migrate(&lake).await;
    db.close().await;
    let published = published?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&published).map_err(Error::internal)?
        );
        return Ok(());
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "table",
        "commits published now",
        "delta version",
        "through commit",
    ]);
    for p in &published {
        table.add_row([
            p.table.clone(),
            p.commits.to_string(),
            p.version.map_or("-".into(), |v| v.to_string()),
            p.through_commit.map_or("-".into(), |v| v.to_string()),
        ]);
    }
    println!("{table}");
    eprintln!(
        "{} tables are Delta tables in {}",
        published.len(),
        lake.url()
    );
    Ok(())
}
