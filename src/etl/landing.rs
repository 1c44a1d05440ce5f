//! The last stage of every run: drop duplicates, quarantine conflicts, split by `dt`, write
//! data and quarantine files, and publish them with one commit per area.
//!
//! Rows are told apart by [`dedup`] (a hash of the pipeline's dedup key and one of the other
//! columns), first within the run, then, when asked, against the rows already landed in the
//! partitions the run touches: a row's partition follows from its own date, so a duplicate
//! can only live in the same `dt`. A row whose key repeats with other values is quarantined
//! as `conflicting_duplicate`, naming its key: the first row of a key lands, and no row is
//! lost without a reason. The commit key makes the run idempotent: a re-run of the same
//! input finds its key committed and publishes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, TimestampMicrosecondType};
use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::DataType;
use chrono::Utc;
use serde::Serialize;

use super::EtlError;
use super::convert::days_to_date;
use super::dedup::{self, Judgement, Seen};
use super::schema::{Dataset, quarantine_schema};
use super::spec::{Conflicts, PipelineSpec};
use crate::app::App;
use crate::lake::{Area, CommitOutcome, DatasetWriter, Lake, Scan};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A row refused by validation, kept with everything needed to fix and replay it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedRow {
    /// File path, table or `events`.
    pub source: String,
    /// 1-based line (CSV/NDJSON) or row number where the source has one.
    pub line: Option<i64>,
    /// Stable reason code (`convert::reason`).
    pub reason: String,
    pub field: Option<String>,
    pub detail: String,
    /// The record as it arrived.
    pub raw: String,
}

/// A refused record's bytes for the quarantine's `raw`: as text, or hex-encoded when they are
/// not UTF-8 (then `true`, for the detail to say so), so nothing of what arrived is lost.
pub fn raw_text(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (hex::encode(bytes), true),
    }
}

/// What a landing published.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LandingOutcome {
    /// The data commit (also when it was committed by an earlier run of the same input).
    pub commit_id: Option<i64>,
    /// The input had been landed before; nothing new was published.
    pub already_committed: bool,
    pub rows_landed: u64,
    pub rows_quarantined: u64,
    pub quarantined_by_reason: BTreeMap<String, u64>,
    pub duplicates_in_run: u64,
    pub duplicates_landed: u64,
    pub bytes_written: u64,
    pub files_written: u64,
}

impl LandingOutcome {
    /// Adds a later landing of the same run (the newest commit id wins).
    pub fn merge(&mut self, later: LandingOutcome) {
        self.commit_id = later.commit_id.or(self.commit_id);
        self.already_committed |= later.already_committed;
        self.rows_landed += later.rows_landed;
        self.rows_quarantined += later.rows_quarantined;
        for (reason, n) in later.quarantined_by_reason {
            *self.quarantined_by_reason.entry(reason).or_default() += n;
        }
        self.duplicates_in_run += later.duplicates_in_run;
        self.duplicates_landed += later.duplicates_landed;
        self.bytes_written += later.bytes_written;
        self.files_written += later.files_written;
    }
}

pub struct Landing {
    lake: Arc<Lake>,
    dataset: Dataset,
    key_columns: Vec<usize>,
    /// The columns compared between rows of one key; `None`: a repeated key is a duplicate.
    content_columns: Option<Vec<usize>>,
    partition_column: usize,
    check_landed: bool,
    seen: Seen,
    landed: HashMap<i32, Seen>,
    data: DatasetWriter,
    quarantine: Option<DatasetWriter>,
    outcome: LandingOutcome,
}

