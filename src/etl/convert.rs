//! Raw rows → canonical, typed, validated Arrow batches.
//!
//! Every source (CSV, NDJSON, Parquet, SQL, the event buffer) is reduced to "a row of
//! optional text values, looked up by source column", so there is exactly one place that
//! parses timestamps, numbers and booleans and applies the pipeline's rules. A row is parsed
//! completely into cells before anything is appended, so a row that fails on its last column
//! leaves no partial trace in the batch; it is rejected with a stable reason code, the field
//! and a detail, and the caller quarantines it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::schema::{ColumnType, Dataset};
use super::spec::{ColumnSpec, PipelineSpec};

/// Clock skew tolerated by `not_in_future`.
const FUTURE_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;
/// Columns of the widest canonical dataset, rounded up.
const MAX_COLUMNS: usize = 16;

/// Stable reason codes for quarantined rows.
pub mod reason {
    pub const MISSING_REQUIRED: &str = "missing_required";
    pub const INVALID_NUMBER: &str = "invalid_number";
    pub const OUT_OF_RANGE: &str = "out_of_range";
    pub const INVALID_BOOL: &str = "invalid_bool";
    pub const INVALID_TIMESTAMP: &str = "invalid_timestamp";
    pub const INVALID_DATE: &str = "invalid_date";
    pub const NOT_ALLOWED: &str = "not_allowed";
    pub const IN_FUTURE: &str = "in_future";
    pub const MALFORMED_RECORD: &str = "malformed_record";
    pub const INVALID_TEXT: &str = "invalid_text";
    pub const TIME_OF_DAY: &str = "time_of_day";
}

/// Why a row was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: &'static str,
    pub field: Option<String>,
    pub detail: String,
}

impl Rejection {
    pub fn malformed(detail: impl Into<String>) -> Self {
        Rejection {
            reason: reason::MALFORMED_RECORD,
            field: None,
            detail: detail.into(),
        }
    }
}

/// A source row: values looked up by the index of a source column in
/// [`Converter::source_columns`].
pub trait RawRow {
    fn get(&self, source_index: usize) -> Option<Cow<'_, str>>;
}

/// Rows already held as optional strings (SQL rows, tests).
impl RawRow for Vec<Option<String>> {
    fn get(&self, i: usize) -> Option<Cow<'_, str>> {
        self.as_slice().get(i)?.as_deref().map(Cow::Borrowed)
    }
}

#[derive(Debug, Clone)]
enum TsFormat {
    Rfc3339,
    EpochSeconds,
    EpochMillis,
    Pattern(String),
}

#[derive(Debug, Clone)]
enum Input {
    Source(usize),
    Constant(String),
}

#[derive(Debug, Clone)]
struct Plan {
    name: &'static str,
    /// An id column: no control characters at all (decided once, not per cell).
    identifier: bool,
    ty: ColumnType,
    required: bool,
    input: Input,
    default: Option<String>,
    map: BTreeMap<String, String>,
    min: Option<f64>,
    max: Option<f64>,
    allowed: Option<Vec<String>>,
    not_in_future: bool,
    ts_format: TsFormat,
    date_format: String,
    /// The date format also reads a time of day (`%H`, `%T`, ...) that no other column keeps:
    /// a row whose time is not midnight is refused.
    date_has_time: bool,
    tz: Option<chrono_tz::Tz>,
    decimal_comma: bool,
    separator: String,
}

enum Cell<'a> {
    Null,
    Text(Cow<'a, str>),
    Float(f64),
    Bool(bool),
    Micros(i64),
    Days(i32),
    List(Vec<String>),
}

enum Builder {
    Text(StringBuilder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    List(ListBuilder<StringBuilder>),
}

impl Builder {
    fn new(ty: ColumnType) -> Builder {
        match ty {
            ColumnType::Text => Builder::Text(StringBuilder::new()),
            ColumnType::Float => Builder::Float(Float64Builder::new()),
            ColumnType::Bool => Builder::Bool(BooleanBuilder::new()),
            ColumnType::Timestamp => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            ColumnType::Date => Builder::Date(Date32Builder::new()),
            ColumnType::TextList => Builder::List(ListBuilder::new(StringBuilder::new())),
        }
    }

