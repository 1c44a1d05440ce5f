//! The shop's calendar: German public holidays (stores closed), Black Friday and the run-up
//! to Christmas. Both the clickstream and store sales follow it, so the forecasters have real
//! calendar effects to find and the two datasets tell a consistent story.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a valid date")
}

/// The Friday after the fourth Thursday of November.
pub fn black_friday(year: i32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, 11, 1).expect("valid date");
    let to_thursday = (7 + Weekday::Thu.num_days_from_monday() as i64
        - first.weekday().num_days_from_monday() as i64)
        % 7;
    first + Duration::days(to_thursday + 21 + 1)
}

/// Nationwide German public holidays, on which stores are closed.
pub fn public_holiday(date: NaiveDate) -> Option<&'static str> {
    let (m, d) = (date.month(), date.day());
    match (m, d) {
        (1, 1) => return Some("New Year's Day"),
        (5, 1) => return Some("Labour Day"),
        (10, 3) => return Some("German Unity Day"),
        (12, 25) => return Some("Christmas Day"),
        (12, 26) => return Some("Boxing Day"),
        _ => {}
    }
    let offset = (date - easter(date.year())).num_days();
    match offset {
        -2 => Some("Good Friday"),
        1 => Some("Easter Monday"),
        39 => Some("Ascension Day"),
        50 => Some("Whit Monday"),
        _ => None,
    }
}

/// Days of the year 1..=366.
pub fn day_of_year(date: NaiveDate) -> f64 {
    f64::from(date.ordinal())
}

/// 0 before November 15, rising linearly to 1 on December 23, 0 again from Christmas Eve:
/// the gift-shopping run-up.
pub fn christmas_rampup(date: NaiveDate) -> f64 {
    let start = NaiveDate::from_ymd_opt(date.year(), 11, 15).expect("valid date");
    let peak = NaiveDate::from_ymd_opt(date.year(), 12, 23).expect("valid date");
    if date < start || date > peak {
        return 0.0;
    }
    (date - start).num_days() as f64 / (peak - start).num_days() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn known_dates() {
        assert_eq!(easter(2024), d(2024, 3, 31));
        assert_eq!(easter(2025), d(2025, 4, 20));
        assert_eq!(easter(2026), d(2026, 4, 5));
        assert_eq!(black_friday(2024), d(2024, 11, 29));
        assert_eq!(black_friday(2025), d(2025, 11, 28));
        assert_eq!(public_holiday(d(2025, 4, 18)), Some("Good Friday"));
        assert_eq!(public_holiday(d(2025, 5, 29)), Some("Ascension Day"));
        assert_eq!(public_holiday(d(2025, 6, 9)), Some("Whit Monday"));
        assert_eq!(public_holiday(d(2025, 6, 10)), None);
        assert_eq!(christmas_rampup(d(2025, 12, 23)), 1.0);
        assert_eq!(christmas_rampup(d(2025, 12, 24)), 0.0);
    }
}
