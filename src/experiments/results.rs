//! The readout of an experiment: exposures joined with the events that follow them, per-user
//! outcomes per arm, and every treatment arm compared with the control.
//!
//! What is counted: the unit is the exposed user (the first arm they were served in; the
//! assignment is deterministic, so a user has one arm). A user's events count when they cite
//! one of the user's recommendation ids of this experiment, or fall between the user's first
//! exposure and `attribution_hours` after their last one. Events are read from the lake's
//! `interactions` dataset only: events still waiting in the ingest buffer count once the
//! next flush lands them (seconds with the default flusher). The CUPED covariate is the
//! user's purchase revenue in the `pre_period_days` before the experiment started.
//!
//! The assembly is split from the arithmetic: [`outcomes`] joins (pure), [`analyze`] compares
//! (pure, over [`super::stats`]), [`readout`] does the I/O.

use std::collections::{HashMap, HashSet};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMicrosecondType};
use futures::TryStreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::ExperimentError;
use super::model::{Experiment, Metric, Status};
use super::stats::{self, Effect, Moments, Ratio, SEQUENTIAL_TUNING};
use crate::db::experiments::{self as repo, ExposureRow};
use crate::db::{Db, ms_to_rfc3339, now_ms};
use crate::lake::Lake;

/// Below this SRM p-value the split is flagged as broken.
pub const SRM_THRESHOLD: f64 = 0.001;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// One event of the `interactions` dataset, as the readout needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub user_id: String,
    pub event_type: String,
    pub value: Option<f64>,
    /// Epoch milliseconds.
    pub ts: i64,
    pub recommendation_id: Option<String>,
}

/// What one exposed user did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UserOutcome {
    pub exposures: f64,
    pub clicks: f64,
    pub purchases: f64,
    pub revenue: f64,
    /// Purchase revenue in the pre-period (CUPED covariate).
    pub pre_revenue: f64,
}

struct Exposed {
    arm: usize,
    first: i64,
    last: i64,
    exposures: f64,
    recommendation_ids: HashSet<String>,
}

/// Joins exposures and events into per-user outcomes per arm (`arms` names the variants in
/// definition order; exposures naming another variant are ignored). `start` is the
/// experiment's start (epoch ms).
pub fn outcomes(
    arms: &[&str],
    exposures: &[ExposureRow],
    events: impl IntoIterator<Item = Event>,
    start: i64,
    attribution_hours: f64,
    pre_period_days: f64,
) -> Vec<Vec<UserOutcome>> {
    let arm_of: HashMap<&str, usize> = arms.iter().enumerate().map(|(i, a)| (*a, i)).collect();
    let mut users: HashMap<&str, Exposed> = HashMap::new();
    for e in exposures {
        let Some(&arm) = arm_of.get(e.variant.as_str()) else {
            continue;
        };
        let u = users.entry(e.user_id.as_str()).or_insert_with(|| Exposed {
            arm,
            first: e.ts,
            last: e.ts,
            exposures: 0.0,
            recommendation_ids: HashSet::new(),
        });
        u.first = u.first.min(e.ts);
        u.last = u.last.max(e.ts);
        u.exposures += 1.0;
        u.recommendation_ids.insert(e.recommendation_id.clone());
    }
    let window = (attribution_hours * HOUR_MS as f64) as i64;
    let pre_from = start - (pre_period_days * DAY_MS as f64) as i64;
    let mut out: HashMap<&str, UserOutcome> = users
        .iter()
        .map(|(u, x)| {
            (
                *u,
                UserOutcome {
                    exposures: x.exposures,
                    ..Default::default()
                },
            )
        })
        .collect();
    for ev in events {
        let Some(user) = users.get(ev.user_id.as_str()) else {
            continue;
        };
        let o = out
            .get_mut(ev.user_id.as_str())
            .expect("every exposed user");
        let purchase_value = (ev.event_type == "purchase").then(|| ev.value.unwrap_or(0.0));
        if ev.ts >= pre_from && ev.ts < start {
            o.pre_revenue += purchase_value.unwrap_or(0.0);
            continue;
        }
        let cited = ev
            .recommendation_id
            .as_ref()
            .is_some_and(|r| user.recommendation_ids.contains(r));
        let in_window = ev.ts >= user.first && ev.ts <= user.last + window;
        if !(cited || in_window) {
            continue;
        }
        match ev.event_type.as_str() {
            "click" => o.clicks += 1.0,
            "purchase" => {
                o.purchases += 1.0;
                o.revenue += purchase_value.unwrap_or(0.0);
            }
            _ => {}
        }
    }
    let mut per_arm = vec![Vec::new(); arms.len()];
    let mut ids: Vec<&&str> = users.keys().collect();
    ids.sort(); // stable order, so results do not depend on hashing
    for u in ids {
        per_arm[users[*u].arm].push(out[*u]);
    }
    per_arm
}

