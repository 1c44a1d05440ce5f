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
    /// Guardrail: largest share of holdout users the candidate may leave to the popularity
    /// fallback (users it cannot score).
    pub max_fallback_share: f64,
    /// Guardrail: largest share of holdout users that may get an empty answer.
    pub max_empty_share: f64,
    /// Guardrail: slowest 99th-percentile time to score one holdout user, in ms.
    pub max_score_ms_p99: Option<f64>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            metric: GateMetric::Ndcg,
            min_gain: 0.0,
            min_coverage: 0.0,
            min_users: 1,
            max_fallback_share: 1.0,
            max_empty_share: 1.0,
            max_score_ms_p99: None,
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
        for (value, field) in [
            (self.max_fallback_share, "gate.max_fallback_share"),
            (self.max_empty_share, "gate.max_empty_share"),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(RecommendError::invalid(field, "must be between 0 and 1"));
            }
        }
        if self
            .max_score_ms_p99
            .is_some_and(|ms| !(ms.is_finite() && ms > 0.0))
        {
            return Err(RecommendError::invalid(
                "gate.max_score_ms_p99",
                "must be a positive number of ms",
            ));
        }
        Ok(())
    }

    /// The first guardrail `metrics` break, as the refusal's reason.
    fn guardrail(&self, metrics: &Metrics) -> Option<String> {
        if metrics.users < self.min_users {
            return Some(format!(
                "evaluated on {} holdout users, fewer than the {} required",
                metrics.users, self.min_users
            ));
        }
        let shares = [
            (
                "catalog coverage",
                metrics.coverage,
                self.min_coverage,
                true,
            ),
            (
                "popularity fallback share",
                metrics.fallback_share,
                self.max_fallback_share,
                false,
            ),
            (
                "empty answer share",
                metrics.empty_share,
                self.max_empty_share,
                false,
            ),
        ];
        for (name, value, bound, at_least) in shares {
            if (at_least && value < bound) || (!at_least && value > bound) {
                let side = if at_least { "below" } else { "above" };
                return Some(format!("{name} {value:.4} {side} the guardrail {bound:.4}"));
            }
        }
        match self.max_score_ms_p99 {
            Some(max) if metrics.score_ms_p99 > max => Some(format!(
                "p99 time to score a user {:.2} ms above the guardrail {max:.2} ms",
                metrics.score_ms_p99
            )),
            _ => None,
        }
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
    if let Some(reason) = gate.guardrail(metrics) {
        return decision(false, reason);
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

    #[test]
    fn serving_guardrails_refuse_with_the_figure() {
        let gate = Gate {
            max_fallback_share: 0.2,
            max_empty_share: 0.0,
            max_score_ms_p99: Some(5.0),
            ..Gate::default()
        };
        let good = Metrics {
            fallback_share: 0.1,
            score_ms_p99: 1.0,
            ..metrics(0.3, 0.5)
        };
        assert!(decide(&gate, &good, None).promoted);
        let cases = [
            (
                Metrics {
                    fallback_share: 0.5,
                    ..good
                },
                "popularity fallback share 0.5000 above",
            ),
            (
                Metrics {
                    empty_share: 0.02,
                    ..good
                },
                "empty answer share 0.0200 above",
            ),
            (
                Metrics {
                    score_ms_p99: 9.0,
                    ..good
                },
                "p99 time to score a user 9.00 ms",
            ),
        ];
        for (m, reason) in cases {
            let d = decide(&gate, &m, None);
            assert!(!d.promoted && d.reason.contains(reason), "{}", d.reason);
        }
        assert!(
            Gate {
                max_empty_share: 2.0,
                ..gate
            }
            .validate()
            .is_err()
        );
    }
}
