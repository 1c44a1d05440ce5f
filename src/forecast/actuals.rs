//! The actuals each training run fitted, kept next to its forecast export in the Delta table
//! `exports/actuals` (series id, period start, quantity, the series' count of zero-filled
//! periods, and the run's id), one file per run.
//!
//! Why a snapshot instead of rebuilding the series from `sales` per request: rebuilding
//! meant scanning the whole sales dataset for every history or chart request, which grows
//! with the lake, not with the series. The file is sorted by series id and cut into small
//! row groups, so one series costs the footer and the one or two row groups whose min/max
//! statistics cover its id (ranged reads, also on S3). It also shows the planner exactly
//! the numbers the run fitted and backtested, and gives BI tools the actuals beside the
//! forecasts.

use std::sync::Arc;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type, TimestampMicrosecondType};
use arrow_array::{ArrayRef, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};

use super::series::{DemandError, Period, Series};
use crate::lake::{Lake, LakeError};

/// Rows per row group: about a hundred two-year daily series, a few hundred KiB to decode.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The table of actuals (in `exports/`).
pub const TABLE: &str = "actuals";

/// One series' actuals as the run saw them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actuals {
    /// Period starts with the quantity sold, oldest first, zeros where nothing was sold.
    pub points: Vec<(Period, f64)>,
    /// Periods with no sales row at all (filled with zero).
    pub filled: usize,
}

fn lake_err(e: impl Into<LakeError>) -> DemandError {
    DemandError::Lake(e.into())
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("series_id", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("quantity", DataType::Float64, false),
        // Signed: Delta has no unsigned integers (Polars refuses a UInt32 file in an int table).
        Field::new("filled_periods", DataType::Int32, false),
        Field::new("run_id", DataType::Utf8, false),
        // The hour an hourly period starts (UTC); null for days, weeks and months.
        Period::ts_field(),
    ]))
}

