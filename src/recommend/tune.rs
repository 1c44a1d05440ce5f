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
use super::data::{EventWeights, Interaction, ItemRecord};
use super::eval;
use super::fit::{holdout_metrics, holdout_metrics_by_recency, holdout_of};
use super::params::TrainParams;
pub use super::report::{Search, Trial};
use super::signals::FeatureTimeline;
use crate::progress::Progress;

/// The settings a family's search varies, as JSON (for the table).
fn tuned_values(p: &TrainParams) -> serde_json::Value {
    let decay = serde_json::json!(p.half_life_days);
    let recency = serde_json::json!(p.history_half_life);
    let mut values = match p.model {
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
    };
    if weighs_events(p.model) {
        values["event_weights"] = serde_json::json!(p.event_weights);
    }
    values
}

/// Families whose matrix the event weights shape (and the search varies them for).
fn weighs_events(model: ModelKind) -> bool {
    matches!(
        model,
        ModelKind::ItemKnn | ModelKind::Als | ModelKind::Ease | ModelKind::Hybrid
    )
}

/// Event weights: the given ones for half the draws, else a view counting 1 and clicks,
/// carts and purchases drawn on log scales up to 5, 20 and 50.
fn draw_weights(p: &TrainParams, rng: &mut impl Rng) -> EventWeights {
    if rng.random_bool(0.5) {
        return p.event_weights;
    }
    EventWeights {
        view: 1.0,
        click: log_uniform(rng, 1.0, 5.0),
        add_to_cart: log_uniform(rng, 1.0, 20.0),
        purchase: log_uniform(rng, 1.0, 50.0),
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
    // Recency of the history in interactions (the hybrid's: its blends are tuned on the
    // weighted history, so it is drawn with the fit; the others get the recency pass):
    // off for half the draws, else 1 to 200.
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
        }
        ModelKind::Content => {
            q.neighbours = log_uniform(rng, 10.0, 500.0).round() as usize;
        }
        ModelKind::Ease => {
            q.lambda = log_uniform(rng, 1.0, 5000.0);
            q.half_life_days = decay(rng);
        }
    }
    if weighs_events(p.model) {
        q.event_weights = draw_weights(p, rng);
    }
    q
}

/// Families whose scores start from the user's history with no refit per history weighting.
fn scores_from_history(model: ModelKind) -> bool {
    matches!(
        model,
        ModelKind::ItemKnn | ModelKind::Ease | ModelKind::Content
    )
}

/// Recency half-lives the second pass tries (interactions; None: no recency weights).
const RECENCY_GRID: [Option<f64>; 9] = [
    None,
    Some(1.0),
    Some(2.0),
    Some(4.0),
    Some(8.0),
    Some(16.0),
    Some(32.0),
    Some(64.0),
    Some(128.0),
];

/// The second pass of a search for families that score from the history: the winner of the
/// random pass, fitted once, scored with every half-life of [`RECENCY_GRID`] it did not
/// have; each returned with its validation metrics.
fn recency_pass(
    training_part: &[Interaction],
    catalogue: &[ItemRecord],
    features: &FeatureTimeline,
    winner: &TrainParams,
) -> Result<Vec<(TrainParams, super::eval::Metrics)>, RecommendError> {
    let grid: Vec<Option<f64>> = RECENCY_GRID
        .into_iter()
        .filter(|&h| h != winner.history_half_life)
        .collect();
    let metrics = holdout_metrics_by_recency(
        training_part,
        catalogue,
        features,
        winner,
        &grid,
        &crate::progress::none(),
    )?;
    Ok(grid
        .into_iter()
        .zip(metrics)
        .map(|(h, m)| {
            let q = TrainParams {
                history_half_life: h,
                ..winner.clone()
            };
            (q, m)
        })
        .collect())
}

/// Adds a trial to the table, and makes it the best when its validation NDCG beats the best
/// so far (ties: the earlier trial).
fn record(
    table: &mut Vec<Trial>,
    best: &mut Option<(usize, f64, TrainParams)>,
    candidate: TrainParams,
    m: &super::eval::Metrics,
) {
    table.push(Trial {
        params: tuned_values(&candidate),
        ndcg: m.ndcg,
        recall: m.recall,
        users: m.users,
    });
    if best.as_ref().is_none_or(|b| m.ndcg > b.1) {
        *best = Some((table.len() - 1, m.ndcg, candidate));
    }
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
        record(&mut table, &mut best, candidate, &m);
    }
    if scores_from_history(p.model) {
        let (_, _, winner) = best.clone().expect("at least one trial");
        progress.report(99.0, "tuning: history recency");
        let tried = recency_pass(&training_part, catalogue, features, &winner)?;
        for (candidate, m) in tried {
            record(&mut table, &mut best, candidate, &m);
        }
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

    /// Users who walk a chain of items in order: their latest items say what comes next, so
    /// the recency pass finds a half-life that beats the bag of items on validation.
    #[test]
    fn the_recency_pass_weighs_recent_history_when_it_predicts_better() {
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut events = Vec::new();
        for u in 0..120 {
            let start = rng.random_range(0..30);
            for s in 0..12 {
                events.push(Interaction {
                    user_id: format!("u{u}"),
                    item_id: format!("i{}", (start + s) % 40),
                    event_type: "view".into(),
                    weight: 1.0,
                    ts: (u * 100 + s) as i64 * 1_000_000,
                });
            }
        }
        let p = TrainParams {
            model: ModelKind::ItemKnn,
            test_per_user: Some(2),
            ..TrainParams::default()
        };
        let features = FeatureTimeline::default();
        let (best, table) =
            search(&events, &[], &features, &p, 2, &crate::progress::none()).unwrap();
        assert_eq!(table.trials.len(), 2 + RECENCY_GRID.len() - 1);
        let chosen = &table.trials[table.best];
        assert!(chosen.ndcg > table.trials[0].ndcg, "{table:?}");
        assert!(best.history_half_life.is_some(), "{table:?}");
        assert_eq!(
            chosen.params["history_half_life"],
            serde_json::json!(best.history_half_life)
        );
    }
}
