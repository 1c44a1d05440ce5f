//! The shared services one process holds: settings, metadata DB, lake. Built once at start
//! and cloned (cheaply) into the API, the worker and the scheduler.

use std::sync::Arc;

use crate::config::Settings;
use crate::db::Db;
use crate::lake::Lake;

#[derive(Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub lake: Arc<Lake>,
}

impl App {
    /// Connects to the DB (running migrations) and opens the lake.
    pub async fn open(settings: Settings) -> crate::Result<App> {
        let db = Db::open(&settings.database_url).await?;
        let lake = Lake::open(&settings, db.clone()).await?;
        Ok(App {
            settings: Arc::new(settings),
            db,
            lake: Arc::new(lake),
        })
    }
}
