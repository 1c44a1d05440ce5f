//! What every bench binary needs around its measurement: sizes from environment variables
//! (so a quick run and the full run are the same binary) and percentiles of sorted samples.
#![allow(dead_code)] // each bench includes this file and uses part of it

/// `name` parsed as a count, or `default` when unset or not a number.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p`-th percentile (nearest rank) of ascending `sorted`, which must not be empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// This process's peak resident memory (`VmHWM`) in MiB; NaN where `/proc` has none.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// What child process `what` printed, which must have succeeded (its stderr is the panic
/// message otherwise).
pub fn stdout_of<'a>(out: &'a std::process::Output, what: &str) -> &'a [u8] {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    &out.stdout
}

/// The last line a child process printed, which must have succeeded (see [`stdout_of`]): how
/// a bench reads a side it ran apart to measure its own memory.
pub fn last_line(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(stdout_of(out, "the child process"));
    text.lines().last().unwrap_or_default().trim().to_string()
}

/// The Python interpreter of the peers' environment (`references/forecast/requirements.txt`):
/// `RECAST_PYTHON`, else the venv the benchmark notes set up.
pub fn peer_python() -> String {
    std::env::var("RECAST_PYTHON").unwrap_or_else(|_| "/root/.venvs/recast-fc/bin/python".into())
}

/// A command running `python` on `script` with `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE`
/// removed: they are set on these machines and slow numpy and the peers built on it, so a
/// peer is timed without them (its process only; recast's keeps the machine's settings).
pub fn peer_command(python: &str, script: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script)
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE");
    cmd
}

/// CPU seconds (user + system) process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0 // USER_HZ
}
