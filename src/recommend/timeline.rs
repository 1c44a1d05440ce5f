//! The feature-store values a hybrid run learns from, read point-in-time at every instant a
//! fit ends ([`super::fit::feature_instants`]), so no fit sees a value computed after its data.

use super::RecommendError;
use super::data::{Interaction, ItemRecord};
use super::fit::feature_instants;
use super::params::TrainParams;
use super::signals::{FeatureSnapshot, FeatureTimeline};
use crate::app::App;

/// One historical retrieval for every (instant, entity) pair, instants outermost.
async fn retrieve_at(
    app: &App,
    catalog: &crate::features::catalog::Catalog,
    key: &str,
    ids: &std::collections::BTreeSet<&str>,
    instants: &[i64],
    refs: Vec<String>,
) -> Result<Option<crate::features::historical::Retrieved>, RecommendError> {
    if refs.is_empty() || ids.is_empty() {
        return Ok(None);
    }
    let keys: Vec<std::collections::BTreeMap<String, String>> = instants
        .iter()
        .flat_map(|_| {
            ids.iter()
                .map(|id| std::collections::BTreeMap::from([(key.to_string(), id.to_string())]))
        })
        .collect();
    let timestamps: Vec<i64> = instants
        .iter()
        .flat_map(|&t| std::iter::repeat_n(t, ids.len()))
        .collect();
    Ok(Some(
        crate::features::historical::retrieve(
            &app.lake,
            &app.db,
            catalog,
            &refs,
            &keys,
            &timestamps,
        )
        .await?,
    ))
}

/// The hybrid's feature snapshots, read point-in-time from the offline feature store at
/// [`feature_instants`], with notes on what could not be used. References the definitions do
/// not have are an error when the caller named them and a note when they are the defaults
/// (a deployment without the shipped views still trains).
pub(super) async fn feature_timeline(
    app: &App,
    p: &TrainParams,
    events: &[Interaction],
    catalogue: &[ItemRecord],
) -> Result<(FeatureTimeline, Vec<String>), RecommendError> {
    use std::collections::BTreeSet;
    let defaults = TrainParams::default();
    let mut notes = Vec::new();
    let catalog = crate::features::catalog::sync_dir(
        &app.db,
        std::path::Path::new(&app.settings.pipelines_dir),
    )
    .await?;
    let mut usable =
        |field: &str, refs: &[String], default: bool| -> Result<Vec<String>, RecommendError> {
            if refs.is_empty() {
                return Ok(Vec::new());
            }
            // The selection's labels, grouped by view: the order retrieval returns columns in.
            match catalog.select(refs, field) {
                Ok(selections) => Ok(selections.into_iter().flat_map(|s| s.labels).collect()),
                Err(crate::features::FeatureError::Invalid { detail, .. }) if default => {
                    notes.push(format!("{field} not used: {detail}"));
                    Ok(Vec::new())
                }
                Err(crate::features::FeatureError::Invalid { detail, .. }) => {
                    Err(RecommendError::invalid(field, detail))
                }
                Err(e) => Err(e.into()),
            }
        };
    let item_features = usable(
        "item_features",
        &p.item_features,
        p.item_features == defaults.item_features,
    )?;
    let user_feature: Vec<String> = p.user_feature.iter().cloned().collect();
    let user_feature = usable(
        "user_feature",
        &user_feature,
        p.user_feature == defaults.user_feature,
    )?
    .pop();
    let mut timeline = FeatureTimeline::new(item_features.clone(), user_feature.clone());
    let instants = feature_instants(events, p.holdout_days);
    let items: BTreeSet<&str> = catalogue
        .iter()
        .map(|r| r.item_id.as_str())
        .chain(events.iter().map(|e| e.item_id.as_str()))
        .collect();
    let users: BTreeSet<&str> = events.iter().map(|e| e.user_id.as_str()).collect();
    let fetch = |key, ids, refs| retrieve_at(app, &catalog, key, ids, &instants, refs);
    let item_values = fetch("item_id", &items, item_features).await?;
    let user_values = fetch("user_id", &users, user_feature.into_iter().collect()).await?;
    let number = |v: &serde_json::Value| v.as_f64();
    for (n, &t) in instants.iter().enumerate() {
        let mut snap = FeatureSnapshot::default();
        if let Some(r) = &item_values {
            let base = n * items.len();
            for (i, id) in items.iter().enumerate() {
                let row: Vec<Option<f64>> = r
                    .columns
                    .iter()
                    .map(|c| number(&c.values[base + i]))
                    .collect();
                if row.iter().any(Option::is_some) {
                    snap.items.insert(id.to_string(), row);
                }
            }
        }
        if let Some(r) = user_values.as_ref().and_then(|r| r.columns.first()) {
            let base = n * users.len();
            for (i, id) in users.iter().enumerate() {
                if let Some(v) = number(&r.values[base + i]) {
                    snap.users.insert(id.to_string(), v);
                }
            }
        }
        timeline.insert(t, snap);
    }
    Ok((timeline, notes))
}
