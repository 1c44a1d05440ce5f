//! A serving replica's in-memory copy of the users' recent activity.
//!
//! Why: reading `recent_activity` from the metadata DB on every recommendation cost about a
//! fifth of a replica's CPU under load. The DB stays the one truth (written in the
//! transaction that acknowledges an event, read by every replica); this is a copy kept current
//! by tailing the table in write order (`db::activity_tail`) plus the replica's own
//! writes as they are acknowledged. A user is read from the DB once (`based`), and from then
//! on from memory.
//!
//! Correctness rests on two rules. Tailed rows are kept for every user, also one not read
//! yet, so a row that lands between a user's DB read and that read's merge is not lost; and
//! the copy is only trusted while the tail is current ([`ActivityCache::vouch_until`]): when it
//! stops (a DB outage, a stalled task) reads go back to the DB after a second. Memory is
//! bounded by an event budget, least recently used users go first.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use lru::LruCache;

use super::activity::Activity;
use super::{Db, DbError};

/// Shards, so concurrent requests rarely wait on one lock.
const SHARDS: usize = 64;

/// One user's events, newest first (by `ts`, then `event_id`), at most the per-user bound.
#[derive(Debug, Default)]
struct Entry {
    /// The DB's rows for the user have been merged in: the entry is complete.
    based: bool,
    rows: Vec<Activity>,
}

#[derive(Debug)]
struct Shard {
    users: LruCache<String, Entry>,
    /// Events held plus one per user (see [`weight`]): what the budget bounds.
    events: usize,
}

/// The copy. Cheap to share (`Arc`); every method takes `&self`.
#[derive(Debug)]
pub struct ActivityCache {
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
    /// Events per shard before the least recently used users are dropped.
    budget: usize,
    per_user: usize,
    retention_ms: i64,
    /// A tail runs: rows may be stored (it will deliver anything written after they were read).
    accepting: AtomicBool,
    /// Epoch ms until which the tail vouches for the copy; 0: not started, reads go to the DB.
    current_until: AtomicI64,
}

