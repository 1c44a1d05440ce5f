//! Which periods a training run uses, by rules a planner can see and set, and what it says
//! about every period or series it leaves out.
//!
//! Why: two silent losses were found on public data landed through the sales pipeline. Rows
//! dated on the first day of their period (the 1st of a month, a Monday: how recast itself
//! keys months and weeks) made the last period look half observed, so it was dropped and the
//! forecast started on a period already known; and a series that stopped early was padded with
//! zeros up to the data set's end (one run padded 111 of 140 series). Now the last period's
//! completeness follows [`LastPeriod`] (auto-detecting period-keyed data), a dropped period is
//! a warning in the run report, and a series with no rows in its last `ended_after` periods is
//! reported as ended and left out unless `pad_ended` asks for the zeros.

use serde::{Deserialize, Serialize};

use std::collections::{BTreeMap, BTreeSet};

use super::series::{Frequency, Level, Period, SalesIndex, Series, SeriesKey, regular};

/// When the data's last period counts as complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LastPeriod {
    /// Complete when the data's last period of their own grain ends with the period or after
    /// it: the grain is the coarsest period, up to the run's, the data are keyed by (no row
    /// of the last period, and at most 1 % of all, off a period's first day:
    /// `SalesIndex::grain`), else the day, which is `calendar`. Monthly rows complete a
    /// quarter with its third month's row.
    #[default]
    Auto,
    /// Complete only when the data reach the period's final day (daily rows inside weeks or
    /// months: a month in progress is not a collapse in demand).
    Calendar,
    /// The period holding the last date is complete.
    Complete,
}

/// How a run builds its series (part of the `train_forecaster` payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeriesRules {
    pub last_period: LastPeriod,
    /// Zero-fill series that ended up to the run's last period instead of leaving them out.
    pub pad_ended: bool,
    /// Every series runs to its own last period with a row (no trailing zeros), and those
    /// that ended are kept: data whose series are on calendars of their own.
    pub own_end: bool,
    /// Periods without a single row after which a series counts as ended (default
    /// [`default_ended_after`]).
    pub ended_after: Option<usize>,
}

/// Periods without sales after which a series has ended, unless the payload says otherwise:
/// two weeks of hours, four weeks of days, eight weeks, three months, two quarters, two years.
pub fn default_ended_after(frequency: Frequency) -> usize {
    match frequency {
        Frequency::Hour => 14 * 24,
        Frequency::Day => 28,
        Frequency::Week => 8,
        Frequency::Month => 3,
        Frequency::Quarter | Frequency::Year => 2,
    }
}

/// A series that stopped selling: left out of a run, or (`own_end`) forecast from its last
/// period with a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedSeries {
    pub series_id: String,
    /// Start of its last period with a sales row.
    pub last_period: Period,
}

/// The series of a run and what building them left out.
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub series: Vec<Series>,
    pub ended: Vec<EndedSeries>,
    pub warnings: Vec<String>,
}

/// Start of the last period the run uses, and a warning when the data's own last period is
/// left out as incomplete. `None` when the index is empty.
pub fn last_period(
    index: &SalesIndex,
    frequency: Frequency,
    rule: LastPeriod,
) -> Option<(Period, Option<String>)> {
    let last = index.last_instant()?;
    let own = frequency.period_start(Period::hour_of(last));
    let calendar = frequency.last_complete_period(last);
    let (complete, seen) = match rule {
        LastPeriod::Complete => (true, String::new()),
        LastPeriod::Calendar => (calendar == own, instant(frequency, last)),
        LastPeriod::Auto => auto_complete(index, frequency, last, own, calendar),
    };
    if complete {
        return Some((own, None));
    }
    let warning = format!(
        "the {frequency} starting {own} is incomplete (the data end {seen}) and was left out; \
         set last_period = \"complete\" to use it"
    );
    Some((calendar, Some(warning)))
}

