//! Online retrieval: the newest materialized snapshot of each view version, read from the DB
//! by primary key through a short-lived in-process cache, with the TTL enforced at read time.
//!
//! Why a cache with a few seconds' expiry rather than invalidation: every replica serves from
//! the same table and a materialization runs in whichever process leases the job, so expiry
//! is the only signal all replicas share; a few seconds is far below the daily refresh. One
//! query per view version serves any number of entities, so latency grows with the number of
//! views asked for, not with the number of features or entities.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::FeatureError;
use super::catalog::{self, Catalog, ViewVersion};
use crate::db::{Db, features as repo};

/// How long a fetched online row (or its absence) is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// Cached rows above which the cache is emptied (a crude bound on memory).
const CACHE_MAX: usize = 500_000;
/// Least time between catalog reloads triggered by unknown references.
const CATALOG_RELOAD: Duration = Duration::from_secs(5);
/// Most entity rows one online request may ask for.
pub const MAX_ENTITIES: usize = 1_000;

/// Whether a value is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fresh enough: the value is served.
    Present,
    /// The entity's latest source row is older than the view's TTL: the value is null.
    Expired,
    /// No online row for the entity (never seen, or expired at materialization): null.
    Missing,
}

/// The state of one view's values for one entity: shared by all its features, so it is
/// sent once per entity and view rather than once per feature.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ViewState {
    pub version: i64,
    pub status: Status,
    /// Time of the entity's latest source row the values reflect.
    pub event_timestamp: Option<DateTime<Utc>>,
    /// The values use source rows strictly before this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Seconds between `as_of` and now.
    pub staleness_seconds: Option<f64>,
    /// Why the values are null, when they are.
    pub reason: Option<String>,
}

/// One entity row's values: `features` keyed by `view:feature` (numbers, strings or null),
/// `views` keyed by the view part of those labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnlineResult {
    pub entity: BTreeMap<String, String>,
    pub features: BTreeMap<String, serde_json::Value>,
    pub views: BTreeMap<String, ViewState>,
}

/// Values of one view for one entity, in the order of the requested labels.
pub type Evaluated = (ViewState, Vec<(String, serde_json::Value)>);

type CacheKey = (String, i64, String);
/// When a row was fetched, and the row (None: the entity has no online value).
type CacheEntry = (Instant, Option<Arc<repo::OnlineRow>>);

/// The online store of one process.
pub struct OnlineStore {
    db: Db,
    pipelines_dir: PathBuf,
    catalog: tokio::sync::RwLock<Option<(Arc<Catalog>, Instant)>>,
    cache: Mutex<HashMap<CacheKey, CacheEntry>>,
}

