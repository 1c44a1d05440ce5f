//! Materialization: computes a view version's daily snapshots and lands them in the offline
//! store (one lake commit per run, replacing any earlier files of the same days) and the
//! newest snapshot in the online store; records per-run statistics with drift warnings.
//!
//! Incremental by day: a run resumes at the last materialized day (recomputed, because it may
//! have been materialized while still receiving data) and goes to the newest source
//! partition. Late rows for older days need an explicit `from` (a backfill). Computation runs
//! on a blocking thread and hands each day to the writer through a bounded channel, so memory
//! holds the source rows plus about two days of snapshots.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::builder::{Float64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::FeatureError;
use super::catalog::{Catalog, ViewVersion};
use super::compute::{self, Snapshot, Value};
use super::source::{self, SourceTable};
use super::spec::{Entity, ViewSpec};
use super::stats::{self, FeatureStats};
use crate::app::App;
use crate::db::features as repo;
use crate::lake::layout::{self, Area};
use crate::lake::writer::CommitOutcome;
use crate::progress::Progress;

/// What to materialize.
#[derive(Debug, Clone, Default)]
pub struct MaterializeRequest {
    /// View names; empty means every current view.
    pub views: Vec<String>,
    /// First as-of day; default: the last materialized day (or the first source day).
    pub from: Option<NaiveDate>,
    /// Last as-of day; default: the newest source partition.
    pub to: Option<NaiveDate>,
}

/// One view's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ViewReport {
    pub view: String,
    pub version: i64,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub days: usize,
    pub rows: u64,
    pub source_rows: u64,
    pub seconds: f64,
    /// Why nothing was written, when nothing was.
    pub skipped: Option<String>,
    pub stats: Vec<FeatureStats>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaterializeReport {
    pub views: Vec<ViewReport>,
}

/// Arrow schema of a view's snapshot files.
pub fn snapshot_schema(view: &ViewSpec) -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields: Vec<Field> = view
        .entity
        .keys()
        .iter()
        .map(|k| Field::new(*k, DataType::Utf8, false))
        .collect();
    fields.push(Field::new("event_ts", ts.clone(), false));
    fields.push(Field::new("as_of", ts, false));
    for f in &view.features {
        let ty = if f.is_text(view.source) {
            DataType::Utf8
        } else {
            DataType::Float64
        };
        fields.push(Field::new(&f.name, ty, true));
    }
    Arc::new(Schema::new(fields))
}

/// Splits an entity id back into its key values.
pub fn split_entity(entity: Entity, id: &str) -> Vec<&str> {
    match entity {
        Entity::ItemStore => match id.rsplit_once(':') {
            Some((a, b)) => vec![a, b],
            None => vec![id, ""],
        },
        _ => vec![id],
    }
}

/// A snapshot as a record batch of [`snapshot_schema`].
pub fn snapshot_batch(
    view: &ViewSpec,
    table: &SourceTable,
    snap: &Snapshot,
) -> Result<RecordBatch, FeatureError> {
    let schema = snapshot_schema(view);
    let n = snap.entities.len();
    let keys = view.entity.keys().len();
    let mut key_builders: Vec<StringBuilder> = (0..keys).map(|_| StringBuilder::new()).collect();
    for &e in &snap.entities {
        let parts = split_entity(view.entity, &table.entity_ids[e as usize]);
        for (b, p) in key_builders.iter_mut().zip(parts) {
            b.append_value(p);
        }
    }
    let mut columns: Vec<ArrayRef> = key_builders
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    let mut event_ts = TimestampMicrosecondBuilder::with_capacity(n);
    let mut as_of = TimestampMicrosecondBuilder::with_capacity(n);
    for &t in &snap.event_ts {
        event_ts.append_value(t);
        as_of.append_value(snap.as_of);
    }
    columns.push(Arc::new(event_ts.finish().with_timezone("UTC")));
    columns.push(Arc::new(as_of.finish().with_timezone("UTC")));
    for (k, f) in view.features.iter().enumerate() {
        if f.is_text(view.source) {
            let mut b = StringBuilder::new();
            for row in &snap.values {
                match &row[k] {
                    Value::Text(Some(c)) => b.append_value(&table.dictionary[*c as usize]),
                    _ => b.append_null(),
                }
            }
            columns.push(Arc::new(b.finish()));
        } else {
            let mut b = Float64Builder::with_capacity(n);
            for row in &snap.values {
                match &row[k] {
                    Value::Num(Some(x)) => b.append_value(*x),
                    _ => b.append_null(),
                }
            }
            columns.push(Arc::new(b.finish()));
        }
    }
    RecordBatch::try_new(schema, columns).map_err(|e| FeatureError::Io(e.to_string()))
}

/// A snapshot's values as JSON (numbers, strings, nulls) per entity, for the online store.
fn json_values(table: &SourceTable, row: &[Value]) -> serde_json::Value {
    serde_json::Value::Array(
        row.iter()
            .map(|v| match v {
                Value::Num(Some(x)) => serde_json::json!(x),
                Value::Text(Some(c)) => serde_json::json!(table.dictionary[*c as usize]),
                _ => serde_json::Value::Null,
            })
            .collect(),
    )
}

