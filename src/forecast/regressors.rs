//! Exogenous regressors (price, promotion, any numeric feature) for daily item x store demand
//! series, read from the offline feature store; the regression candidate they make possible
//! is pure model code (`recast_models::forecast::regression`, re-exported here).
//!
//! Time rule: the regressor of sales day `d` is the value in the view's snapshot of day `d`
//! (as of `d+1 00:00 UTC`, the instant historical retrieval would use for a row at that
//! time), under the view's TTL. Price and promotion of day `d` are known on day `d` — a
//! planner sets them in advance — so this is not target leakage, but it does mean a
//! forecast needs the regressors' future values: here each one holds its last observed value
//! over the horizon ("no planned change"), which the series' notes record.
//!
//! Missing values (day not materialized, null, past the TTL) are filled forward from the
//! previous day, then backward for a leading gap. A regressor with no value at all, or
//! constant over the series, cannot be estimated and is dropped with a note; a series left
//! with none keeps the usual model.
//!
//! Choice: the usual winner against the better of two regression candidates — a regression
//! with SARIMA errors (`Sarimax`) whose error orders come from the automatic ARIMA search on
//! the OLS residuals of the whole series (`Sarimax::auto_order`), and the Prophet-style model
//! with the regressors as extra regressors — by rolling-origin backtest MASE on the same
//! windows. The
//! regression re-estimates its coefficients at each origin (the orders stay: searching them
//! again per window would cost several times more, mostly in exact refits of near-unit-root
//! seasonal candidates) and forecasts each window with the actual regressor values of that
//! window ("known future regressors": it measures the model given the plan, not the plan).

use std::collections::HashMap;

use chrono::NaiveDate;

pub use recast_models::forecast::regression::{
    Design, Observed, Regression, backtest, design, fill, fit_and_forecast, order,
};

use super::series::{DemandError, Frequency, Level, Series};
use crate::features::catalog::{Catalog, Selection};
use crate::features::compute::as_of_of;
use crate::features::historical::{scan_snapshots, within_ttl};
use crate::features::spec::Entity;
use crate::lake::Lake;

/// The field regressor errors name.
pub const FIELD: &str = "regressors";

/// Checks what can be checked without the catalog: the level and frequency a run with
/// regressors needs, and the shape of each reference.
pub fn check_params(
    refs: &[String],
    level: Level,
    frequency: Frequency,
) -> Result<(), DemandError> {
    if refs.is_empty() {
        return Ok(());
    }
    if level != Level::ItemStore || frequency != Frequency::Day {
        return Err(DemandError::invalid(
            FIELD,
            format!(
                "regressors need level item_store and frequency day (feature views are daily \
                 per item and store); got level {level}, frequency {frequency}"
            ),
        ));
    }
    for (i, r) in refs.iter().enumerate() {
        let ok = r
            .split_once(':')
            .is_some_and(|(v, f)| !v.is_empty() && !f.is_empty() && f != "*");
        if !ok {
            return Err(DemandError::invalid(
                FIELD,
                format!("`{r}` must name one feature as `view:feature`"),
            ));
        }
        if refs[..i].contains(r) {
            return Err(DemandError::invalid(FIELD, format!("`{r}` is named twice")));
        }
    }
    Ok(())
}

/// The resolved regressors of a run: the view versions to read and the regressor names in
/// column order (the labels, `view:feature`).
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub selections: Vec<Selection>,
    pub names: Vec<String>,
}

