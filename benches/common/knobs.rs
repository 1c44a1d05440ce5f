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
