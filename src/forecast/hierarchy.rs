//! Hierarchical runs: forecasts for every item x store, every item, every store, every
//! category of the items catalog and the total, reconciled so that every level adds up
//! exactly.
//!
//! Why: planners read several levels, and levels forecast on their own disagree (a store's
//! forecast is not the sum of its items'). A run with `reconcile` fits every node of the
//! hierarchy, then replaces the means by coherent ones
//! (`recast_models::forecast::reconcile`): bottom-up, top-down by historical proportions, or
//! MinT (OLS, structural or variance weights, shrunk covariance). Each node's bands move with
//! its mean; conformal calibration then sets their width as in any run.
//!
//! Aggregates are built from the bottom series the run keeps (not re-read from the sales), so
//! the history adds up as exactly as the forecasts: an ended series left out of the run is left
//! out of its totals too.
//!
//! Why backtested: which method wins depends on the data (bottom-up when item x store series
//! are regular, MinT when they are noisy and the totals are not). Every run refits each node's
//! chosen model on its history without the last horizon, reconciles those forecasts with each
//! method and scores each level's mean MASE against what happened; `auto` applies the method
//! with the lowest mean over levels, any other choice is applied as asked and reported next to
//! the others.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::backtest::mase_scale;
use super::reconcile::{
    Hierarchy, Insample, MinTraceCovariance, Proportions, Reconciliation, reconcile_keeping,
};
use super::series::{DemandError, Level, Series, SeriesKey};
use super::{FittedModel, ModelSpec, closed};

/// How a run reconciles its hierarchy (`none`: one level, not reconciled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileBy {
    #[default]
    None,
    BottomUp,
    /// Top-down by the average of historical proportions.
    TopDown,
    Ols,
    WlsStruct,
    WlsVar,
    MintShrink,
    /// The method with the lowest backtest MASE over levels among [`AUTO_CANDIDATES`].
    Auto,
}

/// What `auto` chooses among.
pub const AUTO_CANDIDATES: [ReconcileBy; 4] = [
    ReconcileBy::BottomUp,
    ReconcileBy::TopDown,
    ReconcileBy::WlsStruct,
    ReconcileBy::MintShrink,
];

const NAMES: [(ReconcileBy, &str); 8] = [
    (ReconcileBy::None, "none"),
    (ReconcileBy::BottomUp, "bottom_up"),
    (ReconcileBy::TopDown, "top_down"),
    (ReconcileBy::Ols, "ols"),
    (ReconcileBy::WlsStruct, "wls_struct"),
    (ReconcileBy::WlsVar, "wls_var"),
    (ReconcileBy::MintShrink, "mint_shrink"),
    (ReconcileBy::Auto, "auto"),
];

impl ReconcileBy {
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(m, _)| *m == self)
            .map_or("none", |n| n.1)
    }

    /// The models crate's method (`None` for `none` and `auto`).
    pub fn method(self) -> Option<Reconciliation> {
        let mint = |covariance| Some(Reconciliation::MinTrace { covariance });
        match self {
            ReconcileBy::None | ReconcileBy::Auto => None,
            ReconcileBy::BottomUp => Some(Reconciliation::BottomUp),
            ReconcileBy::TopDown => Some(Reconciliation::TopDown {
                proportions: Proportions::AverageHistoricalProportions,
            }),
            ReconcileBy::Ols => mint(MinTraceCovariance::Ols),
            ReconcileBy::WlsStruct => mint(MinTraceCovariance::WlsStruct),
            ReconcileBy::WlsVar => mint(MinTraceCovariance::WlsVar),
            ReconcileBy::MintShrink => mint(MinTraceCovariance::MinTShrink),
        }
    }

    /// The methods a run backtests: every concrete one it could apply.
    fn compared(self) -> Vec<ReconcileBy> {
        let mut out = AUTO_CANDIDATES.to_vec();
        if self.method().is_some() && !out.contains(&self) {
            out.push(self);
        }
        out
    }
}

impl fmt::Display for ReconcileBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReconcileBy {
    type Err = DemandError;
    fn from_str(s: &str) -> Result<Self, DemandError> {
        NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map(|n| n.0)
            .ok_or_else(|| {
                let all: Vec<&str> = NAMES.iter().map(|n| n.1).collect();
                DemandError::invalid(
                    "reconcile",
                    format!("unknown reconciliation `{s}` ({})", all.join(", ")),
                )
            })
    }
}

pub use super::series::UNCATEGORIZED;

