//! The product catalogue: categories with their own brands, vocabulary, price levels and
//! seasons. Titles, descriptions and tags are built from per-category word lists so the text
//! carries real signal (a content-based recommender can tell a yoga mat from a thriller),
//! prices are log-normal around a category median (a few expensive items, many cheap ones),
//! and a second snapshot changes some prices and retires some items during the window, as a
//! PIM export does.

use std::ops::Range;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::dist;

/// One product category and everything that makes its items look and sell like it.
#[derive(Debug)]
pub struct Category {
    /// Slug written to the `category` column.
    pub name: &'static str,
    /// Share of the catalogue.
    pub share: f64,
    pub brands: &'static [&'static str],
    pub adjectives: &'static [&'static str],
    pub nouns: &'static [&'static str],
    pub variants: &'static [&'static str],
    pub tags: &'static [&'static str],
    /// Description sentences (one is picked per item).
    pub pitches: &'static [&'static str],
    /// Median list price in EUR and the log-scale spread around it.
    pub price_median: f64,
    pub price_sigma: f64,
    /// Yearly season: peak day of year and relative amplitude.
    pub peak_day: f64,
    pub season_amplitude: f64,
    /// Bought as presents: sales follow the Christmas run-up.
    pub gift: bool,
    /// Price elasticity: promo uplift is `(1 - discount)^-elasticity`.
    pub elasticity: f64,
}

