//! Training data as arrays: interactions turned into a weighted, optionally time-decayed
//! user×item CSR matrix, and the item catalogue (latest row per item).
//!
//! Why weights: an implicit-feedback model needs one number per (user, item); a purchase says
//! more than a view, so events are summed with per-type weights. Why decay: tastes drift, and a
//! half-life makes last week's clicks count more than last year's without a hard cut-off.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sprs::{CsMat, TriMat};

/// Weight of one event by type. `rating` uses the event's value (missing value counts 0).
/// In a JSON payload the types left out keep their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventWeights {
    pub view: f64,
    pub click: f64,
    pub add_to_cart: f64,
    pub purchase: f64,
}

impl Default for EventWeights {
    fn default() -> Self {
        EventWeights {
            view: 1.0,
            click: 2.0,
            add_to_cart: 4.0,
            purchase: 8.0,
        }
    }
}

impl EventWeights {
    /// Checks every weight is finite and not negative, and one is positive.
    pub fn validate(&self) -> Result<(), super::InvalidParam> {
        let all = [self.view, self.click, self.add_to_cart, self.purchase];
        if all.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || all.iter().all(|w| *w == 0.0) {
            return Err(super::InvalidParam::new(
                "event_weights",
                "each weight must be a finite number >= 0, and one > 0",
            ));
        }
        Ok(())
    }

    /// What an event of `action` weighs here against the default weights (1 for ratings,
    /// whose weight is their value): serving re-weighs fresh events, read with the
    /// defaults, to the weights a version was trained with.
    pub fn relative(&self, action: Action) -> f64 {
        let d = EventWeights::default();
        match action {
            Action::View => self.view / d.view,
            Action::Click => self.click / d.click,
            Action::AddToCart => self.add_to_cart / d.add_to_cart,
            Action::Purchase => self.purchase / d.purchase,
            Action::Rating => 1.0,
        }
    }

    /// Events re-weighed with these weights (rows read with the defaults); ratings keep
    /// their value.
    pub fn apply(&self, events: &[Interaction]) -> Vec<Interaction> {
        events
            .iter()
            .map(|e| Interaction {
                weight: match e.event_type.as_str() {
                    "rating" => e.weight,
                    other => self.weight(other, None).unwrap_or(e.weight),
                },
                ..e.clone()
            })
            .collect()
    }

    /// The weight of an event, or None for an unknown type.
    pub fn weight(&self, event_type: &str, value: Option<f64>) -> Option<f64> {
        Some(match event_type {
            "view" => self.view,
            "click" => self.click,
            "add_to_cart" => self.add_to_cart,
            "purchase" => self.purchase,
            "rating" => value.filter(|v| v.is_finite() && *v > 0.0).unwrap_or(0.0),
            _ => return None,
        })
    }
}

/// What a user did with an item, weakest to strongest: the history keeps the strongest one per
/// (user, item) so an explanation can say what really happened ("because you bought X")
/// instead of guessing from summed weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum Action {
    View = 0,
    Click = 1,
    Rating = 2,
    AddToCart = 3,
    Purchase = 4,
}

impl Action {
    pub fn of(event_type: &str) -> Option<Action> {
        Some(match event_type {
            "view" => Action::View,
            "click" => Action::Click,
            "rating" => Action::Rating,
            "add_to_cart" => Action::AddToCart,
            "purchase" => Action::Purchase,
            _ => return None,
        })
    }

    pub fn from_code(code: u8) -> Option<Action> {
        [
            Action::View,
            Action::Click,
            Action::Rating,
            Action::AddToCart,
            Action::Purchase,
        ]
        .get(code as usize)
        .copied()
    }

    /// "because you just …" for a fresh event on an item titled `title`.
    pub fn because_just(self, title: &str) -> String {
        match self {
            Action::View => format!("because you just viewed {title}"),
            Action::Click => format!("because you just clicked {title}"),
            Action::Rating => format!("because you just rated {title}"),
            Action::AddToCart => format!("because you just added {title} to your cart"),
            Action::Purchase => format!("because you just bought {title}"),
        }
    }

