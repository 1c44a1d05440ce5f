//! The demo world behind `recast demo`: a small but realistic e-commerce shop, written into
//! the landing zone in exactly the formats the shipped pipelines read.
//!
//! Why a generator instead of a sample file: every later stage (validation, quarantine,
//! dedup, features, recommenders, forecasters, A/B tests) needs data with the structure it
//! is built to find: latent tastes and a long tail for collaborative filtering, a funnel for
//! conversion metrics, trend + weekly + yearly seasonality + promotions + holidays +
//! stock-outs for forecasting, and a known share of broken rows for the quarantine. A seed
//! makes it reproducible; the date makes it current (the world ends yesterday, UTC).
//!
//! The domain parts are pure (`catalog`, `people`, `behaviour`, `sales`, `corrupt`, with
//! `calendar` and `dist` under them) and each draws from its own seeded stream; this file
//! plans the landing files and writes them.
//!
//! Re-running: file names depend only on the world's shape, never on the date, and a file
//! that already exists is kept as is (files are written to a temporary name and renamed, so
//! an existing file is always complete). A second `recast demo` in the same directory
//! therefore writes nothing, the pipelines' ledgers find nothing new, and the data is not
//! doubled, even on a later day. To regenerate, delete the landing directories.

pub mod behaviour;
pub mod calendar;
pub mod catalog;
pub mod corrupt;
pub mod dist;
pub mod people;
pub mod sales;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use serde::Serialize;

use crate::etl::Dataset;
use behaviour::{BehaviourConfig, Event, EventKind, Tastes};
use catalog::{Catalog, ItemRecord};
use corrupt::{BadKind, Clock, Plan};
use people::User;
use sales::{Sales, SalesConfig};

/// Days per landing file for the clickstream and the sales export.
const DAYS_PER_FILE: u32 = 30;

/// The shape of the world.
#[derive(Debug, Clone, Serialize)]
pub struct DemoConfig {
    pub users: usize,
    pub items: usize,
    pub stores: usize,
    /// Days of sales history.
    pub days: u32,
    /// Days of clickstream (at most [`DemoConfig::MAX_INTERACTION_DAYS`] and `days`).
    pub interaction_days: u32,
    pub seed: u64,
    /// Last day of the world (normally yesterday, UTC).
    pub end: NaiveDate,
    /// Average interactions per customer over the clickstream window.
    pub events_per_user: f64,
    /// Share of the catalogue also sold in stores.
    pub store_item_share: f64,
    /// Bad rows injected per clean row (each kind at least once).
    pub bad_row_rate: f64,
    /// Exact duplicate rows per clean row (at least one).
    pub duplicate_rate: f64,
}

impl DemoConfig {
    pub const MAX_INTERACTION_DAYS: u32 = 90;

    /// The default world ending on `end`: 2,000 customers, 500 items, 10 stores, a year of
    /// sales and 90 days (~200k events) of clickstream.
    pub fn new(end: NaiveDate) -> DemoConfig {
        DemoConfig {
            users: 2_000,
            items: 500,
            stores: 10,
            days: 365,
            interaction_days: Self::MAX_INTERACTION_DAYS,
            seed: 42,
            end,
            events_per_user: 100.0,
            store_item_share: 0.2,
            bad_row_rate: 0.007,
            duplicate_rate: 0.001,
        }
    }

    /// Sets the sales history length and clamps the clickstream window to it.
    pub fn with_days(mut self, days: u32) -> DemoConfig {
        self.days = days;
        self.interaction_days = days.min(Self::MAX_INTERACTION_DAYS);
        self
    }

    /// Refuses shapes the generator cannot make sense of, naming the option.
    pub fn validate(&self) -> Result<(), DemoError> {
        let bad = |field: &str, detail: String| {
            Err(DemoError::Invalid {
                field: field.to_string(),
                detail,
            })
        };
        let min_items = catalog::CATEGORIES.len();
        if !(1..=1_000_000).contains(&self.users) {
            return bad("users", "must be between 1 and 1000000".into());
        }
        if !(min_items..=100_000).contains(&self.items) {
            return bad(
                "items",
                format!("must be between {min_items} (one per category) and 100000"),
            );
        }
        if !(1..=1_000).contains(&self.stores) {
            return bad("stores", "must be between 1 and 1000".into());
        }
        if !(7..=3_650).contains(&self.days) {
            return bad("days", "must be between 7 and 3650".into());
        }
        if self.interaction_days == 0 || self.interaction_days > self.days {
            return bad("interaction_days", "must be between 1 and `days`".into());
        }
        Ok(())
    }

