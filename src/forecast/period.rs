//! The start of one period of a demand series: a calendar day for daily, weekly and monthly
//! series, an hour (UTC) for hourly ones.
//!
//! Why one type for both: every layer (series building, fitting, overrides, realised
//! accuracy, serving) walks periods the same way whatever their length, and an hourly series
//! must never be keyed by days somewhere in between (that is how hours used to collapse into
//! days). The text form says which it is: `2026-03-02` for a day, `2026-03-02T13:00:00Z` for
//! an hour, and parses back to the same period.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow_array::{ArrayRef, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, TimeUnit};

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A period start, ordered by the instant it starts (a day before its own first hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Day(NaiveDate),
    /// The hour starting at this instant (UTC, on the hour).
    Hour(NaiveDateTime),
}

impl Period {
    /// The hour holding `t` (minutes and seconds dropped).
    pub fn hour_of(t: NaiveDateTime) -> Period {
        let hour = NaiveTime::from_hms_opt(t.hour(), 0, 0).expect("an hour of the day");
        Period::Hour(t.date().and_time(hour))
    }

    /// The calendar day the period starts on.
    pub fn date(self) -> NaiveDate {
        match self {
            Period::Day(d) => d,
            Period::Hour(t) => t.date(),
        }
    }

    /// The instant the period starts (midnight for a day).
    pub fn start(self) -> NaiveDateTime {
        match self {
            Period::Day(d) => d.and_time(NaiveTime::MIN),
            Period::Hour(t) => t,
        }
    }

    /// Days since 1970-01-01, with the hour as a fraction (the Prophet-style model's clock).
    pub fn day_number(self) -> f64 {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date");
        (self.start() - epoch.and_time(NaiveTime::MIN)).num_seconds() as f64 / 86_400.0
    }

    /// The instant the period ends (the next midnight for a day, the next hour for an hour).
    pub fn end(self) -> NaiveDateTime {
        match self {
            Period::Day(d) => (d + Days::new(1)).and_time(NaiveTime::MIN),
            Period::Hour(t) => t + chrono::TimeDelta::hours(1),
        }
    }

    /// Whether the period starting here lies in the range from the period `first` starts to
    /// the end of `last` (a range of days covers every hour of them).
    pub fn within(self, first: Period, last: Period) -> bool {
        first.start() <= self.start() && self.start() < last.end()
    }
}

/// How a period is stored in a lake table: its day (`date`, Date32) and, for an hour, its
/// start in UTC microseconds (`ts`, null for a day).
impl Period {
    pub fn ts_micros(self) -> Option<i64> {
        match self {
            Period::Day(_) => None,
            Period::Hour(t) => Some(t.and_utc().timestamp_micros()),
        }
    }

    /// The `ts` column of the lake's export tables: an hourly period's start.
    pub fn ts_field() -> Field {
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        )
    }

    /// The `ts` column's values for `periods` (null for days).
    pub fn ts_array(periods: impl Iterator<Item = Period>) -> ArrayRef {
        let micros: Vec<Option<i64>> = periods.map(Period::ts_micros).collect();
        Arc::new(TimestampMicrosecondArray::from(micros).with_timezone("UTC"))
    }

    /// The period a stored `date` and `ts` pair names.
    pub fn stored(date: NaiveDate, ts_micros: Option<i64>) -> Period {
        match ts_micros.and_then(chrono::DateTime::from_timestamp_micros) {
            Some(t) => Period::hour_of(t.naive_utc()),
            None => Period::Day(date),
        }
    }
}

/// The period whole days later (the same hour for an hour).
impl std::ops::Add<Days> for Period {
    type Output = Period;
    fn add(self, days: Days) -> Period {
        match self {
            Period::Day(d) => Period::Day(d + days),
            Period::Hour(t) => Period::Hour(t + days),
        }
    }
}

impl Ord for Period {
    fn cmp(&self, other: &Period) -> std::cmp::Ordering {
        let hour = |p: &Period| matches!(p, Period::Hour(_));
        (self.start(), hour(self)).cmp(&(other.start(), hour(other)))
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Period) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl From<NaiveDate> for Period {
    fn from(d: NaiveDate) -> Period {
        Period::Day(d)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Period::Hour(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%SZ")),
        }
    }
}

/// Why a text is not a period start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a date (YYYY-MM-DD) or an hour (YYYY-MM-DDTHH:00:00Z)")]
pub struct BadPeriod(pub String);

impl FromStr for Period {
    type Err = BadPeriod;
    fn from_str(s: &str) -> Result<Period, BadPeriod> {
        let bad = || BadPeriod(s.to_string());
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Period::Day(d));
        }
        let text = s.strip_suffix('Z').unwrap_or(s);
        let t = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .ok_or_else(bad)?;
        let hour = Period::hour_of(t);
        if hour.start() != t {
            return Err(bad());
        }
        Ok(hour)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Period, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_says_which_grain() {
        for s in ["2026-03-02", "2026-03-02T13:00:00Z", "2026-03-02T00:00:00Z"] {
            let p: Period = s.parse().unwrap();
            assert_eq!(p.to_string(), s);
        }
        assert!(matches!(
            "2026-03-02T00:00:00Z".parse(),
            Ok(Period::Hour(_))
        ));
        assert_eq!(
            "2026-03-02T13:00".parse::<Period>().unwrap().to_string(),
            "2026-03-02T13:00:00Z"
        );
        for bad in ["2026-03-02T13:30:00Z", "2026-13-02", "noon", ""] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&Period::hour_of(
            "2026-03-02T13:45:10".parse::<NaiveDateTime>().unwrap(),
        ))
        .unwrap();
        assert_eq!(json, "\"2026-03-02T13:00:00Z\"");
    }

    #[test]
    fn the_clock_counts_days_with_hours_as_fractions() {
        let day: Period = "1970-01-03".parse().unwrap();
        assert_eq!(day.day_number(), 2.0);
        let hour: Period = "1970-01-03T06:00:00Z".parse().unwrap();
        assert_eq!(hour.day_number(), 2.25);
        assert_eq!(hour.date(), day.date());
        assert_eq!((hour + Days::new(1)).to_string(), "1970-01-04T06:00:00Z");
        // A day orders before its hours, and a range of days covers them.
        assert!(day < hour && hour < "1970-01-04".parse().unwrap());
        assert!(hour.within(day, day));
        assert!(!hour.within(day, "1970-01-03T05:00:00Z".parse().unwrap()));
        assert!(hour.within(hour, hour));
    }
}