    /// "because you …" for an item titled `title`.
    pub fn because(self, title: &str) -> String {
        match self {
            Action::View => format!("because you viewed {title}"),
            Action::Click => format!("because you clicked {title}"),
            Action::Rating => format!("because you rated {title}"),
            Action::AddToCart => format!("because you added {title} to your cart"),
            Action::Purchase => format!("because you bought {title}"),
        }
    }
}

/// The strongest [`Action`] per stored entry of `m` (CSR order: row by row, columns
/// ascending), from the events the matrix was built from. Entries no typed event explains
/// count as views.
pub fn strongest_actions(events: &[Interaction], m: &InteractionMatrix) -> Vec<u8> {
    let of = |e: &Interaction| {
        (e.weight > 0.0)
            .then(|| Action::of(&e.event_type))
            .flatten()
    };
    entry_max(events, m, of, Action::View)
        .into_iter()
        .map(|a| a as u8)
        .collect()
}

/// The newest event time per stored entry of `m` (CSR order, like [`strongest_actions`]),
/// from the events the matrix was built from (entries no event explains: 0).
pub fn last_seen(events: &[Interaction], m: &InteractionMatrix) -> Vec<i64> {
    entry_max(events, m, |e| Some(e.ts), 0)
}

/// Per stored entry of `m` (CSR order), the largest `value` of the events of that user and
/// item (`missing` where none has one).
fn entry_max<T: Ord + Copy>(
    events: &[Interaction],
    m: &InteractionMatrix,
    value: impl Fn(&Interaction) -> Option<T>,
    missing: T,
) -> Vec<T> {
    let mut best: HashMap<(u32, u32), T> = HashMap::with_capacity(m.matrix.nnz());
    for e in events {
        let (Some(u), Some(i), Some(v)) =
            (m.users.get(&e.user_id), m.items.get(&e.item_id), value(e))
        else {
            continue;
        };
        let slot = best.entry((u, i)).or_insert(v);
        *slot = (*slot).max(v);
    }
    let mut out = Vec::with_capacity(m.matrix.nnz());
    for (u, row) in m.matrix.outer_iterator().enumerate() {
        for (i, _) in row.iter() {
            out.push(best.get(&(u as u32, i as u32)).copied().unwrap_or(missing));
        }
    }
    out
}

/// One user's history `(item, strength)` ordered oldest first by each entry's last-seen
/// time (ties: item index), from a row's columns, values and times.
pub fn ordered_row(items: &[u32], values: &[f32], last: &[i64]) -> Vec<(u32, f32)> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&p| (last.get(p).copied().unwrap_or(0), items[p]));
    order.into_iter().map(|p| (items[p], values[p])).collect()
}

/// Each user's items in event order (ties: item index), for the transition model; rows
/// follow `m`'s user index.
pub fn sequences(events: &[Interaction], m: &InteractionMatrix) -> Vec<Vec<u32>> {
    let mut timed: Vec<Vec<(i64, u32)>> = vec![Vec::new(); m.users.len()];
    for e in events.iter().filter(|e| e.weight > 0.0) {
        if let (Some(u), Some(i)) = (m.users.get(&e.user_id), m.items.get(&e.item_id)) {
            timed[u as usize].push((e.ts, i));
        }
    }
    timed
        .into_iter()
        .map(|mut row| {
            row.sort_unstable();
            row.into_iter().map(|(_, i)| i).collect()
        })
        .collect()
}

/// One weighted event.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    pub user_id: String,
    pub item_id: String,
    pub event_type: String,
    /// Weight before time decay.
    pub weight: f64,
    /// UTC microseconds.
    pub ts: i64,
}

