//! The sweep is recast's `vacuum`: it deletes every object under the table areas that no
//! current Delta version lists, without ever deleting a file a reader may see, a version
//! younger than the retention may list, or a live run is still writing.
//!
//! The order of steps is what makes it safe against concurrent writers:
//! 1. abort open runs older than the retention (one conditional UPDATE; a run claims itself
//!    open → committed before its Delta commit, so a run either is claimed first and keeps its
//!    files, or finds itself aborted and fails);
//! 2. list the store;
//! 3. only then load each table's live files and tombstones: a file listed in step 2 whose
//!    commit landed before step 3 is live;
//! 4. every other object: files a Delta commit removed go once the removal is older than the
//!    retention (how long reads of earlier versions keep working); open runs keep their files;
//!    aborted runs lose them at once; a claimed run's file that no version lists (its commit
//!    failed, or is landing right now) goes once the claim is older than the retention; objects
//!    of no known run go once older than the retention.
//!
//! `_delta_log/` objects are never swept. A lake with unmigrated tables is refused: their live
//! files are not in any Delta log yet.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use super::LakeError;
use super::delta::{self, DeltaTables};
use super::layout::{self, Area};
use super::writer::delete_if_present;
use crate::db::lake::{self as log, RunRecord, RunState};
use crate::db::{Db, now_ms};

/// What a sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub files_deleted: u64,
    pub bytes_deleted: u64,
    pub runs_aborted: u64,
}

/// What the Delta logs and the run bookkeeping say, loaded after the listing.
struct Ownership {
    /// Live paths of every table listed.
    live: HashSet<String>,
    /// Removed path → when the commit that removed it landed (epoch ms).
    removed: HashMap<String, i64>,
    /// Objects (claims, removals) at or before this are past the retention.
    cutoff_ms: i64,
    runs: HashMap<String, Option<RunRecord>>,
}

pub(super) async fn run(
    store: &Arc<dyn ObjectStore>,
    db: &Db,
    tables: &DeltaTables,
    grace: Duration,
) -> Result<SweepReport, LakeError> {
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let cutoff_ms = now_ms().saturating_sub(grace_ms);
    let aborted = log::abort_stale_runs(db, cutoff_ms).await?;
    let objects = list_areas(store.as_ref()).await?;
    let mut ownership = Ownership {
        live: HashSet::new(),
        removed: HashMap::new(),
        cutoff_ms,
        runs: HashMap::new(),
    };
    for (area, dataset) in tables_of(&objects) {
        if let Some((live, removed)) =
            delta::live_and_removed(store, tables, area, &dataset).await?
        {
            ownership.live.extend(live);
            ownership.removed.extend(removed);
        }
    }
    let mut report = SweepReport {
        runs_aborted: aborted.len() as u64,
        ..SweepReport::default()
    };
    for object in objects {
        let path = object.location.to_string();
        if ownership.disowns(db, &path, &object).await?
            && delete_if_present(store.as_ref(), &path).await?
        {
            report.files_deleted += 1;
            report.bytes_deleted += object.size;
        }
    }
    if report.files_deleted > 0 || report.runs_aborted > 0 {
        tracing::info!(
            files = report.files_deleted,
            bytes = report.bytes_deleted,
            runs_aborted = report.runs_aborted,
            "lake sweep"
        );
    }
    Ok(report)
}

/// The tables (area, dataset) the listed objects belong to.
fn tables_of(objects: &[ObjectMeta]) -> HashSet<(Area, String)> {
    objects
        .iter()
        .filter_map(|o| {
            let mut parts = o.location.parts();
            let area = Area::parse(parts.next()?.as_ref())?;
            let dataset = parts.next()?.as_ref().to_string();
            layout::validate_name(&dataset).ok()?;
            Some((area, dataset))
        })
        .collect()
}

/// Every object under the table areas (not `models/`, `exports/`).
async fn list_areas(store: &dyn ObjectStore) -> Result<Vec<ObjectMeta>, LakeError> {
    let mut objects = Vec::new();
    for area in Area::ALL {
        let prefix = Path::from(area.as_str());
        let mut listed: Vec<ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
        objects.append(&mut listed);
    }
    Ok(objects)
}

impl Ownership {
    /// True when the object at `path` may be deleted.
    async fn disowns(
        &mut self,
        db: &Db,
        path: &str,
        object: &ObjectMeta,
    ) -> Result<bool, LakeError> {
        if self.live.contains(path) || delta::is_log_path(path) {
            return Ok(false);
        }
        if let Some(&removed_at) = self.removed.get(path) {
            return Ok(removed_at <= self.cutoff_ms);
        }
        let old = object.last_modified.timestamp_millis() <= self.cutoff_ms;
        let Some(run_id) = layout::run_id_of(path) else {
            return Ok(old);
        };
        let Some(run) = self.run(db, run_id).await? else {
            return Ok(old);
        };
        Ok(match run.state {
            RunState::Open => false,
            RunState::Aborted => true,
            RunState::Committed => old && run.finished_at.unwrap_or(0) <= self.cutoff_ms,
        })
    }

    async fn run(&mut self, db: &Db, run_id: &str) -> Result<Option<RunRecord>, LakeError> {
        if let Some(run) = self.runs.get(run_id) {
            return Ok(run.clone());
        }
        let run = log::get_run(db, run_id).await?;
        self.runs.insert(run_id.to_string(), run.clone());
        Ok(run)
    }
}
