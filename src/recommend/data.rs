//! Training data from the lake: interaction and item rows read from their datasets and turned
//! into the arrays the models take (`recast_models::recommend::data`, re-exported here).
//!
//! Why here: the models crate does no I/O; this is the one place the recommender reads the
//! lake, so a schema change in `interactions` or `items` is fixed in one file.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use chrono::NaiveDate;

pub use recast_models::recommend::data::*;

use super::RecommendError;
use crate::lake::Lake;

fn text_col<'a>(
    batch: &'a RecordBatch,
    dataset: &'static str,
    column: &'static str,
) -> Result<&'a arrow_array::StringArray, RecommendError> {
    batch
        .column_by_name(column)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or(RecommendError::Schema {
            dataset,
            column,
            detail: "missing or not UTF-8".into(),
        })
}

fn ts_col<'a>(
    batch: &'a RecordBatch,
    dataset: &'static str,
    column: &'static str,
) -> Result<&'a arrow_array::PrimitiveArray<TimestampMicrosecondType>, RecommendError> {
    batch
        .column_by_name(column)
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or(RecommendError::Schema {
            dataset,
            column,
            detail: "missing or not a microsecond timestamp".into(),
        })
}

fn opt_text(a: &arrow_array::StringArray, i: usize) -> Option<String> {
    (!a.is_null(i)).then(|| a.value(i).to_string())
}

/// Interactions from Arrow batches of the canonical `interactions` schema.
pub fn interactions_from_batches(
    batches: &[RecordBatch],
    weights: &EventWeights,
) -> Result<Vec<Interaction>, RecommendError> {
    const DS: &str = "interactions";
    let mut out = Vec::new();
    for b in batches {
        let users = text_col(b, DS, "user_id")?;
        let items = text_col(b, DS, "item_id")?;
        let types = text_col(b, DS, "event_type")?;
        let ts = ts_col(b, DS, "ts")?;
        let values = b
            .column_by_name("value")
            .and_then(|c| c.as_primitive_opt::<Float64Type>());
        for i in 0..b.num_rows() {
            if users.is_null(i) || items.is_null(i) || types.is_null(i) || ts.is_null(i) {
                continue;
            }
            let value = values.and_then(|v| (!v.is_null(i)).then(|| v.value(i)));
            let Some(weight) = weights.weight(types.value(i), value) else {
                continue;
            };
            out.push(Interaction {
                user_id: users.value(i).to_string(),
                item_id: items.value(i).to_string(),
                event_type: types.value(i).to_string(),
                weight,
                ts: ts.value(i),
            });
        }
    }
    out.sort_by_key(|e| e.ts);
    Ok(out)
}

/// The latest row per item from batches of the canonical `items` schema, in item id order.
pub fn items_from_batches(batches: &[RecordBatch]) -> Result<Vec<ItemRecord>, RecommendError> {
    const DS: &str = "items";
    let mut latest: HashMap<String, ItemRecord> = HashMap::new();
    for b in batches {
        let ids = text_col(b, DS, "item_id")?;
        let titles = text_col(b, DS, "title")?;
        let descriptions = text_col(b, DS, "description")?;
        let categories = text_col(b, DS, "category")?;
        let brands = text_col(b, DS, "brand")?;
        let updated = ts_col(b, DS, "updated_at")?;
        let prices = b
            .column_by_name("price")
            .and_then(|c| c.as_primitive_opt::<Float64Type>());
        let active = b
            .column_by_name("active")
            .and_then(|c| c.as_boolean_opt())
            .ok_or(RecommendError::Schema {
                dataset: DS,
                column: "active",
                detail: "missing or not boolean".into(),
            })?;
        let tags = b
            .column_by_name("tags")
            .and_then(|c| c.as_list_opt::<i32>());
        for i in 0..b.num_rows() {
            if ids.is_null(i) || updated.is_null(i) {
                continue;
            }
            let record = ItemRecord {
                item_id: ids.value(i).to_string(),
                title: opt_text(titles, i).unwrap_or_default(),
                description: opt_text(descriptions, i),
                category: opt_text(categories, i),
                brand: opt_text(brands, i),
                tags: tags
                    .filter(|t| !t.is_null(i))
                    .map(|t| {
                        let v = t.value(i);
                        let s = v.as_string::<i32>();
                        (0..s.len())
                            .filter(|&j| !s.is_null(j))
                            .map(|j| s.value(j).to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                price: prices.and_then(|p| (!p.is_null(i)).then(|| p.value(i))),
                active: !active.is_null(i) && active.value(i),
                updated_at: updated.value(i),
            };
            match latest.get(&record.item_id) {
                Some(old) if old.updated_at > record.updated_at => {}
                _ => {
                    latest.insert(record.item_id.clone(), record);
                }
            }
        }
    }
    let mut items: Vec<ItemRecord> = latest.into_values().collect();
    items.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    Ok(items)
}

/// Reads weighted interactions with `dt` in `from..=to` from the lake.
pub async fn read_interactions(
    lake: &Lake,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    weights: &EventWeights,
) -> Result<Vec<Interaction>, RecommendError> {
    let batches = lake.read("interactions", from, to).await?;
    interactions_from_batches(&batches, weights)
}

/// Reads the catalogue (latest row per item) from the lake.
pub async fn read_items(lake: &Lake) -> Result<Vec<ItemRecord>, RecommendError> {
    let batches = lake.read("items", None, None).await?;
    items_from_batches(&batches)
}