/// Resolves references against the catalog; every error names `regressors` and the reference.
pub fn resolve(catalog: &Catalog, refs: &[String]) -> Result<Resolved, DemandError> {
    if refs.is_empty() {
        return Ok(Resolved::default());
    }
    let mut selections = Vec::new();
    for r in refs {
        let sel = catalog
            .select(std::slice::from_ref(r), FIELD)
            .map_err(|e| {
                let detail = match e {
                    crate::features::FeatureError::Invalid { detail, .. } => detail,
                    other => other.to_string(),
                };
                DemandError::invalid(FIELD, format!("`{r}`: {detail}"))
            })?
            .remove(0);
        let spec = &sel.view.spec;
        if spec.entity != Entity::ItemStore {
            return Err(DemandError::invalid(
                FIELD,
                format!(
                    "`{r}`: view `{}` is per {}, a regressor must be per item_store",
                    spec.name,
                    spec.entity.as_str()
                ),
            ));
        }
        if spec.features[sel.features[0]].is_text(spec.source) {
            return Err(DemandError::invalid(
                FIELD,
                format!("`{r}` is a text feature, a regressor must be numeric"),
            ));
        }
        selections.push(sel);
    }
    let names = selections.iter().map(|s| s.labels[0].clone()).collect();
    Ok(Resolved { selections, names })
}

/// Reads the regressor values of every daily item x store series from the offline store, one
/// snapshot file at a time; holds `series × days × regressors` numbers.
pub async fn load(
    lake: &Lake,
    resolved: &Resolved,
    series: &[Series],
) -> Result<Vec<Observed>, DemandError> {
    let mut out: Vec<Observed> = series
        .iter()
        .map(|s| Observed {
            names: resolved.names.clone(),
            columns: vec![vec![f64::NAN; s.values.len()]; resolved.names.len()],
        })
        .collect();
    let (Some(from), Some(to)) = (
        series.iter().map(|s| s.start.date()).min(),
        series.iter().map(|s| s.end().date()).max(),
    ) else {
        return Ok(out);
    };
    let by_entity: HashMap<String, usize> = series
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let (item, store) = (s.key.item_id.as_ref()?, s.key.store_id.as_ref()?);
            Some((format!("{item}:{store}"), i))
        })
        .collect();
    // Daily series only (`TrainParams::validate`): a period is its day.
    let ranges: Vec<(NaiveDate, NaiveDate)> = series
        .iter()
        .map(|s| (s.start.date(), s.end().date()))
        .collect();
    for (r, sel) in resolved.selections.iter().enumerate() {
        let wanted = |day: NaiveDate, id: &str| {
            by_entity
                .get(id)
                .is_some_and(|&i| day >= ranges[i].0 && day <= ranges[i].1)
        };
        let mut visit = |row: crate::features::historical::SnapshotRow<'_>| {
            let Some(&i) = by_entity.get(row.entity) else {
                return;
            };
            if !within_ttl(sel, as_of_of(row.day), row.event_ts) {
                return;
            }
            if let Some(v) = row.number(0).filter(|v| v.is_finite()) {
                let t = (row.day - ranges[i].0).num_days() as usize;
                out[i].columns[r][t] = v;
            }
        };
        scan_snapshots(lake, sel, from, to, &wanted, &mut visit)
            .await
            .map_err(|e| DemandError::Data(format!("regressor `{}`: {e}", resolved.names[r])))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_check_names_the_field() {
        let refs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let field = |r: Result<(), DemandError>| match r {
            Err(DemandError::Invalid { field, detail }) => (field, detail),
            other => panic!("{other:?}"),
        };
        assert!(check_params(&[], Level::Item, Frequency::Week).is_ok());
        let ok = refs(&["item_store_price:on_promo"]);
        assert!(check_params(&ok, Level::ItemStore, Frequency::Day).is_ok());
        let (f, d) = field(check_params(&ok, Level::Item, Frequency::Day));
        assert_eq!(f, "regressors");
        assert!(d.contains("item_store"), "{d}");
        let (f, _) = field(check_params(&ok, Level::ItemStore, Frequency::Week));
        assert_eq!(f, "regressors");
        let (_, d) = field(check_params(
            &refs(&["item_store_price"]),
            Level::ItemStore,
            Frequency::Day,
        ));
        assert!(d.contains("`item_store_price`"), "{d}");
        let (_, d) = field(check_params(
            &refs(&["a:b", "a:b"]),
            Level::ItemStore,
            Frequency::Day,
        ));
        assert!(d.contains("twice"), "{d}");
    }
}
