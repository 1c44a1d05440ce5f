//! What a trained recommender version stores: the model, the catalogue metadata serving needs
//! (id, title, category, active), the known users and their training history (for "exclude
//! seen" and "because you bought X"), and popularity for cold start. One self-contained value,
//! so serving never reads the lake on a request.

use serde::{Deserialize, Serialize};

mod legacy;

use super::RecommendError;
use super::als::AlsModel;
use super::content::ContentModel;
use super::data::{Action, EventWeights, IdMap, ItemRecord};
use super::ease::Ease;
use super::hybrid::HybridModel;
use super::item_knn::ItemKnn;
use super::popularity::Popularity;
use super::sparse::SparseRows;

/// The model families `recast train recommender --model` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    Popularity,
    ItemKnn,
    Als,
    Content,
    Hybrid,
    Ease,
    Trending,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Popularity => "popularity",
            ModelKind::ItemKnn => "item-knn",
            ModelKind::Als => "als",
            ModelKind::Content => "content",
            ModelKind::Hybrid => "hybrid",
            ModelKind::Ease => "ease",
            ModelKind::Trending => "trending",
        }
    }
}

/// A fitted model of one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Model {
    Popularity(Popularity),
    ItemKnn(ItemKnn),
    Als(AlsModel),
    Content(ContentModel),
    Hybrid(Box<HybridModel>),
    Ease(Ease),
    /// Popularity ranked by decayed counts (`trending_half_life_days`).
    Trending(Popularity),
}

impl Model {
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Popularity(_) => ModelKind::Popularity,
            Model::ItemKnn(_) => ModelKind::ItemKnn,
            Model::Als(_) => ModelKind::Als,
            Model::Content(_) => ModelKind::Content,
            Model::Hybrid(_) => ModelKind::Hybrid,
            Model::Ease(_) => ModelKind::Ease,
            Model::Trending(_) => ModelKind::Trending,
        }
    }

    /// Scores over all items for a known user index and/or a history of `(item, strength)`;
    /// None when the model has no personal signal for them (the caller falls back to trending).
    pub fn score(&self, user: Option<u32>, history: &[(u32, f32)]) -> Option<Vec<f32>> {
        match self {
            Model::Popularity(p) => Some(p.count_scores()),
            Model::Trending(p) => Some(p.scores()),
            _ if history.is_empty() && user.is_none() => None,
            Model::ItemKnn(m) => Some(m.score(history)),
            Model::Content(m) => Some(m.score(history)),
            Model::Als(m) => m.vector_for(user, history).map(|x| m.score_vector(&x)),
            Model::Hybrid(m) => Some(m.score(user, history)),
            Model::Ease(m) => Some(m.score(history)),
        }
    }

    /// Up to `k` items similar to `item`, strongest first (never `item` itself).
    pub fn similar(&self, item: u32, k: usize, categories: &[Option<String>]) -> Vec<(u32, f32)> {
        let mut out = match self {
            Model::Popularity(p) | Model::Trending(p) => {
                let cat = categories.get(item as usize).cloned().flatten();
                let scores = p.scores();
                p.ranked_trending()
                    .into_iter()
                    .filter(|&j| j != item)
                    .filter(|&j| cat.is_some() && categories.get(j as usize) == Some(&cat))
                    .map(|j| (j, scores[j as usize]))
                    .collect()
            }
            Model::ItemKnn(m) => m.similar(item),
            Model::Als(m) => m.similar(item, k),
            Model::Content(m) => m.similar(item),
            Model::Hybrid(m) => m.similar(item, k),
            Model::Ease(m) => m.similar(item),
        };
        out.retain(|e| e.0 != item && e.1.is_finite());
        out.truncate(k);
        out
    }
}

/// Catalogue metadata serving needs per item index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemMeta {
    pub item_id: String,
    pub title: String,
    pub category: Option<String>,
    /// Items seen only in interactions (no catalogue row) count as active.
    pub active: bool,
}

/// A trained recommender, complete for serving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommenderArtifact {
    pub items: Vec<ItemMeta>,
    pub users: Vec<String>,
    /// users × items interaction strengths the final model was trained on.
    pub history: SparseRows,
    /// The strongest [`super::data::Action`] code per `history` entry (same order), for
    /// explanations.
    pub history_actions: Vec<u8>,
    /// The newest event time per `history` entry (same order; UTC µs), so scoring sees a
    /// user's history oldest first (versions before it: zeros, item order).
    pub history_last: Vec<i64>,
    /// Recency half-life, in interactions, applied to a history before scoring from it.
    pub history_half_life: Option<f32>,
    /// The event weights of training, so fresh events weigh what trained ones did.
    pub event_weights: EventWeights,
    pub popularity: Popularity,
    pub model: Model,
}