    fn append(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (Builder::Text(b), Cell::Text(s)) => b.append_value(s),
            (Builder::Float(b), Cell::Float(v)) => b.append_value(v),
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Builder::Timestamp(b), Cell::Micros(v)) => b.append_value(v),
            (Builder::Date(b), Cell::Days(v)) => b.append_value(v),
            (Builder::List(b), Cell::List(values)) => {
                for v in values {
                    b.values().append_value(v);
                }
                b.append(true);
            }
            (Builder::Text(b), _) => b.append_null(),
            (Builder::Float(b), _) => b.append_null(),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::Timestamp(b), _) => b.append_null(),
            (Builder::Date(b), _) => b.append_null(),
            (Builder::List(b), _) => b.append(false),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::List(b) => Arc::new(b.finish()),
        }
    }
}

/// Converts the rows of one source (one header) for one pipeline.
pub struct Converter {
    dataset: Dataset,
    plans: Vec<Plan>,
    source_columns: Vec<String>,
    builders: Vec<Builder>,
    rows: usize,
    bounds: Bounds,
}

/// The instants a row's times must lie between: not before the deployment's
/// `plausible_since`, and (for `not_in_future` columns) not after now plus the skew.
#[derive(Clone, Copy)]
struct Bounds {
    now_micros: i64,
    earliest_micros: i64,
}

impl Converter {
    /// Plans the conversion for `spec`. The source columns it reads are
    /// [`Converter::source_columns`]; rows must answer `get` by that index.
    pub fn new(spec: &PipelineSpec) -> Converter {
        let mut source_columns: Vec<String> = Vec::new();
        let mut plans = Vec::new();
        for column in spec.dataset.columns() {
            let cs = spec.columns.get(column.name).cloned().unwrap_or_default();
            let input = match (&cs.value, &cs.from) {
                (Some(constant), _) => Input::Constant(constant.clone()),
                (None, from) => {
                    let name = from.clone().unwrap_or_else(|| column.name.to_string());
                    let idx = match source_columns.iter().position(|c| *c == name) {
                        Some(i) => i,
                        None => {
                            source_columns.push(name);
                            source_columns.len() - 1
                        }
                    };
                    Input::Source(idx)
                }
            };
            let mut planned = plan(
                column.name,
                column.ty,
                column.required,
                column.allowed,
                input,
                &cs,
            );
            // The time of day lives on in `ts`: the date is just the sale's day.
            planned.date_has_time &= !spec.keeps_sale_time();
            plans.push(planned);
        }
        assert!(
            plans.len() <= MAX_COLUMNS,
            "canonical datasets have at most {MAX_COLUMNS} columns"
        );
        let builders = plans.iter().map(|p| Builder::new(p.ty)).collect();
        Converter {
            dataset: spec.dataset,
            plans,
            source_columns,
            builders,
            rows: 0,
            bounds: Bounds {
                now_micros: Utc::now().timestamp_micros(),
                earliest_micros: spec
                    .plausible_since
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map_or(i64::MIN, |t| t.and_utc().timestamp_micros()),
            },
        }
    }

    /// Source column names, in the order `RawRow::get` indexes them.
    pub fn source_columns(&self) -> &[String] {
        &self.source_columns
    }

    /// Rows converted and not yet taken by [`Converter::finish_batch`].
    pub fn pending_rows(&self) -> usize {
        self.rows
    }

