//! Seasonalities a planner adds to the Prophet-style model, as the `prophet` package's
//! `add_seasonality` takes them: a name, a period in days, a Fourier order, optionally a
//! prior scale and a condition (`condition_name`), a 0/1 regressor of the run outside of
//! which the seasonality does not act (a weekly pattern of promotion days).
//!
//! Why: the automatic yearly, weekly and daily cycles miss calendars a planner knows (a
//! pay-day month, a season with its own weekly shape). One named like an automatic
//! seasonality replaces it, as in prophet. Unlike prophet, a condition is one of the run's
//! `regressors` (the only known-future columns a run has), whose own effect stays beside it.

use serde::{Deserialize, Serialize};

use super::holidays::{check_name, check_prior_scale};
use super::prophet::{DEFAULT_PRIOR_SCALE, Seasonality};
use super::series::DemandError;

/// The field seasonality errors name.
pub const FIELD: &str = "seasonalities";
/// Most seasonalities a run adds.
pub const MAX_ROWS: usize = 20;
/// Longest period, in days (ten years).
pub const MAX_PERIOD_DAYS: f64 = 3_653.0;
/// Highest Fourier order (the model's limit).
pub const MAX_ORDER: usize = 50;
/// Names the model's forecast parts already use.
const RESERVED: [&str; 3] = ["trend", "holidays", "regressors"];

/// One added seasonality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonalityRow {
    pub name: String,
    /// Length of the cycle in days (e.g. 30.5 for a month, 7 for a week).
    pub period: f64,
    /// Sine and cosine pairs: higher follows sharper shapes and needs more data.
    pub fourier_order: usize,
    /// How large the effect may be (the prior's scale; default 10, the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_scale: Option<f64>,
    /// A 0/1 regressor of the run (`view:feature`): the seasonality acts only where it is 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_name: Option<String>,
}

/// Checks every row against the run's `regressors`, naming the first bad one by index.
pub fn validate(rows: &[SeasonalityRow], regressors: &[String]) -> Result<(), DemandError> {
    if rows.len() > MAX_ROWS {
        return Err(DemandError::invalid(
            FIELD,
            format!("{} seasonalities; at most {MAX_ROWS}", rows.len()),
        ));
    }
    for (i, r) in rows.iter().enumerate() {
        let taken = rows[..i].iter().any(|o| o.name.trim() == r.name.trim());
        check_row(r, taken, regressors)
            .map_err(|e| DemandError::invalid(FIELD, format!("seasonalities[{i}]: {e}")))?;
    }
    Ok(())
}

fn check_row(r: &SeasonalityRow, taken: bool, regressors: &[String]) -> Result<(), String> {
    check_name("name", &r.name)?;
    let name = r.name.trim();
    if taken || RESERVED.contains(&name) {
        return Err(format!("name `{name}` is already taken"));
    }
    if !(r.period.is_finite() && r.period > 0.0 && r.period <= MAX_PERIOD_DAYS) {
        return Err(format!(
            "period must be more than 0 and at most {MAX_PERIOD_DAYS} days, got {}",
            r.period
        ));
    }
    if !(1..=MAX_ORDER).contains(&r.fourier_order) {
        return Err(format!(
            "fourier_order must be 1 to {MAX_ORDER}, got {}",
            r.fourier_order
        ));
    }
    check_prior_scale(r.prior_scale)?;
    match &r.condition_name {
        Some(c) if !regressors.contains(c) => Err(format!(
            "condition_name `{c}` is not one of the run's regressors {regressors:?}"
        )),
        _ => Ok(()),
    }
}

/// The rows as the model takes them (prior scale defaulting to the model's).
pub fn to_model(rows: &[SeasonalityRow]) -> Vec<Seasonality> {
    rows.iter()
        .map(|r| Seasonality {
            name: r.name.trim().to_string(),
            period: r.period,
            order: r.fourier_order,
            prior_scale: r.prior_scale.unwrap_or(DEFAULT_PRIOR_SCALE),
            condition: r.condition_name.clone(),
        })
        .collect()
}

