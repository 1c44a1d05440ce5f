//! The shared services one process holds: settings, metadata DB, lake and the model registry.
//! Built once at start (`service::open` registers what start-up wires in) and cloned
//! (cheaply) into the API, the worker and the scheduler.

use std::sync::Arc;

use crate::config::Settings;
use crate::db::activity_cache::{ActivityCache, ActivitySource};
use crate::db::{Db, DbError};
use crate::lake::{Lake, LakeError};
use crate::registry::{ModelRegistry, PromoteHooks};

#[derive(Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub lake: Arc<Lake>,
    /// The model registry (all kinds), with the promotion hooks start-up registered.
    pub models: ModelRegistry,
    /// This process's copy of the users' recent activity (`recommend::activity_cache`),
    /// current while a serving process tails the table.
    pub activity: Arc<ActivityCache>,
}

/// Why the shared services could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Lake(#[from] LakeError),
}

impl App {
    /// Where this process reads the users' recent activity.
    pub fn activity_source(&self) -> ActivitySource<'_> {
        ActivitySource {
            db: &self.db,
            cache: &self.activity,
            limit: self.settings.realtime.max_events_per_user,
        }
    }

    /// Connects to the DB (running migrations), opens the lake and the model registry with
    /// `hooks`. Processes open through `service::open`, which supplies the hooks.
    pub async fn open(settings: Settings, hooks: PromoteHooks) -> Result<App, OpenError> {
        let db = Db::open(&settings.database_url).await?;
        let lake = Lake::open(&settings, db.clone()).await?;
        let models = ModelRegistry::new(db.clone(), lake.store().clone(), Arc::new(hooks));
        let r = &settings.realtime;
        let activity = Arc::new(ActivityCache::new(
            r.cache_events,
            r.max_events_per_user,
            (r.retention_days * 86_400_000.0) as i64,
        ));
        Ok(App {
            activity,
            settings: Arc::new(settings),
            db,
            lake: Arc::new(lake),
            models,
        })
    }
}
