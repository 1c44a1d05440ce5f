//! The Parquet export of a run: `exports/forecasts/run=<id>/forecasts.parquet`, one row per
//! series and step, for planners' own tools.

use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;

use super::report::Point;
use super::series::DemandError;
use crate::app::App;
use crate::db::forecasts::ForecastRow;

/// Lake path of a run's export.
pub fn export_path(run_id: &str) -> String {
    format!("exports/forecasts/run={run_id}/forecasts.parquet")
}

/// Writes `exports/forecasts/run=<id>/forecasts.parquet`: one row per series and step.
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
    let mut cols: [Vec<f64>; 5] = Default::default();
    let mut model = Vec::new();
    for (r, p) in rows {
        series_id.push(r.series_id.as_str());
        item_id.push(r.item_id.as_deref());
        store_id.push(r.store_id.as_deref());
        date.push((p.date - epoch).num_days() as i32);
        for (c, v) in cols
            .iter_mut()
            .zip([p.mean, p.lower_80, p.upper_80, p.lower_95, p.upper_95])
        {
            c.push(v);
        }
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
        Field::new("model", DataType::Utf8, false),
    ]));
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
        Arc::new(StringArray::from(model)),
    ];
    let batch =
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| DemandError::Lake(e.into()))?;
    let mut buf = Vec::new();
    {
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None)
            .map_err(|e| DemandError::Lake(e.into()))?;
        writer
            .write(&batch)
            .map_err(|e| DemandError::Lake(e.into()))?;
        writer.close().map_err(|e| DemandError::Lake(e.into()))?;
    }
    let path = export_path(run_id);
    app.lake
        .store()
        .put(&object_store::path::Path::from(path.as_str()), buf.into())
        .await
        .map_err(|e| DemandError::Lake(e.into()))?;
    Ok(path)
}
