//! Experiment definitions, their validation and their life cycle (draft → running → stopped).
//!
//! Why the rules: weights must sum to 1 and a running experiment cannot be edited because
//! assignment is a pure function of the definition: changing weights, variants or salt while
//! it runs would move users between arms and mix two experiments in one readout. A stopped
//! experiment stays stopped for the same reason (start a new one). Experiments in one layer
//! are mutually exclusive by allowing one running experiment per layer; experiments in
//! different layers hash with different salts and so split users independently.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ExperimentError;
use crate::db::experiments::{self as repo, ExperimentRow};
use crate::db::{Db, now_ms};
use crate::registry::ModelRegistry;

/// The metrics a readout reports; all are "higher is better".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ExperimentMetric)]
pub enum Metric {
    /// Clicks per exposure (delta method over users).
    Ctr,
    /// Share of exposed users with at least one purchase.
    ConversionRate,
    /// Purchase revenue per exposed user (CUPED-adjusted when a pre-period is set).
    RevenuePerUser,
    /// Revenue per purchase (delta method over users).
    AverageOrderValue,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::Ctr,
        Metric::ConversionRate,
        Metric::RevenuePerUser,
        Metric::AverageOrderValue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Ctr => "ctr",
            Metric::ConversionRate => "conversion_rate",
            Metric::RevenuePerUser => "revenue_per_user",
            Metric::AverageOrderValue => "average_order_value",
        }
    }
}

/// One arm: the model version it serves (none: the promoted version) and serving settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ExperimentVariant)]
pub struct Variant {
    /// Unique within the experiment, e.g. `control`, `als-v2`; 1 to 64 characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub name: String,
    /// Share of covered traffic, in (0, 1]; the weights of an experiment sum to 1.
    pub weight: f64,
    /// A recommender model version id; absent: whatever version is promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub model_version: Option<String>,
    /// Serving configuration: diversity 0 to 1 replacing the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity: Option<f32>,
}

fn default_layer() -> String {
    "default".into()
}
fn default_coverage() -> f64 {
    1.0
}
fn default_primary() -> Metric {
    Metric::RevenuePerUser
}
fn default_attribution() -> f64 {
    24.0
}
fn default_pre_period() -> f64 {
    14.0
}
fn default_alpha() -> f64 {
    0.05
}
fn default_true() -> bool {
    true
}

/// What a caller submits to create or edit an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Unique, 1 to 100 characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub name: String,
    #[serde(default)]
    pub hypothesis: String,
    /// Experiments in one layer are mutually exclusive (one runs at a time).
    #[serde(default = "default_layer")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub layer: String,
    /// Hash salt; defaults to the experiment id. Same salt, same split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub salt: Option<String>,
    /// Share of users in the experiment, in (0, 1]; the rest are held out and served the
    /// default (promoted) model.
    #[serde(default = "default_coverage")]
    #[schema(exclusive_minimum = 0, maximum = 1)]
    pub coverage: f64,
    /// 2 to 10 arms.
    #[schema(min_items = 2, max_items = 10)]
    pub variants: Vec<Variant>,
    /// The arm the others are compared with (default: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    #[serde(default = "default_primary")]
    pub primary_metric: Metric,
    /// Metrics that must not get significantly worse.
    #[serde(default)]
    pub guardrails: Vec<Metric>,
    /// Events by an exposed user up to this many hours after their last exposure count
    /// (events citing one of their recommendation ids always count). 0 < h <= 720.
    #[serde(default = "default_attribution")]
    #[schema(exclusive_minimum = 0, maximum = 720)]
    pub attribution_hours: f64,
    /// Days before the start whose revenue is the CUPED covariate (0 turns CUPED off).
    #[serde(default = "default_pre_period")]
    #[schema(minimum = 0)]
    pub pre_period_days: f64,
    /// Significance level, 0.001 to 0.2.
    #[serde(default = "default_alpha")]
    #[schema(minimum = 0.001, maximum = 0.2)]
    pub alpha: f64,
    /// Decide with always-valid (sequential) p-values, safe to look at any time (default
    /// true); false uses fixed-horizon p-values, valid only at the planned end.
    #[serde(default = "default_true")]
    pub sequential: bool,
}

/// Lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ExperimentStatus)]
pub enum Status {
    Draft,
    Running,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }

    fn parse(s: &str) -> Result<Status, ExperimentError> {
        match s {
            "draft" => Ok(Status::Draft),
            "running" => Ok(Status::Running),
            "stopped" => Ok(Status::Stopped),
            other => Err(ExperimentError::Db(crate::db::DbError::Corrupt(format!(
                "experiment status `{other}`"
            )))),
        }
    }
}

/// A stored experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    pub id: String,
    pub status: Status,
    /// The effective salt (the spec's, else the id).
    pub salt: String,
    pub spec: ExperimentSpec,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub stopped_at: Option<i64>,
}

impl Experiment {
    pub fn weights(&self) -> Vec<f64> {
        self.spec.variants.iter().map(|v| v.weight).collect()
    }

    /// Index of the control arm.
    pub fn control_index(&self) -> usize {
        self.spec
            .control
            .as_ref()
            .and_then(|c| self.spec.variants.iter().position(|v| &v.name == c))
            .unwrap_or(0)
    }

    /// The arm a user is in, or None when held out.
    pub fn assign(&self, user_id: &str) -> Option<usize> {
        super::assignment::assign(&self.salt, user_id, &self.weights(), self.spec.coverage)
    }

