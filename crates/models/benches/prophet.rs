//! Prophet bench: recast's Prophet-style model against the `prophet` package on the Rossmann
//! sample's 20 stores, accuracy and time, in one run.
//!
//! Why a bench and not a test: it needs public data that are not in the repository, and it
//! times. Each store's daily sales (a day missing from the file is a closed day: 0 sales, no
//! promotion) are fitted on all but the last `RECAST_PROPHET_H` days (default 42) and scored
//! on them (MASE with the in-sample weekly seasonal-naive scale, sMAPE 0-200, 80 %/95 %
//! coverage of each model's own bands). Two setups, the same on both sides:
//! - `plain`: the defaults (changepoints, yearly and weekly seasonality);
//! - `holidays+regressors`: the store's state holidays as a holidays table (`public` and
//!   `easter` on the day, `christmas` with the eve), promotion and school holiday as extra
//!   regressors with their actual values over the horizon (a planner knows both in advance);
//! - `holidays+regressors multiplicative`: the same with every effect scaling the trend;
//! - `holidays+regressors+promo weekly`: the additive setup plus a weekly seasonality that
//!   acts on promotion days only (prophet's `add_seasonality(..., condition_name=...)`);
//! - `holidays+regressors logistic`: the additive setup with a logistic trend under a cap of
//!   1.2 times the store's largest training day (prophet's `growth="logistic"`, a `cap`
//!   column): the nonlinear fit's accuracy and time.
//!
//! - `plain, as served`: recast only, the plain setup as `select: prophet` serves it (zero
//!   on a store's closed weekdays, fitted after an outage), against prophet's plain row.
//!
//! recast fits the stores one after another on one thread, like the peer script
//! (`references/forecast/prophet_peers.py`, run with `OPENBLAS_CORETYPE` and
//! `OPENBLAS_L2_SIZE` unset for its process; its first fit, which loads the Stan model, is
//! not timed).
//!
//! Environment: `RECAST_STORE_SALES` (default `../shared/data/rossmann-sample/store_sales.csv`
//! beside the repository), `RECAST_PROPHET_H`, `RECAST_BENCH_PYTHON` (default `python3`). Run:
//! `RECAST_BENCH_PYTHON=/root/.venvs/recast-fc/bin/python cargo bench -p recast-models --bench prophet`

mod common;

use std::time::Instant;

use common::rossmann::{Store, open};
use common::{Row, named_peer_rows, peers, print_table};
use recast_models::forecast::ModelSpec;
use recast_models::forecast::backtest::score;
use recast_models::forecast::prophet::{
    Growth, Holiday, Mode, Prophet, ProphetSpec, Regressors, Seasonality,
};
use recast_models::forecast::select::{SelectionMethod, select};

const LEVELS: [f64; 2] = [80.0, 95.0];
const SEASON: usize = 7;

/// The store's state holidays as a holidays table: `public` and `easter` on the day,
/// `christmas` with the eve.
fn holidays(s: &Store) -> Vec<Holiday> {
    s.state_holiday
        .iter()
        .enumerate()
        .filter_map(|(t, code)| {
            let (name, lower) = match code.as_str() {
                "a" => ("public", 0),
                "b" => ("easter", 0),
                "c" => ("christmas", -1),
                _ => return None,
            };
            Some(Holiday {
                name: name.into(),
                day: s.first_day + t as i64,
                lower_window: lower,
                upper_window: 0,
                prior_scale: None,
            })
        })
        .collect()
}

/// One setup, the same on both sides.
#[derive(Clone, Copy)]
struct Setup {
    label: &'static str,
    /// Holidays and regressors enter.
    extras: bool,
    mode: Mode,
    /// A weekly seasonality of promotion days is added.
    promo: bool,
    /// A logistic trend under a cap of [`CAP_RATIO`] times the largest training day.
    logistic: bool,
}

/// The logistic setup's cap, as a multiple of the store's largest training day.
const CAP_RATIO: f64 = 1.2;

/// A weekly seasonality of order 3 that acts on promotion days only.
fn promo_weekly() -> Seasonality {
    Seasonality {
        name: "weekly_promo".into(),
        period: 7.0,
        order: 3,
        prior_scale: 10.0,
        condition: Some("promo".into()),
    }
}

