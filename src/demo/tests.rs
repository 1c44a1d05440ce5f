//! Properties of the demo world that later stages rely on.

use std::collections::HashMap;
use std::io::Read;

use chrono::NaiveDate;

use super::*;

fn config(seed: u64) -> DemoConfig {
    let mut c = DemoConfig::new(NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()).with_days(120);
    c.users = 400;
    c.items = 80;
    c.stores = 4;
    c.seed = seed;
    c
}

fn dirs(root: &Path) -> LandingDirs {
    LandingDirs {
        interactions: root.join("interactions"),
        sales: root.join("sales"),
        items: root.join("items"),
        users: root.join("users"),
    }
}

fn read_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// CSV records of every file in `dir` (gunzipped where needed), headers removed.
fn csv_records(dir: &Path) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (name, bytes) in read_files(dir) {
        let text = if name.ends_with(".gz") {
            let mut s = String::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_string(&mut s)
                .unwrap();
            s
        } else {
            String::from_utf8(bytes).unwrap()
        };
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        for rec in r.records() {
            out.push(rec.unwrap().iter().map(str::to_string).collect());
        }
    }
    out
}

#[test]
fn the_same_seed_builds_the_same_world_and_files() {
    let a = build(&config(7));
    let b = build(&config(7));
    assert_eq!(a.events, b.events);
    assert_eq!(a.sales.rows, b.sales.rows);
    assert_eq!(a.catalog.snapshots(), b.catalog.snapshots());
    let c = build(&config(8));
    assert_ne!(a.events, c.events);

    let (x, y) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(&config(7), &dirs(x.path()), &|_| {}).unwrap();
    generate(&config(7), &dirs(y.path()), &|_| {}).unwrap();
    for d in Dataset::ALL {
        let (fx, fy) = (
            read_files(dirs(x.path()).get(d)),
            read_files(dirs(y.path()).get(d)),
        );
        assert!(!fx.is_empty(), "{d}");
        assert!(fx == fy, "{d} files differ between runs with the same seed");
    }
}

#[test]
fn the_funnel_narrows_and_popularity_is_skewed() {
    let world = build(&config(11));
    let mut by_kind: HashMap<EventKind, usize> = HashMap::new();
    let mut by_item = vec![0usize; world.catalog.items.len()];
    for e in &world.events {
        *by_kind.entry(e.kind).or_default() += 1;
        by_item[e.item as usize] += 1;
    }
    let n = |k| by_kind.get(&k).copied().unwrap_or(0);
    let (views, clicks, carts, buys) = (
        n(EventKind::View),
        n(EventKind::Click),
        n(EventKind::AddToCart),
        n(EventKind::Purchase),
    );
    assert!(
        views > clicks && clicks > carts && carts > buys && buys > 0,
        "{by_kind:?}"
    );
    let ctr = clicks as f64 / views as f64;
    assert!((0.1..0.5).contains(&ctr), "click-through {ctr}");
    assert!(n(EventKind::Rating) > 0);
    // Volume is near the target (100 events a customer).
    let per_user = world.events.len() as f64 / world.users.len() as f64;
    assert!(
        (60.0..150.0).contains(&per_user),
        "{per_user} events per user"
    );

    by_item.sort_unstable_by(|a, b| b.cmp(a));
    let top = by_item.len() / 10;
    let share = by_item[..top].iter().sum::<usize>() as f64 / world.events.len() as f64;
    assert!(
        share > 0.25,
        "top 10 % of items get {share:.2} of interactions"
    );

    // Everything happens inside the window, after the customer signed up.
    let end = world.config.end_instant();
    let first = world.config.interactions_first_day() - Duration::days(1);
    for e in &world.events {
        assert!(e.ts < end && e.ts.date_naive() >= first, "{e:?}");
        assert!(e.ts > world.users[e.user as usize].signup);
    }
}

#[test]
fn sales_have_weekly_seasonality_promotions_and_stockouts() {
    let mut c = config(3);
    c.days = 365;
    let world = build(&c);
    let rows = &world.sales.rows;
    assert_eq!(rows.len(), world.sales.series * 365);
    let means = sales::weekday_means(rows);
    let (sat, sun, tue) = (means[5], means[6], means[1]);
    assert!(
        sat > 1.3 * tue && tue > 1.05 * sun,
        "weekday means {means:?}"
    );
    let uplift = sales::promo_uplift(rows);
    assert!(uplift > 1.3, "promo uplift {uplift}");
    assert!(world.sales.stockout_days > 0 && world.sales.promo_days > 0);
    // Closed on public holidays; revenue is quantity times the (discounted) price.
    for r in rows {
        if calendar::public_holiday(r.date).is_some() {
            assert_eq!(r.quantity, 0);
        }
        assert!((r.revenue - f64::from(r.quantity) * r.price).abs() < 0.01);
        let list = world.catalog.items[r.item as usize]
            .price_at(Utc.from_utc_datetime(&r.date.and_hms_opt(12, 0, 0).unwrap()));
        assert_eq!(r.on_promo, r.price < list - 0.001, "{r:?} list {list}");
    }
}

