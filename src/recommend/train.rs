//! Training a recommender end to end: read the lake, split by time, fit the chosen model on
//! the past, evaluate it next to the popularity baseline on the holdout, refit on everything,
//! and register the version. The CLI and the `train_recommender` job both call [`run`], so a
//! version trained either way is the same.

use super::RecommendError;
use super::artifact::ModelKind;
use super::data::{self};
use super::fit::{holdout_metrics, train_with};
use super::signals::FeatureTimeline;
use super::timeline::feature_timeline;
use crate::app::App;
use crate::lake::Area;
use crate::progress::Progress;
use crate::registry::{Kind, NewVersion};

pub use super::params::TrainParams;
pub use super::report::{HybridReport, TrainReport, Trained, Tuned};

/// The registry kind every recommender version is filed under; the family is in `params`.
pub const REGISTRY_KIND: Kind = Kind::Recommender;

/// Reads the lake, trains (on a blocking thread), registers a candidate version.
pub async fn run(
    app: &App,
    params: &TrainParams,
    progress: std::sync::Arc<dyn Progress>,
) -> Result<TrainReport, RecommendError> {
    params.validate()?;
    let snapshot = app
        .lake
        .latest_commit("interactions", Area::Datasets)
        .await?;
    let events = data::read_interactions(&app.lake, None, None, &Default::default()).await?;
    let catalogue = data::read_items(&app.lake).await?;
    let n_events = events.len();
    let (features, mut notes) = if params.model == ModelKind::Hybrid {
        feature_timeline(app, params, &events, &catalogue).await?
    } else {
        (FeatureTimeline::default(), Vec::new())
    };
    let champion = match &params.gate {
        Some(_) => champion(app, params, &events, &catalogue).await?,
        None => None,
    };
    let p = params.clone();
    let (mut trained, champion, tuning, params) = tokio::task::spawn_blocking(move || {
        let (p, tuning) = match p.tune_trials {
            Some(n) => {
                let (best, table) =
                    super::tune::search(&events, &catalogue, &features, &p, n, &*progress)?;
                (best, Some(table))
            }
            None => (p, None),
        };
        let trained = train_with(&events, &catalogue, &features, &p, &*progress)?;
        // The champion's configuration on the same split and holdout as the candidate.
        let champion = match champion {
            Some(c) => {
                let metrics =
                    holdout_metrics(&events, &catalogue, &c.features, &c.params, &*progress)?;
                Some((c.version, metrics))
            }
            None => None,
        };
        Ok::<_, RecommendError>((trained, champion, tuning, p))
    })
    .await
    .map_err(|e| RecommendError::Artifact(format!("training thread failed: {e}")))??;
    let decision = params.gate.as_ref().map(|gate| {
        super::gate::decide(
            gate,
            &trained.metrics,
            champion.as_ref().map(|(v, m)| (v.as_str(), m)),
        )
    });
    if let Some(h) = trained.hybrid.as_mut() {
        notes.append(&mut h.notes);
        h.notes = notes;
    }
    let users = trained.artifact.users.len();
    let items = trained.artifact.items.len();
    let bytes = trained.artifact.encode()?;
    let params_json = serde_json::to_value(params).unwrap_or_default();
    let mut metrics_json = serde_json::json!({
        "model": trained.metrics,
        "popularity_baseline": trained.baseline,
        "users": users,
        "items": items,
        "events": n_events,
    });
    if let (Some(h), Some(obj)) = (&trained.hybrid, metrics_json.as_object_mut()) {
        obj.insert("hybrid".into(), serde_json::json!(h));
    }
    if let (Some(t), Some(obj)) = (&tuning, metrics_json.as_object_mut()) {
        obj.insert("tuning".into(), serde_json::json!(t));
    }
    if let (Some(d), Some(obj)) = (&decision, metrics_json.as_object_mut()) {
        obj.insert("gate".into(), serde_json::json!(d));
    }
    let version = app
        .models
        .clone()
        .register(NewVersion {
            kind: REGISTRY_KIND,
            params: params_json,
            data_snapshot: snapshot,
            metrics: metrics_json,
            artifact: bytes,
        })
        .await?;
    let version = match &decision {
        Some(d) if d.promoted => app.models.promote(&version.id).await?,
        _ => version,
    };
    Ok(TrainReport {
        version,
        gate: decision,
        metrics: trained.metrics,
        baseline: trained.baseline,
        hybrid: trained.hybrid,
        tuning,
        users,
        items,
        events: n_events,
    })
}

/// The promoted version to beat, with its configuration set to the candidate's holdout and
/// cut-off so both are scored alike.
struct Champion {
    version: String,
    params: TrainParams,
    features: FeatureTimeline,
}

async fn champion(
    app: &App,
    candidate: &TrainParams,
    events: &[super::data::Interaction],
    catalogue: &[super::data::ItemRecord],
) -> Result<Option<Champion>, RecommendError> {
    let Some(promoted) = app.models.promoted(REGISTRY_KIND).await? else {
        return Ok(None);
    };
    let mut params: TrainParams = serde_json::from_value(promoted.params.clone()).map_err(|e| {
        RecommendError::Artifact(format!(
            "promoted version {} has unreadable parameters: {e}",
            promoted.id
        ))
    })?;
    params.holdout_days = candidate.holdout_days;
    params.test_per_user = candidate.test_per_user;
    params.k = candidate.k;
    params.gate = None;
    let features = if params.model == ModelKind::Hybrid {
        feature_timeline(app, &params, events, catalogue).await?.0
    } else {
        FeatureTimeline::default()
    };
    Ok(Some(Champion {
        version: promoted.id,
        params,
        features,
    }))
}

/// Which of several runs trained on the same data to promote: the highest NDCG@k on their
/// common holdout, the earliest on a tie. None for no runs.
pub fn best_run(reports: &[TrainReport]) -> Option<usize> {
    reports
        .iter()
        .enumerate()
        .fold(None::<usize>, |best, (i, r)| match best {
            Some(b) if reports[b].metrics.ndcg >= r.metrics.ndcg => Some(b),
            _ => Some(i),
        })
}