/// Parses the CLI's `NAME:PERIOD:ORDER[:CONDITION]` (the condition, a `view:feature`
/// reference, may hold a colon itself); errors name the flag and the value.
pub fn parse_flag(value: &str) -> Result<SeasonalityRow, DemandError> {
    let bad = |why: &str| {
        DemandError::invalid(
            "--seasonality",
            format!("--seasonality `{value}`: {why} (NAME:PERIOD_DAYS:ORDER[:VIEW:FEATURE])"),
        )
    };
    let mut parts = value.splitn(4, ':');
    let (Some(name), Some(period), Some(order)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("needs a name, a period and an order"));
    };
    Ok(SeasonalityRow {
        name: name.to_string(),
        period: period
            .parse()
            .map_err(|_| bad("the period is not a number"))?,
        fourier_order: order
            .parse()
            .map_err(|_| bad("the order is not a whole number"))?,
        prior_scale: None,
        condition_name: parts.next().map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, period: f64, order: usize, condition: Option<&str>) -> SeasonalityRow {
        SeasonalityRow {
            name: name.into(),
            period,
            fourier_order: order,
            prior_scale: None,
            condition_name: condition.map(String::from),
        }
    }

    fn detail(rows: &[SeasonalityRow], regressors: &[String]) -> String {
        match validate(rows, regressors) {
            Err(DemandError::Invalid { field, detail }) => {
                assert_eq!(field, FIELD);
                detail
            }
            other => panic!("expected an invalid seasonality, got {other:?}"),
        }
    }

    #[test]
    fn rows_are_checked_and_the_bad_one_named() {
        let promo = vec!["item_store_price:on_promo".to_string()];
        let ok = [
            row("monthly", 30.5, 5, None),
            row("weekly_promo", 7.0, 3, Some("item_store_price:on_promo")),
        ];
        validate(&ok, &promo).unwrap();
        let cases = [
            (row("", 7.0, 3, None), "name must be"),
            (row("monthly", 7.0, 3, None), "`monthly` is already taken"),
            (row("holidays", 7.0, 3, None), "`holidays` is already taken"),
            (row("x", 0.0, 3, None), "period must be"),
            (row("x", f64::NAN, 3, None), "period must be"),
            (row("x", 7.0, 0, None), "fourier_order must be 1 to 50"),
            (row("x", 7.0, 3, Some("nope:x")), "`nope:x` is not one of"),
        ];
        for (bad, says) in cases {
            let d = detail(&[ok[0].clone(), bad], &promo);
            assert!(d.starts_with("seasonalities[1]: "), "{d}");
            assert!(d.contains(says), "{d} lacks {says}");
        }
        let many = vec![row("x", 7.0, 1, None); MAX_ROWS + 1];
        assert!(detail(&many, &promo).contains("at most 20"));
    }

    #[test]
    fn the_flag_takes_a_condition_with_its_colon() {
        let r = parse_flag("weekly_promo:7:3:item_store_price:on_promo").unwrap();
        assert_eq!(
            r,
            row("weekly_promo", 7.0, 3, Some("item_store_price:on_promo"))
        );
        assert_eq!(
            parse_flag("monthly:30.5:5").unwrap(),
            row("monthly", 30.5, 5, None)
        );
        for bad in ["monthly", "monthly:x:5", "monthly:30.5:five"] {
            match parse_flag(bad) {
                Err(DemandError::Invalid { field, detail }) => {
                    assert_eq!(field, "--seasonality");
                    assert!(detail.contains(bad), "{detail}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let model = to_model(&[r]);
        assert_eq!(
            model[0].condition.as_deref(),
            Some("item_store_price:on_promo")
        );
        assert_eq!(model[0].prior_scale, 10.0);
    }
}
