//! What the forecast API answers: the stored latest forecasts (listed, one in full, cut to a
//! horizon and interval levels), a series' actuals rebuilt from the lake, and an SVG chart
//! of both.
//!
//! Why serving reads stored points instead of refitting: a request must answer in
//! milliseconds and show exactly what the training run produced and backtested, so the
//! numbers a planner sees are the numbers whose accuracy was measured. Asking for more steps
//! or other interval levels than were trained is therefore an error naming the maximum,
//! not a silent refit.
//!
//! Why history comes from the run's actuals file ([`super::actuals`]): those are exactly the
//! periods the run fitted (same zero filling), so the chart's actuals and forecast meet where
//! training stopped, and a request reads one series' row groups instead of scanning `sales`.
//! Runs trained before that file existed are rebuilt from `sales` up to their history end.
//!
//! Why the chart shows a window of history ([`default_chart_history`], or `history` periods
//! when asked): a year of days before a two-week forecast leaves the forecast a sliver at the
//! right edge, and the forecast is what the chart is for. Why its title asks the recommender's
//! catalogue ([`item_title`]): that is where item names are served (`GET /v1/items/{id}`);
//! the forecast tables only know ids. Why the SVG is written by hand rather than with
//! `plotters` (0.3, SVG backend, no font features, evaluated for this): it centres every date
//! label on its tick, so the last one runs past the right edge unless margins are tuned by
//! hand, cannot keep labels inside the image, prints `5.0`-style tick labels, and its output
//! has no classes a test can find; the hand-written chart is about as short, lays text out
//! from estimated widths ([`text_width`]) and marks its parts with classes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DEFAULT_LEVELS;
use super::actuals;
use super::cascade::{Categories, NodeOverride, overlap, plan};
use super::overrides::Adjustment;
use super::series::{DemandError, Frequency, Level, Period, SeriesKey, load_sales};
use super::train::{Accuracy, Point};
use crate::app::App;
use crate::db::forecasts::{self as repo, ForecastRow, ListFilter};
use crate::db::ms_to_rfc3339;
use crate::recommend::serving::ServingHandle;

/// Largest page of [`list`].
pub const MAX_PAGE: i64 = 500;
/// Page size when none is asked for.
pub const DEFAULT_PAGE: i64 = 100;

/// One series in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesSummary {
    /// `item=I1/store=S1`, `item=I1` or `store=S1` (percent-encode it in paths).
    pub series_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// hour, day, week, month, quarter or year
    pub frequency: String,
    /// The model chosen for the series, e.g. `ETS(A,N,A)`.
    pub model: String,
}

/// A page of series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesPage {
    pub series: Vec<SeriesSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Filters of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub item_id: Option<String>,
    pub store_id: Option<String>,
    pub level: Option<Level>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// One forecast step as served; a band is absent when its level was not asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PointView {
    /// Start of the period: a date (a Monday for weekly, the 1st for monthly series), or an
    /// hour in UTC (`2026-03-02T13:00:00Z`) for hourly series.
    #[schema(value_type = String)]
    pub date: Period,
    pub mean: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_80: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_80: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_95: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_95: Option<f64>,
    /// The 10 %, 50 % and 90 % quantiles (q10 and q90 are the 80 % band's bounds; q50 is
    /// the conformal median, absent when the backtest was too short for one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q10: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q90: Option<f64>,
    /// The planner override in force for this period (`mean` and the bands are then the
    /// override's; `statistical_mean` is the model's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistical_mean: Option<f64>,
}

/// One series' latest forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForecastView {
    pub series_id: String,
    pub model: String,
    /// RFC 3339.
    pub trained_at: String,
    pub frequency: String,
    /// Start of the last observed period (a date, or an hour for hourly series).
    #[schema(value_type = String)]
    pub history_end: Period,
    /// Rolling-origin backtest of the chosen model.
    pub accuracy: Accuracy,
    pub points: Vec<PointView>,
    /// The model's own point forecast split into parts that add up to it, one value per
    /// point (`trend`, each seasonality such as `weekly` and `yearly`, `holidays`,
    /// `regressors`): Prophet-style models only, before reconciliation, overrides and
    /// clipping at zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<BTreeMap<String, Vec<f64>>>,
}

/// One observed period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Actual {
    #[schema(value_type = String)]
    pub date: Period,
    pub quantity: f64,
}

/// The actuals of a series, zero-filled like the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryView {
    pub series_id: String,
    pub frequency: String,
    /// Periods without any sales row (their quantity is 0).
    pub filled_periods: usize,
    pub points: Vec<Actual>,
}

fn summary(r: ForecastRow) -> SeriesSummary {
    SeriesSummary {
        series_id: r.series_id,
        item_id: r.item_id,
        store_id: r.store_id,
        frequency: r.frequency,
        model: r.model,
    }
}

/// A page of stored forecasts in series id order.
pub async fn list(app: &App, q: ListQuery) -> Result<SeriesPage, DemandError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(DemandError::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    let mut rows = repo::list(
        &app.db,
        &ListFilter {
            item_id: q.item_id,
            store_id: q.store_id,
            level: q.level.map(|l| l.as_str().to_string()),
            after: q.cursor,
            limit: limit + 1,
        },
    )
    .await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.series_id.clone())
    } else {
        None
    };
    Ok(SeriesPage {
        series: rows.into_iter().map(summary).collect(),
        next_cursor,
    })
}

async fn stored(app: &App, series_id: &str) -> Result<ForecastRow, DemandError> {
    repo::get(&app.db, series_id)
        .await?
        .ok_or_else(|| DemandError::UnknownSeries(series_id.to_string()))
}

