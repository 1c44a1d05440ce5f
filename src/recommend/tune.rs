//! Hyperparameter search on a validation split, never on the holdout.
//!
//! Why: every family has settings whose best value depends on the data (ALS's factors,
//! regularisation and confidence scale, item-kNN's neighbours and weighting, EASE's λ, the
//! trending half-life, the decay of old interactions); fixed defaults leave accuracy on the
//! table. The search cuts a validation window off the *training* part of the holdout split,
//! the same way the holdout is cut from all data, so the holdout that reports the version's
//! metrics (and that promotion gates compare) plays no part in choosing. Random search in a
//! fixed budget: trial 0 is the given settings, the others are drawn (seeded) from each
//! family's ranges; the best validation NDCG wins (ties: the earlier trial).

use rand::{Rng, SeedableRng};

use super::RecommendError;
use super::artifact::ModelKind;
use super::data::{Interaction, ItemRecord};
use super::eval;
use super::fit::{holdout_metrics, holdout_of};
use super::params::TrainParams;
pub use super::report::{Search, Trial};
use super::signals::FeatureTimeline;
use crate::progress::Progress;

/// The settings a family's search varies, as JSON (for the table).
fn tuned_values(p: &TrainParams) -> serde_json::Value {
    let decay = serde_json::json!(p.half_life_days);
    let recency = serde_json::json!(p.history_half_life);
    match p.model {
        ModelKind::Popularity => serde_json::json!({}),
        ModelKind::Trending => {
            serde_json::json!({"trending_half_life_days": p.trending_half_life_days})
        }
        ModelKind::Als => serde_json::json!({
            "factors": p.factors, "regularization": p.regularization, "alpha": p.alpha,
            "half_life_days": decay,
        }),
        ModelKind::Hybrid => serde_json::json!({
            "factors": p.factors, "regularization": p.regularization, "alpha": p.alpha,
            "half_life_days": decay, "history_half_life": recency,
            "transition_window": p.transition_window,
        }),
        ModelKind::ItemKnn => serde_json::json!({
            "neighbours": p.neighbours, "bm25": p.bm25, "half_life_days": decay,
            "history_half_life": recency,
        }),
        ModelKind::Content => {
            serde_json::json!({"neighbours": p.neighbours, "history_half_life": recency})
        }
        ModelKind::Ease => serde_json::json!({
            "lambda": p.lambda, "half_life_days": decay, "history_half_life": recency,
        }),
    }
}

/// `lo..hi` drawn uniformly on a log scale.
fn log_uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    (rng.random_range(lo.ln()..hi.ln())).exp()
}

/// A configuration drawn from `p.model`'s ranges; the rest of `p` is kept.
pub fn draw(p: &TrainParams, rng: &mut impl Rng) -> TrainParams {
    let mut q = p.clone();
    let decay = |rng: &mut dyn rand::RngCore| -> Option<f64> {
        rng.random_bool(0.5)
            .then(|| (rng.random_range(7f64.ln()..365f64.ln())).exp())
    };
    // Recency of the history in interactions: off for half the draws, else 1 to 200.
    let recency = |rng: &mut dyn rand::RngCore| -> Option<f64> {
        rng.random_bool(0.5)
            .then(|| (rng.random_range(0f64..200f64.ln())).exp())
    };
    match p.model {
        ModelKind::Popularity => {}
        ModelKind::Trending => q.trending_half_life_days = log_uniform(rng, 0.5, 90.0),
        ModelKind::Als | ModelKind::Hybrid => {
            q.factors = [16, 32, 64, 128][rng.random_range(0..4)];
            q.regularization = log_uniform(rng, 1e-3, 1.0) as f32;
            q.alpha = log_uniform(rng, 1.0, 50.0) as f32;
            q.half_life_days = decay(rng);
            if p.model == ModelKind::Hybrid {
                q.history_half_life = recency(rng);
                q.transition_window = [1, 3, 5, 10, 20][rng.random_range(0..5)];
            }
        }
        ModelKind::ItemKnn => {
            q.neighbours = log_uniform(rng, 10.0, 500.0).round() as usize;
            q.bm25 = rng.random_bool(0.5);
            q.half_life_days = decay(rng);
            q.history_half_life = recency(rng);
        }
        ModelKind::Content => {
            q.neighbours = log_uniform(rng, 10.0, 500.0).round() as usize;
            q.history_half_life = recency(rng);
        }
        ModelKind::Ease => {
            q.lambda = log_uniform(rng, 1.0, 5000.0);
            q.half_life_days = decay(rng);
            q.history_half_life = recency(rng);
        }
    }
    q
}

/// Searches `trials` configurations of `p` on the validation split of `events`' training
/// part and returns the best settings (with `tune_trials` cleared) and the table.
pub fn search(
    events: &[Interaction],
    catalogue: &[ItemRecord],
    features: &FeatureTimeline,
    p: &TrainParams,
    trials: usize,
    progress: &dyn Progress,
) -> Result<(TrainParams, Search), RecommendError> {
    let training_part = eval::split(events, holdout_of(p)).train;
    let mut rng = rand::rngs::StdRng::seed_from_u64(p.seed ^ 0x7475_6e65);
    let base = TrainParams {
        tune_trials: None,
        gate: None,
        ..p.clone()
    };
    let trials = if p.model == ModelKind::Popularity {
        1
    } else {
        trials
    };
    let mut table = Vec::with_capacity(trials);
    let mut best: Option<(usize, f64, TrainParams)> = None;
    for t in 0..trials {
        progress.report(
            100.0 * t as f64 / trials as f64,
            &format!("tuning: trial {} of {trials}", t + 1),
        );
        let candidate = if t == 0 {
            base.clone()
        } else {
            draw(&base, &mut rng)
        };
        let m = holdout_metrics(
            &training_part,
            catalogue,
            features,
            &candidate,
            &crate::progress::none(),
        )?;
        if best.as_ref().is_none_or(|b| m.ndcg > b.1) {
            best = Some((t, m.ndcg, candidate.clone()));
        }
        table.push(Trial {
            params: tuned_values(&candidate),
            ndcg: m.ndcg,
            recall: m.recall,
            users: m.users,
        });
    }
    let (index, _, params) = best.expect("at least one trial");
    let params = TrainParams {
        gate: p.gate,
        tune_trials: p.tune_trials,
        ..params
    };
    Ok((
        params,
        Search {
            trials: table,
            best: index,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_range_and_keep_the_rest() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for model in [
            ModelKind::Als,
            ModelKind::Hybrid,
            ModelKind::ItemKnn,
            ModelKind::Ease,
            ModelKind::Trending,
        ] {
            let p = TrainParams {
                model,
                k: 7,
                ..TrainParams::default()
            };
            for _ in 0..50 {
                let q = draw(&p, &mut rng);
                q.validate().unwrap();
                assert_eq!((q.k, q.model), (7, model));
                assert!((1.0..=5000.0).contains(&q.lambda));
                assert!((0.5..=90.0).contains(&q.trending_half_life_days));
                assert!((10..=500).contains(&q.neighbours));
                assert!(
                    q.history_half_life
                        .is_none_or(|h| (1.0..=200.0).contains(&h))
                );
            }
        }
    }
}