/// Fits one store on all but its last `h` days and scores the held-out days.
fn run_store(s: &Store, h: usize, setup: Setup) -> Row {
    let Setup {
        extras,
        mode,
        promo,
        logistic,
        ..
    } = setup;
    let n = s.sales.len() - h;
    let (train, test) = s.sales.split_at(n);
    let t0 = Instant::now();
    let names = vec!["promo".to_string(), "school_holiday".to_string()];
    let rows: Vec<f64> = (0..s.sales.len())
        .flat_map(|i| [s.promo[i], s.school_holiday[i]])
        .collect();
    let spec = ProphetSpec {
        holidays: if extras { holidays(s) } else { Vec::new() },
        mode,
        extra_seasonalities: if promo {
            vec![promo_weekly()]
        } else {
            Vec::new()
        },
        growth: if logistic {
            Growth::Logistic
        } else {
            Growth::Linear
        },
        cap: logistic.then(|| CAP_RATIO * train.iter().copied().fold(0.0, f64::max)),
        ..ProphetSpec::new(1.0, s.first_day as f64)
    };
    let fc = if extras {
        let regs = Regressors {
            names: &names,
            x: &rows[..2 * n],
            future: &rows[2 * n..2 * n + 2],
        };
        let model = Prophet::fit_with(train, &spec, Some(regs)).expect("prophet fits a store");
        model
            .forecast_with(&rows[2 * n..], h, &LEVELS)
            .expect("one future row per day")
    } else {
        let model = Prophet::fit(train, &spec).expect("prophet fits a store");
        model.forecast_with(&[], h, &LEVELS).expect("no regressors")
    };
    Row::of(&score(test, &fc, train, SEASON), t0.elapsed().as_secs_f64())
}

/// The `plain` setup as `select: prophet` serves it ([`select`] with the model named): zero on
/// a store's closed weekdays, fitted after an outage.
fn run_store_served(s: &Store, h: usize) -> Row {
    let n = s.sales.len() - h;
    let (train, test) = s.sales.split_at(n);
    let t0 = Instant::now();
    let spec = ModelSpec::Prophet(ProphetSpec::new(1.0, s.first_day as f64));
    let sel = select(train, SEASON, &SelectionMethod::Fixed(spec)).expect("prophet fits a store");
    let fc = sel.model.forecast(h, &LEVELS);
    Row::of(&score(test, &fc, train, SEASON), t0.elapsed().as_secs_f64())
}

fn main() {
    let Some((path, stores, h)) = open("RECAST_PROPHET_H") else {
        return;
    };
    let mut ours = Vec::new();
    let setup = |label, extras, mode, promo, logistic| Setup {
        label,
        extras,
        mode,
        promo,
        logistic,
    };
    let setups = [
        setup("plain", false, Mode::Additive, false, false),
        setup("holidays+regressors", true, Mode::Additive, false, false),
        setup(
            "holidays+regressors multiplicative",
            true,
            Mode::Multiplicative,
            false,
            false,
        ),
        setup(
            "holidays+regressors+promo weekly",
            true,
            Mode::Additive,
            true,
            false,
        ),
        setup(
            "holidays+regressors logistic",
            true,
            Mode::Additive,
            false,
            true,
        ),
    ];
    for setup in setups {
        let mut sum = Row::default();
        for s in stores.values() {
            sum.add(&run_store(s, h, setup));
        }
        ours.push((format!("recast prophet {}", setup.label), sum.mean()));
    }
    let mut sum = Row::default();
    for s in stores.values() {
        sum.add(&run_store_served(s, h));
    }
    ours.push(("recast prophet plain, as served".into(), sum.mean()));
    let title = format!(
        "{} stores, daily, h={h}; seconds = one thread, summed over stores",
        stores.len()
    );
    let h_arg = h.to_string();
    let args = [path.as_os_str(), std::ffi::OsStr::new(&h_arg)];
    let theirs = named_peer_rows("prophet", peers("prophet_peers.py", &args).as_ref());
    let mut all = ours.clone();
    all.extend(theirs.iter().cloned());
    print_table(&title, &all);
    for ours in &ours {
        let setup = ours.0.trim_start_matches("recast prophet ");
        let Some(theirs) = theirs.iter().find(|t| t.0 == format!("prophet {setup}")) else {
            continue;
        };
        println!(
            "{}: MASE {:.3}x prophet's, time {:.3}x",
            ours.0,
            ours.1.mase / theirs.1.mase,
            ours.1.seconds / theirs.1.seconds
        );
    }
}