/// The params key under which a category node keeps the items it sums, so serving, the
/// override cascade and realised scoring group items as the run did.
pub const MEMBERS: &str = "members";

/// The items a category node's stored `params` say it sums.
pub fn members_of(params: &serde_json::Value) -> Option<std::collections::BTreeSet<String>> {
    serde_json::from_value(params.get(MEMBERS)?.clone()).ok()
}

/// The hierarchy over item x store `bottom` series that all end at the run's last period,
/// and its nodes' series in node order: the total, each category (when `categories`, the
/// items catalog's item → category map, is not empty), each item, each store (in id order),
/// then the bottom series. Items the catalog gives no category are in [`UNCATEGORIZED`].
pub fn nodes(
    mut bottom: Vec<Series>,
    categories: &BTreeMap<String, String>,
) -> Result<(Hierarchy, Vec<Series>), DemandError> {
    bottom.sort_by_key(Series::id);
    let Some(end) = bottom.first().map(Series::end) else {
        return Err(DemandError::NoData("no series to reconcile".into()));
    };
    if let Some(s) = bottom.iter().find(|s| s.end() != end) {
        return Err(DemandError::Data(format!(
            "series `{}` ends on {}, not on the run's last period {end}",
            s.id(),
            s.end()
        )));
    }
    let mut groups: BTreeMap<SeriesKey, Vec<usize>> = BTreeMap::new();
    for (j, s) in bottom.iter().enumerate() {
        let item = s.key.item_id.clone();
        let store = s.key.store_id.clone();
        let mut keys = vec![
            SeriesKey::default(),
            SeriesKey {
                item_id: item.clone(),
                ..SeriesKey::default()
            },
            SeriesKey {
                store_id: store,
                ..SeriesKey::default()
            },
        ];
        if !categories.is_empty() {
            let category = item
                .as_ref()
                .and_then(|i| categories.get(i))
                .map_or(UNCATEGORIZED, String::as_str);
            keys.push(SeriesKey::category(category));
        }
        for key in keys {
            groups.entry(key).or_default().push(j);
        }
    }
    // Total first, then categories, items and stores, each in id order.
    let rank = |k: &SeriesKey| match k.level() {
        Level::Total => 0,
        Level::Category => 1,
        Level::Item => 2,
        Level::Store => 3,
        Level::ItemStore => 4,
    };
    let mut keys: Vec<&SeriesKey> = groups.keys().collect();
    keys.sort_by_key(|k| (rank(k), k.id()));
    let mut series = Vec::with_capacity(keys.len() + bottom.len());
    let mut aggregates = Vec::with_capacity(keys.len());
    for key in keys {
        let members = &groups[key];
        series.push(sum(key.clone(), members.iter().map(|&j| &bottom[j])));
        aggregates.push((key.id(), members.clone()));
    }
    let hierarchy = Hierarchy::new(bottom.iter().map(Series::id).collect(), aggregates)
        .map_err(|e| DemandError::Data(format!("hierarchy: {e}")))?;
    series.extend(bottom);
    Ok((hierarchy, series))
}

/// The series of `key` summing `members`, which end on the same period.
fn sum<'a>(key: SeriesKey, members: impl Iterator<Item = &'a Series> + Clone) -> Series {
    let first = members.clone().next().expect("an aggregate has members");
    let len = members.clone().map(|s| s.values.len()).max().unwrap_or(0);
    let mut values = vec![0.0; len];
    for s in members.clone() {
        let offset = len - s.values.len();
        for (v, x) in values[offset..].iter_mut().zip(&s.values) {
            *v += x;
        }
    }
    let start = members.map(|s| s.start).min().unwrap_or(first.start);
    Series {
        key,
        frequency: first.frequency,
        start,
        values,
        filled: 0,
    }
}

/// Rows right-aligned on their last value to the longest row, zeros in front and for
/// non-finite values (a node's history or residuals before it existed).
fn aligned(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let len = rows.iter().map(Vec::len).max().unwrap_or(0);
    rows.iter()
        .map(|r| {
            let mut out = vec![0.0; len - r.len()];
            out.extend(r.iter().map(|v| if v.is_finite() { *v } else { 0.0 }));
            out
        })
        .collect()
}

/// What one node brings to a reconciliation: its base forecast and in-sample residuals.
pub struct Base {
    pub mean: Vec<f64>,
    pub residuals: Vec<f64>,
    /// The steps forecast with certainty ([`closed::certain_steps`]), which reconciliation
    /// keeps, so a closed day's served forecast stays 0 under top-down and MinT too.
    pub certain: Vec<bool>,
}

