//! Planner overrides carried through a reconciled run's hierarchy, so the levels still add up
//! after planners change some of them.
//!
//! Why: an override of one store's plan must show in the total, and an override of the total
//! (a campaign everywhere) must show in every store and item under it; otherwise the
//! hierarchy the run made coherent falls apart as soon as a planner touches it.
//!
//! How, for one period: start from the run's item x store means; apply the overrides in
//! force from the most general node to the most specific (the total, then categories, then
//! items and stores, then item x store; the older first at one level, so the newest wins
//! where they overlap).
//! An override of a node sets the sum of the item x store series under it (a value, or the
//! current sum changed by a percent) and spreads the change over them in proportion to their
//! current values (equally when they are all zero). Any node's plan is then the sum of its
//! item x store series. A node with no override in its hierarchy serves its own forecast
//! untouched.

use std::collections::BTreeMap;

use super::overrides::{Adjustment, date};
use super::series::{DemandError, Level, Period, SeriesKey};
use crate::db::overrides::OverrideRow;

/// One active override of some node of the hierarchy.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeOverride {
    pub id: String,
    pub key: SeriesKey,
    pub start: Period,
    pub end: Period,
    pub adjustment: Adjustment,
    /// Creation time (ms): among overlapping overrides of one level the newer wins.
    pub created_at: i64,
}

impl NodeOverride {
    /// The override as stored; `None` for a series id that is not a hierarchy node.
    pub fn of(row: &OverrideRow) -> Result<Option<NodeOverride>, DemandError> {
        let Some(key) = SeriesKey::parse(&row.series_id) else {
            return Ok(None);
        };
        Ok(Some(NodeOverride {
            id: row.id.clone(),
            key,
            start: date(&row.start_date)?,
            end: date(&row.end_date)?,
            adjustment: Adjustment::of(row),
            created_at: row.created_at,
        }))
    }

    fn covers(&self, date: Period) -> bool {
        date.within(self.start, self.end)
    }
}

/// Whether the item x store series `bottom` (its category filled in by [`Categories`]) is
/// under `node`.
fn under(bottom: &SeriesKey, node: &SeriesKey) -> bool {
    let fits = |b: &Option<String>, n: &Option<String>| n.is_none() || n == b;
    fits(&bottom.item_id, &node.item_id)
        && fits(&bottom.store_id, &node.store_id)
        && fits(&bottom.category, &node.category)
}

/// Whether some item x store series may be under both nodes (keys with an item carry its
/// category when [`Categories`] filled it in).
pub fn overlap(a: &SeriesKey, b: &SeriesKey) -> bool {
    let fits = |x: &Option<String>, y: &Option<String>| x.is_none() || y.is_none() || x == y;
    fits(&a.item_id, &b.item_id) && fits(&a.store_id, &b.store_id) && fits(&a.category, &b.category)
}

/// How general a node is: the total, then a category, then an item or a store, then an
/// item x store series.
fn generality(key: &SeriesKey) -> usize {
    match key.level() {
        Level::Total => 3,
        Level::Category => 2,
        Level::Item | Level::Store => 1,
        Level::ItemStore => 0,
    }
}

/// Which category a reconciled run put each item in (from its category nodes' `members`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Categories(BTreeMap<String, String>);

impl Categories {
    /// From the run's category rows: (series id, params JSON).
    pub fn of_rows(rows: &[(String, String)]) -> Result<Categories, DemandError> {
        let mut map = BTreeMap::new();
        for (id, params) in rows {
            let Some(category) = SeriesKey::parse(id).and_then(|k| k.category) else {
                continue;
            };
            let params: serde_json::Value = serde_json::from_str(params)
                .map_err(|e| DemandError::Corrupt(format!("params of `{id}`: {e}")))?;
            let members = super::hierarchy::members_of(&params)
                .ok_or_else(|| DemandError::Corrupt(format!("members of `{id}`")))?;
            for item in members {
                map.insert(item, category.clone());
            }
        }
        Ok(Categories(map))
    }

    /// `key` with its item's category filled in (keys without an item as they are).
    pub fn fill(&self, mut key: SeriesKey) -> SeriesKey {
        if let Some(item) = &key.item_id {
            key.category = self.0.get(item).cloned();
        }
        key
    }
}

