//! Rows of an operational SQL table or query, taken incrementally by a watermark column.
//!
//! Each run reads rows whose watermark is above the highest value landed before, in
//! watermark order, and moves the watermark only after the lake commit. Rows are fetched as
//! JSON objects (Postgres: `row_to_json`; SQLite: its values are few enough types to render
//! directly), so any column type reaches the converter as text and the pipeline's formats
//! apply exactly as they do to files. The watermark value is written back into the query as
//! a literal, letting each database compare it with the column's own type.
//!
//! Caveat (as with every watermark extractor): rows that appear later with a watermark at or
//! below one already landed are not seen; use a strictly increasing column.

use futures::TryStreamExt;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use crate::app::App;
use crate::db::etl as repo;
use crate::etl::EtlError;
use crate::etl::convert::Converter;
use crate::etl::landing::{Landing, LandingOutcome, QuarantinedRow};
use crate::etl::source::read::{CHUNK_ROWS, push_json_object};
use crate::etl::spec::{PipelineSpec, SourceSpec};
use crate::progress::Progress;

#[derive(Debug, Default)]
pub struct SqlRead {
    pub rows_read: u64,
    pub watermark_from: Option<String>,
    pub watermark_to: Option<String>,
    pub landing: LandingOutcome,
}

/// `${VAR}` from the environment, so credentials stay out of pipeline files.
pub(super) fn expand_env(url: &str) -> Result<String, EtlError> {
    let mut out = String::new();
    let mut rest = url;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| EtlError::source("source.url", "unclosed `${`"))?;
        let var = &rest[start + 2..start + end];
        let value = std::env::var(var).map_err(|_| {
            EtlError::source(
                "source.url",
                format!("environment variable {var} is not set"),
            )
        })?;
        out.push_str(&value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The watermark as an SQL literal: numbers bare, everything else quoted.
fn literal(json: &serde_json::Value) -> String {
    match json {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

fn base_query(table: &Option<String>, query: &Option<String>) -> String {
    match (table, query) {
        (Some(t), _) => format!("SELECT * FROM {t}"),
        (None, Some(q)) => q.trim().trim_end_matches(';').to_string(),
        (None, None) => unreachable!("validated at load"),
    }
}

fn sqlite_value(row: &sqlx::any::AnyRow, i: usize) -> serde_json::Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return serde_json::Value::Null;
    };
    if raw.is_null() {
        return serde_json::Value::Null;
    }
    let type_name = raw.type_info().name().to_ascii_uppercase();
    if type_name.contains("INT")
        && let Ok(v) = row.try_get::<i64, _>(i)
    {
        return v.into();
    }
    if let Ok(v) = row.try_get::<f64, _>(i) {
        return serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into);
    }
    if let Ok(v) = row.try_get::<i64, _>(i) {
        return v.into();
    }
    if let Ok(v) = row.try_get::<String, _>(i) {
        return v.into();
    }
    if let Ok(v) = row.try_get::<bool, _>(i) {
        return v.into();
    }
    serde_json::Value::Null
}

pub async fn run(
    app: &App,
    spec: &PipelineSpec,
    progress: &dyn Progress,
) -> Result<SqlRead, EtlError> {
    let SourceSpec::Sql {
        url,
        table,
        query,
        watermark,
    } = &spec.source
    else {
        return Err(EtlError::source(&spec.name, "not a sql pipeline"));
    };
    sqlx::any::install_default_drivers();
    let url = expand_env(url)?;
    let label = crate::config::redact_url_password(&url);
    let postgres = url.starts_with("postgres");
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .map_err(|e| EtlError::source(&label, e))?;

    let previous = repo::watermark(&app.db, &spec.name).await?;
    let previous_json: Option<serde_json::Value> = previous
        .as_deref()
        .and_then(|v| serde_json::from_str(v).ok());
    let filter = previous_json
        .as_ref()
        .map(|v| format!(" WHERE src.{watermark} > {}", literal(v)))
        .unwrap_or_default();
    let inner = base_query(table, query);
    let sql = if postgres {
        format!(
            "SELECT row_to_json(src)::text AS j FROM ({inner}) AS src{filter} ORDER BY src.{watermark}"
        )
    } else {
        format!("SELECT * FROM ({inner}) AS src{filter} ORDER BY src.{watermark}")
    };

    let mut converter = Converter::new(spec);
    let names = converter.source_columns().to_vec();
    let mut landing = Landing::open(app, spec, true).await?;
    let sql_source = format!("{label} ({})", table.as_deref().unwrap_or("query"));
    let mut read = SqlRead {
        watermark_from: previous.clone(),
        ..Default::default()
    };
    let mut max_watermark: Option<serde_json::Value> = None;
    let mut rejected = Vec::new();
    progress.report(1.0, "querying");
    {
        let mut rows = sqlx::query(&sql).fetch(&mut conn);
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| EtlError::source(&label, e))?
        {
            let object: serde_json::Map<String, serde_json::Value> = if postgres {
                let text: String = row.try_get("j").map_err(|e| EtlError::source(&label, e))?;
                serde_json::from_str(&text).map_err(|e| EtlError::source(&label, e))?
            } else {
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_string(), sqlite_value(&row, i)))
                    .collect()
            };
            read.rows_read += 1;
            if let Some(w) = object.get(watermark.as_str())
                && !w.is_null()
            {
                max_watermark = Some(w.clone());
            }
            if let Err(r) = push_json_object(&mut converter, &names, &object) {
                rejected.push(QuarantinedRow {
                    source: format!("{label} ({})", table.as_deref().unwrap_or("query")),
                    line: Some(read.rows_read as i64),
                    reason: r.reason.to_string(),
                    field: r.field,
                    detail: r.detail,
                    raw: serde_json::Value::Object(object).to_string(),
                });
            }
            if converter.pending_rows() >= CHUNK_ROWS || rejected.len() >= CHUNK_ROWS {
                if let Some(batch) = converter.finish_batch() {
                    landing.push(batch, &sql_source).await?;
                }
                landing.quarantine(std::mem::take(&mut rejected)).await?;
                progress.report(50.0, &format!("{} rows", read.rows_read));
            }
        }
    }
    if let Some(batch) = converter.finish_batch() {
        landing.push(batch, &sql_source).await?;
    }
    landing.quarantine(rejected).await?;
    let Some(max) = max_watermark else {
        landing.abort().await?;
        progress.report(100.0, "no new rows");
        return Ok(read);
    };
    let to = max.to_string();
    let key = format!("sql:{}:{}", previous.as_deref().unwrap_or("-"), to);
    read.landing = landing.commit(&key).await?;
    repo::set_watermark(&app.db, &spec.name, &to).await?;
    read.watermark_to = Some(to);
    progress.report(100.0, "done");
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted_safely() {
        assert_eq!(literal(&serde_json::json!(42)), "42");
        assert_eq!(literal(&serde_json::json!("it's")), "'it''s'");
    }

    #[test]
    fn env_is_expanded() {
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("RECAST_T_SQL_HOST", "db.local") };
        assert_eq!(
            expand_env("postgres://u@${RECAST_T_SQL_HOST}/x").unwrap(),
            "postgres://u@db.local/x"
        );
        assert!(expand_env("postgres://${RECAST_T_NOPE}/x").is_err());
    }
}
