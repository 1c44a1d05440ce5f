//! Cron expressions (seconds field first), parsed in one place with one readable error.
//!
//! Why a module of its own: configuration, pipeline and feature-view definitions validate
//! their schedules when they load, and the job scheduler runs them; all of them sit above this
//! module and none needs the others to read a cron expression.

use std::str::FromStr;

/// Parses a cron expression, returning a readable reason on failure.
pub fn parse(expr: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(expr).map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_cron_is_explained() {
        let err = parse("every tuesday").unwrap_err();
        assert!(err.contains("every tuesday"), "{err}");
        assert!(parse("0 */15 * * * *").is_ok());
    }
}
