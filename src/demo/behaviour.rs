//! The clickstream: what customers look at, click, put in the cart, buy and rate.
//!
//! Every customer and item has a latent taste vector (items cluster around their category,
//! shifted by their brand; customers mix one to three favourite categories). What a customer
//! looks at is drawn with weight `popularity^0.9 * exp(affinity + price preference)`: a
//! Zipf-like popularity gives the long tail real catalogues have, and the taste term gives
//! collaborative filtering a structure to recover. Visits come in sessions (weekday, evening,
//! Black Friday and Christmas peaks), sessions stay mostly within one category, and each view
//! may go down the funnel view -> click -> add_to_cart -> purchase with rates near those of
//! real shops (about 1 in 4 views clicked, 1 in 5 clicks carted, half of the carts bought).
//! Some purchases are rated (1-5 stars) two days to two weeks later, in line with the customer's affinity. Sessions
//! started from a recommendation carry its `recommendation_id` down the funnel, so A/B-test
//! attribution has something to count.

use chrono::Datelike;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Berlin;
use rand::Rng;
use rand::rngs::StdRng;

use super::calendar;
use super::catalog::{CATEGORIES, Catalog};
use super::dist::{self, Cumulative};
use super::people::User;

/// Dimensions of the latent taste space.
pub const TASTE_DIM: usize = 8;
type Taste = [f64; TASTE_DIM];

/// Interaction types, in funnel order (names as in the canonical dataset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    View,
    Click,
    AddToCart,
    Purchase,
    Rating,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::View,
        EventKind::Click,
        EventKind::AddToCart,
        EventKind::Purchase,
        EventKind::Rating,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::View => "view",
            EventKind::Click => "click",
            EventKind::AddToCart => "add_to_cart",
            EventKind::Purchase => "purchase",
            EventKind::Rating => "rating",
        }
    }

    /// The older exporter's spelling (the `interactions` pipeline maps it back).
    pub fn legacy_name(self) -> &'static str {
        match self {
            EventKind::AddToCart => "add-to-cart",
            EventKind::Purchase => "buy",
            other => other.name(),
        }
    }
}

/// One interaction. Ids are random 128-bit values, written as UUIDs.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: u128,
    /// Index into the users.
    pub user: u32,
    /// Index into the catalogue.
    pub item: u32,
    pub kind: EventKind,
    /// Purchases: amount paid; ratings: stars 1-5; otherwise none.
    pub value: Option<f64>,
    pub ts: DateTime<Utc>,
    pub session: u128,
    pub recommendation: Option<u128>,
}

/// Latent tastes and popularity.
#[derive(Debug, Clone)]
pub struct Tastes {
    pub users: Vec<Taste>,
    pub items: Vec<Taste>,
    /// Zipf weight per item (1 for the most popular, 1/r for rank r).
    pub popularity: Vec<f64>,
}

fn random_taste(rng: &mut StdRng, scale: f64) -> Taste {
    std::array::from_fn(|_| scale * dist::normal(rng))
}

/// Affinity of a customer for an item, on a scale where ~3 is "their favourite category".
pub fn affinity(user: &Taste, item: &Taste) -> f64 {
    user.iter().zip(item).map(|(a, b)| a * b).sum::<f64>() / (TASTE_DIM as f64).sqrt()
}

/// Draws tastes for everyone and a popularity order for the items.
pub fn tastes(catalog: &Catalog, users: &[User], rng: &mut StdRng) -> Tastes {
    let centroids: Vec<Taste> = CATEGORIES.iter().map(|_| random_taste(rng, 1.0)).collect();
    let mut brands: Vec<(&str, Taste)> = Vec::new();
    let items: Vec<Taste> = catalog
        .items
        .iter()
        .map(|item| {
            let brand = match brands.iter().find(|(b, _)| *b == item.brand) {
                Some((_, t)) => *t,
                None => {
                    let t = random_taste(rng, 0.4);
                    brands.push((item.brand, t));
                    t
                }
            };
            let noise = random_taste(rng, 0.5);
            std::array::from_fn(|k| centroids[item.category][k] + brand[k] + noise[k])
        })
        .collect();
    let shares: Vec<f64> = CATEGORIES.iter().map(|c| c.share).collect();
    let users = users
        .iter()
        .map(|_| {
            let favourites = rng.random_range(1..=3);
            let mut taste = random_taste(rng, 0.5);
            let mut left = 1.0;
            for f in 0..favourites {
                let c = dist::weighted(rng, &shares);
                let w = if f + 1 == favourites {
                    left
                } else {
                    left * rng.random_range(0.5..0.8)
                };
                left -= w;
                for (t, c) in taste.iter_mut().zip(&centroids[c]) {
                    *t += w * c;
                }
            }
            taste
        })
        .collect();
    let mut order: Vec<usize> = (0..catalog.items.len()).collect();
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), rng);
    let mut popularity = vec![0.0; catalog.items.len()];
    for (rank, i) in order.into_iter().enumerate() {
        popularity[i] = 1.0 / (rank as f64 + 1.0);
    }
    Tastes {
        users,
        items,
        popularity,
    }
}