/// Parses `levels=80,95`.
pub fn parse_levels(raw: &str) -> Result<Vec<f64>, DemandError> {
    raw.split(',')
        .map(|p| {
            p.trim().parse::<f64>().map_err(|_| {
                DemandError::invalid(
                    "levels",
                    format!("`{p}` is not a number (e.g. levels=80,95)"),
                )
            })
        })
        .collect()
}

/// The stored forecast of `series_id`, cut to `horizon` steps (default: all trained) with
/// the bands of `levels` (default: all trained).
pub async fn forecast(
    app: &App,
    series_id: &str,
    horizon: Option<usize>,
    levels: Option<&[f64]>,
) -> Result<ForecastView, DemandError> {
    let row = stored(app, series_id).await?;
    let max = usize::try_from(row.horizon).unwrap_or(0);
    let horizon = horizon.unwrap_or(max);
    if horizon == 0 || horizon > max {
        return Err(DemandError::invalid(
            "horizon",
            format!(
                "horizon must be between 1 and {max} (the maximum trained for this series), got {horizon}"
            ),
        ));
    }
    let levels = levels.unwrap_or(&DEFAULT_LEVELS);
    if let Some(bad) = levels
        .iter()
        .find(|l| !DEFAULT_LEVELS.iter().any(|t| (*t - **l).abs() < 1e-9))
    {
        return Err(DemandError::invalid(
            "levels",
            format!("level {bad} was not trained; available levels: 80, 95"),
        ));
    }
    let has = |level: f64| levels.iter().any(|l| (*l - level).abs() < 1e-9);
    let (with80, with95) = (has(80.0), has(95.0));
    let points: Vec<Point> = serde_json::from_str(&row.points)
        .map_err(|e| DemandError::Corrupt(format!("points of `{series_id}`: {e}")))?;
    let accuracy: Accuracy = serde_json::from_str(&row.accuracy)
        .map_err(|e| DemandError::Corrupt(format!("accuracy of `{series_id}`: {e}")))?;
    let history_end = parse_date(&row)?;
    // A hierarchy's cascade covers the series' own overrides too; without one they are read
    // alone.
    let params: serde_json::Value = serde_json::from_str(&row.params).unwrap_or_default();
    let cascade = Cascade::load(app, &row, &params).await?;
    let overrides = match cascade {
        Some(_) => super::overrides::Active::default(),
        None => super::overrides::active(app, series_id).await?,
    };
    let components = components_of(&params, horizon);
    Ok(ForecastView {
        components,
        series_id: row.series_id,
        model: row.model,
        trained_at: ms_to_rfc3339(row.trained_at),
        frequency: row.frequency,
        history_end,
        accuracy,
        points: points
            .into_iter()
            .take(horizon)
            .map(|p| {
                let view = PointView {
                    date: p.date,
                    mean: p.mean,
                    lower_80: with80.then_some(p.lower_80),
                    upper_80: with80.then_some(p.upper_80),
                    lower_95: with95.then_some(p.lower_95),
                    upper_95: with95.then_some(p.upper_95),
                    q10: with80.then_some(p.lower_80),
                    q50: p.q50,
                    q90: with80.then_some(p.upper_80),
                    override_id: None,
                    statistical_mean: None,
                };
                if let Some(c) = &cascade {
                    return match c.plan(p.date) {
                        (value, Some(id)) => overridden(view, &id, Adjustment::Value(value)),
                        (_, None) => view,
                    };
                }
                match overrides.at(p.date) {
                    Some((id, adjustment)) => overridden(view, id, adjustment),
                    None => view,
                }
            })
            .collect(),
    })
}

/// The stored forecast parts (`params.components`) for the first `horizon` points.
fn components_of(params: &serde_json::Value, horizon: usize) -> Option<BTreeMap<String, Vec<f64>>> {
    let mut parts: BTreeMap<String, Vec<f64>> =
        serde_json::from_value(params.get("components")?.clone()).ok()?;
    for values in parts.values_mut() {
        values.truncate(horizon);
    }
    Some(parts)
}

/// A reconciled run's series with overrides elsewhere in its hierarchy that reach it: what
/// `forecast::cascade` needs to plan it.
struct Cascade {
    target: SeriesKey,
    overrides: Vec<NodeOverride>,
    /// The run's item x store series that the overrides or the target cover, with their
    /// means by date.
    bottoms: Vec<(SeriesKey, BTreeMap<Period, f64>)>,
}

impl Cascade {
    /// `None` when `row` (whose stored `params` these are) is not from a reconciled run, or
    /// no override but the series' own reaches it (its own is then applied as on any
    /// series).
    async fn load(
        app: &App,
        row: &ForecastRow,
        params: &serde_json::Value,
    ) -> Result<Option<Cascade>, DemandError> {
        let (true, Some(target)) = (
            params.get("reconciliation").is_some(),
            SeriesKey::parse(&row.series_id),
        ) else {
            return Ok(None);
        };
        let active = crate::db::overrides::all_active(&app.db).await?;
        if active.is_empty() {
            return Ok(None);
        }
        let categories =
            Categories::of_rows(&repo::run_params(&app.db, &row.run_id, "category").await?)?;
        let target = categories.fill(target);
        let mut overrides = Vec::new();
        for r in active {
            if let Some(mut o) = NodeOverride::of(&r)? {
                o.key = categories.fill(o.key);
                if overlap(&o.key, &target) {
                    overrides.push(o);
                }
            }
        }
        if overrides.iter().all(|o| o.key == target) {
            return Ok(None);
        }
        let mut bottoms = Vec::new();
        for (id, points) in repo::run_points(&app.db, &row.run_id, "item_store").await? {
            let Some(key) = SeriesKey::parse(&id).map(|k| categories.fill(k)) else {
                continue;
            };
            if !overlap(&key, &target) && !overrides.iter().any(|o| overlap(&o.key, &key)) {
                continue;
            }
            let points: Vec<Point> = serde_json::from_str(&points)
                .map_err(|e| DemandError::Corrupt(format!("points of `{id}`: {e}")))?;
            bottoms.push((key, points.iter().map(|p| (p.date, p.mean)).collect()));
        }
        Ok(Some(Cascade {
            target,
            overrides,
            bottoms,
        }))
    }

