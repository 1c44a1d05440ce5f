//! Cron schedules (work in progress).

/// Parses a cron expression (seconds field first), returning a readable reason on failure.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    use std::str::FromStr;
    cron::Schedule::from_str(expr).map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}
