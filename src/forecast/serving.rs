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

use std::fmt::Write as _;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DEFAULT_LEVELS;
use super::actuals;
use super::series::{DemandError, Frequency, Level, SeriesKey, load_sales};
use super::train::{Accuracy, Point};
use crate::app::App;
use crate::db::forecasts::{self as repo, ForecastRow, ListFilter};
use crate::db::ms_to_rfc3339;

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
    /// day, week or month
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
    /// Start of the period (a Monday for weekly, the 1st for monthly series).
    pub date: NaiveDate,
    pub mean: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_80: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_80: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_95: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_95: Option<f64>,
}

/// One series' latest forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForecastView {
    pub series_id: String,
    pub model: String,
    /// RFC 3339.
    pub trained_at: String,
    pub frequency: String,
    /// Start of the last observed period.
    pub history_end: NaiveDate,
    /// Rolling-origin backtest of the chosen model.
    pub accuracy: Accuracy,
    pub points: Vec<PointView>,
}

/// One observed period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Actual {
    pub date: NaiveDate,
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
    Ok(ForecastView {
        series_id: row.series_id,
        model: row.model,
        trained_at: ms_to_rfc3339(row.trained_at),
        frequency: row.frequency,
        history_end,
        accuracy,
        points: points
            .into_iter()
            .take(horizon)
            .map(|p| PointView {
                date: p.date,
                mean: p.mean,
                lower_80: with80.then_some(p.lower_80),
                upper_80: with80.then_some(p.upper_80),
                lower_95: with95.then_some(p.lower_95),
                upper_95: with95.then_some(p.upper_95),
            })
            .collect(),
    })
}

fn parse_date(row: &ForecastRow) -> Result<NaiveDate, DemandError> {
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
    let snapshot = match actuals::read(app.lake.store(), &row.run_id, &row.series_id).await? {
        Some(snapshot) => snapshot,
        // A run from before actuals were kept: rebuild the series from `sales`.
        None => {
            // The last trained period's final day: later partitions cannot contribute.
            let last_day = frequency.next(end) - chrono::Days::new(1);
            let index = load_sales(app, None, Some(last_day), Some(&key)).await?;
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

/// An SVG chart of a stored series: actuals, forecast mean, 80 and 95 % bands.
pub async fn chart(app: &App, series_id: &str) -> Result<String, DemandError> {
    let fc = forecast(app, series_id, None, None).await?;
    let hist = history(app, series_id).await?;
    Ok(render_svg(&fc, &hist.points))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Hand-written SVG (no plotting dependency): one `<polyline class="actual">` point per
/// actual, one `<polyline class="forecast">` point per forecast step, the bands as polygons.
pub fn render_svg(fc: &ForecastView, actuals: &[Actual]) -> String {
    const W: f64 = 900.0;
    const H: f64 = 380.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;
    let n = actuals.len() + fc.points.len();
    let ymax = actuals
        .iter()
        .map(|a| a.quantity)
        .chain(fc.points.iter().flat_map(|p| {
            [
                p.mean,
                p.upper_80.unwrap_or(p.mean),
                p.upper_95.unwrap_or(p.mean),
            ]
        }))
        .fold(0.0_f64, f64::max)
        .max(1.0)
        * 1.05;
    let x = |i: usize| LEFT + (W - LEFT - RIGHT) * i as f64 / (n.max(2) - 1) as f64;
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - v / ymax);
    let coords = |pts: &mut dyn Iterator<Item = (usize, f64)>| {
        pts.map(|(i, v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let offset = actuals.len();
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
    let title = xml_escape(&format!(
        "{} — {} ({})",
        fc.series_id, fc.model, fc.frequency
    ));
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12"><title>{title}</title><rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/><text x="{LEFT}" y="22" font-size="14">{title}</text>"##
    );
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}" stroke="#888888"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}" stroke="#888888"/><text x="{tx}" y="{ty}" text-anchor="end">{ymax:.0}</text><text x="{tx}" y="{b}" text-anchor="end">0</text>"##,
        b = H - BOTTOM,
        r = W - RIGHT,
        tx = LEFT - 6.0,
        ty = TOP + 4.0,
    );
    let labels = [
        actuals.first().map(|a| (0, a.date)),
        fc.points.first().map(|p| (offset, p.date)),
        fc.points.last().map(|p| (n - 1, p.date)),
    ];
    for (i, date) in labels.into_iter().flatten() {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{date}</text>"##,
            x(i),
            H - BOTTOM + 18.0
        );
    }
    if !fc.points.is_empty() {
        if fc.points[0].lower_95.is_some() {
            let _ = write!(
                s,
                r##"<polygon class="band-95" points="{}" fill="#c6dbef" fill-opacity="0.7"/>"##,
                band(&|p| p.lower_95, &|p| p.upper_95)
            );
        }
        if fc.points[0].lower_80.is_some() {
            let _ = write!(
                s,
                r##"<polygon class="band-80" points="{}" fill="#6baed6" fill-opacity="0.7"/>"##,
                band(&|p| p.lower_80, &|p| p.upper_80)
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
    let ly = H - 12.0;
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="{ly}">actual (black), forecast (blue), 80% band (dark), 95% band (light)</text></svg>"##
    );
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn view(levels: bool) -> ForecastView {
        ForecastView {
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
        let svg = render_svg(&view(true), &actuals);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(count(&svg, "actual"), 3);
        assert_eq!(count(&svg, "forecast"), 2);
        // Bands go out along the upper bound and back along the lower one.
        assert_eq!(count(&svg, "band-95"), 4);
        assert!(svg.contains("item=&lt;A&amp;B&gt;"));
        assert!(!svg.contains("<A&B>"));
        // Without bands there are no band polygons.
        let bare = render_svg(&view(false), &actuals);
        assert!(!bare.contains("band-80") && !bare.contains("band-95"));
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
