//! Effective settings: built-in defaults < `recast.toml` < `RECAST_*` environment < CLI flags.
//!
//! The defaults are the embedded deployment (SQLite file and a local lake below the working
//! directory), so `recast serve` works with no file at all. Every layer is validated once at
//! start-up and a bad value is reported with the key (or variable) that carried it, because a
//! service that starts with a half-understood configuration fails later, and further from the
//! cause.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A configuration problem, always naming the key (or environment variable) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    fn invalid(key: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the HTTP API binds to.
    pub listen: String,
    /// `sqlite://path` (created if missing) or `postgres://...`.
    pub database_url: String,
    /// `file://dir`, `s3://bucket/prefix` or `memory://`.
    pub lake_url: String,
    pub log_format: LogFormat,
    /// `tracing` filter directive, e.g. `info` or `recast=debug,info`.
    pub log_level: String,
    /// Largest JSON request body accepted, in bytes (larger ones get 413).
    pub max_body_bytes: usize,
    /// Directory holding the pipeline definitions.
    pub pipelines_dir: String,
    /// Requests one API key may have in flight in this process; more get 429 with
    /// `Retry-After`, so one busy client cannot starve the others.
    pub max_concurrent_per_key: usize,
    /// The earliest date an event, sale or other row may carry (`YYYY-MM-DD`): older times
    /// are refused by `POST /v1/events` and quarantined by the pipelines (`out_of_range`), so
    /// a year-0 timestamp cannot open a partition `dt=0000-01-01`.
    pub plausible_since: String,
    /// Origins browsers may call the API from (CORS), e.g. `https://shop.example`; `*` allows
    /// any. Empty: no CORS headers, browsers refuse cross-origin calls.
    pub cors_origins: Vec<String>,
    pub s3: S3Settings,
    pub worker: WorkerSettings,
    pub scheduler: SchedulerSettings,
    pub lake: LakeSettings,
    pub events: EventsSettings,
    pub realtime: RealtimeSettings,
}

/// Connection settings for `s3://` lakes. Unset values fall back to the standard `AWS_*`
/// environment variables, so existing deployments need no recast-specific keys.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow plain-HTTP endpoints (MinIO-style stores on a private network).
    pub allow_http: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Jobs one worker process runs at the same time.
    pub concurrency: usize,
    /// How long a lease lasts without a heartbeat before another worker may take the job.
    pub lease_seconds: u64,
    /// Pause between polls when the queue is empty.
    pub poll_interval_ms: u64,
    /// On SIGTERM, how long a running job may take to finish before it is released.
    pub shutdown_grace_seconds: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            concurrency: 1,
            lease_seconds: 30,
            poll_interval_ms: 500,
            shutdown_grace_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSettings {
    pub enabled: bool,
    /// Scheduled jobs beyond those the pipelines declare.
    pub schedules: Vec<ScheduleSpec>,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            enabled: true,
            schedules: vec![
                ScheduleSpec {
                    name: "lake-sweep".into(),
                    cron: "0 17 * * * *".into(),
                    kind: "sweep_lake".into(),
                    payload: serde_json::json!({}),
                },
                ScheduleSpec {
                    name: "lake-optimize".into(),
                    cron: "0 47 3 * * *".into(),
                    kind: "compact_dataset".into(),
                    payload: serde_json::json!({}),
                },
            ],
        }
    }
}

/// One cron schedule that turns into one job per tick.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    pub name: String,
    /// Cron expression with a seconds field: `sec min hour day-of-month month day-of-week [year]`.
    pub cron: String,
    /// Job kind to enqueue.
    pub kind: String,
    #[serde(default = "empty_object")]
    pub payload: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LakeSettings {
    /// The sweep's (`vacuum`'s) retention: files of uncommitted runs younger than this are
    /// left alone (their writer may still be working), and files a commit removed stay this
    /// long (reads of earlier table versions keep working).
    pub sweep_grace_seconds: u64,
    /// Rows per Parquet part file: a partition's buffer is written out at this size, which
    /// also bounds a writer's memory.
    pub rows_per_file: usize,
    /// Compaction (`compact_dataset`, the Delta `OPTIMIZE`) rewrites a partition's files
    /// smaller than this together.
    pub target_file_bytes: u64,
}

