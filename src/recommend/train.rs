//! Training a recommender end to end: read the lake, split by time, fit the chosen model on
//! the past, evaluate it next to the popularity baseline on the holdout, refit on everything,
//! and register the version. The CLI and the `train_recommender` job both call [`run`], so a
//! version trained either way is the same.

use serde::{Deserialize, Serialize};
use sprs::CsMat;

use super::RecommendError;
use super::als::{AlsModel, AlsParams};
use super::artifact::{Model, ModelKind, RecommenderArtifact};
use super::content::ContentModel;
use super::data::{self, IdMap, Interaction, ItemRecord, MatrixOptions};
use super::eval::{self, Holdout, Metrics};
use super::hybrid::{HybridModel, tune_weight};
use super::item_knn::{ItemKnn, Weighting};
use super::popularity::Popularity;
use super::sparse::SparseRows;
use crate::app::App;
use crate::lake::Area;
use crate::registry::{ModelVersion, NewVersion, Registry};

/// The registry kind every recommender version is filed under; the family is in `params`.
pub const REGISTRY_KIND: &str = "recommender";

/// Training parameters: the CLI flags and the `train_recommender` job payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    pub model: ModelKind,
    pub factors: usize,
    pub iterations: usize,
    pub regularization: f32,
    pub alpha: f32,
    /// Cut-off of the ranking metrics.
    pub k: usize,
    /// Neighbours kept per item (item-kNN, content).
    pub neighbours: usize,
    pub holdout_days: f64,
    /// Time decay of interaction strengths; None = no decay.
    pub half_life_days: Option<f64>,
    /// Decay of the trending counts.
    pub trending_half_life_days: f64,
    /// BM25 instead of cosine weighting for item-kNN.
    pub bm25: bool,
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        let als = AlsParams::default();
        TrainParams {
            model: ModelKind::Als,
            factors: als.factors,
            iterations: als.iterations,
            regularization: als.regularization,
            alpha: als.alpha,
            k: 10,
            neighbours: 50,
            holdout_days: 7.0,
            half_life_days: None,
            trending_half_life_days: 7.0,
            bm25: false,
            seed: als.seed,
        }
    }
}

impl TrainParams {
    pub fn als(&self) -> AlsParams {
        AlsParams {
            factors: self.factors,
            iterations: self.iterations,
            regularization: self.regularization,
            alpha: self.alpha,
            cg_steps: 3,
            seed: self.seed,
        }
    }

    pub fn validate(&self) -> Result<(), RecommendError> {
        self.als().validate()?;
        if !(1..=500).contains(&self.k) {
            return Err(RecommendError::invalid("k", "must be in 1..=500"));
        }
        if !(1..=10_000).contains(&self.neighbours) {
            return Err(RecommendError::invalid(
                "neighbours",
                "must be in 1..=10000",
            ));
        }
        if !(self.holdout_days.is_finite() && self.holdout_days > 0.0) {
            return Err(RecommendError::invalid("holdout_days", "must be > 0"));
        }
        if let Some(h) = self.half_life_days
            && !(h.is_finite() && h > 0.0)
        {
            return Err(RecommendError::invalid("half_life_days", "must be > 0"));
        }
        if !(self.trending_half_life_days.is_finite() && self.trending_half_life_days > 0.0) {
            return Err(RecommendError::invalid(
                "trending_half_life_days",
                "must be > 0",
            ));
        }
        Ok(())
    }

    fn weighting(&self) -> Weighting {
        if self.bm25 {
            Weighting::Bm25 { k1: 1.2, b: 0.75 }
        } else {
            Weighting::Cosine
        }
    }
}

/// The outcome of one training run, before registration.
#[derive(Debug, Clone)]
pub struct Trained {
    pub artifact: RecommenderArtifact,
    pub metrics: Metrics,
    pub baseline: Metrics,
    /// The hybrid's tuned collaborative weight.
    pub cf_weight: Option<f32>,
}

/// Progress: fraction done (0..=1) and a message; returning false cancels.
pub type Progress<'a> = &'a (dyn Fn(f64, &str) -> bool + Sync);

fn cancelled() -> RecommendError {
    RecommendError::invalid("training", "cancelled")
}

struct Fitted {
    model: Model,
    cf_weight: Option<f32>,
}

fn history_of(x: &CsMat<f64>, u: u32) -> Vec<(u32, f32)> {
    x.outer_view(u as usize)
        .map(|r| r.iter().map(|(i, &v)| (i as u32, v as f32)).collect())
        .unwrap_or_default()
}

