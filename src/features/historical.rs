//! Point-in-time correct historical retrieval: each entity row (keys + a timestamp `t`) joined
//! with the requested features as of `t`.
//!
//! The join picks the snapshot of the day before `t`'s UTC date (its `as_of`, midnight, is
//! at or before `t`), so no source row at or after `t` can count; the value is null when the
//! entity is absent from that snapshot or its latest source row is older than the TTL at `t`.
//! Entity files (CSV, JSON or NDJSON, Parquet) keep all their columns (labels, weights) in the
//! output, with one column per feature named `view__feature` (Feast's full feature names).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;

use super::FeatureError;
use super::catalog::{Catalog, Selection};
use super::compute::day_for_instant;
use crate::db::Db;
use crate::lake::Lake;
use crate::lake::layout::Area;
use crate::lake::reader::Scan;

/// Default name of the timestamp column of entity rows.
pub const TIMESTAMP_COLUMN: &str = "event_timestamp";
/// Most rows one HTTP request may send (the CLI has no limit).
pub const MAX_API_ROWS: usize = 10_000;

/// One output feature column.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureColumn {
    /// `view__feature` (or `view@N__feature` when the request pinned a version).
    pub name: String,
    pub text: bool,
    pub values: Vec<serde_json::Value>,
}

/// The features of every entity row, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrieved {
    pub columns: Vec<FeatureColumn>,
    pub summary: Summary,
}

/// What the caller should know about the join.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Summary {
    pub rows: usize,
    /// Per feature column: rows that got null.
    pub nulls: BTreeMap<String, usize>,
    /// Rows whose as-of day was not materialized for some requested view (their values are
    /// null, which may not be what the data says: materialize those days).
    pub rows_without_snapshot: usize,
}

/// Output name of a selected feature label (`view:feature` -> `view__feature`).
pub fn column_name(label: &str) -> String {
    label.replacen(':', "__", 1)
}

/// Joins the requested features onto entity rows (`keys[i]` holds row i's key columns,
/// `timestamps[i]` its instant in UTC microseconds).
pub async fn retrieve(
    lake: &Lake,
    db: &Db,
    catalog: &Catalog,
    refs: &[String],
    keys: &[BTreeMap<String, String>],
    timestamps: &[i64],
) -> Result<Retrieved, FeatureError> {
    let selections = catalog.select(refs, "features")?;
    let mut summary = Summary {
        rows: keys.len(),
        ..Summary::default()
    };
    let mut without_snapshot = vec![false; keys.len()];
    // The snapshot day each row reads, the same for every view.
    let days: Vec<NaiveDate> = timestamps.iter().map(|&t| day_for_instant(t)).collect();
    let mut columns = Vec::new();
    for sel in &selections {
        let view_keys = sel.view.spec.entity.keys();
        let ids: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| super::online::entity_id(view_keys, k, &format!("entities[{i}]")))
            .collect::<Result<_, _>>()?;
        let materialized: HashSet<String> =
            crate::db::features::materialized_days(db, &sel.view.spec.name, sel.view.version)
                .await?
                .into_iter()
                .map(|(d, _)| d)
                .collect();
        for (i, d) in days.iter().enumerate() {
            if !materialized.contains(&crate::lake::layout::format_dt(*d)) {
                without_snapshot[i] = true;
            }
        }
        let snapshots = read_snapshots(lake, sel, &ids, &days).await?;
        let mut sel_columns: Vec<FeatureColumn> = sel
            .features
            .iter()
            .zip(&sel.labels)
            .map(|(&f, label)| FeatureColumn {
                name: column_name(label),
                text: sel.view.spec.features[f].is_text(sel.view.spec.source),
                values: Vec::with_capacity(keys.len()),
            })
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let hit = snapshots
                .get(&(days[i], id.clone()))
                .filter(|(event_ts, _)| within_ttl(sel, timestamps[i], *event_ts));
            for (k, col) in sel_columns.iter_mut().enumerate() {
                col.values.push(match hit {
                    Some((_, values)) => values[k].clone(),
                    None => serde_json::Value::Null,
                });
            }
        }
        columns.append(&mut sel_columns);
    }
    for c in &columns {
        summary.nulls.insert(
            c.name.clone(),
            c.values.iter().filter(|v| v.is_null()).count(),
        );
    }
    summary.rows_without_snapshot = without_snapshot.iter().filter(|b| **b).count();
    Ok(Retrieved { columns, summary })
}