    /// Parses and validates one row; on success it is appended to the pending batch.
    pub fn push<R: RawRow + ?Sized>(&mut self, row: &R) -> Result<(), Rejection> {
        // On the stack: this runs for every row of every source.
        let mut cells: [Cell<'_>; MAX_COLUMNS] = std::array::from_fn(|_| Cell::Null);
        for (cell, plan) in cells.iter_mut().zip(&self.plans) {
            *cell = convert_cell(plan, row, self.bounds)?;
        }
        for (builder, cell) in self.builders.iter_mut().zip(cells) {
            builder.append(cell);
        }
        self.rows += 1;
        Ok(())
    }

    /// The pending rows as a canonical batch (None when empty).
    pub fn finish_batch(&mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        let columns: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        Some(
            RecordBatch::try_new(self.dataset.arrow_schema(), columns)
                .expect("builders follow the canonical schema"),
        )
    }
}

fn plan(
    name: &'static str,
    ty: ColumnType,
    required: bool,
    canonical_allowed: Option<&'static [&'static str]>,
    input: Input,
    cs: &ColumnSpec,
) -> Plan {
    let ts_format = match cs.format.as_deref() {
        None | Some("rfc3339") => TsFormat::Rfc3339,
        Some("epoch_s") => TsFormat::EpochSeconds,
        Some("epoch_ms") => TsFormat::EpochMillis,
        Some(p) => TsFormat::Pattern(p.to_string()),
    };
    let allowed = cs
        .allowed
        .clone()
        .or_else(|| canonical_allowed.map(|a| a.iter().map(|s| s.to_string()).collect()));
    Plan {
        name,
        identifier: super::schema::ID_COLUMNS.contains(&name),
        ty,
        required: required || cs.required,
        input,
        default: cs.default.clone(),
        map: cs.map.clone(),
        min: cs.min,
        max: cs.max,
        allowed,
        not_in_future: cs.not_in_future,
        ts_format,
        date_format: cs.format.clone().unwrap_or_else(|| "%Y-%m-%d".to_string()),
        date_has_time: cs.format.as_deref().is_some_and(reads_time_of_day),
        tz: cs.timezone.as_deref().and_then(|t| t.parse().ok()),
        decimal_comma: cs.decimal.as_deref() == Some(","),
        separator: cs.separator.clone().unwrap_or_else(|| "|".to_string()),
    }
}

fn reject(plan: &Plan, reason: &'static str, detail: String) -> Rejection {
    Rejection {
        reason,
        field: Some(plan.name.to_string()),
        detail,
    }
}

fn too_early(plan: &Plan, raw: &str, earliest_micros: i64) -> Rejection {
    let since = DateTime::<Utc>::from_timestamp_micros(earliest_micros)
        .map(|t| t.date_naive().to_string())
        .unwrap_or_default();
    reject(
        plan,
        reason::OUT_OF_RANGE,
        format!("`{raw}` is before {since} (plausible_since)"),
    )
}

/// Empty or only whitespace. A first byte that is plain ASCII and not a space settles it
/// without the Unicode trim (this runs for every cell).
fn is_blank(value: &str) -> bool {
    match value.as_bytes().first() {
        None => true,
        Some(b) if b.is_ascii() && !b.is_ascii_whitespace() => false,
        Some(_) => value.trim().is_empty(),
    }
}