    fn from_row(row: ExperimentRow) -> Result<Experiment, ExperimentError> {
        let spec: ExperimentSpec = serde_json::from_str(&row.definition).map_err(|e| {
            ExperimentError::Db(crate::db::DbError::Corrupt(format!(
                "experiment {} definition: {e}",
                row.id
            )))
        })?;
        Ok(Experiment {
            salt: spec.salt.clone().unwrap_or_else(|| row.id.clone()),
            status: Status::parse(&row.status)?,
            id: row.id,
            spec,
            created_at: row.created_at,
            updated_at: row.updated_at,
            started_at: row.started_at,
            stopped_at: row.stopped_at,
        })
    }
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), ExperimentError> {
    if s.trim().is_empty() || s.chars().count() > max {
        return Err(ExperimentError::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(())
}

/// Checks a spec on its own (model versions are checked against the registry separately).
pub fn validate(spec: &ExperimentSpec) -> Result<(), ExperimentError> {
    check_text("name", &spec.name, 100)?;
    if spec.hypothesis.chars().count() > 2000 {
        return Err(ExperimentError::invalid(
            "hypothesis",
            "must be at most 2000 characters",
        ));
    }
    check_text("layer", &spec.layer, 64)?;
    if let Some(salt) = &spec.salt {
        check_text("salt", salt, 128)?;
    }
    if !(spec.coverage > 0.0 && spec.coverage <= 1.0) {
        return Err(ExperimentError::invalid(
            "coverage",
            "must be greater than 0 and at most 1",
        ));
    }
    if !(2..=10).contains(&spec.variants.len()) {
        return Err(ExperimentError::invalid(
            "variants",
            "an experiment has 2 to 10 variants",
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (i, v) in spec.variants.iter().enumerate() {
        check_text(&format!("variants[{i}].name"), &v.name, 64)?;
        if !names.insert(v.name.as_str()) {
            return Err(ExperimentError::invalid(
                format!("variants[{i}].name"),
                format!("duplicate variant name `{}`", v.name),
            ));
        }
        if !(v.weight.is_finite() && v.weight > 0.0 && v.weight <= 1.0) {
            return Err(ExperimentError::invalid(
                format!("variants[{i}].weight"),
                "must be greater than 0 and at most 1",
            ));
        }
        if let Some(d) = v.diversity
            && !(0.0..=1.0).contains(&d)
        {
            return Err(ExperimentError::invalid(
                format!("variants[{i}].diversity"),
                "must be between 0 and 1",
            ));
        }
        if let Some(m) = &v.model_version {
            check_text(&format!("variants[{i}].model_version"), m, 64)?;
        }
    }
    let total: f64 = spec.variants.iter().map(|v| v.weight).sum();
    if (total - 1.0).abs() > 1e-6 {
        return Err(ExperimentError::invalid(
            "variants",
            format!("weights must sum to 1 (they sum to {total})"),
        ));
    }
    if let Some(c) = &spec.control
        && !names.contains(c.as_str())
    {
        return Err(ExperimentError::invalid(
            "control",
            format!("no variant is named `{c}`"),
        ));
    }
    if spec.guardrails.contains(&spec.primary_metric) {
        return Err(ExperimentError::invalid(
            "guardrails",
            "the primary metric cannot also be a guardrail",
        ));
    }
    if !(spec.attribution_hours > 0.0 && spec.attribution_hours <= 720.0) {
        return Err(ExperimentError::invalid(
            "attribution_hours",
            "must be greater than 0 and at most 720",
        ));
    }
    if !(0.0..=365.0).contains(&spec.pre_period_days) {
        return Err(ExperimentError::invalid(
            "pre_period_days",
            "must be between 0 and 365",
        ));
    }
    if !(0.001..=0.2).contains(&spec.alpha) {
        return Err(ExperimentError::invalid(
            "alpha",
            "must be between 0.001 and 0.2",
        ));
    }
    Ok(())
}

/// Experiments in the metadata DB, with model versions checked against the registry.
#[derive(Clone)]
pub struct ExperimentStore {
    db: Db,
    registry: ModelRegistry,
}

impl ExperimentStore {
    pub fn new(db: Db, registry: ModelRegistry) -> ExperimentStore {
        ExperimentStore { db, registry }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn check_versions(&self, spec: &ExperimentSpec) -> Result<(), ExperimentError> {
        for (i, v) in spec.variants.iter().enumerate() {
            let Some(id) = &v.model_version else { continue };
            let field = format!("variants[{i}].model_version");
            match self.registry.get(id).await {
                Ok(version) if version.kind == crate::recommend::train::REGISTRY_KIND.as_str() => {}
                Ok(version) => {
                    return Err(ExperimentError::invalid(
                        field,
                        format!(
                            "version `{id}` is a {} model, not a recommender",
                            version.kind
                        ),
                    ));
                }
                Err(crate::registry::RegistryError::NotFound(_)) => {
                    return Err(ExperimentError::invalid(
                        field,
                        format!("no model version `{id}`"),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn name_taken(e: crate::db::DbError, name: &str) -> ExperimentError {
        if e.is_unique_violation() {
            ExperimentError::Conflict(format!("an experiment named `{name}` exists"))
        } else {
            e.into()
        }
    }

    /// Creates a draft.
    pub async fn create(&self, spec: ExperimentSpec) -> Result<Experiment, ExperimentError> {
        validate(&spec)?;
        self.check_versions(&spec).await?;
        let now = now_ms();
        let row = ExperimentRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: spec.name.clone(),
            layer: spec.layer.clone(),
            status: Status::Draft.as_str().into(),
            definition: serde_json::to_string(&spec).expect("spec serializes"),
            created_at: now,
            updated_at: now,
            started_at: None,
            stopped_at: None,
        };
        repo::insert(&self.db, &row)
            .await
            .map_err(|e| Self::name_taken(e, &spec.name))?;
        Experiment::from_row(row)
    }

    pub async fn get(&self, id: &str) -> Result<Experiment, ExperimentError> {
        let row = repo::get(&self.db, id)
            .await?
            .ok_or_else(|| ExperimentError::NotFound(id.into()))?;
        Experiment::from_row(row)
    }

    pub async fn list(&self, status: Option<Status>) -> Result<Vec<Experiment>, ExperimentError> {
        repo::list(&self.db, status.map(Status::as_str))
            .await?
            .into_iter()
            .map(Experiment::from_row)
            .collect()
    }

    /// Running experiments, oldest start first.
    pub async fn running(&self) -> Result<Vec<Experiment>, ExperimentError> {
        repo::running(&self.db)
            .await?
            .into_iter()
            .map(Experiment::from_row)
            .collect()
    }

    fn not_in(e: &Experiment, wanted: Status, action: &str) -> ExperimentError {
        ExperimentError::Conflict(format!(
            "experiment `{}` is {} and cannot be {action} (only a {} one can)",
            e.id,
            e.status.as_str(),
            wanted.as_str()
        ))
    }

    /// Replaces a draft's definition; running and stopped experiments cannot be edited.
    pub async fn update(
        &self,
        id: &str,
        spec: ExperimentSpec,
    ) -> Result<Experiment, ExperimentError> {
        let current = self.get(id).await?;
        if current.status != Status::Draft {
            return Err(Self::not_in(&current, Status::Draft, "edited"));
        }
        validate(&spec)?;
        self.check_versions(&spec).await?;
        let definition = serde_json::to_string(&spec).expect("spec serializes");
        let done = repo::update_draft(&self.db, id, &spec.name, &spec.layer, &definition, now_ms())
            .await
            .map_err(|e| Self::name_taken(e, &spec.name))?;
        let after = self.get(id).await?;
        if !done {
            return Err(Self::not_in(&after, Status::Draft, "edited"));
        }
        Ok(after)
    }

    /// Starts a draft; refused while another experiment of its layer runs.
    pub async fn start(&self, id: &str) -> Result<Experiment, ExperimentError> {
        let current = self.get(id).await?;
        if current.status != Status::Draft {
            return Err(Self::not_in(&current, Status::Draft, "started"));
        }
        // The versions may have been deleted since the draft was written.
        self.check_versions(&current.spec).await?;
        let layer_busy = |other: Option<&Experiment>| {
            ExperimentError::Conflict(match other {
                Some(o) => format!(
                    "layer `{}` already has a running experiment (`{}`, {}); stop it first",
                    current.spec.layer, o.spec.name, o.id
                ),
                None => format!(
                    "layer `{}` already has a running experiment",
                    current.spec.layer
                ),
            })
        };
        let running = self.running().await?;
        if let Some(other) = running.iter().find(|e| e.spec.layer == current.spec.layer) {
            return Err(layer_busy(Some(other)));
        }
        match repo::transition(&self.db, id, "draft", "running", now_ms()).await {
            Ok(true) => self.get(id).await,
            Ok(false) => Err(Self::not_in(&self.get(id).await?, Status::Draft, "started")),
            // Another replica started one in the same layer between the check and here.
            Err(e) if e.is_unique_violation() => Err(layer_busy(None)),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops a running experiment (final: a stopped experiment does not restart).
    pub async fn stop(&self, id: &str) -> Result<Experiment, ExperimentError> {
        if repo::transition(&self.db, id, "running", "stopped", now_ms()).await? {
            return self.get(id).await;
        }
        let current = self.get(id).await?;
        Err(Self::not_in(&current, Status::Running, "stopped"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ExperimentSpec {
        serde_json::from_value(serde_json::json!({
            "name": "als-vs-knn",
            "variants": [{"name": "control", "weight": 0.5}, {"name": "b", "weight": 0.5}]
        }))
        .unwrap()
    }

    fn field_of(e: ExperimentError) -> String {
        match e {
            ExperimentError::Invalid { field, .. } => field,
            other => panic!("expected invalid, got {other}"),
        }
    }

    #[test]
    fn defaults_and_validation_name_the_field() {
        let s = spec();
        assert_eq!(s.layer, "default");
        assert_eq!(s.coverage, 1.0);
        assert_eq!(s.primary_metric, Metric::RevenuePerUser);
        assert!(s.sequential);
        validate(&s).unwrap();
        let mut bad = spec();
        bad.variants[1].weight = 0.6;
        assert_eq!(field_of(validate(&bad).unwrap_err()), "variants");
        let mut bad = spec();
        bad.coverage = 0.0;
        assert_eq!(field_of(validate(&bad).unwrap_err()), "coverage");
        let mut bad = spec();
        bad.variants[1].name = "control".into();
        assert_eq!(field_of(validate(&bad).unwrap_err()), "variants[1].name");
        let mut bad = spec();
        bad.variants.truncate(1);
        bad.variants[0].weight = 1.0;
        assert_eq!(field_of(validate(&bad).unwrap_err()), "variants");
        let mut bad = spec();
        bad.control = Some("nope".into());
        assert_eq!(field_of(validate(&bad).unwrap_err()), "control");
        let mut bad = spec();
        bad.guardrails = vec![Metric::RevenuePerUser];
        assert_eq!(field_of(validate(&bad).unwrap_err()), "guardrails");
        let mut bad = spec();
        bad.variants[0].diversity = Some(1.5);
        assert_eq!(
            field_of(validate(&bad).unwrap_err()),
            "variants[0].diversity"
        );
    }
}
