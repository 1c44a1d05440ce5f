//! The whole default forecasting pipeline against statsforecast + hierarchicalforecast, in the
//! same run on the same cores: every item x store series, every item, every store and the
//! total, each chosen among ETS, ARIMA, Theta, CES and their mean/median combinations by a
//! rolling-origin backtest, with conformal 80/95 % bands, reconciled by MinT (structural
//! weights) so every level adds up.
//!
//!     cargo bench --bench forecast_pipeline
//!     RECAST_PIPELINE_SERIES=40 RECAST_PIPELINE_DAYS=365 cargo bench --bench forecast_pipeline
//!
//! Data: `RECAST_PIPELINE_SERIES` generated daily item x store series (10 stores; default
//! 10,000, as #17 asks) of `RECAST_PIPELINE_DAYS` days (default 730), written as a sales CSV.
//!
//! recast: a child process lands the CSV through a `sales` pipeline (untimed), resets its
//! peak-memory mark, then runs the service's training path (`forecast::train::run`,
//! `select: pooled`, `reconcile: wls_struct`, 14 days): reading the lake, building the
//! hierarchy, the pooled backtest (16 origins), final fits, conformal bands, reconciliation,
//! the export, the actuals file and the model registry.
//!
//! statsforecast: `references/forecast/pipeline_statsforecast.py` builds the same pipeline from
//! the Nixtla libraries (cross-validation over the same 16 origins, the same seven candidates,
//! conformal bands from the backtest errors, `MinTrace(wls_struct)`), with `n_jobs=-1`, its
//! numba warm-up excluded, and `OPENBLAS_CORETYPE` / `OPENBLAS_L2_SIZE` unset for its process
//! (they slow numpy on this machine). `RECAST_PYTHON` names the interpreter (default
//! `/root/.venvs/recast-fc/bin/python`, from `references/forecast/requirements.txt`).

#[path = "common/knobs.rs"]
mod knobs;
#[path = "common/sales_app.rs"]
mod sales_app;
use knobs::{env_or, last_line, peak_rss_mib, peer_python};

use std::path::Path;
use std::process::Command;

use chrono::{Days, NaiveDate};

const HORIZON: usize = 14;
/// The pooled backtest's origins for a 14-day horizon (`PooledConfig::standard`).
const ORIGINS: usize = 16;
const STORES: usize = 10;

/// Sales rows of `n` item x store series over `days` days: level, slow trend, a weekly profile
/// scaled to the level and noise proportional to it, as whole units.
fn sales_csv(n: usize, days: usize) -> String {
    let mut state: u64 = 0x5eed_f0ca_57ed;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let first = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let mut csv = String::from("date,item_id,store_id,quantity\n");
    for s in 0..n {
        let (item, store) = (s / STORES.min(n), s % STORES.min(n));
        let level = 5.0 + 60.0 * uniform();
        let trend = (uniform() - 0.5) * 0.002;
        let amplitude = 0.1 + 0.4 * uniform();
        let profile: Vec<f64> = (0..7).map(|_| uniform() - 0.5).collect();
        let noise = 0.1 + 0.2 * uniform();
        for t in 0..days {
            let e = (uniform() + uniform() + uniform() - 1.5) * 2.0;
            let q =
                level * (1.0 + trend * t as f64) * (1.0 + amplitude * profile[t % 7] + noise * e);
            let date = first + Days::new(t as u64);
            csv.push_str(&format!(
                "{date},I{item:05},S{store:02},{}\n",
                q.max(0.0).round()
            ));
        }
    }
    csv
}

/// Child mode: land `dir/landing/sales.csv`, then time the training run; prints
/// `seconds peak_mib nodes failed`.
async fn child(dir: &Path) {
    let app = sales_app::open(dir, &[]).await;
    sales_app::land(&app).await;
    // Peak memory from here on: landing is not part of the pipeline timed.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let payload = serde_json::json!({
        "select": "pooled",
        "reconcile": "wls_struct",
        "horizon": HORIZON,
    });
    let (report, seconds) = sales_app::train(&app, payload).await;
    println!(
        "{} {} {} {}",
        seconds,
        peak_rss_mib(),
        report.series_total,
        report.series_failed
    );
}

fn recast_side(dir: &Path) -> (f64, f64, usize, usize) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(&exe)
        .args(["--child", dir.to_str().unwrap()])
        .env("RECAST_LOG_LEVEL", "warn")
        .output()
        .expect("recast child");
    let f: Vec<f64> = last_line(&out)
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    (f[0], f[1], f[2] as usize, f[3] as usize)
}

/// The peer's figures, or why it did not run (its interpreter missing or failing, as with
/// `RECAST_PYTHON=/bin/false` for a recast-only run).
fn peer_side(csv: &Path) -> Result<serde_json::Value, String> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("references/forecast/pipeline_statsforecast.py");
    let out = knobs::peer_command(&peer_python(), &script)
        .args([
            csv.to_str().unwrap(),
            &HORIZON.to_string(),
            &ORIGINS.to_string(),
        ])
        .output()
        .map_err(|e| format!("could not start {}: {e}", peer_python()))?;
    if !out.status.success() {
        return Err(format!(
            "{} exited with {}: {}",
            peer_python(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_str(&last_line(&out)).map_err(|e| format!("no JSON from the peer: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(child(Path::new(&args[i + 1])));
        return;
    }
    let n = env_or("RECAST_PIPELINE_SERIES", 10_000);
    let days = env_or("RECAST_PIPELINE_DAYS", 730);
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    let csv = landing.join("sales.csv");
    std::fs::write(&csv, sales_csv(n, days)).unwrap();
    println!(
        "{n} item x store series ({} items x {} stores) x {days} days, h={HORIZON}, \
         {ORIGINS} backtest origins, {} cores",
        n.div_ceil(STORES.min(n)),
        STORES.min(n),
        std::thread::available_parallelism().map_or(1, |c| c.get())
    );
    let (ours, ours_mib, nodes, failed) = recast_side(dir.path());
    println!(
        "  recast                      {ours:>8.1} s  peak RSS {ours_mib:>7.0} MiB  \
         ({nodes} nodes, {failed} failed)"
    );
    let sf = match peer_side(&csv) {
        Ok(sf) => sf,
        Err(why) => {
            println!("  statsforecast skipped: {why}");
            return;
        }
    };
    let theirs = sf["seconds"].as_f64().unwrap();
    println!(
        "  statsforecast + hierarchical {theirs:>7.1} s  peak RSS {:>7.0} MiB parent, {:>7.0} \
         MiB largest worker  ({} nodes; JIT warm-up {:.1} s excluded)",
        sf["peak_rss_mib"].as_f64().unwrap(),
        sf["peak_rss_largest_worker_mib"].as_f64().unwrap(),
        sf["series"],
        sf["warmup_seconds"].as_f64().unwrap()
    );
    println!("  peer's choices: {}", sf["chosen"]);
    println!("  ratio recast / peer: {:.2}x", ours / theirs);
}
