//! What the forecasting accuracy benches share: a row of scores, its table, and running a
//! statsforecast peer script whose JSON rows are printed next to recast's.

#![allow(dead_code)] // each bench uses part of it

pub mod rossmann;

use std::path::Path;
use std::process::Command;

/// Mean scores of one model over some series (sums while accumulating).
#[derive(Clone, Copy, Default)]
pub struct Row {
    pub mase: f64,
    pub smape: f64,
    pub cov80: f64,
    pub cov95: f64,
    pub seconds: f64,
    pub n: usize,
}

impl Row {
    /// One series' scores.
    pub fn of(m: &recast_models::forecast::backtest::Metrics, seconds: f64) -> Row {
        Row {
            mase: m.mase,
            smape: m.smape,
            cov80: m.coverage.first().map_or(f64::NAN, |c| c.1),
            cov95: m.coverage.get(1).map_or(f64::NAN, |c| c.1),
            seconds,
            n: 1,
        }
    }

    pub fn add(&mut self, other: &Row) {
        self.mase += other.mase;
        self.smape += other.smape;
        self.cov80 += other.cov80;
        self.cov95 += other.cov95;
        self.seconds += other.seconds;
        self.n += other.n;
    }

    pub fn mean(&self) -> Row {
        let n = self.n.max(1) as f64;
        Row {
            mase: self.mase / n,
            smape: self.smape / n,
            cov80: self.cov80 / n,
            cov95: self.cov95 / n,
            seconds: self.seconds,
            n: self.n,
        }
    }
}

pub fn print_table(title: &str, rows: &[(String, Row)]) {
    println!("\n== {title}");
    println!(
        "{:<48} {:>8} {:>8} {:>7} {:>7} {:>9} {:>5}",
        "model", "MASE", "sMAPE", "cov80", "cov95", "seconds", "n"
    );
    for (name, r) in rows {
        println!(
            "{:<48} {:>8.4} {:>8.3} {:>7.3} {:>7.3} {:>9.1} {:>5}",
            name, r.mase, r.smape, r.cov80, r.cov95, r.seconds, r.n
        );
    }
}

/// The JSON a peer script in `references/forecast/` prints, run with `args` by
/// `RECAST_BENCH_PYTHON` (default `python3`) with `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE`
/// unset for that process only; `None`, with the reason printed, when it could not run.
pub fn peers(script: &str, args: &[&std::ffi::OsStr]) -> Option<serde_json::Value> {
    let python = std::env::var("RECAST_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../references/forecast")
        .join(script);
    println!("\nrunning {python} {} (peers) ...", script.display());
    // The machine's OpenBLAS settings slow numpy down: the peer runs without them.
    let out = match Command::new(&python)
        .arg(&script)
        .args(args)
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            println!("peer script could not start ({e}); peer rows skipped");
            return None;
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        println!(
            "peer script failed ({}): {}; peer rows skipped",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
        return None;
    }
    match serde_json::from_slice(&out.stdout) {
        Ok(v) => Some(v),
        Err(e) => {
            println!("peer script output is not JSON ({e}); peer rows skipped");
            None
        }
    }
}

/// A peer script's rows `{model: {mase, smape, cov80, cov95, seconds, n}}`, named
/// `statsforecast <model>`.
pub fn peer_rows(obj: Option<&serde_json::Value>) -> Vec<(String, Row)> {
    named_peer_rows("statsforecast", obj)
}

/// A peer script's rows named `<peer> <model>`.
pub fn named_peer_rows(peer: &str, obj: Option<&serde_json::Value>) -> Vec<(String, Row)> {
    let Some(obj) = obj.and_then(|s| s.as_object()) else {
        return Vec::new();
    };
    obj.iter()
        .map(|(name, r)| {
            let f = |k: &str| r.get(k).and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
            (
                format!("{peer} {name}"),
                Row {
                    mase: f("mase"),
                    smape: f("smape"),
                    cov80: f("cov80"),
                    cov95: f("cov95"),
                    seconds: f("seconds"),
                    n: f("n") as usize,
                },
            )
        })
        .collect()
}
