//! Definitions to versions: every distinct fingerprint of a view is registered once in the DB
//! with the next version number, so materialized data always names the exact definition that
//! produced it, and a changed definition never mixes with the old one's data.
//!
//! The [`Catalog`] is what readers resolve feature references against: `view:feature` means
//! the view's current version (the one the local definitions describe, else the newest),
//! `view@2:feature` pins version 2, `view:*` means every feature of the view.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::FeatureError;
use super::spec::{self, ViewSpec};
use crate::db::{Db, features as repo};

/// One registered version of a view.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewVersion {
    pub spec: ViewSpec,
    pub version: i64,
    pub created_at: i64,
}

impl ViewVersion {
    /// Lake dataset of this version's offline store (`features/<dataset>/dt=...`).
    pub fn dataset(&self) -> String {
        format!("{}__v{}", self.spec.name, self.version)
    }
}

/// Every registered version, and which one is current per view.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    versions: HashMap<(String, i64), Arc<ViewVersion>>,
    current: HashMap<String, i64>,
}

/// Features of one view version picked by a request, in request order.
#[derive(Debug, Clone)]
pub struct Selection {
    pub view: Arc<ViewVersion>,
    /// Feature indices into the view's definition.
    pub features: Vec<usize>,
    /// The name each selected feature goes by in results (`view:feature`, or
    /// `view@N:feature` when pinned).
    pub labels: Vec<String>,
}

impl Catalog {
    /// The current version of `name`.
    pub fn current(&self, name: &str) -> Option<&Arc<ViewVersion>> {
        let v = self.current.get(name)?;
        self.versions.get(&(name.to_string(), *v))
    }

    pub fn version(&self, name: &str, version: i64) -> Option<&Arc<ViewVersion>> {
        self.versions.get(&(name.to_string(), version))
    }

    /// Current versions, by name.
    pub fn current_views(&self) -> Vec<Arc<ViewVersion>> {
        let mut out: Vec<_> = self
            .current
            .keys()
            .filter_map(|n| self.current(n).cloned())
            .collect();
        out.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        out
    }

    /// All versions of `name`, oldest first.
    pub fn versions_of(&self, name: &str) -> Vec<Arc<ViewVersion>> {
        let mut out: Vec<_> = self
            .versions
            .values()
            .filter(|v| v.spec.name == name)
            .cloned()
            .collect();
        out.sort_by_key(|v| v.version);
        out
    }

