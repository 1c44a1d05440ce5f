//! Serving: the promoted recommender held in memory behind an `ArcSwap`, and the business
//! rules applied to model scores (active only, exclusions, seen items, category, diversity,
//! explanations, cold start).
//!
//! Why `ArcSwap`: a request takes a reference-counted snapshot of the model with one atomic
//! load and keeps it for its whole life, so a reload swaps the pointer without blocking or
//! failing a request in flight. A version that cannot be loaded (missing, corrupt, unreadable)
//! leaves the old model in place; replicas converge by polling the registry.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde::Serialize;

use super::RecommendError;
use super::artifact::{Model, RecommenderArtifact};
use super::data::{Action, IdMap};
use super::eval::top_k;
use super::retrieval::FactorIndex;
use super::train::REGISTRY_KIND;
use crate::registry::ModelRegistry;

/// Largest `k` a request may ask for.
pub const MAX_K: usize = 500;
/// How often a replica checks the registry for a newly promoted version.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Weight a `recent` item of the request gets in the user's history.
const RECENT_WEIGHT: f32 = 1.0;
/// History items considered when explaining a recommendation.
const EXPLAIN_HISTORY: usize = 50;

/// A loaded version, with the lookups requests need precomputed.
pub struct ServingModel {
    pub version: String,
    artifact: RecommenderArtifact,
    users: IdMap,
    items: IdMap,
    categories: Vec<Option<String>>,
    trending: Vec<u32>,
    trending_by_category: HashMap<String, Vec<u32>>,
    popularity_scores: Vec<f32>,
    /// The hybrid's item prior re-applied to the online store's newest item features (None
    /// until the first refresh, or for other models): fresher than the prior of training.
    live_prior: ArcSwapOption<LivePrior>,
    /// Quantised item factors for the exact top-k scan, when the model is ALS.
    als_index: Option<FactorIndex>,
    /// Euclidean norm of each ALS item factor row (ALS and hybrid models), so an
    /// explanation's cosine is one dot product.
    als_norms: Vec<f32>,
    /// The largest popularity score (fill scores are scaled by it).
    max_popularity: f32,
}

/// An item prior computed from online feature values.
pub struct LivePrior {
    /// Which materializations it was computed from (see `OnlineStore::stamp`).
    pub stamp: String,
    /// Per item index, scaled to 0..=1.
    pub scores: Vec<f32>,
}

