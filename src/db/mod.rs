//! The metadata database: one sqlx `Any` pool over SQLite (embedded default) or Postgres.
//!
//! Both backends run the same queries, so the SQL here sticks to the common subset:
//! `$1..$n` placeholders numbered in order of first use, `BIGINT` epoch milliseconds for time,
//! `TEXT` for ids and JSON, `BIGINT` 0/1 for flags, and `CAST(SUM(..) AS BIGINT)` because the
//! `Any` driver cannot decode Postgres `NUMERIC`. Where a statement must differ (row locking),
//! callers branch on [`Backend`]. On SQLite a transaction that reads before it writes can fail
//! to upgrade its lock under contention, so multi-statement write transactions begin with a
//! write; single-statement `UPDATE .. RETURNING` covers the queue's lease.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

pub mod activity;
pub mod activity_cache;
pub mod activity_tail;
pub mod etl;
pub mod events;
pub mod experiments;
pub mod features;
pub mod forecasts;
pub mod jobs;
pub mod keys;
pub mod lake;
pub mod models;
pub mod overrides;
pub mod streams;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot prepare {path}: {source}")]
    Prepare {
        path: String,
        source: std::io::Error,
    },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl DbError {
    /// True when the statement hit a unique constraint (used for idempotent inserts).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Query(e) => is_unique_violation(e),
            _ => false,
        }
    }
}

pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .map(|d| d.is_unique_violation())
        .unwrap_or(false)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Cheap to clone: clones share the pool.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects (creating the SQLite file and its directory when needed). Relative SQLite
    /// paths are taken from the working directory.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let redacted = crate::config::redact_url_password(url);
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, prepare_sqlite_url(url)?)
        } else {
            (Backend::Postgres, url.to_string())
        };
        let options = AnyConnectOptions::from_str(&url).map_err(|source| DbError::Connect {
            url: redacted.clone(),
            source,
        })?;
        let pool_options = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL lets readers run beside the single writer; FULL sync makes an
                            // acknowledged commit survive a crash of the process or the machine.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 15000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = pool_options
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await
            .map_err(|source| DbError::Connect {
                url: redacted,
                source,
            })?;
        Ok(Db { pool, backend })
    }

    /// Applies pending migrations; safe to run from several processes at once.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Connect and migrate: what every command does first.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A trivial round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A multi-row SQLite `INSERT .. VALUES` of `rows` rows of `row` (e.g. `(?, ?, ?)`) that skips
/// rows whose `event_id` exists. Anonymous `?` placeholders: with thousands of numbered ones,
/// binding took five times as long as the insert itself (measured).
pub(crate) fn sqlite_insert_ignoring_event_ids(head: &str, row: &str, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + 40 + rows * (row.len() + 1));
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(row);
    }
    sql.push_str(" ON CONFLICT (event_id) DO NOTHING");
    sql
}

/// Milliseconds since the Unix epoch: how every timestamp is stored.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Formats stored epoch milliseconds as RFC 3339 UTC.
pub fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The file an embedded (SQLite) database URL names, made absolute against the working
/// directory; None for Postgres and in-memory databases.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let (path, _) = sqlite_parts(url.strip_prefix("sqlite:")?)?;
    absolute(path).ok()
}

/// The file path and query of an SQLite URL without its `sqlite:` scheme; None for an
/// in-memory database.
fn sqlite_parts(rest: &str) -> Option<(&str, Option<&str>)> {
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    (!(path == ":memory:" || path.is_empty())).then_some((path, query))
}

/// `path` made absolute against the working directory.
fn absolute(path: &str) -> Result<std::path::PathBuf, DbError> {
    let path = Path::new(path);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .map_err(|source| DbError::Prepare {
            path: path.display().to_string(),
            source,
        })
}

fn prepare_sqlite_url(url: &str) -> Result<String, DbError> {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let Some((path, query)) = sqlite_parts(rest) else {
        return Ok(url.to_string());
    };
    let absolute = absolute(path)?;
    if let Some(parent) = absolute.parent() {
        std::fs::create_dir_all(parent).map_err(|source| DbError::Prepare {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let query = match query {
        Some(q) if q.contains("mode=") => q.to_string(),
        Some(q) => format!("{q}&mode=rwc"),
        None => "mode=rwc".to_string(),
    };
    Ok(format!("sqlite://{}?{query}", absolute.display()))
}