fn fin(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn fin2(x: (f64, f64)) -> Option<[f64; 2]> {
    (x.0.is_finite() && x.1.is_finite()).then_some([x.0, x.1])
}

/// Totals and metric values of one arm.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VariantSummary {
    pub name: String,
    pub control: bool,
    pub weight: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    pub users: u64,
    pub exposures: u64,
    pub clicks: u64,
    pub purchases: u64,
    pub revenue: f64,
    /// null when undefined (no exposures, purchases or users).
    pub ctr: Option<f64>,
    pub conversion_rate: Option<f64>,
    pub revenue_per_user: Option<f64>,
    pub average_order_value: Option<f64>,
}

/// Sample-ratio-mismatch check of users per arm against the weights.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SrmCheck {
    pub observed: Vec<u64>,
    pub expected: Vec<f64>,
    pub chi_square: Option<f64>,
    pub p_value: Option<f64>,
    /// p < 0.001: the split is broken and the comparisons are not to be trusted.
    pub mismatch: bool,
}

/// One treatment arm against the control on one metric. Intervals are `[low, high]`, null
/// when undefined (too few users, zero control).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = ExperimentComparison)]
pub struct Comparison {
    pub variant: String,
    pub metric: Metric,
    /// primary, guardrail or secondary
    pub role: String,
    /// welch_t, cuped_welch_t, two_proportion_z or delta_method_z
    pub test: String,
    pub control_value: Option<f64>,
    pub treatment_value: Option<f64>,
    pub abs_lift: Option<f64>,
    pub abs_ci: Option<[f64; 2]>,
    pub rel_lift: Option<f64>,
    pub rel_ci: Option<[f64; 2]>,
    /// Fixed-horizon, two-sided.
    pub p_value: Option<f64>,
    /// Holm-adjusted across the treatment arms of this metric.
    pub p_value_adjusted: Option<f64>,
    /// Always-valid interval of the absolute lift: safe to read at any time.
    pub sequential_ci: Option<[f64; 2]>,
    pub sequential_p_value: Option<f64>,
    pub sequential_p_value_adjusted: Option<f64>,
    /// Posterior probability that the treatment is better (flat prior).
    pub chance_to_beat_control: Option<f64>,
    /// CUPED θ when the test is cuped_welch_t.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuped_theta: Option<f64>,
    /// The adjusted p-value the experiment decides with (sequential or fixed) is below alpha.
    pub significant: bool,
    /// A guardrail metric that is significantly worse.
    pub guardrail_breached: bool,
}

/// The whole readout.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = ExperimentResults)]
pub struct Readout {
    pub experiment_id: String,
    pub name: String,
    pub status: Status,
    pub alpha: f64,
    /// Decisions use always-valid p-values.
    pub sequential: bool,
    pub started_at: Option<String>,
    /// Exposures up to here (the stop, else now).
    pub until: String,
    pub attribution_hours: f64,
    pub pre_period_days: f64,
    pub srm: SrmCheck,
    pub variants: Vec<VariantSummary>,
    pub comparisons: Vec<Comparison>,
    /// Warnings a reader must see (sample-ratio mismatch, breached guardrails, ...).
    pub notes: Vec<String>,
}

