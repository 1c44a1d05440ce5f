//! The holiday calendar a training run hands the Prophet-style model: rows of a holiday name,
//! a date and the days around it the holiday affects, in the `prophet` package's holidays
//! table shape (`holiday,ds,lower_window,upper_window[,prior_scale]`), so a planner's existing
//! table loads as is. The job payload carries the rows inline; the CLI reads them from a CSV
//! file and names the file and line of a bad row.
//!
//! Why a table and not country rules: the store's own calendar (regional holidays, store
//! events, a closing) is what moves its demand, and only the planner knows it.

use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::prophet::Holiday;
use super::series::DemandError;

/// The field holiday errors name.
pub const FIELD: &str = "holidays";
/// Most rows a run accepts.
pub const MAX_ROWS: usize = 10_000;
/// Widest window on either side of a holiday, in days.
pub const MAX_WINDOW: i64 = 60;

/// One date of a holiday.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayRow {
    /// The holiday's name: its dates share one effect per day offset.
    pub holiday: String,
    pub ds: NaiveDate,
    /// Days before the date also affected, as a non-positive offset (e.g. -1: the eve).
    #[serde(default)]
    pub lower_window: i64,
    /// Days after the date also affected (e.g. 1: the day after).
    #[serde(default)]
    pub upper_window: i64,
    /// How large the effect may be (the prior's scale; default 10, the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_scale: Option<f64>,
}

/// Checks every row, naming the first bad one by index.
pub fn validate(rows: &[HolidayRow]) -> Result<(), DemandError> {
    if rows.len() > MAX_ROWS {
        return Err(DemandError::invalid(
            FIELD,
            format!("{} holiday rows; at most {MAX_ROWS}", rows.len()),
        ));
    }
    for (i, r) in rows.iter().enumerate() {
        check_row(r).map_err(|e| DemandError::invalid(FIELD, format!("holidays[{i}]: {e}")))?;
    }
    Ok(())
}

fn check_row(r: &HolidayRow) -> Result<(), String> {
    check_name("holiday", &r.holiday)?;
    if !(-MAX_WINDOW..=0).contains(&r.lower_window) {
        return Err(format!(
            "lower_window must be between -{MAX_WINDOW} and 0, got {}",
            r.lower_window
        ));
    }
    if !(0..=MAX_WINDOW).contains(&r.upper_window) {
        return Err(format!(
            "upper_window must be between 0 and {MAX_WINDOW}, got {}",
            r.upper_window
        ));
    }
    check_prior_scale(r.prior_scale)
}

/// A name the model's effects go by: 1 to 64 printable characters once trimmed (`what`
/// names the field in the message).
pub(super) fn check_name(what: &str, name: &str) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(format!("{what} must be 1 to 64 printable characters"));
    }
    Ok(())
}

/// A prior scale, where one is given, is a positive number.
pub(super) fn check_prior_scale(scale: Option<f64>) -> Result<(), String> {
    match scale {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            Err(format!("prior_scale must be positive, got {s}"))
        }
        _ => Ok(()),
    }
}

/// Days since 1970-01-01.
pub fn day_number(date: NaiveDate) -> i64 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date")).num_days()
}

/// The rows as the model takes them.
pub fn to_model(rows: &[HolidayRow]) -> Vec<Holiday> {
    rows.iter()
        .map(|r| Holiday {
            name: r.holiday.trim().to_string(),
            day: day_number(r.ds),
            lower_window: r.lower_window,
            upper_window: r.upper_window,
            prior_scale: r.prior_scale,
        })
        .collect()
}

/// Reads a holidays CSV (header `holiday,ds` and optionally `lower_window`, `upper_window`,
/// `prior_scale`); an error names the file and the line.
pub fn read_csv(path: &Path) -> Result<Vec<HolidayRow>, DemandError> {
    let at = |line: Option<u64>, what: String| {
        let place = match line {
            Some(l) => format!("{}:{l}", path.display()),
            None => path.display().to_string(),
        };
        DemandError::invalid(FIELD, format!("{place}: {what}"))
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| at(None, e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| at(Some(1), e.to_string()))?
        .clone();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(at(e.position().map(|p| p.line()), e.to_string())),
        }
        let line = record.position().map(|p| p.line());
        let row: HolidayRow = record
            .deserialize(Some(&headers))
            .map_err(|e| at(line, e.to_string()))?;
        check_row(&row).map_err(|e| at(line, e))?;
        rows.push(row);
        if rows.len() > MAX_ROWS {
            return Err(at(None, format!("more than {MAX_ROWS} holiday rows")));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prophet_holidays_table_reads_and_bad_rows_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("holidays.csv");
        std::fs::write(
            &good,
            "holiday,ds,lower_window,upper_window\nchristmas,2024-12-25,-1,0\nsale,2025-03-01,0,2\n",
        )
        .unwrap();
        let rows = read_csv(&good).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].lower_window, -1);
        let model = to_model(&rows);
        assert_eq!(
            model[0].day,
            day_number(NaiveDate::from_ymd_opt(2024, 12, 25).unwrap())
        );
        assert_eq!(day_number(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);

        let short = dir.path().join("short.csv");
        std::fs::write(&short, "holiday,ds\neaster,2025-04-20\n").unwrap();
        assert_eq!(read_csv(&short).unwrap()[0].upper_window, 0);

        let bad_date = dir.path().join("bad.csv");
        std::fs::write(
            &bad_date,
            "holiday,ds,lower_window,upper_window\nok,2024-01-01,0,0\nbad,2024-13-01,0,0\n",
        )
        .unwrap();
        let e = read_csv(&bad_date).unwrap_err().to_string();
        assert!(e.contains("bad.csv:3"), "{e}");

        let bad_window = dir.path().join("window.csv");
        std::fs::write(
            &bad_window,
            "holiday,ds,lower_window,upper_window\nx,2024-01-01,1,0\n",
        )
        .unwrap();
        let e = read_csv(&bad_window).unwrap_err().to_string();
        assert!(
            e.contains("window.csv:2") && e.contains("lower_window"),
            "{e}"
        );
    }

    #[test]
    fn validation_names_the_row() {
        let row = |holiday: &str, lower| HolidayRow {
            holiday: holiday.into(),
            ds: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            lower_window: lower,
            upper_window: 0,
            prior_scale: None,
        };
        assert!(validate(&[row("a", 0), row("b", -3)]).is_ok());
        let e = validate(&[row("a", 0), row("", 0)]).unwrap_err();
        assert!(
            matches!(&e, DemandError::Invalid { field, detail } if field == FIELD && detail.starts_with("holidays[1]")),
            "{e:?}"
        );
        assert!(validate(&[row("a", -61)]).is_err());
    }
}
