//! Daily snapshots of a view: pure code, a [`SourceTable`] in, one [`Snapshot`] per as-of
//! day out.
//!
//! The snapshot of day `D` has `as_of = D+1 00:00 UTC` and uses rows with `ts < as_of` only;
//! a day not over yet (an on-demand materialization of today) is as of the materialization's
//! `cutoff` (now) instead, so no value claims to come from the future and staleness is never
//! negative. A later run recomputes that day as of its own time.
//! An entity is in it when its latest row before `as_of` is at most the TTL old; its features
//! aggregate the rows of `[as_of - window, as_of)` (filtered per feature). Rows are grouped
//! per entity and sorted by time once, so each (entity, day, feature) is two binary searches
//! and one pass over the window.

use std::collections::HashSet;

use chrono::NaiveDate;
use rayon::prelude::*;

use super::DAY_MICROS;
use super::source::{SourceColumn, SourceTable};
use super::spec::{Agg, FeatureSpec, ViewSpec};

/// One feature value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(Option<f64>),
    /// A text `last` value (dictionary code of the source table).
    Text(Option<u32>),
}

/// The values of one view as of the end of one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub day: NaiveDate,
    /// UTC microseconds: values use rows strictly before this instant.
    pub as_of: i64,
    /// Entity codes of the source table, ascending.
    pub entities: Vec<u32>,
    /// Per entity: time of its latest row before `as_of`.
    pub event_ts: Vec<i64>,
    /// Per entity: one value per feature, in definition order.
    pub values: Vec<Vec<Value>>,
}

/// UTC midnight after `day`, in microseconds.
pub fn as_of_of(day: NaiveDate) -> i64 {
    let next = day.succ_opt().unwrap_or(day);
    next.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_micros()
}

/// The as-of day whose snapshot a row at instant `t` (UTC microseconds) must use: the day
/// before `t`'s date, so that `as_of <= t`.
pub fn day_for_instant(t: i64) -> NaiveDate {
    let date = chrono::DateTime::from_timestamp_micros(t)
        .map(|d| d.date_naive())
        .unwrap_or(NaiveDate::MIN);
    date.pred_opt().unwrap_or(date)
}

/// A feature prepared against one source table: its row mask and input column.
struct Prepared<'a> {
    spec: &'a FeatureSpec,
    /// Rows passing the feature's filter (`None`: all).
    mask: Option<Vec<bool>>,
    column: Option<&'a SourceColumn>,
    window: i64,
    /// Indices of numerator and denominator (ratios only).
    ratio: Option<(usize, usize)>,
}

fn prepare<'a>(view: &'a ViewSpec, table: &'a SourceTable) -> Vec<Prepared<'a>> {
    let ttl = view.ttl_micros();
    view.features
        .iter()
        .map(|f| {
            let mask = (!f.filter.is_empty()).then(|| {
                let mut mask = vec![true; table.len()];
                for (col, values) in &f.filter {
                    let codes: HashSet<u32> =
                        values.iter().filter_map(|v| table.code_of(v)).collect();
                    match table.columns.get(col) {
                        Some(SourceColumn::Text(c)) => {
                            for (m, v) in mask.iter_mut().zip(c) {
                                *m &= v.is_some_and(|v| codes.contains(&v));
                            }
                        }
                        _ => mask.iter_mut().for_each(|m| *m = false),
                    }
                }
                mask
            });
            let window = f.window_days.map_or(ttl, |w| i64::from(w) * DAY_MICROS);
            let ratio = match (&f.numerator, &f.denominator) {
                (Some(n), Some(d)) => view.feature_index(n).zip(view.feature_index(d)),
                _ => None,
            };
            Prepared {
                spec: f,
                mask,
                column: f.column.as_ref().and_then(|c| table.columns.get(c)),
                window,
                ratio,
            }
        })
        .collect()
}