    fn plan(&self, date: Period) -> (f64, Option<String>) {
        let at: Vec<(SeriesKey, f64)> = self
            .bottoms
            .iter()
            .map(|(k, means)| (k.clone(), means.get(&date).copied().unwrap_or(0.0)))
            .collect();
        plan(&at, &self.overrides, &self.target, date)
    }
}

/// `point` with a planner's override applied on top.
fn overridden(point: PointView, id: &str, adjustment: Adjustment) -> PointView {
    let mean = point.mean;
    let bound = |b: Option<f64>| b.map(|b| adjustment.bound(mean, b));
    PointView {
        mean: adjustment.apply(mean),
        lower_80: bound(point.lower_80),
        upper_80: bound(point.upper_80),
        lower_95: bound(point.lower_95),
        upper_95: bound(point.upper_95),
        q10: bound(point.q10),
        q50: bound(point.q50),
        q90: bound(point.q90),
        override_id: Some(id.to_string()),
        statistical_mean: Some(mean),
        date: point.date,
    }
}

fn parse_date(row: &ForecastRow) -> Result<Period, DemandError> {
    row.history_end
        .parse()
        .map_err(|e| DemandError::Corrupt(format!("history end of `{}`: {e}", row.series_id)))
}

/// The actuals of a stored series, from the lake, up to the trained history end.
pub async fn history(app: &App, series_id: &str) -> Result<HistoryView, DemandError> {
    let row = stored(app, series_id).await?;
    let key = SeriesKey::parse(&row.series_id)
        .ok_or_else(|| DemandError::Corrupt(format!("series id `{}`", row.series_id)))?;
    let frequency: Frequency = row
        .frequency
        .parse()
        .map_err(|_| DemandError::Corrupt(format!("frequency of `{series_id}`")))?;
    let end = parse_date(&row)?;
    let snapshot = match actuals::read(&app.lake, &row.run_id, &row.series_id).await? {
        Some(snapshot) => snapshot,
        // A run from before actuals were kept: rebuild the series from `sales`.
        None => {
            // The last trained period's final day: later partitions cannot contribute.
            let last_day = frequency.next(end).start() - chrono::TimeDelta::seconds(1);
            let index = load_sales(app, frequency, None, Some(last_day.date()), Some(&key)).await?;
            index
                .one(&key, frequency, Some(end))
                .map(|s| actuals::Actuals {
                    points: s.dates().into_iter().zip(s.values).collect(),
                    filled: s.filled,
                })
                .unwrap_or_default()
        }
    };
    let points = snapshot
        .points
        .into_iter()
        .map(|(date, quantity)| Actual { date, quantity })
        .collect();
    Ok(HistoryView {
        series_id: row.series_id,
        frequency: row.frequency,
        filled_periods: snapshot.filled,
        points,
    })
}

/// Most history periods a chart shows (`history`): ten years of days.
pub const MAX_CHART_HISTORY: usize = 3660;
/// Fewest history periods a chart shows when `history` is not given.
pub const MIN_DEFAULT_HISTORY: usize = 28;

/// History periods a chart shows when `history` is not given: four times the forecast's
/// steps, at least [`MIN_DEFAULT_HISTORY`]. The forecast then takes about a fifth of the
/// width (14 days after 56) instead of a sliver after years of history, and a short horizon
/// still gets four weeks (days), half a year (weeks) or two years (months) of context.
pub fn default_chart_history(horizon: usize) -> usize {
    horizon.saturating_mul(4).max(MIN_DEFAULT_HISTORY)
}

/// Checks a requested chart window: `history` is 1 to [`MAX_CHART_HISTORY`] periods.
pub fn check_chart_history(history: Option<usize>) -> Result<Option<usize>, DemandError> {
    match history {
        Some(h) if !(1..=MAX_CHART_HISTORY).contains(&h) => Err(DemandError::invalid(
            "history",
            format!("history must be between 1 and {MAX_CHART_HISTORY} periods, got {h}"),
        )),
        h => Ok(h),
    }
}

/// What a chart shows besides the stored numbers.
#[derive(Debug, Clone, Default)]
pub struct ChartOptions {
    /// History periods before the forecast (default [`default_chart_history`]); fewer when
    /// the series has fewer.
    pub history: Option<usize>,
    /// The item's catalogue title, shown instead of the series id.
    pub item_name: Option<String>,
}

/// An SVG chart of a stored series: the last `history` actuals (see [`ChartOptions`]), the
/// forecast mean and its 80 and 95 % bands, titled with the item's name when the served
/// catalogue knows it ([`item_title`]).
pub async fn chart(
    app: &App,
    catalogue: &ServingHandle,
    series_id: &str,
    window: Option<usize>,
) -> Result<String, DemandError> {
    let window = check_chart_history(window)?;
    let fc = forecast(app, series_id, None, None).await?;
    let hist = history(app, series_id).await?;
    let item_name = item_title(catalogue, &fc.series_id).await;
    Ok(render_svg(
        &fc,
        &hist.points,
        &ChartOptions {
            history: window,
            item_name,
        },
    ))
}

