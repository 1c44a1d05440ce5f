//! Source rows of a view, read from the lake in columnar form: entity codes, timestamps,
//! and only the columns the view's features and filters use. Rows outside the view-level
//! filter are dropped here, so "the entity's latest row" means its latest row of the view.
//!
//! Text values share one dictionary so filters and `distinct_count` compare integers.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use chrono::NaiveDate;
use futures::TryStreamExt;

use super::spec::{Source, ViewSpec};
use super::{DAY_MICROS, FeatureError};
use crate::lake::Lake;
use crate::lake::reader::Scan;

/// A column a view reads.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceColumn {
    Numeric(Vec<Option<f64>>),
    /// Codes into [`SourceTable::dictionary`].
    Text(Vec<Option<u32>>),
}

/// The rows of a view's source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceTable {
    /// Entity ids (key values joined by `:`), indexed by code.
    pub entity_ids: Vec<String>,
    /// Per row: entity code.
    pub entity: Vec<u32>,
    /// Per row: event time, UTC microseconds (sales dates read as midnight).
    pub ts: Vec<i64>,
    /// Columns by name.
    pub columns: HashMap<String, SourceColumn>,
    /// Text values, indexed by code.
    pub dictionary: Vec<String>,
}

/// Builds a [`SourceTable`] row by row (also used by tests and benches).
#[derive(Default)]
pub struct SourceBuilder {
    table: SourceTable,
    entity_codes: HashMap<String, u32>,
    text_codes: HashMap<String, u32>,
}

/// One value of a row being added.
pub enum Cell<'a> {
    Num(Option<f64>),
    Text(Option<&'a str>),
}

impl SourceBuilder {
    pub fn new() -> SourceBuilder {
        SourceBuilder::default()
    }

    fn entity_code(&mut self, id: &str) -> u32 {
        if let Some(&c) = self.entity_codes.get(id) {
            return c;
        }
        let c = self.table.entity_ids.len() as u32;
        self.table.entity_ids.push(id.to_string());
        self.entity_codes.insert(id.to_string(), c);
        c
    }

    fn text_code(&mut self, v: &str) -> u32 {
        if let Some(&c) = self.text_codes.get(v) {
            return c;
        }
        let c = self.table.dictionary.len() as u32;
        self.table.dictionary.push(v.to_string());
        self.text_codes.insert(v.to_string(), c);
        c
    }

