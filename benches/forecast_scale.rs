//! Training speed at scale against statsforecast, in the same run on the same cores:
//! automatic ETS on 10,000 generated daily series of two years with weekly seasonality, and
//! automatic ARIMA on 1,000 of them; each series is fitted and forecast 14 days ahead.
//!
//!     cargo bench --bench forecast_scale
//!     RECAST_SCALE_ETS=1000 RECAST_SCALE_ARIMA=100 cargo bench --bench forecast_scale
//!
//! Both sides fit in parallel on every core: recast with rayon, statsforecast with
//! `n_jobs=-1` (one process per core). statsforecast's numba JIT is warmed up on two series
//! before its clock starts (the warm-up time is printed separately). Each side runs in its
//! own child process so its peak resident memory (VmHWM / ru_maxrss) is its own. Needs the
//! Python environment of `references/forecast/requirements.txt`; `RECAST_PYTHON` names the
//! interpreter (default `/root/.venvs/recast-fc/bin/python`).

#[path = "common/knobs.rs"]
mod knobs;
use knobs::{last_line, peak_rss_mib, peer_python};

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use rayon::prelude::*;
use recast::forecast::ModelSpec;

const LENGTH: usize = 730;
const SEASON: usize = 7;
const HORIZON: usize = 14;

/// Deterministic daily demand: level, slow trend, weekly profile scaled to the level, and
/// noise proportional to the level (positive, so multiplicative ETS models are eligible).
fn generate(n: usize) -> Vec<Vec<f64>> {
    let mut state: u64 = 0x5eed_f0ca_57ed;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let level = 20.0 + 180.0 * uniform();
            let trend = (uniform() - 0.5) * 0.002;
            let amplitude = 0.1 + 0.4 * uniform();
            let profile: Vec<f64> = (0..SEASON).map(|_| uniform() - 0.5).collect();
            let noise = 0.05 + 0.15 * uniform();
            (0..LENGTH)
                .map(|t| {
                    let base = level * (1.0 + trend * t as f64);
                    // Sum of three uniforms: roughly normal, bounded.
                    let e = (uniform() + uniform() + uniform() - 1.5) * 2.0;
                    (base * (1.0 + amplitude * profile[t % SEASON] + noise * e)).max(0.5)
                })
                .collect()
        })
        .collect()
}

/// Child mode: fit every series in `path` with `model` on all cores and print
/// `seconds peak_mib failures`.
fn child(model: &str, path: &str, n: usize) {
    let bytes = std::fs::read(path).expect("series file");
    let values: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let spec = match model {
        "auto_ets" => ModelSpec::AutoEts,
        _ => ModelSpec::AutoArima,
    };
    let t0 = Instant::now();
    let failures: usize = values
        .par_chunks(LENGTH)
        .take(n)
        .map(|y| match spec.fit(y, SEASON) {
            Ok(fit) => {
                let f = fit.forecast(HORIZON, &[]);
                usize::from(f.mean.iter().any(|v| !v.is_finite()))
            }
            Err(_) => 1,
        })
        .sum();
    println!(
        "{} {} {failures}",
        t0.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
}

fn run(model: &str, n: usize, path: &std::path::Path) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(&exe)
        .args(["--child", model, path.to_str().unwrap(), &n.to_string()])
        .output()
        .expect("recast child");
    let f: Vec<f64> = last_line(&out)
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let (ours, ours_mib, failures) = (f[0], f[1], f[2] as usize);

    let python = peer_python();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/references/forecast/scale_statsforecast.py"
    );
    let out = Command::new(&python)
        .args([
            script,
            path.to_str().unwrap(),
            model,
            &n.to_string(),
            &LENGTH.to_string(),
            &SEASON.to_string(),
            &HORIZON.to_string(),
        ])
        .output()
        .expect("python");
    let sf: serde_json::Value = serde_json::from_str(&last_line(&out)).unwrap();
    let theirs = sf["seconds"].as_f64().unwrap();
    println!(
        "{model:<10} {n:>6} series x {LENGTH} days, m={SEASON}, h={HORIZON}, {} cores",
        rayon::current_num_threads()
    );
    println!(
        "  recast        {ours:>8.1} s  peak RSS {ours_mib:>7.0} MiB  ({failures} series failed)"
    );
    println!(
        "  statsforecast {theirs:>8.1} s  peak RSS {:>7.0} MiB parent, {:>7.0} MiB largest worker  (JIT warm-up {:.1} s excluded)",
        sf["peak_rss_mib"].as_f64().unwrap(),
        sf["peak_rss_largest_worker_mib"].as_f64().unwrap(),
        sf["warmup_seconds"].as_f64().unwrap()
    );
    println!("  ratio recast / statsforecast: {:.2}x", ours / theirs);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2], args[i + 3].parse().unwrap());
        return;
    }
    let count = |var: &str, default: usize| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n_ets = count("RECAST_SCALE_ETS", 10_000);
    let n_arima = count("RECAST_SCALE_ARIMA", 1_000);
    let series = generate(n_ets.max(n_arima));
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for v in series.iter().flatten() {
        file.write_all(&v.to_le_bytes()).unwrap();
    }
    file.flush().unwrap();
    // The series file holds max(n_ets, n_arima) series; each side reads the first n.
    let path = file.path().to_path_buf();
    let total = series.len();
    drop(series);
    let sized = |n: usize| -> tempfile::NamedTempFile {
        let bytes = std::fs::read(&path).unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes[..n.min(total) * LENGTH * 8]).unwrap();
        f.flush().unwrap();
        f
    };
    if n_ets > 0 {
        let f = sized(n_ets);
        run("auto_ets", n_ets, f.path());
    }
    if n_arima > 0 {
        let f = sized(n_arima);
        run("auto_arima", n_arima, f.path());
    }
}
