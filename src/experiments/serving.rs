//! Serving under experiments: which running experiment (if any) a user is in, the model
//! versions variants name, and the durable exposure record.
//!
//! Why a cache with a short life: the running experiments are read on every recommendation
//! request; reading them from the DB each time would add a query to the hot path, so each
//! replica keeps the list for [`RUNNING_TTL`] (the same bound as the registry poller's) and
//! drops it at once when this replica starts or stops an experiment. Variant models are
//! decoded once per version and kept while any running experiment names them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ExperimentError;
use super::model::{Experiment, ExperimentStore, Variant};
use crate::db::experiments::{self as repo, ExposureRow};
use crate::db::now_ms;
use crate::recommend::RecommendError;
use crate::recommend::artifact::RecommenderArtifact;
use crate::recommend::serving::ServingModel;
use crate::registry::ModelRegistry;

/// How long a replica serves from its copy of the running experiments.
pub const RUNNING_TTL: Duration = Duration::from_secs(2);

/// A user's place in a running experiment.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub experiment: Arc<Experiment>,
    pub variant: usize,
}

impl Enrolment {
    pub fn variant(&self) -> &Variant {
        &self.experiment.spec.variants[self.variant]
    }
}

type Snapshot = (Instant, Arc<Vec<Arc<Experiment>>>);

pub struct ExperimentServing {
    store: ExperimentStore,
    registry: ModelRegistry,
    running: Mutex<Option<Snapshot>>,
    models: Mutex<HashMap<String, Arc<ServingModel>>>,
    load: tokio::sync::Mutex<()>,
}

impl ExperimentServing {
    pub fn new(store: ExperimentStore, registry: ModelRegistry) -> Arc<ExperimentServing> {
        Arc::new(ExperimentServing {
            store,
            registry,
            running: Mutex::new(None),
            models: Mutex::new(HashMap::new()),
            load: tokio::sync::Mutex::new(()),
        })
    }

    pub fn store(&self) -> &ExperimentStore {
        &self.store
    }

    /// Forget the cached running list (after a start or stop on this replica).
    pub fn invalidate(&self) {
        *self.running.lock().expect("running lock") = None;
    }

    /// The running experiments, oldest start first.
    pub async fn running(&self) -> Result<Arc<Vec<Arc<Experiment>>>, ExperimentError> {
        if let Some((at, list)) = self.running.lock().expect("running lock").as_ref()
            && at.elapsed() < RUNNING_TTL
        {
            return Ok(Arc::clone(list));
        }
        let list: Arc<Vec<Arc<Experiment>>> = Arc::new(
            self.store
                .running()
                .await?
                .into_iter()
                .map(Arc::new)
                .collect(),
        );
        *self.running.lock().expect("running lock") = Some((Instant::now(), Arc::clone(&list)));
        self.prune_models(&list);
        Ok(list)
    }

    /// The first running experiment (by start time) that covers the user. Layers split users
    /// independently, so a user can be covered by experiments of several layers; serving
    /// picks one model per request, so the oldest wins and only it records the exposure.
    pub async fn enrol(&self, user_id: &str) -> Result<Option<Enrolment>, ExperimentError> {
        let running = self.running().await?;
        Ok(running.iter().find_map(|e| {
            e.assign(user_id).map(|variant| Enrolment {
                experiment: Arc::clone(e),
                variant,
            })
        }))
    }

    /// A specific model version, decoded once and cached.
    pub async fn model(&self, version: &str) -> Result<Arc<ServingModel>, ExperimentError> {
        if let Some(m) = self.models.lock().expect("models lock").get(version) {
            return Ok(Arc::clone(m));
        }
        let _one_at_a_time = self.load.lock().await;
        if let Some(m) = self.models.lock().expect("models lock").get(version) {
            return Ok(Arc::clone(m));
        }
        let v = self.registry.get(version).await?;
        let bytes = self.registry.load(&v).await?;
        let id = v.id.clone();
        let model = tokio::task::spawn_blocking(move || {
            RecommenderArtifact::decode(&bytes).map(|a| ServingModel::new(id, a))
        })
        .await
        .map_err(|e| RecommendError::Artifact(format!("decoder thread failed: {e}")))??;
        let model = Arc::new(model);
        self.models
            .lock()
            .expect("models lock")
            .insert(version.to_string(), Arc::clone(&model));
        tracing::info!(version, "experiment variant model loaded");
        Ok(model)
    }

    /// Drops decoded versions no running experiment names any more.
    fn prune_models(&self, running: &[Arc<Experiment>]) {
        let wanted: std::collections::HashSet<&str> = running
            .iter()
            .flat_map(|e| e.spec.variants.iter())
            .filter_map(|v| v.model_version.as_deref())
            .collect();
        self.models
            .lock()
            .expect("models lock")
            .retain(|k, _| wanted.contains(k.as_str()));
    }

    /// Records that `user_id` was served `recommendation_id` under the enrolment; committed
    /// when this returns.
    pub async fn record_exposure(
        &self,
        enrolment: &Enrolment,
        user_id: &str,
        recommendation_id: &str,
    ) -> Result<(), ExperimentError> {
        repo::insert_exposure(
            self.store.db(),
            &ExposureRow {
                recommendation_id: recommendation_id.to_string(),
                experiment_id: enrolment.experiment.id.clone(),
                variant: enrolment.variant().name.clone(),
                user_id: user_id.to_string(),
                ts: now_ms(),
            },
        )
        .await?;
        Ok(())
    }
}