pub const CATEGORIES: &[Category] = &[
    Category {
        name: "electronics",
        share: 0.14,
        brands: &[
            "Voltix",
            "Lumora",
            "Nordtek",
            "Audiqo",
            "Pixelon",
            "Kabelwerk",
        ],
        adjectives: &[
            "Wireless",
            "Compact",
            "Noise-Cancelling",
            "Ergonomic",
            "Portable",
            "Rugged",
            "Slim",
            "Fast-Charging",
        ],
        nouns: &[
            "Headphones",
            "Bluetooth Speaker",
            "Smartwatch",
            "Power Bank",
            "USB-C Charger",
            "Webcam",
            "Keyboard",
            "Mouse",
            "Tablet Stand",
            "E-Reader",
        ],
        variants: &["Pro", "Mini", "2nd Gen", "Max", "Lite", "X2"],
        tags: &[
            "tech",
            "gadgets",
            "wireless",
            "audio",
            "accessories",
            "smart-home",
        ],
        pitches: &[
            "Pairs in seconds and lasts a full working day on one charge.",
            "USB-C everywhere, so one cable charges your whole desk.",
            "Tuned for clear sound and long battery life.",
            "A firmware update path keeps it current for years.",
        ],
        price_median: 49.0,
        price_sigma: 0.8,
        peak_day: 350.0,
        season_amplitude: 0.25,
        gift: true,
        elasticity: 2.4,
    },
    Category {
        name: "home-kitchen",
        share: 0.16,
        brands: &[
            "Hausmann",
            "Kochwerk",
            "Lindholm",
            "Casa Verde",
            "Ofenfrisch",
        ],
        adjectives: &[
            "Stainless",
            "Cast-Iron",
            "Bamboo",
            "Ceramic",
            "Non-Stick",
            "Handmade",
            "Minimalist",
            "Oak",
        ],
        nouns: &[
            "Chef's Knife",
            "Frying Pan",
            "Coffee Grinder",
            "Cutting Board",
            "Storage Jars",
            "Bedding Set",
            "Table Lamp",
            "Throw Blanket",
            "Espresso Cups",
            "Kettle",
        ],
        variants: &["Set of 2", "Set of 4", "28 cm", "1.7 l", "Large", "Classic"],
        tags: &[
            "kitchen",
            "cooking",
            "home",
            "decor",
            "sustainable",
            "bedroom",
        ],
        pitches: &[
            "Dishwasher-safe and built for daily use.",
            "Made from responsibly sourced materials that age beautifully.",
            "Heats evenly on gas, electric and induction hobs.",
            "A calm, minimalist design that fits any kitchen.",
        ],
        price_median: 29.0,
        price_sigma: 0.7,
        peak_day: 330.0,
        season_amplitude: 0.15,
        gift: true,
        elasticity: 2.0,
    },
    Category {
        name: "fashion",
        share: 0.20,
        brands: &[
            "Marlowe",
            "Nordkap",
            "Velvet & Vine",
            "Urbanite",
            "Kiezkind",
        ],
        adjectives: &[
            "Organic Cotton",
            "Waterproof",
            "Slim-Fit",
            "Oversized",
            "Knitted",
            "Recycled",
            "Classic",
            "Lightweight",
        ],
        nouns: &[
            "Jacket", "Sneakers", "Jeans", "Hoodie", "T-Shirt", "Scarf", "Backpack", "Dress",
            "Chinos", "Beanie",
        ],
        variants: &["Black", "Navy", "Olive", "Grey", "Sand", "Burgundy"],
        tags: &[
            "clothing",
            "streetwear",
            "outdoor",
            "basics",
            "sustainable",
            "accessories",
        ],
        pitches: &[
            "Cut for a relaxed fit that layers well through the seasons.",
            "Fairly produced in certified factories.",
            "Soft on the skin and tough in the wash.",
            "Free returns within 30 days if the size is not right.",
        ],
        price_median: 39.0,
        price_sigma: 0.6,
        peak_day: 285.0,
        season_amplitude: 0.2,
        gift: false,
        elasticity: 2.8,
    },
    Category {
        name: "sports-outdoor",
        share: 0.12,
        brands: &["Gipfelsturm", "Aquaflow", "Strideon", "Kraftraum"],
        adjectives: &[
            "Lightweight",
            "Non-Slip",
            "Insulated",
            "Adjustable",
            "Breathable",
            "Foldable",
            "Trail",
            "Pro-Grade",
        ],
        nouns: &[
            "Yoga Mat",
            "Running Shoes",
            "Dumbbells",
            "Water Bottle",
            "Cycling Gloves",
            "Tent",
            "Hiking Poles",
            "Resistance Bands",
            "Swim Goggles",
            "Sports Bag",
        ],
        variants: &["2 kg", "5 kg", "750 ml", "Size M", "Size L", "2-Person"],
        tags: &[
            "fitness", "outdoor", "running", "yoga", "cycling", "camping",
        ],
        pitches: &[
            "Tested on alpine trails and city runs alike.",
            "Packs small and weighs next to nothing.",
            "Grippy, sweat-resistant and easy to clean.",
            "Designed with coaches for everyday training.",
        ],
        price_median: 35.0,
        price_sigma: 0.75,
        peak_day: 160.0,
        season_amplitude: 0.3,
        gift: false,
        elasticity: 2.3,
    },
    Category {
        name: "books",
        share: 0.12,
        brands: &[
            "Hafenverlag",
            "Papierflieger",
            "Lesezeichen Press",
            "Nordlicht Books",
        ],
        adjectives: &[
            "Illustrated",
            "Bestselling",
            "Award-Winning",
            "Pocket",
            "Hardcover",
            "Collected",
            "Annotated",
            "Gripping",
        ],
        nouns: &[
            "Cookbook",
            "Thriller",
            "Travel Guide",
            "Children's Book",
            "Biography",
            "Sci-Fi Novel",
            "Poetry Collection",
            "History Book",
            "Puzzle Book",
            "Graphic Novel",
        ],
        variants: &[
            "Vol. 1",
            "Vol. 2",
            "2nd Edition",
            "Paperback",
            "Special Edition",
        ],
        tags: &[
            "reading",
            "fiction",
            "non-fiction",
            "kids",
            "travel",
            "cooking",
        ],
        pitches: &[
            "A page-turner readers finish in one weekend.",
            "Richly illustrated, with a foreword by the author.",
            "The edition critics keep recommending.",
            "Printed on recycled paper with a sewn binding.",
        ],
        price_median: 16.0,
        price_sigma: 0.4,
        peak_day: 350.0,
        season_amplitude: 0.25,
        gift: true,
        elasticity: 1.6,
    },
    Category {
        name: "beauty",
        share: 0.10,
        brands: &["Bluetenreich", "Aqualis", "Serum & Co", "Purelle"],
        adjectives: &[
            "Vegan",
            "Hydrating",
            "Fragrance-Free",
            "Organic",
            "Soothing",
            "Nourishing",
            "Mineral",
            "Refreshing",
        ],
        nouns: &[
            "Face Cream",
            "Shampoo",
            "Lip Balm",
            "Sunscreen",
            "Perfume",
            "Body Lotion",
            "Face Mask",
            "Hair Oil",
            "Shower Gel",
            "Hand Cream",
        ],
        variants: &["50 ml", "100 ml", "250 ml", "Travel Size", "Duo Pack"],
        tags: &[
            "skincare",
            "haircare",
            "vegan",
            "natural",
            "wellness",
            "fragrance",
        ],
        pitches: &[
            "Dermatologically tested and suitable for sensitive skin.",
            "Free from parabens, silicones and microplastics.",
            "A light texture that absorbs in seconds.",
            "Refillable packaging to cut waste.",
        ],
        price_median: 14.0,
        price_sigma: 0.6,
        peak_day: 190.0,
        season_amplitude: 0.12,
        gift: true,
        elasticity: 2.1,
    },
    Category {
        name: "toys",
        share: 0.08,
        brands: &["Kunterbunt", "Bauklotz", "Tueftelwerk", "Purzelbaum"],
        adjectives: &[
            "Wooden",
            "Educational",
            "Colourful",
            "Classic",
            "Family",
            "Magnetic",
            "Creative",
            "Cooperative",
        ],
        nouns: &[
            "Building Blocks",
            "Board Game",
            "Puzzle",
            "Plush Bear",
            "Wooden Train",
            "Science Kit",
            "Doll House",
            "Card Game",
            "Remote-Control Car",
            "Marble Run",
        ],
        variants: &["500 Pieces", "1000 Pieces", "Ages 3+", "Ages 8+", "Deluxe"],
        tags: &["kids", "games", "learning", "family", "wooden", "puzzles"],
        pitches: &[
            "Safety-tested, with non-toxic paints and rounded edges.",
            "Hours of play for the whole family.",
            "Builds problem-solving skills while it entertains.",
            "Comes gift-wrapped on request.",
        ],
        price_median: 25.0,
        price_sigma: 0.7,
        peak_day: 352.0,
        season_amplitude: 0.45,
        gift: true,
        elasticity: 2.2,
    },
    Category {
        name: "grocery",
        share: 0.08,
        brands: &["Feldgut", "Bergkaffee", "Teehaus Nord", "Oelmuehle Sued"],
        adjectives: &[
            "Organic",
            "Fair-Trade",
            "Single-Origin",
            "Cold-Pressed",
            "Wholegrain",
            "Roasted",
            "Artisan",
            "Raw",
        ],
        nouns: &[
            "Coffee Beans",
            "Green Tea",
            "Olive Oil",
            "Dark Chocolate",
            "Granola",
            "Pasta",
            "Honey",
            "Spice Mix",
            "Peanut Butter",
            "Sparkling Water",
        ],
        variants: &["250 g", "500 g", "1 kg", "6-Pack", "750 ml"],
        tags: &["food", "organic", "coffee", "tea", "snacks", "pantry"],
        pitches: &[
            "Sourced directly from small farms we know by name.",
            "Roasted and packed in small batches for freshness.",
            "No additives, just honest ingredients.",
            "Resealable packaging keeps it fresh for weeks.",
        ],
        price_median: 7.0,
        price_sigma: 0.5,
        peak_day: 355.0,
        season_amplitude: 0.1,
        gift: false,
        elasticity: 1.8,
    },
];

