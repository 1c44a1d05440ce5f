//! `recast keys`: create, list and revoke API keys, directly against the DB, so the first
//! admin key can be made before any server runs.

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::auth::{KeyStore, Role};
use crate::config::Settings;
use crate::db::{Db, ms_to_rfc3339};
use crate::error::{Error, Result};

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key and print it (alone, on stdout). It is shown only this once.
    Create {
        /// reader, ingest, planner or admin.
        #[arg(long)]
        role: String,
        /// A label to recognise the key by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List keys (never the secrets).
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; it stops working at once on this host, within seconds elsewhere.
    Revoke { id: String },
}

pub async fn run(settings: Settings, command: KeysCommand) -> Result<()> {
    let db = Db::open(&settings.database_url).await?;
    let store = KeyStore::new(db.clone());
    let outcome = match command {
        KeysCommand::Create { role, name } => {
            let role: Role = role
                .parse()
                .map_err(|e: String| Error::invalid("role", e))?;
            let created = store.create(&name, role).await?;
            println!("{}", created.secret);
            eprintln!(
                "created {} key {} ({}); store it now, it cannot be shown again",
                created.info.role, created.info.id, created.info.name
            );
            Ok(())
        }
        KeysCommand::List { json } => {
            let keys = store.list().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&keys).map_err(Error::internal)?
                );
            } else {
                let mut table = Table::new();
                table.load_preset(UTF8_FULL_CONDENSED).set_header([
                    "id",
                    "name",
                    "role",
                    "created",
                    "last used",
                    "revoked",
                ]);
                for k in keys {
                    table.add_row([
                        k.id,
                        k.name,
                        k.role.to_string(),
                        ms_to_rfc3339(k.created_at),
                        k.last_used_at.map(ms_to_rfc3339).unwrap_or_default(),
                        k.revoked_at.map(ms_to_rfc3339).unwrap_or_default(),
                    ]);
                }
                println!("{table}");
            }
            Ok(())
        }
        KeysCommand::Revoke { id } => {
            let info = store.revoke(&id).await?;
            println!("revoked {} ({}, {})", info.id, info.name, info.role);
            Ok(())
        }
    };
    db.close().await;
    outcome
}