/// The window the clickstream covers and how busy it is.
#[derive(Debug, Clone)]
pub struct BehaviourConfig {
    /// First day (UTC).
    pub first_day: NaiveDate,
    /// Last day (UTC), normally yesterday.
    pub last_day: NaiveDate,
    /// Average events per customer over the window (sets the session rate).
    pub events_per_user: f64,
}

/// Share of sessions that start from a recommendation.
const RECOMMENDED_SESSIONS: f64 = 0.3;
/// Views in a recommended session that were recommendation slots.
const RECOMMENDED_SLOTS: usize = 4;
/// Probability that the next view stays in the session's category.
const STAY_IN_CATEGORY: f64 = 0.65;
/// Probability that a purchase is rated later.
const RATING_RATE: f64 = 0.2;
/// Expected events per session under the rates below; calibrates the session rate.
const EVENTS_PER_SESSION: f64 = 6.6;

/// Relative traffic by local hour (evening peak).
const HOURS: [f64; 24] = [
    0.30, 0.15, 0.10, 0.08, 0.08, 0.15, 0.40, 0.80, 1.00, 1.10, 1.20, 1.30, 1.40, 1.30, 1.20, 1.20,
    1.30, 1.50, 1.80, 2.10, 2.30, 2.10, 1.50, 0.80,
];

/// Relative online traffic of a day: weekly pattern (Sunday evening is shopping time),
/// slow growth, Black Friday / Cyber Monday, the Christmas run-up and the quiet holidays.
fn day_weight(date: NaiveDate, first_day: NaiveDate) -> f64 {
    let weekday = match date.weekday() {
        Weekday::Mon => 1.05,
        Weekday::Tue | Weekday::Wed | Weekday::Thu => 1.0,
        Weekday::Fri => 0.92,
        Weekday::Sat => 0.88,
        Weekday::Sun => 1.2,
    };
    let trend = (0.15 * (date - first_day).num_days() as f64 / 365.0).exp();
    let bf = calendar::black_friday(date.year());
    let event = if date == bf {
        2.2
    } else if date == bf + Duration::days(3) {
        1.6
    } else if date.month() == 12 && (24..=26).contains(&date.day()) {
        0.7
    } else {
        1.0 + 0.4 * calendar::christmas_rampup(date)
    };
    weekday * trend * event
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A local Berlin wall-clock time on `date` as UTC (DST gaps resolved forward).
fn berlin(date: NaiveDate, seconds_of_day: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_num_seconds_from_midnight_opt(seconds_of_day.min(86_399), 0)
        .expect("valid time of day");
    let local = date.and_time(time);
    match Berlin.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => Berlin
            .from_local_datetime(&(local + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&local)),
    }
}

struct CartLine {
    item: usize,
    quantity: u32,
    recommendation: Option<u128>,
}