/// Row indices grouped by entity, each group sorted by time (stable, so ties keep read order).
fn group_rows(table: &SourceTable) -> Vec<Vec<u32>> {
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); table.entity_ids.len()];
    for (i, &e) in table.entity.iter().enumerate() {
        groups[e as usize].push(i as u32);
    }
    groups
        .par_iter_mut()
        .for_each(|g| g.sort_by_key(|&i| table.ts[i as usize]));
    groups
}

/// The snapshots of `days` (ascending), computed in parallel over entities.
pub fn snapshots(view: &ViewSpec, table: &SourceTable, days: &[NaiveDate]) -> Vec<Snapshot> {
    let groups = group_rows(table);
    let prepared = prepare(view, table);
    days.iter()
        .map(|&day| snapshot_with(view, table, &groups, &prepared, day, i64::MAX))
        .collect()
}

/// Like [`snapshots`], handing each day to `sink` as soon as it is computed, so memory holds
/// one day at a time.
/// No snapshot is as of a later instant than `cutoff` (UTC microseconds; now).
pub fn for_each_snapshot<E>(
    view: &ViewSpec,
    table: &SourceTable,
    days: &[NaiveDate],
    cutoff: i64,
    mut sink: impl FnMut(Snapshot) -> Result<(), E>,
) -> Result<(), E> {
    let groups = group_rows(table);
    let prepared = prepare(view, table);
    for &day in days {
        sink(snapshot_with(view, table, &groups, &prepared, day, cutoff))?;
    }
    Ok(())
}

