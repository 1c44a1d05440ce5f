//! A training run's parameters: what to fit (level, frequency, series), how far ahead, how
//! each series' model is chosen, and the limits every run is held to.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::hierarchy::ReconcileBy;
use super::holidays::{self, HolidayRow};
use super::periods::{LastPeriod, SeriesRules};
use super::regressors;
use super::seasonalities::{self, SeasonalityRow};
use super::series::{DemandError, Frequency, Level};

/// Series fitted per parallel chunk (and per DB transaction).
pub const CHUNK: usize = 64;
/// Longest horizon a run accepts.
pub const MAX_HORIZON: usize = 366;

/// How each series' model is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SelectBy {
    /// Lowest AICc within exponential smoothing (ARIMA when ETS fails): one fit per series,
    /// for when training time matters more than the last few percent of accuracy.
    Aicc,
    /// Lowest backtest MASE among ETS, ARIMA, the naive family (MSTL for daily data) and the
    /// Prophet-style model: several fits per series.
    Backtest,
    /// ETS, ARIMA, Theta and CES fitted once per origin of one shared rolling-origin
    /// backtest; the best of their mean and median combinations unless a single model is
    /// clearly better (`PooledConfig::standard`). The default: the most accurate choice overall
    /// on every public set measured (docs/benchmarks.md), at the most fits per series.
    #[default]
    Pooled,
    /// The Prophet-style model on every series (no choice among families): trend with
    /// automatic changepoints, yearly and weekly seasonality as the history allows, and the
    /// run's `holidays`. Constant, short and intermittent series keep their fallbacks.
    Prophet,
}

impl std::str::FromStr for SelectBy {
    type Err = DemandError;
    fn from_str(s: &str) -> Result<Self, DemandError> {
        match s {
            "aicc" => Ok(SelectBy::Aicc),
            "backtest" => Ok(SelectBy::Backtest),
            "pooled" => Ok(SelectBy::Pooled),
            "prophet" => Ok(SelectBy::Prophet),
            other => Err(DemandError::invalid(
                "select",
                format!("unknown selection `{other}` (aicc, backtest, pooled, prophet)"),
            )),
        }
    }
}

/// What to train (also the `train_forecaster` job payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    #[serde(default)]
    pub frequency: Frequency,
    /// Steps to forecast; default two days of hours, two weeks of days, a quarter of weeks, a
    /// year of months, two years of quarters or six years (M3's horizons for the last two).
    #[serde(default)]
    pub horizon: Option<usize>,
    #[serde(default)]
    pub level: Level,
    /// Only series whose id matches this glob (`*`, `?`), e.g. `item=I1/*`.
    #[serde(default)]
    pub series: Option<String>,
    #[serde(default)]
    pub select: SelectBy,
    /// Sales from this date on (default: all).
    #[serde(default)]
    pub from: Option<NaiveDate>,
    /// Sales up to this date (default: all).
    #[serde(default)]
    pub to: Option<NaiveDate>,
    /// Exogenous regressors, feature references `view:feature` of item x store views (e.g.
    /// `item_store_price:on_promo`); only for level `item_store` at frequency `day`. Each
    /// series then also gets a regression-with-ARIMA-errors candidate (see
    /// [`super::regressors`]). Empty: no regressors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regressors: Vec<String>,
    /// When the data's last period counts as complete (`auto`, `calendar`, `complete`).
    #[serde(default)]
    pub last_period: LastPeriod,
    /// Zero-fill series that stopped selling instead of leaving them out (reported).
    #[serde(default)]
    pub pad_ended: bool,
    /// Every series ends at its own last period with a row, and is forecast from there:
    /// those that stopped selling are kept (and reported) instead of left out, and no series
    /// gets trailing zeros. For sets of series on calendars of their own, such as a public
    /// benchmark's, where an early end is not a product taken off sale.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_end: bool,
    /// Periods without sales after which a series has ended (default: 28 days, 8 weeks,
    /// 3 months).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_after: Option<usize>,
    /// Forecast the whole hierarchy (total, items, stores, item x store) and reconcile it by
    /// this method (`none`: the one `level`); see [`super::hierarchy`].
    #[serde(default, skip_serializing_if = "is_none")]
    pub reconcile: ReconcileBy,
    /// The Prophet-style model's holiday calendar (the `prophet` package's holidays table:
    /// `holiday`, `ds`, `lower_window`, `upper_window`, `prior_scale`); for runs that fit that
    /// model ([`TrainParams::fits_prophet`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<HolidayRow>,
    /// National public holidays by country rules (ISO code: `AT`, `DE` or a state of it such
    /// as `DE-BY`, `ES` or an autonomous community of it such as `ES-MD`, `FR` or Moselle
    /// `FR-57` / Alsace `FR-6AE` / an overseas department or collectivity such as Réunion
    /// `FR-974`, `GB` or a nation of it such as `GB-ENG`, `IT` or a province of it such as
    /// `IT-MI`, `US` or a state of it such as `US-CA`) besides any
    /// `holidays` rows, for runs that fit the Prophet-style model; see
    /// [`super::country_holidays`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holidays_country: Option<String>,
    /// How the Prophet-style model combines seasonalities, holidays and regressors with its
    /// trend (`additive`, the default, or `multiplicative`), for runs that fit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seasonality_mode: Option<super::prophet::Mode>,
    /// The Prophet-style model's trend (`linear`, the default, with changepoints, or `flat`:
    /// a constant level), for runs that fit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth: Option<super::prophet::Growth>,
    /// The logistic trend's capacity, in units of demand (the `prophet` package's `cap`): the
    /// level demand saturates at. Required by `growth: logistic` and refused otherwise; it
    /// applies to every series of the run, so such a run forecasts one level (`reconcile:
    /// none`), usually the series a planner picks with `series`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<f64>,
    /// The logistic trend's lower saturation, in units of demand (the package's `floor`,
    /// default 0); below `cap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
    /// Seasonalities added to the Prophet-style model's automatic ones (the `prophet`
    /// package's `add_seasonality`: `name`, `period` in days, `fourier_order`, optional
    /// `prior_scale` and `condition_name`, one of `regressors`), for runs that fit it; see
    /// [`super::seasonalities`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seasonalities: Vec<SeasonalityRow>,
    /// The stores' IANA time zone (e.g. `Europe/Berlin`), for hourly runs: each series is
    /// modelled on local hours, so its daily and weekly cycles stay in step across
    /// daylight-saving changes; periods and forecasts stay keyed by UTC hours. See
    /// [`super::local_clock`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