/// What starts every encoded artifact since histories are ordered; older encodings have no
/// prefix and decode through [`legacy`].
const FORMAT: &[u8] = b"recast-recommender/2\n";

impl RecommenderArtifact {
    /// Catalogue metadata for an item map, using the catalogue rows where they exist.
    pub fn item_meta(items: &IdMap, catalogue: &[ItemRecord]) -> Vec<ItemMeta> {
        let by_id: std::collections::HashMap<&str, &ItemRecord> =
            catalogue.iter().map(|r| (r.item_id.as_str(), r)).collect();
        items
            .ids()
            .iter()
            .map(|id| match by_id.get(id.as_str()) {
                Some(r) => ItemMeta {
                    item_id: id.clone(),
                    title: r.title.clone(),
                    category: r.category.clone(),
                    active: r.active,
                },
                None => ItemMeta {
                    item_id: id.clone(),
                    title: id.clone(),
                    category: None,
                    active: true,
                },
            })
            .collect()
    }

    /// A known user's trained history, oldest first.
    pub fn user_history(&self, u: u32) -> Vec<(u32, f32)> {
        let (idx, val) = self.history.row(u as usize);
        let start = self
            .history
            .indptr
            .get(u as usize)
            .map_or(0, |&s| s as usize);
        let last = self
            .history_last
            .get(start..start + idx.len())
            .unwrap_or(&[]);
        super::data::ordered_row(idx, val, last)
    }

    /// A history ordered oldest first with the version's recency weights (no copy without).
    pub fn weighed<'a>(&self, history: &'a [(u32, f32)]) -> std::borrow::Cow<'a, [(u32, f32)]> {
        match self.history_half_life {
            None => std::borrow::Cow::Borrowed(history),
            Some(h) => {
                let mut w = history.to_vec();
                super::sequence::weigh_recent(&mut w, Some(h));
                std::borrow::Cow::Owned(w)
            }
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, RecommendError> {
        let mut out = FORMAT.to_vec();
        postcard::to_io(self, &mut out).map_err(|e| RecommendError::Artifact(e.to_string()))?;
        Ok(out)
    }

    /// Decodes (this format or the one before it) and checks the structure is consistent
    /// (sizes agree, indices in range).
    pub fn decode(bytes: &[u8]) -> Result<RecommenderArtifact, RecommendError> {
        let a: RecommenderArtifact = match bytes.strip_prefix(FORMAT) {
            Some(rest) => postcard::from_bytes(rest),
            None => postcard::from_bytes::<legacy::ArtifactV1>(bytes).map(Into::into),
        }
        .map_err(|e| RecommendError::Artifact(e.to_string()))?;
        let n = a.items.len();
        let bad = |what: &str| RecommendError::Artifact(format!("inconsistent {what}"));
        a.history
            .validate()
            .map_err(|e| bad(&format!("history: {e}")))?;
        if a.history.cols != n || a.history.rows() != a.users.len() {
            return Err(bad("history shape"));
        }
        if a.history_actions.len() != a.history.indices.len()
            || a.history_actions
                .iter()
                .any(|&c| Action::from_code(c).is_none())
        {
            return Err(bad("history actions"));
        }
        if a.history_last.len() != a.history.indices.len() {
            return Err(bad("history times"));
        }
        if a.history_half_life
            .is_some_and(|h| !(h.is_finite() && h > 0.0))
        {
            return Err(bad("history half-life"));
        }
        if a.event_weights.validate().is_err() {
            return Err(bad("event weights"));
        }
        if a.popularity.popularity.len() != n || a.popularity.trending.len() != n {
            return Err(bad("popularity length"));
        }
        let check_rows = |s: &SparseRows| s.validate().is_ok() && s.cols == n && s.rows() == n;
        let ok = match &a.model {
            Model::Popularity(p) | Model::Trending(p) => p.popularity.len() == n,
            Model::ItemKnn(m) => check_rows(&m.neighbours),
            Model::Content(m) => check_rows(&m.neighbours),
            Model::Ease(m) => check_rows(&m.weights.neighbours) && m.items_fitted <= n,
            Model::Als(m) => {
                m.factors > 0 && m.items() == n && m.item_factors.len() == n * m.factors
            }
            Model::Hybrid(h) => {
                check_rows(&h.content.neighbours)
                    && (h.item_prior.is_empty() || h.item_prior.len() == n)
                    && h.active_users.len() <= a.users.len()
                    && h.als.factors > 0
                    && h.als.items() == n
                    && h.als.item_factors.len() == n * h.als.factors
                    && h.transitions.as_ref().is_none_or(|t| check_rows(&t.next))
            }
        };
        if !ok {
            return Err(bad("model shape"));
        }
        Ok(a)
    }
}