    /// Resolves references, grouping them by view version in order of first mention.
    /// `field` names the request part for errors (`features`).
    pub fn select(&self, refs: &[String], field: &str) -> Result<Vec<Selection>, FeatureError> {
        if refs.is_empty() {
            return Err(FeatureError::invalid(field, "name at least one feature"));
        }
        let mut out: Vec<Selection> = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            let at = format!("{field}[{i}]");
            let (view_part, feature) = r.split_once(':').ok_or_else(|| {
                FeatureError::invalid(&at, format!("`{r}` must be `view:feature` or `view:*`"))
            })?;
            let (name, pinned) = match view_part.split_once('@') {
                Some((n, v)) => {
                    let v: i64 = v.trim_start_matches('v').parse().map_err(|_| {
                        FeatureError::invalid(&at, format!("`{v}` is not a version number"))
                    })?;
                    (n, Some(v))
                }
                None => (view_part, None),
            };
            let view = match pinned {
                Some(v) => self.version(name, v),
                None => self.current(name),
            }
            .ok_or_else(|| match pinned {
                Some(v) if self.current(name).is_some() => {
                    FeatureError::invalid(&at, format!("view `{name}` has no version {v}"))
                }
                _ => FeatureError::invalid(&at, format!("unknown feature view `{name}`")),
            })?
            .clone();
            let prefix = match pinned {
                Some(v) => format!("{name}@{v}"),
                None => name.to_string(),
            };
            let picked: Vec<usize> = if feature == "*" {
                (0..view.spec.features.len()).collect()
            } else {
                vec![view.spec.feature_index(feature).ok_or_else(|| {
                    FeatureError::invalid(&at, format!("view `{name}` has no feature `{feature}`"))
                })?]
            };
            let sel = match out
                .iter_mut()
                .find(|s| s.view.spec.name == view.spec.name && s.view.version == view.version)
            {
                Some(s) => s,
                None => {
                    out.push(Selection {
                        view,
                        features: Vec::new(),
                        labels: Vec::new(),
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            for f in picked {
                if !sel.features.contains(&f) {
                    sel.features.push(f);
                    sel.labels
                        .push(format!("{prefix}:{}", sel.view.spec.features[f].name));
                }
            }
        }
        Ok(out)
    }
}

/// Registers the local definitions (new fingerprints become new versions) and returns the
/// catalog of everything registered, with the local definitions' versions current.
pub async fn sync(db: &Db, specs: &[ViewSpec]) -> Result<Catalog, FeatureError> {
    let mut current = HashMap::new();
    for spec in specs {
        let fingerprint = spec.fingerprint();
        let definition =
            serde_json::to_string(spec).map_err(|e| FeatureError::Corrupt(e.to_string()))?;
        let mut attempts = 0;
        let row = loop {
            if let Some(row) = repo::version_by_fingerprint(db, &spec.name, &fingerprint).await? {
                break row;
            }
            let now = chrono::Utc::now().timestamp_millis();
            if let Some(row) =
                repo::insert_version(db, &spec.name, &fingerprint, &definition, now).await?
            {
                tracing::info!(view = %spec.name, version = row.version, "feature view version registered");
                break row;
            }
            attempts += 1;
            if attempts > 5 {
                return Err(FeatureError::Corrupt(format!(
                    "cannot register a version of `{}`: concurrent registrations keep winning",
                    spec.name
                )));
            }
        };
        current.insert(spec.name.clone(), row.version);
    }
    let mut catalog = load(db).await?;
    for (name, version) in current {
        catalog.current.insert(name, version);
    }
    Ok(catalog)
}

/// The catalog as registered in the DB (newest version of each view current), with the
/// definitions as they were registered (descriptions of the registering file included).
pub async fn load(db: &Db) -> Result<Catalog, FeatureError> {
    let mut catalog = Catalog::default();
    for row in repo::list_versions(db).await? {
        let spec: ViewSpec = serde_json::from_str(&row.definition).map_err(|e| {
            FeatureError::Corrupt(format!("view `{}` v{}: {e}", row.name, row.version))
        })?;
        let entry = catalog
            .current
            .entry(row.name.clone())
            .or_insert(row.version);
        *entry = (*entry).max(row.version);
        catalog.versions.insert(
            (row.name.clone(), row.version),
            Arc::new(ViewVersion {
                spec,
                version: row.version,
                created_at: row.created_at,
            }),
        );
    }
    Ok(catalog)
}

/// Loads the definitions under `pipelines_dir` and syncs them.
pub async fn sync_dir(db: &Db, pipelines_dir: &Path) -> Result<Catalog, FeatureError> {
    let specs = spec::load_dir(pipelines_dir)?;
    sync(db, &specs).await
}
/// One feature of a view, described.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FeatureDescription {
    pub name: String,
    pub agg: String,
    pub description: String,
    pub window_days: Option<u32>,
}

/// A view's current version with its materialization state: what `GET /v1/features/views`
/// and `recast features list` show.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViewDescription {
    pub view: String,
    pub version: i64,
    /// Every registered version (older ones stay readable as `view@N:feature`).
    pub versions: Vec<i64>,
    pub entity: String,
    pub entity_keys: Vec<String>,
    pub source: String,
    pub ttl_days: f64,
    pub description: String,
    pub features: Vec<FeatureDescription>,
    /// First and last materialized as-of days, and how many days are materialized.
    pub materialized_from: Option<String>,
    pub materialized_to: Option<String>,
    pub materialized_days: usize,
    /// Statistics and drift warnings of the latest materialization.
    pub latest_run: Option<serde_json::Value>,
}

fn latest_run_json(r: repo::RunRow) -> serde_json::Value {
    serde_json::json!({
        "from": r.from_dt,
        "to": r.to_dt,
        "rows": r.rows,
        "source_rows": r.source_rows,
        "stats": serde_json::from_str::<serde_json::Value>(&r.stats).unwrap_or_default(),
        "warnings": serde_json::from_str::<serde_json::Value>(&r.warnings).unwrap_or_default(),
        "created_at": chrono::DateTime::from_timestamp_millis(r.created_at),
    })
}

fn describe_features(view: &ViewSpec) -> Vec<FeatureDescription> {
    view.features
        .iter()
        .map(|f| FeatureDescription {
            name: f.name.clone(),
            agg: serde_json::to_value(f.agg)
                .ok()
                .and_then(|a| a.as_str().map(String::from))
                .unwrap_or_default(),
            description: f.description.clone(),
            window_days: f.window_days,
        })
        .collect()
}

/// Every current view of `catalog`, described with its materialization state.
pub async fn describe_views(
    db: &Db,
    catalog: &Catalog,
) -> Result<Vec<ViewDescription>, FeatureError> {
    let mut out = Vec::new();
    for v in catalog.current_views() {
        let days = repo::materialized_days(db, &v.spec.name, v.version).await?;
        let latest_run = repo::latest_run(db, &v.spec.name, v.version)
            .await?
            .map(latest_run_json);
        out.push(ViewDescription {
            view: v.spec.name.clone(),
            version: v.version,
            versions: catalog
                .versions_of(&v.spec.name)
                .iter()
                .map(|x| x.version)
                .collect(),
            entity: v.spec.entity.as_str().into(),
            entity_keys: v.spec.entity.keys().iter().map(|k| k.to_string()).collect(),
            source: v.spec.source.dataset().into(),
            ttl_days: v.spec.ttl_days,
            description: v.spec.description.clone(),
            features: describe_features(&v.spec),
            materialized_from: days.first().map(|d| d.0.clone()),
            materialized_to: days.last().map(|d| d.0.clone()),
            materialized_days: days.len(),
            latest_run,
        });
    }
    Ok(out)
}