    pub fn sales_first_day(&self) -> NaiveDate {
        self.end - Duration::days(i64::from(self.days) - 1)
    }

    pub fn interactions_first_day(&self) -> NaiveDate {
        self.end - Duration::days(i64::from(self.interaction_days) - 1)
    }

    fn end_instant(&self) -> DateTime<Utc> {
        Utc.from_utc_datetime(
            &(self.end + Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .expect("midnight"),
        )
    }

    /// What the corruptions use as "the future": a month after the world ends.
    fn clock(&self) -> Clock {
        Clock {
            future: self.end_instant() + Duration::days(30),
        }
    }

    /// The landing files of this world, per dataset. Names depend on the shape only.
    pub fn file_names(&self, dataset: Dataset) -> Vec<String> {
        let chunks = |days: u32| days.div_ceil(DAYS_PER_FILE) as usize;
        match dataset {
            Dataset::Interactions => (1..=chunks(self.interaction_days))
                .map(|i| format!("demo-interactions-{i:02}.csv.gz"))
                .collect(),
            Dataset::Sales => (1..=chunks(self.days))
                .map(|i| format!("demo-sales-{i:03}.csv"))
                .collect(),
            Dataset::Items => vec![
                "demo-items-1-initial.ndjson".into(),
                "demo-items-2-changes.ndjson".into(),
            ],
            Dataset::Users => vec!["demo-users.csv".into()],
        }
    }
}

/// Everything the world holds, before it is written.
#[derive(Debug, Clone)]
pub struct World {
    pub config: DemoConfig,
    pub catalog: Catalog,
    pub users: Vec<User>,
    pub tastes: Tastes,
    /// In time order.
    pub events: Vec<Event>,
    pub sales: Sales,
}

/// Builds the world (pure and deterministic for a config).
pub fn build(config: &DemoConfig) -> World {
    let seed = config.seed;
    let end = config.end_instant();
    let sales_start = Utc.from_utc_datetime(
        &config
            .sales_first_day()
            .and_hms_opt(0, 0, 0)
            .expect("midnight"),
    );
    let catalog = catalog::generate(
        config.items,
        sales_start,
        end,
        &mut dist::stream(seed, "catalog"),
    );
    let users = people::generate(config.users, end, &mut dist::stream(seed, "users"));
    let tastes = behaviour::tastes(&catalog, &users, &mut dist::stream(seed, "tastes"));
    let events = behaviour::simulate(
        &BehaviourConfig {
            first_day: config.interactions_first_day(),
            last_day: config.end,
            events_per_user: config.events_per_user,
        },
        &catalog,
        &users,
        &tastes,
        &mut dist::stream(seed, "behaviour"),
    );
    let sales = sales::simulate(
        &SalesConfig {
            first_day: config.sales_first_day(),
            last_day: config.end,
            stores: config.stores,
            item_share: config.store_item_share,
        },
        &catalog,
        &tastes.popularity,
        &mut dist::stream(seed, "sales"),
    );
    World {
        config: config.clone(),
        catalog,
        users,
        tastes,
        events,
        sales,
    }
}

/// Where each dataset's landing files go (the `url` of its files pipeline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandingDirs {
    pub interactions: PathBuf,
    pub sales: PathBuf,
    pub items: PathBuf,
    pub users: PathBuf,
}