impl ActivityCache {
    /// A copy of at most `events` events, `per_user` per user, ignoring events older than
    /// `retention_ms` at read time. `events == 0` makes a copy that never holds anything.
    pub fn new(events: usize, per_user: usize, retention_ms: i64) -> ActivityCache {
        ActivityCache {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        users: LruCache::unbounded(),
                        events: 0,
                    })
                })
                .collect(),
            hasher: Default::default(),
            budget: events.div_ceil(SHARDS),
            per_user: per_user.max(1),
            retention_ms,
            accepting: AtomicBool::new(false),
            current_until: AtomicI64::new(0),
        }
    }

    /// Whether this copy can hold anything at all.
    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// A tail has fixed its starting point: from now on rows read from the DB may be stored.
    pub fn open(&self) {
        if self.enabled() {
            self.accepting.store(true, Ordering::Release);
        }
    }

    fn accepting(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    /// Events the copy can still take before it drops users.
    pub fn room(&self) -> usize {
        let (users, events) = self.held();
        (self.budget * SHARDS).saturating_sub(users + events)
    }

    /// The tail has read everything written up to a moment; trust the copy until `until_ms`.
    pub fn vouch_until(&self, until_ms: i64) {
        if self.enabled() {
            self.current_until.fetch_max(until_ms, Ordering::Release);
        }
    }

    /// Stops trusting and filling the copy (the tail ended) and empties it; reads go to the DB.
    pub fn withdraw(&self) {
        self.accepting.store(false, Ordering::Release);
        self.current_until.store(0, Ordering::Release);
        for shard in &self.shards {
            let mut shard = shard.lock().expect("cache lock");
            shard.users.clear();
            shard.events = 0;
        }
    }

    /// Whether the tail vouches for the copy at `now_ms`.
    pub fn is_current(&self, now_ms: i64) -> bool {
        now_ms <= self.current_until.load(Ordering::Acquire)
    }

    fn shard(&self, user_id: &str) -> &Mutex<Shard> {
        &self.shards[(self.hasher.hash_one(user_id) as usize) % SHARDS]
    }

    /// `user_id`'s events newest first, when the copy holds them all and is current; `None`
    /// means: read the DB and hand the rows to [`ActivityCache::merge_base`].
    pub fn get(&self, user_id: &str, now_ms: i64) -> Option<Vec<Activity>> {
        if !self.is_current(now_ms) {
            return None;
        }
        let mut shard = self.shard(user_id).lock().expect("cache lock");
        let entry = shard.users.get(user_id).filter(|e| e.based)?;
        Some(self.visible(user_id, &entry.rows, now_ms))
    }

    /// Merges the DB's rows for `user_id` (newest first) into the copy, marking the user
    /// complete; returns what to serve now (the rows with anything the tail already added).
    pub fn merge_base(&self, user_id: &str, rows: Vec<Activity>, now_ms: i64) -> Vec<Activity> {
        if !self.accepting() {
            return rows;
        }
        let mut shard = self.shard(user_id).lock().expect("cache lock");
        let served = shard.update(user_id, |entry| {
            // The DB's row of an event id wins (a re-sent id keeps its first write there).
            let stored: HashSet<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
            entry.rows.retain(|r| !stored.contains(r.event_id.as_str()));
            merge(&mut entry.rows, rows, self.per_user);
            entry.based = true;
            self.visible(user_id, &entry.rows, now_ms)
        });
        self.evict(&mut shard, user_id);
        served
    }

    /// Adds rows written anywhere (the tail) or here (an acknowledged batch); rows already held
    /// are ignored. Users not read yet get a partial entry, completed on their first read.
    pub fn apply(&self, rows: Vec<Activity>) {
        if !self.accepting() {
            return;
        }
        // Rows are moved, not cloned: held rows keep an empty `user_id` anyway (see `merge`).
        let mut by_user: std::collections::HashMap<String, Vec<Activity>> = Default::default();
        for mut r in rows {
            by_user
                .entry(std::mem::take(&mut r.user_id))
                .or_default()
                .push(r);
        }
        for (user_id, fresh) in by_user {
            let mut shard = self.shard(&user_id).lock().expect("cache lock");
            shard.update(&user_id, |entry| {
                merge(&mut entry.rows, fresh, self.per_user)
            });
            self.evict(&mut shard, &user_id);
        }
    }

    /// Users currently held (for tests and metrics).
    pub fn users(&self) -> usize {
        self.held().0
    }

    /// Users and events currently held.
    pub fn held(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(users, events), s| {
            let s = s.lock().expect("cache lock");
            (users + s.users.len(), events + s.events - s.users.len())
        })
    }

    fn visible(&self, user_id: &str, rows: &[Activity], now_ms: i64) -> Vec<Activity> {
        let oldest = now_ms.saturating_sub(self.retention_ms);
        rows.iter()
            .filter(|r| r.ts >= oldest)
            .map(|r| Activity {
                user_id: user_id.to_string(),
                ..r.clone()
            })
            .collect()
    }

    /// Drops least recently used users (never `keep`) until the shard is within budget.
    fn evict(&self, shard: &mut Shard, keep: &str) {
        while shard.events > self.budget && shard.users.len() > 1 {
            match shard.users.peek_lru() {
                Some((user, _)) if user == keep => {
                    shard.users.promote(keep);
                }
                Some(_) => {
                    if let Some((_, gone)) = shard.users.pop_lru() {
                        shard.events -= weight(&gone);
                    }
                }
                None => break,
            }
        }
        if shard.events > self.budget
            && let Some(only) = shard.users.peek_mut(keep)
        {
            // One user over a tiny budget: hold nothing for them rather than break the bound.
            shard.events -= weight(only);
            shard.users.pop(keep);
        }
    }
}

/// Where a process reads recent activity: its in-memory copy while that is current, else the
/// metadata DB (whose rows then complete the copy).
#[derive(Debug, Clone, Copy)]
pub struct ActivitySource<'a> {
    pub db: &'a Db,
    pub cache: &'a ActivityCache,
    /// Newest events read per user (`realtime.max_events_per_user`).
    pub limit: usize,
}

impl ActivitySource<'_> {
    /// `user_id`'s newest events (at most `limit`), newest first.
    pub async fn recent(&self, user_id: &str, now_ms: i64) -> Result<Vec<Activity>, DbError> {
        if let Some(rows) = self.cache.get(user_id, now_ms) {
            return Ok(rows);
        }
        let rows = super::activity::recent(self.db, user_id, self.limit as i64).await?;
        Ok(self.cache.merge_base(user_id, rows, now_ms))
    }
}

impl Shard {
    /// Applies `change` to `user_id`'s entry (made empty when absent, and marked most
    /// recently used), keeping `events` in step with what the entry now weighs.
    fn update<R>(&mut self, user_id: &str, change: impl FnOnce(&mut Entry) -> R) -> R {
        let before = self.users.peek(user_id).map_or(0, weight);
        if !self.users.contains(user_id) {
            self.users.put(user_id.to_string(), Entry::default());
        }
        let entry = self.users.get_mut(user_id).expect("just inserted");
        let out = change(entry);
        let after = weight(entry);
        self.events = self.events + after - before;
        out
    }
}

/// What a user's entry counts against the budget: its events and one for the entry itself (a
/// user read with no events still takes memory).
fn weight(entry: &Entry) -> usize {
    entry.rows.len() + 1
}

/// Newest first: by time, then by event id (the DB read's order).
fn newest_first(a: &Activity, b: &Activity) -> std::cmp::Ordering {
    b.ts.cmp(&a.ts).then_with(|| b.event_id.cmp(&a.event_id))
}