impl Default for LakeSettings {
    fn default() -> Self {
        LakeSettings {
            sweep_grace_seconds: 6 * 3600,
            rows_per_file: 500_000,
            target_file_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSettings {
    /// Every `serve` process flushes the `POST /v1/events` buffer into the lake this often
    /// (sooner when the events pipeline's `flush_rows` are waiting).
    pub flush_interval_seconds: u64,
}

impl Default for EventsSettings {
    fn default() -> Self {
        EventsSettings {
            flush_interval_seconds: 5,
        }
    }
}

/// The recent-activity state serving reads: every accepted event is visible to the next
/// recommendation on any replica.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RealtimeSettings {
    /// Newest events per user serving reads (and the table keeps).
    pub max_events_per_user: usize,
    /// Event types whose items are not recommended again while they are recent.
    pub exclude_event_types: Vec<String>,
    /// How long such an item stays excluded, in days.
    pub exclude_days: f64,
    /// Half-life of a fresh event's weight in the user's context, in hours.
    pub half_life_hours: f64,
    /// Days an event stays in the recent-activity state.
    pub retention_days: f64,
    /// Events a serving replica keeps in memory (its copy of the users' context, about 200
    /// bytes each); 0 reads the DB on every request instead.
    pub cache_events: usize,
    /// How often a replica reads the events other replicas wrote, in ms (the bound on how
    /// late another replica's event shows).
    pub tail_interval_ms: u64,
}

impl Default for RealtimeSettings {
    fn default() -> Self {
        RealtimeSettings {
            max_events_per_user: 100,
            exclude_event_types: vec!["purchase".into()],
            exclude_days: 30.0,
            half_life_hours: 24.0,
            retention_days: 30.0,
            cache_events: 1_000_000,
            tail_interval_ms: 100,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/recast.db".into(),
            lake_url: "file://data/lake".into(),
            log_format: LogFormat::Text,
            log_level: "info,sqlx=warn".into(),
            // A full `POST /v1/events` batch (10,000 events) with 256-character ids fits.
            max_body_bytes: 16 * 1024 * 1024,
            pipelines_dir: "pipelines".into(),
            max_concurrent_per_key: 64,
            plausible_since: "1990-01-01".into(),
            cors_origins: Vec::new(),
            s3: S3Settings::default(),
            worker: WorkerSettings::default(),
            scheduler: SchedulerSettings::default(),
            lake: LakeSettings::default(),
            events: EventsSettings::default(),
            realtime: RealtimeSettings::default(),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    /// Comma-separated.
    List,
}

/// Every setting reachable from the environment: variable, key path, value kind.
/// Listed explicitly so the README table and the error messages name real variables.
const ENV_KEYS: &[(&str, &str, Kind)] = &[
    ("RECAST_LISTEN", "listen", Kind::Str),
    ("RECAST_DATABASE_URL", "database_url", Kind::Str),
    ("RECAST_LAKE_URL", "lake_url", Kind::Str),
    ("RECAST_LOG_FORMAT", "log_format", Kind::Str),
    ("RECAST_LOG_LEVEL", "log_level", Kind::Str),
    ("RECAST_MAX_BODY_BYTES", "max_body_bytes", Kind::Int),
    ("RECAST_PIPELINES_DIR", "pipelines_dir", Kind::Str),
    (
        "RECAST_MAX_CONCURRENT_PER_KEY",
        "max_concurrent_per_key",
        Kind::Int,
    ),
    ("RECAST_CORS_ORIGINS", "cors_origins", Kind::List),
    ("RECAST_PLAUSIBLE_SINCE", "plausible_since", Kind::Str),
    ("RECAST_S3_ENDPOINT", "s3.endpoint", Kind::Str),
    ("RECAST_S3_REGION", "s3.region", Kind::Str),
    ("RECAST_S3_ACCESS_KEY_ID", "s3.access_key_id", Kind::Str),
    (
        "RECAST_S3_SECRET_ACCESS_KEY",
        "s3.secret_access_key",
        Kind::Str,
    ),
    ("RECAST_S3_ALLOW_HTTP", "s3.allow_http", Kind::Bool),
    ("RECAST_WORKER_CONCURRENCY", "worker.concurrency", Kind::Int),
    (
        "RECAST_WORKER_LEASE_SECONDS",
        "worker.lease_seconds",
        Kind::Int,
    ),
    (
        "RECAST_WORKER_POLL_INTERVAL_MS",
        "worker.poll_interval_ms",
        Kind::Int,
    ),
    (
        "RECAST_WORKER_SHUTDOWN_GRACE_SECONDS",
        "worker.shutdown_grace_seconds",
        Kind::Int,
    ),
    ("RECAST_SCHEDULER_ENABLED", "scheduler.enabled", Kind::Bool),
    (
        "RECAST_LAKE_SWEEP_GRACE_SECONDS",
        "lake.sweep_grace_seconds",
        Kind::Int,
    ),
    ("RECAST_LAKE_ROWS_PER_FILE", "lake.rows_per_file", Kind::Int),
    (
        "RECAST_LAKE_TARGET_FILE_BYTES",
        "lake.target_file_bytes",
        Kind::Int,
    ),
    (
        "RECAST_EVENTS_FLUSH_INTERVAL_SECONDS",
        "events.flush_interval_seconds",
        Kind::Int,
    ),
    (
        "RECAST_REALTIME_MAX_EVENTS_PER_USER",
        "realtime.max_events_per_user",
        Kind::Int,
    ),
    (
        "RECAST_REALTIME_CACHE_EVENTS",
        "realtime.cache_events",
        Kind::Int,
    ),
];

/// Variables that start with `RECAST_` but are not settings.
const ENV_NON_SETTINGS: &[&str] = &["RECAST_CONFIG"];

/// The environment variables that map onto settings, for documentation and `recast config`.
pub fn env_variables() -> impl Iterator<Item = (&'static str, &'static str)> {
    ENV_KEYS.iter().map(|(var, key, _)| (*var, *key))
}

/// Where settings come from; each source is optional.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// Explicit config file (`--config`); must exist when given.
    pub file: Option<PathBuf>,
    /// Environment variables (normally `std::env::vars()`).
    pub env: Vec<(String, String)>,
    /// `key.path = value` overrides from CLI flags, applied last.
    pub overrides: Vec<(String, toml::Value)>,
}

impl Sources {
    /// The process environment and `--config`/`RECAST_CONFIG`/`./recast.toml`.
    pub fn from_process(config_flag: Option<PathBuf>) -> Self {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let file = config_flag
            .or_else(|| {
                env.iter()
                    .find(|(k, _)| k == "RECAST_CONFIG")
                    .map(|(_, v)| PathBuf::from(v))
            })
            .or_else(|| {
                let default = PathBuf::from("recast.toml");
                default.exists().then_some(default)
            });
        Sources {
            file,
            env,
            overrides: Vec::new(),
        }
    }
}

impl Settings {
    /// `plausible_since` as a date.
    pub fn plausible_since_date(&self) -> Result<chrono::NaiveDate, ConfigError> {
        chrono::NaiveDate::parse_from_str(&self.plausible_since, "%Y-%m-%d").map_err(|e| {
            ConfigError::invalid(
                "plausible_since",
                format!(
                    "`{}` is not a date like 1990-01-01: {e}",
                    self.plausible_since
                ),
            )
        })
    }

    /// Builds and validates the effective settings from the layered sources.
    pub fn load(sources: &Sources) -> Result<Settings, ConfigError> {
        let mut tree =
            toml::Value::try_from(Settings::default()).expect("default settings serialize to TOML");

        if let Some(path) = &sources.file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let file_tree: toml::Value = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.clone(),
                detail: e.to_string(),
            })?;
            merge(&mut tree, file_tree);
            // Deserialize the file alone first so unknown keys are reported against the file.
            Self::from_tree(tree.clone()).map_err(|e| match e {
                ConfigError::Invalid { key, reason } => ConfigError::Parse {
                    path: path.clone(),
                    detail: format!("`{key}`: {reason}"),
                },
                other => other,
            })?;
        }

        let mut legacy_database_url = None;
        for (var, value) in &sources.env {
            if var == "DATABASE_URL" {
                legacy_database_url = Some(value.clone());
                continue;
            }
            if !var.starts_with("RECAST_") || ENV_NON_SETTINGS.contains(&var.as_str()) {
                continue;
            }
            match ENV_KEYS.iter().find(|(name, _, _)| name == var) {
                Some((_, key, kind)) => set_path(&mut tree, key, parse_env(var, value, *kind)?),
                None if var.starts_with("RECAST_TEST_") => {}
                None => tracing::warn!(variable = %var, "ignoring unknown RECAST_ variable"),
            }
        }
        // `DATABASE_URL` is the common convention; `RECAST_DATABASE_URL` wins when both are set.
        if let Some(url) = legacy_database_url
            && !sources.env.iter().any(|(k, _)| k == "RECAST_DATABASE_URL")
        {
            set_path(&mut tree, "database_url", toml::Value::String(url));
        }

        for (key, value) in &sources.overrides {
            set_path(&mut tree, key, value.clone());
        }

        let settings = Self::from_tree(tree)?;
        settings.validate()?;
        Ok(settings)
    }