fn column<F: Fn(&UserOutcome) -> f64>(users: &[UserOutcome], f: F) -> Vec<f64> {
    users.iter().map(f).collect()
}

fn comparison_of(
    metric: Metric,
    c: &[UserOutcome],
    t: &[UserOutcome],
    exp: &Experiment,
) -> (Effect, &'static str, Option<f64>) {
    let alpha = exp.spec.alpha;
    match metric {
        Metric::Ctr => (
            stats::ratio_test(
                &Ratio::of(&column(c, |u| u.clicks), &column(c, |u| u.exposures)),
                &Ratio::of(&column(t, |u| u.clicks), &column(t, |u| u.exposures)),
                alpha,
            ),
            "delta_method_z",
            None,
        ),
        Metric::AverageOrderValue => (
            stats::ratio_test(
                &Ratio::of(&column(c, |u| u.revenue), &column(c, |u| u.purchases)),
                &Ratio::of(&column(t, |u| u.revenue), &column(t, |u| u.purchases)),
                alpha,
            ),
            "delta_method_z",
            None,
        ),
        Metric::ConversionRate => {
            let conv = |a: &[UserOutcome]| a.iter().filter(|u| u.purchases > 0.0).count() as f64;
            (
                stats::two_proportions(conv(c), c.len() as f64, conv(t), t.len() as f64, alpha),
                "two_proportion_z",
                None,
            )
        }
        Metric::RevenuePerUser => {
            let (yc, yt) = (column(c, |u| u.revenue), column(t, |u| u.revenue));
            let (xc, xt) = (column(c, |u| u.pre_revenue), column(t, |u| u.pre_revenue));
            let pre_varies = Moments::of(&[xc.as_slice(), xt.as_slice()].concat()).var > 0.0;
            if exp.spec.pre_period_days > 0.0 && pre_varies {
                let (e, theta) = stats::cuped_welch((&yc, &xc), (&yt, &xt), alpha);
                (e, "cuped_welch_t", Some(theta))
            } else {
                (
                    stats::welch(&Moments::of(&yc), &Moments::of(&yt), alpha),
                    "welch_t",
                    None,
                )
            }
        }
    }
}

/// One treatment arm's test on one metric, before the correction across arms.
struct Row {
    variant: String,
    effect: Effect,
    test: &'static str,
    theta: Option<f64>,
    seq_p: f64,
    /// Users in the control and this arm.
    n: f64,
}

