//! Planner overrides: a planner replaces the statistical forecast of a series for a date
//! range (a quantity, or a change in percent) and says why; serving applies the override on
//! top of whatever run is served, and once actuals land its forecast value added says
//! whether it helped.
//!
//! Why keyed by series and dates (not by run): a planner's knowledge (a listing, a campaign)
//! is about the future weeks, not about one model fit, so overrides survive retraining. Why
//! never deleted: who changed the plan, when and why is the audit trail planners answer to;
//! withdrawing an override stamps it. Where several active overrides cover a period, the
//! newest wins.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::series::{DemandError, Frequency, Period};
use crate::app::App;
use crate::db::forecasts::{self as forecast_repo, RealisedRow};
use crate::db::overrides::{self as repo, OverrideRow};
use crate::db::{ms_to_rfc3339, now_ms};

/// Longest date range one override covers.
const MAX_DAYS: i64 = 3660;
const MAX_REASON: usize = 1000;

/// A new override (`POST /v1/forecasts/{series_id}/overrides`): exactly one of `value` and
/// `percent`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOverride {
    /// First period start the override covers: a date, or an hour
    /// (`2026-03-02T13:00:00Z`) on an hourly series.
    #[schema(value_type = String)]
    pub start: Period,
    /// Last period start it covers (default: `start`); a date covers each of its hours.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub end: Option<Period>,
    /// The quantity to plan instead of the statistical forecast (0 or more).
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1e12)]
    pub value: Option<f64>,
    /// A change of the statistical forecast in percent (-50 halves it, 20 adds a fifth).
    #[serde(default)]
    #[schema(minimum = -100.0, maximum = 10000.0)]
    pub percent: Option<f64>,
    /// Why (shown in the audit trail); not blank.
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub reason: String,
}

/// What an override does to a statistical forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Adjustment {
    Value(f64),
    Percent(f64),
}

impl Adjustment {
    /// The planned quantity for a statistical `mean`.
    pub fn apply(self, mean: f64) -> f64 {
        match self {
            Adjustment::Value(v) => v,
            Adjustment::Percent(p) => (mean * (1.0 + p / 100.0)).max(0.0),
        }
    }

    /// An interval bound moved with the mean: shifted by a value override, scaled by a
    /// percent one; never below zero.
    pub fn bound(self, mean: f64, bound: f64) -> f64 {
        match self {
            Adjustment::Value(v) => (bound + v - mean).max(0.0),
            Adjustment::Percent(p) => (bound * (1.0 + p / 100.0)).max(0.0),
        }
    }

    /// What a stored override does.
    pub(super) fn of(row: &OverrideRow) -> Adjustment {
        if row.kind == "percent" {
            Adjustment::Percent(row.amount)
        } else {
            Adjustment::Value(row.amount)
        }
    }
}

/// Forecast value added by an override over the periods of its range that have actuals.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ValueAdded {
    /// Periods scored.
    pub points: usize,
    /// Mean absolute error of the statistical forecast on those periods.
    pub mae_statistical: f64,
    /// Mean absolute error with the override applied.
    pub mae_override: f64,
    /// `mae_statistical - mae_override`: positive when the override made the plan better.
    pub value_added: f64,
}

/// One override and its audit fields.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OverrideView {
    pub override_id: String,
    pub series_id: String,
    #[schema(value_type = String)]
    pub start: Period,
    #[schema(value_type = String)]
    pub end: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    pub reason: String,
    /// The API key that set it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// False once withdrawn.
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_by: Option<String>,
    /// Present once actuals landed for a period it covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_added: Option<ValueAdded>,
}

/// The audit trail of a series: every override, withdrawn ones too, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OverrideList {
    pub series_id: String,
    pub overrides: Vec<OverrideView>,
}

/// The active overrides of a series, newest first, with what they do.
#[derive(Debug, Clone, Default)]
pub struct Active(Vec<(Period, Period, String, Adjustment)>);

impl Active {
    /// The override in force for the period starting `date` (the newest covering it).
    pub fn at(&self, date: Period) -> Option<(&str, Adjustment)> {
        self.0
            .iter()
            .find(|(start, end, _, _)| date.within(*start, *end))
            .map(|(_, _, id, adj)| (id.as_str(), *adj))
    }
}

