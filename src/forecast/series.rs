//! Demand series from the lake's `sales` dataset: one per (item, store), per item over all
//! stores and per store over all items, at an hourly, daily, weekly (ISO weeks, Monday start),
//! monthly, quarterly or yearly frequency.
//!
//! Why explicit zero filling: the sales dataset only has rows for periods where something
//! sold, but the models take a regular series, and a missing day *is* a day with no sales. So
//! every period between a series' first sale and the end of the data gets a value; the number
//! of periods filled is kept so a planner can tell a real history from a mostly-invented one.
//! The end is the last complete period of the whole dataset (not of the series), so a
//! product that stopped selling has trailing zeros, every series of one training run
//! forecasts the same dates, and a week or month still in progress is not mistaken for a
//! drop in demand.
//!
//! Why this module owns [`DemandError`]: it is the bottom of the product layer around the
//! pure models (series → [`super::train`] → [`super::serving`]); all three share one error
//! type that `crate::error` sorts into HTTP kinds.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, Timelike};

pub use super::period::Period;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::db::DbError;
use crate::lake::LakeError;

/// Failures of the forecasting product (series, training, serving).
#[derive(Debug, thiserror::Error)]
pub enum DemandError {
    /// A caller-supplied value is not acceptable.
    #[error("{detail}")]
    Invalid { field: String, detail: String },
    /// No stored forecast for this series id.
    #[error("no forecast for series `{0}`")]
    UnknownSeries(String),
    /// No such override of this series.
    #[error("no override `{0}` of this series")]
    UnknownOverride(String),
    /// Nothing to train on (no sales, or the filter matched no series).
    #[error("{0}")]
    NoData(String),
    /// The sales data do not have the canonical shape.
    #[error("sales data: {0}")]
    Data(String),
    /// Stored forecast rows that do not decode.
    #[error("stored forecast is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// Registering or restoring a forecaster version.
    #[error(transparent)]
    ModelRegistry(#[from] crate::registry::RegistryError),
    /// Blocking work (fitting, encoding) did not finish (panic or shutdown).
    #[error("background task failed: {0}")]
    Task(String),
}

impl DemandError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        DemandError::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// The share of dated cells that may sit off their period's start in data that still count
/// as keyed by period ([`SalesIndex::keyed_by_period`]).
pub const KEYED_TOLERANCE: f64 = 0.01;

/// Sampling frequency of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    /// Hours (UTC), from the sales rows' `ts`.
    Hour,
    #[default]
    Day,
    Week,
    Month,
    /// Calendar quarters (starting January, April, July, October).
    Quarter,
    /// Calendar years.
    Year,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Hour => "hour",
            Frequency::Day => "day",
            Frequency::Week => "week",
            Frequency::Month => "month",
            Frequency::Quarter => "quarter",
            Frequency::Year => "year",
        }
    }

    /// Observations per (main) seasonal cycle: a day of hours, a week of days, a year of
    /// weeks, of months or of quarters; 1 (no season) for years.
    pub fn season(self) -> usize {
        match self {
            Frequency::Hour => 24,
            Frequency::Day => 7,
            Frequency::Week => 52,
            Frequency::Month => 12,
            Frequency::Quarter => 4,
            Frequency::Year => 1,
        }
    }

    /// Days one period covers (a month's on average), as the Prophet-style model's clock.
    pub fn step_days(self) -> f64 {
        match self {
            Frequency::Hour => 1.0 / 24.0,
            Frequency::Day => 1.0,
            Frequency::Week => 7.0,
            Frequency::Month => 365.25 / 12.0,
            Frequency::Quarter => 365.25 / 4.0,
            Frequency::Year => 365.25,
        }
    }

    /// The start of the period holding `p` (the hour, the day, the Monday of its ISO week, the
    /// first of its month, of its quarter's first month, of January).
    pub fn period_start(self, p: Period) -> Period {
        let date = p.date();
        match self {
            Frequency::Hour => Period::hour_of(p.start()),
            Frequency::Day => Period::Day(date),
            Frequency::Week => {
                Period::Day(date - Days::new(u64::from(date.weekday().num_days_from_monday())))
            }
            Frequency::Month => Period::Day(date.with_day(1).expect("day 1 exists in every month")),
            Frequency::Quarter => Period::Day(
                NaiveDate::from_ymd_opt(date.year(), 3 * (date.month0() / 3) + 1, 1)
                    .expect("a quarter's first day exists"),
            ),
            Frequency::Year => {
                Period::Day(NaiveDate::from_ymd_opt(date.year(), 1, 1).expect("1 January exists"))
            }
        }
    }

    /// The start of the period after the one starting at `start`.
    pub fn next(self, start: Period) -> Period {
        match (self, start) {
            (Frequency::Hour, p) => Period::Hour(p.start() + chrono::TimeDelta::hours(1)),
            (Frequency::Day, p) => Period::Day(p.date() + Days::new(1)),
            (Frequency::Week, p) => Period::Day(p.date() + Days::new(7)),
            (Frequency::Month, p) => Period::Day(p.date() + Months::new(1)),
            (Frequency::Quarter, p) => Period::Day(p.date() + Months::new(3)),
            (Frequency::Year, p) => Period::Day(p.date() + Months::new(12)),
        }
    }

    /// The start of the period before the one starting at `start`.
    pub fn previous(self, start: Period) -> Period {
        match self {
            Frequency::Hour => Period::Hour(start.start() - chrono::TimeDelta::hours(1)),
            _ => self.period_start(Period::Day(start.date() - Days::new(1))),
        }
    }

    /// Start of the last period that `last` (the last instant with data: a date at midnight
    /// for dated rows, a sale's time for timed ones) completes: its own period when `last` is
    /// that period's final day (final minute for hours), else the period before. A
    /// half-observed hour, week or month would look like a collapse in demand to every model.
    pub fn last_complete_period(self, last: NaiveDateTime) -> Period {
        let own = self.period_start(Period::Hour(last));
        let complete = match self {
            Frequency::Hour => last.minute() == 59,
            _ => self.next(own) == Period::Day(last.date() + Days::new(1)),
        };
        if complete { own } else { self.previous(own) }
    }

    /// `n` consecutive period starts after `last`.
    pub fn dates_after(self, last: Period, n: usize) -> Vec<Period> {
        let mut out = Vec::with_capacity(n);
        let mut d = last;
        for _ in 0..n {
            d = self.next(d);
            out.push(d);
        }
        out
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Frequency {
    type Err = DemandError;
    fn from_str(s: &str) -> Result<Self, DemandError> {
        match s {
            "hour" => Ok(Frequency::Hour),
            "day" => Ok(Frequency::Day),
            "week" => Ok(Frequency::Week),
            "month" => Ok(Frequency::Month),
            "quarter" => Ok(Frequency::Quarter),
            "year" => Ok(Frequency::Year),
            other => Err(DemandError::invalid(
                "frequency",
                format!("unknown frequency `{other}` (hour, day, week, month, quarter, year)"),
            )),
        }
    }
}

/// Which aggregation a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    ItemStore,
    Item,
    Store,
    /// Everything sold (the top of a hierarchy).
    Total,
    /// The items of one catalog category over all stores (`category=<name>`).
    Category,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::ItemStore => "item_store",
            Level::Item => "item",
            Level::Store => "store",
            Level::Total => "total",
            Level::Category => "category",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = DemandError;
    fn from_str(s: &str) -> Result<Self, DemandError> {
        match s {
            "item_store" => Ok(Level::ItemStore),
            "item" => Ok(Level::Item),
            "store" => Ok(Level::Store),
            "total" => Ok(Level::Total),
            "category" => Ok(Level::Category),
            other => Err(DemandError::invalid(
                "level",
                format!("unknown level `{other}` (item_store, item, store, category, total)"),
            )),
        }
    }
}

