//! Fitting a recommender on data in memory: split by time, tune (the hybrid's blends), fit
//! the chosen family, evaluate it next to the popularity baseline, refit on everything. No
//! I/O: `train` reads the lake and the feature store, then calls [`train_with`] on a blocking
//! thread.

use super::RecommendError;
use super::als::AlsModel;
use super::artifact::{Model, ModelKind, RecommenderArtifact};
use super::content::ContentModel;
use super::data::{self, IdMap, Interaction, ItemRecord, MatrixOptions};
use super::eval::{self, Holdout, Metrics};
use super::hybrid::{HybridModel, candidate_blends, choose_blend, scale_by_max};
use super::item_knn::ItemKnn;
use super::params::TrainParams;
use super::popularity::Popularity;
use super::report::{HybridReport, Trained, Tuned};
use super::sequence::Transitions;
use super::signals::{self, FeatureSnapshot, FeatureTimeline, ItemPrior};
use super::sparse::SparseRows;
use crate::progress::Progress;

/// Feature-store signals of one hybrid fit.
#[derive(Debug, Default)]
struct Signals {
    prior: Vec<f32>,
    prior_model: Option<ItemPrior>,
    active_users: Vec<bool>,
    threshold: Option<f64>,
    notes: Vec<String>,
}

/// The hybrid's signals for a fit on `events` (ending at their newest instant `t`): the item
/// prior is fitted on the features as of `t − holdout` against each item's distinct users in
/// `(t − holdout, t]`, then applied to the features as of `t`; users are split by their
/// activity as of `t`. Every value used was computed from data before `t`.
fn hybrid_signals(
    events: &[Interaction],
    m: &data::InteractionMatrix,
    features: &FeatureTimeline,
    holdout_days: f64,
) -> Signals {
    let mut s = Signals::default();
    let t = events.iter().map(|e| e.ts).max().unwrap_or(0);
    let h = (holdout_days * 86_400e6) as i64;
    let empty = FeatureSnapshot::default();
    let width = features.item_features.len();
    if width > 0 {
        let before = features.at(t - h).unwrap_or(&empty);
        let now = features.at(t).unwrap_or(&empty);
        let demand = signals::demand_between(events, &m.items, t - h, t);
        let rows = signals::item_rows(before, &m.items, width);
        match ItemPrior::fit(&features.item_features, &rows, &demand) {
            Some(prior) => {
                let mut v = prior.predict(&signals::item_rows(now, &m.items, width));
                scale_by_max(&mut v);
                s.prior = v;
                s.prior_model = Some(prior);
            }
            None => s.notes.push(
                "no item prior: too few items have feature values (materialize the item views)"
                    .into(),
            ),
        }
    }
    if features.user_feature.is_some() {
        match features.at(t).and_then(signals::activity_threshold) {
            Some(threshold) => {
                let now = features.at(t).unwrap_or(&empty);
                s.active_users = signals::active_users(now, &m.users, threshold);
                s.threshold = Some(threshold);
            }
            None => s.notes.push(
                "one blend for all users: no activity values (materialize the user views)".into(),
            ),
        }
    }
    s
}

/// The instants whose feature values a hybrid run reads: for the validation, evaluation and
/// final fits, the end of their training data and one holdout before it (the same cut as
/// [`eval::split`] with `Holdout::LastDays`).
pub fn feature_instants(events: &[Interaction], holdout_days: f64) -> Vec<i64> {
    let h = (holdout_days * 86_400e6) as i64;
    let newest_up_to = |limit: i64| events.iter().map(|e| e.ts).filter(|&t| t <= limit).max();
    let mut out = Vec::new();
    let mut end = events.iter().map(|e| e.ts).max();
    for _ in 0..3 {
        let Some(t) = end else { break };
        out.extend([t, t - h]);
        end = newest_up_to(t - h);
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn cancelled() -> RecommendError {
    RecommendError::invalid("training", "cancelled")
}

struct Fitted {
    model: Model,
    tuned: Option<Tuned>,
    report: Option<HybridReport>,
}

/// Every user's history in `m`, oldest first by the newest event of each item: what
/// serving scores from (`RecommenderArtifact::user_history`).
fn histories(events: &[Interaction], m: &data::InteractionMatrix) -> Vec<Vec<(u32, f32)>> {
    let last = data::last_seen(events, m);
    let mut start = 0;
    m.matrix
        .outer_iterator()
        .map(|row| {
            let idx: Vec<u32> = row.indices().iter().map(|&i| i as u32).collect();
            let val: Vec<f32> = row.data().iter().map(|&v| v as f32).collect();
            let h = data::ordered_row(&idx, &val, &last[start..start + idx.len()]);
            start += idx.len();
            h
        })
        .collect()
}

/// `histories` with the recency weights of `half_life` (serving's `weighed`).
fn with_recency(histories: &[Vec<(u32, f32)>], half_life: Option<f64>) -> Vec<Vec<(u32, f32)>> {
    histories
        .iter()
        .map(|h| {
            let mut h = h.clone();
            super::sequence::weigh_recent(&mut h, half_life.map(|h| h as f32));
            h
        })
        .collect()
}

/// `events` with the run's event weights (read with the defaults: no copy when they are).
fn weighted<'a>(
    events: &'a [Interaction],
    w: &data::EventWeights,
) -> std::borrow::Cow<'a, [Interaction]> {
    if *w == data::EventWeights::default() {
        std::borrow::Cow::Borrowed(events)
    } else {
        std::borrow::Cow::Owned(w.apply(events))
    }
}

