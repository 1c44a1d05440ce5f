//! Deliberately bad rows, so the demo shows validation and quarantine doing their job.
//!
//! Real exports go wrong in a handful of recurring ways: a required field left empty, a
//! number with a unit in it, a return booked as a negative quantity, an event type a new
//! frontend release invented, a clock set a month ahead, a date in someone's local format,
//! a line cut short or with an extra separator, and rows sent twice. Each kind is injected
//! here as an *extra* row next to a clean one (a botched copy of it, or an exact copy for
//! duplicates), so the clean world lands complete and every injected row is accounted for:
//! the bad ones in quarantine, the duplicates dropped by dedup.
//!
//! A [`Plan`] decides up front which clean rows get a companion and of which kind, so the
//! counts are exact and known before anything is written.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use chrono_tz::Europe::Berlin;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::catalog::ItemRecord;
use super::people::local_time;
use crate::etl::Dataset;

/// The kinds of bad row the pipelines' validation must catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadKind {
    /// A required field is empty or absent.
    MissingField,
    /// A number that does not parse (`3 pcs`, `n/a`).
    UnparseableNumber,
    /// A negative quantity, amount or price where the pipeline sets `min = 0`.
    NegativeQuantity,
    /// An `event_type` that is neither canonical nor in the pipeline's `map`.
    UnknownEventType,
    /// A timestamp or date after "now".
    FutureTimestamp,
    /// A timestamp or date that does not parse in the declared format (or, for local
    /// times, does not exist because of the DST switch).
    MalformedDate,
    /// A CSV line with the wrong number of fields, or an NDJSON line that is not JSON.
    BrokenRecord,
}

impl BadKind {
    pub const ALL: [BadKind; 7] = [
        BadKind::MissingField,
        BadKind::UnparseableNumber,
        BadKind::NegativeQuantity,
        BadKind::UnknownEventType,
        BadKind::FutureTimestamp,
        BadKind::MalformedDate,
        BadKind::BrokenRecord,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BadKind::MissingField => "missing_field",
            BadKind::UnparseableNumber => "unparseable_number",
            BadKind::NegativeQuantity => "negative_quantity",
            BadKind::UnknownEventType => "unknown_event_type",
            BadKind::FutureTimestamp => "future_timestamp",
            BadKind::MalformedDate => "malformed_date",
            BadKind::BrokenRecord => "broken_record",
        }
    }

    /// The quarantine reason (`etl::convert::reason`) the pipelines give this kind.
    pub fn reason(self, dataset: Dataset) -> &'static str {
        match self {
            BadKind::MissingField => "missing_required",
            BadKind::UnparseableNumber => "invalid_number",
            BadKind::NegativeQuantity => "out_of_range",
            BadKind::UnknownEventType => "not_allowed",
            BadKind::FutureTimestamp => "in_future",
            BadKind::MalformedDate if dataset == Dataset::Sales => "invalid_date",
            BadKind::MalformedDate => "invalid_timestamp",
            BadKind::BrokenRecord => "malformed_record",
        }
    }
}

/// The kinds that make sense for a dataset's source columns.
pub fn kinds_for(dataset: Dataset) -> &'static [BadKind] {
    use BadKind::*;
    match dataset {
        Dataset::Interactions => &BadKind::ALL,
        Dataset::Sales => &[
            MissingField,
            UnparseableNumber,
            NegativeQuantity,
            FutureTimestamp,
            MalformedDate,
            BrokenRecord,
        ],
        Dataset::Items => &[
            MissingField,
            UnparseableNumber,
            NegativeQuantity,
            FutureTimestamp,
            MalformedDate,
            BrokenRecord,
        ],
        Dataset::Users => &[MissingField, FutureTimestamp, MalformedDate, BrokenRecord],
    }
}

/// Which clean rows get a bad companion (and of which kind) or an exact duplicate.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    bad: HashMap<usize, BadKind>,
    duplicated: HashSet<usize>,
}

impl Plan {
    /// For `rows` clean rows: about `rate * rows` bad rows spread evenly over `kinds` (each
    /// kind at least once while there are rows) and `duplicate_rate * rows` duplicates (at
    /// least one). Companions never share a clean row.
    pub fn new(
        rows: usize,
        kinds: &[BadKind],
        rate: f64,
        duplicate_rate: f64,
        rng: &mut StdRng,
    ) -> Plan {
        if rows == 0 {
            return Plan::default();
        }
        let want_bad = ((rows as f64 * rate).round() as usize).max(kinds.len());
        let want_dup = ((rows as f64 * duplicate_rate).round() as usize).max(1);
        let total = (want_bad + want_dup).min(rows);
        let n_bad = want_bad.min(total);
        let picked = rand::seq::index::sample(rng, rows, total).into_vec();
        let mut assignment: Vec<BadKind> = (0..n_bad).map(|i| kinds[i % kinds.len()]).collect();
        assignment.shuffle(rng);
        Plan {
            bad: picked[..n_bad].iter().copied().zip(assignment).collect(),
            duplicated: picked[n_bad..].iter().copied().collect(),
        }
    }