/// Whether the data's last period `own` is complete under [`LastPeriod::Auto`]: its last
/// period of the data's own grain (an hour, or [`SalesIndex::grain`]) ends where `own` ends
/// or after (a week row of the 30th of March completes March), and where the data end.
/// `calendar` is the last period the calendar rule counts complete.
fn auto_complete(
    index: &SalesIndex,
    frequency: Frequency,
    last: chrono::NaiveDateTime,
    own: Period,
    calendar: Period,
) -> (bool, String) {
    if frequency == Frequency::Hour {
        let complete = index.keyed_by_period(frequency) || calendar == own;
        return (complete, instant(frequency, last));
    }
    let grain = index.grain(frequency);
    let last_grain = grain.period_start(Period::hour_of(last));
    let complete = grain.next(last_grain) >= frequency.next(own);
    let seen = match grain {
        Frequency::Day => instant(frequency, last),
        _ => format!("with the {grain} starting {last_grain}"),
    };
    (complete, seen)
}

/// "at" the last instant with data, as the report shows it.
fn instant(frequency: Frequency, last: chrono::NaiveDateTime) -> String {
    match frequency {
        Frequency::Hour => format!("at {}", last.format("%Y-%m-%dT%H:%MZ")),
        _ => format!("at {}", last.date()),
    }
}

/// Every series of `level` at `frequency` under `rules`.
pub fn build(index: &SalesIndex, frequency: Frequency, level: Level, rules: SeriesRules) -> Built {
    build_groups(index, frequency, index.groups(frequency, level), rules)
}

/// Every category's series (the sum of its items over every store, by the catalog's
/// item → category map) under `rules`, and the items each sums by series id.
pub fn build_categories(
    index: &SalesIndex,
    frequency: Frequency,
    categories: &BTreeMap<String, String>,
    rules: SeriesRules,
) -> (Built, BTreeMap<String, BTreeSet<String>>) {
    let groups = index.category_groups(frequency, categories);
    (
        build_groups(index, frequency, groups.periods, rules),
        groups.members,
    )
}

/// The series of `groups` (quantities per period start, unfilled) under `rules`.
fn build_groups(
    index: &SalesIndex,
    frequency: Frequency,
    groups: BTreeMap<SeriesKey, BTreeMap<Period, f64>>,
    rules: SeriesRules,
) -> Built {
    let Some((end, dropped)) = last_period(index, frequency, rules.last_period) else {
        return Built::default();
    };
    let ended_after = rules
        .ended_after
        .unwrap_or_else(|| default_ended_after(frequency));
    let mut built = Built {
        warnings: dropped.into_iter().collect(),
        ..Built::default()
    };
    for (key, periods) in groups {
        let Some(last_sold) = periods.range(..=end).next_back().map(|(d, _)| *d) else {
            continue;
        };
        if !rules.pad_ended && periods_between(frequency, last_sold, end) > ended_after {
            built.ended.push(EndedSeries {
                series_id: key.id(),
                last_period: last_sold,
            });
            if !rules.own_end {
                continue;
            }
        }
        let series_end = if rules.own_end { last_sold } else { end };
        built
            .series
            .extend(regular(key, frequency, &periods, series_end));
    }
    if !built.ended.is_empty() {
        let what = if rules.own_end {
            "are forecast from their own last period (listed in `series_ended`)"
        } else {
            "were left out as ended (listed in `series_ended`; pad_ended = true fills them \
             with zeros, own_end = true forecasts them from their own last period)"
        };
        built.warnings.push(format!(
            "{} series had no sales in their last {ended_after} {frequency}s before {end} and \
             {what}",
            built.ended.len()
        ));
    }
    built
}