fn transitions(d: &FitData<'_>, p: &TrainParams) -> Transitions {
    let seqs = data::sequences(d.events, d.m);
    Transitions::fit(
        seqs.iter().map(Vec::as_slice),
        d.m.items.len(),
        &p.transitions(),
    )
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

/// What one fit sees besides the matrix: the events it was built from and the feature
/// snapshots.
struct FitData<'a> {
    events: &'a [Interaction],
    m: &'a data::InteractionMatrix,
    pop: &'a Popularity,
    features: &'a FeatureTimeline,
}

/// Tunes the hybrid's blends on `validation`: every candidate is scored per validation user
/// once; the best mean NDCG over everyone, over active users and over the rest picks the
/// three blends.
fn tune(
    h: &HybridModel,
    d: &FitData<'_>,
    p: &TrainParams,
    validation: &[Interaction],
) -> Option<Tuned> {
    let m = d.m;
    let rel = eval::relevance(validation, &m.users, &m.items, &m.matrix);
    if rel.is_empty() {
        return None;
    }
    let hist = with_recency(&histories(d.events, m), p.history_half_life);
    let candidates = candidate_blends(!h.item_prior.is_empty(), h.transitions.is_some());
    let k = p.k;
    let per_user: Vec<Vec<f64>> = candidates
        .iter()
        .map(|&w| {
            eval::ndcg_per_user(
                |u| h.score_with(Some(u), &hist[u as usize], w),
                &m.matrix,
                &rel,
                k,
            )
        })
        .collect();
    let active: Vec<bool> = rel
        .iter()
        .map(|(u, _)| h.active_users.get(*u as usize).copied().unwrap_or(false))
        .collect();
    let overall = candidates[choose_blend(&candidates, &per_user, |_| true)?];
    let pick = |want: bool| {
        choose_blend(&candidates, &per_user, |i| active[i] == want)
            .map(|c| candidates[c])
            .unwrap_or(overall)
    };
    Some(Tuned {
        overall,
        light: pick(false),
        active: pick(true),
    })
}

/// Whether a per-item signal tells items apart at all.
fn informative(values: &[f32]) -> bool {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    hi - lo > 1e-6 * hi.abs().max(lo.abs()).max(1e-12)
}

fn fit_ease(
    m: &super::data::InteractionMatrix,
    p: &TrainParams,
) -> Result<super::ease::Ease, RecommendError> {
    let ease = super::ease::fit(&m.matrix, &p.ease())
        .map_err(|e| RecommendError::invalid("lambda", e.to_string()))?;
    if ease.items_fitted < m.items.len() {
        tracing::info!(
            items = m.items.len(),
            fitted = ease.items_fitted,
            "EASE fitted on the most interacted-with items only (max_items)"
        );
    }
    Ok(ease)
}

