//! A recommender training run's parameters: the model family and its hyperparameters, the
//! event weights and decay, the holdout, and the checks every run is held to.

use serde::{Deserialize, Serialize};

use super::RecommendError;
use super::als::AlsParams;
use super::artifact::ModelKind;
use super::data::EventWeights;
use super::ease::EaseParams;
use super::item_knn::Weighting;
use super::sequence::TransitionParams;
use super::signals::{self};

/// The largest `max_items` accepted: two dense 30,000² f64 matrices are 14 GB.
pub const MAX_EASE_ITEMS: usize = 30_000;

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
    /// Neighbours kept per item (item-kNN, content); weights kept per item row (EASE).
    pub neighbours: usize,
    /// EASE's L2 regularisation λ.
    pub lambda: f64,
    /// Most items EASE's dense fit takes (the most interacted-with ones; 8 bytes × items²
    /// twice in memory while fitting).
    pub max_items: usize,
    pub holdout_days: f64,
    /// Per-user temporal split: each user's last `n` interactions are the test set (users
    /// with at most `n` stay in training only). None: the last `holdout_days` are.
    pub test_per_user: Option<usize>,
    /// Weight of a view, click, add-to-cart and purchase in the interaction matrix (ratings
    /// count their value).
    pub event_weights: EventWeights,
    /// Time decay of interaction strengths; None = no decay.
    pub half_life_days: Option<f64>,
    /// Recency of a user's history when scoring from it (item-kNN, EASE, content, the
    /// hybrid's fold-in and content parts): the i-th most recent item counts
    /// `0.5^(i / history_half_life)`, in interactions; None = every item counts in full.
    pub history_half_life: Option<f64>,
    /// The hybrid's transition part: steps ahead that count as "what users did next" (and
    /// latest items a user's transition scores start from); 0 = no transition part.
    pub transition_window: usize,
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
    /// Search this many configurations on a validation split cut from the training part
    /// (trial 1 is the given settings) and train with the best; None: no search.
    pub tune_trials: Option<usize>,
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
            lambda: EaseParams::default().lambda,
            max_items: EaseParams::default().max_items,
            holdout_days: 7.0,
            test_per_user: None,
            tune_trials: None,
            event_weights: EventWeights::default(),
            half_life_days: None,
            history_half_life: None,
            transition_window: 10,
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

    pub fn ease(&self) -> EaseParams {
        EaseParams {
            lambda: self.lambda,
            max_items: self.max_items,
            keep: self.neighbours,
        }
    }

    pub fn transitions(&self) -> TransitionParams {
        TransitionParams {
            window: self.transition_window,
            keep: self.neighbours,
        }
    }

    pub fn validate(&self) -> Result<(), RecommendError> {
        self.als().validate()?;
        if !(self.lambda.is_finite() && self.lambda > 0.0) {
            return Err(RecommendError::invalid("lambda", "must be a number > 0"));
        }
        if !(1..=MAX_EASE_ITEMS).contains(&self.max_items) {
            return Err(RecommendError::invalid(
                "max_items",
                format!(
                    "must be in 1..={MAX_EASE_ITEMS} (EASE holds two dense items x items matrices while fitting)"
                ),
            ));
        }
        if !(1..=500).contains(&self.k) {
            return Err(RecommendError::invalid("k", "must be in 1..=500"));
        }
        if !(1..=10_000).contains(&self.neighbours) {
            return Err(RecommendError::invalid(
                "neighbours",
                "must be in 1..=10000",
            ));
        }
        if self.tune_trials.is_some_and(|n| !(2..=200).contains(&n)) {
            return Err(RecommendError::invalid("tune_trials", "must be in 2..=200"));
        }
        if self.test_per_user.is_some_and(|n| !(1..=1000).contains(&n)) {
            return Err(RecommendError::invalid(
                "test_per_user",
                "must be in 1..=1000",
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
        if let Some(h) = self.history_half_life
            && !(h.is_finite() && (0.1..=1e6).contains(&h))
        {
            return Err(RecommendError::invalid(
                "history_half_life",
                "must be between 0.1 and 1000000 interactions",
            ));
        }
        self.transitions().validate()?;
        self.event_weights.validate()?;
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
