//! Pipeline definitions (`pipelines/*.toml`): where data comes from, how its columns map onto
//! a canonical dataset, what makes a row invalid, and when the pipeline runs.
//!
//! Definitions are parsed strictly (unknown keys are errors) and checked against the dataset's
//! schema at load, so a typo is reported with the file, the key and the reason when the
//! service starts, not as a silently empty column weeks later.
//!
//! ```toml
//! name = "interactions"
//! dataset = "interactions"
//! schedule = "0 */10 * * * *"          # cron with seconds; optional
//! dedup_key = ["event_id"]             # optional; the dataset's natural key by default
//! conflicts = "quarantine"             # a repeated key with other values: quarantine | drop
//!
//! [source]
//! type = "files"                       # files | sql | events | nats
//! url = "file://data/landing/interactions"
//! pattern = "*.csv*"                   # file-name glob; optional
//! format = "csv"                       # csv | ndjson | parquet; by extension when omitted
//!
//! [columns]
//! event_id = { from = "id" }
//! ts = { from = "timestamp", format = "rfc3339", not_in_future = true }
//! event_type = { from = "type", map = { "add-to-cart" = "add_to_cart" } }
//! value = { from = "value", min = 0 }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::schema::{ColumnType, Dataset};

/// A definition that cannot be used, naming the file, the key and the reason.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{file}: `{key}`: {reason}")]
pub struct SpecError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub dataset: Dataset,
    /// Cron expression (seconds field first); without one the pipeline runs on demand only.
    pub schedule: Option<String>,
    /// Columns identifying a row; duplicates are dropped within a run and against the lake.
    pub dedup_key: Option<Vec<String>>,
    /// What a row whose key repeats with other values is: quarantined (the default) or, with
    /// `drop`, a duplicate like any other (see [`super::dedup`]).
    #[serde(default)]
    pub conflicts: Conflicts,
    pub source: SourceSpec,
    /// Canonical column → how to fill it. Columns not listed are taken from a source column
    /// of the same name when there is one.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnSpec>,
    /// Where the definition came from (set by the loader).
    #[serde(skip)]
    pub file: PathBuf,
    /// The deployment's `plausible_since` (set by `etl::pipelines`): times before it are
    /// refused as `out_of_range`.
    #[serde(skip)]
    pub plausible_since: Option<chrono::NaiveDate>,
}

/// What becomes of a row whose dedup key was seen with other values in its other columns.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Conflicts {
    /// Quarantined as `conflicting_duplicate`, naming its key; the first row of the key lands.
    #[default]
    Quarantine,
    /// Dropped as a duplicate: the key alone decides (the other columns are not compared).
    Drop,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceSpec {
    /// Files under a landing prefix, taken incrementally (a ledger remembers landed files).
    Files {
        /// `file://DIR` (relative to the working directory) or `s3://bucket/prefix`.
        url: String,
        /// Glob on the file name (`*.csv.gz`); every file when omitted.
        pattern: Option<String>,
        /// Format when the extension does not tell.
        format: Option<FileFormat>,
        /// CSV field delimiter (one character, default `,`).
        delimiter: Option<String>,
        /// Largest number of new files one run takes (the rest wait for the next run).
        max_files_per_run: Option<usize>,
    },
    /// Rows of a SQL table or query, taken incrementally by a watermark column.
    Sql {
        /// `postgres://...` or `sqlite://...`; `${VAR}` is replaced from the environment.
        url: String,
        /// A table name, or
        table: Option<String>,
        /// a query (one of the two).
        query: Option<String>,
        /// Monotonic column (updated_at, id): each run takes rows above the last value seen.
        watermark: String,
    },
    /// The `POST /v1/events` buffer (interactions only).
    Events {
        /// Flush when this many events are waiting (default 5000).
        flush_rows: Option<usize>,
    },
    /// A NATS JetStream stream read by a durable pull consumer; each message is one JSON
    /// object (a row of the dataset, through the pipeline's column rules).
    Nats {
        /// `nats://host:port`; `${VAR}` is replaced from the environment.
        url: String,
        /// The JetStream stream.
        stream: String,
        /// Subjects the stream is created with when it does not exist; when omitted, the
        /// stream must exist.
        subjects: Option<Vec<String>>,
        /// Only messages on this subject (a filter within the stream).
        filter_subject: Option<String>,
        /// Durable consumer name (default `recast-<pipeline>`); replicas share it, so each
        /// message goes to one of them.
        consumer: Option<String>,
        /// Messages per batch, one lake commit each (default 1000).
        batch_rows: Option<usize>,
        /// Longest wait for a batch to fill, in ms (default 1000).
        max_wait_ms: Option<u64>,
        /// Seconds an unacknowledged message waits before it is delivered again (default 30).
        ack_wait_seconds: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Ndjson,
    Parquet,
}

/// How one canonical column is filled and checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Source column (default: the canonical name).
    pub from: Option<String>,
    /// A constant instead of a source column.
    pub value: Option<String>,
    /// Used when the source value is missing or empty.
    pub default: Option<String>,
    /// Timestamps: `rfc3339` (default), `epoch_s`, `epoch_ms`, or a chrono format string.
    /// Dates: `%Y-%m-%d` by default, or a chrono format string.
    pub format: Option<String>,
    /// Zone for timestamps without an offset (IANA name like `Europe/Berlin`, or `UTC`).
    pub timezone: Option<String>,
    /// Decimal separator for numbers (`.` default, or `,`).
    pub decimal: Option<String>,
    /// Separator of list values (tags), default `|`.
    pub separator: Option<String>,
    /// Source value → canonical value (e.g. `"add-to-cart" = "add_to_cart"`).
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// Make an optional canonical column required.
    #[serde(default)]
    pub required: bool,
    /// Numbers: inclusive bounds.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Text: the only values accepted (after `map`).
    pub allowed: Option<Vec<String>>,
    /// Timestamps and dates: reject values later than now (plus a 5 minute clock skew).
    #[serde(default)]
    pub not_in_future: bool,
}