fn convert_cell<'a, R: RawRow + ?Sized>(
    plan: &Plan,
    row: &'a R,
    bounds: Bounds,
) -> Result<Cell<'a>, Rejection> {
    let Bounds {
        now_micros,
        earliest_micros,
    } = bounds;
    let raw: Option<Cow<'a, str>> = match &plan.input {
        Input::Constant(c) => Some(Cow::Owned(c.clone())),
        Input::Source(i) => row.get(*i),
    };
    let raw = match raw {
        Some(v) if !is_blank(&v) => Some(v),
        _ => plan.default.clone().map(Cow::Owned),
    };
    let Some(raw) = raw else {
        return if plan.required {
            Err(reject(
                plan,
                reason::MISSING_REQUIRED,
                format!("`{}` is required", plan.name),
            ))
        } else {
            Ok(Cell::Null)
        };
    };
    let mapped = (!plan.map.is_empty())
        .then(|| plan.map.get(raw.trim()))
        .flatten();
    let raw: Cow<'a, str> = match mapped {
        Some(mapped) => Cow::Owned(mapped.clone()),
        None => raw,
    };
    match plan.ty {
        ColumnType::Text => {
            if let Some(problem) = super::schema::text_problem(&raw, plan.identifier) {
                return Err(reject(plan, reason::INVALID_TEXT, problem.to_string()));
            }
            if let Some(allowed) = &plan.allowed
                && !allowed.iter().any(|a| a == raw.as_ref())
            {
                return Err(reject(
                    plan,
                    reason::NOT_ALLOWED,
                    format!("`{raw}` is not one of {}", allowed.join(", ")),
                ));
            }
            Ok(Cell::Text(raw))
        }
        ColumnType::Float => {
            let text = raw.trim();
            let parsed = if plan.decimal_comma {
                text.replace('.', "").replace(',', ".").parse::<f64>()
            } else {
                text.parse::<f64>()
            };
            let v = parsed.ok().filter(|v| v.is_finite()).ok_or_else(|| {
                reject(
                    plan,
                    reason::INVALID_NUMBER,
                    format!("`{text}` is not a number"),
                )
            })?;
            if plan.min.is_some_and(|m| v < m) || plan.max.is_some_and(|m| v > m) {
                return Err(reject(
                    plan,
                    reason::OUT_OF_RANGE,
                    format!(
                        "{v} is outside [{}, {}]",
                        plan.min.map_or("-inf".into(), |m| m.to_string()),
                        plan.max.map_or("inf".into(), |m| m.to_string())
                    ),
                ));
            }
            Ok(Cell::Float(v))
        }
        ColumnType::Bool => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "t" | "y" => Ok(Cell::Bool(true)),
            "false" | "0" | "no" | "f" | "n" => Ok(Cell::Bool(false)),
            other => Err(reject(
                plan,
                reason::INVALID_BOOL,
                format!("`{other}` is not a boolean"),
            )),
        },
        ColumnType::Timestamp => {
            let micros = parse_timestamp(plan, raw.trim())?;
            if micros < earliest_micros {
                return Err(too_early(plan, raw.trim(), earliest_micros));
            }
            if plan.not_in_future && micros > now_micros + FUTURE_SKEW_MICROS {
                return Err(reject(
                    plan,
                    reason::IN_FUTURE,
                    format!("`{}` is in the future", raw.trim()),
                ));
            }
            Ok(Cell::Micros(micros))
        }
        ColumnType::Date => {
            let date = NaiveDate::parse_from_str(raw.trim(), &plan.date_format).map_err(|e| {
                reject(
                    plan,
                    reason::INVALID_DATE,
                    format!("`{}` is not a date ({}): {e}", raw.trim(), plan.date_format),
                )
            })?;
            if plan.date_has_time {
                check_midnight(plan, raw.trim())?;
            }
            let midnight = date
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_micros());
            if midnight.is_some_and(|m| m < earliest_micros) {
                return Err(too_early(plan, raw.trim(), earliest_micros));
            }
            let today = DateTime::<Utc>::from_timestamp_micros(now_micros)
                .map(|t| t.date_naive())
                .unwrap_or(NaiveDate::MAX);
            if plan.not_in_future && date > today {
                return Err(reject(
                    plan,
                    reason::IN_FUTURE,
                    format!("{date} is in the future"),
                ));
            }
            Ok(Cell::Days(date_to_days(date)))
        }
        ColumnType::TextList => Ok(Cell::List(
            raw.split(plan.separator.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )),
    }
}

/// Whether a chrono format reads a time of day.
fn reads_time_of_day(format: &str) -> bool {
    [
        "%H", "%k", "%I", "%l", "%M", "%S", "%T", "%R", "%X", "%r", "%s", "%+",
    ]
    .iter()
    .any(|spec| format.contains(spec))
}