/// The catalogue title of a series' item, looked up like `GET /v1/items/{item_id}` does (the
/// promoted recommender's catalogue). `None` for store-level series, when no recommender is
/// served or it cannot load, when it does not know the item, or when the catalogue has no
/// row for it (the model then carries the id as its title): a chart title is not worth
/// failing the chart for, so it falls back to the series id.
pub async fn item_title(catalogue: &ServingHandle, series_id: &str) -> Option<String> {
    let item_id = SeriesKey::parse(series_id)?.item_id?;
    let model = match catalogue.get().await {
        Ok(model) => model,
        Err(e) => {
            tracing::debug!(error = %e, "no served catalogue to title the chart with");
            return None;
        }
    };
    let title = model.item(&item_id).ok()?.title.trim();
    (!title.is_empty() && title != item_id).then(|| title.to_string())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

// Chart geometry, in SVG user units.
const W: f64 = 900.0;
const H: f64 = 380.0;
/// Top of the plot area (the title and the forecast marker's label sit above it).
const TOP: f64 = 44.0;
/// Below the plot area: the date labels, then the legend.
const BOTTOM: f64 = 58.0;
const FONT: f64 = 11.0;
const TITLE_FONT: f64 = 14.0;
/// Estimated advance of one character, in em. An SVG has no font metrics when it is written,
/// so text widths are estimates: 0.65 em is at least the digits and dashes of common
/// sans-serif fonts (DejaVu Sans 0.64, Helvetica and Arial 0.56), so an estimated extent
/// covers the drawn one.
const CHAR_EM: f64 = 0.65;
/// Least space between two date labels.
const GAP: f64 = 12.0;
/// Least space between text and the SVG's edges.
const PAD: f64 = 4.0;

/// The estimated width of `text` at font size `size`.
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * CHAR_EM
}

/// `text` cut (with an ellipsis) to at most `max` estimated width.
fn fit_text(text: &str, max: f64, size: f64) -> String {
    if text_width(text, size) <= max {
        return text.to_string();
    }
    let keep = ((max / (size * CHAR_EM)).floor() as usize).saturating_sub(1);
    let mut cut: String = text.chars().take(keep).collect();
    cut.push('…');
    cut
}

/// About five "nice" ticks covering `lo..=hi`: a step of 1, 2, 2.5 or 5 × 10^k, from the
/// multiple of the step at or below `lo` to the one at or above `hi` (so at least four ticks
/// and at most seven), with the decimals the step needs to print exactly.
pub fn nice_ticks(lo: f64, hi: f64) -> (Vec<f64>, usize) {
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step + 1e-9).floor() as i64;
    let last = ((hi / step - 1e-9).ceil() as i64).max(first + 1);
    let decimals = (0..=12)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(12) as usize;
    ((first..=last).map(|k| k as f64 * step).collect(), decimals)
}

/// The smallest step of at least `min` periods between date labels that reads naturally for
/// the frequency: whole weeks (then 4, 13, 26 and 52 weeks) of days, quarters and years of
/// weeks and months; beyond the largest, a multiple of it.
fn calendar_step(min: usize, frequency: &str) -> usize {
    let steps: &[usize] = match frequency {
        "day" => &[1, 2, 7, 14, 28, 91, 182, 364],
        "week" => &[1, 2, 4, 13, 26, 52],
        "month" => &[1, 2, 3, 6, 12],
        "quarter" => &[1, 2, 4, 8],
        "year" => &[1, 2, 5, 10],
        _ => &[1],
    };
    let min = min.max(1);
    steps
        .iter()
        .copied()
        .find(|s| *s >= min)
        .unwrap_or_else(|| {
            let unit = steps[steps.len() - 1];
            min.div_ceil(unit) * unit
        })
}

/// How the chart's time axis names a period of `frequency`: `2024-03-18`, `2024-03`,
/// `2024-Q1`, `2024`, `03-18 14:00`.
fn period_label(p: Period, frequency: &str) -> String {
    let start = p.start();
    match frequency {
        "month" => start.format("%Y-%m").to_string(),
        "quarter" => format!("{}-Q{}", start.year(), start.month0() / 3 + 1),
        "year" => start.format("%Y").to_string(),
        "hour" => start.format("%m-%d %H:00").to_string(),
        _ => start.format("%Y-%m-%d").to_string(),
    }
}

