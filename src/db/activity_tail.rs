//! Keeps a serving replica's [`ActivityCache`] current: reads the rows other replicas (and
//! the streaming consumers) write to `recent_activity`, in write order, every
//! `realtime.tail_interval_ms`.
//!
//! Why re-read an overlap: `received_at` is stamped by the writer before its transaction
//! commits, so a row can become visible after rows stamped later. Every poll re-reads the last
//! [`FAST_OVERLAP_MS`] and once a second the last [`SWEEP_OVERLAP_MS`]; the cache ignores rows it
//! already holds. A writer whose commit takes longer than that, or whose clock is further
//! behind the others', is seen on its user's next DB read instead (after the user leaves the
//! cache or the replica restarts); `docs/operations.md` asks for clocks kept by NTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::activity::{Activity, Received, received_since, users_after};
use super::activity_cache::ActivityCache;
use super::{Db, DbError, now_ms};

/// Re-read on every poll (commits a little behind their stamp).
pub const FAST_OVERLAP_MS: i64 = 250;
/// Re-read once a second (slow commits, writers' clocks apart).
pub const SWEEP_OVERLAP_MS: i64 = 5_000;
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long the copy is trusted after a poll that read everything up to its start.
const TRUSTED_FOR_MS: i64 = 1_000;
/// Rows per read.
const PAGE: i64 = 5_000;

/// Follows the table until `stop`; the cache is trusted only while this runs and succeeds.
pub async fn follow(
    db: Db,
    cache: Arc<ActivityCache>,
    interval: Duration,
    stop: CancellationToken,
) {
    if !cache.enabled() {
        return;
    }
    let mut newest = Received {
        at: now_ms() - SWEEP_OVERLAP_MS,
        event_id: String::new(),
    };
    // Start of the last successful poll: rows stamped more than an overlap before it had
    // committed by then, so they were read.
    let mut polled = now_ms();
    cache.open();
    if let Err(e) = load(&db, &cache, &stop).await {
        tracing::warn!(error = %e, "cannot load the recent activity; users are read on demand");
    }
    let mut last_sweep = Instant::now();
    let mut failing = false;
    loop {
        let overlap = if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            SWEEP_OVERLAP_MS
        } else {
            FAST_OVERLAP_MS
        };
        let started = now_ms();
        match poll(&db, &cache, &from(&newest, polled - overlap)).await {
            Ok(last) => {
                newest = newest.max(last);
                polled = started;
                cache.vouch_until(started + TRUSTED_FOR_MS);
                if failing {
                    tracing::info!("recent activity tail resumed");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "recent activity tail failed; serving reads the DB");
                    failing = true;
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    cache.withdraw();
}

/// Users per read while loading.
const LOAD_USERS: i64 = 2_000;

/// Loads users in id order until the copy is full, so a replica serves its first requests
/// from memory too. Anything written meanwhile is delivered by the tail's first poll.
async fn load(db: &Db, cache: &ActivityCache, stop: &CancellationToken) -> Result<(), DbError> {
    let started = Instant::now();
    let (mut users, mut events, mut after) = (0usize, 0usize, String::new());
    let now = now_ms();
    while !stop.is_cancelled() {
        let rows = users_after(db, &after, LOAD_USERS).await?;
        let Some(last) = rows.last() else { break };
        after = last.user_id.clone();
        if rows.len() > cache.room() {
            break;
        }
        events += rows.len();
        for (user, held) in by_user(rows) {
            cache.merge_base(&user, held, now);
            users += 1;
        }
    }
    tracing::info!(
        users,
        events,
        seconds = started.elapsed().as_secs_f64(),
        "recent activity loaded into memory"
    );
    Ok(())
}

fn by_user(rows: Vec<Activity>) -> Vec<(String, Vec<Activity>)> {
    let mut out: Vec<(String, Vec<_>)> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some((user, held)) if *user == r.user_id => held.push(r),
            _ => out.push((r.user_id.clone(), vec![r])),
        }
    }
    out
}

/// Where a poll starts: every row stamped from `floor` on (a commit may land up to an overlap
/// behind its stamp), or just after `newest` when that is older. The window follows the
/// clock, not the rows: a bulk write is re-read for one overlap, not for ever.
fn from(newest: &Received, floor: i64) -> Received {
    if floor < newest.at {
        Received {
            at: floor,
            event_id: String::new(),
        }
    } else {
        newest.clone()
    }
}

/// Reads every row after `after`, page by page, into the cache; returns the position of the
/// last row read (or `after` when none).
async fn poll(db: &Db, cache: &ActivityCache, after: &Received) -> Result<Received, DbError> {
    let mut after = after.clone();
    let mut last = after.clone();
    loop {
        let (rows, position) = received_since(db, &after, PAGE).await?;
        let full_page = rows.len() as i64 == PAGE;
        cache.apply(rows);
        let Some(position) = position else { break };
        last = last.max(position.clone());
        if !full_page {
            break;
        }
        after = position;
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_rereads_one_overlap_behind_the_clock_not_behind_the_last_row() {
        let newest = Received {
            at: 10_000,
            event_id: "e9".into(),
        };
        // Writes flowing: re-read from the floor (an overlap before the last poll).
        assert_eq!(
            from(&newest, 9_750),
            Received {
                at: 9_750,
                event_id: String::new()
            }
        );
        // A bulk write long past: only what comes after the newest row.
        assert_eq!(from(&newest, 60_000), newest);
    }
}
