//! Per-feature statistics of a snapshot and drift warnings between runs.
//!
//! Statistics describe the newest day a run materialized (what the online store serves), so
//! consecutive runs compare like with like. The drift rule is deliberately simple and
//! explainable: a warning when the null rate moves by more than 0.1, or the mean moves by
//! more than a quarter of the larger of the previous mean's magnitude and standard deviation.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::compute::{Snapshot, Value};
use super::spec::ViewSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    pub feature: String,
    pub count: u64,
    pub null_rate: f64,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub distinct: u64,
}

/// Null-rate change that triggers a warning.
pub const NULL_RATE_DRIFT: f64 = 0.1;
/// Mean change, relative to max(|previous mean|, previous stddev), that triggers a warning.
pub const MEAN_DRIFT: f64 = 0.25;

/// Statistics of every feature of one snapshot.
pub fn of_snapshot(view: &ViewSpec, snap: &Snapshot) -> Vec<FeatureStats> {
    view.features
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let n = snap.values.len();
            let mut nulls = 0usize;
            let mut nums: Vec<f64> = Vec::new();
            let mut distinct: HashSet<u64> = HashSet::new();
            for row in &snap.values {
                match &row[k] {
                    Value::Num(Some(x)) => {
                        nums.push(*x);
                        distinct.insert(x.to_bits());
                    }
                    Value::Text(Some(c)) => {
                        distinct.insert(u64::from(*c));
                    }
                    _ => nulls += 1,
                }
            }
            let mean = (!nums.is_empty()).then(|| nums.iter().sum::<f64>() / nums.len() as f64);
            let stddev = mean.filter(|_| nums.len() > 1).map(|m| {
                (nums.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (nums.len() - 1) as f64).sqrt()
            });
            FeatureStats {
                feature: f.name.clone(),
                count: n as u64,
                null_rate: if n == 0 { 0.0 } else { nulls as f64 / n as f64 },
                mean,
                stddev,
                min: nums.iter().copied().reduce(f64::min),
                max: nums.iter().copied().reduce(f64::max),
                distinct: distinct.len() as u64,
            }
        })
        .collect()
}

/// Warnings for features whose statistics moved beyond the thresholds since `previous`.
pub fn drift(previous: &[FeatureStats], current: &[FeatureStats]) -> Vec<String> {
    let mut out = Vec::new();
    for cur in current {
        let Some(prev) = previous.iter().find(|p| p.feature == cur.feature) else {
            continue;
        };
        if prev.count == 0 || cur.count == 0 {
            continue;
        }
        let dn = cur.null_rate - prev.null_rate;
        if dn.abs() > NULL_RATE_DRIFT {
            out.push(format!(
                "{}: null rate moved from {:.3} to {:.3}",
                cur.feature, prev.null_rate, cur.null_rate
            ));
        }
        if let (Some(pm), Some(cm)) = (prev.mean, cur.mean) {
            let scale = pm.abs().max(prev.stddev.unwrap_or(0.0));
            if scale > 0.0 && (cm - pm).abs() > MEAN_DRIFT * scale {
                out.push(format!(
                    "{}: mean moved from {pm:.4} to {cm:.4}",
                    cur.feature
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(feature: &str, null_rate: f64, mean: f64, sd: f64) -> FeatureStats {
        FeatureStats {
            feature: feature.into(),
            count: 100,
            null_rate,
            mean: Some(mean),
            stddev: Some(sd),
            min: None,
            max: None,
            distinct: 0,
        }
    }

    #[test]
    fn drift_flags_mean_and_null_rate_moves_only() {
        let prev = vec![stats("a", 0.0, 10.0, 2.0), stats("b", 0.1, 5.0, 1.0)];
        assert!(drift(&prev, &prev).is_empty());
        let cur = vec![stats("a", 0.0, 10.5, 2.0), stats("b", 0.3, 5.0, 1.0)];
        let w = drift(&prev, &cur);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("b: null rate"));
        let cur = vec![stats("a", 0.0, 13.0, 2.0), stats("b", 0.1, 5.0, 1.0)];
        let w = drift(&prev, &cur);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("a: mean"));
    }
}