/// Simulates every customer's sessions over the window; events come back in time order.
pub fn simulate(
    cfg: &BehaviourConfig,
    catalog: &Catalog,
    users: &[User],
    tastes: &Tastes,
    rng: &mut StdRng,
) -> Vec<Event> {
    let n_days = (cfg.last_day - cfg.first_day).num_days().max(0) as usize + 1;
    let days: Vec<NaiveDate> = (0..n_days)
        .map(|d| cfg.first_day + Duration::days(d as i64))
        .collect();
    let mut day_cdf = Cumulative::default();
    day_cdf.fill(days.iter().map(|d| day_weight(*d, cfg.first_day)));
    let hours: Vec<f64> = HOURS.to_vec();
    let window_start = berlin(cfg.first_day, 0);
    let window_end = Utc.from_utc_datetime(
        &(cfg.last_day + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight"),
    );
    // Nothing is stamped later than two hours before the window ends, so no event can be
    // "in the future" for the pipelines even when the demo runs just after midnight UTC.
    let latest_start = window_end - Duration::hours(2);

    // First active day per customer and the session rate that meets the target volume.
    let first_active: Vec<Option<usize>> = users
        .iter()
        .map(|u| {
            if u.signup >= latest_start {
                return None;
            }
            let d = (u.signup.max(window_start) - window_start)
                .num_days()
                .max(0) as usize;
            (d < n_days).then_some(d)
        })
        .collect();
    let exposure: f64 = users
        .iter()
        .zip(&first_active)
        .filter_map(|(u, d)| d.map(|d| u.activity * (n_days - d) as f64))
        .sum();
    let rate = if exposure > 0.0 {
        cfg.events_per_user * users.len() as f64 / (EVENTS_PER_SESSION * exposure)
    } else {
        0.0
    };

    let item_weight_base: Vec<f64> = tastes.popularity.iter().map(|p| p.powf(0.9)).collect();
    let mut cdf = Cumulative::default();
    let mut events: Vec<Event> = Vec::new();
    for (u, user) in users.iter().enumerate() {
        let Some(first) = first_active[u] else {
            continue;
        };
        let sessions = dist::poisson(rng, rate * user.activity * (n_days - first) as f64);
        if sessions == 0 {
            continue;
        }
        let taste = &tastes.users[u];
        let price_pref = user.segment.price_preference();
        cdf.fill(catalog.items.iter().enumerate().map(|(i, item)| {
            item_weight_base[i]
                * (affinity(taste, &tastes.items[i]) + price_pref * item.price_z).exp()
        }));
        let mut starts: Vec<DateTime<Utc>> = (0..sessions)
            .filter_map(|_| {
                let d = day_cdf.sample_in(rng, first, n_days)?;
                let hour = dist::weighted(rng, &hours) as u32;
                let t = berlin(days[d], hour * 3600 + rng.random_range(0..3600));
                Some(t.max(user.signup + Duration::minutes(5)).min(latest_start))
            })
            .collect();
        starts.sort();
        for start in starts {
            session(
                SessionCtx {
                    user: u,
                    catalog,
                    tastes,
                    cdf: &cdf,
                    window_end,
                    checkout: user.segment.checkout_rate(),
                    price_pref,
                },
                start,
                rng,
                &mut events,
            );
        }
    }
    events.sort_by_key(|e| e.ts);
    events
}

struct SessionCtx<'a> {
    user: usize,
    catalog: &'a Catalog,
    tastes: &'a Tastes,
    cdf: &'a Cumulative,
    window_end: DateTime<Utc>,
    checkout: f64,
    price_pref: f64,
}

/// Picks an item that is still on sale at `t`, from the category range or the whole shop.
fn pick_item(
    ctx: &SessionCtx<'_>,
    category: Option<usize>,
    t: DateTime<Utc>,
    rng: &mut StdRng,
) -> Option<usize> {
    for _ in 0..4 {
        let i = match category {
            Some(c) => {
                let r = &ctx.catalog.ranges[c];
                ctx.cdf.sample_in(rng, r.start, r.end)?
            }
            None => ctx.cdf.sample(rng)?,
        };
        if ctx.catalog.items[i].active_at(t) {
            return Some(i);
        }
    }
    None
}

