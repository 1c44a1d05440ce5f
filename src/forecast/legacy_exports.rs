//! Forecast exports and actuals from before they were Delta tables: one Parquet file per run
//! at `exports/forecasts/run=<id>/{forecasts,actuals}.parquet`. `recast lake migrate` rewrites
//! each into the run's file of `exports/forecasts` or `exports/actuals` (the rows unchanged,
//! plus the run id), under the same key a new run's export uses, then deletes the old file; an
//! interrupted migrate finishes on the next run. Servers and workers refuse to start while such
//! files exist (the sweep would delete them as files of no table version).

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::series::DemandError;
use crate::lake::migrate::Published;
use crate::lake::{Area, CommitOutcome, Lake, LakeError};

/// Where the per-run files lived.
const LEGACY_PREFIX: &str = "exports/forecasts";

/// A per-run file: its run, the table it belongs to now, and where it is.
struct LegacyFile {
    run_id: String,
    table: &'static str,
    meta: ObjectMeta,
}

/// Whether any per-run file is left to migrate.
pub async fn pending(lake: &Lake) -> Result<bool, DemandError> {
    Ok(!legacy_files(lake.store()).await?.is_empty())
}

/// Rewrites every per-run file into its Delta table; one entry per table that received any.
pub async fn migrate(lake: &Lake) -> Result<Vec<Published>, DemandError> {
    let mut out: Vec<Published> = Vec::new();
    for file in legacy_files(lake.store()).await? {
        let batch = with_run_id(read_all(lake.store(), &file.meta).await?, &file.run_id)?;
        let dt = file.meta.last_modified.date_naive();
        let row_groups = if file.table == super::actuals::TABLE {
            super::actuals::ROW_GROUP_ROWS
        } else {
            super::export::ROW_GROUP_ROWS
        };
        let key = super::export::run_key(file.table, &file.run_id);
        let (outcome, _) = lake
            .commit_one_file(file.table, Area::Exports, dt, &batch, row_groups, &key)
            .await?;
        let version = match outcome {
            CommitOutcome::Committed { commit_id, .. } => commit_id,
            CommitOutcome::AlreadyCommitted { commit_id } => Some(commit_id),
        };
        lake.store()
            .delete(&file.meta.location)
            .await
            .map_err(LakeError::from)?;
        let table = format!("exports/{}", file.table);
        match out.iter_mut().find(|p| p.table == table) {
            Some(p) => {
                p.commits += 1;
                p.version = version;
            }
            None => out.push(Published {
                table,
                commits: 1,
                version,
                through_commit: None,
            }),
        }
    }
    Ok(out)
}

async fn legacy_files(store: &Arc<dyn ObjectStore>) -> Result<Vec<LegacyFile>, DemandError> {
    let prefix = object_store::path::Path::from(LEGACY_PREFIX);
    let objects: Vec<ObjectMeta> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(LakeError::from)?;
    Ok(objects.into_iter().filter_map(legacy_file).collect())
}

/// `exports/forecasts/run=<id>/forecasts.parquet` or `.../actuals.parquet`.
fn legacy_file(meta: ObjectMeta) -> Option<LegacyFile> {
    let path = meta.location.to_string();
    let rest = path.strip_prefix(LEGACY_PREFIX)?.strip_prefix("/run=")?;
    let (run_id, name) = rest.split_once('/')?;
    let table = match name {
        "forecasts.parquet" => super::export::TABLE,
        "actuals.parquet" => super::actuals::TABLE,
        _ => return None,
    };
    Some(LegacyFile {
        run_id: run_id.to_string(),
        table,
        meta,
    })
}

async fn read_all(
    store: &Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
) -> Result<RecordBatch, DemandError> {
    let bytes = store
        .get(&meta.location)
        .await
        .map_err(LakeError::from)?
        .bytes()
        .await
        .map_err(LakeError::from)?;
    let corrupt = |e: &dyn std::fmt::Display| {
        DemandError::Corrupt(format!("old export file `{}`: {e}", meta.location))
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| corrupt(&e))?;
    let schema = builder.schema().clone();
    let batches = builder
        .build()
        .map_err(|e| corrupt(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt(&e))?;
    arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| corrupt(&e))
}

/// The batch with a trailing `run_id` column, as new exports have, and `UInt32` columns (the
/// old `filled_periods`) as `Int32`: Delta has no unsigned integers.
fn with_run_id(batch: RecordBatch, run_id: &str) -> Result<RecordBatch, DemandError> {
    let lake = |e: arrow_schema::ArrowError| DemandError::Lake(e.into());
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type() == &DataType::UInt32 {
            fields.push(field.as_ref().clone().with_data_type(DataType::Int32));
            columns.push(arrow_cast::cast(column, &DataType::Int32).map_err(lake)?);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
        }
    }
    fields.push(Field::new("run_id", DataType::Utf8, false));
    columns.push(Arc::new(StringArray::from(vec![run_id; batch.num_rows()])));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(lake)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(path: &str) -> ObjectMeta {
        ObjectMeta {
            location: object_store::path::Path::from(path),
            last_modified: chrono::Utc::now(),
            size: 1,
            e_tag: None,
            version: None,
        }
    }

    #[test]
    fn only_per_run_files_are_old_exports() {
        let f = legacy_file(meta("exports/forecasts/run=r1/forecasts.parquet")).unwrap();
        assert_eq!((f.run_id.as_str(), f.table), ("r1", "forecasts"));
        let a = legacy_file(meta("exports/forecasts/run=r2/actuals.parquet")).unwrap();
        assert_eq!((a.run_id.as_str(), a.table), ("r2", "actuals"));
        assert!(
            legacy_file(meta("exports/forecasts/dt=2026-01-01/part-x-00000.parquet")).is_none()
        );
        assert!(
            legacy_file(meta(
                "exports/forecasts/_delta_log/00000000000000000000.json"
            ))
            .is_none()
        );
    }
}