fn catalogue_rows<'a>(items: &IdMap, catalogue: &'a [ItemRecord]) -> Vec<Option<&'a ItemRecord>> {
    let by_id: std::collections::HashMap<&str, &ItemRecord> =
        catalogue.iter().map(|r| (r.item_id.as_str(), r)).collect();
    items
        .ids()
        .iter()
        .map(|id| by_id.get(id.as_str()).copied())
        .collect()
}

fn matrix(
    events: &[Interaction],
    catalogue: &[ItemRecord],
    half_life: Option<f64>,
) -> data::InteractionMatrix {
    let ids = IdMap::from_ids(catalogue.iter().map(|r| r.item_id.clone()).collect());
    let now = events.iter().map(|e| e.ts).max().unwrap_or(0);
    let options = MatrixOptions {
        weights: Default::default(),
        half_life_days: half_life,
    };
    data::build_matrix(events, ids, &options, now)
}

fn popularity(
    events: &[Interaction],
    catalogue: &[ItemRecord],
    p: &TrainParams,
) -> (data::InteractionMatrix, Popularity) {
    let m = matrix(events, catalogue, p.half_life_days);
    let decayed = matrix(events, catalogue, Some(p.trending_half_life_days));
    // Same events and catalogue → same id maps, so the two matrices align.
    let pop = Popularity::fit(&m.matrix, &decayed.matrix);
    (m, pop)
}

fn fit(
    p: &TrainParams,
    m: &data::InteractionMatrix,
    pop: &Popularity,
    catalogue: &[ItemRecord],
    validation: Option<&[Interaction]>,
    progress: &dyn Fn(usize) -> bool,
) -> Result<Fitted, RecommendError> {
    let rows = catalogue_rows(&m.items, catalogue);
    let model = match p.model {
        ModelKind::Popularity => Model::Popularity(pop.clone()),
        ModelKind::ItemKnn => Model::ItemKnn(ItemKnn::fit(&m.matrix, p.weighting(), p.neighbours)),
        ModelKind::Content => Model::Content(ContentModel::fit(&rows, p.neighbours)),
        ModelKind::Als => Model::Als(AlsModel::fit(&m.matrix, &p.als(), progress)?),
        ModelKind::Hybrid => {
            let als = AlsModel::fit(&m.matrix, &p.als(), progress)?;
            let content = ContentModel::fit(&rows, p.neighbours);
            let mut h = HybridModel {
                als,
                content,
                cf_weight: 0.5,
            };
            if let Some(val) = validation {
                let rel = eval::relevance(val, &m.users, &m.items, &m.matrix);
                if !rel.is_empty() {
                    let (w, _) = tune_weight(&[0.0, 0.25, 0.5, 0.75, 0.9, 1.0], |w| {
                        let cand = HybridModel {
                            cf_weight: w,
                            ..h.clone()
                        };
                        eval::evaluate(
                            |u| cand.score(Some(u), &history_of(&m.matrix, u)),
                            &m.matrix,
                            &rel,
                            p.k,
                        )
                        .ndcg
                    });
                    h.cf_weight = w;
                }
            }
            Model::Hybrid(h)
        }
    };
    let cf_weight = match &model {
        Model::Hybrid(h) => Some(h.cf_weight),
        _ => None,
    };
    Ok(Fitted { model, cf_weight })
}

