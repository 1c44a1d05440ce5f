//! Object keys of the lake: `<area>/<name>/dt=YYYY-MM-DD/part-<run_id>-<n>.parquet`.
//!
//! The layout is Hive-style so Spark, Trino, DuckDB and Polars read the lake as it is, with
//! `dt` as a partition column. Every file name carries the run that wrote it, which is how the
//! sweep tells an orphan of a crashed run from a file some open run is still writing. The part
//! number is zero-padded so listing order is write order. Keys are relative to the lake root
//! (the store applies any `s3://bucket/prefix` prefix).

use chrono::NaiveDate;

use super::LakeError;

/// Longest accepted dataset (or feature view) name.
pub const MAX_NAME_LEN: usize = 128;

/// Top-level folder of the lake whose folders are Delta tables of `dt`-partitioned Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// Canonical datasets (`interactions`, `sales`, ...).
    Datasets,
    /// Rejected rows with a reason column.
    Quarantine,
    /// Materialized feature views.
    Features,
    /// What recast produces for other tools: forecast runs and the actuals they fitted.
    Exports,
}

impl Area {
    /// Every area the writer can write to, and so every area the sweep lists.
    pub const ALL: [Area; 4] = [
        Area::Datasets,
        Area::Quarantine,
        Area::Features,
        Area::Exports,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Datasets => "datasets",
            Area::Quarantine => "quarantine",
            Area::Features => "features",
            Area::Exports => "exports",
        }
    }

    pub fn parse(s: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for Area {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Accepts `[a-z][a-z0-9_]*` up to [`MAX_NAME_LEN`]: safe as a path segment, a SQL identifier
/// in downstream engines, and free of the `=` that would read as a partition.
pub fn validate_name(name: &str) -> Result<(), LakeError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= MAX_NAME_LEN {
        return Ok(());
    }
    Err(LakeError::InvalidInput {
        field: "dataset".into(),
        detail: format!(
            "dataset name `{name}` must match [a-z][a-z0-9_]* and be at most {MAX_NAME_LEN} \
             characters"
        ),
    })
}

/// `YYYY-MM-DD`, the partition value format.
pub fn format_dt(dt: NaiveDate) -> String {
    dt.format("%Y-%m-%d").to_string()
}

pub fn parse_dt(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// `<area>/<name>`: everything of one dataset.
pub fn dataset_prefix(area: Area, name: &str) -> String {
    format!("{area}/{name}")
}

/// `<area>/<name>/dt=YYYY-MM-DD`: one partition.
pub fn partition_dir(area: Area, name: &str, dt: NaiveDate) -> String {
    format!("{}/dt={}", dataset_prefix(area, name), format_dt(dt))
}

/// `part-<run_id>-<n>.parquet`.
pub fn part_file_name(run_id: &str, part: u64) -> String {
    format!("part-{run_id}-{part:05}.parquet")
}

/// The full key of one part file.
pub fn part_path(area: Area, name: &str, dt: NaiveDate, run_id: &str, part: u64) -> String {
    format!(
        "{}/{}",
        partition_dir(area, name, dt),
        part_file_name(run_id, part)
    )
}

/// A part file's key taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartPath {
    pub area: Area,
    pub dataset: String,
    pub dt: NaiveDate,
    pub run_id: String,
    pub part: u64,
}

/// Parses a full key; `None` for anything that is not a part file in the layout.
pub fn parse_part_path(path: &str) -> Option<PartPath> {
    let mut segments = path.split('/');
    let area = Area::parse(segments.next()?)?;
    let dataset = segments.next()?;
    let dt = parse_dt(segments.next()?.strip_prefix("dt=")?)?;
    let (run_id, part) = parse_part_file_name(segments.next()?)?;
    if segments.next().is_some() || validate_name(dataset).is_err() {
        return None;
    }
    Some(PartPath {
        area,
        dataset: dataset.to_string(),
        dt,
        run_id: run_id.to_string(),
        part,
    })
}

/// Splits `part-<run_id>-<n>.parquet` into run id and part number.
pub fn parse_part_file_name(file_name: &str) -> Option<(&str, u64)> {
    let stem = file_name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (run_id, part) = stem.rsplit_once('-')?;
    let digits_only = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if run_id.is_empty() || !digits_only {
        return None;
    }
    Some((run_id, part.parse().ok()?))
}

/// The run that wrote the file at `path`, from its file name alone.
pub fn run_id_of(path: &str) -> Option<&str> {
    let file_name = path.rsplit('/').next()?;
    parse_part_file_name(file_name).map(|(run, _)| run)
}

/// The partition date of the file at `path`, from its `dt=` segment.
pub fn dt_of(path: &str) -> Option<NaiveDate> {
    path.split('/')
        .find_map(|s| s.strip_prefix("dt="))
        .and_then(parse_dt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = "0193a0c4-7f1e-7c3a-9b2d-1f2e3d4c5b6a";

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn part_path_round_trips() {
        let path = part_path(Area::Quarantine, "sales", day(2024, 3, 9), RUN, 7);
        assert_eq!(
            path,
            format!("quarantine/sales/dt=2024-03-09/part-{RUN}-00007.parquet")
        );
        let parsed = parse_part_path(&path).unwrap();
        assert_eq!(
            parsed,
            PartPath {
                area: Area::Quarantine,
                dataset: "sales".into(),
                dt: day(2024, 3, 9),
                run_id: RUN.into(),
                part: 7,
            }
        );
        assert_eq!(run_id_of(&path), Some(RUN));
        assert_eq!(dt_of(&path), Some(day(2024, 3, 9)));
    }

    #[test]
    fn part_numbers_beyond_the_padding_still_parse() {
        let path = part_path(
            Area::Features,
            "user_stats_7d",
            day(2025, 1, 1),
            RUN,
            123_456,
        );
        assert_eq!(parse_part_path(&path).unwrap().part, 123_456);
    }

    #[test]
    fn foreign_keys_do_not_parse() {
        for path in [
            "datasets/sales/dt=2024-03-09/_SUCCESS",
            "datasets/sales/dt=2024-3-9/part-r-00001.parquet",
            "datasets/sales/dt=2024-13-01/part-r-00001.parquet",
            "datasets/sales/part-r-00001.parquet",
            "models/sales/dt=2024-03-09/part-r-00001.parquet",
            "datasets/Sales/dt=2024-03-09/part-r-00001.parquet",
            "datasets/sales/dt=2024-03-09/part-r-00001.parquet/x",
            "datasets/sales/dt=2024-03-09/part--00001.parquet",
            "datasets/sales/dt=2024-03-09/part-r-1x.parquet",
            "datasets/sales/dt=2024-03-09/part-r-.parquet",
            "datasets/sales/dt=2024-03-09/part-r-00001.csv",
        ] {
            assert_eq!(parse_part_path(path), None, "{path}");
        }
        assert_eq!(run_id_of("datasets/sales/dt=2024-03-09/_SUCCESS"), None);
        assert_eq!(dt_of("datasets/sales/x"), None);
    }

    #[test]
    fn dataset_names_are_validated() {
        for ok in ["sales", "a", "user_stats_7d", "x1"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        let too_long = "a".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "",
            "Sales",
            "1sales",
            "_sales",
            "sales-2",
            "sa/les",
            "dt=x",
            "..",
            too_long.as_str(),
        ] {
            match validate_name(bad) {
                Err(LakeError::InvalidInput { field, .. }) => assert_eq!(field, "dataset"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn areas_parse_and_print() {
        for area in Area::ALL {
            assert_eq!(Area::parse(area.as_str()), Some(area));
        }
        assert_eq!(Area::parse("models"), None);
        assert_eq!(dataset_prefix(Area::Datasets, "sales"), "datasets/sales");
    }
}