fn micros_to_ms(us: i64) -> i64 {
    us.div_euclid(1000)
}

/// Materializes the requested views; `progress(percent, message)` reports as it goes.
pub async fn materialize(
    app: &App,
    catalog: &Catalog,
    request: &MaterializeRequest,
    progress: &dyn Progress,
) -> Result<MaterializeReport, FeatureError> {
    let views: Vec<Arc<ViewVersion>> = if request.views.is_empty() {
        catalog.current_views()
    } else {
        request
            .views
            .iter()
            .map(|n| {
                catalog
                    .current(n)
                    .cloned()
                    .ok_or_else(|| FeatureError::UnknownView(n.clone()))
            })
            .collect::<Result<_, _>>()?
    };
    if let (Some(from), Some(to)) = (request.from, request.to)
        && from > to
    {
        return Err(FeatureError::invalid(
            "from",
            format!("starts ({from}) after `to` ({to})"),
        ));
    }
    let mut reports = Vec::new();
    for (i, view) in views.iter().enumerate() {
        let base = i as f64 / views.len() as f64;
        let share = 1.0 / views.len() as f64;
        let name = view.spec.name.clone();
        let report = materialize_view(app, view, request, &|f: f64, msg: &str| {
            progress.report(100.0 * (base + share * f), &format!("{name}: {msg}"))
        })
        .await?;
        reports.push(report);
    }
    progress.report(100.0, "done");
    Ok(MaterializeReport { views: reports })
}