    /// The bad companion of clean row `row`, if it has one.
    pub fn bad(&self, row: usize) -> Option<BadKind> {
        self.bad.get(&row).copied()
    }

    pub fn duplicated(&self, row: usize) -> bool {
        self.duplicated.contains(&row)
    }

    pub fn counts(&self) -> BTreeMap<BadKind, u64> {
        let mut out = BTreeMap::new();
        for k in self.bad.values() {
            *out.entry(*k).or_insert(0) += 1;
        }
        out
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicated.len() as u64
    }
}

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

/// The last Sunday of March: 02:00-03:00 local does not exist in Berlin that night.
fn dst_gap_day(year: i32) -> NaiveDate {
    let mut d = NaiveDate::from_ymd_opt(year, 3, 31).expect("valid date");
    while d.weekday() != Weekday::Sun {
        d -= Duration::days(1);
    }
    d
}

/// Replaces `field` of a CSV record, or reshapes the record.
fn set(fields: &mut [String], index: usize, value: impl Into<String>) {
    fields[index] = value.into();
}

/// A record with too few or too many fields.
fn reshape(mut fields: Vec<String>, rng: &mut StdRng) -> Vec<String> {
    if rng.random_bool(0.5) {
        fields.truncate(fields.len() / 2);
    } else {
        fields.push("unexpected".into());
    }
    fields
}

/// Context every corruption may use.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Some instant safely after the pipelines' "now" (weeks after the world ends).
    pub future: DateTime<Utc>,
}

impl Clock {
    fn future_at(&self, rng: &mut StdRng) -> DateTime<Utc> {
        self.future + Duration::seconds(rng.random_range(0..200 * 86_400))
    }
}

// Each function below turns a clean record into a bad one of `kind`. Kinds outside
// `kinds_for(dataset)` are never planned; should one be asked for anyway, the record gets
// an empty key instead, which is still a row the pipeline must refuse.

/// A bad interaction (`event_id,user_id,item_id,event_type,value,timestamp,session_id,
/// recommendation_id`) made from a clean one.
pub fn interaction(kind: BadKind, clean: &[String], clock: Clock, rng: &mut StdRng) -> Vec<String> {
    let mut f = clean.to_vec();
    let year = clock.future.year();
    match kind {
        BadKind::MissingField => {
            let i = [0, 1, 2, 5][rng.random_range(0..4)];
            set(&mut f, i, "");
        }
        BadKind::UnparseableNumber => {
            set(&mut f, 4, pick(rng, &["n/a", "12,99 EUR", "1.2.3", "four"]));
        }
        BadKind::NegativeQuantity => {
            set(&mut f, 4, format!("-{:.2}", rng.random_range(1.0..200.0)));
        }
        BadKind::UnknownEventType => {
            set(
                &mut f,
                3,
                pick(
                    rng,
                    &["wishlist", "share", "hover", "return", "checkout_started"],
                ),
            );
        }
        BadKind::FutureTimestamp => {
            let t = clock.future_at(rng).with_timezone(&Berlin);
            set(
                &mut f,
                5,
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            );
        }
        BadKind::MalformedDate => {
            let v = match rng.random_range(0..5) {
                0 => format!("{year}-13-01T10:00:00+01:00"),
                1 => "03/04/2025 10:22".to_string(),
                2 => "yesterday".to_string(),
                3 => format!("{year}-02-30T12:00:00Z"),
                _ => format!("{year}-01-15 10:22:00"),
            };
            set(&mut f, 5, v);
        }
        BadKind::BrokenRecord => return reshape(f, rng),
    }
    f
}

/// A bad sales row (`date,item_id,store_id,quantity,revenue,price,on_promo`).
pub fn sale(kind: BadKind, clean: &[String], clock: Clock, rng: &mut StdRng) -> Vec<String> {
    debug_assert!(kinds_for(Dataset::Sales).contains(&kind));
    let mut f = clean.to_vec();
    let year = clock.future.year() - 1;
    match kind {
        BadKind::MissingField => {
            let i = [0, 1, 2, 3][rng.random_range(0..4)];
            set(&mut f, i, "");
        }
        BadKind::UnparseableNumber => {
            set(&mut f, 3, pick(rng, &["n/a", "3 pcs", "1.2.3", "NaN", "-"]));
        }
        BadKind::UnknownEventType => set(&mut f, 1, ""),
        BadKind::NegativeQuantity => {
            // A return booked as negative sales.
            let q = rng.random_range(1..=5);
            let price: f64 = f[5].parse().unwrap_or(1.0);
            set(&mut f, 3, format!("-{q}"));
            set(&mut f, 4, format!("{:.2}", -(q as f64) * price));
        }
        BadKind::FutureTimestamp => {
            set(
                &mut f,
                0,
                clock.future_at(rng).format("%Y-%m-%d").to_string(),
            );
        }
        BadKind::MalformedDate => {
            let v = match rng.random_range(0..4) {
                0 => format!("{year}-02-30"),
                1 => format!("31.12.{year}"),
                2 => format!("{year}/05/01"),
                _ => format!("{year}0501"),
            };
            set(&mut f, 0, v);
        }
        BadKind::BrokenRecord => return reshape(f, rng),
    }
    f
}