type SnapshotIndex = HashMap<(NaiveDate, String), (i64, Vec<serde_json::Value>)>;

/// The selected features of the wanted (day, entity) pairs, read from the view's snapshots.
async fn read_snapshots(
    lake: &Lake,
    sel: &Selection,
    ids: &[String],
    days: &[NaiveDate],
) -> Result<SnapshotIndex, FeatureError> {
    let mut index = SnapshotIndex::new();
    let (Some(&from), Some(&to)) = (days.iter().min(), days.iter().max()) else {
        return Ok(index);
    };
    let wanted: HashSet<(NaiveDate, &str)> = days
        .iter()
        .zip(ids)
        .map(|(d, id)| (*d, id.as_str()))
        .collect();
    let wanted_days: HashSet<NaiveDate> = days.iter().copied().collect();
    scan_snapshots(
        lake,
        sel,
        from,
        to,
        &|day, id| wanted_days.contains(&day) && wanted.contains(&(day, id)),
        &mut |row| {
            let values = (0..sel.features.len()).map(|k| row.json(k)).collect();
            index.insert((row.day, row.entity.to_string()), (row.event_ts, values));
        },
    )
    .await?;
    Ok(index)
}

/// One row of a view's snapshot met by [`scan_snapshots`]: the selected features of one
/// entity as of the end of `day`.
pub struct SnapshotRow<'a> {
    /// The snapshot's day (its `as_of` is the next midnight, UTC).
    pub day: NaiveDate,
    /// Entity id (key values joined by `:`).
    pub entity: &'a str,
    /// Time of the entity's latest source row before `as_of` (UTC microseconds).
    pub event_ts: i64,
    columns: &'a [&'a ArrayRef],
    row: usize,
}

impl SnapshotRow<'_> {
    /// Selected feature `k` (in selection order) as JSON (number, string or null).
    pub fn json(&self, k: usize) -> serde_json::Value {
        json_at(self.columns[k], self.row)
    }

    /// Selected feature `k` as a number; `None` when null or text.
    pub fn number(&self, k: usize) -> Option<f64> {
        let col = self.columns[k];
        if col.is_null(self.row) {
            return None;
        }
        col.as_primitive_opt::<Float64Type>()
            .map(|a| a.value(self.row))
    }
}

/// Whether a snapshot value with `event_ts` may be used at instant `t` under the view's TTL
/// (the rule of [`retrieve`]; online lookup applies it at `now`).
pub fn within_ttl(sel: &Selection, t: i64, event_ts: i64) -> bool {
    t - event_ts <= sel.view.spec.ttl_micros()
}

/// Streams the offline snapshots of `sel`'s view version for the days `from..=to`, calling
/// `visit` for each row `wanted(day, entity)` accepts. Reads one file at a time and keeps
/// nothing itself, so callers decide what to hold (historical retrieval: the requested rows;
/// forecasting: a few numbers per series and day).
pub async fn scan_snapshots(
    lake: &Lake,
    sel: &Selection,
    from: NaiveDate,
    to: NaiveDate,
    wanted: &(dyn Fn(NaiveDate, &str) -> bool + Sync),
    visit: &mut (dyn FnMut(SnapshotRow<'_>) + Send),
) -> Result<(), FeatureError> {
    let dataset = sel.view.dataset();
    let scan = Scan::dataset(&dataset)
        .in_area(Area::Features)
        .between(Some(from), Some(to));
    let keys = sel.view.spec.entity.keys();
    let mut stream = lake.stream(&scan).await?;
    // The stream does not say which partition a batch is from; the snapshot's own `as_of`
    // column gives the day.
    while let Some(batch) = stream.try_next().await? {
        let as_of = batch
            .column_by_name("as_of")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| schema_err(&dataset, "as_of"))?;
        let event_ts = batch
            .column_by_name("event_ts")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| schema_err(&dataset, "event_ts"))?;
        let key_cols: Vec<_> = keys
            .iter()
            .map(|k| {
                batch
                    .column_by_name(k)
                    .and_then(|c| c.as_string_opt::<i32>())
                    .ok_or_else(|| schema_err(&dataset, k))
            })
            .collect::<Result<_, _>>()?;
        let feature_cols: Vec<&ArrayRef> = sel
            .features
            .iter()
            .map(|&f| {
                let name = &sel.view.spec.features[f].name;
                batch
                    .column_by_name(name)
                    .ok_or_else(|| schema_err(&dataset, name))
            })
            .collect::<Result<_, _>>()?;
        let mut id = String::new();
        for row in 0..batch.num_rows() {
            let day = day_for_instant(as_of.value(row));
            if day < from || day > to {
                continue;
            }
            id.clear();
            for (n, k) in key_cols.iter().enumerate() {
                if n > 0 {
                    id.push(':');
                }
                id.push_str(k.value(row));
            }
            if !wanted(day, id.as_str()) {
                continue;
            }
            visit(SnapshotRow {
                day,
                entity: &id,
                event_ts: event_ts.value(row),
                columns: &feature_cols,
                row,
            });
        }
    }
    Ok(())
}