fn err(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError {
        file: file.display().to_string(),
        key: key.into(),
        reason: reason.into(),
    }
}

/// Deserializes a definition file strictly; errors name the file, the key path and the line.
/// Shared by every definition format under `pipelines/`.
pub fn deserialize_toml<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, SpecError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let mut reason = inner.message().to_string();
        if let Some(span) = inner.span() {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            reason = format!("{reason} (line {line})");
        }
        err(file, if key == "." { "(file)".into() } else { key }, reason)
    })
}

impl PipelineSpec {
    /// Parses and checks one definition.
    pub fn parse(file: &Path, text: &str) -> Result<PipelineSpec, SpecError> {
        let mut spec: PipelineSpec = deserialize_toml(file, text)?;
        spec.file = file.to_path_buf();
        spec.check()?;
        Ok(spec)
    }

    /// Reads one file.
    pub fn load(file: &Path) -> Result<PipelineSpec, SpecError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| err(file, "(file)", format!("cannot read: {e}")))?;
        Self::parse(file, &text)
    }

    /// Whether a sales pipeline keeps the time of each sale (maps `ts`): its rows are then
    /// keyed by that time, and its `date` may carry a time of day.
    pub fn keeps_sale_time(&self) -> bool {
        self.dataset == Dataset::Sales && self.columns.contains_key("ts")
    }

    /// The dedup key in effect.
    pub fn dedup_columns(&self) -> Vec<String> {
        match &self.dedup_key {
            Some(k) => k.clone(),
            None if self.keeps_sale_time() => {
                ["ts", "item_id", "store_id"].map(str::to_string).to_vec()
            }
            None => self
                .dataset
                .default_dedup_key()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    fn check(&self) -> Result<(), SpecError> {
        let f = &self.file;
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(err(
                f,
                "name",
                "must be lowercase letters, digits, `-` or `_`",
            ));
        }
        if let Some(cron) = &self.schedule {
            crate::cron_expr::parse(cron).map_err(|r| err(f, "schedule", r))?;
        }
        for k in self.dedup_columns() {
            if self.dataset.column(&k).is_none() {
                return Err(err(
                    f,
                    "dedup_key",
                    format!("`{k}` is not a column of `{}`", self.dataset),
                ));
            }
        }
        if self.dedup_columns().is_empty() {
            return Err(err(f, "dedup_key", "needs at least one column"));
        }
        let key = self.dedup_columns();
        if self.keeps_sale_time()
            && key.iter().any(|k| k == "date")
            && !key.iter().any(|k| k == "ts")
        {
            return Err(err(
                f,
                "dedup_key",
                "keys sales by `date` but not `ts`: sales of one item and store in different \
                 hours of a day would be taken for duplicates; add `ts`",
            ));
        }
        self.check_source()?;
        for (name, c) in &self.columns {
            let key = format!("columns.{name}");
            let Some(column) = self.dataset.column(name) else {
                return Err(err(
                    f,
                    key,
                    format!("`{}` has no column `{name}`", self.dataset),
                ));
            };
            if c.from.is_some() && c.value.is_some() {
                return Err(err(f, key, "give `from` or `value`, not both"));
            }
            let numeric = column.ty == ColumnType::Float;
            if (c.min.is_some() || c.max.is_some()) && !numeric {
                return Err(err(f, key, "`min`/`max` apply to number columns only"));
            }
            if let (Some(lo), Some(hi)) = (c.min, c.max)
                && lo > hi
            {
                return Err(err(f, key, "`min` is greater than `max`"));
            }
            let temporal = matches!(column.ty, ColumnType::Timestamp | ColumnType::Date);
            if c.not_in_future && !temporal {
                return Err(err(
                    f,
                    key,
                    "`not_in_future` applies to dates and timestamps",
                ));
            }
            if c.timezone.is_some() && column.ty != ColumnType::Timestamp {
                return Err(err(f, key, "`timezone` applies to timestamps only"));
            }
            if let Some(tz) = &c.timezone {
                tz.parse::<chrono_tz::Tz>().map_err(|_| {
                    err(f, format!("{key}.timezone"), format!("unknown zone `{tz}`"))
                })?;
            }
            if let Some(d) = &c.decimal
                && d != "."
                && d != ","
            {
                return Err(err(f, format!("{key}.decimal"), "must be `.` or `,`"));
            }
            if let Some(allowed) = &c.allowed {
                if column.ty != ColumnType::Text {
                    return Err(err(f, key, "`allowed` applies to text columns only"));
                }
                if let Some(canonical) = column.allowed
                    && let Some(bad) = allowed.iter().find(|v| !canonical.contains(&v.as_str()))
                {
                    return Err(err(
                        f,
                        format!("{key}.allowed"),
                        format!("`{bad}` is not a valid `{name}` ({})", canonical.join(", ")),
                    ));
                }
            }
            if let Some(canonical) = column.allowed
                && let Some((_, bad)) = c.map.iter().find(|(_, v)| !canonical.contains(&v.as_str()))
            {
                return Err(err(
                    f,
                    format!("{key}.map"),
                    format!(
                        "maps to `{bad}`, not a valid `{name}` ({})",
                        canonical.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_source(&self) -> Result<(), SpecError> {
        let f = &self.file;
        match &self.source {
            SourceSpec::Files {
                url,
                pattern,
                delimiter,
                max_files_per_run,
                ..
            } => {
                if !(url.starts_with("file://") || url.starts_with("s3://")) {
                    return Err(err(
                        f,
                        "source.url",
                        "expected file://DIR or s3://BUCKET/PREFIX",
                    ));
                }
                if let Some(p) = pattern {
                    globset::Glob::new(p).map_err(|e| err(f, "source.pattern", e.to_string()))?;
                }
                if let Some(d) = delimiter
                    && d.len() != 1
                {
                    return Err(err(f, "source.delimiter", "must be one ASCII character"));
                }
                if *max_files_per_run == Some(0) {
                    return Err(err(f, "source.max_files_per_run", "must be positive"));
                }
            }
            SourceSpec::Sql {
                url,
                table,
                query,
                watermark,
            } => {
                if !(url.starts_with("postgres")
                    || url.starts_with("sqlite:")
                    || url.contains("${"))
                {
                    return Err(err(
                        f,
                        "source.url",
                        "expected postgres://... or sqlite://...",
                    ));
                }
                match (table, query) {
                    (Some(_), None) | (None, Some(_)) => {}
                    _ => {
                        return Err(err(f, "source", "give exactly one of `table` or `query`"));
                    }
                }
                if let Some(t) = table
                    && !t
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                {
                    return Err(err(
                        f,
                        "source.table",
                        "must be a plain (schema.)table name",
                    ));
                }
                if watermark.is_empty()
                    || !watermark
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(err(f, "source.watermark", "must be a plain column name"));
                }
            }
            SourceSpec::Nats {
                url,
                stream,
                consumer,
                batch_rows,
                max_wait_ms,
                ack_wait_seconds,
                ..
            } => check_nats(
                f,
                url,
                stream,
                consumer.as_deref(),
                [
                    *batch_rows,
                    max_wait_ms.map(|v| v as usize),
                    ack_wait_seconds.map(|v| v as usize),
                ],
            )?,
            SourceSpec::Events { flush_rows } => {
                if self.dataset != Dataset::Interactions {
                    return Err(err(
                        f,
                        "source.type",
                        "events feed the `interactions` dataset only",
                    ));
                }
                if *flush_rows == Some(0) {
                    return Err(err(f, "source.flush_rows", "must be positive"));
                }
            }
        }
        Ok(())
    }
}

/// Names JetStream accepts for streams and consumers; positive sizes and times.
fn check_nats(
    f: &Path,
    url: &str,
    stream: &str,
    consumer: Option<&str>,
    positive: [Option<usize>; 3],
) -> Result<(), SpecError> {
    if !(url.starts_with("nats://") || url.starts_with("tls://") || url.contains("${")) {
        return Err(err(f, "source.url", "expected nats://HOST:PORT"));
    }
    let plain = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !plain(stream) {
        return Err(err(f, "source.stream", "letters, digits, `_` and `-` only"));
    }
    if let Some(c) = consumer
        && !plain(c)
    {
        return Err(err(
            f,
            "source.consumer",
            "letters, digits, `_` and `-` only",
        ));
    }
    for (value, key) in positive.iter().zip([
        "source.batch_rows",
        "source.max_wait_ms",
        "source.ack_wait_seconds",
    ]) {
        if *value == Some(0) {
            return Err(err(f, key, "must be positive"));
        }
    }
    Ok(())
}

/// All definitions in a directory (`*.toml`, sorted by file name). Names must be unique.
pub fn load_dir(dir: &Path) -> Result<Vec<PipelineSpec>, SpecError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(dir, "(dir)", format!("cannot read: {e}"))),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut specs: Vec<PipelineSpec> = Vec::new();
    for file in files {
        // Feature-view definitions share the directory; they are not pipelines.
        if file.file_name().is_some_and(|n| n == "features.toml") {
            continue;
        }
        let spec = PipelineSpec::load(&file)?;
        if let Some(other) = specs.iter().find(|s| s.name == spec.name) {
            return Err(err(
                &file,
                "name",
                format!(
                    "`{}` is already defined in {}",
                    spec.name,
                    other.file.display()
                ),
            ));
        }
        specs.push(spec);
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PipelineSpec, SpecError> {
        PipelineSpec::parse(Path::new("p.toml"), text)
    }

    const GOOD: &str = r#"
name = "clicks"
dataset = "interactions"
schedule = "0 */5 * * * *"
[source]
type = "files"
url = "file://landing/clicks"
pattern = "*.csv"
[columns]
event_id = { from = "id" }
ts = { from = "when", format = "epoch_ms", not_in_future = true }
event_type = { from = "kind", map = { "buy" = "purchase" } }
value = { min = 0, max = 5 }
"#;

    #[test]
    fn a_good_definition_parses() {
        let spec = parse(GOOD).unwrap();
        assert_eq!(spec.dataset, Dataset::Interactions);
        assert_eq!(spec.dedup_columns(), vec!["event_id"]);
        assert_eq!(spec.columns["ts"].format.as_deref(), Some("epoch_ms"));
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let e = parse(&GOOD.replace("pattern", "patern")).unwrap_err();
        assert_eq!(e.file, "p.toml");
        assert!(e.reason.contains("patern"), "{e}");
        assert!(e.reason.contains("line"), "{e}");

        let e = parse(&GOOD.replace("\"interactions\"", "\"orders\"")).unwrap_err();
        assert_eq!(e.key, "dataset");

        let e = parse(&GOOD.replace("value = { min", "valu = { min")).unwrap_err();
        assert_eq!(e.key, "columns.valu");

        let e = parse(&GOOD.replace("\"buy\" = \"purchase\"", "\"buy\" = \"bought\"")).unwrap_err();
        assert_eq!(e.key, "columns.event_type.map");

        let e = parse(&GOOD.replace("0 */5 * * * *", "often")).unwrap_err();
        assert_eq!(e.key, "schedule");

        let e = parse(&GOOD.replace("min = 0, max = 5", "min = 5, max = 0")).unwrap_err();
        assert_eq!(e.key, "columns.value");

        let e = parse(&format!(
            "{GOOD}\n[columns.session_id]\ntimezone = \"Mars/Base\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key, "columns.session_id");
    }

    #[test]
    fn shipped_pipelines_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let specs = load_dir(&dir).unwrap();
        for d in Dataset::ALL {
            assert!(specs.iter().any(|s| s.dataset == d), "a pipeline for {d}");
        }
        let example = dir.join("examples/nats-events.toml");
        let nats = PipelineSpec::load(&example).unwrap();
        assert!(matches!(nats.source, SourceSpec::Nats { .. }));
        let hourly = PipelineSpec::load(&dir.join("examples/sales-hourly.toml")).unwrap();
        assert!(hourly.keeps_sale_time());
    }

    #[test]
    fn nats_sources_are_checked() {
        let base = "name = \"s\"\ndataset = \"interactions\"\n[source]\ntype = \"nats\"\n";
        for (source, key) in [
            ("url = \"http://x\"\nstream = \"S\"", "source.url"),
            ("url = \"nats://x:4222\"\nstream = \"a.b\"", "source.stream"),
            (
                "url = \"nats://x:4222\"\nstream = \"S\"\nbatch_rows = 0",
                "source.batch_rows",
            ),
        ] {
            let e =
                PipelineSpec::parse(Path::new("s.toml"), &format!("{base}{source}\n")).unwrap_err();
            assert_eq!(e.key, key, "{source}");
        }
    }
}