fn fit(
    p: &TrainParams,
    d: &FitData<'_>,
    catalogue: &[ItemRecord],
    validation: Option<&[Interaction]>,
    progress: &dyn Fn(usize) -> bool,
) -> Result<Fitted, RecommendError> {
    let (m, pop) = (d.m, d.pop);
    let rows = catalogue_rows(&m.items, catalogue);
    let mut report = None;
    let mut tuned = None;
    let model = match p.model {
        ModelKind::Popularity => Model::Popularity(pop.clone()),
        ModelKind::Trending => Model::Trending(pop.clone()),
        ModelKind::ItemKnn => Model::ItemKnn(ItemKnn::fit(&m.matrix, p.weighting(), p.neighbours)),
        ModelKind::Content => Model::Content(ContentModel::fit(&rows, p.neighbours)),
        ModelKind::Ease => Model::Ease(fit_ease(m, p)?),
        ModelKind::Als => Model::Als(AlsModel::fit(&m.matrix, &p.als(), progress)?),
        ModelKind::Hybrid => {
            let als = AlsModel::fit(&m.matrix, &p.als(), progress)?;
            let content = ContentModel::fit(&rows, p.neighbours);
            let mut signals = hybrid_signals(d.events, m, d.features, p.holdout_days);
            if !signals.prior.is_empty() && !informative(&signals.prior) {
                // A constant prior (e.g. item counts that are all zero with rating events)
                // ranks nothing and would only explain answers as "trending".
                signals.prior.clear();
                signals.notes.push(
                    "the item prior is the same for every item (its features carry no \
                     information): left out of the blend"
                        .into(),
                );
            }
            let mut h = HybridModel::plain(als, content, 0.5);
            h.item_prior = signals.prior;
            h.prior_model = signals.prior_model.clone();
            h.active_users = signals.active_users;
            h.transitions = (p.transition_window > 0).then(|| transitions(d, p));
            if let Some(val) = validation {
                tuned = tune(&h, d, p, val);
            }
            if let Some(t) = tuned {
                apply(&mut h, t);
            }
            report = Some(HybridReport {
                blends: tuned,
                item_prior: signals.prior_model,
                activity_threshold: signals.threshold,
                notes: signals.notes,
            });
            Model::Hybrid(Box::new(h))
        }
    };
    Ok(Fitted {
        model,
        tuned,
        report,
    })
}

fn apply(h: &mut HybridModel, t: Tuned) {
    h.overall = t.overall;
    h.light = t.light;
    h.active = t.active;
}

/// Pure training on in-memory data without feature-store signals: see [`train_with`].
pub fn train_on(
    events: &[Interaction],
    catalogue: &[ItemRecord],
    p: &TrainParams,
    progress: &dyn Progress,
) -> Result<Trained, RecommendError> {
    train_with(events, catalogue, &FeatureTimeline::default(), p, progress)
}

/// Progress of a run counted in fits (one per pass over a model's data).
struct Steps<'a> {
    progress: &'a dyn Progress,
    fits: f64,
}

impl Steps<'_> {
    fn for_model(progress: &dyn Progress, model: ModelKind, fits_after_holdout: f64) -> Steps<'_> {
        let holdout_fits = if model == ModelKind::Hybrid { 2.0 } else { 1.0 };
        Steps {
            progress,
            fits: holdout_fits + fits_after_holdout,
        }
    }

    /// Reports, then says whether to go on (false: cancelled).
    fn step(&self, phase: f64, msg: &str) -> bool {
        self.progress
            .report(100.0 * (phase / self.fits).min(1.0), msg);
        !self.progress.is_cancelled()
    }
}

/// What the holdout phase of a run produced.
struct Evaluation {
    metrics: Metrics,
    baseline: Metrics,
    /// The hybrid's blends tuned on the validation split.
    validation: Option<Tuned>,
    /// Fits done so far (for progress).
    phase: f64,
    /// The holdout metrics of the same fit scored with each of the extra recency half-lives
    /// asked for.
    by_recency: Vec<Metrics>,
}

/// What the holdout answers say about serving: how often the model fell back to popularity
/// and how long scoring one user took (the gate's guardrails).
#[derive(Default)]
struct ServingProbe {
    fallbacks: std::sync::atomic::AtomicUsize,
    millis: std::sync::Mutex<Vec<f64>>,
}

impl ServingProbe {
    /// Runs one user's scoring: `Ok` the model's scores, `Err` the fallback's.
    fn time(&self, score: impl FnOnce() -> Result<Vec<f32>, Vec<f32>>) -> Vec<f32> {
        let started = std::time::Instant::now();
        let scores = score();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.millis.lock().expect("not poisoned").push(ms);
        scores.unwrap_or_else(|fallback| {
            self.fallbacks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            fallback
        })
    }

    fn fill(self, metrics: &mut Metrics) {
        let mut millis = self.millis.into_inner().expect("not poisoned");
        if millis.is_empty() {
            return;
        }
        millis.sort_by(f64::total_cmp);
        let n = millis.len();
        metrics.fallback_share = self.fallbacks.into_inner() as f64 / n as f64;
        metrics.score_ms_mean = millis.iter().sum::<f64>() / n as f64;
        metrics.score_ms_p99 = millis[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1];
    }
}