/// Compares every treatment arm with the control on every metric (pure).
pub fn analyze(exp: &Experiment, arms: &[Vec<UserOutcome>], until: i64) -> Readout {
    let spec = &exp.spec;
    let control = exp.control_index();
    let alpha = spec.alpha;
    let variants: Vec<VariantSummary> = spec
        .variants
        .iter()
        .zip(arms)
        .enumerate()
        .map(|(i, (v, users))| {
            let sum = |f: fn(&UserOutcome) -> f64| users.iter().map(f).sum::<f64>();
            let (exposures, clicks, purchases, revenue) = (
                sum(|u| u.exposures),
                sum(|u| u.clicks),
                sum(|u| u.purchases),
                sum(|u| u.revenue),
            );
            let n = users.len() as f64;
            let converted = users.iter().filter(|u| u.purchases > 0.0).count() as f64;
            VariantSummary {
                name: v.name.clone(),
                control: i == control,
                weight: v.weight,
                model_version: v.model_version.clone(),
                users: users.len() as u64,
                exposures: exposures as u64,
                clicks: clicks as u64,
                purchases: purchases as u64,
                revenue,
                ctr: fin(clicks / exposures),
                conversion_rate: fin(converted / n),
                revenue_per_user: fin(revenue / n),
                average_order_value: fin(revenue / purchases),
            }
        })
        .collect();

    let observed: Vec<f64> = arms.iter().map(|a| a.len() as f64).collect();
    let weights = exp.weights();
    let total: f64 = observed.iter().sum();
    let (chi, p_srm) = stats::srm_chi_square(&observed, &weights);
    let srm = SrmCheck {
        observed: observed.iter().map(|o| *o as u64).collect(),
        expected: weights.iter().map(|w| total * w).collect(),
        chi_square: fin(chi),
        p_value: fin(p_srm),
        mismatch: p_srm < SRM_THRESHOLD,
    };

    let mut comparisons = Vec::new();
    let mut notes = Vec::new();
    if srm.mismatch {
        notes.push(format!(
            "sample ratio mismatch: users per arm {:?} against weights {:?} (p = {:.2e} < {SRM_THRESHOLD}); the split or the exposure logging is broken, do not trust these results",
            srm.observed, weights, p_srm
        ));
    }
    let c_users = &arms[control];
    for metric in Metric::ALL {
        let role = if metric == spec.primary_metric {
            "primary"
        } else if spec.guardrails.contains(&metric) {
            "guardrail"
        } else {
            "secondary"
        };
        let mut rows: Vec<Row> = Vec::new();
        for (k, t_users) in arms.iter().enumerate() {
            if k == control {
                continue;
            }
            let (e, test, theta) = comparison_of(metric, c_users, t_users, exp);
            let n = (c_users.len() + t_users.len()) as f64;
            let seq_p = stats::sequential_p(e.abs_lift, e.abs_se, n, alpha, SEQUENTIAL_TUNING);
            rows.push(Row {
                variant: spec.variants[k].name.clone(),
                effect: e,
                test,
                theta,
                seq_p,
                n,
            });
        }
        let fixed_adj = stats::holm(&rows.iter().map(|r| r.effect.p_value).collect::<Vec<_>>());
        let seq_adj = stats::holm(&rows.iter().map(|r| r.seq_p).collect::<Vec<_>>());
        for (i, row) in rows.into_iter().enumerate() {
            let Row {
                variant,
                effect: e,
                test,
                theta,
                seq_p,
                n,
            } = row;
            let decide = if spec.sequential {
                seq_adj[i]
            } else {
                fixed_adj[i]
            };
            let significant = decide < alpha;
            let breached = role == "guardrail" && significant && e.abs_lift < 0.0;
            if breached {
                notes.push(format!(
                    "guardrail {} is significantly worse in `{variant}`",
                    metric.name()
                ));
            }
            comparisons.push(Comparison {
                variant,
                metric,
                role: role.into(),
                test: test.into(),
                control_value: fin(e.control),
                treatment_value: fin(e.treatment),
                abs_lift: fin(e.abs_lift),
                abs_ci: fin2(e.abs_ci),
                rel_lift: fin(e.rel_lift),
                rel_ci: fin2(e.rel_ci),
                p_value: fin(e.p_value),
                p_value_adjusted: fin(fixed_adj[i]),
                sequential_ci: fin2(stats::sequential_ci(
                    e.abs_lift,
                    e.abs_se,
                    n,
                    alpha,
                    SEQUENTIAL_TUNING,
                )),
                sequential_p_value: fin(seq_p),
                sequential_p_value_adjusted: fin(seq_adj[i]),
                chance_to_beat_control: fin(stats::chance_to_beat(e.abs_lift, e.abs_se)),
                cuped_theta: theta,
                significant,
                guardrail_breached: breached,
            });
        }
    }
    Readout {
        experiment_id: exp.id.clone(),
        name: spec.name.clone(),
        status: exp.status,
        alpha,
        sequential: spec.sequential,
        started_at: exp.started_at.map(ms_to_rfc3339),
        until: ms_to_rfc3339(until),
        attribution_hours: spec.attribution_hours,
        pre_period_days: spec.pre_period_days,
        srm,
        variants,
        comparisons,
        notes,
    }
}

fn date_of(ms: i64) -> Option<chrono::NaiveDate> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.date_naive())
}

