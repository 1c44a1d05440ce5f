//! One catalogue item or one user written through the API (`PUT /v1/items/{id}`,
//! `PUT /v1/users/{id}`), between ETL runs.
//!
//! Why straight into the lake, as one committed row: `items` and `users` are append-only
//! datasets whose readers take the newest row per id (training, features, outside engines),
//! so an upsert is exactly one more row, and a frontend's change is visible to the next
//! training run and to every outside reader the moment the call answers. The row goes
//! through the same converter as a pipeline's rows (text rule, plausible times, types), so
//! the API cannot land what a file could not. Each call is its own small commit; the
//! compaction job merges the small files.

use std::collections::BTreeMap;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use super::EtlError;
use super::convert::Converter;
use super::landing::Landing;
use super::schema::ColumnType;
use super::schema::Dataset;
use super::spec::{ColumnSpec, PipelineSpec, SourceSpec};
use crate::app::App;

/// What an upsert committed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Upserted {
    /// The lake commit holding the row.
    pub commit_id: Option<i64>,
    /// The row's version time (`updated_at`), RFC 3339.
    pub at: String,
}

/// The pipeline the rows are converted and landed under (`api-items`, `api-users`).
fn spec(app: &App, dataset: Dataset) -> PipelineSpec {
    PipelineSpec {
        name: format!("api-{}", dataset.name()),
        description: format!("{} written through the API", dataset.name()),
        dataset,
        schedule: None,
        dedup_key: None,
        conflicts: Default::default(),
        source: SourceSpec::Events { flush_rows: None },
        columns: times_not_in_future(dataset),
        file: Default::default(),
        plausible_since: app.settings.plausible_since_date().ok(),
    }
}

/// The dataset's time columns, refused when later than now: a row written now cannot have
/// been signed up or changed in the future.
fn times_not_in_future(dataset: Dataset) -> BTreeMap<String, ColumnSpec> {
    dataset
        .columns()
        .iter()
        .filter(|c| c.ty == ColumnType::Timestamp)
        .map(|c| {
            let rule = ColumnSpec {
                not_in_future: true,
                ..Default::default()
            };
            (c.name.to_string(), rule)
        })
        .collect()
}

/// Lands `record` (canonical column names; the id column is set from `id`) as the newest
/// row of `dataset` (items or users). `updated_at` defaults to now, and so does a new user's
/// `created_at` (its signup time: a user's earliest `created_at`). A value the column rules
/// refuse is [`EtlError::Refused`] naming the column; nothing lands then.
pub async fn upsert(
    app: &App,
    dataset: Dataset,
    id: &str,
    mut record: serde_json::Map<String, serde_json::Value>,
) -> Result<Upserted, EtlError> {
    let id_column = match dataset {
        Dataset::Items => "item_id",
        Dataset::Users => "user_id",
        other => {
            return Err(EtlError::Refused {
                field: None,
                detail: format!("`{}` rows are not written one by one", other.name()),
            });
        }
    };
    record.insert(id_column.into(), id.into());
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    if dataset == Dataset::Users {
        record
            .entry("created_at")
            .or_insert_with(|| now.clone().into());
    }
    let at = record
        .entry("updated_at")
        .or_insert_with(|| now.into())
        .as_str()
        .unwrap_or_default()
        .to_string();
    let spec = spec(app, dataset);
    let mut converter = Converter::new(&spec);
    let names = converter.source_columns().to_vec();
    super::source::read::push_json_object(&mut converter, &names, &record).map_err(|r| {
        EtlError::Refused {
            field: r.field,
            detail: r.detail,
        }
    })?;
    let Some(batch) = converter.finish_batch() else {
        return Err(EtlError::Refused {
            field: None,
            detail: "the record produced no row".into(),
        });
    };
    let mut landing = Landing::open(app, &spec, false).await?;
    if let Err(e) = landing.push(batch, "api").await {
        if let Err(abort) = landing.abort().await {
            tracing::warn!(error = %abort, "cannot abort the upsert; the sweep will");
        }
        return Err(e);
    }
    let key = format!("api:{}:{}", dataset.name(), uuid::Uuid::now_v7());
    let outcome = landing.commit(&key).await?;
    Ok(Upserted {
        commit_id: outcome.commit_id,
        at,
    })
}
