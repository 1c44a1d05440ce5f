//! Feature-view definitions (`pipelines/features.toml`, or `*.toml` files in
//! `pipelines/features/`): an entity, a source dataset, windowed aggregations with filters, a
//! TTL and an optional schedule.
//!
//! A definition is identified by a fingerprint of the parts that change values (entity,
//! source, TTL, filters, features); descriptions and the schedule do not count, so editing
//! them does not orphan materialized data. Every distinct fingerprint becomes a new version
//! (see `catalog`), and old versions stay readable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::etl::spec::SpecError;

/// Longest window or TTL a definition may ask for: bounds how far back materialization reads.
pub const MAX_DAYS: u32 = 3_650;

/// What a view's rows are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    User,
    Item,
    ItemStore,
}

impl Entity {
    /// The key columns, in the order they form the entity id (joined by `:`).
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Entity::User => &["user_id"],
            Entity::Item => &["item_id"],
            Entity::ItemStore => &["item_id", "store_id"],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Entity::User => "user",
            Entity::Item => "item",
            Entity::ItemStore => "item_store",
        }
    }
}

/// The datasets a view can aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Interactions,
    Sales,
}

impl Source {
    pub fn dataset(self) -> &'static str {
        match self {
            Source::Interactions => "interactions",
            Source::Sales => "sales",
        }
    }

    /// Numeric columns (booleans read as 0/1).
    pub fn numeric_columns(self) -> &'static [&'static str] {
        match self {
            Source::Interactions => &["value"],
            Source::Sales => &["quantity", "revenue", "price", "on_promo"],
        }
    }

    /// Text columns (usable in filters, `last` and `distinct_count`).
    pub fn text_columns(self) -> &'static [&'static str] {
        match self {
            Source::Interactions => &[
                "user_id",
                "item_id",
                "event_type",
                "session_id",
                "recommendation_id",
            ],
            Source::Sales => &["item_id", "store_id"],
        }
    }

    fn has_keys(self, entity: Entity) -> bool {
        entity
            .keys()
            .iter()
            .all(|k| self.text_columns().contains(k))
    }
}

/// How a feature aggregates the rows of its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    /// Sample standard deviation (volatility).
    Stddev,
    /// Value of the latest row (ties: the last row read).
    Last,
    DistinctCount,
    /// Days between the latest row and the as-of instant.
    DaysSinceLast,
    /// `numerator / denominator` of two other features of the view (null when 0).
    Ratio,
}

impl Agg {
    fn needs_window(self) -> bool {
        matches!(
            self,
            Agg::Count
                | Agg::Sum
                | Agg::Mean
                | Agg::Min
                | Agg::Max
                | Agg::Stddev
                | Agg::DistinctCount
        )
    }
}

/// One feature of a view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub agg: Agg,
    /// Input column (numeric for sum/mean/min/max/stddev; any for last/distinct_count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Window in days ending at the as-of instant; `last` and `days_since_last` look back
    /// as far as the TTL when it is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_days: Option<u32>,
    /// Only rows whose text column holds one of the values count, e.g.
    /// `filter = { event_type = ["purchase"] }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<String>,
}

impl FeatureSpec {
    /// Whether values are text (a `last` over a text column) rather than numbers.
    pub fn is_text(&self, source: Source) -> bool {
        self.agg == Agg::Last
            && self
                .column
                .as_deref()
                .is_some_and(|c| source.text_columns().contains(&c))
    }
}

/// One feature view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub entity: Entity,
    pub source: Source,
    /// Values whose entity's latest source row is older than this are null.
    pub ttl_days: f64,
    /// Cron expression (seconds first) for the `materialize_features` job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Rows outside this filter do not exist for the view (features may narrow it further).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter: BTreeMap<String, Vec<String>>,
    pub features: Vec<FeatureSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureFile {
    #[serde(default)]
    view: Vec<ViewSpec>,
}

fn err(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError {
        file: file.display().to_string(),
        key: key.into(),
        reason: reason.into(),
    }
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 64
        && !s.contains("__")
}

impl ViewSpec {
    /// The fingerprint that identifies the version: SHA-256 over the value-changing parts.
    pub fn fingerprint(&self) -> String {
        let mut canonical = self.clone();
        canonical.description.clear();
        canonical.schedule = None;
        for f in &mut canonical.features {
            f.description.clear();
        }
        let json = serde_json::to_string(&canonical).expect("a view serializes");
        hex::encode(&Sha256::digest(json.as_bytes())[..16])
    }

    /// How many days of source data before the first as-of day materialization needs.
    pub fn lookback_days(&self) -> u32 {
        let ttl = self.ttl_days.ceil() as u32;
        self.features
            .iter()
            .filter_map(|f| f.window_days)
            .chain(std::iter::once(ttl))
            .max()
            .unwrap_or(ttl)
    }