/// Holdout metrics of `p` on `events` without the final fit on all data: how a gate scores
/// the promoted version's configuration on a candidate's split.
pub fn holdout_metrics(
    events: &[Interaction],
    catalogue: &[ItemRecord],
    features: &FeatureTimeline,
    p: &TrainParams,
    progress: &dyn Progress,
) -> Result<Metrics, RecommendError> {
    let steps = Steps::for_model(progress, p.model, 0.0);
    let events = weighted(events, &p.event_weights);
    Ok(evaluate(&events, catalogue, features, p, &steps, &[])?.metrics)
}

/// [`holdout_metrics`] of `p` with each history half-life of `half_lives`, from one fit.
/// Why one fit: for item-kNN, EASE and content the half-life only weighs the history a
/// score starts from, so trying several costs scoring passes, not fits (an EASE fit of
/// 10,000 items is half a minute).
pub fn holdout_metrics_by_recency(
    events: &[Interaction],
    catalogue: &[ItemRecord],
    features: &FeatureTimeline,
    p: &TrainParams,
    half_lives: &[Option<f64>],
    progress: &dyn Progress,
) -> Result<Vec<Metrics>, RecommendError> {
    let steps = Steps::for_model(progress, p.model, 0.0);
    let events = weighted(events, &p.event_weights);
    Ok(evaluate(&events, catalogue, features, p, &steps, half_lives)?.by_recency)
}

/// How `p` cuts its test set: each user's last `test_per_user`, else the last `holdout_days`.
pub(super) fn holdout_of(p: &TrainParams) -> Holdout {
    match p.test_per_user {
        Some(k) => Holdout::LastPerUser { k },
        None => Holdout::LastDays {
            days: p.holdout_days,
        },
    }
}

/// Phase 1 of a run: fit on the past, evaluate on the holdout next to popularity (the hybrid
/// tunes its weights on a validation split cut the same way from the past). `events` carry
/// the run's event weights already (its callers apply them once).
fn evaluate(
    events: &[Interaction],
    catalogue: &[ItemRecord],
    features: &FeatureTimeline,
    p: &TrainParams,
    steps: &Steps<'_>,
    also: &[Option<f64>],
) -> Result<Evaluation, RecommendError> {
    p.validate()?;
    if events.is_empty() {
        return Err(RecommendError::NoData(
            "the interactions dataset is empty".into(),
        ));
    }
    let holdout = holdout_of(p);
    let split = eval::split(events, holdout);
    if split.train.is_empty() {
        return Err(RecommendError::NoData(match p.test_per_user {
            Some(k) => format!("no user has more than {k} interactions"),
            None => format!(
                "every interaction is within the {}-day holdout",
                p.holdout_days
            ),
        }));
    }
    let iters = p.iterations as f64;
    let is_als = matches!(p.model, ModelKind::Als | ModelKind::Hybrid);
    if !steps.step(0.0, "preparing") {
        return Err(cancelled());
    }
    let (train_m, train_pop) = popularity(&split.train, catalogue, p);
    let mut phase = 0.0;
    let validation = if p.model == ModelKind::Hybrid {
        let inner = eval::split(&split.train, holdout);
        if inner.train.is_empty() {
            None
        } else {
            let (inner_m, inner_pop) = popularity(&inner.train, catalogue, p);
            let on_iter = |i: usize| steps.step(phase + i as f64 / iters, "tuning blend weights");
            let data = FitData {
                events: &inner.train,
                m: &inner_m,
                pop: &inner_pop,
                features,
            };
            let f = fit(p, &data, catalogue, Some(&inner.test), &on_iter)?;
            phase += 1.0;
            f.tuned
        }
    } else {
        None
    };
    let eval_params = TrainParams {
        model: p.model,
        ..p.clone()
    };
    let on_iter = |i: usize| steps.step(phase + i as f64 / iters, "fitting on the training split");
    let data = FitData {
        events: &split.train,
        m: &train_m,
        pop: &train_pop,
        features,
    };
    let mut fitted = fit(&eval_params, &data, catalogue, None, &on_iter)?;
    if let (Model::Hybrid(h), Some(t)) = (&mut fitted.model, validation) {
        apply(h, t);
    }
    if !is_als && !steps.step(phase + 0.9, "evaluating") {
        return Err(cancelled());
    }
    let rel = eval::relevance(&split.test, &train_m.users, &train_m.items, &train_m.matrix);
    let model = &fitted.model;
    let ordered = histories(&split.train, &train_m);
    let hist = with_recency(&ordered, p.history_half_life);
    let served = ServingProbe::default();
    let mut metrics = eval::evaluate(
        |u| {
            served.time(|| {
                model
                    .score(Some(u), &hist[u as usize])
                    .ok_or_else(|| train_pop.scores())
            })
        },
        &train_m.matrix,
        &rel,
        p.k,
    );
    served.fill(&mut metrics);
    let by_recency = also
        .iter()
        .map(|&h| {
            let hist = with_recency(&ordered, h);
            eval::evaluate(
                |u| {
                    model
                        .score(Some(u), &hist[u as usize])
                        .unwrap_or_else(|| train_pop.scores())
                },
                &train_m.matrix,
                &rel,
                p.k,
            )
        })
        .collect();
    // The baseline is plain popularity (distinct users per item), the standard one.
    let baseline_scores = train_pop.count_scores();
    let baseline = eval::evaluate(|_| baseline_scores.clone(), &train_m.matrix, &rel, p.k);
    Ok(Evaluation {
        metrics,
        baseline,
        validation,
        phase: phase + 1.0,
        by_recency,
    })
}