/// Events of `users` with `dt` between the two instants' dates, read one file at a time.
async fn read_events(
    lake: &Lake,
    users: &HashSet<String>,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Event>, ExperimentError> {
    let mut stream = lake
        .read_stream("interactions", date_of(from_ms), date_of(to_ms))
        .await?;
    let mut out = Vec::new();
    while let Some(batch) = stream.try_next().await? {
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
        };
        let (Some(user), Some(kind)) = (text("user_id"), text("event_type")) else {
            continue;
        };
        let rec = text("recommendation_id");
        let value = batch
            .column_by_name("value")
            .and_then(|c| c.as_primitive_opt::<Float64Type>());
        let Some(ts) = batch
            .column_by_name("ts")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        else {
            continue;
        };
        for i in 0..batch.num_rows() {
            if user.is_null(i) || kind.is_null(i) || ts.is_null(i) {
                continue;
            }
            if !users.contains(user.value(i)) {
                continue;
            }
            out.push(Event {
                user_id: user.value(i).to_string(),
                event_type: kind.value(i).to_string(),
                value: value.and_then(|v| (!v.is_null(i)).then(|| v.value(i))),
                ts: ts.value(i).div_euclid(1000),
                recommendation_id: rec
                    .and_then(|r| (!r.is_null(i)).then(|| r.value(i).to_string())),
            });
        }
    }
    Ok(out)
}