    fn from_tree(tree: toml::Value) -> Result<Settings, ConfigError> {
        let text = toml::to_string(&tree).expect("TOML tree serializes");
        let de = toml::Deserializer::new(&text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let reason = e.inner().message().to_string();
            ConfigError::Invalid {
                key: if key == "." { "(root)".into() } else { key },
                reason,
            }
        })
    }

    /// Checks the values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError::invalid("listen", format!("{e} (expected HOST:PORT)")))?;
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::invalid(
                "database_url",
                "expected sqlite://PATH or postgres://...",
            ));
        }
        let scheme = self.lake_url.split("://").next().unwrap_or_default();
        if !self.lake_url.contains("://") || !["file", "s3", "memory"].contains(&scheme) {
            return Err(ConfigError::invalid(
                "lake_url",
                "expected file://DIR, s3://BUCKET[/PREFIX] or memory://",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| ConfigError::invalid("log_level", e.to_string()))?;
        self.plausible_since_date()?;
        if self.max_concurrent_per_key == 0 {
            return Err(ConfigError::invalid(
                "max_concurrent_per_key",
                "must be at least 1",
            ));
        }
        for origin in &self.cors_origins {
            let ok = origin == "*"
                || url::Url::parse(origin)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/");
            if !ok {
                return Err(ConfigError::invalid(
                    "cors_origins",
                    format!("`{origin}` is not an origin like https://shop.example (or *)"),
                ));
            }
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "max_body_bytes",
                "must be at least 1024",
            ));
        }
        if self.worker.concurrency == 0 || self.worker.concurrency > 256 {
            return Err(ConfigError::invalid(
                "worker.concurrency",
                "must be between 1 and 256",
            ));
        }
        if self.worker.lease_seconds == 0 {
            return Err(ConfigError::invalid(
                "worker.lease_seconds",
                "must be positive",
            ));
        }
        if self.lake.rows_per_file < 1000 {
            return Err(ConfigError::invalid(
                "lake.rows_per_file",
                "must be at least 1000",
            ));
        }
        if self.worker.poll_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "worker.poll_interval_ms",
                "must be positive",
            ));
        }
        let r = &self.realtime;
        if !(1..=10_000).contains(&r.max_events_per_user) {
            return Err(ConfigError::invalid(
                "realtime.max_events_per_user",
                "must be between 1 and 10000",
            ));
        }
        if !(10..=10_000).contains(&r.tail_interval_ms) {
            return Err(ConfigError::invalid(
                "realtime.tail_interval_ms",
                "must be between 10 and 10000",
            ));
        }
        for (key, v) in [
            ("realtime.exclude_days", r.exclude_days),
            ("realtime.half_life_hours", r.half_life_hours),
            ("realtime.retention_days", r.retention_days),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ConfigError::invalid(key, "must be a positive number"));
            }
        }
        if self.events.flush_interval_seconds == 0 {
            return Err(ConfigError::invalid(
                "events.flush_interval_seconds",
                "must be positive",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, schedule) in self.scheduler.schedules.iter().enumerate() {
            let key = format!("scheduler.schedules[{i}]");
            if schedule.name.trim().is_empty() {
                return Err(ConfigError::invalid(&format!("{key}.name"), "is empty"));
            }
            if !names.insert(schedule.name.clone()) {
                return Err(ConfigError::invalid(
                    &format!("{key}.name"),
                    format!("duplicate schedule name `{}`", schedule.name),
                ));
            }
            crate::cron_expr::parse(&schedule.cron)
                .map_err(|reason| ConfigError::invalid(&format!("{key}.cron"), reason))?;
            if !schedule.payload.is_object() {
                return Err(ConfigError::invalid(
                    &format!("{key}.payload"),
                    "must be a table",
                ));
            }
        }
        Ok(())
    }

    /// The settings as TOML with secrets replaced, for `recast config` and logs.
    pub fn redacted_toml(&self) -> String {
        let mut copy = self.clone();
        if copy.s3.secret_access_key.is_some() {
            copy.s3.secret_access_key = Some("<redacted>".into());
        }
        copy.database_url = redact_url_password(&copy.database_url);
        toml::to_string_pretty(&copy).expect("settings serialize to TOML")
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().expect("validated at load")
    }

    /// Resolves a relative path setting against `base` (the working directory).
    pub fn resolve_path(base: &Path, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    }
}