/// A date column holds days: a value whose time of day is not midnight would lose its hour,
/// and rows of one key in different hours would then be taken for duplicates of one day. It
/// is refused with a reason instead, unless the pipeline keeps the time in `ts`.
fn check_midnight(plan: &Plan, raw: &str) -> Result<(), Rejection> {
    let Ok(t) = NaiveDateTime::parse_from_str(raw, &plan.date_format) else {
        return Ok(());
    };
    if t.time() == chrono::NaiveTime::MIN {
        return Ok(());
    }
    Err(reject(
        plan,
        reason::TIME_OF_DAY,
        format!(
            "`{raw}` has a time of day ({}) but the column holds days: rows of one day in \
             different hours would collapse into one; map the same source column to `ts` too \
             to keep the hour, or sum the rows per day upstream",
            t.time()
        ),
    ))
}

/// Days since 1970-01-01, Arrow's `Date32`.
pub fn date_to_days(date: NaiveDate) -> i32 {
    use chrono::Datelike;
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

pub fn days_to_date(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + UNIX_EPOCH_DAYS_FROM_CE).unwrap_or(NaiveDate::MIN)
}

fn localize(plan: &Plan, naive: NaiveDateTime, text: &str) -> Result<i64, Rejection> {
    let tz = plan.tz.unwrap_or(chrono_tz::UTC);
    // In a DST fold the earlier instant is taken; a time skipped by DST does not exist.
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_micros())
        .ok_or_else(|| {
            reject(
                plan,
                reason::INVALID_TIMESTAMP,
                format!("`{text}` does not exist in {tz}"),
            )
        })
}

fn parse_timestamp(plan: &Plan, text: &str) -> Result<i64, Rejection> {
    let bad = |why: String| reject(plan, reason::INVALID_TIMESTAMP, why);
    match &plan.ts_format {
        TsFormat::Rfc3339 => {
            if let Some(micros) = fast_rfc3339(text) {
                return Ok(micros);
            }
            if let Ok(t) = DateTime::parse_from_rfc3339(text) {
                return Ok(t.timestamp_micros());
            }
            // Without an offset the value is read in the declared zone (never guessed).
            if plan.tz.is_some() {
                for pattern in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
                    if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
                        return localize(plan, naive, text);
                    }
                }
            }
            Err(bad(format!(
                "`{text}` is not an RFC 3339 timestamp with an offset"
            )))
        }
        TsFormat::EpochSeconds | TsFormat::EpochMillis => {
            let scale = if matches!(plan.ts_format, TsFormat::EpochSeconds) {
                1_000_000.0
            } else {
                1_000.0
            };
            let v: f64 = text
                .parse()
                .map_err(|_| bad(format!("`{text}` is not an epoch number")))?;
            let micros = v * scale;
            if !micros.is_finite() || micros.abs() > 1e17 {
                return Err(bad(format!("`{text}` is out of range")));
            }
            Ok(micros.round() as i64)
        }
        TsFormat::Pattern(pattern) => {
            if let Ok(t) = DateTime::parse_from_str(text, pattern) {
                return Ok(t.timestamp_micros());
            }
            let naive = NaiveDateTime::parse_from_str(text, pattern)
                .map_err(|e| bad(format!("`{text}` does not match `{pattern}`: {e}")))?;
            localize(plan, naive, text)
        }
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The common shape `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)` without a general parser; any
/// other shape (or an impossible date) returns None and goes to chrono, which decides.
fn fast_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &b[start..i];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        let mut scaled = digits(frac)?;
        for _ in frac.len()..6 {
            scaled *= 10;
        }
        for _ in 6..frac.len() {
            scaled /= 10;
        }
        micros = scaled;
    }
    let offset_seconds = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            (h * 3600 + m * 60) * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, TimestampMicrosecondType};
    use arrow_array::{Array, Float64Array, StringArray, TimestampMicrosecondArray};

    use super::*;

    fn spec(text: &str) -> PipelineSpec {
        PipelineSpec::parse(Path::new("t.toml"), text).unwrap()
    }

    const CLICKS: &str = r#"
