//! A user's fresh events as serving context: what they just did shifts what they are shown,
//! on every replica, within the request after the event was acknowledged.
//!
//! Why from the metadata DB and not the model: a model version is trained on the lake hours or
//! days ago; the recent-activity state (`db::activity`) is written in the transaction that
//! acknowledges an event. Each fresh event weighs by its type (the training weights) and by
//! its age (a half-life), is folded into the user's history for scoring (known and unknown
//! users alike), explains what it caused ("because you just viewed X"), and, for the event
//! types configured to exclude (purchases by default), keeps its item out of the answer for a
//! while.

use recast_models::recommend::data::{Action, EventWeights};

use crate::config::RealtimeSettings;
use crate::db::DbError;
use crate::db::activity::Activity;
use crate::db::activity_cache::ActivitySource;

/// One fresh event, weighed for scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct FreshEvent {
    pub item_id: String,
    pub action: Action,
    /// Type weight times the recency decay.
    pub weight: f32,
    /// Epoch ms UTC.
    pub ts: i64,
}

/// The fresh context of one user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserContext {
    /// Scored events, newest first (unknown event types left out).
    pub events: Vec<FreshEvent>,
    /// Items not to recommend now (recent events of an excluding type).
    pub excluded: Vec<String>,
    /// How many recent events were read, and the newest one's time (epoch ms).
    pub used: usize,
    pub newest: Option<i64>,
}

/// Reads `user_id`'s recent events from `source` and weighs them as of `now_ms`.
pub async fn context(
    source: &ActivitySource<'_>,
    settings: &RealtimeSettings,
    user_id: &str,
    now_ms: i64,
) -> Result<UserContext, DbError> {
    let rows = source.recent(user_id, now_ms).await?;
    Ok(context_of(&rows, settings, now_ms))
}

/// The context of `rows` (newest first) as of `now_ms`.
pub fn context_of(rows: &[Activity], settings: &RealtimeSettings, now_ms: i64) -> UserContext {
    let weights = EventWeights::default();
    let hour = 3_600_000.0;
    let exclude_after = now_ms - (settings.exclude_days * 24.0 * hour) as i64;
    let mut out = UserContext {
        used: rows.len(),
        newest: rows.iter().map(|r| r.ts).max(),
        ..UserContext::default()
    };
    for r in rows {
        if r.ts >= exclude_after
            && settings.exclude_event_types.contains(&r.event_type)
            && !out.excluded.contains(&r.item_id)
        {
            out.excluded.push(r.item_id.clone());
        }
        let (Some(action), Some(w)) = (
            Action::of(&r.event_type),
            weights.weight(&r.event_type, r.value),
        ) else {
            continue;
        };
        let age_hours = ((now_ms - r.ts).max(0) as f64) / hour;
        let decay = 0.5f64.powf(age_hours / settings.half_life_hours);
        out.events.push(FreshEvent {
            item_id: r.item_id.clone(),
            action,
            weight: (w * decay) as f32,
            ts: r.ts,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, item: &str, kind: &str, ts: i64) -> Activity {
        Activity {
            event_id: id.into(),
            user_id: "u".into(),
            item_id: item.into(),
            event_type: kind.into(),
            value: None,
            ts,
        }
    }

    #[test]
    fn purchases_exclude_views_do_not_and_weights_decay_with_age() {
        let day = 86_400_000;
        let now = 100 * day;
        let settings = RealtimeSettings::default();
        let rows = vec![
            row("e1", "bought", "purchase", now - 1000),
            row("e2", "looked", "view", now - day),
            row("e3", "long-ago", "purchase", now - 40 * day),
            row("e4", "odd", "wishlist", now - 10),
        ];
        let c = context_of(&rows, &settings, now);
        assert_eq!(c.excluded, vec!["bought".to_string()]);
        assert_eq!(c.used, 4);
        assert_eq!(c.newest, Some(now - 10));
        let w = |item: &str| c.events.iter().find(|e| e.item_id == item).unwrap().weight;
        // A purchase weighs 8, a view 1; a day is one half-life.
        assert!((w("bought") - 8.0).abs() < 1e-3, "{}", w("bought"));
        assert!((w("looked") - 0.5).abs() < 1e-3, "{}", w("looked"));
        assert!(w("long-ago") < 1e-6);
        assert!(c.events.iter().all(|e| e.item_id != "odd"));
    }
}
