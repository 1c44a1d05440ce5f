//! Garbage collection: delete every object under the commit-log areas that the log does not
//! own, without ever deleting a file a reader may see or a live run is still writing.
//!
//! The order of steps is what makes it safe against concurrent writers:
//! 1. abort open runs older than the grace period (one conditional UPDATE, so a run that
//!    commits at the same moment either commits first, or finds itself aborted and fails);
//! 2. list the store;
//! 3. only then load the live and replaced paths: a file listed in step 2 that was committed
//!    before step 3 is in the live set;
//! 4. for every other object, look up its run (run states only move forward): open runs keep
//!    their files, aborted runs lose them at once, a committed run's stray file is checked
//!    against the log again (it may have committed after step 3), and objects of no known
//!    run are deleted only once older than the grace period.
//!
//! Replaced files (compaction) go once the replacing commit is older than the grace period,
//! which is how long snapshot reads of older commits (and Delta reads of older versions) keep
//! working; the Delta logs are published first, so no current Delta version lists a deleted
//! file. `_delta_log/` objects are never swept.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use super::LakeError;
use super::layout::{self, Area};
use super::writer::delete_if_present;
use crate::db::lake::{self as log, RunState};
use crate::db::{Db, now_ms};

/// What a sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub files_deleted: u64,
    pub bytes_deleted: u64,
    pub runs_aborted: u64,
}

/// What the commit log says, loaded after the listing.
struct Ownership {
    live: HashSet<String>,
    /// Replaced path → when its replacing commit landed (epoch ms).
    superseded: HashMap<String, i64>,
    /// Objects last modified (runs started) at or before this are past the grace period.
    cutoff_ms: i64,
    runs: HashMap<String, Option<RunState>>,
}

pub(super) async fn run(
    store: &Arc<dyn ObjectStore>,
    db: &Db,
    tables: &super::delta::DeltaTables,
    grace: Duration,
) -> Result<SweepReport, LakeError> {
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let cutoff_ms = now_ms().saturating_sub(grace_ms);
    let aborted = log::abort_stale_runs(db, cutoff_ms).await?;
    // A replaced file is deleted only once the Delta logs no longer list it.
    super::delta::publish_all(store, db, tables).await?;
    let objects = list_areas(store.as_ref()).await?;
    let mut ownership = Ownership {
        live: log::live_paths(db).await?,
        superseded: log::superseded_paths(db).await?,
        cutoff_ms,
        runs: HashMap::new(),
    };
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

/// Every object under the areas the commit log governs (not `models/`, `exports/`).
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
        if self.live.contains(path) || super::delta::is_log_path(path) {
            return Ok(false);
        }
        if let Some(&replaced_at) = self.superseded.get(path) {
            return Ok(replaced_at <= self.cutoff_ms);
        }
        let old = object.last_modified.timestamp_millis() <= self.cutoff_ms;
        let Some(run_id) = layout::run_id_of(path) else {
            return Ok(old);
        };
        match self.run_state(db, run_id).await? {
            Some(RunState::Open) => Ok(false),
            Some(RunState::Aborted) => Ok(true),
            Some(RunState::Committed) => Ok(old && !log::file_recorded(db, path).await?),
            None => Ok(old),
        }
    }

    async fn run_state(&mut self, db: &Db, run_id: &str) -> Result<Option<RunState>, LakeError> {
        if let Some(state) = self.runs.get(run_id) {
            return Ok(*state);
        }
        let state = log::get_run(db, run_id).await?.map(|r| r.state);
        self.runs.insert(run_id.to_string(), state);
        Ok(state)
    }
}