/// One recommendation request.
#[derive(Debug, Clone, Default)]
pub struct RecommendRequest {
    pub user_id: String,
    pub k: usize,
    pub category: Option<String>,
    pub exclude: Vec<String>,
    pub exclude_seen: bool,
    /// 0 = pure relevance; 1 = strongest penalty for repeating a category.
    pub diversity: f32,
    /// Items the caller saw recently (cold-start context for unknown users).
    pub recent: Vec<String>,
    /// The user's fresh events from the recent-activity state (`recommend::realtime`).
    pub context: super::realtime::UserContext,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredItem {
    pub item_id: String,
    pub rank: usize,
    pub score: f64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendations {
    pub user_id: String,
    pub model_version: String,
    pub recommendation_id: String,
    pub items: Vec<ScoredItem>,
    /// How many recent events the answer used, and the newest one's time (epoch ms).
    pub recent_events: usize,
    pub newest_event: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarItems {
    pub item_id: String,
    pub model_version: String,
    pub items: Vec<ScoredItem>,
}

/// Validates `k` (1..=MAX_K).
pub fn check_k(k: usize) -> Result<usize, RecommendError> {
    if (1..=MAX_K).contains(&k) {
        Ok(k)
    } else {
        Err(RecommendError::invalid(
            "k",
            format!("must be between 1 and {MAX_K}"),
        ))
    }
}

impl ServingModel {
    pub fn new(version: String, artifact: RecommenderArtifact) -> ServingModel {
        let users = IdMap::from_ids(artifact.users.clone());
        let items = IdMap::from_ids(artifact.items.iter().map(|m| m.item_id.clone()).collect());
        let categories: Vec<Option<String>> =
            artifact.items.iter().map(|m| m.category.clone()).collect();
        // The fill for cold starts: plain popularity for the popularity model, trending for
        // every other.
        let plain = matches!(artifact.model, Model::Popularity(_));
        let pop = &artifact.popularity;
        let trending = if plain {
            pop.ranked_popular()
        } else {
            pop.ranked_trending()
        };
        let trending_by_category =
            super::popularity::Popularity::by_category(&trending, &categories);
        let popularity_scores = if plain {
            pop.count_scores()
        } else {
            pop.scores()
        };
        let max_popularity = popularity_scores
            .iter()
            .cloned()
            .fold(0f32, f32::max)
            .max(f32::MIN_POSITIVE);
        let als_index = match &artifact.model {
            Model::Als(m) => FactorIndex::build(&m.item_factors, m.factors),
            _ => None,
        };
        let als = match &artifact.model {
            Model::Als(m) => Some(m),
            Model::Hybrid(h) => Some(&h.als),
            _ => None,
        };
        let als_norms = als.map_or_else(Vec::new, |m| {
            m.item_factors
                .chunks_exact(m.factors.max(1))
                .map(|y| fast_dot(y, y).sqrt())
                .collect()
        });
        ServingModel {
            als_index,
            als_norms,
            max_popularity,
            popularity_scores,
            version,
            artifact,
            users,
            items,
            categories,
            trending,
            trending_by_category,
            live_prior: ArcSwapOption::empty(),
        }
    }

    /// The `pool` best allowed items by model score, or None when the model has no personal
    /// signal for this user. ALS answers from the quantised scan (same result as a full scan,
    /// a quarter of the memory traffic); other models score every item.
    fn ranked(
        &self,
        user: Option<u32>,
        history: &[(u32, f32)],
        pool: usize,
        allowed: impl Fn(u32) -> bool,
    ) -> Option<Vec<(u32, f32)>> {
        if let (Model::Als(m), Some(index)) = (&self.artifact.model, &self.als_index) {
            let vector = m.vector_for(user, history)?;
            return Some(index.top_k(&m.item_factors, &vector, pool, |i| !allowed(i)));
        }
        let scores = self.scores(user, history)?;
        Some(top_k(&scores, pool, |i| !allowed(i)))
    }

    /// The item prior serving uses now, if refreshed from the online store.
    pub fn live_prior(&self) -> Option<Arc<LivePrior>> {
        self.live_prior.load_full()
    }

    /// Scores for a user from the model, with the live item prior when there is one.
    fn scores(&self, user: Option<u32>, history: &[(u32, f32)]) -> Option<Vec<f32>> {
        if let (Model::Hybrid(h), Some(live)) = (&self.artifact.model, self.live_prior())
            && (user.is_some() || !history.is_empty())
        {
            return Some(h.score_with_prior(user, history, &live.scores));
        }
        self.artifact.model.score(user, history)
    }

    /// Re-applies the hybrid's prior regression to the online store's item features, unless
    /// the store has not been materialized since the last refresh. Returns whether it changed.
    pub async fn refresh_live_prior(
        &self,
        online: &crate::features::online::OnlineStore,
    ) -> Result<bool, RecommendError> {
        let Model::Hybrid(h) = &self.artifact.model else {
            return Ok(false);
        };
        let Some(prior) = &h.prior_model else {
            return Ok(false);
        };
        let stamp = online.stamp(&prior.features).await?;
        if self.live_prior().is_some_and(|p| p.stamp == stamp) {
            return Ok(false);
        }
        let table = online.table(&prior.features).await?;
        let width = prior.features.len();
        let rows: Vec<Vec<Option<f64>>> = self
            .items
            .ids()
            .iter()
            .map(|id| table.get(id).cloned().unwrap_or_else(|| vec![None; width]))
            .collect();
        let mut scores = prior.predict(&rows);
        super::hybrid::scale_by_max(&mut scores);
        self.live_prior
            .store(Some(Arc::new(LivePrior { stamp, scores })));
        Ok(true)
    }

    pub fn model(&self) -> &Model {
        &self.artifact.model
    }

    fn title(&self, i: u32) -> &str {
        &self.artifact.items[i as usize].title
    }

    fn popular_reason(&self, i: u32) -> String {
        match &self.categories[i as usize] {
            Some(c) => format!("popular in {c}"),
            None => "popular right now".to_string(),
        }
    }

    fn trending_reason(&self, i: u32) -> String {
        match &self.categories[i as usize] {
            Some(c) => format!("trending in {c}"),
            None => "trending now".to_string(),
        }
    }

    /// Item `i`'s score under the hybrid's item prior in use (`live`, else the one of
    /// training); 0 without a prior.
    fn prior_at(&self, live: Option<&LivePrior>, i: u32) -> f32 {
        let trained = match &self.artifact.model {
            Model::Hybrid(h) => h.item_prior.as_slice(),
            _ => &[],
        };
        live.map_or(trained, |l| l.scores.as_slice())
            .get(i as usize)
            .copied()
            .unwrap_or(0.0)
    }

    /// What `user` did with item `h` at most (a request's `recent` items count as viewed).
    fn action(&self, user: Option<u32>, h: u32) -> Action {
        let Some(u) = user else {
            return Action::View;
        };
        let (idx, _) = self.artifact.history.row(u as usize);
        let start = self.artifact.history.indptr.get(u as usize).copied();
        match (idx.binary_search(&h), start) {
            (Ok(pos), Some(start)) => self
                .artifact
                .history_actions
                .get(start as usize + pos)
                .and_then(|&c| Action::from_code(c))
                .unwrap_or(Action::View),
            _ => Action::View,
        }
    }

    /// "because you ..." for the history item that supports `j` most, if any does, with what
    /// the user actually did with it. `strongest` is the history, strongest first.
    fn explain(
        &self,
        j: u32,
        user: Option<u32>,
        strongest: &[(u32, f32)],
        fresh: &HashMap<u32, Action>,
    ) -> Option<String> {
        let mut best: Option<(u32, f32)> = None;
        for &(h, _) in strongest.iter().take(EXPLAIN_HISTORY) {
            let s = self.similarity(h, j);
            if s > 0.0 && best.is_none_or(|b| s > b.1) {
                best = Some((h, s));
            }
        }
        let (h, _) = best?;
        Some(match fresh.get(&h) {
            Some(action) => action.because_just(self.title(h)),
            None => self.action(user, h).because(self.title(h)),
        })
    }

    /// Model similarity of two items (0 when the model has none).
    fn similarity(&self, a: u32, b: u32) -> f32 {
        let lookup = |rows: &super::sparse::SparseRows| {
            let (idx, val) = rows.row(a as usize);
            idx.binary_search(&b).map(|p| val[p]).unwrap_or(0.0)
        };
        let cosine = |m: &super::als::AlsModel| {
            let (k, n) = (m.factors, m.items());
            if a as usize >= n || b as usize >= n || self.als_norms.len() != n {
                return 0.0;
            }
            let x = &m.item_factors[a as usize * k..(a as usize + 1) * k];
            let y = &m.item_factors[b as usize * k..(b as usize + 1) * k];
            let d = self.als_norms[a as usize] * self.als_norms[b as usize];
            if d > 0.0 { fast_dot(x, y) / d } else { 0.0 }
        };
        match &self.artifact.model {
            Model::Popularity(_) | Model::Trending(_) => 0.0,
            Model::ItemKnn(m) => lookup(&m.neighbours),
            Model::Ease(m) => lookup(&m.weights.neighbours),
            Model::Content(m) => lookup(&m.neighbours),
            Model::Als(m) => cosine(m),
            Model::Hybrid(h) => {
                let w = h.overall.cf_share();
                w * cosine(&h.als) + (1.0 - w) * lookup(&h.content.neighbours)
            }
        }
    }

    /// Applies every serving rule to the model's scores.
    /// Whether the model was trained on this user's history.
    pub fn knows_user(&self, user_id: &str) -> bool {
        self.users.get(user_id).is_some()
    }

    pub fn recommend(&self, req: &RecommendRequest) -> Result<Recommendations, RecommendError> {
        let k = check_k(req.k)?;
        let user = self.users.get(&req.user_id);
        // The history oldest first: the trained one, then the request's `recent` items in
        // their order, then the fresh events (`fold_in_fresh`).
        let mut history: Vec<(u32, f32)> = match user {
            Some(u) => self.artifact.user_history(u),
            None => Vec::new(),
        };
        for r in req.recent.iter().filter_map(|id| self.items.get(id)) {
            if !history.iter().any(|e| e.0 == r) {
                history.push((r, RECENT_WEIGHT));
            }
        }
        let excluded: HashSet<u32> = req
            .exclude
            .iter()
            .chain(&req.context.excluded)
            .filter_map(|id| self.items.get(id))
            .collect();
        // Seen: the trained history and the caller's `recent`; fresh events shift the scores
        // but exclude only through `context.excluded` (a fresh view is not "seen" for good).
        let seen: HashSet<u32> = if req.exclude_seen {
            history.iter().map(|e| e.0).collect()
        } else {
            HashSet::new()
        };
        let fresh = self.fold_in_fresh(&mut history, &req.context);
        let allowed = |i: u32| {
            let meta = &self.artifact.items[i as usize];
            meta.active
                && !excluded.contains(&i)
                && !seen.contains(&i)
                && req
                    .category
                    .as_ref()
                    .is_none_or(|c| meta.category.as_ref() == Some(c))
        };
        // A pool larger than k leaves the diversity re-ranking room to choose.
        let pool = if req.diversity > 0.0 {
            (k * 5).min(self.items.len())
        } else {
            k
        };
        let mut picked: Vec<(u32, f32, String)> = Vec::new();
        let mut strongest = history.clone();
        strongest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let unpersonal = matches!(
            self.artifact.model,
            Model::Popularity(_) | Model::Trending(_)
        );
        let personal_user = user.filter(|_| !unpersonal);
        // Fresh events move a known user off their trained vector: score from the history
        // with the fresh events folded in.
        let scoring_user = personal_user.filter(|_| fresh.is_empty());
        let ranked = if unpersonal {
            None
        } else {
            self.ranked(
                scoring_user,
                &self.artifact.weighed(&history),
                pool,
                allowed,
            )
        };
        if let Some(ranked) = ranked {
            let live = self.live_prior();
            let prior_weight = match &self.artifact.model {
                Model::Hybrid(h) => h.blend_for(personal_user).prior,
                _ => 0.0,
            };
            for (i, s) in ranked {
                if s > 0.0 {
                    // The hybrid's item prior explains an item when it made most of the score.
                    let from_prior = prior_weight * self.prior_at(live.as_deref(), i);
                    let reason = if from_prior >= 0.5 * s {
                        self.trending_reason(i)
                    } else {
                        self.explain(i, user, &strongest, &fresh)
                            .unwrap_or_else(|| "recommended for you".to_string())
                    };
                    picked.push((i, s, reason));
                }
            }
        }
        // Fill from trending (in the requested category when given): cold start, or not enough
        // personal candidates.
        if picked.len() < pool {
            let ranked = match &req.category {
                Some(c) => self
                    .trending_by_category
                    .get(c)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
                None => self.trending.as_slice(),
            };
            let have: HashSet<u32> = picked.iter().map(|p| p.0).collect();
            let scores = &self.popularity_scores;
            let floor = picked.last().map(|p| p.1).unwrap_or(f32::INFINITY);
            let max_pop = self.max_popularity;
            for &i in ranked {
                if picked.len() >= pool {
                    break;
                }
                if have.contains(&i) || !allowed(i) {
                    continue;
                }
                // Fill scores stay below every personal score and keep trending order.
                let s = if floor.is_finite() {
                    floor * 0.5 * (scores[i as usize] / max_pop)
                } else {
                    scores[i as usize]
                };
                picked.push((i, s, self.popular_reason(i)));
            }
        }
        let chosen = diversify(picked, k, req.diversity, &self.categories);
        Ok(Recommendations {
            user_id: req.user_id.clone(),
            model_version: self.version.clone(),
            recommendation_id: uuid::Uuid::new_v4().to_string(),
            items: chosen
                .into_iter()
                .enumerate()
                .map(|(r, (i, s, reason))| ScoredItem {
                    item_id: self.artifact.items[i as usize].item_id.clone(),
                    rank: r + 1,
                    score: s as f64,
                    reason,
                })
                .collect(),
            recent_events: req.context.used,
            newest_event: req.context.newest,
        })
    }

    /// Adds the fresh events of items the model knows to `history` (weighed as the version
    /// weighs events, summed per item; an item touched again moves to the newest end) and
    /// returns each such item's newest action, for explanations.
    fn fold_in_fresh(
        &self,
        history: &mut Vec<(u32, f32)>,
        context: &super::realtime::UserContext,
    ) -> HashMap<u32, Action> {
        let mut fresh: HashMap<u32, Action> = HashMap::new();
        // Events come newest first: walked oldest first, they join the history in order and
        // the last action kept per item is its newest.
        for e in context.events.iter().rev() {
            let Some(i) = self.items.get(&e.item_id) else {
                continue;
            };
            fresh.insert(i, e.action);
            let w = e.weight * self.artifact.event_weights.relative(e.action) as f32;
            let before = history
                .iter()
                .position(|h| h.0 == i)
                .map(|p| history.remove(p));
            history.push((i, before.map_or(0.0, |h| h.1) + w));
        }
        fresh
    }

    /// Items similar to `item_id` (active ones only).
    /// An item of the served model's catalogue.
    pub fn item(&self, item_id: &str) -> Result<&super::artifact::ItemMeta, RecommendError> {
        self.items
            .get(item_id)
            .map(|i| &self.artifact.items[i as usize])
            .ok_or_else(|| RecommendError::UnknownItem(item_id.to_string()))
    }

    /// The served model's version id.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn similar(&self, item_id: &str, k: usize) -> Result<SimilarItems, RecommendError> {
        let k = check_k(k)?;
        let i = self
            .items
            .get(item_id)
            .ok_or_else(|| RecommendError::UnknownItem(item_id.to_string()))?;
        let title = self.title(i).to_string();
        let verb = match self.artifact.model {
            Model::ItemKnn(_) | Model::Als(_) | Model::Ease(_) => "often chosen with",
            _ => "similar to",
        };
        let mut out = self
            .artifact
            .model
            .similar(i, self.items.len(), &self.categories);
        out.retain(|&(j, _)| self.artifact.items[j as usize].active);
        out.truncate(k);
        Ok(SimilarItems {
            item_id: item_id.to_string(),
            model_version: self.version.clone(),
            items: out
                .into_iter()
                .enumerate()
                .map(|(r, (j, s))| ScoredItem {
                    item_id: self.artifact.items[j as usize].item_id.clone(),
                    rank: r + 1,
                    score: s as f64,
                    reason: format!("{verb} {title}"),
                })
                .collect(),
        })
    }
}

/// Greedy re-ranking: each step takes the candidate maximising
/// `(1 − d)·relevance − d·(share of already picked items in its category)`, relevance being
/// the score scaled to 0..=1 over the pool. `d = 0` keeps the score order.
pub fn diversify(
    mut pool: Vec<(u32, f32, String)>,
    k: usize,
    d: f32,
    categories: &[Option<String>],
) -> Vec<(u32, f32, String)> {
    if d <= 0.0 || pool.len() <= 1 {
        pool.truncate(k);
        return pool;
    }
    let (lo, hi) = pool
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let span = (hi - lo).max(f32::MIN_POSITIVE);
    let mut counts: HashMap<Option<&String>, usize> = HashMap::new();
    let mut out = Vec::with_capacity(k);
    while out.len() < k && !pool.is_empty() {
        let n = out.len().max(1) as f32;
        let (best, _) = pool
            .iter()
            .enumerate()
            .map(|(pos, p)| {
                let cat = categories.get(p.0 as usize).and_then(|c| c.as_ref());
                let same = *counts.get(&cat).unwrap_or(&0) as f32;
                (pos, (1.0 - d) * (p.1 - lo) / span - d * same / n)
            })
            .fold((0, f32::NEG_INFINITY), |b, c| if c.1 > b.1 { c } else { b });
        let p = pool.remove(best);
        *counts
            .entry(categories.get(p.0 as usize).and_then(|c| c.as_ref()))
            .or_default() += 1;
        out.push(p);
    }
    out
}

/// The promoted model of this process, reloaded when the registry's promoted version changes.
pub struct ServingHandle {
    current: ArcSwapOption<ServingModel>,
    registry: ModelRegistry,
    reload: tokio::sync::Mutex<()>,
    /// Where the hybrid's live item prior comes from (none: the prior of training only).
    online: std::sync::OnceLock<Arc<crate::features::online::OnlineStore>>,
}

impl ServingHandle {
    pub fn new(registry: ModelRegistry) -> Arc<ServingHandle> {
        Arc::new(ServingHandle {
            current: ArcSwapOption::empty(),
            registry,
            reload: tokio::sync::Mutex::new(()),
            online: std::sync::OnceLock::new(),
        })
    }

    /// Lets the poller refresh the hybrid's item prior from this online store.
    pub fn attach_online(&self, online: Arc<crate::features::online::OnlineStore>) {
        let _ = self.online.set(online);
    }

    /// Refreshes the serving model's live item prior when the online store has newer item
    /// features; returns whether it changed.
    pub async fn refresh_live_prior(&self) -> Result<bool, RecommendError> {
        match (self.online.get(), self.current()) {
            (Some(online), Some(model)) => model.refresh_live_prior(online).await,
            _ => Ok(false),
        }
    }

    /// The model now serving, if any.
    pub fn current(&self) -> Option<Arc<ServingModel>> {
        self.current.load_full()
    }

    /// The model now serving, loading the promoted version first when none is loaded yet.
    pub async fn get(&self) -> Result<Arc<ServingModel>, RecommendError> {
        if let Some(m) = self.current() {
            return Ok(m);
        }
        self.refresh().await?;
        self.current().ok_or(RecommendError::NoModel)
    }

    /// Loads the promoted version when it differs from the one serving. On any failure the
    /// old model stays; returns whether a swap happened.
    pub async fn refresh(&self) -> Result<bool, RecommendError> {
        let _one_at_a_time = self.reload.lock().await;
        let Some(promoted) = self.registry.promoted(REGISTRY_KIND).await? else {
            return Ok(false);
        };
        if self.current().is_some_and(|m| m.version == promoted.id) {
            return Ok(false);
        }
        let bytes = self.registry.load(&promoted).await?;
        let id = promoted.id.clone();
        let model = tokio::task::spawn_blocking(move || {
            RecommenderArtifact::decode(&bytes).map(|a| ServingModel::new(id, a))
        })
        .await
        .map_err(|e| RecommendError::Artifact(format!("decoder thread failed: {e}")))??;
        self.current.store(Some(Arc::new(model)));
        tracing::info!(version = %promoted.id, "recommender model loaded");
        Ok(true)
    }

    /// Polls the registry every [`POLL_INTERVAL`] until the handle is dropped.
    pub fn spawn_poller(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<ServingHandle> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(handle) = weak.upgrade() else { return };
                if let Err(e) = handle.refresh().await {
                    tracing::warn!(error = %e, "recommender reload failed; keeping the current model");
                }
                match handle.refresh_live_prior().await {
                    Ok(true) => tracing::info!("item prior refreshed from the online store"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "item prior refresh failed; keeping the current one")
                    }
                }
                drop(handle);
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
    }
}

/// A dot product in eight independent lanes (vectorised; the order of additions differs
/// from a sequential sum, which is fine where only the ranking of explanations depends on it).
fn fast_dot(x: &[f32], y: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: f32 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(p, q)| p * q)
        .sum();
    for (a, b) in xc.zip(yc) {
        for l in 0..8 {
            lanes[l] += a[l] * b[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diversity_spreads_categories() {
        let cats = vec![Some("a".to_string()), Some("a".into()), Some("b".into())];
        let pool = vec![
            (0, 1.0, String::new()),
            (1, 0.9, String::new()),
            (2, 0.5, String::new()),
        ];
        let plain: Vec<u32> = diversify(pool.clone(), 2, 0.0, &cats)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(plain, vec![0, 1]);
        let diverse: Vec<u32> = diversify(pool, 2, 0.8, &cats).iter().map(|p| p.0).collect();
        assert_eq!(diverse, vec![0, 2]);
        assert!(check_k(0).is_err() && check_k(501).is_err() && check_k(500).is_ok());
    }
}