    /// Adds a row; every row must name the same columns.
    pub fn push(&mut self, entity_id: &str, ts: i64, cells: &[(&str, Cell<'_>)]) {
        let e = self.entity_code(entity_id);
        self.table.entity.push(e);
        self.table.ts.push(ts);
        for (name, cell) in cells {
            let code = match cell {
                Cell::Text(Some(v)) => Some(self.text_code(v)),
                _ => None,
            };
            let col = self
                .table
                .columns
                .entry(name.to_string())
                .or_insert_with(|| match cell {
                    Cell::Num(_) => SourceColumn::Numeric(Vec::new()),
                    Cell::Text(_) => SourceColumn::Text(Vec::new()),
                });
            match (col, cell) {
                (SourceColumn::Numeric(v), Cell::Num(x)) => v.push(*x),
                (SourceColumn::Text(v), Cell::Text(_)) => v.push(code),
                _ => panic!("column `{name}` changed type between rows"),
            }
        }
    }

    pub fn finish(self) -> SourceTable {
        self.table
    }
}

impl SourceTable {
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The dictionary code of a text value, if it occurs at all.
    pub fn code_of(&self, value: &str) -> Option<u32> {
        self.dictionary
            .iter()
            .position(|v| v == value)
            .map(|i| i as u32)
    }
}

/// Columns of the source that the view's features and filters read.
pub fn needed_columns(view: &ViewSpec) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    let mut add = |c: &str| {
        if !cols.iter().any(|x| x == c) {
            cols.push(c.to_string());
        }
    };
    for f in &view.features {
        if let Some(c) = &f.column {
            add(c);
        }
        for c in f.filter.keys() {
            add(c);
        }
    }
    cols
}

fn schema_err(source: Source, column: &str, detail: &str) -> FeatureError {
    FeatureError::Schema {
        dataset: source.dataset().into(),
        column: column.into(),
        detail: detail.into(),
    }
}

/// Reads the view's source rows with partitions in `from..=to`.
pub async fn read(
    lake: &Lake,
    view: &ViewSpec,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<SourceTable, FeatureError> {
    let scan = Scan::dataset(view.source.dataset()).between(Some(from), Some(to));
    let mut stream = lake.stream(&scan).await?;
    let mut builder = SourceBuilder::new();
    let columns = needed_columns(view);
    while let Some(batch) = stream.try_next().await? {
        add_batch(&mut builder, view, &columns, &batch)?;
    }
    Ok(builder.finish())
}

/// Adds the rows of one canonical batch that pass the view-level filter.
pub fn add_batch(
    builder: &mut SourceBuilder,
    view: &ViewSpec,
    columns: &[String],
    batch: &RecordBatch,
) -> Result<(), FeatureError> {
    let source = view.source;
    let text = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| schema_err(source, name, "missing or not UTF-8"))
    };
    let keys: Vec<_> = view
        .entity
        .keys()
        .iter()
        .map(|k| text(k))
        .collect::<Result<_, _>>()?;
    let ts: Vec<Option<i64>> = match source {
        Source::Interactions => {
            let a = batch
                .column_by_name("ts")
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                .ok_or_else(|| schema_err(source, "ts", "missing or not a timestamp"))?;
            (0..a.len())
                .map(|i| a.is_valid(i).then(|| a.value(i)))
                .collect()
        }
        Source::Sales => {
            let a = batch
                .column_by_name("date")
                .and_then(|c| c.as_primitive_opt::<Date32Type>())
                .ok_or_else(|| schema_err(source, "date", "missing or not a date"))?;
            (0..a.len())
                .map(|i| a.is_valid(i).then(|| i64::from(a.value(i)) * DAY_MICROS))
                .collect()
        }
    };
    let filters: Vec<(_, &Vec<String>)> = view
        .filter
        .iter()
        .map(|(c, vals)| Ok((text(c)?, vals)))
        .collect::<Result<_, FeatureError>>()?;
    enum Input<'a> {
        Num(Vec<Option<f64>>),
        Text(&'a arrow_array::StringArray),
    }
    let inputs: Vec<(&str, Input<'_>)> = columns
        .iter()
        .map(|c| {
            let col = batch
                .column_by_name(c)
                .ok_or_else(|| schema_err(source, c, "missing"))?;
            let input = if let Some(a) = col.as_primitive_opt::<Float64Type>() {
                Input::Num(
                    (0..a.len())
                        .map(|i| a.is_valid(i).then(|| a.value(i)))
                        .collect(),
                )
            } else if let Some(a) = col.as_boolean_opt() {
                Input::Num(
                    (0..a.len())
                        .map(|i| a.is_valid(i).then(|| if a.value(i) { 1.0 } else { 0.0 }))
                        .collect(),
                )
            } else if let Some(a) = col.as_string_opt::<i32>() {
                Input::Text(a)
            } else {
                return Err(schema_err(source, c, "unsupported type"));
            };
            Ok((c.as_str(), input))
        })
        .collect::<Result<_, FeatureError>>()?;
    let mut entity = String::new();
    let mut cells: Vec<(&str, Cell<'_>)> = Vec::with_capacity(inputs.len());
    'rows: for (i, t) in ts.iter().enumerate() {
        let Some(t) = *t else { continue };
        if keys.iter().any(|k| k.is_null(i)) {
            continue;
        }
        for (col, vals) in &filters {
            if col.is_null(i) || !vals.iter().any(|v| v == col.value(i)) {
                continue 'rows;
            }
        }
        entity.clear();
        for (n, k) in keys.iter().enumerate() {
            if n > 0 {
                entity.push(':');
            }
            entity.push_str(k.value(i));
        }
        cells.clear();
        for (name, input) in &inputs {
            let cell = match input {
                Input::Num(v) => Cell::Num(v[i]),
                Input::Text(a) => Cell::Text(a.is_valid(i).then(|| a.value(i))),
            };
            cells.push((name, cell));
        }
        builder.push(&entity, t, &cells);
    }
    Ok(())
}
