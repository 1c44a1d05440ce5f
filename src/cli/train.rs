//! `recast train recommender`: trains in this process (progress bar on stderr), prints the
//! holdout evaluation next to the popularity baseline and registers a candidate version.
//! The same code runs as the `train_recommender` job.

use super::bar::Bar;
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::config::Settings;
use crate::error::Result;
use crate::recommend::artifact::ModelKind;
use crate::recommend::data::EventWeights;
use crate::recommend::eval::{MIN_MEANINGFUL_USERS, Metrics};
use crate::recommend::gate::{Gate, GateMetric};
use crate::recommend::train::{self, TrainParams};

#[derive(Subcommand, Debug)]
pub enum TrainCommand {
    /// Train a recommender on the lake's interactions and register it as a candidate.
    Recommender(Box<RecommenderArgs>),
    /// Fit, forecast and backtest every demand series from the lake's sales.
    Forecaster(Box<super::train_forecast::ForecasterArgs>),
}

#[derive(Args, Debug)]
pub struct RecommenderArgs {
    #[arg(long, value_enum, default_value = "als")]
    pub model: ModelKind,
    /// Latent factors (ALS, hybrid).
    #[arg(long)]
    pub factors: Option<usize>,
    /// ALS sweeps.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// L2 regularization (ALS).
    #[arg(long)]
    pub regularization: Option<f32>,
    /// Confidence scale: c = 1 + alpha·r (ALS).
    #[arg(long)]
    pub alpha: Option<f32>,
    /// Cut-off of the evaluation metrics.
    #[arg(long)]
    pub k: Option<usize>,
    /// Neighbours kept per item (item-kNN, content); weights kept per item (EASE).
    #[arg(long)]
    pub neighbours: Option<usize>,
    /// L2 regularisation λ (EASE).
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Most items the dense fit takes, the most interacted-with ones (EASE).
    #[arg(long)]
    pub max_items: Option<usize>,
    /// Days at the end of the data held out for evaluation.
    #[arg(long)]
    pub holdout_days: Option<f64>,
    /// Search N configurations on a validation split cut from the training part (never the
    /// holdout) and train with the best; the search table is printed and stored.
    #[arg(long)]
    pub tune: Option<usize>,
    /// Evaluate on each user's last N interactions instead (per-user temporal split).
    #[arg(long)]
    pub test_per_user: Option<usize>,
    /// Event weights in the interaction matrix, e.g. `purchase=16,view=0.5` (the others keep
    /// their defaults: view 1, click 2, add_to_cart 4, purchase 8; ratings count their
    /// value).
    #[arg(long, value_parser = parse_event_weights)]
    pub event_weights: Option<EventWeights>,
    /// Exponential decay of interaction strengths (days); off by default.
    #[arg(long)]
    pub half_life_days: Option<f64>,
    /// Recency of a user's history when scoring from it, in interactions: the i-th most
    /// recent item counts 0.5^(i / N) (item-kNN, EASE, content, hybrid); off by default.
    #[arg(long)]
    pub history_half_life: Option<f64>,
    /// Steps ahead that count as "what users did next" in the hybrid's transition part
    /// (default 10; 0 leaves the part out).
    #[arg(long)]
    pub transition_window: Option<usize>,
    /// Half-life of the trending counts, days (the `trending` model and cold-start fill).
    #[arg(long)]
    pub trending_half_life_days: Option<f64>,
    /// Seed of the random parts (ALS's initial factors, the search's draws).
    #[arg(long)]
    pub seed: Option<u64>,
    /// BM25 instead of cosine weighting (item-kNN).
    #[arg(long)]
    pub bm25: bool,
    /// Item features (`view:feature`, comma-separated) the hybrid's item prior learns from;
    /// default: the shipped `item_popularity` counts and conversion.
    #[arg(long, value_delimiter = ',')]
    pub item_features: Option<Vec<String>>,
    /// The user feature (`view:feature`) that splits users by activity in the hybrid;
    /// default `user_activity:events_30d`.
    #[arg(long)]
    pub user_feature: Option<String>,
    /// Train the hybrid without feature-store signals.
    #[arg(long, conflicts_with_all = ["item_features", "user_feature"])]
    pub no_features: bool,
    /// Promote the trained version only if it beats the promoted one on the same holdout
    /// (by `--min-gain`) and passes the guardrails; the decision is stored with its metrics.
    #[arg(long)]
    pub gated: bool,
    /// With `--gated`: the metric compared (ndcg, recall, map, hit_rate, precision).
    #[arg(long, requires = "gated", value_parser = parse_gate_metric)]
    pub gate_metric: Option<GateMetric>,
    /// With `--gated`: the relative gain needed (0.02 = 2 % better).
    #[arg(long, requires = "gated")]
    pub min_gain: Option<f64>,
    /// With `--gated`: least catalog coverage on the holdout.
    #[arg(long, requires = "gated")]
    pub min_coverage: Option<f64>,
    /// With `--gated`: largest share of holdout users left to the popularity fallback.
    #[arg(long, requires = "gated")]
    pub max_fallback_share: Option<f64>,
    /// With `--gated`: largest share of holdout users with an empty answer.
    #[arg(long, requires = "gated")]
    pub max_empty_share: Option<f64>,
    /// With `--gated`: slowest p99 time to score one holdout user, ms.
    #[arg(long, requires = "gated")]
    pub max_score_ms_p99: Option<f64>,
    /// Print the registered version as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn parse_event_weights(s: &str) -> std::result::Result<EventWeights, String> {
    let mut w = EventWeights::default();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}`: expected TYPE=WEIGHT"))?;
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("`{pair}`: the weight is not a number"))?;
        let slot = match name.trim() {
            "view" => &mut w.view,
            "click" => &mut w.click,
            "add_to_cart" => &mut w.add_to_cart,
            "purchase" => &mut w.purchase,
            other => {
                return Err(format!(
                    "`{other}`: one of view, click, add_to_cart, purchase"
                ));
            }
        };
        *slot = value;
    }
    w.validate().map_err(|e| e.to_string())?;
    Ok(w)
}

fn parse_gate_metric(s: &str) -> std::result::Result<GateMetric, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("`{s}`: one of ndcg, recall, map, hit_rate, precision"))
}

impl RecommenderArgs {
    pub fn params(&self) -> TrainParams {
        let d = TrainParams::default();
        // Every field is named (no `..d`): a parameter added without a flag does not compile.
        TrainParams {
            model: self.model,
            factors: self.factors.unwrap_or(d.factors),
            iterations: self.iterations.unwrap_or(d.iterations),
            regularization: self.regularization.unwrap_or(d.regularization),
            alpha: self.alpha.unwrap_or(d.alpha),
            k: self.k.unwrap_or(d.k),
            neighbours: self.neighbours.unwrap_or(d.neighbours),
            lambda: self.lambda.unwrap_or(d.lambda),
            max_items: self.max_items.unwrap_or(d.max_items),
            holdout_days: self.holdout_days.unwrap_or(d.holdout_days),
            test_per_user: self.test_per_user,
            tune_trials: self.tune,
            half_life_days: self.half_life_days,
            event_weights: self.event_weights.unwrap_or(d.event_weights),
            history_half_life: self.history_half_life,
            transition_window: self.transition_window.unwrap_or(d.transition_window),
            trending_half_life_days: self
                .trending_half_life_days
                .unwrap_or(d.trending_half_life_days),
            bm25: self.bm25,
            seed: self.seed.unwrap_or(d.seed),
            item_features: match (&self.item_features, self.no_features) {
                (_, true) => Vec::new(),
                (Some(f), _) => f.clone(),
                (None, _) => d.item_features.clone(),
            },
            user_feature: match (&self.user_feature, self.no_features) {
                (_, true) => None,
                (Some(f), _) => Some(f.clone()),
                (None, _) => d.user_feature.clone(),
            },
            gate: self.gated.then(|| {
                let g = Gate::default();
                Gate {
                    metric: self.gate_metric.unwrap_or(g.metric),
                    min_gain: self.min_gain.unwrap_or(g.min_gain),
                    min_coverage: self.min_coverage.unwrap_or(g.min_coverage),
                    max_fallback_share: self.max_fallback_share.unwrap_or(g.max_fallback_share),
                    max_empty_share: self.max_empty_share.unwrap_or(g.max_empty_share),
                    max_score_ms_p99: self.max_score_ms_p99.or(g.max_score_ms_p99),
                    ..g
                }
            }),
        }
    }
}

/// The evaluation table: one row per metric, the model next to the popularity baseline.
pub fn metrics_table(name: &str, m: &Metrics, baseline: &Metrics) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "metric".to_string(),
        name.to_string(),
        "popularity".to_string(),
    ]);
    let k = m.k;
    let with_ci = |v: f64, ci: [f64; 2]| format!("{v:.4} [{:.4}, {:.4}]", ci[0], ci[1]);
    let accuracy = |m: &Metrics| {
        let c = m.ci95;
        [
            ("precision", m.precision, c.precision),
            ("recall", m.recall, c.recall),
            ("ndcg", m.ndcg, c.ndcg),
            ("map", m.map, c.map),
            ("hit_rate", m.hit_rate, c.hit_rate),
        ]
    };
    for ((label, a, a_ci), (_, b, b_ci)) in accuracy(m).into_iter().zip(accuracy(baseline)) {
        t.add_row(vec![
            format!("{label}@{k}"),
            with_ci(a, a_ci),
            with_ci(b, b_ci),
        ]);
    }
    let beyond = [
        ("coverage", m.coverage, baseline.coverage),
        ("novelty (bits)", m.novelty, baseline.novelty),
        ("diversity", m.diversity, baseline.diversity),
        (
            "long-tail share",
            m.long_tail_share,
            baseline.long_tail_share,
        ),
        (
            "popularity bias",
            m.popularity_bias,
            baseline.popularity_bias,
        ),
    ];
    for (label, a, b) in beyond {
        t.add_row(vec![
            label.to_string(),
            format!("{a:.4}"),
            format!("{b:.4}"),
        ]);
    }
    let users = |m: &Metrics| {
        if m.meaningful() {
            m.users.to_string()
        } else {
            format!("{} (under {MIN_MEANINGFUL_USERS}: not meaningful)", m.users)
        }
    };
    t.add_row(vec![
        "users evaluated".to_string(),
        users(m),
        users(baseline),
    ]);
    t
}

/// The hyperparameter search: every trial's settings and validation figures, the winner
/// marked.
fn tuning_table(t: &crate::recommend::tune::Search) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "trial",
        "settings",
        "validation ndcg",
        "recall",
        "users",
    ]);
    for (i, trial) in t.trials.iter().enumerate() {
        let mark = if i == t.best { " (best)" } else { "" };
        table.add_row(vec![
            format!("{}{mark}", i + 1),
            trial.params.to_string(),
            format!("{:.4}", trial.ndcg),
            format!("{:.4}", trial.recall),
            trial.users.to_string(),
        ]);
    }
    table
}

/// The hybrid's blends and the feature signals behind them.
fn print_hybrid(h: &train::HybridReport) {
    let show = |b: &crate::recommend::hybrid::Blend| {
        format!(
            "collaborative {:.2}, content {:.2}, item prior {:.2}, what comes next {:.2}",
            b.cf, b.content, b.prior, b.next
        )
    };
    match &h.blends {
        Some(t) => {
            println!("blend, all users:         {}", show(&t.overall));
            println!("blend, less active users: {}", show(&t.light));
            println!("blend, active users:      {}", show(&t.active));
        }
        None => println!("blend: not tuned (no validation users); equal collaborative and content"),
    }
    if let Some(t) = h.activity_threshold {
        println!("active users: more than {t} on the user feature");
    }
    if let Some(p) = &h.item_prior {
        let weights: Vec<String> = p
            .features
            .iter()
            .zip(&p.coefficients)
            .map(|(f, c)| format!("{f} {c:+.3}"))
            .collect();
        println!(
            "item prior (standardized log features): {}",
            weights.join(", ")
        );
    }
    for note in &h.notes {
        println!("note: {note}");
    }
}

pub async fn run(settings: Settings, command: TrainCommand) -> Result<()> {
    let args = match command {
        TrainCommand::Recommender(args) => args,
        TrainCommand::Forecaster(args) => return super::train_forecast::run(settings, *args).await,
    };
    let params = args.params();
    params.validate()?;
    let app = crate::service::open_existing(settings).await?;
    let bar = std::sync::Arc::new(Bar::new("recommender"));
    let report = train::run(&app, &params, bar.clone()).await;
    bar.finish();
    let report = report?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.version).unwrap_or_default()
        );
    } else {
        println!(
            "{}",
            metrics_table(params.model.as_str(), &report.metrics, &report.baseline)
        );
        if let Some(t) = &report.tuning {
            println!("{}", tuning_table(t));
        }
        if let Some(h) = &report.hybrid {
            print_hybrid(h);
        }
        println!(
            "registered {} version {} ({} users, {} items, {} events) as {}",
            train::REGISTRY_KIND,
            report.version.id,
            report.users,
            report.items,
            report.events,
            report.version.status
        );
        match &report.gate {
            Some(d) => println!(
                "gate: {} ({})",
                if d.promoted { "promoted" } else { "refused" },
                d.reason
            ),
            None => println!("promote with `recast models promote {}`", report.version.id),
        }
    }
    app.db.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_weights_parse_by_name_and_keep_the_rest() {
        let w = parse_event_weights("purchase=16, view=0.5").unwrap();
        let d = EventWeights::default();
        assert_eq!((w.view, w.click, w.purchase), (0.5, d.click, 16.0));
        assert!(
            parse_event_weights("wishlist=2")
                .unwrap_err()
                .contains("wishlist")
        );
        assert!(
            parse_event_weights("view")
                .unwrap_err()
                .contains("TYPE=WEIGHT")
        );
        assert!(
            parse_event_weights("view=-1")
                .unwrap_err()
                .contains("event_weights")
        );
    }
}