/// The series (any order) as one batch sorted by series id, tagged with `run_id`.
pub fn batch(run_id: &str, series: &[&Series]) -> Result<RecordBatch, DemandError> {
    let mut order: Vec<(String, &Series)> = series.iter().map(|s| (s.id(), *s)).collect();
    order.sort_by(|a, b| a.0.cmp(&b.0));
    let rows: usize = series.iter().map(|s| s.values.len()).sum();
    let mut ids = Vec::with_capacity(rows);
    let mut dates = Vec::with_capacity(rows);
    let mut periods = Vec::with_capacity(rows);
    let mut quantities = Vec::with_capacity(rows);
    let mut filled = Vec::with_capacity(rows);
    for (id, s) in &order {
        for (date, q) in s.dates().into_iter().zip(&s.values) {
            ids.push(id.as_str());
            dates.push(Date32Type::from_naive_date(date.date()));
            periods.push(date);
            quantities.push(*q);
            filled.push(i32::try_from(s.filled).unwrap_or(i32::MAX));
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(Date32Array::from(dates)),
        Arc::new(Float64Array::from(quantities)),
        Arc::new(Int32Array::from(filled)),
        Arc::new(StringArray::from(vec![run_id; rows])),
        Period::ts_array(periods.into_iter()),
    ];
    RecordBatch::try_new(schema(), columns).map_err(lake_err)
}

/// Commits the run's actuals as its one file of `exports/actuals`; returns the lake path.
pub async fn write(lake: &Lake, run_id: &str, series: &[&Series]) -> Result<String, DemandError> {
    let batch = batch(run_id, series)?;
    super::export::commit_run_file(lake, TABLE, run_id, &batch, ROW_GROUP_ROWS).await
}

/// One series' actuals as the run fitted them; `None` when the run has no actuals file (the
/// run predates them, or the file is gone) so the caller can rebuild from `sales`. A series
/// the file lacks reads as empty.
pub async fn read(
    lake: &Lake,
    run_id: &str,
    series_id: &str,
) -> Result<Option<Actuals>, DemandError> {
    let Some(path) = super::export::run_file(lake, TABLE, run_id).await? else {
        return Ok(None);
    };
    read_file(lake.store(), &path, run_id, series_id).await
}

/// [`read`] from the file at `path`: only the row groups whose statistics cover the series.
pub async fn read_file(
    store: &Arc<dyn ObjectStore>,
    path: &str,
    run_id: &str,
    series_id: &str,
) -> Result<Option<Actuals>, DemandError> {
    let location = Path::from(path);
    let meta = match store.head(&location).await {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(lake_err(e)),
    };
    let reader = ParquetObjectReader::new(Arc::clone(store), location).with_file_size(meta.size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(lake_err)?;
    let wanted = series_id.as_bytes();
    let groups: Vec<usize> = builder
        .metadata()
        .row_groups()
        .iter()
        .enumerate()
        .filter(|(_, rg)| {
            rg.column(0).statistics().is_none_or(|s| {
                s.min_bytes_opt().is_none_or(|min| min <= wanted)
                    && s.max_bytes_opt().is_none_or(|max| wanted <= max)
            })
        })
        .map(|(i, _)| i)
        .collect();
    let mut actuals = Actuals::default();
    if groups.is_empty() {
        return Ok(Some(actuals));
    }
    let mut stream = builder.with_row_groups(groups).build().map_err(lake_err)?;
    while let Some(batch) = stream.try_next().await.map_err(lake_err)? {
        let corrupt = || DemandError::Corrupt(format!("actuals file of run `{run_id}`"));
        if batch.num_columns() < 4 {
            return Err(corrupt());
        }
        let ids = batch.column(0).as_string_opt::<i32>().ok_or_else(corrupt)?;
        let dates = batch
            .column(1)
            .as_primitive_opt::<Date32Type>()
            .ok_or_else(corrupt)?;
        let quantities = batch
            .column(2)
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(corrupt)?;
        let filled = batch
            .column(3)
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(corrupt)?;
        // Files from before hourly series have no `ts`.
        let times = match batch.column_by_name("ts") {
            Some(c) => Some(
                c.as_primitive_opt::<TimestampMicrosecondType>()
                    .ok_or_else(corrupt)?,
            ),
            None => None,
        };
        for row in 0..batch.num_rows() {
            if ids.value(row) != series_id {
                continue;
            }
            let date = dates.value_as_date(row).ok_or_else(corrupt)?;
            let ts = times.filter(|t| !t.is_null(row)).map(|t| t.value(row));
            actuals
                .points
                .push((Period::stored(date, ts), quantities.value(row)));
            actuals.filled = filled.value(row) as usize;
        }
    }
    Ok(Some(actuals))
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;
    use crate::forecast::series::{Frequency, SeriesKey};

    fn d(s: &str) -> Period {
        s.parse().unwrap()
    }

    fn series(item: &str, store: &str, start: &str, values: Vec<f64>, filled: usize) -> Series {
        Series {
            key: SeriesKey {
                item_id: Some(item.into()),
                store_id: Some(store.into()),
                category: None,
            },
            frequency: Frequency::Day,
            start: d(start),
            values,
            filled,
        }
    }

    #[tokio::test]
    async fn one_series_is_read_back_from_the_row_groups_that_hold_it() {
        // 300 series of 500 days: 150k rows, three row groups; ids written out of order.
        let all: Vec<Series> = (0..300)
            .rev()
            .map(|i| {
                let values = (0..500).map(|t| (i * 1000 + t) as f64).collect();
                series(&format!("I{i:03}"), "S1", "2025-01-01", values, i % 7)
            })
            .collect();
        let refs: Vec<&Series> = all.iter().collect();
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let written = "exports/actuals/dt=2026-01-01/part-x-00000.parquet";
        let batch = batch("r1", &refs).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_size(ROW_GROUP_ROWS)
            .build();
        let mut buf = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        store.put(&Path::from(written), buf.into()).await.unwrap();
        let read = |id: String| {
            let store = Arc::clone(&store);
            async move { read_file(&store, written, "r1", &id).await }
        };

        for i in [0usize, 130, 131, 299] {
            let id = format!("item=I{i:03}/store=S1");
            let got = read(id.clone()).await.unwrap().unwrap();
            assert_eq!(got.filled, i % 7, "{id}");
            assert_eq!(got.points.len(), 500, "{id}");
            assert_eq!(got.points[0], (d("2025-01-01"), (i * 1000) as f64));
            assert_eq!(got.points[499], (d("2026-05-15"), (i * 1000 + 499) as f64));
        }
        // The file really is cut into row groups that statistics can skip.
        let reader = ParquetObjectReader::new(Arc::clone(&store), Path::from(written));
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await.unwrap();
        assert_eq!(builder.metadata().num_row_groups(), 3);

        let missing = read("item=I999/store=S1".into()).await.unwrap();
        assert_eq!(missing.unwrap().points, vec![]);
        let gone = read_file(
            &store,
            "exports/actuals/none.parquet",
            "r1",
            "item=I000/store=S1",
        );
        assert_eq!(gone.await.unwrap(), None);
    }

    #[tokio::test]
    async fn hourly_periods_keep_their_hour() {
        let mut hourly = series("I1", "S1", "2026-03-01", vec![1.0, 2.0, 3.0], 0);
        hourly.frequency = Frequency::Hour;
        hourly.start = d("2026-03-01T22:00:00Z");
        let b = batch("r1", &[&hourly]).unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let mut buf = Vec::new();
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut buf, b.schema(), None).unwrap();
        writer.write(&b).unwrap();
        writer.close().unwrap();
        store
            .put(&Path::from("a.parquet"), buf.into())
            .await
            .unwrap();
        let got = read_file(&store, "a.parquet", "r1", "item=I1/store=S1")
            .await
            .unwrap()
            .unwrap();
        let periods: Vec<String> = got.points.iter().map(|p| p.0.to_string()).collect();
        assert_eq!(
            periods,
            [
                "2026-03-01T22:00:00Z",
                "2026-03-01T23:00:00Z",
                "2026-03-02T00:00:00Z"
            ]
        );
    }
}
