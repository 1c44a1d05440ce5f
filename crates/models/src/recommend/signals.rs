//! Feature-store signals for the hybrid recommender: an item prior that predicts an item's
//! near-future demand from its item features, and each user's activity level, which decides
//! how much that user's own history (the collaborative part) should count against content
//! and the prior.
//!
//! Why from the feature store and not recomputed from the interaction matrix: the views are
//! the same definitions that serve online, and historical retrieval is point-in-time correct,
//! so a model fitted on events up to `T` only ever sees feature values computed from data
//! before `T` (`FeatureTimeline` holds the snapshots by instant; training asks for exactly the
//! instants its splits need).
//!
//! Why a learned prior rather than one raw count: recent views, carts, purchases and
//! conversion each say something about next week's demand, in proportions that differ by
//! shop. A ridge regression of the next window's distinct users on log-scaled features,
//! fitted on a window that lies entirely inside the training data, weighs them by what
//! actually predicted demand there. Everything here is pure: arrays in, arrays out.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::data::Interaction;
use crate::numeric::linalg;

/// Item features the hybrid uses by default (all in the shipped `item_popularity` view).
pub const DEFAULT_ITEM_FEATURES: [&str; 6] = [
    "item_popularity:views_7d",
    "item_popularity:clicks_7d",
    "item_popularity:carts_7d",
    "item_popularity:purchases_7d",
    "item_popularity:purchases_30d",
    "item_popularity:conversion_30d",
];
/// The user feature that measures activity by default (shipped `user_activity` view).
pub const DEFAULT_USER_FEATURE: &str = "user_activity:events_30d";
/// Ridge penalty on standardized features, per fitted item.
const RIDGE: f64 = 1e-2;
/// Fewest items with any feature value for a prior to be fitted.
const MIN_ITEMS: usize = 10;

/// Feature values at one instant, by entity id: each item's values in the order of
/// [`FeatureTimeline::item_features`] (None = null), and each user's activity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureSnapshot {
    pub items: HashMap<String, Vec<Option<f64>>>,
    pub users: HashMap<String, f64>,
}

/// Snapshots of the hybrid's features at the instants training needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureTimeline {
    pub item_features: Vec<String>,
    pub user_feature: Option<String>,
    snapshots: BTreeMap<i64, FeatureSnapshot>,
}

impl FeatureTimeline {
    pub fn new(item_features: Vec<String>, user_feature: Option<String>) -> FeatureTimeline {
        FeatureTimeline {
            item_features,
            user_feature,
            snapshots: BTreeMap::new(),
        }
    }

    /// Records the values as of `at` (UTC microseconds).
    pub fn insert(&mut self, at: i64, snapshot: FeatureSnapshot) {
        self.snapshots.insert(at, snapshot);
    }

    /// The values as of exactly `at`, when they were retrieved.
    pub fn at(&self, at: i64) -> Option<&FeatureSnapshot> {
        self.snapshots.get(&at)
    }

    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }
}

/// `sign(v)·ln(1 + |v|)`: counts span orders of magnitude; their logs are closer to linear
/// in demand. A null counts as 0 (no activity within the feature's window).
fn transform(v: Option<f64>) -> f64 {
    match v {
        Some(v) if v.is_finite() => v.signum() * v.abs().ln_1p(),
        _ => 0.0,
    }
}

/// A ridge regression of `ln(1 + future distinct users)` on standardized, log-scaled item
/// features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemPrior {
    pub features: Vec<String>,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

impl ItemPrior {
    /// Fits on one row of features per item and the item's demand in the following window.
    /// None when too few items carry any feature value or the system is degenerate.
    pub fn fit(
        features: &[String],
        rows: &[Vec<Option<f64>>],
        demand: &[f64],
    ) -> Option<ItemPrior> {
        let k = features.len();
        let n = rows.len();
        if k == 0
            || n != demand.len()
            || rows
                .iter()
                .filter(|r| r.iter().any(Option::is_some))
                .count()
                < MIN_ITEMS
        {
            return None;
        }
        let x: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| {
                (0..k)
                    .map(|j| transform(r.get(j).copied().flatten()))
                    .collect()
            })
            .collect();
        let mean: Vec<f64> = (0..k)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n as f64)
            .collect();
        let scale: Vec<f64> = (0..k)
            .map(|j| {
                let var = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n as f64;
                if var > 1e-12 { var.sqrt() } else { 1.0 }
            })
            .collect();
        let y: Vec<f64> = demand.iter().map(|d| d.max(0.0).ln_1p()).collect();
        let y_mean = y.iter().sum::<f64>() / n as f64;
        let mut xtx = vec![0.0; k * k];
        let mut xty = vec![0.0; k];
        for (r, yr) in x.iter().zip(&y) {
            let z: Vec<f64> = (0..k).map(|j| (r[j] - mean[j]) / scale[j]).collect();
            for i in 0..k {
                xty[i] += z[i] * (yr - y_mean);
                for j in 0..k {
                    xtx[i * k + j] += z[i] * z[j];
                }
            }
        }
        for i in 0..k {
            xtx[i * k + i] += RIDGE * n as f64;
        }
        if !linalg::solve(&mut xtx, &mut xty, k) || xty.iter().any(|c| !c.is_finite()) {
            return None;
        }
        Some(ItemPrior {
            features: features.to_vec(),
            mean,
            scale,
            coefficients: xty,
            intercept: y_mean,
        })
    }

    /// Predicted demand per row (`e^ŷ − 1`, never negative).
    pub fn predict(&self, rows: &[Vec<Option<f64>>]) -> Vec<f32> {
        rows.iter()
            .map(|r| {
                let y = self.intercept
                    + (0..self.coefficients.len())
                        .map(|j| {
                            let z = (transform(r.get(j).copied().flatten()) - self.mean[j])
                                / self.scale[j];
                            z * self.coefficients[j]
                        })
                        .sum::<f64>();
                y.exp_m1().max(0.0) as f32
            })
            .collect()
    }
}

