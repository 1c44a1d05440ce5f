//! Daily store sales per item x store, built the way demand planners decompose them:
//!
//! `mean = level x trend x weekly x yearly x promotion x calendar`, then over-dispersed
//! (negative-binomial) noise, then reality: stock-out days sell nothing whatever the demand,
//! stores are closed on public holidays, and the day before a holiday is busy.
//!
//! - level: the item's popularity (the same Zipf order the clickstream uses) times the
//!   store's size, so the bestsellers online are bestsellers in the stores too;
//! - trend: a per-item growth or decline of a few percent a year;
//! - weekly: Saturday peak, quiet Sunday (shops with Sunday opening or click & collect);
//! - yearly: one harmonic peaking in the category's season (June for sports, December for
//!   toys) plus the Christmas run-up for gift categories and Black Friday;
//! - promotions: chain-wide, a week or so every couple of months, 10-30 % off, with an
//!   uplift of `(1 - discount)^-elasticity` and a small post-promotion dip (customers stocked
//!   up); `price` is the discounted price and `revenue = quantity x price`.
//!
//! Only a share of the catalogue is sold in stores (default 20 %), and each store carries
//! most but not all of it, which keeps the number of series a forecaster has to fit sane.

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use rand::Rng;
use rand::rngs::StdRng;

use super::calendar;
use super::catalog::Catalog;
use super::dist;

const CITIES: &[&str] = &[
    "Berlin",
    "Hamburg",
    "Muenchen",
    "Koeln",
    "Frankfurt",
    "Stuttgart",
    "Duesseldorf",
    "Leipzig",
    "Dortmund",
    "Essen",
];

/// Multipliers Monday..Sunday (mean 1).
pub const WEEKLY: [f64; 7] = [0.85, 0.88, 0.92, 0.98, 1.18, 1.45, 0.74];
const DISCOUNTS: [f64; 5] = [0.10, 0.15, 0.20, 0.25, 0.30];
/// Daily probability that an item x store runs out of stock (outages last 1-7 days).
const STOCKOUT_RATE: f64 = 0.006;
/// Gamma-Poisson dispersion: variance = mean + mean^2 / DISPERSION.
const DISPERSION: f64 = 6.0;
/// Probability that a store carries a store-sold item.
const CARRY_RATE: f64 = 0.7;

#[derive(Debug, Clone)]
pub struct Store {
    /// `store-01`.
    pub id: String,
    pub city: &'static str,
    /// Relative footfall.
    pub size: f64,
}

/// One row of the ERP export.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleRow {
    pub date: NaiveDate,
    /// Index into the catalogue.
    pub item: u32,
    /// Index into the stores.
    pub store: u16,
    pub quantity: u32,
    /// Unit price paid that day (discounted on promotion).
    pub price: f64,
    pub revenue: f64,
    pub on_promo: bool,
}

#[derive(Debug, Clone)]
pub struct SalesConfig {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub stores: usize,
    /// Share of the catalogue sold in stores.
    pub item_share: f64,
}

#[derive(Debug, Clone)]
pub struct Sales {
    pub stores: Vec<Store>,
    /// Number of item x store series.
    pub series: usize,
    /// In date order, then item, then store.
    pub rows: Vec<SaleRow>,
    pub stockout_days: usize,
    pub promo_days: usize,
    pub closed_days: usize,
}

struct Series {
    /// Index into the item plans.
    plan: usize,
    item: usize,
    store: usize,
    level: f64,
    stockout_left: u32,
}

/// Chain-wide promotion calendar of one item: per day, the discount (0 = none).
fn promotions(days: usize, rng: &mut StdRng) -> Vec<f64> {
    let mut out = vec![0.0; days];
    let mut d = rng.random_range(0..40usize);
    while d < days {
        let len = rng.random_range(4..=10usize);
        let discount = DISCOUNTS[rng.random_range(0..DISCOUNTS.len())];
        for slot in out.iter_mut().skip(d).take(len) {
            *slot = discount;
        }
        d += len + 20 + dist::geometric(rng, 1.0 / 35.0) as usize;
    }
    out
}

/// Calendar effect on store demand for `date`; 0 when stores are closed.
fn calendar_effect(date: NaiveDate, gift: bool) -> f64 {
    if calendar::public_holiday(date).is_some() {
        return 0.0;
    }
    let (m, d) = (date.month(), date.day());
    let mut effect = 1.0;
    if calendar::public_holiday(date + Duration::days(1)).is_some() {
        effect *= 1.25;
    }
    if date == calendar::black_friday(date.year()) {
        effect *= 1.7;
    }
    if gift {
        effect *= 1.0 + 0.8 * calendar::christmas_rampup(date);
    }
    if m == 12 && d == 24 {
        effect *= 0.6;
    }
    if m == 12 && d == 31 {
        effect *= 0.7;
    }
    effect
}