/// Hides the password part of a connection URL.
pub fn redact_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("<redacted>"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

fn parse_env(var: &str, value: &str, kind: Kind) -> Result<toml::Value, ConfigError> {
    match kind {
        Kind::Str => Ok(toml::Value::String(value.to_string())),
        Kind::Int => value
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| ConfigError::invalid(var, format!("`{value}` is not an integer"))),
        Kind::Bool => match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "0" | "false" | "no" | "off" => Ok(toml::Value::Boolean(false)),
            _ => Err(ConfigError::invalid(
                var,
                format!("`{value}` is not a boolean (true/false)"),
            )),
        },
        Kind::List => Ok(toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| toml::Value::String(v.to_string()))
                .collect(),
        )),
    }
}

fn merge(base: &mut toml::Value, overlay: toml::Value) {
    match (base, overlay) {
        (toml::Value::Table(base), toml::Value::Table(overlay)) => {
            for (k, v) in overlay {
                match base.get_mut(&k) {
                    Some(existing) if existing.is_table() && v.is_table() => merge(existing, v),
                    _ => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

fn set_path(tree: &mut toml::Value, path: &str, value: toml::Value) {
    let mut node = tree;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        let table = node.as_table_mut().expect("settings tree is a table");
        node = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    node.as_table_mut()
        .expect("settings tree is a table")
        .insert(parts[parts.len() - 1].to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Sources {
        Sources {
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_embedded() {
        let s = Settings::load(&Sources::default()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://data/recast.db");
        assert_eq!(s.lake_url, "file://data/lake");
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("recast.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[worker]\nlease_seconds = 5\n",
        )
        .unwrap();
        let mut sources = env(&[
            ("RECAST_LISTEN", "127.0.0.1:9100"),
            ("RECAST_WORKER_CONCURRENCY", "3"),
        ]);
        sources.file = Some(file);
        let s = Settings::load(&sources).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9100", "env beats file");
        assert_eq!(s.worker.lease_seconds, 5, "file beats default");
        assert_eq!(s.worker.concurrency, 3);
        sources
            .overrides
            .push(("listen".into(), toml::Value::String("0.0.0.0:1".into())));
        assert_eq!(Settings::load(&sources).unwrap().listen, "0.0.0.0:1");
    }

    #[test]
    fn every_variable_the_readme_names_is_read() {
        // Read at run time: an embedded README would have to be in the image's build context.
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let known: Vec<&str> = env_variables().map(|(var, _)| var).collect();
        let named: Vec<&str> = readme
            .lines()
            .filter(|l| l.starts_with("| `"))
            .filter_map(|l| l.split('`').nth(3))
            .filter(|v| v.starts_with("RECAST_"))
            .collect();
        assert!(named.len() > 20, "{named:?}");
        for var in named {
            assert!(
                known.contains(&var),
                "README names {var}, which no setting reads"
            );
        }
        let s = Settings::load(&env(&[("RECAST_PLAUSIBLE_SINCE", "1900-01-01")])).unwrap();
        assert_eq!(s.plausible_since, "1900-01-01");
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("recast.toml");
        std::fs::write(&file, "[worker]\nlease_secondz = 5\n").unwrap();
        let sources = Sources {
            file: Some(file),
            ..Default::default()
        };
        let err = Settings::load(&sources).unwrap_err().to_string();
        assert!(err.contains("lease_secondz"), "{err}");

        let err = Settings::load(&env(&[("RECAST_WORKER_LEASE_SECONDS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RECAST_WORKER_LEASE_SECONDS"), "{err}");

        let err = Settings::load(&env(&[("RECAST_LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`listen`"), "{err}");

        let err = Settings::load(&env(&[("RECAST_LAKE_URL", "ftp://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lake_url"), "{err}");
    }

    #[test]
    fn bad_cron_is_refused_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("recast.toml");
        std::fs::write(
            &file,
            "[[scheduler.schedules]]\nname = \"x\"\ncron = \"every tuesday\"\nkind = \"sweep_lake\"\n",
        )
        .unwrap();
        let err = Settings::load(&Sources {
            file: Some(file),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("scheduler.schedules[0].cron"), "{err}");
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Settings::load(&env(&[
            ("RECAST_S3_SECRET_ACCESS_KEY", "hunter2"),
            ("RECAST_DATABASE_URL", "postgres://u:pw@localhost/db"),
        ]))
        .unwrap();
        let text = s.redacted_toml();
        assert!(!text.contains("hunter2"));
        assert!(!text.contains(":pw@"));
        assert!(text.contains("<redacted>"));
    }
}