/// Distinct users per item among `events` with `from < ts <= to`, by item index.
pub fn demand_between(
    events: &[Interaction],
    items: &super::data::IdMap,
    from: i64,
    to: i64,
) -> Vec<f64> {
    let mut seen: std::collections::HashSet<(&str, u32)> = std::collections::HashSet::new();
    let mut demand = vec![0.0; items.len()];
    for e in events.iter().filter(|e| e.ts > from && e.ts <= to) {
        if let Some(i) = items.get(&e.item_id)
            && seen.insert((e.user_id.as_str(), i))
        {
            demand[i as usize] += 1.0;
        }
    }
    demand
}

/// The item rows of a snapshot in item-index order (items without a row: all null).
pub fn item_rows(
    snapshot: &FeatureSnapshot,
    items: &super::data::IdMap,
    width: usize,
) -> Vec<Vec<Option<f64>>> {
    items
        .ids()
        .iter()
        .map(|id| {
            snapshot
                .items
                .get(id)
                .cloned()
                .unwrap_or_else(|| vec![None; width])
        })
        .collect()
}

/// The median activity over users that have a value: users above it are "active".
pub fn activity_threshold(snapshot: &FeatureSnapshot) -> Option<f64> {
    let mut v: Vec<f64> = snapshot
        .users
        .values()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if v.len() < 2 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[(v.len() - 1) / 2])
}

/// Per user index: activity above `threshold` (users without a value are not active).
pub fn active_users(
    snapshot: &FeatureSnapshot,
    users: &super::data::IdMap,
    threshold: f64,
) -> Vec<bool> {
    users
        .ids()
        .iter()
        .map(|id| snapshot.users.get(id).is_some_and(|&a| a > threshold))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::data::IdMap;
    use rand::{Rng, SeedableRng};

    #[test]
    fn prior_learns_which_feature_predicts_demand() {
        // Demand follows recent views; lifetime purchases are noise.
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let names = vec!["views_7d".to_string(), "purchases_30d".to_string()];
        let mut rows = Vec::new();
        let mut demand = Vec::new();
        for _ in 0..400 {
            let views = rng.random_range(0..200) as f64;
            let noise = rng.random_range(0..50) as f64;
            rows.push(vec![Some(views), Some(noise)]);
            demand.push((views * 0.3).round());
        }
        let prior = ItemPrior::fit(&names, &rows, &demand).expect("fits");
        assert!(
            prior.coefficients[0] > 10.0 * prior.coefficients[1].abs(),
            "{prior:?}"
        );
        let p = prior.predict(&[vec![Some(150.0), Some(0.0)], vec![Some(5.0), Some(49.0)]]);
        assert!(p[0] > 5.0 * p[1] && p[1] >= 0.0, "{p:?}");
        // Too few items with values: no prior.
        assert!(ItemPrior::fit(&names, &rows[..5], &demand[..5]).is_none());
        assert!(ItemPrior::fit(&[], &rows, &demand).is_none());
    }

    #[test]
    fn demand_counts_distinct_users_inside_the_window() {
        let items = IdMap::from_ids(vec!["a".into(), "b".into()]);
        let ev = |u: &str, i: &str, ts: i64| Interaction {
            user_id: u.into(),
            item_id: i.into(),
            event_type: "view".into(),
            weight: 1.0,
            ts,
        };
        let events = vec![
            ev("u1", "a", 10),
            ev("u1", "a", 11),
            ev("u2", "a", 12),
            ev("u3", "b", 5),
            ev("u3", "b", 20),
            ev("u4", "zz", 12),
        ];
        assert_eq!(demand_between(&events, &items, 5, 12), vec![2.0, 0.0]);
        assert_eq!(demand_between(&events, &items, 4, 20), vec![2.0, 1.0]);
    }

    #[test]
    fn activity_splits_at_the_median() {
        let snap = FeatureSnapshot {
            items: HashMap::new(),
            users: [("a", 1.0), ("b", 5.0), ("c", 9.0)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        };
        let t = activity_threshold(&snap).unwrap();
        assert_eq!(t, 5.0);
        let users = IdMap::from_ids(vec!["a".into(), "c".into(), "new".into()]);
        assert_eq!(active_users(&snap, &users, t), vec![false, true, false]);
    }
}
