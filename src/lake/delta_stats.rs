//! Per-file statistics for a Delta `add` action (`numRecords`, `minValues`, `maxValues`,
//! `nullCount`), read from the Parquet footer, so engines skip files by their bounds.
//!
//! Why bounds are only ever widened: a reader drops a file whose bounds exclude its filter, so
//! a bound that is too narrow loses rows. Timestamps are kept to the millisecond the protocol
//! writes (the minimum rounded down, the maximum up); strings longer than
//! [`MAX_STRING_BOUND`] get no bounds at all rather than truncated ones.

use std::sync::Arc;

use arrow_schema::{DataType, Schema, TimeUnit};
use chrono::{DateTime, NaiveDate};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use serde_json::{Map, Value, json};

use super::LakeError;

/// Longest string kept as a bound.
pub const MAX_STRING_BOUND: usize = 64;

/// What the log needs to know about one data file.
#[derive(Debug, Clone)]
pub struct FileFacts {
    /// The file's columns (without the partition column).
    pub schema: Schema,
    /// The `stats` JSON of its `add` action.
    pub stats_json: String,
}

/// Reads `path`'s footer (one ranged read) and derives its schema and statistics.
pub async fn read_facts(
    store: &Arc<dyn ObjectStore>,
    path: &str,
    size: u64,
    rows: i64,
) -> Result<FileFacts, LakeError> {
    let reader = ParquetObjectReader::new(Arc::clone(store), Path::from(path)).with_file_size(size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
    Ok(FileFacts::of(
        builder.schema().as_ref().clone(),
        builder.metadata(),
        rows,
    ))
}

/// The same from a file still in memory (the writer's own), without reading the store.
pub fn facts_of_bytes(bytes: &bytes::Bytes, rows: i64) -> Result<FileFacts, LakeError> {
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(bytes)?;
    let file = metadata.file_metadata();
    let schema =
        parquet::arrow::parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())?;
    Ok(FileFacts::of(schema, &metadata, rows))
}

impl FileFacts {
    fn of(schema: Schema, metadata: &ParquetMetaData, rows: i64) -> FileFacts {
        let stats_json = file_stats(&schema, metadata, rows).to_string();
        FileFacts { schema, stats_json }
    }
}

/// `numRecords`, and per top-level column the null count and (when known) the bounds.
pub fn file_stats(schema: &Schema, metadata: &ParquetMetaData, rows: i64) -> Value {
    let (mut mins, mut maxs, mut nulls) = (Map::new(), Map::new(), Map::new());
    for (i, field) in schema.fields().iter().enumerate() {
        let Some(column) = Column::of(metadata, i) else {
            continue;
        };
        if let Some(n) = column.nulls {
            nulls.insert(field.name().clone(), json!(n));
        }
        if let Some((lo, hi)) = column
            .bounds
            .and_then(|b| bounds_json(field.data_type(), b))
        {
            mins.insert(field.name().clone(), lo);
            maxs.insert(field.name().clone(), hi);
        }
    }
    json!({
        "numRecords": rows,
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": nulls,
    })
}

/// Bounds as the statistics store them, widened over the row groups.
#[derive(Debug, Clone, PartialEq)]
enum Bounds {
    Int(i64, i64),
    Float(f64, f64),
    Text(String, String),
}

struct Column {
    nulls: Option<u64>,
    bounds: Option<Bounds>,
}

impl Column {
    /// Column `i` over every row group; bounds only when every row group has them.
    fn of(metadata: &ParquetMetaData, i: usize) -> Option<Column> {
        let mut out = Column {
            nulls: Some(0),
            bounds: None,
        };
        for (g, group) in metadata.row_groups().iter().enumerate() {
            let stats = group.columns().get(i)?.statistics();
            out.nulls = match (out.nulls, stats.and_then(|s| s.null_count_opt())) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            let next = stats.and_then(bounds_of);
            out.bounds = match (g, out.bounds, next) {
                (0, _, next) => next,
                (_, Some(a), Some(b)) => widen(a, b),
                _ => {
                    return Some(Column {
                        bounds: None,
                        ..out
                    });
                }
            };
            if out.bounds.is_none() {
                return Some(out);
            }
        }
        Some(out)
    }
}