/// Coherent means for every node (node order) by `by`, from base forecasts and history.
pub fn reconciled(
    hierarchy: &Hierarchy,
    by: ReconcileBy,
    base: &[Base],
    history: &[Vec<f64>],
) -> Result<super::reconcile::Reconciled, String> {
    let method = by
        .method()
        .ok_or_else(|| format!("`{by}` is not a reconciliation method"))?;
    let means: Vec<Vec<f64>> = base.iter().map(|b| b.mean.clone()).collect();
    let residuals: Vec<Vec<f64>> = base.iter().map(|b| b.residuals.clone()).collect();
    let (history, residuals) = (aligned(history), aligned(&residuals));
    let insample = Insample {
        history: Some(&history),
        residuals: Some(&residuals),
    };
    let first_bottom = hierarchy.n_aggregates();
    let certain: Vec<Vec<bool>> = base[first_bottom..]
        .iter()
        .map(|b| b.certain.clone())
        .collect();
    reconcile_keeping(hierarchy, method, &means, insample, &certain).map_err(|e| e.to_string())
}

/// One method's backtest: each level's mean MASE and their mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodScore {
    /// `base` (each node's own forecast, not coherent) or a reconciliation method.
    pub method: String,
    pub levels: BTreeMap<String, f64>,
    /// Mean of the levels' MASE: every level counts the same, the one total as much as the
    /// thousands of item x store series.
    pub score: f64,
}

/// What a run's reconciliation did (in the run report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconciliationReport {
    pub requested: ReconcileBy,
    /// The method applied (`auto` resolved).
    pub method: ReconcileBy,
    /// Nodes per level.
    pub nodes: BTreeMap<String, usize>,
    /// Backtest over the last horizon, best first; empty when the history is too short.
    pub backtest: Vec<MethodScore>,
    /// MinT's shrinkage intensity, when it shrank a covariance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrinkage: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Refits each node's `specs` on its history without the last `horizon` periods and scores
/// base and reconciled forecasts per level; `Err` says why it could not run.
pub fn backtest(
    hierarchy: &Hierarchy,
    series: &[Series],
    specs: &[ModelSpec],
    by: ReconcileBy,
    horizon: usize,
) -> Result<Vec<MethodScore>, String> {
    use rayon::prelude::*;
    let season = series[0].frequency.season();
    // The total is the longest node.
    if series[0].values.len() < horizon + 4 {
        return Err(format!(
            "the history is shorter than the horizon ({horizon}) plus 4 periods"
        ));
    }
    let before = |s: &Series| s.values[..s.values.len().saturating_sub(horizon)].to_vec();
    let base: Vec<Base> = series
        .par_iter()
        .zip(specs)
        .map(|(s, spec)| origin_fit(&before(s), spec, season, horizon))
        .collect();
    let history: Vec<Vec<f64>> = series.iter().map(before).collect();
    let means: Vec<Vec<f64>> = base.iter().map(|b| b.mean.clone()).collect();
    let mut scores = vec![score(series, "base", &means, season, horizon)];
    for m in by.compared() {
        let r = reconciled(hierarchy, m, &base, &history)?;
        scores.push(score(series, m.as_str(), &r.forecasts, season, horizon));
    }
    scores.sort_by(|a, b| a.score.total_cmp(&b.score));
    Ok(scores)
}

/// A node's forecast from its history up to a backtest origin: its chosen model refitted,
/// the naive forecast where that fails, zeros where the node had no history yet.
fn origin_fit(y: &[f64], spec: &ModelSpec, season: usize, horizon: usize) -> Base {
    let fit = |spec: &ModelSpec| -> Option<Box<dyn FittedModel>> { spec.fit(y, season).ok() };
    match fit(spec).or_else(|| fit(&ModelSpec::Naive)) {
        Some(m) => {
            // Only a closed-slot model or the naive forecast of a constant zero can be
            // certain; the others skip computing bands.
            let levels: &[f64] = if may_be_certain(spec) { &[80.0] } else { &[] };
            let fc = m.forecast(horizon, levels);
            let residuals = y.iter().zip(m.fitted()).map(|(a, f)| a - f).collect();
            Base {
                certain: closed::certain_steps(&fc),
                mean: fc.mean,
                residuals,
            }
        }
        None => Base {
            mean: vec![0.0; horizon],
            residuals: vec![0.0; y.len()],
            certain: vec![false; horizon],
        },
    }
}