impl Landing {
    /// Opens the run's data writer. `check_landed` also drops rows whose key is already in
    /// the lake (file and SQL sources); the event buffer has its own exactly-once protocol.
    pub async fn open(
        app: &App,
        spec: &PipelineSpec,
        check_landed: bool,
    ) -> Result<Landing, EtlError> {
        let dataset = spec.dataset;
        let schema = dataset.arrow_schema();
        let key_columns = spec
            .dedup_columns()
            .iter()
            .map(|k| schema.index_of(k))
            .collect::<Result<Vec<_>, _>>()?;
        let partition_column = schema.index_of(dataset.partition_column())?;
        let content_columns = (spec.conflicts == Conflicts::Quarantine).then(|| {
            (0..schema.fields().len())
                .filter(|c| !key_columns.contains(c))
                .collect()
        });
        let options = crate::lake::WriterOptions {
            plain_columns: dataset
                .high_cardinality_columns()
                .iter()
                .map(|c| c.to_string())
                .collect(),
            ..app.lake.writer_options().clone()
        };
        let data = app
            .lake
            .writer_with(dataset.name(), Area::Datasets, options)
            .await?;
        Ok(Landing {
            lake: app.lake.clone(),
            dataset,
            key_columns,
            content_columns,
            partition_column,
            check_landed,
            seen: Seen::default(),
            landed: HashMap::new(),
            data,
            quarantine: None,
            outcome: LandingOutcome::default(),
        })
    }

    /// Sizes the duplicate set for about `rows` rows up front, so a large run does not pay
    /// for rehashing a multi-million-entry set again and again while it grows.
    pub fn expect_rows(&mut self, rows: usize) {
        self.seen.reserve(rows.min(50_000_000));
    }

    /// Counters so far (rows landed are those written, published at commit).
    pub fn outcome(&self) -> &LandingOutcome {
        &self.outcome
    }

    /// Adds a batch of valid canonical rows read from `source` (a file, table or `events`).
    pub async fn push(&mut self, batch: RecordBatch, source: &str) -> Result<(), EtlError> {
        self.push_lines(batch, source, &[]).await
    }

