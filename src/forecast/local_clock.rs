//! The time zone of an hourly run: its stores keep their wall clock, so the models see each
//! series on local hours (`recast_models::forecast::local_time`) while periods, forecasts,
//! overrides and exports stay keyed by UTC hours.
//!
//! Why here and not in the models crate: the offsets come from the IANA time-zone database
//! (`chrono-tz`), and the models crate knows no dates. This module turns a zone and a series'
//! first UTC hour into the list of offsets the model's clock reads.

use chrono::{Offset, TimeDelta, TimeZone};
use chrono_tz::Tz;

use super::local_time::HourClock;
use super::period::Period;
use super::series::{DemandError, Frequency, Series};

/// The field time-zone errors name.
pub const FIELD: &str = "timezone";

/// Parses an IANA zone name (`Europe/Berlin`); only hourly runs take one.
pub fn parse(name: &str, frequency: Frequency) -> Result<Tz, DemandError> {
    if frequency != Frequency::Hour {
        return Err(DemandError::invalid(
            FIELD,
            format!(
                "a time zone applies to hourly runs (days, weeks and months are the data's \
                 own dates); this run's frequency is {frequency}"
            ),
        ));
    }
    name.parse::<Tz>().map_err(|_| {
        DemandError::invalid(
            FIELD,
            format!("`{name}` is not an IANA time zone such as Europe/Berlin"),
        )
    })
}

/// The clock of hourly series `s` in `zone` over its history and `extra` hours beyond, the
/// offsets rounded to whole hours; `None` for a series that is not hourly.
pub fn clock(s: &Series, zone: Tz, extra: usize) -> Option<HourClock> {
    let Period::Hour(start) = s.start else {
        return None;
    };
    let offset_at = |i: usize| {
        let at = start + TimeDelta::hours(i as i64);
        let secs = zone.offset_from_utc_datetime(&at).fix().local_minus_utc();
        (f64::from(secs) / 3600.0).round() as i32
    };
    let mut changes = vec![(0, offset_at(0))];
    for i in 1..s.values.len() + extra {
        let o = offset_at(i);
        if changes.last().is_some_and(|c| c.1 != o) {
            changes.push((i, o));
        }
    }
    Some(HourClock { changes })
}

/// Hourly series `s` on the local hours of `zone`: its [`clock`] over the history and
/// `extra` hours beyond, and its [`local_view`]; `None` for a series that is not hourly.
pub fn on_local_hours(s: &Series, zone: Tz, extra: usize) -> Option<(HourClock, Series)> {
    let clock = clock(s, zone, extra)?;
    let local = local_view(s, &clock);
    Some((clock, local))
}

/// `s` on the local hours of `clock`: values per local hour, starting at its first local
/// hour (so the Prophet-style model's calendar is the local one).
pub fn local_view(s: &Series, clock: &HourClock) -> Series {
    let shift = TimeDelta::hours(i64::from(clock.offset(0)));
    Series {
        values: clock.to_slots(&s.values),
        start: Period::Hour(s.start.start() + shift),
        ..s.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::series::SeriesKey;

    fn hourly(start: &str, n: usize) -> Series {
        let at = chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M").unwrap();
        Series {
            key: SeriesKey::parse("item=I1/store=S1").unwrap(),
            frequency: Frequency::Hour,
            start: Period::Hour(at),
            values: (0..n).map(|i| i as f64).collect(),
            filled: 0,
        }
    }

    #[test]
    fn berlin_changes_its_clock_on_the_last_sundays_of_march_and_october() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // From 00:00 UTC on 28 March 2026: +1 until 01:00 UTC on the 29th (index 25), then +2.
        let c = clock(&hourly("2026-03-28 00:00", 48), berlin, 0).unwrap();
        assert_eq!(c.changes, vec![(0, 1), (25, 2)]);
        let local = local_view(&hourly("2026-03-28 00:00", 48), &c);
        assert_eq!(local.values.len(), 49);
        assert_eq!(local.start.to_string(), "2026-03-28T01:00:00Z");
        // The horizon beyond the history is covered too: October's change at 01:00 UTC on
        // the 25th.
        let c = clock(&hourly("2026-10-24 00:00", 10), berlin, 40).unwrap();
        assert_eq!(c.changes, vec![(0, 2), (25, 1)]);
        let utc: Tz = "UTC".parse().unwrap();
        assert_eq!(
            clock(&hourly("2026-03-28 00:00", 48), utc, 0)
                .unwrap()
                .changes,
            vec![(0, 0)]
        );
    }

    #[test]
    fn a_zone_is_for_hourly_runs_and_must_exist() {
        assert!(parse("Europe/Berlin", Frequency::Hour).is_ok());
        for (name, frequency, says) in [
            ("Europe/Nowhere", Frequency::Hour, "not an IANA time zone"),
            ("Europe/Berlin", Frequency::Day, "applies to hourly runs"),
        ] {
            match parse(name, frequency) {
                Err(DemandError::Invalid { field, detail }) => {
                    assert_eq!(field, FIELD);
                    assert!(detail.contains(says), "{detail}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
