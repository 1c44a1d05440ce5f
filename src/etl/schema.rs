//! The canonical datasets: names, columns and types are the contract every pipeline maps
//! onto and every model reads. Timestamps are UTC microseconds; `dt` partitions come from one
//! column per dataset, so late data lands in the partition of its own date.

use std::sync::Arc;

use arrow_array::{RecordBatch, new_null_array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

/// The four datasets the lake holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    Interactions,
    Sales,
    Items,
    Users,
}

/// Type of a canonical column, as pipelines parse into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    Text,
    /// 64-bit float (quantities, money, ratings).
    Float,
    /// true/false (accepts true/false, 1/0, yes/no, t/f, y/n).
    Bool,
    /// Instant in UTC, microsecond precision.
    Timestamp,
    /// Calendar date.
    Date,
    /// A list of text values (tags).
    TextList,
}

/// One canonical column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub required: bool,
    /// For enum-like text columns: the only values accepted.
    pub allowed: Option<&'static [&'static str]>,
}

const fn col(name: &'static str, ty: ColumnType, required: bool) -> Column {
    Column {
        name,
        ty,
        required,
        allowed: None,
    }
}

/// Event types of the `interactions` dataset, in funnel order.
pub const EVENT_TYPES: &[&str] = &["view", "click", "add_to_cart", "purchase", "rating"];

const INTERACTIONS: &[Column] = &[
    col("event_id", ColumnType::Text, true),
    col("user_id", ColumnType::Text, true),
    col("item_id", ColumnType::Text, true),
    Column {
        name: "event_type",
        ty: ColumnType::Text,
        required: true,
        allowed: Some(EVENT_TYPES),
    },
    col("value", ColumnType::Float, false),
    col("ts", ColumnType::Timestamp, true),
    col("session_id", ColumnType::Text, false),
    col("recommendation_id", ColumnType::Text, false),
];

const SALES: &[Column] = &[
    col("date", ColumnType::Date, true),
    col("item_id", ColumnType::Text, true),
    col("store_id", ColumnType::Text, true),
    col("quantity", ColumnType::Float, true),
    col("revenue", ColumnType::Float, false),
    col("price", ColumnType::Float, false),
    col("on_promo", ColumnType::Bool, false),
    // When the sale happened, for hourly series; its day is still `date`, which partitions.
    col("ts", ColumnType::Timestamp, false),
];

const ITEMS: &[Column] = &[
    col("item_id", ColumnType::Text, true),
    col("title", ColumnType::Text, true),
    col("description", ColumnType::Text, false),
    col("category", ColumnType::Text, false),
    col("brand", ColumnType::Text, false),
    col("price", ColumnType::Float, false),
    col("tags", ColumnType::TextList, false),
    col("active", ColumnType::Bool, true),
    col("updated_at", ColumnType::Timestamp, true),
];

const USERS: &[Column] = &[
    col("user_id", ColumnType::Text, true),
    col("created_at", ColumnType::Timestamp, true),
    col("segment", ColumnType::Text, false),
    col("region", ColumnType::Text, false),
    // When this version of the user's attributes was written (a CRM's modification time):
    // a user's rows are versions, the newest by `updated_at` (else `created_at`) current.
    // Null where the source has no such time; `created_at` stays the signup time.
    col("updated_at", ColumnType::Timestamp, false),
];

impl Dataset {
    pub const ALL: [Dataset; 4] = [
        Dataset::Interactions,
        Dataset::Sales,
        Dataset::Items,
        Dataset::Users,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dataset::Interactions => "interactions",
            Dataset::Sales => "sales",
            Dataset::Items => "items",
            Dataset::Users => "users",
        }
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Dataset::Interactions => INTERACTIONS,
            Dataset::Sales => SALES,
            Dataset::Items => ITEMS,
            Dataset::Users => USERS,
        }
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// The column whose date is the row's `dt` partition.
    pub fn partition_column(self) -> &'static str {
        match self {
            Dataset::Interactions => "ts",
            Dataset::Sales => "date",
            Dataset::Items => "updated_at",
            Dataset::Users => "created_at",
        }
    }

    /// The key that identifies a row when a pipeline does not name one (a sales pipeline that
    /// maps `ts` keys by it instead: see `PipelineSpec::dedup_columns`).
    pub fn default_dedup_key(self) -> &'static [&'static str] {
        match self {
            Dataset::Interactions => &["event_id"],
            Dataset::Sales => &["date", "item_id", "store_id"],
            Dataset::Items => &["item_id", "updated_at"],
            Dataset::Users => &["user_id", "updated_at"],
        }
    }

    /// Columns that are (nearly) unique per row, stored without a Parquet dictionary.
    pub fn high_cardinality_columns(self) -> &'static [&'static str] {
        match self {
            Dataset::Interactions => &["event_id", "session_id", "recommendation_id"],
            Dataset::Items => &["description"],
            Dataset::Sales => &[],
            Dataset::Users => &["user_id"],
        }
    }

    /// `batch` (read from a lake file) in the current canonical column order; a column the
    /// file predates (an additive schema change, such as `sales.ts`) reads as nulls.
    pub fn conform(self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let schema = self.arrow_schema();
        if batch.schema().fields() == schema.fields() {
            return Ok(batch.clone());
        }
        let columns = schema
            .fields()
            .iter()
            .map(|f| match batch.column_by_name(f.name()) {
                Some(c) => Arc::clone(c),
                None => new_null_array(f.data_type(), batch.num_rows()),
            })
            .collect();
        // A required column a file lacks is an error here, not a column of nulls.
        RecordBatch::try_new(schema, columns)
    }

    pub fn arrow_schema(self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns()
            .iter()
            .map(|c| Field::new(c.name, arrow_type(c.ty), !c.required))
            .collect();
        Arc::new(Schema::new(fields))
    }
}

impl std::str::FromStr for Dataset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dataset::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                format!("unknown dataset `{s}` (expected interactions, sales, items or users)")
            })
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Text => DataType::Utf8,
        ColumnType::Float => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnType::Date => DataType::Date32,
        ColumnType::TextList => {
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
        }
    }
}

/// Columns of a quarantined row: the source, where in it, why (a stable `reason` code, the
/// `field` at fault and a human `detail`), and the raw record as it arrived.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("line", DataType::Int64, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("field", DataType::Utf8, true),
        Field::new("detail", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
        Field::new(
            "quarantined_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

/// Columns that hold identifiers: one character rule for them wherever they arrive.
pub const ID_COLUMNS: &[&str] = &[
    "event_id",
    "user_id",
    "item_id",
    "store_id",
    "session_id",
    "recommendation_id",
];

/// The one rule for text, shared by the API (path segments, query parameters, JSON strings,
/// event fields) and the ETL converter: no NUL anywhere (Postgres text cannot hold it, and no
/// reader expects it), and no control character at all in an identifier. `None` when `value`
/// passes; else what is wrong with it.
pub fn text_problem(value: &str, identifier: bool) -> Option<&'static str> {
    // Printable ASCII, nearly every value, has neither; one byte scan settles it.
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        None
    } else if value.contains('\0') {
        Some("must not contain NUL characters")
    } else if identifier && value.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataset_has_its_partition_and_key_columns() {
        for d in Dataset::ALL {
            assert!(d.column(d.partition_column()).is_some(), "{d}");
            for k in d.default_dedup_key() {
                assert!(d.column(k).is_some(), "{d}.{k}");
            }
            assert_eq!(d.arrow_schema().fields().len(), d.columns().len());
            assert_eq!(d.name().parse::<Dataset>().unwrap(), d);
        }
    }
}