    /// [`Self::push`] for rows read from a file: `lines` holds each row's line, which a
    /// quarantined conflict names.
    pub async fn push_lines(
        &mut self,
        batch: RecordBatch,
        source: &str,
        lines: &[Option<i64>],
    ) -> Result<(), EtlError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (keys, contents) = self.fingerprints(&batch)?;
        let days = partition_days(batch.column(self.partition_column))?;
        // The days of this batch (usually one), resolved once instead of once per row.
        let mut batch_days: Vec<i32> = Vec::new();
        for day in days.iter().flatten() {
            if batch_days.last() != Some(day) && !batch_days.contains(day) {
                batch_days.push(*day);
            }
        }
        if self.check_landed {
            for &day in &batch_days {
                self.landed_keys(day).await?;
            }
        }
        let landed: Vec<Option<&Seen>> = batch_days
            .iter()
            .map(|d| self.check_landed.then(|| &self.landed[d]))
            .collect();
        let mut rows_by_day: Vec<Vec<u32>> = vec![Vec::new(); batch_days.len()];
        let mut conflicts: Vec<(usize, &str)> = Vec::new();
        let mut last = (i32::MIN, 0usize);
        for (row, (key, day)) in keys.iter().zip(days.iter()).enumerate() {
            let Some(day) = day else {
                continue; // required partition column: the converter never lets a null through
            };
            if *day != last.0 {
                let slot = batch_days.iter().position(|d| d == day).unwrap_or(0);
                last = (*day, slot);
            }
            let content = contents.as_ref().map_or(0, |c| c[row]);
            match dedup::judge(&mut self.seen, landed[last.1], *key, content) {
                Judgement::Land => rows_by_day[last.1].push(row as u32),
                Judgement::DuplicateInRun => self.outcome.duplicates_in_run += 1,
                Judgement::DuplicateLanded => self.outcome.duplicates_landed += 1,
                Judgement::Conflict(other) => conflicts.push((row, other)),
            }
        }
        let conflicting = self.conflicting(&batch, &conflicts, source, lines)?;
        let by_day: BTreeMap<i32, Vec<u32>> = batch_days
            .into_iter()
            .zip(rows_by_day)
            .filter(|(_, rows)| !rows.is_empty())
            .collect();
        self.write_days(&batch, by_day).await?;
        self.quarantine(conflicting).await
    }

    /// Each row's key hash and, when the pipeline compares them, its other columns' hash.
    fn fingerprints(&self, batch: &RecordBatch) -> Result<(Vec<u128>, Option<Vec<u32>>), EtlError> {
        let keys = dedup::key_hashes(batch, &self.key_columns)?;
        let contents = match &self.content_columns {
            Some(columns) => Some(dedup::content_hashes(batch, columns)?),
            None => None,
        };
        Ok((keys, contents))
    }

    /// Writes each day's rows of `batch` to its partition.
    async fn write_days(
        &mut self,
        batch: &RecordBatch,
        by_day: BTreeMap<i32, Vec<u32>>,
    ) -> Result<(), EtlError> {
        let whole = by_day.len() == 1
            && by_day
                .values()
                .next()
                .is_some_and(|rows| rows.len() == batch.num_rows());
        for (day, rows) in by_day {
            let first = rows[0] as usize;
            let part = if whole {
                batch.clone() // the usual case: a chunk of one day with no duplicates
            } else if rows[rows.len() - 1] as usize - first + 1 == rows.len() {
                batch.slice(first, rows.len()) // a day's run of rows in a chunk of several
            } else {
                arrow_select::take::take_record_batch(batch, &UInt32Array::from(rows))?
            };
            self.outcome.rows_landed += part.num_rows() as u64;
            self.data.write(days_to_date(day), &part).await?;
        }
        Ok(())
    }

    /// Quarantine rows for `conflicts` (a row of `batch` and where its key's other row is):
    /// the key's values and the whole row, as the landing has them, typed.
    fn conflicting(
        &self,
        batch: &RecordBatch,
        conflicts: &[(usize, &str)],
        source: &str,
        lines: &[Option<i64>],
    ) -> Result<Vec<QuarantinedRow>, EtlError> {
        if conflicts.is_empty() {
            return Ok(Vec::new());
        }
        let schema = batch.schema();
        let options = arrow_cast::display::FormatOptions::default();
        let formatters = batch
            .columns()
            .iter()
            .map(|c| arrow_cast::display::ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        let value = |col: usize, row: usize| {
            let array = batch.column(col);
            (!arrow_array::Array::is_null(array, row))
                .then(|| formatters[col].value(row).to_string())
        };
        let names: Vec<&str> = self
            .key_columns
            .iter()
            .map(|&c| schema.field(c).name().as_str())
            .collect();
        Ok(conflicts
            .iter()
            .map(|&(row, other)| {
                let key: Vec<String> = self
                    .key_columns
                    .iter()
                    .map(|&c| {
                        let v = value(c, row).unwrap_or_else(|| "null".into());
                        format!("{}={v}", schema.field(c).name())
                    })
                    .collect();
                let raw: serde_json::Map<String, serde_json::Value> = (0..batch.num_columns())
                    .map(|c| {
                        let typed = typed(batch.column(c), row, value(c, row));
                        (schema.field(c).name().clone(), typed)
                    })
                    .collect();
                QuarantinedRow {
                    source: source.to_string(),
                    line: lines.get(row).copied().flatten(),
                    reason: "conflicting_duplicate".into(),
                    field: Some(names.join(",")),
                    detail: format!(
                        "another row with the key {} and other values {other}, and that one \
                         counts; if both are real, add a column that tells them apart (such \
                         as `ts`, or a version time like `updated_at`) to the pipeline's `dedup_key`",
                        key.join(", ")
                    ),
                    raw: serde_json::Value::Object(raw).to_string(),
                }
            })
            .collect())
    }

    /// Adds refused rows; they land under `quarantine/<dataset>/dt=<today>/`.
    pub async fn quarantine(&mut self, rows: Vec<QuarantinedRow>) -> Result<(), EtlError> {
        if rows.is_empty() {
            return Ok(());
        }
        for r in &rows {
            *self
                .outcome
                .quarantined_by_reason
                .entry(r.reason.clone())
                .or_default() += 1;
        }
        self.outcome.rows_quarantined += rows.len() as u64;
        let batch = quarantine_batch(&rows)?;
        if self.quarantine.is_none() {
            self.quarantine = Some(
                self.lake
                    .writer(self.dataset.name(), Area::Quarantine)
                    .await?,
            );
        }
        let writer = self.quarantine.as_mut().expect("opened above");
        writer.write(Utc::now().date_naive(), &batch).await?;
        Ok(())
    }

    /// Publishes data and quarantine under `commit_key` (one commit per area).
    pub async fn commit(mut self, commit_key: &str) -> Result<LandingOutcome, EtlError> {
        if let Some(q) = self.quarantine.take() {
            q.commit(Some(commit_key)).await?;
        }
        match self.data.commit(Some(commit_key)).await? {
            CommitOutcome::Committed {
                commit_id,
                bytes,
                files,
                ..
            } => {
                self.outcome.commit_id = commit_id;
                self.outcome.bytes_written = bytes;
                self.outcome.files_written = files;
            }
            CommitOutcome::AlreadyCommitted { commit_id } => {
                self.outcome.commit_id = Some(commit_id);
                self.outcome.already_committed = true;
                self.outcome.rows_landed = 0;
            }
        }
        Ok(self.outcome)
    }

    /// Deletes what the run wrote; nothing was ever visible.
    pub async fn abort(mut self) -> Result<(), EtlError> {
        if let Some(q) = self.quarantine.take() {
            q.abort().await?;
        }
        self.data.abort().await?;
        Ok(())
    }

    async fn landed_keys(&mut self, day: i32) -> Result<&Seen, EtlError> {
        if !self.landed.contains_key(&day) {
            let date = days_to_date(day);
            let scan = Scan::dataset(self.dataset.name()).between(Some(date), Some(date));
            let mut keys = Seen::default();
            for batch in self.lake.read_scan(&scan).await? {
                let batch = self.dataset.conform(&batch)?;
                let (hashes, contents) = self.fingerprints(&batch)?;
                keys.extend(&hashes, contents.as_deref());
            }
            self.landed.insert(day, keys);
        }
        Ok(&self.landed[&day])
    }
}

