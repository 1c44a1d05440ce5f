//! Which model answers a recommendation request, and what context it gets.
//!
//! The policy, in one place for the API and any other caller: the user's fresh events (the
//! recent-activity state every replica reads) are the request's context; a user the promoted
//! model does not know, with neither recent items in the request nor fresh events, starts from
//! the last item the feature store saw them touch; a user enrolled in a running experiment is answered by their variant (its
//! model version, else the promoted one, with the variant's serving settings) and the exposure
//! is committed before the answer leaves; if the variant cannot answer, or the experiments are
//! unavailable, the promoted model answers with no experiment tag and no exposure, so the
//! readout counts only responses served under the variant (a variant that keeps failing shows
//! up as a sample-ratio mismatch).

use super::ExperimentError;
use super::serving::{Enrolment, ExperimentServing};
use crate::config::RealtimeSettings;
use crate::db::activity_cache::ActivitySource;
use crate::features::online::OnlineStore;
use crate::recommend::realtime;
use crate::recommend::serving::{RecommendRequest, Recommendations, ServingHandle};

/// What answers recommendation requests in a process.
pub struct Recommenders<'a> {
    pub promoted: &'a ServingHandle,
    pub experiments: &'a ExperimentServing,
    pub features: &'a OnlineStore,
    /// Where the users' recent activity is (`recommend::realtime`), and how it counts.
    pub activity: ActivitySource<'a>,
    pub realtime: &'a RealtimeSettings,
}

/// The variant a response was served under.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedVariant {
    pub experiment_id: String,
    pub experiment_name: String,
    pub variant: String,
}

/// A served recommendation list and, when an experiment's variant answered, which.
#[derive(Debug, Clone)]
pub struct Served {
    pub recommendations: Recommendations,
    pub variant: Option<ServedVariant>,
}

/// Answers `req` by the policy in the module documentation.
pub async fn recommend(
    r: &Recommenders<'_>,
    mut req: RecommendRequest,
) -> Result<Served, ExperimentError> {
    fresh_context(r, &mut req).await;
    cold_start_context(r, &mut req).await;
    let enrolment = match r.experiments.enrol(&req.user_id).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "running experiments unavailable; serving the default model");
            None
        }
    };
    if let Some(enrolment) = enrolment {
        match serve_variant(r, &enrolment, &req).await {
            Ok(served) => return Ok(served),
            Err(e) => tracing::warn!(
                error = %e,
                experiment = %enrolment.experiment.id,
                variant = %enrolment.variant().name,
                "experiment variant not served; serving the default model"
            ),
        }
    }
    let recommendations = r.promoted.get().await?.recommend(&req)?;
    Ok(Served {
        recommendations,
        variant: None,
    })
}

/// The user's recent events from the recent-activity state. Best effort: when it cannot be
/// read the answer goes out without it (and says it used no recent events).
async fn fresh_context(r: &Recommenders<'_>, req: &mut RecommendRequest) {
    let now = chrono::Utc::now().timestamp_millis();
    match realtime::context(&r.activity, r.realtime, &req.user_id, now).await {
        Ok(context) => req.context = context,
        Err(e) => tracing::warn!(error = %e, "recent activity unavailable; serving without it"),
    }
}

/// A user the promoted model was not trained on, with no `recent` items in the request,
/// starts from the item the feature store last saw them touch (`user_activity:last_item`,
/// refreshed by materialization between trainings). Best effort: without it the answer is
/// trending items.
async fn cold_start_context(r: &Recommenders<'_>, req: &mut RecommendRequest) {
    if !req.recent.is_empty()
        || !req.context.events.is_empty()
        || r.promoted
            .current()
            .is_none_or(|m| m.knows_user(&req.user_id))
    {
        return;
    }
    match r.features.last_item(&req.user_id).await {
        Ok(Some(item)) => req.recent.push(item),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "online features unavailable for cold start"),
    }
}

/// Recommendations from the enrolment's variant, returned only once the exposure is
/// committed.
async fn serve_variant(
    r: &Recommenders<'_>,
    enrolment: &Enrolment,
    req: &RecommendRequest,
) -> Result<Served, ExperimentError> {
    let variant = enrolment.variant();
    let model = match &variant.model_version {
        Some(version) => r.experiments.model(version).await?,
        None => r.promoted.get().await?,
    };
    let mut req = req.clone();
    if let Some(d) = variant.diversity {
        req.diversity = d;
    }
    let recommendations = model.recommend(&req)?;
    r.experiments
        .record_exposure(
            enrolment,
            &recommendations.user_id,
            &recommendations.recommendation_id,
        )
        .await?;
    Ok(Served {
        recommendations,
        variant: Some(ServedVariant {
            experiment_id: enrolment.experiment.id.clone(),
            experiment_name: enrolment.experiment.spec.name.clone(),
            variant: variant.name.clone(),
        }),
    })
}