/// Tags any item may carry besides its category's own.
const COMMON_TAGS: &[&str] = &["bestseller", "new", "gift-idea", "eco", "limited"];

/// One product, with its history over the simulated window.
#[derive(Debug, Clone)]
pub struct Item {
    /// `i00042`: numbered in a shuffled order so ids do not reveal the category.
    pub id: String,
    pub category: usize,
    pub brand: &'static str,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    /// List price at creation.
    pub price: f64,
    /// Log price standardised within the category (cheap < 0 < expensive), for tastes.
    pub price_z: f64,
    pub created_at: DateTime<Utc>,
    /// A list-price change during the window: when, and the new price.
    pub price_change: Option<(DateTime<Utc>, f64)>,
    /// When the item was retired (set inactive), if it was.
    pub retired_at: Option<DateTime<Utc>>,
}

impl Item {
    /// List price at `t`.
    pub fn price_at(&self, t: DateTime<Utc>) -> f64 {
        match self.price_change {
            Some((at, price)) if t >= at => price,
            _ => self.price,
        }
    }

    pub fn active_at(&self, t: DateTime<Utc>) -> bool {
        self.retired_at.is_none_or(|r| t < r)
    }

    pub fn category(&self) -> &'static Category {
        &CATEGORIES[self.category]
    }
}