/// A cell as JSON: numbers and booleans as such, anything else as its display `text`
/// (`None` when the cell is null).
fn typed(array: &ArrayRef, row: usize, text: Option<String>) -> serde_json::Value {
    match (text, array.data_type()) {
        (None, _) => serde_json::Value::Null,
        (Some(_), DataType::Float64) => array.as_primitive::<Float64Type>().value(row).into(),
        (Some(_), DataType::Boolean) => array.as_boolean().value(row).into(),
        (Some(text), _) => text.into(),
    }
}

/// The `dt` (days since epoch) of every row, from a timestamp or date column.
fn partition_days(column: &ArrayRef) -> Result<Vec<Option<i32>>, EtlError> {
    Ok(match column.data_type() {
        DataType::Timestamp(_, _) => column
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .map(|v| v.map(|m| m.div_euclid(MICROS_PER_DAY) as i32))
            .collect(),
        DataType::Date32 => column.as_primitive::<Date32Type>().iter().collect(),
        other => {
            return Err(EtlError::Arrow(
                arrow_schema::ArrowError::InvalidArgumentError(format!(
                    "partition column has type {other}"
                )),
            ));
        }
    })
}

fn quarantine_batch(rows: &[QuarantinedRow]) -> Result<RecordBatch, EtlError> {
    let mut source = StringBuilder::new();
    let mut line = Int64Builder::new();
    let mut reason = StringBuilder::new();
    let mut field = StringBuilder::new();
    let mut detail = StringBuilder::new();
    let mut raw = StringBuilder::new();
    let mut at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let now = Utc::now().timestamp_micros();
    for r in rows {
        source.append_value(&r.source);
        line.append_option(r.line);
        reason.append_value(&r.reason);
        field.append_option(r.field.as_deref());
        detail.append_value(&r.detail);
        raw.append_value(&r.raw);
        at.append_value(now);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(source.finish()),
        Arc::new(line.finish()),
        Arc::new(reason.finish()),
        Arc::new(field.finish()),
        Arc::new(detail.finish()),
        Arc::new(raw.finish()),
        Arc::new(at.finish()),
    ];
    Ok(RecordBatch::try_new(quarantine_schema(), columns)?)
}
