//! `recast train forecaster`: fits every demand series in this process (progress bar on
//! stderr) and prints a summary table per chosen model on stdout. The same code runs as the
//! `train_forecaster` job, so a CLI run and a scheduled run store identical results.

use super::bar::Bar;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::forecast::hierarchy::ReconciliationReport;
use crate::forecast::holidays;
use crate::forecast::periods::LastPeriod;
use crate::forecast::seasonalities;
use crate::forecast::series::{Frequency, Level};
use crate::forecast::train::{self, SelectBy, TrainParams, TrainReport};

#[derive(Args, Debug)]
pub struct ForecasterArgs {
    /// Series frequency: hour (UTC, from the sales rows' `ts`), day, week (ISO, Monday start),
    /// month, quarter (January, April, July, October) or year.
    #[arg(long, default_value = "day")]
    pub frequency: String,
    /// Steps to forecast (default 48 hours, 14 days, 13 weeks, 12 months, 8 quarters or 6
    /// years).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Only series whose id matches this glob, e.g. `item=I1/*`.
    #[arg(long, value_name = "FILTER")]
    pub series: Option<String>,
    /// Series level: item_store, item (all stores), store (all items) or category (the items
    /// of each items-catalog category over all stores).
    #[arg(long, default_value = "item_store")]
    pub level: String,
    /// Model choice per series: pooled (the default: ETS, ARIMA, Theta, CES and their
    /// combinations on one shared backtest), aicc (ETS by AICc: one fit per series, fast),
    /// backtest (compares families, the Prophet-style model among them) or prophet (the
    /// Prophet-style model on every series, with `--holidays`).
    #[arg(long, default_value = "pooled")]
    pub select: String,
    /// Exogenous regressors from the feature store, `view:feature` of item x store views,
    /// comma-separated (e.g. `item_store_price:price,item_store_price:on_promo`); level
    /// item_store and frequency day only. Materialize the views first.
    #[arg(long, value_name = "VIEW:FEATURE", value_delimiter = ',')]
    pub regressors: Vec<String>,
    /// When the data's last period counts as complete: auto (when the rows are dated on
    /// their period's first day, all in the last period and 99 % overall, or on a shorter
    /// period's, such as months in a quarter, and reach its last one), calendar (only when
    /// the data reach its last day) or complete.
    #[arg(long, default_value = "auto")]
    pub last_period: String,
    /// Zero-fill series that stopped selling instead of leaving them out.
    #[arg(long)]
    pub pad_ended: bool,
    /// End every series at its own last period with a row and forecast it from there,
    /// keeping those that stopped selling (series on calendars of their own, such as a
    /// benchmark's).
    #[arg(long, conflicts_with = "pad_ended")]
    pub own_end: bool,
    /// Periods without sales after which a series has ended (default 336 hours, 28 days,
    /// 8 weeks, 3 months).
    #[arg(long, value_name = "PERIODS")]
    pub ended_after: Option<usize>,
    /// Forecast every level (total, items, stores, item x store) and reconcile them so they
    /// add up: none, bottom_up, top_down, ols, wls_struct, wls_var, mint_shrink or auto (the
    /// best of bottom_up, top_down, wls_struct and mint_shrink on a backtest).
    #[arg(long, default_value = "none")]
    pub reconcile: String,
    /// A holidays table for the Prophet-style model (`--select prophet` or `backtest`, or the
    /// regression candidate with `--regressors`), CSV in the `prophet` package's shape: header
    /// `holiday,ds` and optionally `lower_window,upper_window,prior_scale`.
    #[arg(long, value_name = "FILE.csv")]
    pub holidays: Option<std::path::PathBuf>,
    /// National public holidays by country rules for the Prophet-style model (AT, DE and its
    /// states DE-BB ... DE-TH, ES and its autonomous communities ES-AN ... ES-VC (each year's
    /// decreed days, 2008 to 2035), FR and Alsace-Moselle FR-57/FR-67/FR-68/FR-6AE and the
    /// overseas FR-971, FR-972, FR-973, FR-974, FR-976, FR-BL, FR-MF, FR-NC, FR-PF, FR-PM,
    /// FR-TF, FR-WF, GB and its nations GB-ENG, GB-NIR, GB-SCT, GB-WLS, IT and its provinces
    /// IT-AG ... IT-VV by ISO 3166-2 code, US and its states and territories US-AK ... US-WY
    /// (their own days 2008 to 2035)), besides any `--holidays` table.
    #[arg(long, value_name = "CODE")]
    pub holidays_country: Option<String>,
    /// How the Prophet-style model combines seasonalities, holidays and regressors with the
    /// trend: additive (default) or multiplicative (effects in proportion to the trend).
    #[arg(long, value_name = "MODE")]
    pub seasonality_mode: Option<String>,
    /// The Prophet-style model's trend: linear (default, with changepoints), flat (a
    /// constant level, for demand with no trend) or logistic (saturating at --cap).
    #[arg(long, value_name = "GROWTH")]
    pub growth: Option<String>,
    /// The logistic trend's capacity in units of demand (with --growth logistic): the level
    /// demand saturates at, for every series of the run.
    #[arg(long, value_name = "UNITS", allow_negative_numbers = true)]
    pub cap: Option<f64>,
    /// The logistic trend's lower saturation in units of demand (default 0).
    #[arg(long, value_name = "UNITS", allow_negative_numbers = true)]
    pub floor: Option<f64>,
    /// A seasonality added to the Prophet-style model's automatic ones, as
    /// NAME:PERIOD_DAYS:FOURIER_ORDER (e.g. `monthly:30.5:5`), optionally followed by
    /// :VIEW:FEATURE, one of `--regressors` with values 0/1, outside of which it does not act
    /// (e.g. `weekly_promo:7:3:item_store_price:on_promo`). Repeatable.
    #[arg(long = "seasonality", value_name = "NAME:PERIOD:ORDER[:CONDITION]")]
    pub seasonalities: Vec<String>,
    /// The stores' IANA time zone for an hourly run (e.g. Europe/Berlin): series are modelled
    /// on local hours, so their daily cycle stays in step across daylight-saving changes;
    /// forecasts stay keyed by UTC hours.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Print the run report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

impl ForecasterArgs {
    pub fn params(&self) -> Result<TrainParams> {
        let frequency: Frequency = self.frequency.parse()?;
        let level: Level = self.level.parse()?;
        let select: SelectBy = self.select.parse()?;
        let last_period: LastPeriod = word(
            "--last-period",
            &self.last_period,
            "one of auto, calendar, complete",
        )?;
        let params = TrainParams {
            frequency,
            horizon: self.horizon,
            level,
            series: self.series.clone(),
            select,
            from: None,
            to: None,
            regressors: self.regressors.clone(),
            last_period,
            pad_ended: self.pad_ended,
            own_end: self.own_end,
            ended_after: self.ended_after,
            reconcile: self.reconcile.parse()?,
            holidays: match &self.holidays {
                Some(path) => holidays::read_csv(path)?,
                None => Vec::new(),
            },
            holidays_country: self.holidays_country.clone(),
            seasonality_mode: self
                .seasonality_mode
                .as_deref()
                .map(|m| word("--seasonality-mode", m, "additive or multiplicative"))
                .transpose()?,
            seasonalities: self
                .seasonalities
                .iter()
                .map(|v| seasonalities::parse_flag(v))
                .collect::<Result<_, _>>()?,
            timezone: self.timezone.clone(),
            growth: self
                .growth
                .as_deref()
                .map(|g| word("--growth", g, "linear, flat or logistic"))
                .transpose()?,
            cap: self.cap,
            floor: self.floor,
        };
        params.validate()?;
        Ok(params)
    }
}

/// A flag's word as the payload's enum `T` takes it; the error names the flag and says what
/// it may be.
fn word<T: serde::de::DeserializeOwned>(flag: &str, value: &str, may_be: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|_| Error::invalid(flag, format!("{flag} `{value}` is not {may_be}")))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

/// One row per chosen model: how many series, their mean backtest accuracy.
pub fn summary_table(report: &TrainReport) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec!["model", "series", "MASE", "sMAPE %", "80% coverage"]);
    for m in &report.models {
        t.add_row(vec![
            m.model.clone(),
            m.series.to_string(),
            opt(m.mean_mase, 3),
            opt(m.mean_smape, 1),
            opt(m.mean_coverage_80.map(|c| c * 100.0), 0),
        ]);
    }
    t
}