#[test]
fn bad_rows_are_injected_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(5);
    let summary = generate(&c, &dirs(dir.path()), &|_| {}).unwrap();
    assert!(summary.generated);

    for d in Dataset::ALL {
        let s = summary.dataset(d).unwrap();
        let kinds = corrupt::kinds_for(d);
        assert_eq!(s.bad_rows.len(), kinds.len(), "{d}: every kind injected");
        let rate = s.bad_total() as f64 / s.rows as f64;
        if s.rows > 2_000 {
            assert!((0.005..=0.01).contains(&rate), "{d}: bad-row rate {rate}");
        }
        assert!(s.duplicates >= 1);
        assert_eq!(s.files_written, c.file_names(d));
    }

    // Read back the clickstream and recognise each kind by its symptom.
    let s = summary.dataset(Dataset::Interactions).unwrap();
    let recs = csv_records(&s.dir);
    assert_eq!(
        recs.len() as u64,
        s.rows + s.bad_total() + s.duplicates,
        "every clean, bad and duplicate row is written"
    );
    let kind = |k| s.bad_rows[&k];
    let event_types = [
        "view",
        "click",
        "add_to_cart",
        "purchase",
        "rating",
        "add-to-cart",
        "buy",
    ];
    let well_formed: Vec<&Vec<String>> = recs.iter().filter(|r| r.len() == 8).collect();
    assert_eq!(
        (recs.len() - well_formed.len()) as u64,
        kind(BadKind::BrokenRecord)
    );
    let unknown = well_formed
        .iter()
        .filter(|r| !event_types.contains(&r[3].as_str()))
        .count() as u64;
    assert_eq!(unknown, kind(BadKind::UnknownEventType));
    let negative = well_formed.iter().filter(|r| r[4].starts_with('-')).count() as u64;
    assert_eq!(negative, kind(BadKind::NegativeQuantity));
    let clean_ids: HashMap<&str, usize> = well_formed.iter().fold(HashMap::new(), |mut m, r| {
        *m.entry(r[0].as_str()).or_default() += 1;
        m
    });
    assert!(
        clean_ids.values().any(|n| *n >= 2),
        "duplicates repeat an id"
    );
    // The oldest file uses the legacy spellings, the others the canonical ones.
    assert!(recs.iter().any(|r| r.len() == 8 && r[3] == "buy"));
    assert!(recs.iter().any(|r| r.len() == 8 && r[3] == "purchase"));

    let s = summary.dataset(Dataset::Sales).unwrap();
    let recs = csv_records(&s.dir);
    assert_eq!(recs.len() as u64, s.rows + s.bad_total() + s.duplicates);
    let negative = recs
        .iter()
        .filter(|r| r.len() == 7 && r[3].starts_with('-') && r[3] != "-")
        .count() as u64;
    assert_eq!(negative, s.bad_rows[&BadKind::NegativeQuantity]);

    let s = summary.dataset(Dataset::Items).unwrap();
    let lines: Vec<String> = read_files(&s.dir)
        .into_iter()
        .flat_map(|(_, b)| {
            String::from_utf8(b)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(lines.len() as u64, s.rows + s.bad_total() + s.duplicates);
    let broken = lines
        .iter()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        .count() as u64;
    assert_eq!(broken, s.bad_rows[&BadKind::BrokenRecord]);
    let good: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert!(good["tags"].is_array() && good["active"].is_boolean() && good["price"].is_f64());
}

#[test]
fn existing_files_are_kept_and_a_rerun_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dirs(dir.path());
    let c = config(9);
    generate(&c, &out, &|_| {}).unwrap();
    let before = read_files(&out.sales);

    let again = generate(&c, &out, &|_| {}).unwrap();
    assert!(!again.generated);
    for d in &again.datasets {
        assert!(d.files_written.is_empty(), "{}", d.dataset);
        assert_eq!(d.files_kept, c.file_names(d.dataset));
    }

    // A lost file is written again, identical; the others are left alone.
    let lost = &before[1].0;
    std::fs::remove_file(out.sales.join(lost)).unwrap();
    let repaired = generate(&c, &out, &|_| {}).unwrap();
    let sales = repaired.dataset(Dataset::Sales).unwrap();
    assert_eq!(sales.files_written, vec![lost.clone()]);
    assert_eq!(read_files(&out.sales), before);
    assert!(
        repaired
            .dataset(Dataset::Users)
            .unwrap()
            .files_written
            .is_empty()
    );
    // No temporary files are left behind.
    for d in Dataset::ALL {
        assert!(
            read_files(out.get(d))
                .iter()
                .all(|(n, _)| n.starts_with("demo-"))
        );
    }
}

#[test]
fn options_are_validated_by_name() {
    let mut c = config(1);
    c.items = 3;
    let e = c.validate().unwrap_err();
    assert!(e.to_string().contains("items"), "{e}");
    let c = config(1).with_days(30);
    assert_eq!(c.interaction_days, 30);
    assert_eq!(c.file_names(Dataset::Interactions).len(), 1);
    assert_eq!(c.file_names(Dataset::Sales).len(), 1);
    assert_eq!(DemoConfig::new(c.end).file_names(Dataset::Sales).len(), 13);
}