/// String ids ↔ dense indices, in first-seen order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdMap {
    ids: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl IdMap {
    pub fn new() -> IdMap {
        IdMap::default()
    }

    pub fn from_ids(ids: Vec<String>) -> IdMap {
        let mut map = IdMap::new();
        for id in ids {
            map.insert(&id);
        }
        map
    }

    /// Rebuilds the lookup table (after deserializing).
    pub fn reindex(&mut self) {
        self.index = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
    }

    pub fn insert(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id.to_string());
        self.index.insert(id.to_string(), i);
        i
    }

    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    pub fn id(&self, i: u32) -> &str {
        &self.ids[i as usize]
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

/// One catalogue item (the latest `items` row for its id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub item_id: String,
    pub title: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub tags: Vec<String>,
    pub price: Option<f64>,
    pub active: bool,
    /// UTC microseconds.
    pub updated_at: i64,
}

/// How to turn interactions into matrix values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct MatrixOptions {
    pub weights: EventWeights,
    /// Exponential decay: an event `half_life_days` older than `now` counts half.
    pub half_life_days: Option<f64>,
}

/// The weighted user×item matrix and its id maps.
#[derive(Debug, Clone)]
pub struct InteractionMatrix {
    pub users: IdMap,
    pub items: IdMap,
    /// CSR, users × items; duplicate events summed.
    pub matrix: CsMat<f64>,
}

/// Decay factor of an event at `ts` seen from `now` (both UTC microseconds).
pub fn decay(ts: i64, now: i64, half_life_days: Option<f64>) -> f64 {
    match half_life_days {
        Some(h) if h > 0.0 => {
            let age_days = ((now - ts).max(0) as f64) / 86_400e6;
            0.5f64.powf(age_days / h)
        }
        _ => 1.0,
    }
}

/// Builds the CSR matrix. `items` fixes the item index space (the catalogue), and items only
/// seen in interactions are appended; users are indexed in first-seen order.
pub fn build_matrix(
    interactions: &[Interaction],
    items: IdMap,
    options: &MatrixOptions,
    now: i64,
) -> InteractionMatrix {
    let mut users = IdMap::new();
    let mut items = items;
    let mut triplets = Vec::with_capacity(interactions.len());
    for e in interactions {
        let w = e.weight * decay(e.ts, now, options.half_life_days);
        if w <= 0.0 {
            continue;
        }
        let u = users.insert(&e.user_id);
        let i = items.insert(&e.item_id);
        triplets.push((u as usize, i as usize, w));
    }
    let matrix = matrix_from_triplets(users.len(), items.len(), &triplets);
    InteractionMatrix {
        users,
        items,
        matrix,
    }
}

