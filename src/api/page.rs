//! Pagination: one rule for every list route's `limit` (and the cursor each route passes to
//! its domain), so pages behave alike and errors name the same field.

use crate::error::{Error, Result};

/// A page's `limit`: `default` when absent, else it must be within `1..=max` (422 naming
/// `limit` otherwise).
pub fn limit(value: Option<i64>, default: i64, max: i64) -> Result<i64> {
    let limit = value.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::invalid(
            "limit",
            format!("must be between 1 and {max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_names_the_field() {
        assert_eq!(limit(None, 50, 500).unwrap(), 50);
        assert_eq!(limit(Some(500), 50, 500).unwrap(), 500);
        for bad in [0, -1, 501] {
            let e = limit(Some(bad), 50, 500).unwrap_err();
            assert_eq!(e.field(), Some("limit"));
            assert_eq!(e.to_string(), "must be between 1 and 500");
        }
    }
}