    /// TTL in microseconds.
    pub fn ttl_micros(&self) -> i64 {
        (self.ttl_days * 86_400_000_000.0).round() as i64
    }

    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// Checks everything serde cannot: names, columns per source, windows, filters, ratios.
    pub fn check(&self, file: &Path, at: &str) -> Result<(), SpecError> {
        if !valid_name(&self.name) {
            return Err(err(
                file,
                format!("{at}.name"),
                format!(
                    "`{}` must match [a-z][a-z0-9_]* (at most 64 characters, no `__`)",
                    self.name
                ),
            ));
        }
        if !self.source.has_keys(self.entity) {
            return Err(err(
                file,
                format!("{at}.entity"),
                format!(
                    "entity `{}` needs columns {:?}, which `{}` does not have",
                    self.entity.as_str(),
                    self.entity.keys(),
                    self.source.dataset()
                ),
            ));
        }
        if !(self.ttl_days.is_finite() && self.ttl_days > 0.0 && self.ttl_days <= MAX_DAYS as f64) {
            return Err(err(
                file,
                format!("{at}.ttl_days"),
                format!("must be greater than 0 and at most {MAX_DAYS}"),
            ));
        }
        if let Some(cron) = &self.schedule
            && let Err(e) = cron.parse::<cron::Schedule>()
        {
            return Err(err(
                file,
                format!("{at}.schedule"),
                format!("bad cron: {e}"),
            ));
        }
        self.check_filter(&self.filter, file, &format!("{at}.filter"))?;
        if self.features.is_empty() {
            return Err(err(file, format!("{at}.features"), "a view needs features"));
        }
        for (i, f) in self.features.iter().enumerate() {
            let fat = format!("{at}.features[{i}]");
            if !valid_name(&f.name) {
                return Err(err(
                    file,
                    format!("{fat}.name"),
                    format!("`{}` must match [a-z][a-z0-9_]*", f.name),
                ));
            }
            if self.features[..i].iter().any(|g| g.name == f.name) {
                return Err(err(
                    file,
                    format!("{fat}.name"),
                    format!("feature `{}` is defined twice", f.name),
                ));
            }
            self.check_feature(f, file, &fat)?;
        }
        Ok(())
    }

    fn check_filter(
        &self,
        filter: &BTreeMap<String, Vec<String>>,
        file: &Path,
        at: &str,
    ) -> Result<(), SpecError> {
        for (col, values) in filter {
            if !self.source.text_columns().contains(&col.as_str()) {
                return Err(err(
                    file,
                    format!("{at}.{col}"),
                    format!(
                        "filters take text columns of `{}`: {:?}",
                        self.source.dataset(),
                        self.source.text_columns()
                    ),
                ));
            }
            if values.is_empty() {
                return Err(err(file, format!("{at}.{col}"), "needs at least one value"));
            }
        }
        Ok(())
    }

    fn check_feature(&self, f: &FeatureSpec, file: &Path, at: &str) -> Result<(), SpecError> {
        self.check_filter(&f.filter, file, &format!("{at}.filter"))?;
        if let Some(w) = f.window_days
            && !(1..=MAX_DAYS).contains(&w)
        {
            return Err(err(
                file,
                format!("{at}.window_days"),
                format!("must be between 1 and {MAX_DAYS}"),
            ));
        }
        if f.agg.needs_window() && f.window_days.is_none() {
            return Err(err(
                file,
                format!("{at}.window_days"),
                format!("`{:?}` needs a window", f.agg).to_lowercase(),
            ));
        }
        let numeric = self.source.numeric_columns();
        let text = self.source.text_columns();
        let column = f.column.as_deref();
        let column_rule: Option<String> = match f.agg {
            Agg::Count | Agg::DaysSinceLast | Agg::Ratio => {
                column.map(|_| "takes no column".to_string())
            }
            Agg::Sum | Agg::Mean | Agg::Min | Agg::Max | Agg::Stddev => match column {
                Some(c) if numeric.contains(&c) => None,
                _ => Some(format!(
                    "needs a numeric column of `{}`: {numeric:?}",
                    self.source.dataset()
                )),
            },
            Agg::Last | Agg::DistinctCount => match column {
                Some(c) if numeric.contains(&c) || text.contains(&c) => None,
                _ => Some(format!(
                    "needs a column of `{}`: {:?}",
                    self.source.dataset(),
                    numeric.iter().chain(text).collect::<Vec<_>>()
                )),
            },
        };
        if let Some(reason) = column_rule {
            return Err(err(file, format!("{at}.column"), reason));
        }
        if f.agg == Agg::Ratio {
            for (key, name) in [("numerator", &f.numerator), ("denominator", &f.denominator)] {
                let Some(name) = name else {
                    return Err(err(file, format!("{at}.{key}"), "a ratio needs it"));
                };
                match self.features.iter().find(|g| &g.name == name) {
                    Some(g) if g.agg != Agg::Ratio && !g.is_text(self.source) => {}
                    _ => {
                        return Err(err(
                            file,
                            format!("{at}.{key}"),
                            format!("`{name}` must be a numeric, non-ratio feature of this view"),
                        ));
                    }
                }
            }
        } else if f.numerator.is_some() || f.denominator.is_some() {
            return Err(err(
                file,
                format!("{at}.numerator"),
                "only ratios take a numerator and denominator",
            ));
        }
        Ok(())
    }
}