/// Pure training on in-memory data: evaluation on the holdout, then the final model on all
/// events. `events` need not be sorted; `features` holds the hybrid's feature snapshots at
/// [`feature_instants`] (missing instants: no feature signals for that fit).
pub fn train_with(
    events: &[Interaction],
    catalogue: &[ItemRecord],
    features: &FeatureTimeline,
    p: &TrainParams,
    progress: &dyn Progress,
) -> Result<Trained, RecommendError> {
    let steps = Steps::for_model(progress, p.model, 1.0);
    let events = &*weighted(events, &p.event_weights);
    let Evaluation {
        metrics,
        baseline,
        validation,
        phase,
        ..
    } = evaluate(events, catalogue, features, p, &steps, &[])?;
    let iters = p.iterations as f64;
    // Phase 2: the version that serves is fitted on everything.
    let (all_m, all_pop) = popularity(events, catalogue, p);
    let on_iter = |i: usize| steps.step(phase + i as f64 / iters, "fitting on all data");
    let data = FitData {
        events,
        m: &all_m,
        pop: &all_pop,
        features,
    };
    let mut final_fit = fit(p, &data, catalogue, None, &on_iter)?;
    if let (Model::Hybrid(h), Some(t)) = (&mut final_fit.model, validation) {
        apply(h, t);
    }
    let hybrid = final_fit.report.take().map(|mut r| {
        r.blends = validation;
        r
    });
    if !steps.step(steps.fits, "done") {
        return Err(cancelled());
    }
    let artifact = RecommenderArtifact {
        items: RecommenderArtifact::item_meta(&all_m.items, catalogue),
        users: all_m.users.ids().to_vec(),
        history: SparseRows::from_csmat(&all_m.matrix),
        history_actions: data::strongest_actions(events, &all_m),
        history_last: data::last_seen(events, &all_m),
        history_half_life: p.history_half_life.map(|h| h as f32),
        event_weights: p.event_weights,
        popularity: all_pop,
        model: final_fit.model,
    };
    Ok(Trained {
        artifact,
        metrics,
        baseline,
        hybrid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_signal_is_not_informative() {
        assert!(!informative(&[0.0, 0.0, 0.0]));
        assert!(!informative(&[0.7; 5]));
        assert!(!informative(&[]));
        assert!(informative(&[0.0, 0.0, 1e-3]));
        assert!(informative(&[1.0, 2.0, f32::NAN]));
    }

    #[test]
    fn feature_instants_are_the_ends_of_every_fit_and_one_holdout_before() {
        let day = 86_400_000_000i64;
        let events: Vec<Interaction> = [0, 3, 9, 10, 14, 20]
            .iter()
            .map(|&d| Interaction {
                user_id: "u".into(),
                item_id: "i".into(),
                event_type: "view".into(),
                weight: 1.0,
                ts: d * day + 5,
            })
            .collect();
        let holdout = Holdout::LastDays { days: 5.0 };
        // The final fit ends at the newest event, the evaluation fit at the newest event of
        // the outer split's past, the validation fit at that of the inner split's past.
        let outer = eval::split(&events, holdout);
        let inner = eval::split(&outer.train, holdout);
        let end = |e: &[Interaction]| e.iter().map(|e| e.ts).max().unwrap();
        let ends = [end(&events), end(&outer.train), end(&inner.train)];
        let mut want: Vec<i64> = ends.iter().flat_map(|&t| [t, t - 5 * day]).collect();
        want.sort_unstable();
        want.dedup();
        assert_eq!(feature_instants(&events, 5.0), want);
        assert_eq!(ends, [20 * day + 5, 14 * day + 5, 9 * day + 5]);
        assert!(feature_instants(&[], 5.0).is_empty());
    }
}