/// The category of items the catalog gives none (or that are not in it).
pub const UNCATEGORIZED: &str = "uncategorized";

/// The id of the series of everything sold.
pub const TOTAL_ID: &str = "total";

/// What a series aggregates: its level and the ids it is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SeriesKey {
    pub item_id: Option<String>,
    pub store_id: Option<String>,
    /// A category of the items catalog: set alone on a category node of a reconciled run
    /// (and, inside [`super::cascade`], on the item keys it groups).
    pub category: Option<String>,
}

impl SeriesKey {
    pub fn level(&self) -> Level {
        match (&self.item_id, &self.store_id, &self.category) {
            (Some(_), Some(_), _) => Level::ItemStore,
            (Some(_), None, _) => Level::Item,
            (None, Some(_), _) => Level::Store,
            (None, None, Some(_)) => Level::Category,
            (None, None, None) => Level::Total,
        }
    }

    /// A category node's key.
    pub fn category(name: &str) -> SeriesKey {
        SeriesKey {
            category: Some(name.to_string()),
            ..SeriesKey::default()
        }
    }

    /// `item=I1/store=S1`, `item=I1`, `store=S1`, `category=C` or `total`.
    pub fn id(&self) -> String {
        match (&self.item_id, &self.store_id, &self.category) {
            (Some(i), Some(s), _) => format!("item={i}/store={s}"),
            (Some(i), None, _) => format!("item={i}"),
            (None, Some(s), _) => format!("store={s}"),
            (None, None, Some(c)) => format!("category={c}"),
            (None, None, None) => TOTAL_ID.to_string(),
        }
    }