fn is_none(r: &ReconcileBy) -> bool {
    *r == ReconcileBy::None
}

impl TrainParams {
    /// How this run builds its series.
    pub fn series_rules(&self) -> SeriesRules {
        SeriesRules {
            last_period: self.last_period,
            pad_ended: self.pad_ended,
            own_end: self.own_end,
            ended_after: self.ended_after,
        }
    }

    pub fn horizon(&self) -> usize {
        self.horizon.unwrap_or(match self.frequency {
            Frequency::Hour => 48,
            Frequency::Day => 14,
            Frequency::Week => 13,
            Frequency::Month => 12,
            Frequency::Quarter => 8,
            Frequency::Year => 6,
        })
    }

    /// Rejects values a run cannot use, naming the field.
    pub fn validate(&self) -> Result<(), DemandError> {
        let h = self.horizon();
        if h == 0 || h > MAX_HORIZON {
            return Err(DemandError::invalid(
                "horizon",
                format!("horizon must be between 1 and {MAX_HORIZON}, got {h}"),
            ));
        }
        if self.ended_after == Some(0) {
            return Err(DemandError::invalid(
                "ended_after",
                "must be at least 1 period",
            ));
        }
        if self.own_end && self.pad_ended {
            return Err(DemandError::invalid(
                "own_end",
                "a series that ended is either padded with zeros (`pad_ended`) or forecast \
                 from its own end (`own_end`), not both",
            ));
        }
        if let (Some(f), Some(t)) = (self.from, self.to)
            && f > t
        {
            return Err(DemandError::invalid("from", "`from` is after `to`"));
        }
        regressors::check_params(&self.regressors, self.level, self.frequency)?;
        self.check_reconcile()?;
        self.check_prophet_options()?;
        self.zone()?;
        self.matcher().map(|_| ())
    }

    /// The parsed `timezone`, if any (hourly runs only).
    pub fn zone(&self) -> Result<Option<chrono_tz::Tz>, DemandError> {
        self.timezone
            .as_deref()
            .map(|z| super::local_clock::parse(z, self.frequency))
            .transpose()
    }

    /// Whether the Prophet-style model takes part in this run: as the model of `select:
    /// prophet`, a candidate of `select: backtest`, or a regression candidate.
    pub fn fits_prophet(&self) -> bool {
        matches!(self.select, SelectBy::Prophet | SelectBy::Backtest) || !self.regressors.is_empty()
    }

    /// The holiday calendar and seasonality mode are the Prophet-style model's: refused in a
    /// run that does not fit it, and checked otherwise.
    fn check_prophet_options(&self) -> Result<(), DemandError> {
        let refuse = |field: &str, what: &str| {
            DemandError::invalid(
                field,
                format!(
                    "{what} the prophet model's, which this run does not fit: set `select` to \
                     prophet or backtest, or give `regressors`"
                ),
            )
        };
        let fits = self.fits_prophet();
        if !self.holidays.is_empty() && !fits {
            return Err(refuse(holidays::FIELD, "holidays are"));
        }
        holidays::validate(&self.holidays)?;
        if let Some(country) = &self.holidays_country {
            if !fits {
                return Err(refuse("holidays_country", "country holidays are"));
            }
            super::country_holidays::check(country, "holidays_country")?;
        }
        if self.seasonality_mode.is_some() && !fits {
            return Err(refuse("seasonality_mode", "a seasonality mode is"));
        }
        if self.growth.is_some() && !fits {
            return Err(refuse("growth", "a trend's growth is"));
        }
        self.check_saturation()?;
        if !self.seasonalities.is_empty() && !fits {
            return Err(refuse(seasonalities::FIELD, "added seasonalities are"));
        }
        seasonalities::validate(&self.seasonalities, &self.regressors)
    }