/// The items, ordered by category so each category is one contiguous index range.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub items: Vec<Item>,
    /// `ranges[c]`: indices of category `c`.
    pub ranges: Vec<Range<usize>>,
}

/// One line of an items snapshot, as the PIM exports it (the `items` pipeline's source).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemRecord {
    pub item_id: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub brand: String,
    pub price: f64,
    pub tags: Vec<String>,
    pub active: bool,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// A price ending the way shops end them: 4.49, 24.99, 149.00.
fn shop_price(raw: f64) -> f64 {
    let p = if raw < 10.0 {
        ((raw * 2.0).round() / 2.0 - 0.01).max(0.49)
    } else if raw < 100.0 {
        raw.round() - 0.01
    } else {
        (raw / 5.0).round() * 5.0
    };
    (p * 100.0).round() / 100.0
}

fn pick<'a>(rng: &mut StdRng, xs: &'a [&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

/// Number of items per category for a catalogue of `n` (every category gets at least one).
fn category_counts(n: usize) -> Vec<usize> {
    let k = CATEGORIES.len();
    let spare = n.saturating_sub(k);
    let mut counts: Vec<usize> = CATEGORIES
        .iter()
        .map(|c| 1 + (c.share * spare as f64).floor() as usize)
        .collect();
    let mut i = 0;
    while counts.iter().sum::<usize>() < n {
        counts[i % k] += 1;
        i += 1;
    }
    counts
}

/// Builds `n` items (n >= number of categories). `window` is the span the world covers:
/// items exist before it starts; changes happen inside it.
pub fn generate(
    n: usize,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    rng: &mut StdRng,
) -> Catalog {
    let counts = category_counts(n);
    let mut numbers: Vec<usize> = (1..=n).collect();
    numbers.shuffle(rng);
    let mut items = Vec::with_capacity(n);
    let mut ranges = Vec::with_capacity(counts.len());
    let span = (window_end - window_start).num_seconds().max(1);
    for (c, (cat, count)) in CATEGORIES.iter().zip(&counts).enumerate() {
        let start = items.len();
        for _ in 0..*count {
            let brand = pick(rng, cat.brands);
            let adjective = pick(rng, cat.adjectives);
            let noun = pick(rng, cat.nouns);
            let title = if rng.random_bool(0.6) {
                format!("{brand} {adjective} {noun} {}", pick(rng, cat.variants))
            } else {
                format!("{brand} {adjective} {noun}")
            };
            let second = pick(rng, cat.adjectives).to_lowercase();
            let first_pitch = rng.random_range(0..cat.pitches.len());
            let second_pitch =
                (first_pitch + rng.random_range(1..cat.pitches.len())) % cat.pitches.len();
            let description = format!(
                "The {} {} from {brand}: {second} and made to last. {} {}",
                adjective.to_lowercase(),
                noun.to_lowercase(),
                cat.pitches[first_pitch],
                cat.pitches[second_pitch],
            );
            let mut tags: Vec<String> = Vec::new();
            let n_tags = rng.random_range(2..=4);
            while tags.len() < n_tags {
                let t = pick(rng, cat.tags).to_string();
                if !tags.contains(&t) {
                    tags.push(t);
                }
            }
            if rng.random_bool(0.25) {
                tags.push(pick(rng, COMMON_TAGS).to_string());
            }
            let log_z = dist::normal(rng);
            let price = shop_price(cat.price_median * (cat.price_sigma * log_z).exp());
            // Created up to two years before the window, imported into the PIM then.
            let created_at =
                window_start - Duration::seconds(rng.random_range(3_600..2 * 365 * 86_400));
            let price_change = rng.random_bool(0.12).then(|| {
                let at = window_start + Duration::seconds(rng.random_range(0..span));
                let factor = if rng.random_bool(0.6) {
                    rng.random_range(0.8..0.95)
                } else {
                    rng.random_range(1.05..1.2)
                };
                (at, shop_price(price * factor))
            });
            let retired_at = rng
                .random_bool(0.03)
                .then(|| window_start + Duration::seconds(rng.random_range(span / 2..span)));
            items.push(Item {
                id: format!("i{:05}", numbers[items.len()]),
                category: c,
                brand,
                title,
                description,
                tags,
                price,
                price_z: log_z,
                created_at,
                price_change,
                retired_at,
            });
        }
        ranges.push(start..items.len());
    }
    Catalog { items, ranges }
}

fn record(item: &Item, price: f64, active: bool, at: DateTime<Utc>) -> ItemRecord {
    ItemRecord {
        item_id: item.id.clone(),
        title: item.title.clone(),
        description: item.description.clone(),
        category: item.category().name.to_string(),
        brand: item.brand.to_string(),
        price,
        tags: item.tags.clone(),
        active,
        updated_at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

impl Catalog {
    /// The first full export (every item as created) and the later one with the changes
    /// (price changes and retirements, one row per change, in time order).
    pub fn snapshots(&self) -> (Vec<ItemRecord>, Vec<ItemRecord>) {
        let initial = self
            .items
            .iter()
            .map(|i| record(i, i.price, true, i.created_at))
            .collect();
        let mut changes: Vec<(DateTime<Utc>, ItemRecord)> = Vec::new();
        for item in &self.items {
            if let Some((at, price)) = item.price_change {
                changes.push((at, record(item, price, item.active_at(at), at)));
            }
            if let Some(at) = item.retired_at {
                changes.push((at, record(item, item.price_at(at), false, at)));
            }
        }
        changes.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.item_id.cmp(&b.1.item_id)));
        (initial, changes.into_iter().map(|(_, r)| r).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_contiguous_and_prices_plausible() {
        let end = Utc::now();
        let start = end - Duration::days(90);
        let cat = generate(500, start, end, &mut dist::stream(1, "catalog"));
        assert_eq!(cat.items.len(), 500);
        assert_eq!(cat.ranges.len(), CATEGORIES.len());
        for (c, r) in cat.ranges.iter().enumerate() {
            assert!(!r.is_empty());
            assert!(cat.items[r.clone()].iter().all(|i| i.category == c));
        }
        let mut ids: Vec<&str> = cat.items.iter().map(|i| i.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 500, "ids are unique");
        assert!(cat.items.iter().all(|i| i.price > 0.0 && i.tags.len() >= 2));
        let (initial, changes) = cat.snapshots();
        assert_eq!(initial.len(), 500);
        assert!(!changes.is_empty());
        assert!(changes.iter().any(|c| !c.active));
        assert_eq!(category_counts(8), vec![1; 8]);
    }
}
