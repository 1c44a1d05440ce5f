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
//!   regressors with their actual values over the horizon (a planner knows both in advance).
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{Row, named_peer_rows, peers, print_table};
use recast_models::forecast::backtest::score;
use recast_models::forecast::prophet::{Holiday, Prophet, ProphetSpec, Regressors};

const LEVELS: [f64; 2] = [80.0, 95.0];
const SEASON: usize = 7;

/// One store's calendar: every day from its first to its last in the file.
#[derive(Default)]
struct Store {
    first_day: i64,
    sales: Vec<f64>,
    promo: Vec<f64>,
    school: Vec<f64>,
    holidays: Vec<Holiday>,
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the proleptic Gregorian calendar).
fn day_number(date: &str) -> Option<i64> {
    let mut parts = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// A row's (day, sales, promo, school holiday, state holiday code).
type Day = (i64, f64, f64, f64, String);

fn parse(line: &str) -> Option<(String, Day)> {
    // Store,DayOfWeek,Date,Sales,Customers,Open,Promo,StateHoliday,SchoolHoliday
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() < 9 {
        return None;
    }
    let num = |s: &str| s.parse::<f64>().ok();
    let open = num(f[5])?;
    let sales = if open == 1.0 { num(f[3])? } else { 0.0 };
    let day = (
        day_number(f[2])?,
        sales,
        num(f[6])?,
        num(f[8])?,
        f[7].trim_matches('"').to_string(),
    );
    Some((f[0].to_string(), day))
}

fn load(path: &Path) -> Result<BTreeMap<String, Store>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows: BTreeMap<String, BTreeMap<i64, Day>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let (store, day) = parse(line)
            .ok_or_else(|| format!("{}:{}: not a store-sales row", path.display(), i + 1))?;
        rows.entry(store).or_default().insert(day.0, day);
    }
    Ok(rows
        .into_iter()
        .map(|(id, days)| (id, store_of(&days)))
        .collect())
}

fn store_of(days: &BTreeMap<i64, Day>) -> Store {
    let (first, last) = (*days.keys().next().unwrap(), *days.keys().last().unwrap());
    let mut s = Store {
        first_day: first,
        ..Store::default()
    };
    for t in first..=last {
        let (sales, promo, school) = days.get(&t).map_or((0.0, 0.0, 0.0), |d| (d.1, d.2, d.3));
        s.sales.push(sales);
        s.promo.push(promo);
        s.school.push(school);
        let name = days.get(&t).and_then(|d| match d.4.as_str() {
            "a" => Some(("public", 0)),
            "b" => Some(("easter", 0)),
            "c" => Some(("christmas", -1)),
            _ => None,
        });
        if let Some((name, lower)) = name {
            s.holidays.push(Holiday {
                name: name.into(),
                day: t,
                lower_window: lower,
                upper_window: 0,
                prior_scale: None,
            });
        }
    }
    s
}

/// Fits one store on all but its last `h` days and scores the held-out days.
fn run_store(s: &Store, h: usize, extras: bool) -> Row {
    let n = s.sales.len() - h;
    let (train, test) = s.sales.split_at(n);
    let t0 = Instant::now();
    let names = vec!["promo".to_string(), "school_holiday".to_string()];
    let rows: Vec<f64> = (0..s.sales.len())
        .flat_map(|i| [s.promo[i], s.school[i]])
        .collect();
    let spec = ProphetSpec {
        holidays: if extras {
            s.holidays.clone()
        } else {
            Vec::new()
        },
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

fn data_path() -> PathBuf {
    std::env::var_os("RECAST_STORE_SALES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/rossmann-sample/store_sales.csv")
        })
}

fn main() {
    let path = data_path();
    if !path.is_file() {
        println!(
            "store sales not found at {} (set RECAST_STORE_SALES): bench skipped",
            path.display()
        );
        return;
    }
    let path = path.canonicalize().unwrap_or(path);
    let h: usize = std::env::var("RECAST_PROPHET_H")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(42);
    let stores = match load(&path) {
        Ok(s) => s,
        Err(e) => {
            println!("{e}; bench skipped");
            return;
        }
    };
    let mut ours = Vec::new();
    for (label, extras) in [("plain", false), ("holidays+regressors", true)] {
        let mut sum = Row::default();
        for s in stores.values() {
            sum.add(&run_store(s, h, extras));
        }
        ours.push((format!("recast prophet {label}"), sum.mean()));
    }
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