    /// A logistic trend needs a cap above its floor, in units of one level's demand; `cap`
    /// and `floor` belong to it alone.
    fn check_saturation(&self) -> Result<(), DemandError> {
        let growth = self.growth.unwrap_or_default();
        if let Some((field, why)) = super::prophet::saturation_fault(growth, self.cap, self.floor) {
            return Err(DemandError::invalid(field, why));
        }
        if growth == super::prophet::Growth::Logistic && self.reconcile != ReconcileBy::None {
            return Err(DemandError::invalid(
                "growth",
                "a logistic trend's cap is in units of one level's demand: set `reconcile` to \
                 none",
            ));
        }
        Ok(())
    }

    /// A reconciled run starts from every item x store series: its totals must be the
    /// real ones.
    fn check_reconcile(&self) -> Result<(), DemandError> {
        if self.reconcile == ReconcileBy::None {
            return Ok(());
        }
        if self.level != Level::ItemStore {
            return Err(DemandError::invalid(
                "reconcile",
                format!(
                    "a reconciled run forecasts every level from the item_store series; \
                     leave `level` at item_store (got {})",
                    self.level
                ),
            ));
        }
        if self.own_end {
            return Err(DemandError::invalid(
                "own_end",
                "a reconciled run adds series up period by period, so every series must end on \
                 the same period; leave `own_end` off",
            ));
        }
        if self.series.is_some() {
            return Err(DemandError::invalid(
                "reconcile",
                "a reconciled run needs every series (its totals would miss the ones a \
                 `series` filter leaves out)",
            ));
        }
        Ok(())
    }

    pub(super) fn matcher(&self) -> Result<Option<globset::GlobMatcher>, DemandError> {
        self.series
            .as_deref()
            .map(|pattern| {
                globset::GlobBuilder::new(pattern)
                    .literal_separator(false)
                    .build()
                    .map(|g| g.compile_matcher())
                    .map_err(|e| DemandError::invalid("series", format!("bad series filter: {e}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prophet_options_need_a_run_that_fits_the_prophet_model() {
        let with = |select, regressors: &[&str]| TrainParams {
            select,
            regressors: regressors.iter().map(|r| r.to_string()).collect(),
            holidays_country: Some("IT".into()),
            ..TrainParams::default()
        };
        assert!(with(SelectBy::Prophet, &[]).validate().is_ok());
        assert!(with(SelectBy::Backtest, &[]).validate().is_ok());
        assert!(
            with(SelectBy::Aicc, &["item_store_price:on_promo"])
                .validate()
                .is_ok()
        );
        let refused = with(SelectBy::Pooled, &[]).validate();
        assert!(
            matches!(&refused, Err(DemandError::Invalid { field, .. }) if field == "holidays_country"),
            "{refused:?}"
        );
        let unknown = TrainParams {
            holidays_country: Some("XX".into()),
            ..with(SelectBy::Prophet, &[])
        };
        assert!(unknown.validate().is_err());
    }

    #[test]
    fn params_validation_names_the_field() {
        let mut p = TrainParams {
            horizon: Some(0),
            ..TrainParams::default()
        };
        assert!(
            matches!(p.validate(), Err(DemandError::Invalid { field, .. }) if field == "horizon")
        );
        p.horizon = Some(7);
        assert!(p.validate().is_ok());
        p.series = Some("item=[".into());
        assert!(
            matches!(p.validate(), Err(DemandError::Invalid { field, .. }) if field == "series")
        );
        assert_eq!(TrainParams::default().horizon(), 14);
        let json: TrainParams =
            serde_json::from_value(serde_json::json!({"frequency": "week", "select": "backtest"}))
                .unwrap();
        assert_eq!(
            (json.frequency, json.select, json.horizon()),
            (Frequency::Week, SelectBy::Backtest, 13)
        );
        // An ended series is padded or forecast from its own end, and a reconciled run has
        // one end for all.
        let own: TrainParams =
            serde_json::from_value(serde_json::json!({"own_end": true, "pad_ended": true}))
                .unwrap();
        assert!(
            matches!(own.validate(), Err(DemandError::Invalid { field, .. }) if field == "own_end")
        );
        let own = TrainParams {
            own_end: true,
            reconcile: ReconcileBy::BottomUp,
            ..TrainParams::default()
        };
        assert!(
            matches!(own.validate(), Err(DemandError::Invalid { field, .. }) if field == "own_end")
        );
    }
}
