//! The artifact format before histories were ordered and the hybrid had a transition part:
//! versions a registry already holds must keep serving after an upgrade. postcard encodes no
//! field names, so the old layout is spelled out here once and converted: the old history
//! gets no times (scoring sees it in item order, as it did), the old hybrid no transitions.

use serde::Deserialize;

use super::super::als::AlsModel;
use super::super::content::ContentModel;
use super::super::ease::Ease;
use super::super::hybrid::{Blend, HybridModel};
use super::super::item_knn::ItemKnn;
use super::super::popularity::Popularity;
use super::super::signals::ItemPrior;
use super::super::sparse::SparseRows;
use super::{ItemMeta, Model, RecommenderArtifact};

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct ArtifactV1 {
    pub items: Vec<ItemMeta>,
    pub users: Vec<String>,
    pub history: SparseRows,
    pub history_actions: Vec<u8>,
    pub popularity: Popularity,
    pub model: ModelV1,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub enum ModelV1 {
    Popularity(Popularity),
    ItemKnn(ItemKnn),
    Als(AlsModel),
    Content(ContentModel),
    Hybrid(Box<HybridV1>),
    Ease(Ease),
    Trending(Popularity),
}

#[derive(Deserialize, Clone, Copy)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct BlendV1 {
    pub cf: f32,
    pub content: f32,
    pub prior: f32,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct HybridV1 {
    pub als: AlsModel,
    pub content: ContentModel,
    pub overall: BlendV1,
    pub light: BlendV1,
    pub active: BlendV1,
    pub active_users: Vec<bool>,
    pub item_prior: Vec<f32>,
    pub prior_model: Option<ItemPrior>,
}

impl From<BlendV1> for Blend {
    fn from(b: BlendV1) -> Blend {
        Blend {
            cf: b.cf,
            content: b.content,
            prior: b.prior,
            next: 0.0,
        }
    }
}

impl From<ModelV1> for Model {
    fn from(m: ModelV1) -> Model {
        match m {
            ModelV1::Popularity(p) => Model::Popularity(p),
            ModelV1::ItemKnn(m) => Model::ItemKnn(m),
            ModelV1::Als(m) => Model::Als(m),
            ModelV1::Content(m) => Model::Content(m),
            ModelV1::Ease(m) => Model::Ease(m),
            ModelV1::Trending(p) => Model::Trending(p),
            ModelV1::Hybrid(h) => Model::Hybrid(Box::new(HybridModel {
                als: h.als,
                content: h.content,
                overall: h.overall.into(),
                light: h.light.into(),
                active: h.active.into(),
                active_users: h.active_users,
                item_prior: h.item_prior,
                prior_model: h.prior_model,
                transitions: None,
            })),
        }
    }
}

impl From<ArtifactV1> for RecommenderArtifact {
    fn from(a: ArtifactV1) -> RecommenderArtifact {
        RecommenderArtifact {
            history_last: vec![0; a.history.indices.len()],
            history_half_life: None,
            event_weights: Default::default(),
            items: a.items,
            users: a.users,
            history: a.history,
            history_actions: a.history_actions,
            popularity: a.popularity,
            model: a.model.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::data::{Interaction, ItemRecord};
    use crate::recommend::params::TrainParams;

    /// A hybrid version encoded the way versions before this format were still decodes,
    /// with the same blends and no transitions.
    #[test]
    fn a_version_in_the_previous_format_still_decodes() {
        let events: Vec<Interaction> = (0..40)
            .map(|n| Interaction {
                user_id: format!("u{}", n % 8),
                item_id: format!("i{}", (n * 7) % 11),
                event_type: "view".into(),
                weight: 1.0,
                ts: n as i64 * 1_000_000,
            })
            .collect();
        let catalogue: Vec<ItemRecord> = Vec::new();
        let p = TrainParams {
            model: crate::recommend::artifact::ModelKind::Hybrid,
            iterations: 2,
            factors: 4,
            item_features: Vec::new(),
            user_feature: None,
            test_per_user: Some(1),
            ..TrainParams::default()
        };
        let now =
            crate::recommend::fit::train_on(&events, &catalogue, &p, &crate::progress::none())
                .unwrap()
                .artifact;
        let Model::Hybrid(h) = &now.model else {
            panic!("a hybrid")
        };
        let old_blend = |b: Blend| BlendV1 {
            cf: b.cf,
            content: b.content,
            prior: b.prior,
        };
        let old = ArtifactV1 {
            items: now.items.clone(),
            users: now.users.clone(),
            history: now.history.clone(),
            history_actions: now.history_actions.clone(),
            popularity: now.popularity.clone(),
            model: ModelV1::Hybrid(Box::new(HybridV1 {
                als: h.als.clone(),
                content: h.content.clone(),
                overall: old_blend(h.overall),
                light: old_blend(h.light),
                active: old_blend(h.active),
                active_users: h.active_users.clone(),
                item_prior: h.item_prior.clone(),
                prior_model: h.prior_model.clone(),
            })),
        };
        let bytes = postcard::to_stdvec(&old).unwrap();
        let back = RecommenderArtifact::decode(&bytes).unwrap();
        let Model::Hybrid(b) = &back.model else {
            panic!("a hybrid")
        };
        assert_eq!(
            (b.als.clone(), b.transitions.clone()),
            (h.als.clone(), None)
        );
        assert_eq!(b.overall.next, 0.0);
        assert_eq!(back.history_last, vec![0; now.history.indices.len()]);
        assert_eq!(back.history, now.history);
        // The current format round-trips with its times, and garbage is refused.
        let round = RecommenderArtifact::decode(&now.encode().unwrap()).unwrap();
        assert_eq!(round, now);
        assert!(RecommenderArtifact::decode(b"recast-recommender/2\nxx").is_err());
    }
}