/// Periods from the one starting at `from` to the one starting at `to` (0 when equal).
fn periods_between(frequency: Frequency, from: Period, to: Period) -> usize {
    let mut n = 0;
    let mut d = from;
    while d < to {
        d = frequency.next(d);
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::series::tests::index as test_index;
    use chrono::{Months, NaiveDate};

    fn d(s: &str) -> Period {
        s.parse().unwrap()
    }

    #[test]
    fn month_keyed_rows_keep_their_last_month_and_daily_rows_do_not() {
        let keyed = test_index(&[
            ("2025-11-01", "I1", "S1", 4.0),
            ("2025-12-01", "I1", "S1", 5.0),
        ]);
        let b = build(
            &keyed,
            Frequency::Month,
            Level::ItemStore,
            SeriesRules::default(),
        );
        assert_eq!(b.series[0].values, vec![4.0, 5.0]);
        assert_eq!(b.series[0].end(), d("2025-12-01"));
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        // The same rows under the calendar rule: December is cut, and the report says so.
        let rules = SeriesRules {
            last_period: LastPeriod::Calendar,
            ..SeriesRules::default()
        };
        let b = build(&keyed, Frequency::Month, Level::ItemStore, rules);
        assert_eq!(b.series[0].values, vec![4.0]);
        assert!(b.warnings[0].contains("month starting 2025-12-01 is incomplete"));
        // Daily rows inside a month in progress: auto means calendar.
        let daily = test_index(&[
            ("2025-11-03", "I1", "S1", 4.0),
            ("2025-12-15", "I1", "S1", 5.0),
        ]);
        let b = build(
            &daily,
            Frequency::Month,
            Level::ItemStore,
            SeriesRules::default(),
        );
        assert_eq!(b.series[0].end(), d("2025-11-01"));
        assert_eq!(b.warnings.len(), 1);
        let rules = SeriesRules {
            last_period: LastPeriod::Complete,
            ..SeriesRules::default()
        };
        let b = build(&daily, Frequency::Month, Level::ItemStore, rules);
        assert_eq!(b.series[0].values, vec![4.0, 5.0]);
    }

    #[test]
    fn one_stray_row_in_a_long_history_keeps_the_data_keyed() {
        let months = monthly_dates("2023-01-01", 30);
        let mut rows: Vec<(&str, &str, &str, f64)> = Vec::new();
        for item in ["I1", "I2", "I3", "I4"] {
            rows.extend(months.iter().map(|m| (m.as_str(), item, "S1", 5.0)));
        }
        let by_month = |rows: &[(&str, &str, &str, f64)]| {
            let rules = SeriesRules::default();
            build(&test_index(rows), Frequency::Month, Level::ItemStore, rules)
        };
        // One row in 121 off its month's first day, early in the history: still keyed.
        rows.push(("2023-03-17", "I1", "S1", 1.0));
        let b = by_month(&rows);
        assert_eq!(b.series[0].end(), d("2025-06-01"));
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        // A row inside the last month off its first day: that month may be in progress.
        rows.push(("2025-06-09", "I2", "S1", 1.0));
        let b = by_month(&rows);
        assert_eq!(b.series[0].end(), d("2025-05-01"));
        assert!(b.warnings[0].contains("is incomplete"), "{:?}", b.warnings);
    }

    #[test]
    fn year_and_quarter_keyed_rows_keep_their_last_period() {
        let yearly = test_index(&[
            ("2022-01-01", "I1", "S1", 10.0),
            ("2023-01-01", "I1", "S1", 11.0),
            ("2024-01-01", "I1", "S1", 12.0),
        ]);
        let b = build(
            &yearly,
            Frequency::Year,
            Level::ItemStore,
            SeriesRules::default(),
        );
        assert_eq!(b.series[0].values, vec![10.0, 11.0, 12.0]);
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        // Dated on the quarters' last days: complete by the calendar.
        let quarterly = test_index(&[
            ("2024-09-30", "I1", "S1", 3.0),
            ("2024-12-31", "I1", "S1", 4.0),
            ("2024-12-31", "I2", "S1", 1.0),
            ("2024-03-31", "I3", "S1", 2.0),
        ]);
        let b = build(
            &quarterly,
            Frequency::Quarter,
            Level::ItemStore,
            SeriesRules::default(),
        );
        assert_eq!(b.series[0].values, vec![3.0, 4.0]);
        assert_eq!(b.series[0].end(), d("2024-10-01"));
        // I3's last sale is three quarters before the end: more than the default two.
        assert_eq!(b.ended.len(), 1);
        assert!(
            b.warnings[0].contains("in their last 2 quarters"),
            "{:?}",
            b.warnings
        );
    }

    /// Month starts from `first`, `n` of them.
    fn monthly_dates(first: &str, n: u32) -> Vec<String> {
        let first: NaiveDate = first.parse().unwrap();
        (0..n)
            .map(|t| (first + Months::new(t)).to_string())
            .collect()
    }

    /// One series selling 1 on each of `dates`, built at `frequency` by the default rules.
    fn built_from(dates: &[String], frequency: Frequency) -> Built {
        let rows: Vec<(&str, &str, &str, f64)> = dates
            .iter()
            .map(|d| (d.as_str(), "I1", "S1", 1.0))
            .collect();
        build(
            &test_index(&rows),
            frequency,
            Level::ItemStore,
            SeriesRules::default(),
        )
    }

    #[test]
    fn rows_keyed_by_a_shorter_period_complete_the_last_one_when_they_reach_its_end() {
        // Twelve months to December: four whole quarters, the last one kept.
        let b = built_from(&monthly_dates("2025-01-01", 12), Frequency::Quarter);
        assert_eq!(b.series[0].values, vec![3.0; 4]);
        assert_eq!(b.series[0].end(), d("2025-10-01"));
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        // Eleven: the fourth quarter lacks December, is left out, and the warning says why.
        let b = built_from(&monthly_dates("2025-01-01", 11), Frequency::Quarter);
        assert_eq!(b.series[0].values, vec![3.0; 3]);
        assert!(
            b.warnings[0].contains("with the month starting 2025-11-01"),
            "{:?}",
            b.warnings
        );
        // Monthly rows by year: a year needs its December.
        let b = built_from(&monthly_dates("2023-01-01", 36), Frequency::Year);
        assert_eq!(b.series[0].values, vec![12.0; 3]);
        // Weekly rows (Mondays) by month: the week of Monday 30 March reaches 5 April, so
        // March is complete; April only when its last week reaches the 30th.
        let by_month = |n: u64| {
            let first: NaiveDate = "2026-01-05".parse().unwrap();
            let weeks: Vec<String> = (0..n)
                .map(|w| (first + chrono::Days::new(7 * w)).to_string())
                .collect();
            built_from(&weeks, Frequency::Month)
        };
        // 13 weeks: the last is Monday 30 March.
        assert_eq!(by_month(13).series[0].end(), d("2026-03-01"));
        // 17 weeks: the last is Monday 27 April, which ends 3 May: April complete.
        assert_eq!(by_month(17).series[0].end(), d("2026-04-01"));
        // 16 weeks: the last is Monday 20 April, ending the 26th: April is not complete.
        let b = by_month(16);
        assert_eq!(b.series[0].end(), d("2026-03-01"));
        assert!(b.warnings[0].contains("with the week starting 2026-04-20"));
    }

    #[test]
    fn a_series_that_stopped_selling_is_reported_not_padded_unless_asked() {
        let ix = test_index(&[
            ("2025-01-01", "I1", "S1", 1.0),
            ("2025-12-01", "I1", "S1", 2.0),
            ("2025-01-01", "I2", "S1", 3.0),
            ("2025-08-01", "I2", "S1", 3.0),
            ("2025-10-01", "I3", "S1", 1.0),
        ]);
        let b = build(
            &ix,
            Frequency::Month,
            Level::ItemStore,
            SeriesRules::default(),
        );
        let ids: Vec<String> = b.series.iter().map(Series::id).collect();
        // I3 sold two months before the end: within the default three, kept (zeros are sales).
        assert_eq!(ids, ["item=I1/store=S1", "item=I3/store=S1"]);
        assert_eq!(
            b.ended,
            vec![EndedSeries {
                series_id: "item=I2/store=S1".into(),
                last_period: d("2025-08-01"),
            }]
        );
        assert!(b.warnings[0].starts_with("1 series had no sales in their last 3 months"));
        let padded = SeriesRules {
            pad_ended: true,
            ..SeriesRules::default()
        };
        let b = build(&ix, Frequency::Month, Level::ItemStore, padded);
        assert_eq!(b.series.len(), 3);
        assert_eq!(b.series[1].values.len(), 12);
        assert_eq!(b.series[1].filled, 10);
        // Or each runs to its own last row (the ended one still listed), with no trailing
        // zeros even where it has not ended: I3 stops in October.
        let own = SeriesRules {
            own_end: true,
            ..SeriesRules::default()
        };
        let b = build(&ix, Frequency::Month, Level::ItemStore, own);
        assert_eq!(b.series.len(), 3);
        assert_eq!(b.series[0].end(), d("2025-12-01"));
        assert_eq!(b.series[1].end(), d("2025-08-01"));
        assert_eq!(b.series[1].values.len(), 8);
        assert_eq!(b.series[1].filled, 6);
        assert_eq!(b.series[2].end(), d("2025-10-01"));
        assert_eq!(b.series[2].values, vec![1.0]);
        assert_eq!(b.ended.len(), 1);
        assert!(b.warnings[0].contains("forecast from their own last period"));
        let strict = SeriesRules {
            ended_after: Some(1),
            ..SeriesRules::default()
        };
        assert_eq!(
            build(&ix, Frequency::Month, Level::ItemStore, strict)
                .ended
                .len(),
            2
        );
    }
}