fn schema_err(dataset: &str, column: &str) -> FeatureError {
    FeatureError::Schema {
        dataset: format!("features/{dataset}"),
        column: column.into(),
        detail: "missing or of an unexpected type".into(),
    }
}

fn json_at(col: &ArrayRef, row: usize) -> serde_json::Value {
    if col.is_null(row) {
        return serde_json::Value::Null;
    }
    if let Some(a) = col.as_primitive_opt::<Float64Type>() {
        return serde_json::json!(a.value(row));
    }
    if let Some(a) = col.as_string_opt::<i32>() {
        return serde_json::json!(a.value(row));
    }
    serde_json::Value::Null
}

/// Parses an entity timestamp: RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]` (UTC) or a date (midnight).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

/// Entity rows as a batch of their fields, their keys and their instants; errors carry the
/// 1-based row and a detail.
pub type ParsedRows = (RecordBatch, Vec<BTreeMap<String, String>>, Vec<i64>);

/// Entity rows read from a file: every input column, plus the parsed keys and timestamps.
pub struct EntityFile {
    pub batch: RecordBatch,
    pub keys: Vec<BTreeMap<String, String>>,
    pub timestamps: Vec<i64>,
}

const KEY_COLUMNS: [&str; 3] = ["user_id", "item_id", "store_id"];

fn input_err(file: &Path, line: usize, detail: impl Into<String>) -> FeatureError {
    FeatureError::Input {
        file: file.display().to_string(),
        line,
        detail: detail.into(),
    }
}

/// Reads an entity file by extension: `.parquet`, `.csv`, `.json` (an array of objects) or
/// `.ndjson`/`.jsonl`.
pub fn read_entity_file(path: &Path, ts_column: &str) -> Result<EntityFile, FeatureError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "parquet" => read_parquet(path, ts_column),
        "csv" => read_csv(path, ts_column),
        "json" | "ndjson" | "jsonl" => {
            let rows = read_json(path, ext != "json")?;
            let (batch, keys, timestamps) =
                from_json_rows(&rows, ts_column).map_err(|(line, d)| input_err(path, line, d))?;
            Ok(EntityFile {
                batch,
                keys,
                timestamps,
            })
        }
        _ => Err(input_err(
            path,
            0,
            "unknown format: use .parquet, .csv, .json, .ndjson or .jsonl",
        )),
    }
}

fn read_csv(path: &Path, ts_column: &str) -> Result<EntityFile, FeatureError> {
    let mut reader = csv::ReaderBuilder::new()
        .from_path(path)
        .map_err(|e| input_err(path, 0, e.to_string()))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| input_err(path, 1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = record
            .as_ref()
            .ok()
            .and_then(|r| r.position().map(|p| p.line() as usize))
            .unwrap_or(i + 2);
        let record = record.map_err(|e| input_err(path, line, e.to_string()))?;
        let mut row = serde_json::Map::new();
        for (h, v) in headers.iter().zip(record.iter()) {
            row.insert(h.clone(), serde_json::Value::String(v.to_string()));
        }
        rows.push(row);
    }
    let (batch, keys, timestamps) = rows_to_batch(&rows, ts_column, &headers)
        // Data rows start on line 2 (after the header).
        .map_err(|(line, d)| input_err(path, line + 1, d))?;
    Ok(EntityFile {
        batch,
        keys,
        timestamps,
    })
}