/// Checks a new override, naming the field at fault.
pub fn validate(o: &NewOverride) -> Result<(Period, Adjustment), DemandError> {
    let end = o.end.unwrap_or(o.start);
    if end < o.start {
        return Err(DemandError::invalid("end", "`end` is before `start`"));
    }
    if (end.date() - o.start.date()).num_days() > MAX_DAYS {
        return Err(DemandError::invalid(
            "end",
            format!("`end`: an override covers at most {MAX_DAYS} days"),
        ));
    }
    let blank = o
        .reason
        .chars()
        .all(|c| c.is_whitespace() || c == '\u{feff}');
    if blank || o.reason.contains('\0') || o.reason.chars().count() > MAX_REASON {
        return Err(DemandError::invalid(
            "reason",
            format!("`reason` must be 1 to {MAX_REASON} characters, not blank"),
        ));
    }
    let adjustment = match (o.value, o.percent) {
        (Some(v), None) if (0.0..=1e12).contains(&v) => Adjustment::Value(v),
        (Some(_), None) => {
            return Err(DemandError::invalid(
                "value",
                "`value` must be between 0 and 1e12",
            ));
        }
        (None, Some(p)) if (-100.0..=10_000.0).contains(&p) => Adjustment::Percent(p),
        (None, Some(_)) => {
            return Err(DemandError::invalid(
                "percent",
                "`percent` must be between -100 and 10000",
            ));
        }
        _ => {
            return Err(DemandError::invalid(
                "value",
                "give exactly one of `value` and `percent`",
            ));
        }
    };
    Ok((end, adjustment))
}

/// Stores an override of a series that has a served forecast.
pub async fn create(
    app: &App,
    series_id: &str,
    new: &NewOverride,
    by: &str,
) -> Result<OverrideView, DemandError> {
    let (end, adjustment) = validate(new)?;
    let Some(stored) = forecast_repo::get(&app.db, series_id).await? else {
        return Err(DemandError::UnknownSeries(series_id.to_string()));
    };
    let hourly = stored.frequency == Frequency::Hour.as_str();
    for (field, p) in [("start", new.start), ("end", end)] {
        if !hourly && matches!(p, Period::Hour(_)) {
            return Err(DemandError::invalid(
                field,
                format!("`{field}`: series `{series_id}` is not hourly; give a date"),
            ));
        }
    }
    let (kind, amount) = match adjustment {
        Adjustment::Value(v) => ("value", v),
        Adjustment::Percent(p) => ("percent", p),
    };
    let row = OverrideRow {
        id: uuid::Uuid::now_v7().to_string(),
        series_id: series_id.to_string(),
        start_date: new.start.to_string(),
        end_date: end.to_string(),
        kind: kind.into(),
        amount,
        reason: new.reason.trim().to_string(),
        created_by: by.to_string(),
        created_at: now_ms(),
        retired_at: None,
        retired_by: None,
    };
    repo::insert(&app.db, &row).await?;
    tracing::info!(series_id, override_id = %row.id, by, "forecast override set");
    view(row, &[])
}

/// The audit trail of `series_id`, with each override's value added so far.
pub async fn list(app: &App, series_id: &str) -> Result<OverrideList, DemandError> {
    let rows = repo::for_series(&app.db, series_id).await?;
    if rows.is_empty() && forecast_repo::get(&app.db, series_id).await?.is_none() {
        return Err(DemandError::UnknownSeries(series_id.to_string()));
    }
    let realised = forecast_repo::realised_for_series(&app.db, series_id).await?;
    let overrides = rows
        .into_iter()
        .map(|r| view(r, &realised))
        .collect::<Result<_, _>>()?;
    Ok(OverrideList {
        series_id: series_id.to_string(),
        overrides,
    })
}

/// Withdraws an override (kept in the trail with who and when).
pub async fn retire(
    app: &App,
    series_id: &str,
    override_id: &str,
    by: &str,
) -> Result<OverrideView, DemandError> {
    let row = repo::retire(&app.db, series_id, override_id, by, now_ms())
        .await?
        .ok_or_else(|| DemandError::UnknownOverride(override_id.to_string()))?;
    tracing::info!(series_id, override_id, by, "forecast override withdrawn");
    view(row, &[])
}

/// The overrides in force for `series_id`.
pub async fn active(app: &App, series_id: &str) -> Result<Active, DemandError> {
    let mut rows = repo::for_series(&app.db, series_id).await?;
    rows.retain(|r| r.retired_at.is_none());
    rows.reverse();
    rows.iter()
        .map(|r| {
            Ok((
                date(&r.start_date)?,
                date(&r.end_date)?,
                r.id.clone(),
                Adjustment::of(r),
            ))
        })
        .collect::<Result<_, DemandError>>()
        .map(Active)
}

/// A stored override's period.
pub(super) fn date(s: &str) -> Result<Period, DemandError> {
    s.parse()
        .map_err(|e| DemandError::Corrupt(format!("override date `{s}`: {e}")))
}

fn view(row: OverrideRow, realised: &[RealisedRow]) -> Result<OverrideView, DemandError> {
    let (start, end) = (date(&row.start_date)?, date(&row.end_date)?);
    let adjustment = Adjustment::of(&row);
    Ok(OverrideView {
        value_added: value_added(adjustment, start, end, realised),
        override_id: row.id,
        series_id: row.series_id,
        start,
        end,
        value: matches!(adjustment, Adjustment::Value(_)).then_some(row.amount),
        percent: matches!(adjustment, Adjustment::Percent(_)).then_some(row.amount),
        reason: row.reason,
        created_by: row.created_by,
        created_at: ms_to_rfc3339(row.created_at),
        active: row.retired_at.is_none(),
        retired_at: row.retired_at.map(ms_to_rfc3339),
        retired_by: row.retired_by,
    })
}