    /// Parses a series id back into its key.
    pub fn parse(id: &str) -> Option<SeriesKey> {
        if id == TOTAL_ID {
            return Some(SeriesKey::default());
        }
        if let Some(c) = id.strip_prefix("category=") {
            return (!c.is_empty()).then(|| SeriesKey::category(c));
        }
        let mut item = None;
        let mut store = None;
        for part in id.split('/') {
            let (k, v) = part.split_once('=')?;
            if v.is_empty() {
                return None;
            }
            match k {
                "item" if item.is_none() && store.is_none() => item = Some(v.to_string()),
                "store" if store.is_none() => store = Some(v.to_string()),
                _ => return None,
            }
        }
        let key = SeriesKey {
            item_id: item,
            store_id: store,
            category: None,
        };
        (key.item_id.is_some() || key.store_id.is_some()).then_some(key)
    }

    fn covers(&self, item: &str, store: &str) -> bool {
        self.item_id.as_deref().is_none_or(|i| i == item)
            && self.store_id.as_deref().is_none_or(|s| s == store)
    }
}

/// One regular series ready for a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub key: SeriesKey,
    pub frequency: Frequency,
    /// Start of the first period.
    pub start: Period,
    /// Quantity sold per period, oldest first, zeros where nothing was recorded.
    pub values: Vec<f64>,
    /// Periods with no sales row at all (filled with zero).
    pub filled: usize,
}

impl Series {
    pub fn id(&self) -> String {
        self.key.id()
    }

    /// Start of each period, aligned with `values`.
    pub fn dates(&self) -> Vec<Period> {
        let mut out = Vec::with_capacity(self.values.len());
        let mut d = self.start;
        for _ in 0..self.values.len() {
            out.push(d);
            d = self.frequency.next(d);
        }
        out
    }

    /// Start of the last period.
    pub fn end(&self) -> Period {
        self.dates().last().copied().unwrap_or(self.start)
    }
}

/// Quantities per (item, store) at the finest grain a run needs (days from the rows' `date`,
/// or hours from their `ts`), summed over duplicate rows; built batch by batch so a lake read
/// never has to hold the raw batches.
#[derive(Debug, Default, Clone)]
pub struct SalesIndex {
    /// Keyed by hours (from `ts`) instead of days (from `date`).
    hourly: bool,
    cells: BTreeMap<(String, String), BTreeMap<Period, f64>>,
    /// The last instant with data: a date at midnight, or a sale's time when hourly.
    last: Option<NaiveDateTime>,
    /// Rows an hourly index could not place: they have no `ts`.
    untimed: usize,
    /// Some row is stamped off the hour: the data are not keyed by hour.
    off_hour_start: bool,
}

impl SalesIndex {
    /// An empty index at the grain `frequency` needs: hours for hourly runs, else days.
    pub fn for_frequency(frequency: Frequency) -> SalesIndex {
        SalesIndex {
            hourly: frequency == Frequency::Hour,
            ..SalesIndex::default()
        }
    }