fn bounds_of(stats: &Statistics) -> Option<Bounds> {
    match stats {
        Statistics::Int32(s) => Some(Bounds::Int(
            i64::from(*s.min_opt()?),
            i64::from(*s.max_opt()?),
        )),
        Statistics::Int64(s) => Some(Bounds::Int(*s.min_opt()?, *s.max_opt()?)),
        Statistics::Double(s) => Some(Bounds::Float(*s.min_opt()?, *s.max_opt()?))
            .filter(|b| matches!(b, Bounds::Float(lo, hi) if !lo.is_nan() && !hi.is_nan())),
        Statistics::ByteArray(s) => {
            let lo = std::str::from_utf8(s.min_opt()?.data()).ok()?;
            let hi = std::str::from_utf8(s.max_opt()?.data()).ok()?;
            (lo.chars().count() <= MAX_STRING_BOUND && hi.chars().count() <= MAX_STRING_BOUND)
                .then(|| Bounds::Text(lo.to_string(), hi.to_string()))
        }
        _ => None,
    }
}

fn widen(a: Bounds, b: Bounds) -> Option<Bounds> {
    match (a, b) {
        (Bounds::Int(a0, a1), Bounds::Int(b0, b1)) => Some(Bounds::Int(a0.min(b0), a1.max(b1))),
        (Bounds::Float(a0, a1), Bounds::Float(b0, b1)) => {
            Some(Bounds::Float(a0.min(b0), a1.max(b1)))
        }
        (Bounds::Text(a0, a1), Bounds::Text(b0, b1)) => Some(Bounds::Text(a0.min(b0), a1.max(b1))),
        _ => None,
    }
}

/// The bounds in the log's JSON form for the column's Arrow type (`None`: not kept).
fn bounds_json(ty: &DataType, bounds: Bounds) -> Option<(Value, Value)> {
    match (ty, bounds) {
        (DataType::Int32 | DataType::Int64, Bounds::Int(lo, hi)) => Some((json!(lo), json!(hi))),
        (DataType::Float64, Bounds::Float(lo, hi)) => Some((json!(lo), json!(hi))),
        (DataType::Utf8 | DataType::LargeUtf8, Bounds::Text(lo, hi)) => {
            Some((json!(lo), json!(hi)))
        }
        (DataType::Date32, Bounds::Int(lo, hi)) => Some((date(lo)?, date(hi)?)),
        (DataType::Timestamp(unit, _), Bounds::Int(lo, hi)) => {
            let per_ms = match unit {
                TimeUnit::Second => return Some((timestamp(lo * 1000)?, timestamp(hi * 1000)?)),
                TimeUnit::Millisecond => 1,
                TimeUnit::Microsecond => 1_000,
                TimeUnit::Nanosecond => 1_000_000,
            };
            let floor = lo.div_euclid(per_ms);
            let ceil = hi.div_euclid(per_ms) + i64::from(hi.rem_euclid(per_ms) != 0);
            Some((timestamp(floor)?, timestamp(ceil)?))
        }
        _ => None,
    }
}

fn date(days: i64) -> Option<Value> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    let day = epoch.checked_add_signed(chrono::Duration::days(days))?;
    Some(json!(day.format("%Y-%m-%d").to_string()))
}

fn timestamp(ms: i64) -> Option<Value> {
    let t = DateTime::from_timestamp_millis(ms)?;
    Some(json!(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_bounds_widen_to_the_millisecond_and_dates_read_as_days() {
        let ty = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let (lo, hi) = bounds_json(&ty, Bounds::Int(1_500, 2_500)).unwrap();
        assert_eq!(lo, json!("1970-01-01T00:00:00.001Z"));
        assert_eq!(hi, json!("1970-01-01T00:00:00.003Z"));
        let (lo, _) = bounds_json(&DataType::Date32, Bounds::Int(19_723, 19_724)).unwrap();
        assert_eq!(lo, json!("2024-01-01"));
    }

    #[test]
    fn long_strings_get_no_bounds_and_mixed_groups_none() {
        let long = "x".repeat(MAX_STRING_BOUND + 1);
        let s = Statistics::ByteArray(parquet::file::statistics::ValueStatistics::new(
            Some(parquet::data_type::ByteArray::from("a")),
            Some(parquet::data_type::ByteArray::from(long.as_str())),
            None,
            Some(0),
            false,
        ));
        assert_eq!(bounds_of(&s), None);
        assert_eq!(widen(Bounds::Int(0, 1), Bounds::Float(0.0, 1.0)), None);
        assert_eq!(
            widen(Bounds::Int(3, 5), Bounds::Int(1, 4)),
            Some(Bounds::Int(1, 5))
        );
    }
}