/// The readout of an experiment as of now. A draft has no exposures and reads as empty arms.
pub async fn readout(db: &Db, lake: &Lake, exp: &Experiment) -> Result<Readout, ExperimentError> {
    let now = now_ms();
    let until = exp.stopped_at.unwrap_or(now);
    let exposures = repo::exposures(db, &exp.id).await?;
    let start = exp
        .started_at
        .or_else(|| exposures.first().map(|e| e.ts))
        .unwrap_or(now);
    let users: HashSet<String> = exposures.iter().map(|e| e.user_id.clone()).collect();
    let events = if users.is_empty() {
        Vec::new()
    } else {
        let from = start - (exp.spec.pre_period_days * DAY_MS as f64) as i64;
        let to = until + (exp.spec.attribution_hours * HOUR_MS as f64) as i64;
        read_events(lake, &users, from, to).await?
    };
    let names: Vec<&str> = exp.spec.variants.iter().map(|v| v.name.as_str()).collect();
    let arms = outcomes(
        &names,
        &exposures,
        events,
        start,
        exp.spec.attribution_hours,
        exp.spec.pre_period_days,
    );
    Ok(analyze(exp, &arms, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(rec: &str, variant: &str, user: &str, ts: i64) -> ExposureRow {
        ExposureRow {
            recommendation_id: rec.into(),
            experiment_id: "x".into(),
            variant: variant.into(),
            user_id: user.into(),
            ts,
        }
    }

    fn event(user: &str, kind: &str, value: Option<f64>, ts: i64, rec: Option<&str>) -> Event {
        Event {
            user_id: user.into(),
            event_type: kind.into(),
            value,
            ts,
            recommendation_id: rec.map(String::from),
        }
    }

    #[test]
    fn attribution_by_recommendation_id_or_window_and_the_pre_period() {
        let start = 100 * DAY_MS;
        let exposures = vec![
            exposure("r1", "a", "u1", start + HOUR_MS),
            exposure("r2", "a", "u1", start + 2 * HOUR_MS),
            exposure("r3", "b", "u2", start + HOUR_MS),
            exposure("r9", "gone", "u3", start + HOUR_MS), // variant not in the definition
        ];
        let events = vec![
            // u1: in the window (until last exposure + 24 h) ...
            event("u1", "click", None, start + 3 * HOUR_MS, None),
            event("u1", "purchase", Some(10.0), start + 20 * HOUR_MS, None),
            // ... after the window but citing its recommendation ...
            event("u1", "purchase", Some(5.0), start + 5 * DAY_MS, Some("r1")),
            // ... after the window citing nothing of its own: not counted.
            event("u1", "purchase", Some(99.0), start + 5 * DAY_MS, Some("r3")),
            event("u1", "click", None, start + 5 * DAY_MS, None),
            // Pre-period purchase: the covariate, not an outcome.
            event("u1", "purchase", Some(7.0), start - DAY_MS, None),
            // Before the pre-period: ignored.
            event("u1", "purchase", Some(70.0), start - 30 * DAY_MS, None),
            // u2: a view only; before the first exposure but after the start: ignored.
            event("u2", "view", None, start + 2 * HOUR_MS, None),
            event("u2", "click", None, start + 30 * 60_000, None),
            // Not exposed at all.
            event("u9", "purchase", Some(1.0), start + HOUR_MS, None),
        ];
        let arms = outcomes(&["a", "b"], &exposures, events, start, 24.0, 14.0);
        assert_eq!(arms[0].len(), 1);
        assert_eq!(arms[1].len(), 1);
        let u1 = arms[0][0];
        assert_eq!(u1.exposures, 2.0);
        assert_eq!(u1.clicks, 1.0);
        assert_eq!(u1.purchases, 2.0);
        assert_eq!(u1.revenue, 15.0);
        assert_eq!(u1.pre_revenue, 7.0);
        let u2 = arms[1][0];
        assert_eq!((u2.exposures, u2.clicks, u2.purchases), (1.0, 0.0, 0.0));
    }

    #[test]
    fn three_arms_get_holm_adjusted_decisions() {
        let spec: super::super::model::ExperimentSpec = serde_json::from_value(serde_json::json!({
            "name": "three",
            "variants": [{"name": "a", "weight": 0.34}, {"name": "b", "weight": 0.33},
                         {"name": "c", "weight": 0.33}],
            "sequential": false,
            "pre_period_days": 0
        }))
        .unwrap();
        let exp = Experiment {
            id: "x".into(),
            status: Status::Running,
            salt: "x".into(),
            spec,
            created_at: 0,
            updated_at: 0,
            started_at: Some(0),
            stopped_at: None,
        };
        let user = |purchases: f64, revenue: f64| UserOutcome {
            exposures: 2.0,
            clicks: 1.0,
            purchases,
            revenue,
            pre_revenue: 0.0,
        };
        // a: 10 % convert, b: the same, c: 40 %.
        let arm = |rate: usize| -> Vec<UserOutcome> {
            (0..200)
                .map(|i| {
                    if i % 100 < rate {
                        user(1.0, 20.0 + (i % 7) as f64)
                    } else {
                        user(0.0, 0.0)
                    }
                })
                .collect()
        };
        let r = analyze(&exp, &[arm(10), arm(10), arm(40)], 0);
        assert_eq!(r.comparisons.len(), 2 * Metric::ALL.len());
        let conv: Vec<&Comparison> = r
            .comparisons
            .iter()
            .filter(|c| c.metric == Metric::ConversionRate)
            .collect();
        assert_eq!(conv[0].variant, "b");
        assert!(!conv[0].significant);
        assert!(conv[1].significant);
        // Holm: the smaller p is multiplied by 2, the larger by 1 (and kept monotone).
        let (pb, pc) = (conv[0].p_value.unwrap(), conv[1].p_value.unwrap());
        assert!((conv[1].p_value_adjusted.unwrap() - (2.0 * pc).min(1.0)).abs() < 1e-15);
        assert!((conv[0].p_value_adjusted.unwrap() - pb.max(2.0 * pc).min(1.0)).abs() < 1e-15);
        assert!(!r.srm.mismatch);
        assert_eq!(r.variants[2].conversion_rate, Some(0.4));
        // No pre-period: plain Welch on revenue.
        assert!(
            r.comparisons
                .iter()
                .filter(|c| c.metric == Metric::RevenuePerUser)
                .all(|c| c.test == "welch_t" && c.cuped_theta.is_none())
        );
    }
}