async fn materialize_view(
    app: &App,
    view: &Arc<ViewVersion>,
    request: &MaterializeRequest,
    progress: &dyn Progress,
) -> Result<ViewReport, FeatureError> {
    let started = Instant::now();
    let spec = &view.spec;
    let mut report = ViewReport {
        view: spec.name.clone(),
        version: view.version,
        from: None,
        to: None,
        days: 0,
        rows: 0,
        source_rows: 0,
        seconds: 0.0,
        skipped: None,
        stats: Vec::new(),
        warnings: Vec::new(),
    };
    let Some((from, to)) = day_range(app, view, request, &mut report).await? else {
        return Ok(report);
    };
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    progress.report(0.0, &format!("reading `{}`", spec.source.dataset()));
    let read_from = from - Duration::days(i64::from(spec.lookback_days()) + 1);
    let table = Arc::new(source::read(&app.lake, spec, read_from, to).await?);
    report.source_rows = table.len() as u64;
    let written = write_snapshots(app, view, &table, &days, &mut report, progress).await?;
    report.days = days.len();
    if let Some(snap) = &written.newest {
        update_online(app, view, &table, snap).await?;
        report.stats = stats::of_snapshot(spec, snap);
        if let Some(prev) = repo::latest_run(&app.db, &spec.name, view.version).await? {
            let previous: Vec<FeatureStats> = serde_json::from_str(&prev.stats)
                .map_err(|e| FeatureError::Corrupt(e.to_string()))?;
            report.warnings = stats::drift(&previous, &report.stats);
        }
        for w in &report.warnings {
            tracing::warn!(view = %spec.name, version = view.version, warning = %w, "feature drift");
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    record_run(app, view, &report, written.run_id, from, to).await?;
    Ok(report)
}

/// The days to materialize: the request's range, else from the day after the last
/// materialized one (or the source's first day) to the source's last day. None (with the
/// reason in `report.skipped`) when there is nothing to do.
async fn day_range(
    app: &App,
    view: &ViewVersion,
    request: &MaterializeRequest,
    report: &mut ViewReport,
) -> Result<Option<(NaiveDate, NaiveDate)>, FeatureError> {
    let spec = &view.spec;
    let source_files = app
        .lake
        .committed_files(spec.source.dataset(), None, None)
        .await?;
    let (Some(first), Some(last)) = (
        source_files.iter().map(|f| f.dt).min(),
        source_files.iter().map(|f| f.dt).max(),
    ) else {
        report.skipped = Some(format!("`{}` has no data", spec.source.dataset()));
        return Ok(None);
    };
    let resume = repo::last_materialized(&app.db, &spec.name, view.version)
        .await?
        .and_then(|d| layout::parse_dt(&d));
    let from = request.from.or(resume).unwrap_or(first);
    let to = request.to.unwrap_or(last);
    report.from = Some(from);
    report.to = Some(to);
    if from > to {
        report.skipped = Some(format!("up to date (materialized through {from})"));
        return Ok(None);
    }
    Ok(Some((from, to)))
}

/// What writing a view's snapshots left behind.
struct Written {
    run_id: String,
    /// The snapshot of the last day (the online table's new state).
    newest: Option<Snapshot>,
}

/// Computes the daily snapshots on a blocking thread and writes them as they come, then
/// commits them in place of the days' earlier files under a key that names the range and the
/// source commit (a re-run commits nothing twice) and records the days.
async fn write_snapshots(
    app: &App,
    view: &ViewVersion,
    table: &Arc<source::SourceTable>,
    days: &[NaiveDate],
    report: &mut ViewReport,
    progress: &dyn Progress,
) -> Result<Written, FeatureError> {
    let spec = &view.spec;
    let (from, to) = (days[0], days[days.len() - 1]);
    let source_commit = app
        .lake
        .latest_commit(spec.source.dataset(), Area::Datasets)
        .await?
        .unwrap_or(0);
    let dataset = view.dataset();
    let replaced: Vec<String> = app
        .lake
        .files(
            &crate::lake::reader::Scan::dataset(&dataset)
                .in_area(Area::Features)
                .between(Some(from), Some(to)),
        )
        .await?
        .into_iter()
        .map(|f| f.path)
        .collect();
    let mut writer = app.lake.writer(&dataset, Area::Features).await?;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Snapshot>(2);
    let compute_view = spec.clone();
    let compute_table = Arc::clone(table);
    let compute_days = days.to_vec();
    let cutoff = chrono::Utc::now().timestamp_micros();
    let computing = tokio::task::spawn_blocking(move || {
        compute::for_each_snapshot(
            &compute_view,
            &compute_table,
            &compute_days,
            cutoff,
            |snap| tx.blocking_send(snap).map_err(|_| ()),
        )
    });
    let mut day_rows: Vec<(String, i64)> = Vec::with_capacity(days.len());
    let mut newest: Option<Snapshot> = None;
    let mut write_error: Option<FeatureError> = None;
    while let Some(snap) = rx.recv().await {
        day_rows.push((layout::format_dt(snap.day), snap.entities.len() as i64));
        report.rows += snap.entities.len() as u64;
        if !snap.entities.is_empty() {
            let batch = snapshot_batch(spec, table, &snap)?;
            if let Err(e) = writer.write(snap.day, &batch).await {
                write_error = Some(e.into());
                break;
            }
        }
        progress.report(
            day_rows.len() as f64 / days.len() as f64,
            &format!("{} of {} days", day_rows.len(), days.len()),
        );
        newest = Some(snap);
    }
    drop(rx);
    let _ = computing.await;
    if let Some(e) = write_error {
        writer.abort().await.ok();
        return Err(e);
    }
    let key = format!(
        "materialize:{}:{}:{}",
        layout::format_dt(from),
        layout::format_dt(to),
        source_commit
    );
    let run_id = writer.run_id().to_string();
    let commit_id = match writer.commit_replacing(Some(&key), &replaced).await? {
        // -1: no table version holds the days (nothing was written and the table is new).
        CommitOutcome::Committed { commit_id, .. } => commit_id.unwrap_or(-1),
        CommitOutcome::AlreadyCommitted { commit_id } => commit_id,
    };
    repo::record_days(
        &app.db,
        &spec.name,
        view.version,
        &day_rows,
        commit_id,
        &run_id,
    )
    .await?;
    Ok(Written { run_id, newest })
}

/// Replaces the view's online values with `snap` unless the online table already holds a
/// newer day (a backfill of old days leaves serving alone).
async fn update_online(
    app: &App,
    view: &ViewVersion,
    table: &source::SourceTable,
    snap: &Snapshot,
) -> Result<(), FeatureError> {
    let spec = &view.spec;
    let online_as_of = repo::online_as_of(&app.db, &spec.name, view.version).await?;
    let as_of_ms = micros_to_ms(snap.as_of);
    if online_as_of.is_some_and(|current| current > as_of_ms) {
        return Ok(());
    }
    let rows: Vec<repo::OnlineRow> = snap
        .entities
        .iter()
        .zip(&snap.event_ts)
        .zip(&snap.values)
        .map(|((&e, &ts), values)| repo::OnlineRow {
            entity_id: table.entity_ids[e as usize].clone(),
            values: json_values(table, values).to_string(),
            event_ts: micros_to_ms(ts),
            as_of: as_of_ms,
        })
        .collect();
    repo::replace_online(&app.db, &spec.name, view.version, as_of_ms, &rows).await?;
    Ok(())
}

/// Stores the run's report (statistics and drift warnings included) and logs it.
async fn record_run(
    app: &App,
    view: &ViewVersion,
    report: &ViewReport,
    run_id: String,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(), FeatureError> {
    let spec = &view.spec;
    repo::insert_run(
        &app.db,
        &repo::RunRow {
            id: run_id,
            view: spec.name.clone(),
            version: view.version,
            from_dt: layout::format_dt(from),
            to_dt: layout::format_dt(to),
            source_rows: report.source_rows as i64,
            rows: report.rows as i64,
            stats: serde_json::to_string(&report.stats)
                .map_err(|e| FeatureError::Corrupt(e.to_string()))?,
            warnings: serde_json::to_string(&report.warnings)
                .map_err(|e| FeatureError::Corrupt(e.to_string()))?,
            created_at: chrono::Utc::now().timestamp_millis(),
        },
    )
    .await?;
    tracing::info!(
        view = %spec.name,
        version = view.version,
        days = report.days,
        rows = report.rows,
        source_rows = report.source_rows,
        seconds = report.seconds,
        "feature view materialized"
    );
    Ok(())
}