/// Simulates the sales of a share of `catalog` in `cfg.stores` stores. `popularity` is the
/// clickstream's Zipf weight per item (1 for the bestseller).
pub fn simulate(
    cfg: &SalesConfig,
    catalog: &Catalog,
    popularity: &[f64],
    rng: &mut StdRng,
) -> Sales {
    let stores: Vec<Store> = (0..cfg.stores)
        .map(|s| Store {
            id: format!("store-{:02}", s + 1),
            city: CITIES[s % CITIES.len()],
            size: dist::lognormal(rng, 1.0, 0.4),
        })
        .collect();
    let n_days = (cfg.last_day - cfg.first_day).num_days().max(0) as usize + 1;
    let n_items = catalog.items.len();
    let sold = ((n_items as f64 * cfg.item_share).round() as usize).clamp(1, n_items);
    let mut chosen = rand::seq::index::sample(rng, n_items, sold).into_vec();
    chosen.sort_unstable();

    struct ItemPlan {
        growth: f64,
        promos: Vec<f64>,
    }
    let mut plans = Vec::with_capacity(chosen.len());
    let mut series: Vec<Series> = Vec::new();
    for &item in &chosen {
        let base = 1.5 + 30.0 * popularity[item].powf(0.6);
        let growth = 0.05 + 0.25 * dist::normal(rng);
        let promos = promotions(n_days, rng);
        let mut carried: Vec<usize> = (0..stores.len())
            .filter(|_| rng.random_bool(CARRY_RATE))
            .collect();
        if carried.is_empty() {
            carried.push(rng.random_range(0..stores.len()));
        }
        for store in carried {
            series.push(Series {
                plan: plans.len(),
                item,
                store,
                level: base * stores[store].size * dist::lognormal(rng, 1.0, 0.25),
                stockout_left: 0,
            });
        }
        plans.push(ItemPlan { growth, promos });
    }

    let mut rows = Vec::with_capacity(series.len() * n_days);
    let (mut stockout_days, mut promo_days, mut closed_days) = (0, 0, 0);
    for day in 0..n_days {
        let date = cfg.first_day + Duration::days(day as i64);
        let noon = Utc.from_utc_datetime(&date.and_hms_opt(12, 0, 0).expect("noon"));
        let weekly = WEEKLY[date.weekday().num_days_from_monday() as usize];
        let t_years = day as f64 / 365.0;
        for s in series.iter_mut() {
            let plan = &plans[s.plan];
            let item = &catalog.items[s.item];
            let category = item.category();
            let discount = plan.promos[day];
            let after_promo =
                discount == 0.0 && (1..=3).any(|k| day >= k && plan.promos[day - k] > 0.0);
            let promo_effect = if discount > 0.0 {
                (1.0 - discount).powf(-category.elasticity)
            } else if after_promo {
                0.85
            } else {
                1.0
            };
            let doy = calendar::day_of_year(date);
            let yearly = 1.0
                + category.season_amplitude
                    * (std::f64::consts::TAU * (doy - category.peak_day) / 365.25).cos();
            let cal = calendar_effect(date, category.gift);
            let mean =
                s.level * (plan.growth * t_years).exp() * weekly * yearly * promo_effect * cal;
            if s.stockout_left == 0 && rng.random_bool(STOCKOUT_RATE) {
                s.stockout_left = rng.random_range(1..=7);
            }
            let quantity = if cal == 0.0 {
                closed_days += 1;
                0
            } else if s.stockout_left > 0 {
                stockout_days += 1;
                0
            } else {
                dist::negative_binomial(rng, mean, DISPERSION) as u32
            };
            s.stockout_left = s.stockout_left.saturating_sub(1);
            let price = ((item.price_at(noon) * (1.0 - discount)) * 100.0).round() / 100.0;
            if discount > 0.0 {
                promo_days += 1;
            }
            rows.push(SaleRow {
                date,
                item: s.item as u32,
                store: s.store as u16,
                quantity,
                price,
                revenue: (f64::from(quantity) * price * 100.0).round() / 100.0,
                on_promo: discount > 0.0,
            });
        }
    }
    Sales {
        stores,
        series: series.len(),
        rows,
        stockout_days,
        promo_days,
        closed_days,
    }
}

/// Mean quantity per weekday (Monday first) over open days: the weekly profile a
/// forecaster should find.
pub fn weekday_means(rows: &[SaleRow]) -> [f64; 7] {
    let mut sum = [0.0; 7];
    let mut n = [0usize; 7];
    for r in rows {
        if calendar::public_holiday(r.date).is_some() {
            continue;
        }
        let w = r.date.weekday().num_days_from_monday() as usize;
        sum[w] += f64::from(r.quantity);
        n[w] += 1;
    }
    std::array::from_fn(|w| if n[w] == 0 { 0.0 } else { sum[w] / n[w] as f64 })
}

/// Mean over series of (mean quantity on promotion / mean quantity otherwise), for the
/// series that had both.
pub fn promo_uplift(rows: &[SaleRow]) -> f64 {
    use std::collections::HashMap;
    let mut acc: HashMap<(u32, u16), [(f64, usize); 2]> = HashMap::new();
    for r in rows {
        let e = acc.entry((r.item, r.store)).or_default();
        let slot = &mut e[usize::from(r.on_promo)];
        slot.0 += f64::from(r.quantity);
        slot.1 += 1;
    }
    let ratios: Vec<f64> = acc
        .values()
        .filter(|[off, on]| off.1 > 0 && on.1 > 0 && off.0 > 0.0)
        .map(|[off, on]| (on.0 / on.1 as f64) / (off.0 / off.1 as f64))
        .collect();
    if ratios.is_empty() {
        return 1.0;
    }
    ratios.iter().sum::<f64>() / ratios.len() as f64
}