fn read_json(
    path: &Path,
    lines: bool,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, FeatureError> {
    let file = std::fs::File::open(path).map_err(|e| input_err(path, 0, e.to_string()))?;
    if lines {
        let mut out = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| input_err(path, i + 1, e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line)
                .map_err(|e| input_err(path, i + 1, format!("not a JSON object: {e}")))?;
            out.push(v);
        }
        Ok(out)
    } else {
        serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|e| input_err(path, e.line(), format!("not a JSON array of objects: {e}")))
    }
}

/// Entity rows as JSON objects with the requested features added to each (the HTTP form):
/// at most [`MAX_API_ROWS`] rows, each with its key columns and [`TIMESTAMP_COLUMN`]; other
/// fields come back unchanged. Errors name the row as `entities[i]`.
pub async fn retrieve_json_rows(
    lake: &Lake,
    db: &Db,
    catalog: &Catalog,
    refs: &[String],
    mut rows: Vec<serde_json::Map<String, serde_json::Value>>,
) -> Result<(Vec<serde_json::Map<String, serde_json::Value>>, Summary), FeatureError> {
    if rows.is_empty() {
        return Err(FeatureError::invalid(
            "entities",
            "name at least one entity row",
        ));
    }
    if rows.len() > MAX_API_ROWS {
        return Err(FeatureError::invalid(
            "entities",
            format!(
                "at most {MAX_API_ROWS} rows per request; use `recast features historical` for more"
            ),
        ));
    }
    let (_, keys, timestamps) =
        from_json_rows(&rows, TIMESTAMP_COLUMN).map_err(|(row, detail)| {
            FeatureError::invalid(
                format!("entities[{}].{TIMESTAMP_COLUMN}", row.saturating_sub(1)),
                detail,
            )
        })?;
    let retrieved = retrieve(lake, db, catalog, refs, &keys, &timestamps).await?;
    for col in &retrieved.columns {
        for (row, v) in rows.iter_mut().zip(&col.values) {
            row.insert(col.name.clone(), v.clone());
        }
    }
    Ok((rows, retrieved.summary))
}

/// Entity rows from JSON objects (also the HTTP body's form). Errors carry the 1-based row.
pub fn from_json_rows(
    rows: &[serde_json::Map<String, serde_json::Value>],
    ts_column: &str,
) -> Result<ParsedRows, (usize, String)> {
    let mut names: Vec<String> = Vec::new();
    for row in rows {
        for k in row.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    rows_to_batch(rows, ts_column, &names)
}

/// Like [`from_json_rows`] with the output columns in `names` order (a CSV header's).
fn rows_to_batch(
    rows: &[serde_json::Map<String, serde_json::Value>],
    ts_column: &str,
    names: &[String],
) -> Result<ParsedRows, (usize, String)> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let mut keys = Vec::with_capacity(rows.len());
    let mut timestamps = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let raw = row
            .get(ts_column)
            .and_then(text)
            .ok_or_else(|| (i + 1, format!("`{ts_column}` is missing")))?;
        let t = parse_timestamp(&raw).ok_or_else(|| {
            (
                i + 1,
                format!("`{ts_column}` = `{raw}` is not an RFC 3339 timestamp or a date"),
            )
        })?;
        timestamps.push(t);
        keys.push(
            KEY_COLUMNS
                .iter()
                .filter_map(|k| row.get(*k).and_then(text).map(|v| (k.to_string(), v)))
                .collect(),
        );
    }
    let fields: Vec<Field> = names
        .iter()
        .map(|n| Field::new(n, DataType::Utf8, true))
        .collect();
    let arrays: Vec<ArrayRef> = names
        .iter()
        .map(|n| {
            let mut b = StringBuilder::new();
            for row in rows {
                b.append_option(row.get(n).and_then(text));
            }
            Arc::new(b.finish()) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| (0, e.to_string()))?;
    Ok((batch, keys, timestamps))
}

