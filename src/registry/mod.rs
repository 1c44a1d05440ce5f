//! Model registry, shared by recommenders and forecasters: every training run becomes a
//! version with its parameters, data snapshot and offline metrics; an artifact in the lake
//! store (`models/<kind>/<id>/model.bin` + `metadata.json`) and a row in the metadata DB.
//! Promotion swaps what serving uses; rollback re-promotes the version promoted before.
//!
//! Why both places: the DB row is what every replica agrees on (one promoted version per kind,
//! changed in one transaction), the lake holds the bytes (large, immutable, readable by other
//! tools). The artifact is sealed (`format`) so a corrupt file is refused with a clear error
//! and a replica keeps serving the model it has.

pub mod format;

use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use serde::Serialize;

use crate::db::models::{self, ModelRow};
use crate::db::{Db, DbError, ms_to_rfc3339, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("model version `{0}` not found")]
    NotFound(String),
    #[error("no promoted `{0}` version to roll back from, or none promoted before it")]
    NothingToRollBack(String),
    #[error("artifact of model version `{version}` is corrupt: {detail}")]
    Corrupt { version: String, detail: String },
    #[error(
        "artifact of model version `{version}` has format {format}, this build reads format {}",
        format::FORMAT_VERSION
    )]
    UnsupportedFormat { version: String, format: u32 },
    #[error("invalid {field}: {detail}")]
    Invalid { field: String, detail: String },
    #[error("model store: {0}")]
    Store(#[from] object_store::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for RegistryError {
    fn from(e: sqlx::Error) -> Self {
        RegistryError::Db(DbError::Query(e))
    }
}

/// Status of a version.
pub const CANDIDATE: &str = "candidate";
pub const PROMOTED: &str = "promoted";
pub const RETIRED: &str = "retired";

/// A version as callers see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVersion {
    pub id: String,
    pub kind: String,
    /// candidate, promoted or retired
    pub status: String,
    pub params: serde_json::Value,
    /// Lake commit id of the training data.
    pub data_snapshot: Option<i64>,
    pub metrics: serde_json::Value,
    pub artifact_path: String,
    /// SHA-256 of `model.bin`, hex.
    pub checksum: String,
    pub size_bytes: i64,
    pub created_at: String,
    pub promoted_at: Option<String>,
}

impl From<ModelRow> for ModelVersion {
    fn from(r: ModelRow) -> Self {
        ModelVersion {
            params: serde_json::from_str(&r.params).unwrap_or(serde_json::Value::Null),
            metrics: serde_json::from_str(&r.metrics).unwrap_or(serde_json::Value::Null),
            id: r.id,
            kind: r.kind,
            status: r.status,
            data_snapshot: r.data_snapshot,
            artifact_path: r.artifact_path,
            checksum: r.checksum,
            size_bytes: r.size_bytes,
            created_at: ms_to_rfc3339(r.created_at),
            promoted_at: r.promoted_at.map(ms_to_rfc3339),
        }
    }
}

/// What a training run hands over.
pub struct NewVersion {
    pub kind: Kind,
    pub params: serde_json::Value,
    pub data_snapshot: Option<i64>,
    pub metrics: serde_json::Value,
    /// The payload (the envelope is added here).
    pub artifact: Vec<u8>,
}

#[derive(Clone)]
pub struct ModelRegistry {
    db: Db,
    store: Arc<dyn ObjectStore>,
    hooks: Arc<PromoteHooks>,
}

/// The kinds of model the registry holds; each has at most one promoted version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Recommender,
    Forecaster,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Recommender, Kind::Forecaster];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Recommender => "recommender",
            Kind::Forecaster => "forecaster",
        }
    }

    /// The kind named `s` (422 on `kind` otherwise, listing the kinds).
    pub fn parse(s: &str) -> Result<Kind, RegistryError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| RegistryError::Invalid {
                field: "kind".into(),
                detail: format!("unknown model kind `{s}` (recommender, forecaster)"),
            })
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether promoting a version of `kind` does more than flip the registry row.
/// What promotion means beyond the registry row, for a kind whose serving state is not the
/// artifact itself. Recommenders need none (serving loads the promoted artifact); forecasters
/// are served from the `forecasts` table, so their hook writes the version's rows back there.
/// Hooks are registered at start-up, so the registry knows no domain.
#[async_trait::async_trait]
pub trait PromoteHook: Send + Sync {
    /// Runs after `version` became the promoted one (by promotion or rollback), with its
    /// verified artifact payload and the registry's metadata DB.
    async fn after_promote(
        &self,
        db: &Db,
        version: &ModelVersion,
        payload: &[u8],
    ) -> Result<(), RegistryError>;
}

/// The promotion hooks of a process, by model kind.
#[derive(Clone, Default)]
pub struct PromoteHooks {
    by_kind: std::collections::HashMap<Kind, Arc<dyn PromoteHook>>,
}

