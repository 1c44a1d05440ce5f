//! What a recommender training run reports: the trained artifact and its metrics next to the
//! popularity baseline before registration, the hybrid's choices, and the registered run.

use serde::Serialize;

use super::artifact::RecommenderArtifact;
use super::eval::Metrics;
use super::hybrid::Blend;
use super::signals::ItemPrior;
use crate::registry::ModelVersion;

/// The outcome of one training run, before registration.
#[derive(Debug, Clone)]
pub struct Trained {
    pub artifact: RecommenderArtifact,
    pub metrics: Metrics,
    pub baseline: Metrics,
    /// What the hybrid chose and which feature signals it used.
    pub hybrid: Option<HybridReport>,
}

/// The hybrid's tuned blends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tuned {
    pub overall: Blend,
    pub light: Blend,
    pub active: Blend,
}

/// The hybrid's choices, stored with the version's metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HybridReport {
    pub blends: Option<Tuned>,
    /// The final model's item prior (None: no usable item features).
    pub item_prior: Option<ItemPrior>,
    /// Activity above which a user gets the `active` blend (None: no user feature).
    pub activity_threshold: Option<f64>,
    pub notes: Vec<String>,
}

/// A registered training run.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub version: ModelVersion,
    /// The promotion gate's decision, when the run had a gate.
    pub gate: Option<super::gate::Decision>,
    pub metrics: Metrics,
    pub baseline: Metrics,
    pub hybrid: Option<HybridReport>,
    /// The hyperparameter search, when the run had one.
    pub tuning: Option<Search>,
    pub users: usize,
    pub items: usize,
    pub events: usize,
}

/// One tried configuration and its validation figures.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Trial {
    /// The tuned settings of this trial (the others are the run's).
    pub params: serde_json::Value,
    pub ndcg: f64,
    pub recall: f64,
    pub users: usize,
}

/// The search table: every trial, which won, and the given settings' score.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Search {
    pub trials: Vec<Trial>,
    pub best: usize,
}