/// CSR from `(row, col, value)` triplets, duplicates summed.
pub fn matrix_from_triplets(rows: usize, cols: usize, t: &[(usize, usize, f64)]) -> CsMat<f64> {
    let mut tri = TriMat::with_capacity((rows, cols), t.len());
    for &(r, c, v) in t {
        tri.add_triplet(r, c, v);
    }
    tri.to_csr()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(u: &str, i: &str, t: &str, w: f64, ts: i64) -> Interaction {
        Interaction {
            user_id: u.into(),
            item_id: i.into(),
            event_type: t.into(),
            weight: w,
            ts,
        }
    }

    #[test]
    fn strongest_action_per_pair_in_csr_order() {
        let events = vec![
            ev("a", "x", "view", 1.0, 0),
            ev("a", "x", "view", 1.0, 1),
            ev("a", "x", "view", 1.0, 2),
            ev("a", "y", "view", 1.0, 0),
            ev("a", "y", "purchase", 8.0, 1),
            ev("a", "y", "click", 2.0, 2),
            ev("b", "x", "add_to_cart", 4.0, 0),
        ];
        let m = build_matrix(&events, IdMap::new(), &MatrixOptions::default(), 2);
        // Summed weights alone would call a's three views of x a click.
        assert_eq!(m.matrix.get(0, 0), Some(&3.0));
        let actions: Vec<Option<Action>> = strongest_actions(&events, &m)
            .into_iter()
            .map(Action::from_code)
            .collect();
        assert_eq!(
            actions,
            vec![
                Some(Action::View),
                Some(Action::Purchase),
                Some(Action::AddToCart)
            ]
        );
        assert_eq!(Action::Purchase.because("Tent"), "because you bought Tent");
        assert_eq!(Action::from_code(5), None);
    }

    #[test]
    fn weights_by_type_and_rating_value() {
        let w = EventWeights::default();
        assert_eq!(w.weight("view", None), Some(1.0));
        assert_eq!(w.weight("purchase", Some(3.0)), Some(8.0));
        assert_eq!(w.weight("rating", Some(4.5)), Some(4.5));
        assert_eq!(w.weight("rating", None), Some(0.0));
        assert_eq!(w.weight("wishlist", None), None);
        let partial: EventWeights = serde_json::from_str(r#"{"purchase": 16}"#).unwrap();
        assert_eq!((partial.purchase, partial.view), (16.0, 1.0));
        assert!(serde_json::from_str::<EventWeights>(r#"{"purchse": 16}"#).is_err());
        assert!(w.validate().is_ok());
        assert!(
            EventWeights {
                view: f64::NAN,
                ..w
            }
            .validate()
            .is_err()
        );
        let none = EventWeights {
            view: 0.0,
            click: 0.0,
            add_to_cart: 0.0,
            purchase: 0.0,
        };
        assert!(none.validate().is_err());
        assert_eq!(
            EventWeights {
                purchase: 16.0,
                ..w
            }
            .relative(Action::Purchase),
            2.0
        );
        assert_eq!(w.relative(Action::Rating), 1.0);
    }

    #[test]
    fn matrix_sums_duplicates_and_decays() {
        let day = 86_400_000_000i64;
        let now = 10 * day;
        let events = vec![
            ev("u1", "a", "view", 1.0, now),
            ev("u1", "a", "purchase", 8.0, now - 7 * day),
            ev("u2", "b", "click", 2.0, now),
        ];
        let catalog = IdMap::from_ids(vec!["z".into()]);
        let m = build_matrix(
            &events,
            catalog,
            &MatrixOptions {
                weights: EventWeights::default(),
                half_life_days: Some(7.0),
            },
            now,
        );
        assert_eq!(m.items.ids(), ["z", "a", "b"]);
        assert_eq!(m.matrix.shape(), (2, 3));
        let v = *m.matrix.get(0, 1).unwrap();
        assert!((v - 5.0).abs() < 1e-9, "1 + 8/2 = {v}");
        assert_eq!(m.matrix.get(1, 2), Some(&2.0));
        assert_eq!(m.matrix.get(0, 0), None);
    }

    #[test]
    fn histories_in_event_order() {
        let events = vec![
            ev("a", "x", "view", 1.0, 5),
            ev("a", "y", "view", 1.0, 3),
            ev("a", "x", "view", 1.0, 1),
            ev("a", "z", "view", 1.0, 3),
            ev("b", "y", "view", 0.0, 9),
        ];
        let m = build_matrix(&events, IdMap::new(), &MatrixOptions::default(), 5);
        // CSR order of a's row: x, y, z (indices 0, 1, 2); newest times 5, 3, 3.
        let last = last_seen(&events, &m);
        assert_eq!(last, vec![5, 3, 3]);
        let row = ordered_row(&[0, 1, 2], &[2.0, 1.0, 1.0], &last);
        assert_eq!(row, vec![(1, 1.0), (2, 1.0), (0, 2.0)]);
        // Sequences keep every positive event in time order (ties by item); b's only event
        // has no weight.
        assert_eq!(sequences(&events, &m), vec![vec![0, 1, 2, 0]]);
    }
}