impl PromoteHooks {
    /// Adds (or replaces) the hook of `kind`.
    pub fn register(&mut self, kind: Kind, hook: Arc<dyn PromoteHook>) {
        self.by_kind.insert(kind, hook);
    }

    fn get(&self, kind: &str) -> Option<&Arc<dyn PromoteHook>> {
        Kind::parse(kind).ok().and_then(|k| self.by_kind.get(&k))
    }
}

impl ModelRegistry {
    /// A registry over `db` and the artifact `store`, running `hooks` after promotions.
    pub fn new(db: Db, store: Arc<dyn ObjectStore>, hooks: Arc<PromoteHooks>) -> ModelRegistry {
        ModelRegistry { db, store, hooks }
    }

    /// Writes the artifact and metadata, then inserts the row (status `candidate`): a crash in
    /// between leaves unreferenced files, never a row without its artifact.
    pub async fn register(&self, v: NewVersion) -> Result<ModelVersion, RegistryError> {
        let id = uuid::Uuid::now_v7().to_string();
        let dir = format!("models/{}/{id}", v.kind);
        let sealed = format::seal(&v.artifact);
        let checksum = format::sha256_hex(&sealed);
        let row = ModelRow {
            id: id.clone(),
            kind: v.kind.as_str().to_string(),
            status: CANDIDATE.into(),
            params: v.params.to_string(),
            data_snapshot: v.data_snapshot,
            metrics: v.metrics.to_string(),
            artifact_path: format!("{dir}/model.bin"),
            checksum,
            size_bytes: sealed.len() as i64,
            created_at: now_ms(),
            promoted_at: None,
        };
        let metadata = ModelVersion::from(row.clone());
        self.store
            .put(
                &ObjectPath::from(row.artifact_path.as_str()),
                Bytes::from(sealed).into(),
            )
            .await?;
        let meta_json = serde_json::to_vec_pretty(&metadata).unwrap_or_default();
        self.store
            .put(
                &ObjectPath::from(format!("{dir}/metadata.json")),
                Bytes::from(meta_json).into(),
            )
            .await?;
        models::insert(&self.db, &row).await?;
        Ok(metadata)
    }

    pub async fn get(&self, id: &str) -> Result<ModelVersion, RegistryError> {
        models::get(&self.db, id)
            .await?
            .map(ModelVersion::from)
            .ok_or_else(|| RegistryError::NotFound(id.to_string()))
    }

    pub async fn list(
        &self,
        kind: Option<Kind>,
        limit: i64,
    ) -> Result<Vec<ModelVersion>, RegistryError> {
        Ok(models::list(&self.db, kind.map(Kind::as_str), limit)
            .await?
            .into_iter()
            .map(ModelVersion::from)
            .collect())
    }

    pub async fn promoted(&self, kind: Kind) -> Result<Option<ModelVersion>, RegistryError> {
        Ok(models::promoted(&self.db, kind.as_str())
            .await?
            .map(ModelVersion::from))
    }

    /// Checks the artifact first: a corrupt version is never promoted.
    pub async fn promote(&self, id: &str) -> Result<ModelVersion, RegistryError> {
        let v = self.get(id).await?;
        let payload = self.load(&v).await?;
        if !models::promote(&self.db, &v.kind, id, now_ms()).await? {
            return Err(RegistryError::NotFound(id.to_string()));
        }
        self.after_promote(&v, &payload).await?;
        self.get(id).await
    }

    /// Re-promotes the version promoted before the current one; returns it.
    pub async fn rollback(&self, kind: Kind) -> Result<ModelVersion, RegistryError> {
        match models::rollback(&self.db, kind.as_str()).await? {
            Some((_, restored)) => {
                let v = self.get(&restored).await?;
                if self.hooks.get(kind.as_str()).is_some() {
                    let payload = self.load(&v).await?;
                    self.after_promote(&v, &payload).await?;
                }
                Ok(v)
            }
            None => Err(RegistryError::NothingToRollBack(kind.to_string())),
        }
    }

    /// Runs the kind's promotion hook, if it has one ([`PromoteHook`]).
    async fn after_promote(&self, v: &ModelVersion, payload: &[u8]) -> Result<(), RegistryError> {
        match self.hooks.get(&v.kind) {
            Some(hook) => hook.after_promote(&self.db, v, payload).await,
            None => Ok(()),
        }
    }

    /// The artifact payload, verified against the envelope and the recorded checksum.
    pub async fn load(&self, v: &ModelVersion) -> Result<Vec<u8>, RegistryError> {
        let bytes = self
            .store
            .get(&ObjectPath::from(v.artifact_path.as_str()))
            .await?
            .bytes()
            .await?;
        if format::sha256_hex(&bytes) != v.checksum {
            return Err(RegistryError::Corrupt {
                version: v.id.clone(),
                detail: "checksum mismatch with the registry row".into(),
            });
        }
        Ok(format::open(&bytes, &v.id)?.to_vec())
    }
}