fn read_parquet(path: &Path, ts_column: &str) -> Result<EntityFile, FeatureError> {
    let file = std::fs::File::open(path).map_err(|e| input_err(path, 0, e.to_string()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| input_err(path, 0, format!("not a readable Parquet file: {e}")))?;
    let batches: Vec<RecordBatch> = reader
        .collect::<Result<_, _>>()
        .map_err(|e| input_err(path, 0, e.to_string()))?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or_else(|| input_err(path, 0, "the file has no rows"))?;
    let batch = arrow_select::concat::concat_batches(&schema, &batches)
        .map_err(|e| input_err(path, 0, e.to_string()))?;
    let ts = batch
        .column_by_name(ts_column)
        .ok_or_else(|| input_err(path, 0, format!("no column `{ts_column}`")))?;
    let micros: Vec<Option<i64>> = match ts.data_type() {
        DataType::Timestamp(unit, _) => {
            let scale = |v: i64| match unit {
                arrow_schema::TimeUnit::Second => v * 1_000_000,
                arrow_schema::TimeUnit::Millisecond => v * 1_000,
                arrow_schema::TimeUnit::Microsecond => v,
                arrow_schema::TimeUnit::Nanosecond => v.div_euclid(1_000),
            };
            (0..ts.len())
                .map(|i| {
                    (!ts.is_null(i)).then(|| {
                        scale(match unit {
                            arrow_schema::TimeUnit::Second => {
                                ts.as_primitive::<TimestampSecondType>().value(i)
                            }
                            arrow_schema::TimeUnit::Millisecond => {
                                ts.as_primitive::<TimestampMillisecondType>().value(i)
                            }
                            arrow_schema::TimeUnit::Microsecond => {
                                ts.as_primitive::<TimestampMicrosecondType>().value(i)
                            }
                            arrow_schema::TimeUnit::Nanosecond => {
                                ts.as_primitive::<TimestampNanosecondType>().value(i)
                            }
                        })
                    })
                })
                .collect()
        }
        DataType::Utf8 => {
            let a = ts.as_string::<i32>();
            (0..a.len())
                .map(|i| a.is_valid(i).then(|| parse_timestamp(a.value(i))).flatten())
                .collect()
        }
        other => {
            return Err(input_err(
                path,
                0,
                format!("`{ts_column}` has type {other}; use a timestamp or RFC 3339 text"),
            ));
        }
    };
    let mut timestamps = Vec::with_capacity(micros.len());
    for (i, t) in micros.into_iter().enumerate() {
        timestamps.push(t.ok_or_else(|| {
            input_err(
                path,
                i + 1,
                format!("row {}: `{ts_column}` is null or unparseable", i + 1),
            )
        })?);
    }
    let key_cols: Vec<(&str, &arrow_array::StringArray)> = KEY_COLUMNS
        .iter()
        .filter_map(|k| {
            batch
                .column_by_name(k)
                .and_then(|c| c.as_string_opt::<i32>())
                .map(|a| (*k, a))
        })
        .collect();
    let keys = (0..batch.num_rows())
        .map(|i| {
            key_cols
                .iter()
                .filter(|(_, a)| a.is_valid(i))
                .map(|(k, a)| (k.to_string(), a.value(i).to_string()))
                .collect()
        })
        .collect();
    Ok(EntityFile {
        batch,
        keys,
        timestamps,
    })
}

/// The entity batch with the feature columns appended.
pub fn output_batch(
    input: &RecordBatch,
    retrieved: &Retrieved,
) -> Result<RecordBatch, FeatureError> {
    let mut fields: Vec<Field> = input
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut arrays: Vec<ArrayRef> = input.columns().to_vec();
    for c in &retrieved.columns {
        if c.text {
            fields.push(Field::new(&c.name, DataType::Utf8, true));
            let mut b = StringBuilder::new();
            for v in &c.values {
                b.append_option(v.as_str());
            }
            arrays.push(Arc::new(b.finish()));
        } else {
            fields.push(Field::new(&c.name, DataType::Float64, true));
            let mut b = Float64Builder::new();
            for v in &c.values {
                b.append_option(v.as_f64());
            }
            arrays.push(Arc::new(b.finish()));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| FeatureError::Io(e.to_string()))
}

/// Writes a batch as one ZSTD Parquet file.
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), FeatureError> {
    let file = std::fs::File::create(path)
        .map_err(|e| FeatureError::Io(format!("{}: {e}", path.display())))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props))
        .map_err(|e| FeatureError::Io(e.to_string()))?;
    writer
        .write(batch)
        .and_then(|_| writer.close().map(|_| ()))
        .map_err(|e| FeatureError::Io(format!("{}: {e}", path.display())))
}
