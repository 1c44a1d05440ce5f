//! The store-sales bench's `regressors` part: the default forecast as a training run with
//! known-future regressors makes it, against statsforecast's AutoARIMA given the same
//! regressors.
//!
//! Why: the daily part compares models that see sales only, but a planner knows the
//! promotion calendar, the holidays and the planned closures in advance, and a training run
//! configured with them (`regressors`) uses them. Here each store's regressors are its
//! `promo`, `school_holiday`, `state_holiday` (any state holiday, 0/1) and `open` flags. As
//! training does (`fit::consider_regression` in the service), the pooled choice's three
//! backtest windows of the horizon are the yardstick: the regression with ARIMA errors and
//! the Prophet-style model with the regressors are backtested on the same windows with the
//! windows' actual regressor values, and the better of them replaces the pooled choice when
//! its MASE is strictly lower. The pooled choice and its backtest are the ones the daily part
//! uses (`Pooled`, computed once per store for both). The held-out days are then forecast
//! with their actual regressor values (the known-future convention) and scored.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use recast_models::forecast::backtest::{BacktestConfig, BacktestReport, score};
use recast_models::forecast::prophet::ProphetSpec;
use recast_models::forecast::regression::{self, Design, Observed, Regression};

use crate::common::rossmann::Store;
use crate::common::{Row, named_peer_rows, peers, print_table};
use crate::{LEVELS, Pooled, SEASON};

const NAMES: [&str; 4] = ["promo", "school_holiday", "state_holiday", "open"];

fn columns(s: &Store, n: usize) -> Vec<Vec<f64>> {
    let state = s.state_holiday[..n]
        .iter()
        .map(|c| f64::from(u8::from(c != "0")))
        .collect();
    vec![
        s.promo[..n].to_vec(),
        s.school_holiday[..n].to_vec(),
        state,
        s.open[..n].to_vec(),
    ]
}

/// The regressors of the first `n` days, filled and checked as training does.
fn design(s: &Store, n: usize) -> Option<Design> {
    let observed = Observed {
        names: NAMES.iter().map(|n| n.to_string()).collect(),
        columns: columns(s, n),
    };
    regression::design(&observed, &mut Vec::new())
}

fn windows(h: usize, n: usize) -> BacktestConfig {
    BacktestConfig {
        horizon: h,
        step: h,
        windows: n,
        levels: LEVELS.to_vec(),
    }
}

/// One store's rows: the default with regressors, then each candidate forced.
struct Outcome {
    rows: [Row; 4],
    chosen: &'static str,
}

/// `usual`: the store's pooled choice, the yardstick.
fn run_store(s: &Store, h: usize, usual: &Pooled) -> Option<Outcome> {
    let n = s.sales.len() - h;
    let (train, test) = s.sales.split_at(n);
    let t0 = Instant::now();
    let usual_mase = usual.backtest_mase?;
    let pooled = Row::of(&score(test, &usual.forecast, train, SEASON), 0.0);
    let train_design = design(s, n)?;
    let full_design = design(s, n + h)?;
    let prophet = Regression::Prophet(ProphetSpec::new(1.0, s.first_day as f64));
    let arima = regression::order(train, SEASON, &train_design).ok()?;
    let mut best: Option<(&'static str, f64)> = None;
    let mut held_out = Vec::new();
    for (label, candidate) in [("arima", &arima), ("prophet", &prophet)] {
        let bt = regression::backtest(train, SEASON, &train_design, candidate, &windows(h, 3));
        if let Some(r) = bt.ok().filter(|r| r.failures.is_empty()) {
            let mase = r.summary.mase;
            if best.is_none_or(|b| mase < b.1) {
                best = Some((label, mase));
            }
        }
        // The held-out days: fitted on the training part, forecast with their actual values.
        let last = regression::backtest(&s.sales, SEASON, &full_design, candidate, &windows(h, 1));
        held_out.push(last.ok().map_or(pooled, |r: BacktestReport| row(&r)));
    }
    let chosen = match best {
        Some((label, mase)) if mase < usual_mase => label,
        _ => "pooled",
    };
    let mut default = match chosen {
        "arima" => held_out[0],
        "prophet" => held_out[1],
        _ => pooled,
    };
    default.seconds = usual.seconds + t0.elapsed().as_secs_f64();
    Some(Outcome {
        rows: [default, pooled, held_out[0], held_out[1]],
        chosen,
    })
}

fn row(r: &BacktestReport) -> Row {
    Row::of(&r.summary, 0.0)
}

/// Runs the part and prints it with the peer's AutoARIMA given the same regressors
/// (`pooled`: each store's pooled choice, in store id order).
pub fn part(path: &Path, stores: &BTreeMap<String, Store>, h: usize, pooled: &[Pooled]) {
    let wall = Instant::now();
    let work: Vec<(&Store, &Pooled)> = stores.values().zip(pooled).collect();
    let outcomes: Vec<Option<Outcome>> = work
        .par_iter()
        .map(|(s, usual)| run_store(s, h, usual))
        .collect();
    let wall = wall.elapsed().as_secs_f64();
    let names = [
        "DEFAULT with regressors (pooled or the better regression)",
        "pooled choice (sales only)",
        "regression with ARIMA errors",
        "Prophet-style with regressors",
    ];
    let mut sums = [Row::default(); 4];
    let mut chosen = BTreeMap::<&str, usize>::new();
    for o in outcomes.iter().flatten() {
        for (acc, r) in sums.iter_mut().zip(&o.rows) {
            acc.add(r);
        }
        *chosen.entry(o.chosen).or_default() += 1;
    }
    let mut rows: Vec<(String, Row)> = names
        .iter()
        .map(|n| n.to_string())
        .zip(sums.iter().map(Row::mean))
        .collect();
    let h_arg = h.to_string();
    let args = [
        path.as_os_str(),
        std::ffi::OsStr::new(&h_arg),
        std::ffi::OsStr::new("regressors"),
    ];
    let peer = named_peer_rows(
        "statsforecast",
        peers("store_sales_peers.py", &args).as_ref(),
    );
    rows.extend(peer.iter().cloned());
    print_table(
        &format!(
            "{} stores, daily, h={h}, regressors {NAMES:?} known over the horizon ({wall:.1} s \
             wall; model bands)",
            stores.len()
        ),
        &rows,
    );
    let picks: Vec<String> = chosen.iter().map(|(l, n)| format!("{l} {n}")).collect();
    println!("chosen: {}", picks.join(", "));
    if let Some(theirs) = peer.first() {
        println!(
            "default with regressors / {}: {:.3}",
            theirs.0,
            rows[0].1.mase / theirs.1.mase
        );
    }
}