/// A bad customer row (`user_id,signup_time,segment,region,updated_at`).
pub fn user(kind: BadKind, clean: &[String], clock: Clock, rng: &mut StdRng) -> Vec<String> {
    debug_assert!(kinds_for(Dataset::Users).contains(&kind));
    let mut f = clean.to_vec();
    let year = clock.future.year() - 1;
    match kind {
        BadKind::MissingField => {
            let i = [0, 1][rng.random_range(0..2)];
            set(&mut f, i, "");
        }
        BadKind::FutureTimestamp => set(&mut f, 1, local_time(clock.future_at(rng))),
        BadKind::MalformedDate => {
            let v = match rng.random_range(0..4) {
                0 => format!("{year}-02-30 10:00:00"),
                1 => format!("12/03/{year} 10:00"),
                // Does not exist: clocks jump from 02:00 to 03:00 that night.
                2 => format!("{} 02:30:00", dst_gap_day(year).format("%Y-%m-%d")),
                _ => format!("{year}-03-10T10:00:00+01:00"),
            };
            set(&mut f, 1, v);
        }
        BadKind::UnparseableNumber | BadKind::NegativeQuantity | BadKind::UnknownEventType => {
            set(&mut f, 0, "");
        }
        BadKind::BrokenRecord => return reshape(f, rng),
    }
    f
}

/// A bad catalogue line (NDJSON) made from a clean record.
pub fn item(kind: BadKind, clean: &ItemRecord, clock: Clock, rng: &mut StdRng) -> String {
    debug_assert!(kinds_for(Dataset::Items).contains(&kind));
    let mut v = serde_json::to_value(clean).expect("item records serialize");
    let obj = v.as_object_mut().expect("item records are objects");
    let year = clock.future.year() - 1;
    match kind {
        BadKind::MissingField => {
            let key = pick(rng, &["item_id", "title", "updated_at"]);
            obj.remove(key);
        }
        BadKind::UnparseableNumber => {
            obj.insert(
                "price".into(),
                pick(rng, &["12,99 EUR", "on request", "1.2.3"]).into(),
            );
        }
        BadKind::UnknownEventType => {
            obj.remove("item_id");
        }
        BadKind::NegativeQuantity => {
            obj.insert("price".into(), (-clean.price).into());
        }
        BadKind::FutureTimestamp => {
            let t = clock.future_at(rng);
            obj.insert(
                "updated_at".into(),
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into(),
            );
        }
        BadKind::MalformedDate => {
            let t = match rng.random_range(0..3) {
                0 => format!("{year}-13-40T00:00:00Z"),
                1 => "last tuesday".to_string(),
                _ => format!("{year}-05-01 10:00:00"),
            };
            obj.insert("updated_at".into(), t.into());
        }
        BadKind::BrokenRecord => {
            let line = serde_json::to_string(&v).expect("serializes");
            // Cut short, as when an export dies mid-write: never valid JSON.
            let cut = rng.random_range(10..line.len() - 5);
            let mut end = cut;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            return line[..end].to_string();
        }
    }
    serde_json::to_string(&v).expect("serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::dist;

    #[test]
    fn plans_have_exact_counts_per_kind() {
        let mut rng = dist::stream(1, "plan");
        let kinds = kinds_for(Dataset::Interactions);
        let plan = Plan::new(10_000, kinds, 0.007, 0.001, &mut rng);
        let counts = plan.counts();
        assert_eq!(counts.values().sum::<u64>(), 70);
        assert_eq!(counts.len(), kinds.len());
        assert!(counts.values().all(|c| *c == 10));
        assert_eq!(plan.duplicates(), 10);
        // Tiny inputs still get every kind once.
        let plan = Plan::new(50, kinds_for(Dataset::Users), 0.007, 0.001, &mut rng);
        assert_eq!(plan.counts().len(), 4);
        assert_eq!(plan.duplicates(), 1);
        assert!(Plan::new(0, kinds, 0.5, 0.5, &mut rng).counts().is_empty());
    }

    #[test]
    fn dst_gap_is_the_last_sunday_of_march() {
        assert_eq!(
            dst_gap_day(2025),
            NaiveDate::from_ymd_opt(2025, 3, 30).unwrap()
        );
    }
}
