//! The export of a run into the Delta table `exports/forecasts`: one row per series and step,
//! with the run's id, one file per run (partition `dt` = the day of the run), for planners' own
//! tools (`SELECT * FROM delta_scan('.../exports/forecasts') WHERE run_id = ...`).

use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;

use super::report::Point;
use super::series::DemandError;
use super::series::Period;
use crate::app::App;
use crate::db::forecasts::ForecastRow;
use crate::lake::{Area, Lake};

/// The table of forecast exports (in [`Area::Exports`]).
pub const TABLE: &str = "forecasts";
/// Rows per row group of an export file.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Commits `batch` (with a trailing `run_id` column) as the run's one file of `exports/<table>`
/// under the key `<table>:<run_id>`; returns the file's path. A re-run of the same run finds
/// its earlier file instead of adding another.
pub async fn commit_run_file(
    lake: &Lake,
    table: &str,
    run_id: &str,
    batch: &RecordBatch,
    row_group_rows: usize,
) -> Result<String, DemandError> {
    let key = run_key(table, run_id);
    let today = chrono::Utc::now().date_naive();
    let (_, path) = lake
        .commit_one_file(table, Area::Exports, today, batch, row_group_rows, &key)
        .await?;
    if let Some(path) = path {
        return Ok(path);
    }
    run_file(lake, table, run_id).await?.ok_or_else(|| {
        DemandError::Corrupt(format!("`exports/{table}` lost the file of run `{run_id}`"))
    })
}

/// The commit key of a run's file in `exports/<table>`.
pub fn run_key(table: &str, run_id: &str) -> String {
    format!("{table}:{run_id}")
}

/// The live file of `exports/<table>` holding the rows of `run_id`, found by the file
/// statistics in the Delta log.
pub async fn run_file(
    lake: &Lake,
    table: &str,
    run_id: &str,
) -> Result<Option<String>, DemandError> {
    let files = lake
        .files_holding(Area::Exports, table, "run_id", run_id)
        .await?;
    Ok(files.into_iter().next().map(|f| f.path))
}

/// Commits the run's export: one row per series and step.
pub(super) async fn export(
    app: &App,
    run_id: &str,
    fitted: &[(ForecastRow, Vec<Point>)],
) -> Result<String, DemandError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let rows = fitted
        .iter()
        .flat_map(|(r, pts)| pts.iter().map(move |p| (r, p)));
    let mut series_id = Vec::new();
    let mut item_id = Vec::new();
    let mut store_id = Vec::new();
    let mut date = Vec::new();
    let mut periods = Vec::new();
    let mut cols: [Vec<f64>; 5] = Default::default();
    let mut q50 = Vec::new();
    let mut model = Vec::new();
    for (r, p) in rows {
        series_id.push(r.series_id.as_str());
        item_id.push(r.item_id.as_deref());
        store_id.push(r.store_id.as_deref());
        date.push((p.date.date() - epoch).num_days() as i32);
        periods.push(p.date);
        for (c, v) in cols
            .iter_mut()
            .zip([p.mean, p.lower_80, p.upper_80, p.lower_95, p.upper_95])
        {
            c.push(v);
        }
        q50.push(p.q50);
        model.push(r.model.as_str());
    }
    let float = |name: &str| Field::new(name, DataType::Float64, false);
    let schema = Arc::new(Schema::new(vec![
        Field::new("series_id", DataType::Utf8, false),
        Field::new("item_id", DataType::Utf8, true),
        Field::new("store_id", DataType::Utf8, true),
        Field::new("date", DataType::Date32, false),
        float("mean"),
        float("lower_80"),
        float("upper_80"),
        float("lower_95"),
        float("upper_95"),
        // Absent where the backtest left too few errors for a conformal median.
        Field::new("q50", DataType::Float64, true),
        Field::new("model", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
        Period::ts_field(),
    ]));
    let rows = model.len();
    let [mean, l80, u80, l95, u95] = cols;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(series_id)),
        Arc::new(StringArray::from(item_id)),
        Arc::new(StringArray::from(store_id)),
        Arc::new(Date32Array::from(date)),
        Arc::new(Float64Array::from(mean)),
        Arc::new(Float64Array::from(l80)),
        Arc::new(Float64Array::from(u80)),
        Arc::new(Float64Array::from(l95)),
        Arc::new(Float64Array::from(u95)),
        Arc::new(Float64Array::from(q50)),
        Arc::new(StringArray::from(model)),
        Arc::new(StringArray::from(vec![run_id; rows])),
        Period::ts_array(periods.into_iter()),
    ];
    let batch =
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| DemandError::Lake(e.into()))?;
    commit_run_file(&app.lake, TABLE, run_id, &batch, ROW_GROUP_ROWS).await
}