/// Whether `spec` can forecast a certain zero: closed slots, or the naive forecast (with
/// bands of no width) that a series which never sold gets.
fn may_be_certain(spec: &ModelSpec) -> bool {
    match spec {
        ModelSpec::Closed { .. } | ModelSpec::Naive => true,
        ModelSpec::AfterOutage { model } | ModelSpec::LocalTime { model, .. } => {
            may_be_certain(model)
        }
        _ => false,
    }
}

/// Mean MASE per level of `forecasts` (node order) against each node's last `horizon`
/// values, scaled by its history before them; nodes without a scale are left out.
fn score(
    series: &[Series],
    method: &str,
    forecasts: &[Vec<f64>],
    season: usize,
    horizon: usize,
) -> MethodScore {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for (s, fc) in series.iter().zip(forecasts) {
        let Some(split) = s.values.len().checked_sub(horizon) else {
            continue;
        };
        let scale = mase_scale(&s.values[..split], season);
        if !(scale.is_finite() && scale > 0.0) {
            continue;
        }
        let mae = s.values[split..]
            .iter()
            .zip(fc)
            .map(|(a, f)| (a - f).abs())
            .sum::<f64>()
            / horizon as f64;
        let e = sums.entry(s.key.level().as_str().to_string()).or_default();
        e.0 += mae / scale;
        e.1 += 1;
    }
    let levels: BTreeMap<String, f64> = sums
        .into_iter()
        .map(|(l, (sum, n))| (l, sum / n as f64))
        .collect();
    let score = if levels.is_empty() {
        f64::INFINITY
    } else {
        levels.values().sum::<f64>() / levels.len() as f64
    };
    MethodScore {
        method: method.to_string(),
        levels,
        score,
    }
}

