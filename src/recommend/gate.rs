//! Promotion behind quality gates: a trained candidate replaces the promoted recommender only
//! when it beats it on the same fresh holdout by a margin and passes the guardrails.
//!
//! Why refit the champion's configuration instead of scoring its artifact: the promoted
//! version was trained on data that usually overlaps the new holdout (yesterday's model saw
//! most of last week), so scoring its artifact on that holdout would measure memory, not
//! quality. Fitting the champion's parameters on exactly the candidate's training split and
//! scoring both on the same holdout compares like with like; the decision, both scores and the
//! reason are stored with the candidate's metrics.

use serde::{Deserialize, Serialize};

use super::RecommendError;
use super::eval::Metrics;

/// The ranking metric a gate compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GateMetric {
    #[default]
    Ndcg,
    Recall,
    Map,
    HitRate,
    Precision,
}

impl GateMetric {
    pub fn of(self, m: &Metrics) -> f64 {
        match self {
            GateMetric::Ndcg => m.ndcg,
            GateMetric::Recall => m.recall,
            GateMetric::Map => m.map,
            GateMetric::HitRate => m.hit_rate,
            GateMetric::Precision => m.precision,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GateMetric::Ndcg => "ndcg",
            GateMetric::Recall => "recall",
            GateMetric::Map => "map",
            GateMetric::HitRate => "hit_rate",
            GateMetric::Precision => "precision",
        }
    }
}

/// When a trained candidate is promoted (the `gate` of a training run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gate {
    pub metric: GateMetric,
    /// Relative gain over the champion the candidate needs (0.02: 2 % better).
    pub min_gain: f64,
    /// Guardrail: least share of the catalogue the candidate must recommend on the holdout.
    pub min_coverage: f64,
    /// Guardrail: least number of holdout users the comparison must rest on.
    pub min_users: usize,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            metric: GateMetric::Ndcg,
            min_gain: 0.0,
            min_coverage: 0.0,
            min_users: 1,
        }
    }
}

impl Gate {
    pub fn validate(&self) -> Result<(), RecommendError> {
        if !(self.min_gain.is_finite() && self.min_gain > -1.0) {
            return Err(RecommendError::invalid("gate.min_gain", "must be > -1"));
        }
        if !(0.0..=1.0).contains(&self.min_coverage) {
            return Err(RecommendError::invalid(
                "gate.min_coverage",
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }
}

/// What a gate decided, stored with the candidate's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub promoted: bool,
    pub reason: String,
    pub metric: GateMetric,
    pub candidate: f64,
    /// The champion's score on the same holdout (None: nothing promoted yet).
    pub champion: Option<f64>,
    pub champion_version: Option<String>,
    pub min_gain: f64,
}

/// The decision for a candidate with holdout `metrics` against the champion's
/// (`champion`: its version id and its metrics on the same holdout).
pub fn decide(gate: &Gate, metrics: &Metrics, champion: Option<(&str, &Metrics)>) -> Decision {
    let name = gate.metric.as_str();
    let candidate = gate.metric.of(metrics);
    let decision = |promoted: bool, reason: String| Decision {
        promoted,
        reason,
        metric: gate.metric,
        candidate,
        champion: champion.map(|(_, m)| gate.metric.of(m)),
        champion_version: champion.map(|(v, _)| v.to_string()),
        min_gain: gate.min_gain,
    };
    if metrics.users < gate.min_users {
        return decision(
            false,
            format!(
                "evaluated on {} holdout users, fewer than the {} required",
                metrics.users, gate.min_users
            ),
        );
    }
    if metrics.coverage < gate.min_coverage {
        return decision(
            false,
            format!(
                "catalog coverage {:.4} below the guardrail {:.4}",
                metrics.coverage, gate.min_coverage
            ),
        );
    }
    let Some((version, champion_metrics)) = champion else {
        return decision(true, "no promoted version to beat".into());
    };
    let best = gate.metric.of(champion_metrics);
    let needed = best * (1.0 + gate.min_gain);
    if candidate > needed {
        decision(
            true,
            format!("{name} {candidate:.4} beats {version}'s {best:.4} on the same holdout"),
        )
    } else {
        decision(
            false,
            format!(
                "{name} {candidate:.4} does not beat {version}'s {best:.4} by {:.1} % on the same holdout",
                gate.min_gain * 100.0
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(ndcg: f64, coverage: f64) -> Metrics {
        Metrics {
            k: 10,
            users: 50,
            ndcg,
            coverage,
            ..Metrics::default()
        }
    }

    #[test]
    fn promotes_only_past_the_margin_and_the_guardrails() {
        let gate = Gate {
            min_gain: 0.05,
            min_coverage: 0.1,
            ..Gate::default()
        };
        let champion = metrics(0.20, 0.5);
        let d = decide(&gate, &metrics(0.22, 0.5), Some(("v1", &champion)));
        assert!(d.promoted, "{}", d.reason);
        assert_eq!(d.champion, Some(0.20));
        let d = decide(&gate, &metrics(0.205, 0.5), Some(("v1", &champion)));
        assert!(
            !d.promoted && d.reason.contains("does not beat"),
            "{}",
            d.reason
        );
        let d = decide(&gate, &metrics(0.30, 0.05), Some(("v1", &champion)));
        assert!(!d.promoted && d.reason.contains("coverage"), "{}", d.reason);
        let d = decide(&gate, &metrics(0.01, 0.5), None);
        assert!(d.promoted && d.champion.is_none());
    }
}