/// `target`'s planned value on `date` from the item x store `bottoms` (key, statistical
/// mean), and the id of the last override that moved it (`None`: none did).
pub fn plan(
    bottoms: &[(SeriesKey, f64)],
    overrides: &[NodeOverride],
    target: &SeriesKey,
    date: Period,
) -> (f64, Option<String>) {
    // The newest override in force per node, then the general nodes first.
    let mut in_force: BTreeMap<&SeriesKey, &NodeOverride> = BTreeMap::new();
    for o in overrides.iter().filter(|o| o.covers(date)) {
        let slot = in_force.entry(&o.key).or_insert(o);
        if (o.created_at, &o.id) > (slot.created_at, &slot.id) {
            *slot = o;
        }
    }
    let mut order: Vec<&NodeOverride> = in_force.into_values().collect();
    order.sort_by_key(|o| (std::cmp::Reverse(generality(&o.key)), o.created_at));
    let mut values: Vec<f64> = bottoms.iter().map(|b| b.1).collect();
    let mut moved_by = None;
    for o in order {
        let members: Vec<usize> = (0..bottoms.len())
            .filter(|&j| under(&bottoms[j].0, &o.key))
            .collect();
        if members.is_empty() {
            continue;
        }
        let current: f64 = members.iter().map(|&j| values[j]).sum();
        let planned = o.adjustment.apply(current);
        for &j in &members {
            values[j] = if current > 0.0 {
                values[j] * planned / current
            } else {
                planned / members.len() as f64
            };
        }
        if overlap(&o.key, target) {
            moved_by = Some(o.id.clone());
        }
    }
    let value = (0..bottoms.len())
        .filter(|&j| under(&bottoms[j].0, target))
        .map(|j| values[j])
        .sum();
    (value, moved_by)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(item: Option<&str>, store: Option<&str>) -> SeriesKey {
        SeriesKey {
            item_id: item.map(str::to_string),
            store_id: store.map(str::to_string),
            category: None,
        }
    }

    fn d(day: u32) -> Period {
        Period::Day(chrono::NaiveDate::from_ymd_opt(2026, 3, day).unwrap())
    }

    fn over(id: &str, k: SeriesKey, adjustment: Adjustment, created_at: i64) -> NodeOverride {
        NodeOverride {
            id: id.into(),
            key: k,
            start: d(1),
            end: d(7),
            adjustment,
            created_at,
        }
    }

    /// A/S1 10, A/S2 30, B/S1 60: total 100, item A 40, store S1 70.
    fn bottoms() -> Vec<(SeriesKey, f64)> {
        vec![
            (key(Some("A"), Some("S1")), 10.0),
            (key(Some("A"), Some("S2")), 30.0),
            (key(Some("B"), Some("S1")), 60.0),
        ]
    }

    #[test]
    fn an_override_moves_every_level_above_and_below_it() {
        let b = bottoms();
        // Item A planned at 80 (was 40): its stores double, so does A's share of S1 and the
        // total gains 40.
        let o = vec![over("o1", key(Some("A"), None), Adjustment::Value(80.0), 1)];
        let plan_of = |k: SeriesKey| plan(&b, &o, &k, d(2));
        assert_eq!(plan_of(key(None, None)), (140.0, Some("o1".into())));
        assert_eq!(plan_of(key(Some("A"), Some("S2"))).0, 60.0);
        assert_eq!(plan_of(key(None, Some("S1"))).0, 80.0);
        // B/S1 is not under item A: untouched, and not moved by it.
        assert_eq!(plan_of(key(Some("B"), Some("S1"))), (60.0, None));
        // Outside the override's dates nothing moves.
        assert_eq!(plan(&b, &o, &key(None, None), d(9)), (100.0, None));
    }

    #[test]
    fn general_overrides_apply_first_and_the_specific_one_wins() {
        let b = bottoms();
        // The total +10 % (110), then A/S1 fixed at 5: A/S1 is 5 whatever the total did, the
        // others keep their scaled values.
        let o = vec![
            over(
                "bottom",
                key(Some("A"), Some("S1")),
                Adjustment::Value(5.0),
                1,
            ),
            over("total", key(None, None), Adjustment::Percent(10.0), 2),
        ];
        let total = plan(&b, &o, &key(None, None), d(3));
        assert!((total.0 - (5.0 + 33.0 + 66.0)).abs() < 1e-9, "{total:?}");
        assert_eq!(total.1.as_deref(), Some("bottom"));
        assert_eq!(plan(&b, &o, &key(Some("A"), Some("S1")), d(3)).0, 5.0);
        // Two overrides of one node: the newer wins.
        let o = vec![
            over("old", key(None, Some("S2")), Adjustment::Value(1.0), 1),
            over("new", key(None, Some("S2")), Adjustment::Value(3.0), 2),
        ];
        assert_eq!(
            plan(&b, &o, &key(None, Some("S2")), d(1)),
            (3.0, Some("new".into()))
        );
    }

    #[test]
    fn a_plan_on_nothing_sold_is_spread_evenly() {
        let b = vec![
            (key(Some("A"), Some("S1")), 0.0),
            (key(Some("A"), Some("S2")), 0.0),
        ];
        let o = vec![over("o", key(Some("A"), None), Adjustment::Value(8.0), 1)];
        assert_eq!(plan(&b, &o, &key(Some("A"), Some("S2")), d(1)).0, 4.0);
    }
}