name = "clicks"
dataset = "interactions"
[source]
type = "files"
url = "file://x"
[columns]
ts = { from = "when", not_in_future = true }
event_type = { from = "kind", map = { "buy" = "purchase" } }
value = { min = 0, max = 5, decimal = "," }
"#;

    fn row(c: &Converter, pairs: &[(&str, &str)]) -> Vec<Option<String>> {
        c.source_columns()
            .iter()
            .map(|name| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.to_string())
            })
            .collect()
    }

    fn good(c: &Converter) -> Vec<(&'static str, &'static str)> {
        let _ = c;
        vec![
            ("event_id", "e1"),
            ("user_id", "u1"),
            ("item_id", "i1"),
            ("kind", "buy"),
            ("value", "4,5"),
            ("when", "2024-03-01T12:00:00+01:00"),
        ]
    }

    #[test]
    fn converts_types_maps_and_offsets() {
        let mut c = Converter::new(&spec(CLICKS));
        let r = row(&c, &good(&c));
        c.push(&r).unwrap();
        let batch = c.finish_batch().unwrap();
        assert_eq!(batch.num_rows(), 1);
        let et = batch
            .column_by_name("event_type")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(et.value(0), "purchase");
        let v = batch
            .column_by_name("value")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(v.value(0), 4.5);
        let ts = batch
            .column_by_name("ts")
            .unwrap()
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(
            ts.value(0),
            Utc.with_ymd_and_hms(2024, 3, 1, 11, 0, 0)
                .unwrap()
                .timestamp_micros()
        );
        assert!(batch.column_by_name("session_id").unwrap().is_null(0));
    }

    #[test]
    fn each_rule_rejects_with_its_reason_and_field() {
        let mut c = Converter::new(&spec(CLICKS));
        let cases: Vec<(&str, &str, &str)> = vec![
            ("user_id", "", reason::MISSING_REQUIRED),
            ("value", "lots", reason::INVALID_NUMBER),
            ("value", "-1", reason::OUT_OF_RANGE),
            ("kind", "teleport", reason::NOT_ALLOWED),
            ("when", "yesterday", reason::INVALID_TIMESTAMP),
            ("when", "2999-01-01T00:00:00Z", reason::IN_FUTURE),
        ];
        for (column, value, expected) in cases {
            let mut pairs = good(&c);
            pairs.retain(|(k, _)| *k != column);
            pairs.push((column, value));
            let r = row(&c, &pairs);
            let e = c.push(&r).unwrap_err();
            assert_eq!(e.reason, expected, "{column}={value}: {e:?}");
        }
        assert!(
            c.finish_batch().is_none(),
            "rejected rows leave nothing behind"
        );
    }

    #[test]
    fn a_sales_date_with_an_hour_is_refused_and_midnight_stamps_are_days() {
        let mut c = Converter::new(&spec(
            r#"
name = "s"
dataset = "sales"
[source]
type = "files"
url = "file://x"
[columns]
date = { format = "%Y-%m-%d %H:%M" }
"#,
        ));
        let sale = |date: &str| {
            vec![
                ("date", date.to_string()),
                ("item_id", "i1".to_string()),
                ("store_id", "s1".to_string()),
                ("quantity", "3".to_string()),
            ]
        };
        let push = |c: &mut Converter, date: &str| {
            let pairs = sale(date);
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = row(c, &pairs);
            c.push(&r)
        };
        push(&mut c, "2024-03-01 00:00").unwrap();
        let e = push(&mut c, "2024-03-01 13:00").unwrap_err();
        assert_eq!(e.reason, reason::TIME_OF_DAY, "{e:?}");
        assert_eq!(e.field.as_deref(), Some("date"));
        assert!(e.detail.contains("13:00"), "{}", e.detail);
        assert_eq!(c.finish_batch().unwrap().num_rows(), 1);
        assert!(!reads_time_of_day("%Y-%m-%d") && !reads_time_of_day("%d/%m/%Y"));
        assert!(reads_time_of_day("%Y-%m-%dT%H:%M:%S") && reads_time_of_day("%F %T"));
    }

    #[test]
    fn a_sales_pipeline_that_maps_ts_keeps_the_hour_and_keys_by_it() {
        let text = r#"
name = "s"
dataset = "sales"
[source]
type = "files"
url = "file://x"
[columns]
date = { from = "sold_at", format = "%Y-%m-%d %H:%M" }
ts = { from = "sold_at", format = "%Y-%m-%d %H:%M" }
"#;
        let s = spec(text);
        assert_eq!(s.dedup_columns(), ["ts", "item_id", "store_id"]);
        let mut c = Converter::new(&s);
        for at in ["2024-03-01 09:00", "2024-03-01 13:20"] {
            let r = row(
                &c,
                &[
                    ("sold_at", at),
                    ("item_id", "i1"),
                    ("store_id", "s1"),
                    ("quantity", "2"),
                ],
            );
            c.push(&r).unwrap();
        }
        let b = c.finish_batch().unwrap();
        let ts = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let dates = b
            .column_by_name("date")
            .unwrap()
            .as_primitive::<Date32Type>();
        assert_eq!(
            ts.value_as_datetime(1).unwrap().to_string(),
            "2024-03-01 13:20:00"
        );
        assert_eq!(dates.value_as_date(0), dates.value_as_date(1));
        // Keying such rows by day alone would collapse the hours: refused, naming the key.
        let by_day = text.replace(
            "[source]",
            "dedup_key = [\"date\", \"item_id\", \"store_id\"]\n[source]",
        );
        let e = PipelineSpec::parse(std::path::Path::new("p.toml"), &by_day).unwrap_err();
        assert!(e.to_string().contains("dedup_key"), "{e}");
    }

    #[test]
    fn naive_local_times_use_the_declared_zone() {
        let s = spec(
            r#"
name = "u"
dataset = "users"
[source]
type = "files"
url = "file://x"
[columns]
created_at = { from = "t", format = "%Y-%m-%d %H:%M:%S", timezone = "Europe/Berlin" }
"#,
        );
        let mut c = Converter::new(&s);
        let r = row(&c, &[("user_id", "u"), ("t", "2024-07-01 12:00:00")]);
        c.push(&r).unwrap();
        let b = c.finish_batch().unwrap();
        let ts = b
            .column_by_name("created_at")
            .unwrap()
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        // CEST is UTC+2 in July.
        assert_eq!(
            ts.value(0),
            Utc.with_ymd_and_hms(2024, 7, 1, 10, 0, 0)
                .unwrap()
                .timestamp_micros()
        );
        // 02:30 on the spring-forward night does not exist in Berlin.
        let r = row(&c, &[("user_id", "u"), ("t", "2024-03-31 02:30:00")]);
        assert_eq!(c.push(&r).unwrap_err().reason, reason::INVALID_TIMESTAMP);
    }

    #[test]
    fn fast_timestamps_agree_with_chrono() {
        let samples = [
            "2024-03-01T12:00:00+01:00",
            "2024-02-29T23:59:59Z",
            "1999-12-31t00:00:00.5z",
            "2024-07-01 10:20:30.123456-05:30",
            "1969-07-20T20:17:40Z",
            "2100-02-28T00:00:00.000001+14:00",
            "2023-11-05T01:30:00.1234567-07:00",
        ];
        for text in samples {
            let chrono = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .timestamp_micros();
            assert_eq!(fast_rfc3339(text), Some(chrono), "{text}");
        }
        let mut state = 0x1234_5678_9abc_def1_u64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let micros = (state % 4_000_000_000_000_000) as i64 - 1_000_000_000_000_000;
            let t = DateTime::<Utc>::from_timestamp_micros(micros).unwrap();
            let text = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            assert_eq!(fast_rfc3339(&text), Some(micros), "{text}");
        }
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
        ] {
            assert_eq!(fast_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn date_days_round_trip() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(days_to_date(date_to_days(d)), d);
        assert_eq!(
            date_to_days(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()),
            1
        );
    }
}