/// Forecast value added over the realised periods in `[start, end]`. Each period is scored
/// once, against its freshest stored forecast (the smallest horizon step among the runs
/// that forecast it).
pub fn value_added(
    adjustment: Adjustment,
    start: Period,
    end: Period,
    realised: &[RealisedRow],
) -> Option<ValueAdded> {
    let mut freshest: std::collections::BTreeMap<&str, &RealisedRow> = Default::default();
    for r in realised {
        let in_range = r.date.parse::<Period>().is_ok_and(|d| d.within(start, end));
        if in_range {
            let slot = freshest.entry(r.date.as_str()).or_insert(r);
            if r.step < slot.step {
                *slot = r;
            }
        }
    }
    if freshest.is_empty() {
        return None;
    }
    let n = freshest.len() as f64;
    let (stat, over) = freshest.values().fold((0.0, 0.0), |(s, o), r| {
        (
            s + (r.actual - r.mean).abs(),
            o + (r.actual - adjustment.apply(r.mean)).abs(),
        )
    });
    Some(ValueAdded {
        points: freshest.len(),
        mae_statistical: stat / n,
        mae_override: over / n,
        value_added: (stat - over) / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(value: Option<f64>, percent: Option<f64>, reason: &str) -> NewOverride {
        NewOverride {
            start: "2026-03-02".parse().unwrap(),
            end: Some("2026-03-08".parse().unwrap()),
            value,
            percent,
            reason: reason.into(),
        }
    }

    fn field(r: Result<(Period, Adjustment), DemandError>) -> String {
        match r {
            Err(DemandError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_new_override_names_the_field_at_fault() {
        assert_eq!(field(validate(&new(None, None, "x"))), "value");
        assert_eq!(field(validate(&new(Some(1.0), Some(2.0), "x"))), "value");
        assert_eq!(field(validate(&new(Some(-1.0), None, "x"))), "value");
        assert_eq!(field(validate(&new(None, Some(-100.5), "x"))), "percent");
        assert_eq!(field(validate(&new(Some(1.0), None, "  "))), "reason");
        let mut backwards = new(Some(1.0), None, "x");
        backwards.end = Some("2026-03-01".parse().unwrap());
        assert_eq!(field(validate(&backwards)), "end");
        let (end, adj) = validate(&new(None, Some(20.0), "campaign")).unwrap();
        assert_eq!(end.to_string(), "2026-03-08");
        assert_eq!(adj, Adjustment::Percent(20.0));
    }

    #[test]
    fn adjustments_move_the_mean_and_its_bands() {
        assert_eq!(Adjustment::Value(30.0).apply(10.0), 30.0);
        assert_eq!(Adjustment::Value(30.0).bound(10.0, 4.0), 24.0);
        assert_eq!(Adjustment::Value(0.0).bound(10.0, 4.0), 0.0);
        assert!((Adjustment::Percent(-50.0).apply(10.0) - 5.0).abs() < 1e-12);
        assert!((Adjustment::Percent(20.0).bound(10.0, 15.0) - 18.0).abs() < 1e-12);
    }

    #[test]
    fn value_added_scores_each_period_once_against_its_freshest_forecast() {
        let row = |date: &str, step: i64, actual: f64, mean: f64| RealisedRow {
            run_id: format!("r{step}"),
            series_id: "s".into(),
            date: date.into(),
            step,
            level: "item_store".into(),
            actual,
            mean,
            lower_80: None,
            upper_80: None,
            lower_95: None,
            upper_95: None,
            mase_scale: None,
            backtest_mase: None,
            scored_at: 0,
        };
        let realised = [
            row("2026-03-02", 1, 12.0, 10.0),
            row("2026-03-02", 5, 12.0, 2.0), // an older run's forecast of the same day
            row("2026-03-03", 2, 9.0, 10.0),
            row("2026-03-20", 1, 50.0, 10.0), // outside the range
        ];
        let (start, end) = ("2026-03-02".parse().unwrap(), "2026-03-08".parse().unwrap());
        let va = value_added(Adjustment::Value(11.0), start, end, &realised).unwrap();
        assert_eq!(va.points, 2);
        // Statistical |12-10| + |9-10| = 3; override |12-11| + |9-11| = 3.
        assert!((va.mae_statistical - 1.5).abs() < 1e-12);
        assert!((va.mae_override - 1.5).abs() < 1e-12);
        assert!(va.value_added.abs() < 1e-12);
        assert_eq!(
            value_added(Adjustment::Value(1.0), end, end, &realised),
            None
        );
    }
}