fn session(ctx: SessionCtx<'_>, start: DateTime<Utc>, rng: &mut StdRng, out: &mut Vec<Event>) {
    let session: u128 = rng.random();
    let recommendation: Option<u128> = rng.random_bool(RECOMMENDED_SESSIONS).then(|| rng.random());
    let views = dist::geometric(rng, 0.2).min(25) as usize;
    let user = &ctx.tastes.users[ctx.user];
    let mut t = start;
    let mut anchor: Option<usize> = None;
    let mut cart: Vec<CartLine> = Vec::new();
    let push = |out: &mut Vec<Event>,
                rng: &mut StdRng,
                item: usize,
                kind: EventKind,
                value: Option<f64>,
                ts: DateTime<Utc>,
                rec: Option<u128>| {
        out.push(Event {
            id: rng.random(),
            user: ctx.user as u32,
            item: item as u32,
            kind,
            value,
            ts,
            session,
            recommendation: rec,
        });
    };
    for v in 0..views {
        let category = match anchor {
            Some(c) if rng.random_bool(STAY_IN_CATEGORY) => Some(c),
            _ => None,
        };
        let Some(item) = pick_item(&ctx, category, t, rng) else {
            continue;
        };
        let it = &ctx.catalog.items[item];
        anchor.get_or_insert(it.category);
        let rec = recommendation.filter(|_| v < RECOMMENDED_SLOTS);
        push(out, rng, item, EventKind::View, None, t, rec);
        let aff = affinity(user, &ctx.tastes.items[item]);
        if rng.random_bool(sigmoid(-2.1 + 0.5 * aff)) {
            t += Duration::seconds(rng.random_range(2..9));
            push(out, rng, item, EventKind::Click, None, t, rec);
            let p_cart = sigmoid(-2.8 + 0.4 * aff + 0.3 * ctx.price_pref * it.price_z);
            if rng.random_bool(p_cart) {
                t += Duration::seconds(rng.random_range(15..91));
                push(out, rng, item, EventKind::AddToCart, None, t, rec);
                let quantity = match rng.random::<f64>() {
                    x if x < 0.85 => 1,
                    x if x < 0.97 => 2,
                    _ => 3,
                };
                cart.push(CartLine {
                    item,
                    quantity,
                    recommendation: rec,
                });
            }
        }
        t += Duration::seconds(3 + dist::exponential(rng, 40.0) as i64);
    }
    if cart.is_empty() || !rng.random_bool(ctx.checkout) {
        return;
    }
    t += Duration::seconds(rng.random_range(60..300));
    for line in cart {
        let it = &ctx.catalog.items[line.item];
        let amount = (it.price_at(t) * f64::from(line.quantity) * 100.0).round() / 100.0;
        push(
            out,
            rng,
            line.item,
            EventKind::Purchase,
            Some(amount),
            t,
            line.recommendation,
        );
        if rng.random_bool(RATING_RATE) {
            let at = t + Duration::seconds(rng.random_range(2 * 86_400..14 * 86_400));
            if at < ctx.window_end - Duration::hours(2) {
                let aff = affinity(user, &ctx.tastes.items[line.item]);
                let stars = (3.4 + 0.6 * (aff - 1.0) + 0.9 * dist::normal(rng))
                    .round()
                    .clamp(1.0, 5.0);
                // Ratings arrive in a later visit, outside the purchase session.
                out.push(Event {
                    id: rng.random(),
                    user: ctx.user as u32,
                    item: line.item as u32,
                    kind: EventKind::Rating,
                    value: Some(stars),
                    ts: at,
                    session: rng.random(),
                    recommendation: None,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_prefers_the_home_category() {
        let end = Utc::now();
        let catalog = super::super::catalog::generate(
            80,
            end - Duration::days(30),
            end,
            &mut dist::stream(1, "c"),
        );
        let users = super::super::people::generate(50, end, &mut dist::stream(1, "u"));
        let t = tastes(&catalog, &users, &mut dist::stream(1, "t"));
        // On average an item is closer to items of its own category than to others.
        let (mut within, mut across) = ((0.0, 0), (0.0, 0));
        for (i, a) in catalog.items.iter().enumerate() {
            for (j, b) in catalog.items.iter().enumerate().skip(i + 1) {
                let s = affinity(&t.items[i], &t.items[j]);
                let acc = if a.category == b.category {
                    &mut within
                } else {
                    &mut across
                };
                acc.0 += s;
                acc.1 += 1;
            }
        }
        assert!(within.0 / within.1 as f64 > across.0 / across.1 as f64 + 1.0);
        let max_pop = t.popularity.iter().cloned().fold(0.0, f64::max);
        assert_eq!(max_pop, 1.0);
    }
}