impl LandingDirs {
    pub fn get(&self, dataset: Dataset) -> &Path {
        match dataset {
            Dataset::Interactions => &self.interactions,
            Dataset::Sales => &self.sales,
            Dataset::Items => &self.items,
            Dataset::Users => &self.users,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("`{field}` {detail}")]
    Invalid { field: String, detail: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What was written for one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    pub dataset: Dataset,
    pub dir: PathBuf,
    pub files_written: Vec<String>,
    /// Files that already existed and were left alone.
    pub files_kept: Vec<String>,
    /// Clean rows in the written files.
    pub rows: u64,
    /// Bad rows injected into the written files, per kind.
    pub bad_rows: BTreeMap<BadKind, u64>,
    /// Exact duplicates injected into the written files.
    pub duplicates: u64,
}

impl DatasetSummary {
    pub fn bad_total(&self) -> u64 {
        self.bad_rows.values().sum()
    }
}

/// What `generate` did, with the world's headline numbers.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    pub config: DemoConfig,
    /// False when every landing file already existed (nothing was generated).
    pub generated: bool,
    pub datasets: Vec<DatasetSummary>,
    /// Clean events per type (canonical names), when generated.
    pub events_by_type: BTreeMap<&'static str, u64>,
    pub sales_series: usize,
    pub stockout_days: usize,
    pub promo_days: usize,
}

impl DemoSummary {
    pub fn dataset(&self, dataset: Dataset) -> Option<&DatasetSummary> {
        self.datasets.iter().find(|d| d.dataset == dataset)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `path` through a temporary file in the same directory and renames it into place,
/// so a crash never leaves a half-written file under the real name.
fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), DemoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // No `.csv`/`.ndjson` in the temporary name: pipeline patterns must never match it.
    let tmp = dir.join(format!(".~{}.tmp", name.replace('.', "_")));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut out = std::io::BufWriter::new(file);
        body(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

/// Writes one CSV landing file: each clean record, followed by its duplicate and its bad
/// companion when the plan says so. `first_row` is the global index of the first record.
#[allow(clippy::too_many_arguments)]
fn write_csv(
    path: &Path,
    gzip: bool,
    header: &[&str],
    records: impl Iterator<Item = Vec<String>>,
    first_row: usize,
    plan: &Plan,
    corrupt: impl FnMut(BadKind, &[String]) -> Vec<String>,
    counts: &mut DatasetSummary,
) -> Result<(), DemoError> {
    write_atomic(path, |out| {
        if gzip {
            let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            csv_body(gz, header, records, first_row, plan, corrupt, counts)?.finish()?;
        } else {
            csv_body(out, header, records, first_row, plan, corrupt, counts)?;
        }
        Ok(())
    })
}

fn csv_body<W: Write>(
    sink: W,
    header: &[&str],
    records: impl Iterator<Item = Vec<String>>,
    first_row: usize,
    plan: &Plan,
    mut corrupt: impl FnMut(BadKind, &[String]) -> Vec<String>,
    counts: &mut DatasetSummary,
) -> std::io::Result<W> {
    // Flexible: the broken-record kind writes lines with the wrong number of fields.
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(sink);
    w.write_record(header)?;
    for (offset, record) in records.enumerate() {
        let row = first_row + offset;
        w.write_record(&record)?;
        counts.rows += 1;
        if plan.duplicated(row) {
            w.write_record(&record)?;
            counts.duplicates += 1;
        }
        if let Some(kind) = plan.bad(row) {
            w.write_record(corrupt(kind, &record))?;
            *counts.bad_rows.entry(kind).or_insert(0) += 1;
        }
    }
    w.into_inner().map_err(|e| e.into_error())
}

fn uuid(v: u128) -> String {
    uuid::Builder::from_random_bytes(v.to_le_bytes())
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn interaction_record(world: &World, e: &Event, legacy: bool) -> Vec<String> {
    let value = match (e.kind, e.value) {
        (EventKind::Rating, Some(v)) => format!("{v:.0}"),
        (_, Some(v)) => format!("{v:.2}"),
        (_, None) => String::new(),
    };
    vec![
        uuid(e.id),
        world.users[e.user as usize].id.clone(),
        world.catalog.items[e.item as usize].id.clone(),
        if legacy {
            e.kind.legacy_name()
        } else {
            e.kind.name()
        }
        .to_string(),
        value,
        e.ts.with_timezone(&Berlin)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        uuid(e.session),
        e.recommendation.map(uuid).unwrap_or_default(),
    ]
}

fn sale_record(world: &World, r: &sales::SaleRow) -> Vec<String> {
    vec![
        r.date.format("%Y-%m-%d").to_string(),
        world.catalog.items[r.item as usize].id.clone(),
        world.sales.stores[r.store as usize].id.clone(),
        r.quantity.to_string(),
        format!("{:.2}", r.revenue),
        format!("{:.2}", r.price),
        r.on_promo.to_string(),
    ]
}

/// A CRM row: the demo's accounts were never changed, so their modification time is the
/// signup time.
fn user_record(u: &User) -> Vec<String> {
    vec![
        u.id.clone(),
        u.signup_local(),
        u.segment.name().to_string(),
        u.region.to_string(),
        u.signup_local(),
    ]
}

/// Source columns of each landing format (what the shipped pipelines' `from` names).
pub fn source_columns(dataset: Dataset) -> &'static [&'static str] {
    match dataset {
        Dataset::Interactions => &[
            "event_id",
            "user_id",
            "item_id",
            "event_type",
            "value",
            "timestamp",
            "session_id",
            "recommendation_id",
        ],
        Dataset::Sales => &[
            "date", "item_id", "store_id", "quantity", "revenue", "price", "on_promo",
        ],
        Dataset::Items => &[
            "item_id",
            "title",
            "description",
            "category",
            "brand",
            "price",
            "tags",
            "active",
            "updated_at",
        ],
        Dataset::Users => &["user_id", "signup_time", "segment", "region", "updated_at"],
    }
}

/// Writes the world into `out`, keeping files that already exist; `progress` hears about
/// each step. Returns what was written.
pub fn generate(
    config: &DemoConfig,
    out: &LandingDirs,
    progress: &dyn Fn(&str),
) -> Result<DemoSummary, DemoError> {
    config.validate()?;
    let mut datasets: Vec<DatasetSummary> = Dataset::ALL
        .iter()
        .map(|&dataset| {
            let dir = out.get(dataset).to_path_buf();
            let (kept, missing): (Vec<String>, Vec<String>) = config
                .file_names(dataset)
                .into_iter()
                .partition(|name| dir.join(name).exists());
            DatasetSummary {
                dataset,
                dir,
                files_written: missing,
                files_kept: kept,
                rows: 0,
                bad_rows: BTreeMap::new(),
                duplicates: 0,
            }
        })
        .collect();
    if datasets.iter().all(|d| d.files_written.is_empty()) {
        return Ok(DemoSummary {
            config: config.clone(),
            generated: false,
            datasets,
            events_by_type: BTreeMap::new(),
            sales_series: 0,
            stockout_days: 0,
            promo_days: 0,
        });
    }

    progress("building the world: catalogue, customers, tastes, sessions, store sales");
    let world = build(config);
    let clock = config.clock();
    for summary in &mut datasets {
        progress(&format!("writing {}", summary.dataset));
        match summary.dataset {
            Dataset::Interactions => write_interactions(&world, clock, summary)?,
            Dataset::Sales => write_sales(&world, clock, summary)?,
            Dataset::Items => write_items(&world, clock, summary)?,
            Dataset::Users => write_users(&world, clock, summary)?,
        }
    }
    let mut events_by_type = BTreeMap::new();
    for e in &world.events {
        *events_by_type.entry(e.kind.name()).or_insert(0) += 1;
    }
    Ok(DemoSummary {
        config: config.clone(),
        generated: true,
        datasets,
        events_by_type,
        sales_series: world.sales.series,
        stockout_days: world.sales.stockout_days,
        promo_days: world.sales.promo_days,
    })
}

/// Row bounds of consecutive [`DAYS_PER_FILE`]-day chunks from `first`, for rows in date
/// order: chunk `k` is `bounds[k]..bounds[k + 1]`.
fn chunk_bounds(
    dates: impl Iterator<Item = NaiveDate>,
    first: NaiveDate,
    chunks: usize,
) -> Vec<usize> {
    let mut counts = vec![0usize; chunks];
    for d in dates {
        let k = (d - first).num_days().max(0) as usize / DAYS_PER_FILE as usize;
        counts[k.min(chunks - 1)] += 1;
    }
    let mut bounds = vec![0usize; chunks + 1];
    for k in 0..chunks {
        bounds[k + 1] = bounds[k] + counts[k];
    }
    bounds
}

fn write_interactions(
    world: &World,
    clock: Clock,
    summary: &mut DatasetSummary,
) -> Result<(), DemoError> {
    let cfg = &world.config;
    let names = cfg.file_names(Dataset::Interactions);
    let plan = Plan::new(
        world.events.len(),
        corrupt::kinds_for(Dataset::Interactions),
        cfg.bad_row_rate,
        cfg.duplicate_rate,
        &mut dist::stream(cfg.seed, "plan-interactions"),
    );
    let bounds = chunk_bounds(
        world.events.iter().map(|e| e.ts.date_naive()),
        cfg.interactions_first_day(),
        names.len(),
    );
    for (k, name) in names.iter().enumerate() {
        if !summary.files_written.contains(name) {
            continue;
        }
        // The oldest export came from the previous frontend, which spelled some event
        // types differently (`add-to-cart`, `buy`); the pipeline's `map` accepts both.
        let legacy = k == 0;
        let rows = &world.events[bounds[k]..bounds[k + 1]];
        let mut rng = dist::stream(cfg.seed, &format!("corrupt-{name}"));
        write_csv(
            &summary.dir.join(name),
            true,
            source_columns(Dataset::Interactions),
            rows.iter().map(|e| interaction_record(world, e, legacy)),
            bounds[k],
            &plan,
            |kind, rec| corrupt::interaction(kind, rec, clock, &mut rng),
            summary,
        )?;
    }
    Ok(())
}

fn write_sales(world: &World, clock: Clock, summary: &mut DatasetSummary) -> Result<(), DemoError> {
    let cfg = &world.config;
    let names = cfg.file_names(Dataset::Sales);
    let rows = &world.sales.rows;
    let plan = Plan::new(
        rows.len(),
        corrupt::kinds_for(Dataset::Sales),
        cfg.bad_row_rate,
        cfg.duplicate_rate,
        &mut dist::stream(cfg.seed, "plan-sales"),
    );
    let bounds = chunk_bounds(
        rows.iter().map(|r| r.date),
        cfg.sales_first_day(),
        names.len(),
    );
    for (k, name) in names.iter().enumerate() {
        if !summary.files_written.contains(name) {
            continue;
        }
        let mut rng = dist::stream(cfg.seed, &format!("corrupt-{name}"));
        write_csv(
            &summary.dir.join(name),
            false,
            source_columns(Dataset::Sales),
            rows[bounds[k]..bounds[k + 1]]
                .iter()
                .map(|r| sale_record(world, r)),
            bounds[k],
            &plan,
            |kind, rec| corrupt::sale(kind, rec, clock, &mut rng),
            summary,
        )?;
    }
    Ok(())
}

fn write_users(world: &World, clock: Clock, summary: &mut DatasetSummary) -> Result<(), DemoError> {
    let cfg = &world.config;
    let plan = Plan::new(
        world.users.len(),
        corrupt::kinds_for(Dataset::Users),
        cfg.bad_row_rate,
        cfg.duplicate_rate,
        &mut dist::stream(cfg.seed, "plan-users"),
    );
    for name in cfg.file_names(Dataset::Users) {
        if !summary.files_written.contains(&name) {
            continue;
        }
        let mut rng = dist::stream(cfg.seed, &format!("corrupt-{name}"));
        write_csv(
            &summary.dir.join(&name),
            false,
            source_columns(Dataset::Users),
            world.users.iter().map(user_record),
            0,
            &plan,
            |kind, rec| corrupt::user(kind, rec, clock, &mut rng),
            summary,
        )?;
    }
    Ok(())
}

fn write_items(world: &World, clock: Clock, summary: &mut DatasetSummary) -> Result<(), DemoError> {
    let cfg = &world.config;
    let (initial, changes) = world.catalog.snapshots();
    let plan = Plan::new(
        initial.len() + changes.len(),
        corrupt::kinds_for(Dataset::Items),
        cfg.bad_row_rate,
        cfg.duplicate_rate,
        &mut dist::stream(cfg.seed, "plan-items"),
    );
    let names = cfg.file_names(Dataset::Items);
    let parts: [(&[ItemRecord], usize); 2] = [(&initial, 0), (&changes, initial.len())];
    for (name, (records, first_row)) in names.iter().zip(parts) {
        if !summary.files_written.contains(name) {
            continue;
        }
        let mut rng = dist::stream(cfg.seed, &format!("corrupt-{name}"));
        write_atomic(&summary.dir.join(name), |out| {
            for (offset, record) in records.iter().enumerate() {
                let row = first_row + offset;
                let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
                writeln!(out, "{line}")?;
                summary.rows += 1;
                if plan.duplicated(row) {
                    writeln!(out, "{line}")?;
                    summary.duplicates += 1;
                }
                if let Some(kind) = plan.bad(row) {
                    writeln!(out, "{}", corrupt::item(kind, record, clock, &mut rng))?;
                    *summary.bad_rows.entry(kind).or_insert(0) += 1;
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