/// Pure training on in-memory data: evaluation on the holdout, then the final model on all
/// events. `events` need not be sorted.
pub fn train_on(
    events: &[Interaction],
    catalogue: &[ItemRecord],
    p: &TrainParams,
    progress: Progress<'_>,
) -> Result<Trained, RecommendError> {
    p.validate()?;
    if events.is_empty() {
        return Err(RecommendError::NoData(
            "the interactions dataset is empty".into(),
        ));
    }
    let holdout = Holdout::LastDays {
        days: p.holdout_days,
    };
    let split = eval::split(events, holdout);
    if split.train.is_empty() {
        return Err(RecommendError::NoData(format!(
            "every interaction is within the {}-day holdout",
            p.holdout_days
        )));
    }
    let iters = p.iterations as f64;
    let is_als = matches!(p.model, ModelKind::Als | ModelKind::Hybrid);
    let fits = if p.model == ModelKind::Hybrid {
        3.0
    } else {
        2.0
    };
    let step = |phase: f64, msg: &str| progress((phase / fits).min(1.0), msg);
    if !step(0.0, "preparing") {
        return Err(cancelled());
    }
    // Phase 1: fit on the past, evaluate on the holdout (hybrid tunes its weight on a
    // validation split cut the same way from the past).
    let (train_m, train_pop) = popularity(&split.train, catalogue, p);
    let mut phase = 0.0;
    let validation = if p.model == ModelKind::Hybrid {
        let inner = eval::split(&split.train, holdout);
        if inner.train.is_empty() {
            None
        } else {
            let (inner_m, inner_pop) = popularity(&inner.train, catalogue, p);
            let on_iter = |i: usize| step(phase + i as f64 / iters, "tuning blend weight");
            let f = fit(
                p,
                &inner_m,
                &inner_pop,
                catalogue,
                Some(&inner.test),
                &on_iter,
            )?;
            phase += 1.0;
            f.cf_weight
        }
    } else {
        None
    };
    let eval_params = TrainParams {
        model: p.model,
        ..p.clone()
    };
    let on_iter = |i: usize| step(phase + i as f64 / iters, "fitting on the training split");
    let mut fitted = fit(
        &eval_params,
        &train_m,
        &train_pop,
        catalogue,
        None,
        &on_iter,
    )?;
    if let (Model::Hybrid(h), Some(w)) = (&mut fitted.model, validation) {
        h.cf_weight = w;
    }
    if !is_als && !step(phase + 0.9, "evaluating") {
        return Err(cancelled());
    }
    let rel = eval::relevance(&split.test, &train_m.users, &train_m.items, &train_m.matrix);
    let model = &fitted.model;
    let metrics = eval::evaluate(
        |u| {
            model
                .score(Some(u), &history_of(&train_m.matrix, u))
                .unwrap_or_else(|| train_pop.scores())
        },
        &train_m.matrix,
        &rel,
        p.k,
    );
    let baseline_scores = train_pop.scores();
    let baseline = eval::evaluate(|_| baseline_scores.clone(), &train_m.matrix, &rel, p.k);
    phase += 1.0;
    // Phase 2: the version that serves is fitted on everything.
    let (all_m, all_pop) = popularity(events, catalogue, p);
    let on_iter = |i: usize| step(phase + i as f64 / iters, "fitting on all data");
    let mut final_fit = fit(p, &all_m, &all_pop, catalogue, None, &on_iter)?;
    if let (Model::Hybrid(h), Some(w)) = (&mut final_fit.model, fitted.cf_weight) {
        h.cf_weight = w;
    }
    if !step(fits, "done") {
        return Err(cancelled());
    }
    let artifact = RecommenderArtifact {
        items: RecommenderArtifact::item_meta(&all_m.items, catalogue),
        users: all_m.users.ids().to_vec(),
        history: SparseRows::from_csmat(&all_m.matrix),
        history_actions: data::strongest_actions(events, &all_m),
        popularity: all_pop,
        model: final_fit.model,
    };
    Ok(Trained {
        artifact,
        metrics,
        baseline,
        cf_weight: fitted.cf_weight,
    })
}

/// A registered training run.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub version: ModelVersion,
    pub metrics: Metrics,
    pub baseline: Metrics,
    pub users: usize,
    pub items: usize,
    pub events: usize,
}

/// Reads the lake, trains (on a blocking thread), registers a candidate version.
pub async fn run(
    app: &App,
    params: &TrainParams,
    progress: impl Fn(f64, &str) -> bool + Send + Sync + 'static,
) -> Result<TrainReport, RecommendError> {
    params.validate()?;
    let snapshot = app
        .lake
        .latest_commit("interactions", Area::Datasets)
        .await?;
    let events = data::read_interactions(&app.lake, None, None, &Default::default()).await?;
    let catalogue = data::read_items(&app.lake).await?;
    let n_events = events.len();
    let p = params.clone();
    let trained = tokio::task::spawn_blocking(move || train_on(&events, &catalogue, &p, &progress))
        .await
        .map_err(|e| RecommendError::Artifact(format!("training thread failed: {e}")))??;
    let users = trained.artifact.users.len();
    let items = trained.artifact.items.len();
    let bytes = trained.artifact.encode()?;
    let mut params_json = serde_json::to_value(params).unwrap_or_default();
    if let (Some(w), Some(obj)) = (trained.cf_weight, params_json.as_object_mut()) {
        obj.insert("cf_weight".into(), serde_json::json!(w));
    }
    let metrics_json = serde_json::json!({
        "model": trained.metrics,
        "popularity_baseline": trained.baseline,
        "users": users,
        "items": items,
        "events": n_events,
    });
    let version = Registry::new(app.db.clone(), app.lake.store().clone())
        .register(NewVersion {
            kind: REGISTRY_KIND.into(),
            params: params_json,
            data_snapshot: snapshot,
            metrics: metrics_json,
            artifact: bytes,
        })
        .await?;
    Ok(TrainReport {
        version,
        metrics: trained.metrics,
        baseline: trained.baseline,
        users,
        items,
        events: n_events,
    })
}