/// The chart as a hand-written SVG. Elements carry classes: one
/// `<polyline class="actual">` vertex per shown actual, one `<polyline class="forecast">`
/// vertex per forecast step, the bands as `band-80`/`band-95` polygons, `y-tick` and
/// `x-tick` labels, `grid` lines and the `forecast-start` marker.
///
/// Layout: the y axis has [`nice_ticks`] over the data (and 0) with light grid lines; date
/// labels sit every [`calendar_step`] periods counted from the forecast's first period (which
/// is therefore labelled), the step being the fewest periods whose width holds a label plus
/// [`GAP`]; the side margins are at least half a label wide, so no label leaves the SVG.
pub fn render_svg(fc: &ForecastView, actuals: &[Actual], opts: &ChartOptions) -> String {
    let keep = opts
        .history
        .unwrap_or_else(|| default_chart_history(fc.points.len()));
    let actuals = &actuals[actuals.len().saturating_sub(keep)..];
    let offset = actuals.len();
    let n = offset + fc.points.len();

    // The value axis: nice ticks over every drawn value and 0.
    let (lo, hi) = actuals
        .iter()
        .map(|a| a.quantity)
        .chain(fc.points.iter().flat_map(|p| {
            [Some(p.mean), p.lower_80, p.upper_80, p.lower_95, p.upper_95]
                .into_iter()
                .flatten()
        }))
        .filter(|v| v.is_finite())
        .fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (ticks, decimals) = nice_ticks(lo, hi);
    let (y_lo, y_hi) = (ticks[0], ticks[ticks.len() - 1]);
    let y_labels: Vec<String> = ticks
        .iter()
        .map(|v| format!("{:.*}", decimals, v + 0.0))
        .collect();

    // The time axis: one position per period, actuals then forecast.
    let dates: Vec<Period> = actuals
        .iter()
        .map(|a| a.date)
        .chain(fc.points.iter().map(|p| p.date))
        .collect();
    let date_labels: Vec<String> = dates
        .iter()
        .map(|d| period_label(*d, &fc.frequency))
        .collect();
    let label_w = date_labels
        .iter()
        .map(|l| text_width(l, FONT))
        .fold(0.0, f64::max);
    let y_label_w = y_labels
        .iter()
        .map(|l| text_width(l, FONT))
        .fold(0.0, f64::max);
    let left = (y_label_w + 6.0 + PAD).max(label_w / 2.0 + PAD);
    let right = label_w / 2.0 + PAD;
    let bottom = H - BOTTOM;
    let plot_w = W - left - right;
    let per_period = plot_w / (n.max(2) - 1) as f64;
    let x = |i: usize| left + per_period * i as f64;
    let y = |v: f64| TOP + (bottom - TOP) * (y_hi - v) / (y_hi - y_lo);
    let coords = |pts: &mut dyn Iterator<Item = (usize, f64)>| {
        pts.map(|(i, v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let band = |lower: &dyn Fn(&PointView) -> Option<f64>,
                upper: &dyn Fn(&PointView) -> Option<f64>| {
        let up: Vec<(usize, f64)> = fc
            .points
            .iter()
            .enumerate()
            .filter_map(|(k, p)| upper(p).map(|v| (offset + k, v)))
            .collect();
        let down: Vec<(usize, f64)> = fc
            .points
            .iter()
            .enumerate()
            .rev()
            .filter_map(|(k, p)| lower(p).map(|v| (offset + k, v)))
            .collect();
        coords(&mut up.into_iter().chain(down))
    };

    // Title: the item's name (and the store) when known, else the series id.
    let store = SeriesKey::parse(&fc.series_id).and_then(|k| k.store_id);
    let subject = match (&opts.item_name, &store) {
        (Some(name), Some(store)) => format!("{name}, store {store}"),
        (Some(name), None) => name.clone(),
        (None, _) => fc.series_id.clone(),
    };
    let suffix = format!(" — {} ({})", fc.model, fc.frequency);
    let title_x = 2.0 * PAD;
    let heading = format!(
        "{}{suffix}",
        fit_text(
            &subject,
            W - 2.0 * title_x - text_width(&suffix, TITLE_FONT),
            TITLE_FONT
        )
    );
    let tooltip = match &opts.item_name {
        Some(_) => format!("{subject} ({}){suffix}", fc.series_id),
        None => format!("{subject}{suffix}"),
    };

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="{FONT}"><title>{}</title><rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/><text class="title" x="{title_x}" y="22" font-size="{TITLE_FONT}">{}</text>"##,
        xml_escape(&tooltip),
        xml_escape(&heading),
    );
    for (v, label) in ticks.iter().zip(&y_labels) {
        let ty = y(*v);
        let _ = write!(
            s,
            r##"<line class="grid" x1="{left:.1}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#e5e5e5"/><text class="y-tick" x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            W - right,
            left - 6.0,
            ty + FONT * 0.35,
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{left:.1}" y1="{bottom}" x2="{r:.1}" y2="{bottom}" stroke="#888888"/><line x1="{left:.1}" y1="{TOP}" x2="{left:.1}" y2="{bottom}" stroke="#888888"/>"##,
        r = W - right,
    );
    let step = calendar_step(
        ((label_w + GAP) / per_period).ceil() as usize,
        &fc.frequency,
    );
    for i in (0..n).filter(|i| (*i as i64 - offset as i64).rem_euclid(step as i64) == 0) {
        let tx = x(i);
        let _ = write!(
            s,
            r##"<line x1="{tx:.1}" y1="{bottom}" x2="{tx:.1}" y2="{:.1}" stroke="#888888"/><text class="x-tick" x="{tx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 4.0,
            bottom + 18.0,
            date_labels[i],
        );
    }
    if let Some(first) = fc.points.first() {
        if first.lower_95.is_some() {
            let _ = write!(
                s,
                r##"<polygon class="band-95" points="{}" fill="#c6dbef" fill-opacity="0.7"/>"##,
                band(&|p| p.lower_95, &|p| p.upper_95)
            );
        }
        if first.lower_80.is_some() {
            let _ = write!(
                s,
                r##"<polygon class="band-80" points="{}" fill="#6baed6" fill-opacity="0.7"/>"##,
                band(&|p| p.lower_80, &|p| p.upper_80)
            );
        }
        if offset > 0 {
            // Where the forecast starts, labelled above the plot on the side with room.
            let mx = x(offset);
            let label = "forecast";
            let (lx, anchor) = if mx + 4.0 + text_width(label, FONT) <= W - PAD {
                (mx + 4.0, "start")
            } else {
                (mx - 4.0, "end")
            };
            let _ = write!(
                s,
                r##"<line class="forecast-start" x1="{mx:.1}" y1="{TOP}" x2="{mx:.1}" y2="{bottom}" stroke="#737373" stroke-dasharray="4 3"/><text x="{lx:.1}" y="{:.1}" text-anchor="{anchor}" fill="#525252">{label}</text>"##,
                TOP - 6.0,
            );
        }
    }
    let _ = write!(
        s,
        r##"<polyline class="actual" points="{}" fill="none" stroke="#333333" stroke-width="1.5"/>"##,
        coords(&mut actuals.iter().enumerate().map(|(i, a)| (i, a.quantity)))
    );
    let _ = write!(
        s,
        r##"<polyline class="forecast" points="{}" fill="none" stroke="#08519c" stroke-width="2"/>"##,
        coords(
            &mut fc
                .points
                .iter()
                .enumerate()
                .map(|(k, p)| (offset + k, p.mean))
        )
    );
    // Legend: a swatch and a name per drawn series, left to right under the date labels.
    let ly = H - 10.0;
    let mut lx = left;
    let has = |f: fn(&PointView) -> Option<f64>| fc.points.first().and_then(f).is_some();
    let entries = [
        (
            true,
            "actual",
            r##"stroke="#333333" stroke-width="1.5""##,
            false,
        ),
        (
            true,
            "forecast",
            r##"stroke="#08519c" stroke-width="2""##,
            false,
        ),
        (
            has(|p| p.lower_80),
            "80 % band",
            r##"fill="#6baed6""##,
            true,
        ),
        (
            has(|p| p.lower_95),
            "95 % band",
            r##"fill="#c6dbef""##,
            true,
        ),
    ];
    for (_, name, style, area) in entries.into_iter().filter(|e| e.0) {
        if area {
            let _ = write!(
                s,
                r##"<rect x="{lx:.1}" y="{:.1}" width="18" height="10" {style}/>"##,
                ly - 9.0
            );
        } else {
            let _ = write!(
                s,
                r##"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" {style}/>"##,
                ly - 4.0,
                lx + 18.0,
                ly - 4.0
            );
        }
        let _ = write!(
            s,
            r##"<text class="legend" x="{:.1}" y="{ly}">{name}</text>"##,
            lx + 22.0
        );
        lx += 22.0 + text_width(name, FONT) + 16.0;
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Period {
        s.parse().unwrap()
    }

    fn view(levels: bool) -> ForecastView {
        ForecastView {
            components: None,
            series_id: "item=<A&B>/store=S1".into(),
            model: "ETS(A,N,N)".into(),
            trained_at: "2026-01-01T00:00:00.000Z".into(),
            frequency: "day".into(),
            history_end: d("2026-01-03"),
            accuracy: Accuracy::default(),
            points: (0..2)
                .map(|k| PointView {
                    date: d("2026-01-04") + chrono::Days::new(k),
                    mean: 5.0,
                    lower_80: levels.then_some(4.0),
                    upper_80: levels.then_some(6.0),
                    lower_95: levels.then_some(3.0),
                    upper_95: levels.then_some(7.0),
                    q10: levels.then_some(4.0),
                    q50: None,
                    q90: levels.then_some(6.0),
                    override_id: None,
                    statistical_mean: None,
                })
                .collect(),
        }
    }

    fn count(svg: &str, class: &str) -> usize {
        let marker = format!(r#"class="{class}" points=""#);
        let start = svg.find(&marker).unwrap() + marker.len();
        let end = svg[start..].find('"').unwrap() + start;
        svg[start..end].split_whitespace().count()
    }

    #[test]
    fn svg_has_one_vertex_per_point_and_escapes_text() {
        let actuals: Vec<Actual> = (0..3)
            .map(|k| Actual {
                date: d("2026-01-01") + chrono::Days::new(k),
                quantity: k as f64,
            })
            .collect();
        let svg = render_svg(&view(true), &actuals, &ChartOptions::default());
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(count(&svg, "actual"), 3);
        assert_eq!(count(&svg, "forecast"), 2);
        // Bands go out along the upper bound and back along the lower one.
        assert_eq!(count(&svg, "band-95"), 4);
        assert!(svg.contains("item=&lt;A&amp;B&gt;"));
        assert!(!svg.contains("<A&B>"));
        // Without bands there are no band polygons.
        let bare = render_svg(&view(false), &actuals, &ChartOptions::default());
        assert!(!bare.contains("band-80") && !bare.contains("band-95"));
    }

    /// A daily series: `days` actuals from 2025-01-01 (a weekly pattern around 40) and a
    /// `horizon`-step forecast right after, with both bands.
    fn daily(days: u64, horizon: u64) -> (ForecastView, Vec<Actual>) {
        let start = d("2025-01-01");
        let actuals: Vec<Actual> = (0..days)
            .map(|t| Actual {
                date: start + chrono::Days::new(t),
                quantity: 40.0 + 10.0 * ((t % 7) as f64 - 3.0),
            })
            .collect();
        let fc = ForecastView {
            components: None,
            series_id: "item=I1/store=S1".into(),
            model: "ETS(A,N,A)".into(),
            trained_at: "2026-01-01T00:00:00.000Z".into(),
            frequency: "day".into(),
            history_end: start + chrono::Days::new(days - 1),
            accuracy: Accuracy::default(),
            points: (0..horizon)
                .map(|k| PointView {
                    date: start + chrono::Days::new(days + k),
                    mean: 42.0,
                    lower_80: Some(30.0),
                    upper_80: Some(54.0),
                    lower_95: Some(24.0),
                    upper_95: Some(61.3),
                    q10: Some(30.0),
                    q50: Some(41.0),
                    q90: Some(54.0),
                    override_id: None,
                    statistical_mean: None,
                })
                .collect(),
        };
        (fc, actuals)
    }

    /// The x coordinates of a polyline's vertices.
    fn xs(svg: &str, class: &str) -> Vec<f64> {
        let marker = format!(r#"class="{class}" points=""#);
        let start = svg.find(&marker).unwrap() + marker.len();
        let end = svg[start..].find('"').unwrap() + start;
        svg[start..end]
            .split_whitespace()
            .map(|p| p.split_once(',').unwrap().0.parse().unwrap())
            .collect()
    }

    /// Every `<text class="{class}" ...>` as (x, text-anchor, content).
    fn texts(svg: &str, class: &str) -> Vec<(f64, String, String)> {
        let marker = format!(r#"<text class="{class}" "#);
        svg.match_indices(&marker)
            .map(|(at, _)| {
                let rest = &svg[at..];
                let tag_end = rest.find('>').unwrap();
                let attr = |name: &str| {
                    let key = format!(r#" {name}=""#);
                    let from = rest[..tag_end].find(&key).map(|i| i + key.len())?;
                    let to = rest[from..].find('"').unwrap() + from;
                    Some(rest[from..to].to_string())
                };
                let content_end = rest.find("</text>").unwrap();
                (
                    attr("x").unwrap().parse().unwrap(),
                    attr("text-anchor").unwrap_or_else(|| "start".into()),
                    rest[tag_end + 1..content_end].to_string(),
                )
            })
            .collect()
    }

    fn width_attr(svg: &str) -> f64 {
        let from = svg.find(r#"width=""#).unwrap() + 7;
        svg[from..from + svg[from..].find('"').unwrap()]
            .parse()
            .unwrap()
    }

    #[test]
    fn default_window_gives_the_forecast_a_visible_share() {
        let (fc, actuals) = daily(365, 14);
        let svg = render_svg(&fc, &actuals, &ChartOptions::default());
        let shown = count(&svg, "actual");
        assert_eq!(shown, default_chart_history(14));
        assert_eq!(shown, 56);
        assert_eq!(count(&svg, "forecast"), 14);
        let actual = xs(&svg, "actual");
        let forecast = xs(&svg, "forecast");
        let plot = forecast.last().unwrap() - actual[0];
        let share = (forecast.last().unwrap() - forecast[0]) / plot;
        assert!(share >= 0.15, "the forecast takes {share:.3} of the plot");
        // The shown actuals are the latest ones: they end one period before the forecast.
        let step = actual[1] - actual[0];
        assert!((forecast[0] - actual.last().unwrap() - step).abs() < 0.2);
        // The marker stands at the forecast's first period.
        assert!(svg.contains(&format!(
            r#"class="forecast-start" x1="{:.1}""#,
            forecast[0]
        )));
        // With all of it, the forecast is the sliver the window avoids.
        let all = render_svg(
            &fc,
            &actuals,
            &ChartOptions {
                history: Some(MAX_CHART_HISTORY),
                item_name: None,
            },
        );
        assert_eq!(count(&all, "actual"), 365);
        let (a, f) = (xs(&all, "actual"), xs(&all, "forecast"));
        assert!((f[13] - f[0]) / (f[13] - a[0]) < 0.05);
    }

    #[test]
    fn history_picks_the_window() {
        let (fc, actuals) = daily(365, 14);
        let svg = render_svg(
            &fc,
            &actuals,
            &ChartOptions {
                history: Some(30),
                item_name: None,
            },
        );
        assert_eq!(count(&svg, "actual"), 30);
        assert_eq!(count(&svg, "forecast"), 14);
        // The window's first date (day 335 = 2025-12-02) can be labelled, day 0 cannot.
        let labels: Vec<String> = texts(&svg, "x-tick").into_iter().map(|t| t.2).collect();
        assert!(
            labels.iter().all(|l| l.as_str() >= "2025-12-02"),
            "{labels:?}"
        );
        // The forecast's first period is labelled.
        assert!(labels.contains(&"2026-01-01".to_string()), "{labels:?}");
        assert!(check_chart_history(Some(0)).is_err());
        assert!(check_chart_history(Some(MAX_CHART_HISTORY + 1)).is_err());
        assert!(matches!(
            check_chart_history(Some(0)),
            Err(DemandError::Invalid { field, .. }) if field == "history"
        ));
        assert_eq!(check_chart_history(Some(1)).unwrap(), Some(1));
        assert_eq!(check_chart_history(None).unwrap(), None);
        assert_eq!(default_chart_history(1), MIN_DEFAULT_HISTORY);
    }

    /// Whether `step` is 1, 2, 2.5 or 5 times a power of ten.
    fn is_nice(step: f64) -> bool {
        let magnitude = 10f64.powf(step.log10().floor());
        let m = step / magnitude;
        [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .any(|n| (m - n).abs() < 1e-6)
    }

    #[test]
    fn y_axis_has_nice_formatted_ticks_with_grid_lines() {
        let (fc, actuals) = daily(365, 14);
        let svg = render_svg(&fc, &actuals, &ChartOptions::default());
        let labels: Vec<String> = texts(&svg, "y-tick").into_iter().map(|t| t.2).collect();
        assert!(labels.len() >= 4, "{labels:?}");
        assert!(labels.len() <= 7, "{labels:?}");
        let values: Vec<f64> = labels.iter().map(|l| l.parse().unwrap()).collect();
        let step = values[1] - values[0];
        assert!(is_nice(step), "{labels:?}");
        assert!(values.windows(2).all(|w| (w[1] - w[0] - step).abs() < 1e-9));
        assert_eq!(values[0], 0.0);
        // The data (up to 70 and the 95 % band's 61.3) fits under the top tick.
        assert!(*values.last().unwrap() >= 70.0);
        // Integers print without decimals; one grid line per tick.
        assert_eq!(labels, ["0", "20", "40", "60", "80"]);
        assert_eq!(svg.matches(r#"class="grid""#).count(), labels.len());

        // Small, fractional and negative ranges.
        for (lo, hi) in [
            (0.0, 0.0),
            (0.0, 1.0),
            (0.0, 0.37),
            (-3.2, 17.9),
            (0.0, 12_345.0),
            (0.0, 7.0),
        ] {
            let (ticks, decimals) = nice_ticks(lo, hi);
            assert!((4..=7).contains(&ticks.len()), "{lo}..{hi}: {ticks:?}");
            assert!(ticks[0] <= lo && *ticks.last().unwrap() >= hi, "{ticks:?}");
            let step = ticks[1] - ticks[0];
            assert!(is_nice(step), "{lo}..{hi}: {ticks:?}");
            // The labels are exact and distinct at that many decimals.
            let printed: Vec<String> = ticks.iter().map(|t| format!("{t:.decimals$}")).collect();
            for (t, p) in ticks.iter().zip(&printed) {
                assert!((p.parse::<f64>().unwrap() - t).abs() < 1e-9, "{printed:?}");
            }
            assert!(printed.windows(2).all(|w| w[0] != w[1]), "{printed:?}");
        }
        assert_eq!(
            nice_ticks(0.0, 0.37),
            (vec![0.0, 0.1, 0.2, 0.30000000000000004, 0.4], 1)
        );
        assert_eq!(
            nice_ticks(0.0, 12.0).1,
            1,
            "a step of 2.5 prints one decimal"
        );
    }

    #[test]
    fn date_labels_neither_overlap_nor_leave_the_svg() {
        for (days, horizon, history) in [
            (365, 14, None),
            (365, 14, Some(3660)),
            (365, 14, Some(1)),
            (40, 1, None),
            (3, 2, None),
            (2000, 90, Some(2000)),
        ] {
            let (fc, actuals) = daily(days, horizon);
            let svg = render_svg(
                &fc,
                &actuals,
                &ChartOptions {
                    history,
                    item_name: None,
                },
            );
            let width = width_attr(&svg);
            let labels = texts(&svg, "x-tick");
            assert!(
                labels.len() >= 2,
                "{days}/{horizon}/{history:?}: {labels:?}"
            );
            let extents: Vec<(f64, f64)> = labels
                .iter()
                .map(|(x, anchor, text)| {
                    let w = text_width(text, FONT);
                    match anchor.as_str() {
                        "middle" => (x - w / 2.0, x + w / 2.0),
                        "end" => (x - w, *x),
                        _ => (*x, x + w),
                    }
                })
                .collect();
            for (a, b) in &extents {
                assert!(
                    *a >= 0.0 && *b <= width,
                    "{days}/{horizon}/{history:?}: {a}..{b}"
                );
            }
            for w in extents.windows(2) {
                assert!(
                    w[0].1 < w[1].0,
                    "{days}/{horizon}/{history:?}: overlap {w:?}"
                );
            }
            // Regular: the same number of periods between neighbouring labels.
            let gaps: Vec<i64> = labels
                .windows(2)
                .map(|w| {
                    let a: Period = w[0].2.parse().unwrap();
                    let b: Period = w[1].2.parse().unwrap();
                    (b.date() - a.date()).num_days()
                })
                .collect();
            assert!(gaps.windows(2).all(|g| g[0] == g[1]), "{gaps:?}");
        }
        // Several labels on a full-width chart, not two or three.
        let (fc, actuals) = daily(365, 14);
        let svg = render_svg(&fc, &actuals, &ChartOptions::default());
        assert!(texts(&svg, "x-tick").len() >= 5);
        // Monthly series print months.
        let mut monthly = fc.clone();
        monthly.frequency = "month".into();
        let svg = render_svg(&monthly, &actuals[..5], &ChartOptions::default());
        assert!(texts(&svg, "x-tick").iter().all(|t| t.2.len() == 7));
        // Quarters and years by their names.
        assert_eq!(
            period_label("2025-07-01".parse().unwrap(), "quarter"),
            "2025-Q3"
        );
        assert_eq!(period_label("2025-01-01".parse().unwrap(), "year"), "2025");
    }

    #[test]
    fn title_names_the_item_when_known() {
        let (fc, actuals) = daily(60, 7);
        let named = render_svg(
            &fc,
            &actuals,
            &ChartOptions {
                history: None,
                item_name: Some("Blue <Mug> & \"Co\"".into()),
            },
        );
        let title = &texts(&named, "title")[0].2;
        assert_eq!(
            title,
            "Blue &lt;Mug&gt; &amp; &quot;Co&quot;, store S1 — ETS(A,N,A) (day)"
        );
        assert!(!named.contains("<Mug>"));
        // The tooltip keeps the id.
        assert!(
            named.contains(
                "<title>Blue &lt;Mug&gt; &amp; &quot;Co&quot;, store S1 (item=I1/store=S1)"
            )
        );
        let plain = render_svg(&fc, &actuals, &ChartOptions::default());
        assert_eq!(
            texts(&plain, "title")[0].2,
            "item=I1/store=S1 — ETS(A,N,A) (day)"
        );
        // A long name is cut to fit, the model stays.
        let long = render_svg(
            &fc,
            &actuals,
            &ChartOptions {
                history: None,
                item_name: Some("word ".repeat(60)),
            },
        );
        let (x, _, title) = texts(&long, "title").remove(0);
        assert!(
            title.contains("…") && title.ends_with("— ETS(A,N,A) (day)"),
            "{title}"
        );
        assert!(x + text_width(&title, TITLE_FONT) <= W);
    }

    #[test]
    fn levels_parse_and_name_the_field() {
        assert_eq!(parse_levels("80, 95").unwrap(), vec![80.0, 95.0]);
        assert!(matches!(
            parse_levels("80,x"),
            Err(DemandError::Invalid { field, .. }) if field == "levels"
        ));
    }
}