/// Nodes per level.
pub fn counts(series: &[Series]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for s in series {
        *out.entry(s.key.level().as_str().to_string()).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::forecast::series::Frequency;

    fn bottom(item: &str, store: &str, start: u64, values: &[f64]) -> Series {
        Series {
            key: SeriesKey {
                item_id: Some(item.into()),
                store_id: Some(store.into()),
                category: None,
            },
            frequency: Frequency::Day,
            start: (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(start)).into(),
            values: values.to_vec(),
            filled: 0,
        }
    }

    #[test]
    fn nodes_are_total_items_stores_then_bottoms_summed_on_a_common_end() {
        let none = BTreeMap::new();
        let (h, series) = nodes(
            vec![
                bottom("B", "S1", 0, &[1.0, 2.0, 3.0]),
                bottom("A", "S2", 1, &[10.0, 20.0]),
                bottom("A", "S1", 0, &[100.0, 200.0, 300.0]),
            ],
            &none,
        )
        .unwrap();
        let ids: Vec<String> = series.iter().map(Series::id).collect();
        assert_eq!(
            ids,
            [
                "total",
                "item=A",
                "item=B",
                "store=S1",
                "store=S2",
                "item=A/store=S1",
                "item=A/store=S2",
                "item=B/store=S1"
            ]
        );
        assert_eq!(h.ids(), ids.as_slice());
        // A/S2 started a day late: it adds from its first day on.
        assert_eq!(series[0].values, [101.0, 212.0, 323.0]);
        assert_eq!(series[1].values, [100.0, 210.0, 320.0]);
        assert_eq!(series[4].values, [10.0, 20.0]);
        assert_eq!(series[4].start, series[6].start);
        assert_eq!(counts(&series)["store"], 2);
        // With a catalog, categories sit between the total and the items; an item the
        // catalog does not categorise is `uncategorized`.
        let catalog = BTreeMap::from([("A".to_string(), "food".to_string())]);
        let (h, with) = nodes(series[5..].to_vec(), &catalog).unwrap();
        let ids: Vec<String> = with.iter().map(Series::id).collect();
        assert_eq!(
            &ids[..3],
            ["total", "category=food", "category=uncategorized"]
        );
        assert_eq!(with[1].values, [100.0, 210.0, 320.0]);
        assert_eq!(with[2].values, [1.0, 2.0, 3.0]);
        assert_eq!(with[1].key.level(), Level::Category);
        assert_eq!(h.n_aggregates(), 7);
        assert_eq!(counts(&with)["category"], 2);
        // Bottoms that end on different days cannot form a hierarchy.
        let err = nodes(
            vec![
                bottom("A", "S1", 0, &[1.0]),
                bottom("B", "S1", 0, &[1.0, 2.0]),
            ],
            &none,
        );
        assert!(matches!(err, Err(DemandError::Data(_))));
    }

    #[test]
    fn reconciled_means_add_up_and_methods_parse_by_name() {
        let (h, series) = nodes(
            vec![
                bottom("A", "S1", 0, &[4.0, 5.0, 6.0, 5.0]),
                bottom("B", "S1", 0, &[1.0, 2.0, 1.0, 2.0]),
            ],
            &BTreeMap::new(),
        )
        .unwrap();
        // Base means that do not add up: total 10, item A 5, item B 2, store S1 8, bottoms
        // 5 and 2.
        let base: Vec<Base> = [10.0, 5.0, 2.0, 8.0, 5.0, 2.0]
            .iter()
            .map(|m| Base {
                mean: vec![*m],
                residuals: vec![0.5, -0.5, 0.25, -0.25],
                certain: vec![false],
            })
            .collect();
        let history: Vec<Vec<f64>> = series.iter().map(|s| s.values.clone()).collect();
        let bu = reconciled(&h, ReconcileBy::BottomUp, &base, &history).unwrap();
        assert_eq!(bu.forecasts.concat(), [7.0, 5.0, 2.0, 7.0, 5.0, 2.0]);
        let ols = reconciled(&h, ReconcileBy::Ols, &base, &history).unwrap();
        assert!(h.is_coherent(&ols.forecasts, 1e-12));
        assert!(ols.forecasts[0][0] > 7.0 && ols.forecasts[0][0] < 10.0);
        assert!(reconciled(&h, ReconcileBy::Auto, &base, &history).is_err());
        for (m, name) in NAMES {
            assert_eq!(name.parse::<ReconcileBy>().unwrap(), m);
            assert_eq!(serde_json::to_value(m).unwrap(), name);
        }
        assert!(matches!(
            "mint".parse::<ReconcileBy>(),
            Err(DemandError::Invalid { field, .. }) if field == "reconcile"
        ));
    }

    #[test]
    fn a_backtest_refit_marks_the_steps_served_as_certain() {
        let never_sold = origin_fit(&[0.0; 42], &ModelSpec::Naive, 7, 7);
        assert_eq!(never_sold.certain, [true; 7]);
        let mut ended = vec![0.0; 42];
        ended[20] = 5.0;
        assert_eq!(
            origin_fit(&ended, &ModelSpec::Naive, 7, 7).certain,
            [false; 7]
        );
        // Closed on the slot of day 6 of each week: only those steps are certain.
        let shop: Vec<f64> = (0..98)
            .map(|t| {
                if t % 7 == 6 {
                    0.0
                } else {
                    20.0 + (t % 7 + t % 3) as f64
                }
            })
            .collect();
        let closed = ModelSpec::Closed {
            model: Box::new(ModelSpec::SeasonalNaive),
        };
        let base = origin_fit(&shop, &closed, 7, 14);
        let expected: Vec<bool> = (0..14).map(|k| (98 + k) % 7 == 6).collect();
        assert_eq!(base.certain, expected);
        assert!(
            base.mean
                .iter()
                .zip(&expected)
                .all(|(m, c)| (*m == 0.0) == *c)
        );
    }

    #[test]
    fn the_backtest_scores_the_base_and_every_method_on_every_level() {
        let weekly = |scale: f64| -> Vec<f64> {
            (0..42)
                .map(|t| scale * [3.0, 2.0, 2.0, 4.0, 6.0, 9.0, 5.0][t % 7] + (t % 3) as f64)
                .collect()
        };
        let (h, series) = nodes(
            vec![
                bottom("A", "S1", 0, &weekly(2.0)),
                bottom("B", "S1", 0, &weekly(1.0)),
                bottom("A", "S2", 0, &weekly(0.5)),
            ],
            &BTreeMap::new(),
        )
        .unwrap();
        let specs = vec![ModelSpec::SeasonalNaive; series.len()];
        let scores = backtest(&h, &series, &specs, ReconcileBy::Ols, 7).unwrap();
        let names: Vec<&str> = scores.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(names.len(), 6, "{names:?}");
        assert!(names.contains(&"base") && names.contains(&"ols"));
        assert!(
            scores
                .iter()
                .all(|m| m.levels.len() == 4 && m.score.is_finite())
        );
        // Too short for the horizon plus four periods.
        assert!(backtest(&h, &series, &specs, ReconcileBy::Ols, 40).is_err());
    }
}