    /// Adds a `sales` batch; rows outside `only` (when given) are skipped.
    pub fn add_batch(
        &mut self,
        batch: &RecordBatch,
        only: Option<&SeriesKey>,
    ) -> Result<(), DemandError> {
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| DemandError::Data(format!("column `{name}` is missing")))
        };
        let dates = col("date")?
            .as_primitive_opt::<Date32Type>()
            .ok_or_else(|| DemandError::Data("column `date` is not a date".into()))?;
        // Files landed before sales had `ts` lack the column: every row is untimed.
        let times = match batch.column_by_name("ts") {
            Some(c) => Some(
                c.as_primitive_opt::<TimestampMicrosecondType>()
                    .ok_or_else(|| DemandError::Data("column `ts` is not a timestamp".into()))?,
            ),
            None => None,
        };
        let items = col("item_id")?
            .as_string_opt::<i32>()
            .ok_or_else(|| DemandError::Data("column `item_id` is not text".into()))?;
        let stores = col("store_id")?
            .as_string_opt::<i32>()
            .ok_or_else(|| DemandError::Data("column `store_id` is not text".into()))?;
        let qty = col("quantity")?
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| DemandError::Data("column `quantity` is not a float".into()))?;
        for row in 0..batch.num_rows() {
            if dates.is_null(row) || items.is_null(row) || stores.is_null(row) {
                continue;
            }
            let Some(date) = dates.value_as_date(row) else {
                continue;
            };
            let time = times
                .filter(|t| !t.is_null(row))
                .and_then(|t| t.value_as_datetime(row));
            let Some((at, period)) = self.place(date, time) else {
                self.untimed += 1;
                continue;
            };
            // Every row counts towards the end of the data, even a filtered-out row's.
            self.last = Some(self.last.map_or(at, |l| l.max(at)));
            let (item, store) = (items.value(row), stores.value(row));
            if only.is_some_and(|k| !k.covers(item, store)) {
                continue;
            }
            let q = if qty.is_null(row) {
                0.0
            } else {
                qty.value(row)
            };
            *self
                .cells
                .entry((item.to_string(), store.to_string()))
                .or_default()
                .entry(period)
                .or_insert(0.0) += q;
        }
        Ok(())
    }

    /// The instant and the cell of a row; `None` for a row an hourly index cannot place.
    fn place(
        &mut self,
        date: NaiveDate,
        time: Option<NaiveDateTime>,
    ) -> Option<(NaiveDateTime, Period)> {
        if self.hourly {
            let t = time?;
            self.off_hour_start |= t.minute() != 0 || t.second() != 0;
            return Some((t, Period::hour_of(t)));
        }
        Some((date.and_time(chrono::NaiveTime::MIN), Period::Day(date)))
    }

    /// The last instant with data (a date at midnight, or a sale's time when hourly).
    pub fn last_instant(&self) -> Option<NaiveDateTime> {
        self.last
    }

    /// Rows an hourly index left out because they have no `ts`.
    pub fn untimed_rows(&self) -> usize {
        self.untimed
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Whether the data are one row per `frequency` period, stamped at its start (how recast
    /// itself keys hours, weeks, months, quarters and years), not finer: every hour's row on
    /// the hour; for dated rows, no day of the data's last period off its start and at most
    /// [`KEYED_TOLERANCE`] of all (item, store, day) cells off theirs, so one stray row in a
    /// long history does not make the last period look half observed.
    pub fn keyed_by_period(&self, frequency: Frequency) -> bool {
        match frequency {
            Frequency::Hour => !self.off_hour_start,
            Frequency::Day => true,
            _ => self.mostly_on_period_starts(frequency),
        }
    }

    /// The coarsest period, no longer than `frequency`'s, that the dated data are keyed by
    /// (a year, quarter, month or week, else a day): monthly rows trained by quarter are by
    /// month, so a quarter whose third month has its row is complete.
    pub fn grain(&self, frequency: Frequency) -> Frequency {
        use Frequency::{Day, Month, Quarter, Week, Year};
        [Year, Quarter, Month, Week]
            .into_iter()
            .filter(|g| g.step_days() <= frequency.step_days())
            .find(|g| self.keyed_by_period(*g))
            .unwrap_or(Day)
    }

    fn mostly_on_period_starts(&self, frequency: Frequency) -> bool {
        let Some(last) = self.last else {
            return true;
        };
        let last_start = frequency.period_start(Period::hour_of(last));
        let (mut cells, mut off) = (0usize, 0usize);
        for p in self.cells.values().flat_map(BTreeMap::keys) {
            cells += 1;
            if frequency.period_start(*p) != *p {
                if *p >= last_start {
                    return false;
                }
                off += 1;
            }
        }
        (off as f64) <= KEYED_TOLERANCE * cells as f64
    }

    /// Every series of `level` at `frequency`, in id order, each running from its first sale
    /// to the period starting at or before `end` (default: the last complete period of the
    /// data), gaps filled with zero.
    pub fn series(&self, frequency: Frequency, level: Level, end: Option<Period>) -> Vec<Series> {
        let Some(end) = end.or(self.last.map(|l| frequency.last_complete_period(l))) else {
            return Vec::new();
        };
        let end = frequency.period_start(end);
        self.groups(frequency, level)
            .into_iter()
            .filter_map(|(key, periods)| regular(key, frequency, &periods, end))
            .collect()
    }

    /// Each series' quantities per period start, unfilled.
    pub(super) fn groups(
        &self,
        frequency: Frequency,
        level: Level,
    ) -> BTreeMap<SeriesKey, BTreeMap<Period, f64>> {
        let mut groups: BTreeMap<SeriesKey, BTreeMap<Period, f64>> = BTreeMap::new();
        for ((item, store), cells) in &self.cells {
            let key = match level {
                Level::ItemStore => SeriesKey {
                    item_id: Some(item.clone()),
                    store_id: Some(store.clone()),
                    category: None,
                },
                Level::Item => SeriesKey {
                    item_id: Some(item.clone()),
                    store_id: None,
                    category: None,
                },
                Level::Store => SeriesKey {
                    item_id: None,
                    store_id: Some(store.clone()),
                    category: None,
                },
                // Category series need the catalog: `category_groups` builds them.
                Level::Total | Level::Category => SeriesKey::default(),
            };
            add_cells(groups.entry(key).or_default(), cells, frequency);
        }
        groups
    }

    /// Each category's quantities per period start (the sum of its items over every store,
    /// unfilled), and the items it sums; items `categories` (the catalog's item → category)
    /// does not name go to [`UNCATEGORIZED`].
    pub(super) fn category_groups(
        &self,
        frequency: Frequency,
        categories: &BTreeMap<String, String>,
    ) -> CategoryGroups {
        let mut groups = CategoryGroups::default();
        for ((item, _), cells) in &self.cells {
            let name = categories.get(item).map_or(UNCATEGORIZED, String::as_str);
            let key = SeriesKey::category(name);
            add_cells(
                groups.periods.entry(key.clone()).or_default(),
                cells,
                frequency,
            );
            groups
                .members
                .entry(key.id())
                .or_default()
                .insert(item.clone());
        }
        groups
    }

    /// The sum over every store of the `items` (a category node's members), keyed `key`,
    /// up to the period starting at `end`.
    pub fn items_sum(
        &self,
        key: SeriesKey,
        items: &std::collections::BTreeSet<String>,
        frequency: Frequency,
        end: Period,
    ) -> Option<Series> {
        let mut periods: BTreeMap<Period, f64> = BTreeMap::new();
        for ((item, _), cells) in &self.cells {
            if items.contains(item) {
                add_cells(&mut periods, cells, frequency);
            }
        }
        regular(key, frequency, &periods, frequency.period_start(end))
    }

    /// The one series with `key` (its level follows from the key).
    pub fn one(
        &self,
        key: &SeriesKey,
        frequency: Frequency,
        end: Option<Period>,
    ) -> Option<Series> {
        self.series(frequency, key.level(), end)
            .into_iter()
            .find(|s| &s.key == key)
    }
}

/// Category series before filling, and the items each sums (by series id).
#[derive(Debug, Default)]
pub struct CategoryGroups {
    pub periods: BTreeMap<SeriesKey, BTreeMap<Period, f64>>,
    pub members: BTreeMap<String, std::collections::BTreeSet<String>>,
}

/// Adds each cell's quantity in `cells` to the period of `frequency` that holds it.
fn add_cells(
    periods: &mut BTreeMap<Period, f64>,
    cells: &BTreeMap<Period, f64>,
    frequency: Frequency,
) {
    for (at, q) in cells {
        *periods.entry(frequency.period_start(*at)).or_insert(0.0) += q;
    }
}

/// Periods from the first one to `end` with zeros filled in; `None` when nothing sold up to
/// `end`.
pub(super) fn regular(
    key: SeriesKey,
    frequency: Frequency,
    periods: &BTreeMap<Period, f64>,
    end: Period,
) -> Option<Series> {
    let start = *periods.keys().next()?;
    if start > end {
        return None;
    }
    let mut values = Vec::new();
    let mut filled = 0;
    let mut d = start;
    while d <= end {
        match periods.get(&d) {
            Some(q) => values.push(*q),
            None => {
                values.push(0.0);
                filled += 1;
            }
        }
        d = frequency.next(d);
    }
    Some(Series {
        key,
        frequency,
        start,
        values,
        filled,
    })
}

/// Reads `sales` between `from` and `to` (partition dates, inclusive) into an index, one
/// file at a time, at the grain `frequency` needs; with `only`, keeps just the rows that
/// series aggregates.
pub async fn load_sales(
    app: &App,
    frequency: Frequency,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    only: Option<&SeriesKey>,
) -> Result<SalesIndex, DemandError> {
    let mut stream = app.lake.read_stream("sales", from, to).await?;
    let mut index = SalesIndex::for_frequency(frequency);
    while let Some(batch) = stream.try_next().await? {
        index.add_batch(&batch, only)?;
    }
    Ok(index)
}

/// Whether any series of `level` in `sales` between `from` and `to` has an id `wanted`
/// accepts; stops reading at the first one (what a job's series filter is checked with
/// before it is queued).
pub async fn any_series(
    app: &App,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    level: Level,
    wanted: impl Fn(&str) -> bool,
) -> Result<bool, DemandError> {
    let mut stream = app.lake.read_stream("sales", from, to).await?;
    let mut seen = std::collections::HashSet::new();
    while let Some(batch) = stream.try_next().await? {
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>().cloned())
                .ok_or_else(|| DemandError::Data(format!("column `{name}` is missing or not text")))
        };
        let (items, stores) = (text("item_id")?, text("store_id")?);
        for row in 0..batch.num_rows() {
            if items.is_null(row) || stores.is_null(row) {
                continue;
            }
            let key = SeriesKey {
                item_id: matches!(level, Level::ItemStore | Level::Item)
                    .then(|| items.value(row).to_string()),
                store_id: matches!(level, Level::ItemStore | Level::Store)
                    .then(|| stores.value(row).to_string()),
                category: None,
            };
            let id = key.id();
            if seen.insert(id.clone()) && wanted(&id) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use arrow_array::{Date32Array, Float64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    fn d(s: &str) -> Period {
        s.parse().unwrap()
    }

    /// The instant a date's last row is stamped at.
    fn at(s: &str) -> NaiveDateTime {
        d(s).start()
    }

    fn batch(rows: &[(&str, &str, &str, f64)]) -> RecordBatch {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, false),
            Field::new("item_id", DataType::Utf8, false),
            Field::new("store_id", DataType::Utf8, false),
            Field::new("quantity", DataType::Float64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Date32Array::from(
                    rows.iter()
                        .map(|r| (d(r.0).date() - epoch).num_days() as i32)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.3).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    /// An index of `(date, item, store, quantity)` rows (also for sibling modules' tests).
    pub(in crate::forecast) fn index(rows: &[(&str, &str, &str, f64)]) -> SalesIndex {
        let mut ix = SalesIndex::default();
        ix.add_batch(&batch(rows), None).unwrap();
        ix
    }

    /// A batch of `(ts, item, quantity)` sales at store S1; `None` is a row without `ts`.
    pub(in crate::forecast) fn timed_batch(rows: &[(Option<&str>, &str, f64)]) -> RecordBatch {
        use arrow_array::TimestampMicrosecondArray;
        let ts: Vec<Option<NaiveDateTime>> = rows
            .iter()
            .map(|r| r.0.map(|t| t.parse::<NaiveDateTime>().unwrap()))
            .collect();
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let day = |t: &Option<NaiveDateTime>| {
            let date = t.map_or(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(), |t| t.date());
            (date - epoch).num_days() as i32
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, false),
            Field::new("item_id", DataType::Utf8, false),
            Field::new("store_id", DataType::Utf8, false),
            Field::new("quantity", DataType::Float64, false),
            Field::new(
                "ts",
                DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let micros: Vec<Option<i64>> = ts
            .iter()
            .map(|t| t.map(|t| t.and_utc().timestamp_micros()))
            .collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Date32Array::from(ts.iter().map(day).collect::<Vec<_>>())),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(vec!["S1"; rows.len()])),
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMicrosecondArray::from(micros).with_timezone("UTC")),
            ],
        )
        .unwrap()
    }

    #[test]
    fn an_hourly_index_sums_sales_per_hour_and_counts_rows_without_a_time() {
        let mut ix = SalesIndex::for_frequency(Frequency::Hour);
        ix.add_batch(
            &timed_batch(&[
                (Some("2026-03-02T09:10:00"), "I1", 2.0),
                (Some("2026-03-02T09:40:00"), "I1", 3.0),
                (Some("2026-03-02T12:05:00"), "I1", 1.0),
                (None, "I1", 7.0),
                (Some("2026-03-02T13:59:00"), "I2", 1.0),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(ix.untimed_rows(), 1);
        assert!(!ix.keyed_by_period(Frequency::Hour));
        // The last sale is at 13:59: its hour is complete.
        let s = &ix.series(Frequency::Hour, Level::ItemStore, None)[0];
        assert_eq!(s.start.to_string(), "2026-03-02T09:00:00Z");
        assert_eq!(s.values, vec![5.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(s.end().to_string(), "2026-03-02T13:00:00Z");
        assert_eq!(
            Frequency::Hour.last_complete_period(at("2026-03-02") + chrono::TimeDelta::minutes(30)),
            d("2026-03-01T23:00:00Z")
        );
        assert_eq!(Frequency::Hour.season(), 24);
        // A daily index of the same rows reads their `date`, the untimed row included.
        let mut daily = SalesIndex::default();
        daily
            .add_batch(
                &timed_batch(&[(Some("2026-03-02T09:10:00"), "I1", 2.0), (None, "I1", 7.0)]),
                None,
            )
            .unwrap();
        let s = &daily.series(Frequency::Day, Level::ItemStore, None)[0];
        assert_eq!((s.values.clone(), daily.untimed_rows()), (vec![9.0], 0));
        // Files from before `ts` existed: every row is untimed for an hourly index.
        let mut old = SalesIndex::for_frequency(Frequency::Hour);
        old.add_batch(&batch(&[("2026-03-02", "I1", "S1", 1.0)]), None)
            .unwrap();
        assert!(old.is_empty() && old.untimed_rows() == 1);
    }

    #[test]
    fn daily_gaps_are_filled_with_zero_and_counted() {
        let ix = index(&[
            ("2026-03-02", "I1", "S1", 3.0),
            ("2026-03-05", "I1", "S1", 2.0),
            ("2026-03-05", "I1", "S1", 1.0),
            ("2026-03-07", "I2", "S1", 4.0),
        ]);
        let s = ix.series(Frequency::Day, Level::ItemStore, None);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].id(), "item=I1/store=S1");
        assert_eq!(s[0].start, d("2026-03-02"));
        // Runs to the end of the data (03-07), not its own last sale.
        assert_eq!(s[0].values, vec![3.0, 0.0, 0.0, 3.0, 0.0, 0.0]);
        assert_eq!(s[0].filled, 4);
        assert_eq!(s[0].end(), d("2026-03-07"));
        assert_eq!(s[1].values, vec![4.0]);
        assert_eq!(s[1].filled, 0);
    }

    #[test]
    fn item_and_store_levels_sum_over_the_other_key() {
        let ix = index(&[
            ("2026-03-02", "I1", "S1", 3.0),
            ("2026-03-02", "I1", "S2", 5.0),
            ("2026-03-03", "I2", "S2", 1.0),
        ]);
        let items = ix.series(Frequency::Day, Level::Item, None);
        assert_eq!(
            items.iter().map(Series::id).collect::<Vec<_>>(),
            ["item=I1", "item=I2"]
        );
        assert_eq!(items[0].values, vec![8.0, 0.0]);
        assert_eq!(items[1].values, vec![1.0]);
        let stores = ix.series(Frequency::Day, Level::Store, None);
        assert_eq!(
            stores.iter().map(Series::id).collect::<Vec<_>>(),
            ["store=S1", "store=S2"]
        );
        assert_eq!(stores[1].values, vec![5.0, 1.0]);
    }

    #[test]
    fn weekly_aggregation_uses_iso_weeks_starting_monday() {
        // 2026-03-01 is a Sunday (week of Mon 02-23); 03-02 a Monday; 03-15 a Sunday.
        let ix = index(&[
            ("2026-03-01", "I1", "S1", 1.0),
            ("2026-03-02", "I1", "S1", 2.0),
            ("2026-03-08", "I1", "S1", 3.0),
            ("2026-03-23", "I1", "S1", 4.0),
        ]);
        // The data end on Monday 03-23, so the week of 03-23 is incomplete and left out.
        let s = &ix.series(Frequency::Week, Level::ItemStore, None)[0];
        assert_eq!(s.start, d("2026-02-23"));
        assert_eq!(
            s.dates(),
            vec![
                d("2026-02-23"),
                d("2026-03-02"),
                d("2026-03-09"),
                d("2026-03-16")
            ]
        );
        assert_eq!(s.values, vec![1.0, 5.0, 0.0, 0.0]);
        assert_eq!(s.filled, 2);
        // With an explicit end the partial week is included.
        let s = ix
            .one(&s.key, Frequency::Week, Some(d("2026-03-25")))
            .unwrap();
        assert_eq!(s.values, vec![1.0, 5.0, 0.0, 0.0, 4.0]);
        // A Sunday completes its week.
        assert_eq!(
            Frequency::Week.last_complete_period(at("2026-03-22")),
            d("2026-03-16")
        );
        assert_eq!(
            Frequency::Week.last_complete_period(at("2026-03-21")),
            d("2026-03-09")
        );
        assert_eq!(Frequency::Week.season(), 52);
    }

    #[test]
    fn monthly_aggregation_and_month_arithmetic() {
        let ix = index(&[
            ("2025-11-30", "I1", "S1", 1.0),
            ("2025-11-03", "I1", "S1", 1.0),
            ("2026-01-31", "I1", "S1", 7.0),
            ("2026-02-28", "I1", "S1", 2.0),
        ]);
        let s = &ix.series(Frequency::Month, Level::ItemStore, None)[0];
        assert_eq!(s.start, d("2025-11-01"));
        assert_eq!(s.values, vec![2.0, 0.0, 7.0, 2.0]);
        assert_eq!(s.filled, 1);
        assert_eq!(
            Frequency::Month.last_complete_period(at("2026-03-30")),
            d("2026-02-01")
        );
        assert_eq!(
            Frequency::Month.last_complete_period(at("2026-03-31")),
            d("2026-03-01")
        );
        assert_eq!(
            Frequency::Day.last_complete_period(at("2026-03-30")),
            d("2026-03-30")
        );
        assert_eq!(
            Frequency::Month.dates_after(d("2026-01-01"), 2),
            vec![d("2026-02-01"), d("2026-03-01")]
        );
        assert_eq!(Frequency::Day.season(), 7);
        assert_eq!(Frequency::Month.season(), 12);
    }

    #[test]
    fn quarterly_and_yearly_periods_follow_the_calendar() {
        // Rows on a quarter's last day (pandas' quarterly periods) and inside quarters.
        let ix = index(&[
            ("2025-03-31", "I1", "S1", 4.0),
            ("2025-08-15", "I1", "S1", 1.0),
            ("2025-09-30", "I1", "S1", 2.0),
            ("2025-12-31", "I1", "S1", 5.0),
        ]);
        let s = &ix.series(Frequency::Quarter, Level::ItemStore, None)[0];
        assert_eq!(s.start, d("2025-01-01"));
        assert_eq!(
            s.dates(),
            vec![
                d("2025-01-01"),
                d("2025-04-01"),
                d("2025-07-01"),
                d("2025-10-01")
            ]
        );
        assert_eq!(s.values, vec![4.0, 0.0, 3.0, 5.0]);
        assert_eq!(s.filled, 1);
        assert!(!ix.keyed_by_period(Frequency::Quarter));
        // A quarter is complete on its last day only.
        let q = |t| Frequency::Quarter.last_complete_period(at(t));
        assert_eq!(q("2026-06-30"), d("2026-04-01"));
        assert_eq!(q("2026-06-29"), d("2026-01-01"));
        assert_eq!(q("2026-01-01"), d("2025-10-01"));
        assert_eq!(
            Frequency::Quarter.dates_after(d("2025-10-01"), 3),
            vec![d("2026-01-01"), d("2026-04-01"), d("2026-07-01")]
        );
        assert_eq!(Frequency::Quarter.season(), 4);

        // Keyed by 1 January (so by quarter too); the calendar rule ends at the last year
        // whose 31 December the data reach (`periods` counts keyed data's last year too).
        let ix = index(&[
            ("2022-01-01", "I1", "S1", 10.0),
            ("2024-01-01", "I1", "S1", 12.0),
        ]);
        assert!(ix.keyed_by_period(Frequency::Year));
        assert!(ix.keyed_by_period(Frequency::Quarter));
        let s = ix
            .one(
                &SeriesKey::parse("item=I1/store=S1").unwrap(),
                Frequency::Year,
                None,
            )
            .unwrap();
        assert_eq!(s.values, vec![10.0, 0.0]);
        assert_eq!(
            Frequency::Year.last_complete_period(at("2024-12-31")),
            d("2024-01-01")
        );
        assert_eq!(
            Frequency::Year.period_start(d("2024-07-09")),
            d("2024-01-01")
        );
        assert_eq!(Frequency::Year.season(), 1);
        for (text, f) in [("quarter", Frequency::Quarter), ("year", Frequency::Year)] {
            assert_eq!(text.parse::<Frequency>().unwrap(), f);
            assert_eq!(f.to_string(), text);
        }
    }

    #[test]
    fn series_ids_round_trip_and_filtered_loading_keeps_the_data_end() {
        for id in ["item=I1/store=S1", "item=I1", "store=S1"] {
            assert_eq!(SeriesKey::parse(id).unwrap().id(), id);
        }
        for bad in ["", "item=", "store=S1/item=I1", "foo=1", "item=I1/item=I2"] {
            assert!(SeriesKey::parse(bad).is_none(), "{bad}");
        }
        let key = SeriesKey::parse("item=I1").unwrap();
        let mut ix = SalesIndex::default();
        ix.add_batch(
            &batch(&[
                ("2026-03-02", "I1", "S1", 3.0),
                ("2026-03-04", "I2", "S1", 9.0),
            ]),
            Some(&key),
        )
        .unwrap();
        let s = ix.one(&key, Frequency::Day, None).unwrap();
        assert_eq!(s.values, vec![3.0, 0.0, 0.0]);
        assert!(
            ix.one(&SeriesKey::parse("item=I2").unwrap(), Frequency::Day, None)
                .is_none()
        );
    }
}
