//! A recommender training run's parameters: the model family and its hyperparameters, the
//! event weights and decay, the holdout, and the checks every run is held to.

use serde::{Deserialize, Serialize};

use super::RecommendError;
use super::als::AlsParams;
use super::artifact::ModelKind;
use super::item_knn::Weighting;
use super::signals::{self};

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
    /// Item features (`view:feature`) the hybrid's item prior learns from; empty = none.
    pub item_features: Vec<String>,
    /// The user feature (`view:feature`) that splits users by activity in the hybrid; none =
    /// one blend for everyone.
    pub user_feature: Option<String>,
    /// Promote the trained version through this gate (None: register a candidate only).
    pub gate: Option<super::gate::Gate>,
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
            item_features: signals::DEFAULT_ITEM_FEATURES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            user_feature: Some(signals::DEFAULT_USER_FEATURE.to_string()),
            gate: None,
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
        if let Some(gate) = &self.gate {
            gate.validate()?;
        }
        if self.item_features.len() > 32 {
            return Err(RecommendError::invalid(
                "item_features",
                "at most 32 features",
            ));
        }
        let refs = self.item_features.iter().map(|r| ("item_features", r));
        for (field, r) in refs.chain(self.user_feature.iter().map(|r| ("user_feature", r))) {
            if r.split_once(':')
                .is_none_or(|(v, f)| v.is_empty() || f.is_empty())
            {
                return Err(RecommendError::invalid(
                    field,
                    format!("`{r}` is not a `view:feature` reference"),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn weighting(&self) -> Weighting {
        if self.bm25 {
            Weighting::Bm25 { k1: 1.2, b: 0.75 }
        } else {
            Weighting::Cosine
        }
    }
}