/// Parses one definitions file.
pub fn parse(file: &Path, text: &str) -> Result<Vec<ViewSpec>, SpecError> {
    let parsed: FeatureFile = crate::etl::spec::deserialize_toml(file, text)?;
    for (i, v) in parsed.view.iter().enumerate() {
        v.check(file, &format!("view[{i}]"))?;
    }
    Ok(parsed.view)
}

/// Where definitions live under a pipelines directory.
pub fn definition_files(pipelines_dir: &Path) -> Result<Vec<PathBuf>, SpecError> {
    let mut files = Vec::new();
    let single = pipelines_dir.join("features.toml");
    if single.is_file() {
        files.push(single);
    }
    let dir = pipelines_dir.join("features");
    if dir.is_dir() {
        let entries = std::fs::read_dir(&dir).map_err(|e| err(&dir, "(dir)", e.to_string()))?;
        let mut more: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        more.sort();
        files.extend(more);
    }
    Ok(files)
}

/// Every view defined under a pipelines directory (none is fine). Names must be unique.
pub fn load_dir(pipelines_dir: &Path) -> Result<Vec<ViewSpec>, SpecError> {
    let mut views: Vec<ViewSpec> = Vec::new();
    for file in definition_files(pipelines_dir)? {
        let text =
            std::fs::read_to_string(&file).map_err(|e| err(&file, "(file)", e.to_string()))?;
        for v in parse(&file, &text)? {
            if views.iter().any(|w| w.name == v.name) {
                return Err(err(
                    &file,
                    "view.name",
                    format!("view `{}` is defined twice", v.name),
                ));
            }
            views.push(v);
        }
    }
    Ok(views)
}

/// The cron schedules the views declare, as scheduler entries (`features:<view>` running
/// `materialize_features` for that view).
pub fn schedules(views: &[ViewSpec]) -> Vec<crate::config::ScheduleSpec> {
    views
        .iter()
        .filter_map(|v| {
            v.schedule.as_ref().map(|cron| crate::config::ScheduleSpec {
                name: format!("features:{}", v.name),
                cron: cron.clone(),
                kind: "materialize_features".into(),
                payload: serde_json::json!({ "views": [v.name] }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Vec<ViewSpec>, SpecError> {
        parse(Path::new("features.toml"), text)
    }

    const GOOD: &str = r#"
[[view]]
name = "user_activity"
entity = "user"
source = "interactions"
ttl_days = 30
[[view.features]]
name = "events_7d"
agg = "count"
window_days = 7
[[view.features]]
name = "purchases_30d"
agg = "count"
window_days = 30
filter = { event_type = ["purchase"] }
[[view.features]]
name = "conv"
agg = "ratio"
numerator = "purchases_30d"
denominator = "events_7d"
"#;

    #[test]
    fn parses_and_fingerprints_ignore_descriptions() {
        let views = parse_str(GOOD).unwrap();
        assert_eq!(views.len(), 1);
        let mut edited = views[0].clone();
        edited.description = "now documented".into();
        edited.schedule = Some("0 0 3 * * *".into());
        assert_eq!(edited.fingerprint(), views[0].fingerprint());
        edited.features[0].window_days = Some(8);
        assert_ne!(edited.fingerprint(), views[0].fingerprint());
        assert_eq!(views[0].lookback_days(), 30);
    }

    #[test]
    fn errors_name_file_key_and_line() {
        let e = parse_str(&GOOD.replace(
            "agg = \"count\"\nwindow_days = 7",
            "agg = \"cnt\"\nwindow_days = 7",
        ))
        .unwrap_err();
        assert_eq!(e.file, "features.toml");
        assert!(e.key.contains("features"), "{e}");
        assert!(e.reason.contains("line 9"), "{e}");
        let e = parse_str(&GOOD.replace("event_type = [", "price = [")).unwrap_err();
        assert!(e.key.ends_with("filter.price"), "{e}");
        let e = parse_str(&GOOD.replace("denominator = \"events_7d\"", "denominator = \"nope\""))
            .unwrap_err();
        assert!(e.key.ends_with("denominator"), "{e}");
        let e =
            parse_str(&GOOD.replace("entity = \"user\"", "entity = \"item_store\"")).unwrap_err();
        assert!(e.key.ends_with("entity"), "{e}");
        let e = parse_str(&GOOD.replace("window_days = 30\n", "")).unwrap_err();
        assert!(e.key.ends_with("window_days"), "{e}");
    }

    #[test]
    fn shipped_schedules_enqueue_a_registered_job_kind() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let views = load_dir(&dir).unwrap();
        let schedules = schedules(&views);
        assert_eq!(schedules.len(), views.len());
        assert!(schedules.iter().all(|s| s.kind == "materialize_features"));
        // That the kind is registered is checked where kinds are wired (`service`).
    }

    #[test]
    fn shipped_definitions_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let views = load_dir(&dir).unwrap();
        for name in [
            "user_activity",
            "item_popularity",
            "item_store_sales",
            "item_store_price",
        ] {
            assert!(views.iter().any(|v| v.name == name), "{name}");
        }
    }
}
