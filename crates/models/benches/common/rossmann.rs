//! The Rossmann sample's store-sales file as the store-sales and prophet benches read it:
//! every calendar day of each store from its first to its last in the file, a missing or
//! closed day counting as 0 sales, no promotion and closed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One store's days.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Days since 1970-01-01 of the first day.
    pub first_day: i64,
    pub sales: Vec<f64>,
    pub promo: Vec<f64>,
    pub school_holiday: Vec<f64>,
    /// The state holiday code of each day (`a` public, `b` Easter, `c` Christmas, `0` none).
    pub state_holiday: Vec<String>,
    pub open: Vec<f64>,
}

/// The data file, its stores and the horizon from the environment variable `h_var` (default
/// 42 days); `None`, with the reason printed, when the file is absent or unreadable.
pub fn open(h_var: &str) -> Option<(PathBuf, BTreeMap<String, Store>, usize)> {
    let path = data_path();
    if !path.is_file() {
        println!(
            "store sales not found at {} (set RECAST_STORE_SALES): bench skipped",
            path.display()
        );
        return None;
    }
    let path = path.canonicalize().unwrap_or(path);
    let h: usize = std::env::var(h_var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(42);
    match load(&path) {
        Ok(stores) => Some((path, stores, h)),
        Err(e) => {
            println!("{e}; bench skipped");
            None
        }
    }
}

/// The file named by `RECAST_STORE_SALES`, or the shared data beside the repository.
fn data_path() -> PathBuf {
    std::env::var_os("RECAST_STORE_SALES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/rossmann-sample/store_sales.csv")
        })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the proleptic Gregorian calendar).
pub fn day_number(date: &str) -> Option<i64> {
    let mut parts = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// A row's day, sales, promo, school holiday, state holiday code and open flag.
type Day = (f64, f64, f64, String, f64);

fn parse(line: &str) -> Option<(String, i64, Day)> {
    // Store,DayOfWeek,Date,Sales,Customers,Open,Promo,StateHoliday,SchoolHoliday
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() < 9 {
        return None;
    }
    let num = |s: &str| s.parse::<f64>().ok();
    let open = num(f[5])?;
    let sales = if open == 1.0 { num(f[3])? } else { 0.0 };
    let code = f[7].trim_matches('"').to_string();
    Some((
        f[0].to_string(),
        day_number(f[2])?,
        (sales, num(f[6])?, num(f[8])?, code, open),
    ))
}

/// Every store of the file, by store id.
fn load(path: &Path) -> Result<BTreeMap<String, Store>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows: BTreeMap<String, BTreeMap<i64, Day>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let (store, day, row) = parse(line)
            .ok_or_else(|| format!("{}:{}: not a store-sales row", path.display(), i + 1))?;
        rows.entry(store).or_default().insert(day, row);
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
        let closed = (0.0, 0.0, 0.0, "0".to_string(), 0.0);
        let (sales, promo, school, code, open) = days.get(&t).cloned().unwrap_or(closed);
        s.sales.push(sales);
        s.promo.push(promo);
        s.school_holiday.push(school);
        s.state_holiday.push(code);
        s.open.push(open);
    }
    s
}