/// Merges `fresh` (any order) into `held` (newest first), skipping event ids already held
/// (the held row wins: the DB keeps an event id's first write), keeping the newest `limit`.
/// Rows keep an empty `user_id`: the entry's key says whose they are.
fn merge(held: &mut Vec<Activity>, fresh: Vec<Activity>, limit: usize) {
    let known: HashSet<&str> = held.iter().map(|r| r.event_id.as_str()).collect();
    let fresh: Vec<Activity> = fresh
        .into_iter()
        .filter(|r| !known.contains(r.event_id.as_str()))
        .map(|r| Activity {
            user_id: String::new(),
            ..r
        })
        .collect();
    if fresh.is_empty() {
        return;
    }
    held.extend(fresh);
    held.sort_by(newest_first);
    held.dedup_by(|a, b| a.event_id == b.event_id);
    held.truncate(limit);
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;

    fn row(id: &str, user: &str, ts: i64) -> Activity {
        Activity {
            event_id: id.into(),
            user_id: user.into(),
            item_id: format!("item-{id}"),
            event_type: "view".into(),
            value: None,
            ts,
        }
    }

    fn ids(rows: &[Activity]) -> Vec<&str> {
        rows.iter().map(|r| r.event_id.as_str()).collect()
    }

    fn live(events: usize, per_user: usize) -> ActivityCache {
        let c = ActivityCache::new(events, per_user, 1_000_000);
        c.open();
        c.vouch_until(NOW + 1_000);
        c
    }

    #[test]
    fn a_user_is_served_from_memory_only_once_read_and_while_the_tail_is_current() {
        let c = live(1_000, 10);
        assert_eq!(c.get("u", NOW), None);
        let served = c.merge_base(
            "u",
            vec![row("b", "u", NOW - 2), row("a", "u", NOW - 3)],
            NOW,
        );
        assert_eq!(ids(&served), ["b", "a"]);
        assert!(served.iter().all(|r| r.user_id == "u"));
        c.apply(vec![row("c", "u", NOW - 1)]);
        assert_eq!(ids(&c.get("u", NOW).unwrap()), ["c", "b", "a"]);
        // The tail stopped vouching a while ago: back to the DB.
        assert_eq!(c.get("u", NOW + 1_001), None);
        c.withdraw();
        assert_eq!(c.get("u", NOW), None);
        assert_eq!(c.users(), 0);
        assert!(c.merge_base("v", vec![row("x", "v", NOW)], NOW).len() == 1);
        assert_eq!(c.users(), 0, "nothing stored without a tail");
    }

    #[test]
    fn rows_tailed_before_the_first_read_are_kept_and_duplicates_are_not() {
        let c = live(1_000, 3);
        // The tail sees a row of a user nobody has read yet...
        c.apply(vec![row("late", "u", NOW - 1)]);
        assert_eq!(c.get("u", NOW), None);
        // ...and the DB read, taken before that row committed, misses it.
        let served = c.merge_base("u", vec![row("old", "u", NOW - 5)], NOW);
        assert_eq!(ids(&served), ["late", "old"]);
        // Re-delivered by the tail's overlap, and re-read: held once. Bound per user: 3.
        c.apply(vec![
            row("late", "u", NOW - 1),
            row("new", "u", NOW),
            row("n2", "u", NOW),
        ]);
        assert_eq!(ids(&c.get("u", NOW).unwrap()), ["new", "n2", "late"]);
    }

    #[test]
    fn events_past_the_retention_are_not_served_and_the_budget_drops_idle_users() {
        let c = ActivityCache::new(SHARDS * 4, 10, 100);
        c.open();
        c.vouch_until(NOW);
        c.merge_base(
            "u",
            vec![row("new", "u", NOW), row("old", "u", NOW - 101)],
            NOW,
        );
        assert_eq!(ids(&c.get("u", NOW).unwrap()), ["new"]);
        for n in 0..500 {
            let user = format!("user-{n}");
            c.merge_base(&user, vec![row(&format!("e{n}"), &user, NOW)], NOW);
        }
        let held: usize = c.shards.iter().map(|s| s.lock().unwrap().events).sum();
        assert!(held <= SHARDS * 4, "{held}");
        assert!(c.users() < 500);
    }

    #[test]
    fn a_disabled_copy_holds_nothing() {
        let c = ActivityCache::new(0, 10, 100);
        c.open();
        c.vouch_until(NOW + 1);
        c.apply(vec![row("a", "u", NOW)]);
        assert_eq!(c.merge_base("u", vec![row("b", "u", NOW)], NOW).len(), 1);
        assert_eq!(c.get("u", NOW), None);
        assert_eq!(c.users(), 0);
    }
}