fn snapshot_with(
    view: &ViewSpec,
    table: &SourceTable,
    groups: &[Vec<u32>],
    prepared: &[Prepared<'_>],
    day: NaiveDate,
    cutoff: i64,
) -> Snapshot {
    let as_of = as_of_of(day).min(cutoff);
    let ttl = view.ttl_micros();
    let rows: Vec<Option<(u32, i64, Vec<Value>)>> = groups
        .par_iter()
        .enumerate()
        .map(|(e, group)| {
            let hi = group.partition_point(|&i| table.ts[i as usize] < as_of);
            if hi == 0 {
                return None;
            }
            let last_ts = table.ts[group[hi - 1] as usize];
            if as_of - last_ts > ttl {
                return None;
            }
            let mut values: Vec<Value> = prepared
                .iter()
                .map(|p| {
                    let from = as_of - p.window;
                    let lo = group[..hi].partition_point(|&i| table.ts[i as usize] < from);
                    aggregate(p, table, &group[lo..hi], as_of)
                })
                .collect();
            for (k, p) in prepared.iter().enumerate() {
                if let Some((n, d)) = p.ratio {
                    values[k] = match (&values[n], &values[d]) {
                        (Value::Num(Some(n)), Value::Num(Some(d))) if *d != 0.0 => {
                            Value::Num(Some(n / d))
                        }
                        _ => Value::Num(None),
                    };
                }
            }
            Some((e as u32, last_ts, values))
        })
        .collect();
    let mut snap = Snapshot {
        day,
        as_of,
        entities: Vec::new(),
        event_ts: Vec::new(),
        values: Vec::new(),
    };
    for (e, ts, values) in rows.into_iter().flatten() {
        snap.entities.push(e);
        snap.event_ts.push(ts);
        snap.values.push(values);
    }
    snap
}

/// One feature over the rows of its window (indices in time order).
fn aggregate(p: &Prepared<'_>, table: &SourceTable, rows: &[u32], as_of: i64) -> Value {
    let passes = |i: u32| p.mask.as_ref().is_none_or(|m| m[i as usize]);
    let numbers = || {
        let col = match p.column {
            Some(SourceColumn::Numeric(v)) => Some(v),
            _ => None,
        };
        rows.iter()
            .copied()
            .filter(move |&i| passes(i))
            .filter_map(move |i| col.and_then(|c| c[i as usize]))
    };
    match p.spec.agg {
        Agg::Count => Value::Num(Some(rows.iter().filter(|&&i| passes(i)).count() as f64)),
        Agg::Sum => Value::Num(Some(numbers().sum())),
        Agg::Mean => {
            let (n, s) = numbers().fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
            Value::Num((n > 0).then(|| s / n as f64))
        }
        Agg::Min => Value::Num(numbers().reduce(f64::min)),
        Agg::Max => Value::Num(numbers().reduce(f64::max)),
        Agg::Stddev => {
            let (n, s) = numbers().fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
            if n < 2 {
                return Value::Num(None);
            }
            let mean = s / n as f64;
            let ss: f64 = numbers().map(|x| (x - mean) * (x - mean)).sum();
            Value::Num(Some((ss / (n - 1) as f64).sqrt()))
        }
        Agg::DistinctCount => {
            let n = match p.column {
                Some(SourceColumn::Numeric(v)) => rows
                    .iter()
                    .filter(|&&i| passes(i))
                    .filter_map(|&i| v[i as usize].map(f64::to_bits))
                    .collect::<HashSet<u64>>()
                    .len(),
                Some(SourceColumn::Text(v)) => rows
                    .iter()
                    .filter(|&&i| passes(i))
                    .filter_map(|&i| v[i as usize])
                    .collect::<HashSet<u32>>()
                    .len(),
                None => 0,
            };
            Value::Num(Some(n as f64))
        }
        Agg::Last => match p.column {
            Some(SourceColumn::Numeric(v)) => Value::Num(
                rows.iter()
                    .rev()
                    .filter(|&&i| passes(i))
                    .find_map(|&i| v[i as usize]),
            ),
            Some(SourceColumn::Text(v)) => Value::Text(
                rows.iter()
                    .rev()
                    .filter(|&&i| passes(i))
                    .find_map(|&i| v[i as usize]),
            ),
            None => Value::Num(None),
        },
        Agg::DaysSinceLast => Value::Num(
            rows.iter()
                .rev()
                .find(|&&i| passes(i))
                .map(|&i| (as_of - table.ts[i as usize]) as f64 / DAY_MICROS as f64),
        ),
        // Filled from the other features by the caller.
        Agg::Ratio => Value::Num(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::source::{Cell, SourceBuilder};
    use crate::features::spec::{Entity, Source};
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    fn feature(name: &str, agg: Agg, column: Option<&str>, window: Option<u32>) -> FeatureSpec {
        FeatureSpec {
            name: name.into(),
            description: String::new(),
            agg,
            column: column.map(Into::into),
            window_days: window,
            filter: BTreeMap::new(),
            numerator: None,
            denominator: None,
        }
    }

    pub(crate) fn test_view() -> ViewSpec {
        let mut purchases = feature("purchases_3d", Agg::Count, None, Some(3));
        purchases
            .filter
            .insert("event_type".into(), vec!["purchase".into()]);
        let mut spend = feature("spend_3d", Agg::Sum, Some("value"), Some(3));
        spend.filter = purchases.filter.clone();
        let mut conv = feature("conv", Agg::Ratio, None, None);
        conv.numerator = Some("purchases_3d".into());
        conv.denominator = Some("events_2d".into());
        ViewSpec {
            name: "t".into(),
            description: String::new(),
            entity: Entity::User,
            source: Source::Interactions,
            ttl_days: 4.0,
            schedule: None,
            filter: BTreeMap::new(),
            features: vec![
                feature("events_2d", Agg::Count, None, Some(2)),
                purchases,
                spend,
                feature("mean_value_3d", Agg::Mean, Some("value"), Some(3)),
                feature("min_value_3d", Agg::Min, Some("value"), Some(3)),
                feature("max_value_3d", Agg::Max, Some("value"), Some(3)),
                feature("sd_value_3d", Agg::Stddev, Some("value"), Some(3)),
                feature("items_3d", Agg::DistinctCount, Some("item_id"), Some(3)),
                feature("last_item", Agg::Last, Some("item_id"), None),
                feature("last_value", Agg::Last, Some("value"), None),
                feature("days_since", Agg::DaysSinceLast, None, None),
                conv,
            ],
        }
    }

    /// Random interactions over ten days with timestamps clustered on day boundaries.
    pub(crate) fn random_table(seed: u64, rows: usize) -> SourceTable {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let start = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let base = as_of_of(start.pred_opt().unwrap());
        let mut b = SourceBuilder::new();
        let types = ["view", "click", "purchase"];
        for _ in 0..rows {
            let day = rng.random_range(0..10i64);
            let offset = match rng.random_range(0..4) {
                0 => 0,
                1 => DAY_MICROS - 1,
                2 => rng.random_range(0..3) * 1_000_000,
                _ => rng.random_range(0..DAY_MICROS),
            };
            let user = format!("u{}", rng.random_range(0..6));
            let item = format!("i{}", rng.random_range(0..5));
            let t = types[rng.random_range(0..3)];
            let value = rng
                .random_bool(0.7)
                .then(|| rng.random_range(1..100) as f64);
            b.push(
                &user,
                base + day * DAY_MICROS + offset,
                &[
                    ("value", Cell::Num(value)),
                    ("item_id", Cell::Text(Some(&item))),
                    ("event_type", Cell::Text(Some(t))),
                ],
            );
        }
        b.finish()
    }

    /// Straight from the definition: for each entity, scan every row.
    pub(crate) fn brute_force(
        view: &ViewSpec,
        table: &SourceTable,
        entity: u32,
        as_of: i64,
    ) -> Option<(i64, Vec<Value>)> {
        let rows: Vec<usize> = (0..table.len())
            .filter(|&i| table.entity[i] == entity && table.ts[i] < as_of)
            .collect();
        let last = rows.iter().map(|&i| table.ts[i]).max()?;
        if as_of - last > view.ttl_micros() {
            return None;
        }
        let text = |c: &str, i: usize| match table.columns.get(c) {
            Some(SourceColumn::Text(v)) => v[i].map(|x| table.dictionary[x as usize].clone()),
            _ => None,
        };
        let num = |c: &str, i: usize| match table.columns.get(c) {
            Some(SourceColumn::Numeric(v)) => v[i],
            _ => None,
        };
        let mut values = Vec::new();
        for f in &view.features {
            let window = f
                .window_days
                .map_or(view.ttl_micros(), |w| i64::from(w) * DAY_MICROS);
            let mut sel: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&i| table.ts[i] >= as_of - window)
                .filter(|&i| {
                    f.filter
                        .iter()
                        .all(|(c, vals)| text(c, i).is_some_and(|v| vals.contains(&v)))
                })
                .collect();
            sel.sort_by_key(|&i| table.ts[i]);
            let col = f.column.as_deref().unwrap_or("");
            let nums: Vec<f64> = sel.iter().filter_map(|&i| num(col, i)).collect();
            let v = match f.agg {
                Agg::Count => Value::Num(Some(sel.len() as f64)),
                Agg::Sum => Value::Num(Some(nums.iter().sum())),
                Agg::Mean => Value::Num(
                    (!nums.is_empty()).then(|| nums.iter().sum::<f64>() / nums.len() as f64),
                ),
                Agg::Min => Value::Num(nums.iter().copied().reduce(f64::min)),
                Agg::Max => Value::Num(nums.iter().copied().reduce(f64::max)),
                Agg::Stddev => Value::Num((nums.len() >= 2).then(|| {
                    let m = nums.iter().sum::<f64>() / nums.len() as f64;
                    (nums.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (nums.len() - 1) as f64)
                        .sqrt()
                })),
                Agg::DistinctCount => Value::Num(Some(
                    sel.iter()
                        .filter_map(|&i| text(col, i))
                        .collect::<HashSet<_>>()
                        .len() as f64,
                )),
                Agg::Last => match table.columns.get(col) {
                    Some(SourceColumn::Numeric(_)) => {
                        Value::Num(sel.iter().rev().find_map(|&i| num(col, i)))
                    }
                    _ => Value::Text(
                        sel.iter()
                            .rev()
                            .find_map(|&i| text(col, i))
                            .and_then(|s| table.code_of(&s)),
                    ),
                },
                Agg::DaysSinceLast => Value::Num(
                    sel.last()
                        .map(|&i| (as_of - table.ts[i]) as f64 / DAY_MICROS as f64),
                ),
                Agg::Ratio => Value::Num(None),
            };
            values.push(v);
        }
        for (k, f) in view.features.iter().enumerate() {
            if f.agg == Agg::Ratio {
                let n = view.feature_index(f.numerator.as_ref().unwrap()).unwrap();
                let d = view.feature_index(f.denominator.as_ref().unwrap()).unwrap();
                values[k] = match (&values[n], &values[d]) {
                    (Value::Num(Some(n)), Value::Num(Some(d))) if *d != 0.0 => {
                        Value::Num(Some(n / d))
                    }
                    _ => Value::Num(None),
                };
            }
        }
        Some((last, values))
    }

    fn close(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Num(Some(x)), Value::Num(Some(y))) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
            _ => a == b,
        }
    }

    #[test]
    fn snapshots_equal_brute_force_on_random_data() {
        let view = test_view();
        for seed in 0..20 {
            let table = random_table(seed, 300);
            let start = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
            let days: Vec<NaiveDate> = start.iter_days().take(14).collect();
            let snaps = snapshots(&view, &table, &days);
            for snap in &snaps {
                for e in 0..table.entity_ids.len() as u32 {
                    let expected = brute_force(&view, &table, e, snap.as_of);
                    let got = snap
                        .entities
                        .iter()
                        .position(|&x| x == e)
                        .map(|k| (snap.event_ts[k], snap.values[k].clone()));
                    match (expected, got) {
                        (None, None) => {}
                        (Some((ets, ev)), Some((gts, gv))) => {
                            assert_eq!(ets, gts, "seed {seed} day {} entity {e}", snap.day);
                            for (k, (a, b)) in ev.iter().zip(&gv).enumerate() {
                                assert!(
                                    close(a, b),
                                    "seed {seed} day {} entity {e} feature {}: {a:?} vs {b:?}",
                                    snap.day,
                                    view.features[k].name
                                );
                            }
                        }
                        (a, b) => panic!("seed {seed} day {} entity {e}: {a:?} vs {b:?}", snap.day),
                    }
                }
            }
        }
    }

    #[test]
    fn a_row_at_the_as_of_instant_does_not_count_and_ttl_drops_entities() {
        let view = test_view();
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let as_of = as_of_of(day);
        let mut b = SourceBuilder::new();
        let cells = |t| {
            [
                ("value", Cell::Num(Some(5.0))),
                ("item_id", Cell::Text(Some("i1"))),
                ("event_type", Cell::Text(Some(t))),
            ]
        };
        b.push("u1", as_of - 1, &cells("purchase"));
        b.push("u1", as_of, &cells("purchase"));
        b.push("u1", as_of + 1_000_000, &cells("purchase"));
        // Older than the 4-day TTL at `as_of`.
        b.push("u2", as_of - 4 * DAY_MICROS - 1, &cells("view"));
        let table = b.finish();
        let snap = &snapshots(&view, &table, &[day])[0];
        assert_eq!(snap.entities, vec![0]);
        assert_eq!(snap.event_ts, vec![as_of - 1]);
        assert_eq!(snap.values[0][1], Value::Num(Some(1.0)));
        assert_eq!(day_for_instant(as_of), day);
        assert_eq!(day_for_instant(as_of - 1), day.pred_opt().unwrap());
    }
}
