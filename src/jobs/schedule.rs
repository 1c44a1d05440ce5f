//! Cron schedules that turn into jobs.
//!
//! Every replica may run the scheduler; none coordinates with another. Each cron tick becomes
//! a job whose idempotency key names the schedule and the tick (`schedule:<name>:<epoch s>`),
//! so whichever replica enqueues first creates the job and the others get the existing one
//! back: exactly one job per tick, with no leader election. Ticks are computed in UTC from the
//! last check to now, so a slow check loses nothing, and the first check starts from the
//! moment the scheduler started: ticks from before (a process that was down) are not
//! backfilled. After a DB outage at most [`MAX_CATCH_UP`] overdue ticks per schedule are
//! enqueued, the most recent ones.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::config::ScheduleSpec;

use super::JobError;
use super::model::NewJob;
use super::queue::JobQueue;

/// How often the scheduler looks for due ticks.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Most overdue ticks one schedule enqueues in one check.
pub const MAX_CATCH_UP: usize = 100;

/// The idempotency key of the job for one tick of one schedule.
pub fn tick_key(schedule: &str, tick: DateTime<Utc>) -> String {
    format!("schedule:{schedule}:{}", tick.timestamp())
}

/// Ticks of `schedule` in `(after, until]`, oldest first, at most `max` (the latest ones),
/// and how many older ones were left out.
pub fn due_ticks(
    schedule: &cron::Schedule,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    max: usize,
) -> (Vec<DateTime<Utc>>, usize) {
    let mut ticks = std::collections::VecDeque::new();
    let mut skipped = 0;
    for tick in schedule.after(&after).take_while(|t| *t <= until) {
        if ticks.len() == max {
            ticks.pop_front();
            skipped += 1;
        }
        ticks.push_back(tick);
    }
    if max == 0 {
        return (Vec::new(), skipped);
    }
    (ticks.into(), skipped)
}

/// One job the scheduler asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledJob {
    pub schedule: String,
    pub tick: DateTime<Utc>,
    pub job_id: String,
    /// False when another replica (or an earlier check) already enqueued this tick.
    pub created: bool,
}

struct Entry {
    spec: ScheduleSpec,
    cron: cron::Schedule,
    /// Ticks up to here are enqueued.
    checked_until: Mutex<DateTime<Utc>>,
}

pub struct Scheduler {
    queue: JobQueue,
    entries: Vec<Entry>,
}

impl Scheduler {
    /// Starts counting ticks from now. Schedules with an invalid cron expression (config
    /// validation refuses them, so only programmatic callers can pass one) are logged and
    /// skipped.
    pub fn new(queue: JobQueue, schedules: Vec<ScheduleSpec>) -> Self {
        let start = Utc::now();
        let entries = schedules
            .into_iter()
            .filter_map(|spec| match crate::cron_expr::parse(&spec.cron) {
                Ok(cron) => Some(Entry {
                    spec,
                    cron,
                    checked_until: Mutex::new(start),
                }),
                Err(reason) => {
                    tracing::error!(schedule = %spec.name, %reason, "schedule skipped");
                    None
                }
            })
            .collect();
        Scheduler { queue, entries }
    }

    /// Counts ticks from `start` instead of now (tests, and callers that persist progress).
    pub fn starting_at(self, start: DateTime<Utc>) -> Self {
        for entry in &self.entries {
            *lock(&entry.checked_until) = start;
        }
        self
    }

    /// Names of the active schedules.
    pub fn schedules(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.spec.name.as_str()).collect()
    }

    /// Checks about once a second until `shutdown` is cancelled. Failed checks (DB down) are
    /// logged; their ticks are retried by the next check.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), JobError> {
        tracing::info!(schedules = ?self.schedules(), "scheduler started");
        let mut interval = tokio::time::interval(CHECK_INTERVAL);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = interval.tick() => {
                    if let Err(e) = self.tick(Utc::now()).await {
                        tracing::warn!(error = %e, "scheduler check failed; will retry");
                    }
                }
            }
        }
        tracing::info!("scheduler stopped");
        Ok(())
    }

    /// One check: enqueues a job for every tick since the previous check up to `now`. Stops at
    /// the first failure; what was not enqueued is retried by the next check.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<ScheduledJob>, JobError> {
        let mut enqueued = Vec::new();
        for entry in &self.entries {
            let after = *lock(&entry.checked_until);
            if now <= after {
                continue;
            }
            let (ticks, skipped) = due_ticks(&entry.cron, after, now, MAX_CATCH_UP);
            if skipped > 0 {
                tracing::warn!(schedule = %entry.spec.name, skipped, "overdue ticks skipped");
            }
            for tick in ticks {
                let job = NewJob::new(entry.spec.kind.clone(), entry.spec.payload.clone())
                    .idempotency_key(tick_key(&entry.spec.name, tick))
                    .run_at(tick.timestamp_millis());
                let (job, created) = self.queue.enqueue(job).await?;
                if created {
                    tracing::info!(schedule = %entry.spec.name, %tick, job = %job.id, "scheduled job enqueued");
                }
                *lock(&entry.checked_until) = tick;
                enqueued.push(ScheduledJob {
                    schedule: entry.spec.name.clone(),
                    tick,
                    job_id: job.id,
                    created,
                });
            }
            *lock(&entry.checked_until) = now;
        }
        Ok(enqueued)
    }
}

fn lock(m: &Mutex<DateTime<Utc>>) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
    // A plain timestamp is valid even if a holder panicked.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, s).unwrap()
    }

    #[test]
    fn ticks_are_half_open_after_then_until() {
        let every_15_min = crate::cron_expr::parse("0 */15 * * * *").unwrap();
        let (ticks, skipped) = due_ticks(&every_15_min, at(10, 0, 0), at(11, 0, 0), 100);
        assert_eq!(
            ticks,
            vec![at(10, 15, 0), at(10, 30, 0), at(10, 45, 0), at(11, 0, 0)]
        );
        assert_eq!(skipped, 0);
        // Consecutive windows neither repeat nor miss a tick.
        let (next, _) = due_ticks(&every_15_min, at(11, 0, 0), at(11, 20, 0), 100);
        assert_eq!(next, vec![at(11, 15, 0)]);
        let (none, _) = due_ticks(&every_15_min, at(11, 1, 0), at(11, 14, 59), 100);
        assert!(none.is_empty());
    }

    #[test]
    fn catch_up_keeps_the_latest_ticks() {
        let every_second = crate::cron_expr::parse("* * * * * *").unwrap();
        let (ticks, skipped) = due_ticks(&every_second, at(10, 0, 0), at(10, 1, 0), 10);
        assert_eq!(ticks.len(), 10);
        assert_eq!(skipped, 50);
        assert_eq!(ticks.first(), Some(&at(10, 0, 51)));
        assert_eq!(ticks.last(), Some(&at(10, 1, 0)));
    }

    #[test]
    fn tick_keys_name_schedule_and_second() {
        assert_eq!(
            tick_key("lake-sweep", at(0, 0, 1)),
            format!("schedule:lake-sweep:{}", at(0, 0, 1).timestamp())
        );
    }
}