/// The reconciliation backtest: MASE per level for the base forecasts and each method.
fn reconciliation_table(r: &ReconciliationReport) -> Table {
    let levels: Vec<&String> = r.nodes.keys().collect();
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec!["method (backtest MASE)".to_string()];
    header.extend(levels.iter().map(|l| format!("{l} ({})", r.nodes[*l])));
    header.push("mean of levels".into());
    t.set_header(header);
    for m in &r.backtest {
        let mut row = vec![m.method.clone()];
        row.extend(levels.iter().map(|l| opt(m.levels.get(*l).copied(), 3)));
        row.push(opt(Some(m.score), 3));
        t.add_row(row);
    }
    t
}

pub async fn run(settings: Settings, args: ForecasterArgs) -> Result<()> {
    let params = args.params()?;
    let app = crate::service::open_existing(settings).await?;
    let bar = Bar::new("forecaster");
    let report = train::run(&app, &params, &bar).await;
    bar.finish();
    app.db.close().await;
    let report = report?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(Error::internal)?;
        println!("{text}");
        return Ok(());
    }
    println!("{}", summary_table(&report));
    println!(
        "run {}: {} of {} {} series (per {}) fitted, {} failed, horizon {}, history to {}, \
         {} zero-filled periods, {:.1} s",
        report.run_id,
        report.series_fitted,
        report.series_total,
        report.level,
        report.frequency,
        report.series_failed,
        report.horizon,
        report
            .history_end
            .map_or_else(|| "-".to_string(), |d| d.to_string()),
        report.filled_periods,
        report.seconds
    );
    if let Some(r) = &report.regression {
        println!(
            "regressors {}: {} series with usable values, regression chosen for {}, values read in {:.1} s",
            r.regressors.join(", "),
            r.series_with_regressors,
            r.series_chosen,
            r.read_seconds
        );
    }
    if let Some(r) = &report.reconciliation {
        println!("{}", reconciliation_table(r));
        println!(
            "reconciled by {} (asked: {}); every level adds up",
            r.method, r.requested
        );
        for n in &r.notes {
            println!("  note: {n}");
        }
    }
    for f in &report.failures {
        println!("  failed {}: {}", f.series_id, f.error);
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    for e in report.series_ended.iter().take(20) {
        println!(
            "  ended {} (last sales in the period starting {})",
            e.series_id, e.last_period
        );
    }
    if report.series_ended.len() > 20 {
        println!(
            "  ... and {} more (--json lists them all)",
            report.series_ended.len() - 20
        );
    }
    if let Some(v) = &report.model_version {
        println!("model version {v} (kind forecaster, promoted)");
    }
    if let Some(path) = &report.export_path {
        println!("export: {path} (in the lake)");
    }
    if let Some(path) = &report.actuals_path {
        println!("actuals: {path} (in the lake)");
    }
    Ok(())
}