impl OnlineStore {
    pub fn new(db: Db, pipelines_dir: PathBuf) -> OnlineStore {
        OnlineStore {
            db,
            pipelines_dir,
            catalog: tokio::sync::RwLock::new(None),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The catalog, registering the local definitions on first use.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, FeatureError> {
        if let Some((c, _)) = self.catalog.read().await.as_ref() {
            return Ok(Arc::clone(c));
        }
        self.reload_catalog(true).await
    }

    async fn reload_catalog(&self, force: bool) -> Result<Arc<Catalog>, FeatureError> {
        let mut guard = self.catalog.write().await;
        if let Some((c, at)) = guard.as_ref()
            && !force
            && at.elapsed() < CATALOG_RELOAD
        {
            return Ok(Arc::clone(c));
        }
        let catalog = Arc::new(catalog::sync_dir(&self.db, &self.pipelines_dir).await?);
        *guard = Some((Arc::clone(&catalog), Instant::now()));
        Ok(catalog)
    }

    /// Resolves references, reloading the catalog once (rate-limited) when one is unknown:
    /// another replica may have registered a version since this one loaded.
    async fn select(
        &self,
        refs: &[String],
        field: &str,
    ) -> Result<Vec<catalog::Selection>, FeatureError> {
        let catalog = self.catalog().await?;
        match catalog.select(refs, field) {
            Ok(s) => Ok(s),
            Err(FeatureError::Invalid { .. }) => {
                self.reload_catalog(false).await?.select(refs, field)
            }
            Err(e) => Err(e),
        }
    }

    async fn rows(
        &self,
        view: &ViewVersion,
        ids: &[&str],
    ) -> Result<HashMap<String, Arc<repo::OnlineRow>>, FeatureError> {
        let name = &view.spec.name;
        let mut found = HashMap::new();
        let mut missing: Vec<&str> = Vec::new();
        {
            let cache = self.cache.lock().expect("cache lock");
            for id in ids {
                match cache.get(&(name.clone(), view.version, id.to_string())) {
                    Some((at, row)) if at.elapsed() < CACHE_TTL => {
                        if let Some(r) = row {
                            found.insert(id.to_string(), Arc::clone(r));
                        }
                    }
                    _ => missing.push(id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        missing.sort_unstable();
        missing.dedup();
        let fetched = repo::online_rows(&self.db, name, view.version, &missing).await?;
        let now = Instant::now();
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() + missing.len() > CACHE_MAX {
            cache.clear();
        }
        let mut by_id: HashMap<String, Arc<repo::OnlineRow>> = fetched
            .into_iter()
            .map(|r| (r.entity_id.clone(), Arc::new(r)))
            .collect();
        for id in missing {
            let row = by_id.remove(id);
            cache.insert(
                (name.clone(), view.version, id.to_string()),
                (now, row.clone()),
            );
            if let Some(r) = row {
                found.insert(id.to_string(), r);
            }
        }
        Ok(found)
    }

    /// Values of every feature of `view` (current version) for one entity id.
    pub async fn entity(
        &self,
        view: &str,
        entity_id: &str,
    ) -> Result<(Arc<ViewVersion>, Evaluated), FeatureError> {
        let catalog = self.catalog().await?;
        let v = match catalog.current(view) {
            Some(v) => Arc::clone(v),
            None => self
                .reload_catalog(false)
                .await?
                .current(view)
                .cloned()
                .ok_or_else(|| FeatureError::UnknownView(view.to_string()))?,
        };
        let rows = self.rows(&v, &[entity_id]).await?;
        let all: Vec<usize> = (0..v.spec.features.len()).collect();
        let labels: Vec<String> = v.spec.features.iter().map(|f| f.name.clone()).collect();
        let evaluated = evaluate(
            &v,
            rows.get(entity_id).map(|r| r.as_ref()),
            &all,
            &labels,
            Utc::now(),
        )?;
        Ok((v, evaluated))
    }

    /// The item a user touched last, from the online store: the value of the first current
    /// user view's `last` feature over `item_id` (the shipped `user_activity:last_item`),
    /// when present and not expired. This is how a recommender that has never seen a user
    /// still starts from what the user just did (the model is retrained daily; the online
    /// store is refreshed by materialization).
    pub async fn last_item(&self, user_id: &str) -> Result<Option<String>, FeatureError> {
        let catalog = self.catalog().await?;
        let found = catalog.current_views().into_iter().find_map(|v| {
            (v.spec.entity == super::spec::Entity::User)
                .then(|| {
                    v.spec.features.iter().position(|f| {
                        f.agg == super::spec::Agg::Last && f.column.as_deref() == Some("item_id")
                    })
                })
                .flatten()
                .map(|f| (v, f))
        });
        let Some((view, feature)) = found else {
            return Ok(None);
        };
        let rows = self.rows(&view, &[user_id]).await?;
        let label = vec![String::from("last_item")];
        let (state, values) = evaluate(
            &view,
            rows.get(user_id).map(|r| r.as_ref()),
            &[feature],
            &label,
            Utc::now(),
        )?;
        Ok((state.status == Status::Present)
            .then(|| values.into_iter().next())
            .flatten()
            .and_then(|(_, v)| v.as_str().map(str::to_string)))
    }

    /// A stamp that changes whenever one of the views behind `refs` is materialized again
    /// (the ids of their latest runs), so a consumer of [`Self::table`] reloads only then.
    pub async fn stamp(&self, refs: &[String]) -> Result<String, FeatureError> {
        let mut parts = Vec::new();
        for sel in self.select(refs, "features").await? {
            let run = repo::latest_run(&self.db, &sel.view.spec.name, sel.view.version).await?;
            parts.push(format!(
                "{}@{}={}",
                sel.view.spec.name,
                sel.view.version,
                run.map(|r| r.id).unwrap_or_default()
            ));
        }
        Ok(parts.join(","))
    }

    /// The numeric values of `refs` for every entity with an online row in any of their
    /// views (text values, expired rows and absent views are None). Each entity's values are
    /// in the order of the selection's labels (grouped by view in order of first mention: the
    /// order `refs` already has when it is a list of labels).
    /// Bypasses the cache: this reads whole tables, for batch consumers.
    pub async fn table(
        &self,
        refs: &[String],
    ) -> Result<HashMap<String, Vec<Option<f64>>>, FeatureError> {
        let selections = self.select(refs, "features").await?;
        let width: usize = selections.iter().map(|s| s.features.len()).sum();
        let now = Utc::now();
        let mut out: HashMap<String, Vec<Option<f64>>> = HashMap::new();
        let mut column = 0;
        for sel in &selections {
            let rows =
                repo::all_online_rows(&self.db, &sel.view.spec.name, sel.view.version).await?;
            for row in &rows {
                let (_, values) = evaluate(&sel.view, Some(row), &sel.features, &sel.labels, now)?;
                let entry = out
                    .entry(row.entity_id.clone())
                    .or_insert_with(|| vec![None; width]);
                for (k, (_, v)) in values.iter().enumerate() {
                    entry[column + k] = v.as_f64();
                }
            }
            column += sel.features.len();
        }
        Ok(out)
    }

    /// Many entity rows × many features. Each row names the keys of the views asked for
    /// (`user_id`, `item_id`, `store_id`).
    pub async fn lookup(
        &self,
        refs: &[String],
        entities: &[BTreeMap<String, String>],
    ) -> Result<Vec<OnlineResult>, FeatureError> {
        if entities.is_empty() {
            return Err(FeatureError::invalid(
                "entities",
                "name at least one entity",
            ));
        }
        if entities.len() > MAX_ENTITIES {
            return Err(FeatureError::invalid(
                "entities",
                format!("at most {MAX_ENTITIES} entity rows per request"),
            ));
        }
        let selections = self.select(refs, "features").await?;
        let now = Utc::now();
        let mut results: Vec<OnlineResult> = entities
            .iter()
            .map(|e| OnlineResult {
                entity: e.clone(),
                features: BTreeMap::new(),
                views: BTreeMap::new(),
            })
            .collect();
        for sel in &selections {
            let keys = sel.view.spec.entity.keys();
            let ids: Vec<String> = entities
                .iter()
                .enumerate()
                .map(|(i, e)| entity_id(keys, e, &format!("entities[{i}]")))
                .collect::<Result<_, _>>()?;
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let rows = self.rows(&sel.view, &id_refs).await?;
            let view_key = sel
                .labels
                .first()
                .and_then(|l| l.split(':').next())
                .unwrap_or(&sel.view.spec.name)
                .to_string();
            for (result, id) in results.iter_mut().zip(&ids) {
                let (state, values) = evaluate(
                    &sel.view,
                    rows.get(id).map(|r| r.as_ref()),
                    &sel.features,
                    &sel.labels,
                    now,
                )?;
                result.features.extend(values);
                result.views.insert(view_key.clone(), state);
            }
        }
        Ok(results)
    }
}

/// The entity id of a row for a view with these keys (values joined by `:`).
pub fn entity_id(
    keys: &[&str],
    row: &BTreeMap<String, String>,
    at: &str,
) -> Result<String, FeatureError> {
    let mut parts = Vec::with_capacity(keys.len());
    for k in keys {
        match row.get(*k) {
            Some(v) if !v.is_empty() => parts.push(v.as_str()),
            _ => {
                return Err(FeatureError::invalid(
                    format!("{at}.{k}"),
                    format!("`{k}` is required by the requested features"),
                ));
            }
        }
    }
    Ok(parts.join(":"))
}

fn ms_to_time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// The served values of one online row (or its absence) at `now`.
pub fn evaluate(
    view: &ViewVersion,
    row: Option<&repo::OnlineRow>,
    features: &[usize],
    labels: &[String],
    now: DateTime<Utc>,
) -> Result<Evaluated, FeatureError> {
    let Some(row) = row else {
        let state = ViewState {
            version: view.version,
            status: Status::Missing,
            event_timestamp: None,
            as_of: None,
            staleness_seconds: None,
            reason: Some("no online value for this entity".into()),
        };
        let nulls = labels
            .iter()
            .map(|l| (l.clone(), serde_json::Value::Null))
            .collect();
        return Ok((state, nulls));
    };
    let values: Vec<serde_json::Value> = serde_json::from_str(&row.values)
        .map_err(|e| FeatureError::Corrupt(format!("online row of `{}`: {e}", row.entity_id)))?;
    let now_ms = now.timestamp_millis();
    let ttl_ms = view.spec.ttl_micros() / 1000;
    let expired = now_ms - row.event_ts > ttl_ms;
    let state = ViewState {
        version: view.version,
        status: if expired {
            Status::Expired
        } else {
            Status::Present
        },
        event_timestamp: ms_to_time(row.event_ts),
        as_of: ms_to_time(row.as_of),
        staleness_seconds: Some((now_ms - row.as_of) as f64 / 1000.0),
        reason: expired.then(|| {
            format!(
                "the entity's latest source row is older than the view's TTL of {} days",
                view.spec.ttl_days
            )
        }),
    };
    let out = features
        .iter()
        .zip(labels)
        .map(|(&f, label)| {
            let value = if expired {
                serde_json::Value::Null
            } else {
                values.get(f).cloned().unwrap_or(serde_json::Value::Null)
            };
            (label.clone(), value)
        })
        .collect();
    Ok((state, out))
}
