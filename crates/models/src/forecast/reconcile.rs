//! Forecast reconciliation: making forecasts of a hierarchy add up.
//!
//! Why: demand is forecast at several levels at once — each item in each store (the bottom
//! series), and their totals by item, by store, by category and overall. Each level is
//! forecast on its own, so the store total's forecast is not the sum of that store's item
//! forecasts, and a planner reading two screens sees two different numbers for the same
//! thing. Reconciliation replaces all the base forecasts by a coherent set: every aggregate
//! equals the sum of the bottom series under it. Every method here produces coherent
//! forecasts by construction — it picks bottom-level forecasts and maps them up through the
//! summing matrix `S` — and they differ in how they pick them.
//!
//! Which method when:
//! - [`Reconciliation::BottomUp`]: keeps the bottom forecasts and sums them. Right when the
//!   bottom series are well forecast (regular sellers) and the aggregates add nothing; the
//!   noisy-bottom case (slow items) makes its totals noisy too.
//! - [`Reconciliation::TopDown`]: forecasts the grand total and splits it by historical
//!   proportions (the average of each period's shares, or the share of the averages). Right
//!   when the bottom series are too sparse to forecast but their mix is stable; it cannot
//!   follow a change in the mix, and needs a node that sums every bottom series.
//! - [`Reconciliation::MinTrace`]: the minimum-trace (MinT) projection of Wickramasuriya,
//!   Athanasopoulos & Hyndman (2019), which uses every level's forecast and weighs each by
//!   an estimate `W` of the base forecast errors' covariance: `Ols` (identity), `WlsStruct`
//!   (each node's number of bottom series), `WlsVar` (each node's in-sample one-step
//!   residual variance) or `MinTShrink` (the residual covariance shrunk towards its diagonal
//!   with the Schäfer–Strimmer intensity). `MinTShrink` is usually the most accurate when
//!   there are enough residuals; `WlsStruct` needs none and is a safe default.
//!
//! MinT is computed in its projection form: with `U' = [I | -S_agg]` (one row per aggregate:
//! the aggregate minus the sum of its bottoms), the reconciled forecasts are
//! `ŷ - W U (U' W U)⁻¹ U' ŷ`, whose bottom rows are then mapped up through `S`. This needs only
//! a solve with the `n_aggregates`-square matrix `U' W U` and no inverse of `W` itself, so a
//! node whose residuals are all zero (a dead item forecast as zero) is simply kept as it is.
//! A full covariance that is not positive definite (fewer periods than series with little
//! shrinkage, or a series with zero residuals) is replaced by its diagonal, and a singular
//! `U' W U` by the structural weights, each time with a note in [`Reconciled::notes`].
//!
//! Cost: with a diagonal `W` (`Ols`, `WlsStruct`, `WlsVar`) only `U' W U` is dense, built from
//! each bottom series' aggregates, so a grid of thousands of item × store series with a few
//! hundred totals is cheap. `MinTShrink` holds the full n_total² covariance and costs
//! O(n_total²·T) to estimate: it suits hierarchies of up to a few thousand nodes.
//!
//! Node order is stable: the aggregates in the order given, then the bottom series in the
//! order given (the bottom block of `S` is the identity). Every matrix here is a `Vec` of rows,
//! one row per node (or per bottom series) and one column per period or horizon step.

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

use super::ForecastError;
use super::error::check_finite;
use crate::numeric::linalg::dot;

/// Relative tolerance of [`Hierarchy::is_coherent`] used by callers that just want a yes/no.
pub const COHERENCE_TOLERANCE: f64 = 1e-9;

/// Maps a bottom key to the aggregate it belongs to in one grouping (`None`: in none).
pub type Grouping<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Bottom series and aggregate nodes, each aggregate being the set of bottom series it sums.
/// Built only through [`Hierarchy::new`] (or [`Hierarchy::from_groupings`]), which validates
/// it; it serialises for description but does not deserialise unchecked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hierarchy {
    /// Node ids: aggregates first (in the order given), then the bottom series.
    ids: Vec<String>,
    /// For each aggregate, the sorted indices of the bottom series it sums.
    members: Vec<Vec<usize>>,
    n_bottom: usize,
}

impl Hierarchy {
    /// A hierarchy over the `bottom` series with the given aggregates, each an id and the
    /// indices (into `bottom`) of the series it sums. Rejects an empty bottom level, an empty
    /// aggregate, an index out of range or repeated within an aggregate, and repeated ids.
    pub fn new(
        bottom: Vec<String>,
        aggregates: Vec<(String, Vec<usize>)>,
    ) -> Result<Hierarchy, ForecastError> {
        if bottom.is_empty() {
            return Err(invalid("a hierarchy needs at least one bottom series"));
        }
        let n_bottom = bottom.len();
        let mut members = Vec::with_capacity(aggregates.len());
        let mut ids = Vec::with_capacity(aggregates.len() + n_bottom);
        for (id, mut m) in aggregates {
            check_members(&id, &mut m, n_bottom)?;
            members.push(m);
            ids.push(id);
        }
        ids.extend(bottom);
        check_unique_ids(&ids)?;
        Ok(Hierarchy {
            ids,
            members,
            n_bottom,
        })
    }

    /// A hierarchy built from bottom keys and grouping functions: each function maps a bottom
    /// key to the id of the aggregate it belongs to (or `None` for none), and `total`, when
    /// given, names a grand total over everything. Aggregates come in the order: the total,
    /// then each grouping's groups in order of first appearance among the bottom keys.
    pub fn from_groupings(
        bottom: Vec<String>,
        total: Option<&str>,
        groupings: &[Grouping<'_>],
    ) -> Result<Hierarchy, ForecastError> {
        let mut aggregates: Vec<(String, Vec<usize>)> = Vec::new();
        if let Some(total) = total {
            aggregates.push((total.to_string(), (0..bottom.len()).collect()));
        }
        for group_of in groupings {
            let start = aggregates.len();
            for (j, key) in bottom.iter().enumerate() {
                let Some(group) = group_of(key) else { continue };
                match aggregates[start..].iter_mut().find(|(id, _)| *id == group) {
                    Some((_, m)) => m.push(j),
                    None => aggregates.push((group, vec![j])),
                }
            }
        }
        Hierarchy::new(bottom, aggregates)
    }

    /// Every node's id: aggregates first, then the bottom series.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of nodes (rows of `S`).
    pub fn n_total(&self) -> usize {
        self.ids.len()
    }

    /// Number of bottom series (columns of `S`).
    pub fn n_bottom(&self) -> usize {
        self.n_bottom
    }

    /// Number of aggregate nodes (the first rows of `S`).
    pub fn n_aggregates(&self) -> usize {
        self.members.len()
    }

    /// The bottom series summed by node `node` (itself for a bottom node). Panics when
    /// `node` is not below [`Hierarchy::n_total`].
    pub fn members(&self, node: usize) -> Vec<usize> {
        assert!(node < self.n_total(), "node {node} out of range");
        match self.members.get(node) {
            Some(m) => m.clone(),
            None => vec![node - self.n_aggregates()],
        }
    }

    /// The summing matrix `S` (n_total × n_bottom) as rows of 0/1.
    pub fn summing_matrix(&self) -> Vec<Vec<f64>> {
        (0..self.n_total())
            .map(|node| {
                let mut row = vec![0.0; self.n_bottom];
                for j in self.members(node) {
                    row[j] = 1.0;
                }
                row
            })
            .collect()
    }

    /// The first node that sums every bottom series (the grand total), if there is one.
    pub fn total_node(&self) -> Option<usize> {
        self.members.iter().position(|m| m.len() == self.n_bottom)
    }

    /// Maps bottom-level rows (n_bottom × h) up through `S`: every node's row, aggregates
    /// the sums of their bottoms. Works for any bottom matrix (forecasts, samples, bounds of
    /// a bottom-up interval...).
    pub fn aggregate_up(&self, bottom: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, ForecastError> {
        let h = check_rows("bottom rows", bottom, self.n_bottom)?;
        Ok(self.sum_up(bottom, h))
    }

    /// Whether `all` (n_total × h) adds up: each aggregate within `rel` (relative to the
    /// larger of its magnitude and 1) of the sum of its bottoms.
    pub fn is_coherent(&self, all: &[Vec<f64>], rel: f64) -> bool {
        if all.len() != self.n_total() {
            return false;
        }
        let na = self.n_aggregates();
        self.members.iter().zip(all).all(|(m, row)| {
            row.iter().enumerate().all(|(t, &v)| {
                let sum: f64 = m.iter().map(|&j| all[na + j][t]).sum();
                (v - sum).abs() <= rel * v.abs().max(sum.abs()).max(1.0)
            })
        })
    }

    fn sum_up(&self, bottom: &[Vec<f64>], h: usize) -> Vec<Vec<f64>> {
        let mut out: Vec<Vec<f64>> = self
            .members
            .iter()
            .map(|m| {
                (0..h)
                    .map(|t| m.iter().map(|&j| bottom[j][t]).sum())
                    .collect()
            })
            .collect();
        out.extend(bottom.iter().cloned());
        out
    }

    /// For each bottom series, the aggregates that contain it.
    fn parents(&self) -> Vec<Vec<usize>> {
        let mut up = vec![Vec::new(); self.n_bottom];
        for (k, m) in self.members.iter().enumerate() {
            for &j in m {
                up[j].push(k);
            }
        }
        up
    }

    /// The bottom rows of a node-level matrix.
    fn bottom_rows<'a>(&self, all: &'a [Vec<f64>]) -> &'a [Vec<f64>] {
        &all[self.n_aggregates()..]
    }
}

/// How a top-down method turns history into each bottom series' share of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proportions {
    /// The mean over periods of each period's share `y_j,t / total_t` (Gross–Sohl method A).
    AverageHistoricalProportions,
    /// The share of the means `mean(y_j) / mean(total)` (Gross–Sohl method F).
    ProportionsOfHistoricalAverages,
}

/// Which estimate of the base forecast errors' covariance `W` MinT uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinTraceCovariance {
    /// `W = I`: ordinary least squares projection.
    Ols,
    /// `W = diag(S·1)`: each node weighted by its number of bottom series.
    WlsStruct,
    /// `W = diag` of the in-sample one-step residuals' mean squares.
    WlsVar,
    /// The residual covariance shrunk towards its diagonal (Schäfer–Strimmer intensity).
    #[serde(rename = "mint_shrink")]
    MinTShrink,
}

/// A reconciliation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Reconciliation {
    BottomUp,
    TopDown { proportions: Proportions },
    MinTrace { covariance: MinTraceCovariance },
}

impl Reconciliation {
    /// Whether the method needs the history (actuals) of every node.
    pub fn needs_history(&self) -> bool {
        matches!(self, Reconciliation::TopDown { .. })
    }

    /// Whether the method needs every node's in-sample one-step residuals.
    pub fn needs_residuals(&self) -> bool {
        matches!(
            self,
            Reconciliation::MinTrace {
                covariance: MinTraceCovariance::WlsVar | MinTraceCovariance::MinTShrink
            }
        )
    }
}

/// In-sample data some methods need, each n_total × T (rows in node order).
#[derive(Debug, Clone, Copy, Default)]
pub struct Insample<'a> {
    /// Actuals of every node, for top-down proportions.
    pub history: Option<&'a [Vec<f64>]>,
    /// In-sample one-step residuals (actual minus fitted) of every node, for MinT's
    /// `WlsVar` and `MinTShrink`.
    pub residuals: Option<&'a [Vec<f64>]>,
}

/// Coherent forecasts for every node, and what was done to get them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconciled {
    /// n_total × h, node order as [`Hierarchy::ids`].
    pub forecasts: Vec<Vec<f64>>,
    /// The Schäfer–Strimmer shrinkage intensity, for `MinTShrink`.
    pub shrinkage: Option<f64>,
    /// Fallbacks taken (a covariance replaced by its diagonal, ...).
    pub notes: Vec<String>,
}

/// Reconciles the base forecasts `base` (n_total × h, node order) of `hierarchy` by `method`,
/// reading what it needs from `insample`.
pub fn reconcile(
    hierarchy: &Hierarchy,
    method: Reconciliation,
    base: &[Vec<f64>],
    insample: Insample<'_>,
) -> Result<Reconciled, ForecastError> {
    reconcile_keeping(hierarchy, method, base, insample, &[])
}

/// [`reconcile`], keeping the bottom steps marked in `certain` (n_bottom × h, or empty for
/// none) at their base forecasts and reconciling the rest around them.
///
/// Why: a shop's closed weekday is forecast as exactly 0 with a band of no width
/// ([`super::closed`]). Top-down would hand it a share of the total and MinT a part of the
/// incoherence, so the served forecast of a closed day would not be 0. Top-down splits
/// what the certain steps leave of the total among the other series by their renormalised
/// shares; MinT gives the certain steps zero error variance in `W`, the exact constrained
/// solution, solved once per pattern of certain series.
pub fn reconcile_keeping(
    hierarchy: &Hierarchy,
    method: Reconciliation,
    base: &[Vec<f64>],
    insample: Insample<'_>,
    certain: &[Vec<bool>],
) -> Result<Reconciled, ForecastError> {
    let h = check_rows("base forecasts", base, hierarchy.n_total())?;
    check_certain(certain, hierarchy.n_bottom(), h)?;
    let mut notes = Vec::new();
    let mut shrinkage = None;
    let bottom = match method {
        Reconciliation::BottomUp => hierarchy.bottom_rows(base).to_vec(),
        Reconciliation::TopDown { proportions } => {
            let history = required(insample.history, "history", "top-down")?;
            top_down(hierarchy, proportions, base, history, certain, &mut notes)?
        }
        Reconciliation::MinTrace { covariance } => {
            let weights = match covariance {
                MinTraceCovariance::Ols => Weights::Diagonal(vec![1.0; hierarchy.n_total()]),
                MinTraceCovariance::WlsStruct => structural(hierarchy),
                MinTraceCovariance::WlsVar => {
                    let r = required(insample.residuals, "residuals", "MinT wls_var")?;
                    check_residuals(hierarchy, r)?;
                    Weights::Diagonal(mean_squares(r))
                }
                MinTraceCovariance::MinTShrink => {
                    let r = required(insample.residuals, "residuals", "MinT mint_shrink")?;
                    check_residuals(hierarchy, r)?;
                    let (w, lambda) = shrunk_covariance(r);
                    shrinkage = Some(lambda);
                    Weights::Full(w)
                }
            };
            min_trace(hierarchy, weights, base, h, certain, &mut notes)
        }
    };
    Ok(Reconciled {
        forecasts: hierarchy.sum_up(&bottom, h),
        shrinkage,
        notes,
    })
}

fn invalid(msg: impl Into<String>) -> ForecastError {
    ForecastError::InvalidInput(msg.into())
}

fn check_members(id: &str, m: &mut [usize], n_bottom: usize) -> Result<(), ForecastError> {
    if m.is_empty() {
        return Err(invalid(format!("aggregate {id:?} sums no bottom series")));
    }
    if let Some(&j) = m.iter().find(|&&j| j >= n_bottom) {
        return Err(invalid(format!(
            "aggregate {id:?} names bottom series {j}, but there are {n_bottom}"
        )));
    }
    m.sort_unstable();
    if let Some(w) = m.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid(format!(
            "aggregate {id:?} names bottom series {} twice",
            w[0]
        )));
    }
    Ok(())
}

fn check_unique_ids(ids: &[String]) -> Result<(), ForecastError> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    match ids.iter().find(|id| !seen.insert(id.as_str())) {
        Some(id) => Err(invalid(format!("node id {id:?} is used twice"))),
        None => Ok(()),
    }
}

/// Checks `m` has `rows` rows of one common, non-zero length of finite values; returns it.
fn check_rows(what: &str, m: &[Vec<f64>], rows: usize) -> Result<usize, ForecastError> {
    if m.len() != rows {
        return Err(invalid(format!(
            "{what}: expected {rows} rows (one per node), got {}",
            m.len()
        )));
    }
    let cols = m.first().map_or(0, Vec::len);
    if cols == 0 {
        return Err(invalid(format!("{what}: rows are empty")));
    }
    for (i, row) in m.iter().enumerate() {
        if row.len() != cols {
            return Err(invalid(format!(
                "{what}: row {i} has {} columns, row 0 has {cols}",
                row.len()
            )));
        }
        check_finite(row).map_err(|e| invalid(format!("{what}: row {i}: {e}")))?;
    }
    Ok(cols)
}

/// `certain` is empty or n_bottom rows of `h` flags.
fn check_certain(certain: &[Vec<bool>], n_bottom: usize, h: usize) -> Result<(), ForecastError> {
    if certain.is_empty() {
        return Ok(());
    }
    if certain.len() != n_bottom {
        return Err(invalid(format!(
            "certain steps: expected {n_bottom} rows (one per bottom series), got {}",
            certain.len()
        )));
    }
    match certain.iter().position(|row| row.len() != h) {
        Some(j) => Err(invalid(format!(
            "certain steps: row {j} has {} columns, the forecasts {h}",
            certain[j].len()
        ))),
        None => Ok(()),
    }
}

/// Whether bottom `j`'s step `t` is certain.
fn is_certain(certain: &[Vec<bool>], j: usize, t: usize) -> bool {
    certain.get(j).is_some_and(|row| row[t])
}

fn required<'a>(
    m: Option<&'a [Vec<f64>]>,
    what: &str,
    method: &str,
) -> Result<&'a [Vec<f64>], ForecastError> {
    m.ok_or_else(|| {
        invalid(format!(
            "{method} reconciliation needs the {what} of every node"
        ))
    })
}

fn check_residuals(hierarchy: &Hierarchy, r: &[Vec<f64>]) -> Result<(), ForecastError> {
    let t = check_rows("residuals", r, hierarchy.n_total())?;
    if t < 2 {
        return Err(ForecastError::TooShort {
            model: "MinT residual covariance".into(),
            needed: 2,
            got: t,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Top-down

fn top_down(
    hierarchy: &Hierarchy,
    kind: Proportions,
    base: &[Vec<f64>],
    history: &[Vec<f64>],
    certain: &[Vec<bool>],
    notes: &mut Vec<String>,
) -> Result<Vec<Vec<f64>>, ForecastError> {
    check_rows("history", history, hierarchy.n_total())?;
    let top = hierarchy.total_node().ok_or_else(|| {
        invalid("top-down reconciliation needs an aggregate that sums every bottom series")
    })?;
    let p = proportions(hierarchy, kind, &history[top], history, notes)?;
    let bottom = hierarchy.bottom_rows(base);
    let mut out: Vec<Vec<f64>> = p
        .iter()
        .map(|&pj| base[top].iter().map(|&v| pj * v).collect())
        .collect();
    for t in 0..base[top].len() {
        let kept = |j: usize| is_certain(certain, j, t);
        if !(0..p.len()).any(kept) {
            continue;
        }
        let fixed: f64 = (0..p.len())
            .filter(|&j| kept(j))
            .map(|j| bottom[j][t])
            .sum();
        let open: f64 = (0..p.len()).filter(|&j| !kept(j)).map(|j| p[j]).sum();
        let rest = base[top][t] - fixed;
        for (j, row) in out.iter_mut().enumerate() {
            row[t] = if kept(j) {
                bottom[j][t]
            } else if open > 0.0 {
                p[j] / open * rest
            } else {
                p[j] * rest
            };
        }
    }
    Ok(out)
}

/// Each bottom series' share of the total `total` (a row of `history`).
fn proportions(
    hierarchy: &Hierarchy,
    kind: Proportions,
    total: &[f64],
    history: &[Vec<f64>],
    notes: &mut Vec<String>,
) -> Result<Vec<f64>, ForecastError> {
    let bottoms = hierarchy.bottom_rows(history);
    let t = total.len() as f64;
    match kind {
        Proportions::AverageHistoricalProportions => {
            // A period whose total is zero (every shop closed that day) has no shares.
            let open: Vec<usize> = (0..total.len()).filter(|&i| total[i] != 0.0).collect();
            if open.is_empty() {
                return Err(invalid(
                    "the total is zero in every period, so it has no shares",
                ));
            }
            if open.len() < total.len() {
                notes.push(format!(
                    "{} period(s) with a total of zero left out of the shares",
                    total.len() - open.len()
                ));
            }
            let n = open.len() as f64;
            Ok(bottoms
                .iter()
                .map(|y| open.iter().map(|&i| y[i] / total[i]).sum::<f64>() / n)
                .collect())
        }
        Proportions::ProportionsOfHistoricalAverages => {
            let mean_total = total.iter().sum::<f64>() / t;
            if mean_total == 0.0 {
                return Err(invalid("the total's historical mean is zero"));
            }
            Ok(bottoms
                .iter()
                .map(|y| y.iter().sum::<f64>() / t / mean_total)
                .collect())
        }
    }
}

// ---------------------------------------------------------------------------------------
// MinT

/// An estimate of the base forecast errors' covariance.
enum Weights {
    Diagonal(Vec<f64>),
    Full(Mat<f64>),
}

fn structural(hierarchy: &Hierarchy) -> Weights {
    Weights::Diagonal(
        (0..hierarchy.n_total())
            .map(|node| hierarchy.members(node).len() as f64)
            .collect(),
    )
}

/// Each row's mean square (uncentered, as MinT's variance scaling uses the residuals as errors).
fn mean_squares(r: &[Vec<f64>]) -> Vec<f64> {
    r.iter()
        .map(|row| row.iter().map(|v| v * v).sum::<f64>() / row.len() as f64)
        .collect()
}

/// The sample covariance of the residual rows shrunk towards its diagonal: `λ·D + (1−λ)·Σ̂`,
/// with the Schäfer–Strimmer (2005) intensity
/// `λ = Σ_{i≠j} Var̂(r_ij) / Σ_{i≠j} r_ij²` clipped to [0, 1], `r` the sample correlations.
/// A series with zero variance has no correlation and adds nothing to either sum.
fn shrunk_covariance(r: &[Vec<f64>]) -> (Mat<f64>, f64) {
    let n = r.len();
    let t = r[0].len();
    let tf = t as f64;
    let centred: Vec<Vec<f64>> = r
        .iter()
        .map(|row| {
            let mean = row.iter().sum::<f64>() / tf;
            row.iter().map(|v| v - mean).collect()
        })
        .collect();
    let cov = Mat::<f64>::from_fn(n, n, |i, j| dot(&centred[i], &centred[j]) / (tf - 1.0));
    let standardised: Vec<Option<Vec<f64>>> = centred
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let sd = cov[(i, i)].sqrt();
            (sd > 0.0).then(|| row.iter().map(|v| v / sd).collect())
        })
        .collect();
    let (mut var_sum, mut sq_sum) = (0.0, 0.0);
    for i in 0..n {
        for j in 0..i {
            if let (Some(xi), Some(xj)) = (&standardised[i], &standardised[j]) {
                let (var, corr) = correlation_and_variance(xi, xj);
                var_sum += var;
                sq_sum += corr * corr;
            }
        }
    }
    let lambda = if sq_sum > 0.0 {
        (var_sum / sq_sum).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let w = Mat::<f64>::from_fn(n, n, |i, j| {
        if i == j {
            cov[(i, j)]
        } else {
            (1.0 - lambda) * cov[(i, j)]
        }
    });
    (w, lambda)
}

/// For two standardised centred rows: the estimated variance of their sample correlation and
/// the correlation itself (Schäfer & Strimmer 2005, section 3.2: `w_k = x_k·y_k`,
/// `r = n/(n−1)·mean(w)`, `Var̂(r) = n/(n−1)³·Σ(w_k − mean(w))²`).
fn correlation_and_variance(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let w: Vec<f64> = x.iter().zip(y).map(|(a, b)| a * b).collect();
    let mean = w.iter().sum::<f64>() / n;
    let spread: f64 = w.iter().map(|v| (v - mean) * (v - mean)).sum();
    let var = n / (n - 1.0).powi(3) * spread;
    (var, n / (n - 1.0) * mean)
}

/// MinT's bottom-level forecasts with weights `w`, falling back (with a note) from a
/// non-positive-definite full covariance to its diagonal, and from a singular `U'WU` to the
/// structural weights. Certain bottom steps get zero weight: the steps are solved in groups
/// that share one pattern of certain series.
fn min_trace(
    hierarchy: &Hierarchy,
    weights: Weights,
    base: &[Vec<f64>],
    h: usize,
    certain: &[Vec<bool>],
    notes: &mut Vec<String>,
) -> Vec<Vec<f64>> {
    let weights = match weights {
        Weights::Full(w) if w.llt(Side::Lower).is_err() => {
            notes.push(
                "the residual covariance is not positive definite (too few periods for the \
                 number of series, or a series with constant residuals); used its diagonal"
                    .into(),
            );
            Weights::Diagonal((0..w.nrows()).map(|i| w[(i, i)]).collect())
        }
        w => w,
    };
    let mut out = hierarchy.bottom_rows(base).to_vec();
    let mut singular = false;
    let na = hierarchy.n_aggregates();
    for (kept, steps) in certain_patterns(certain, hierarchy.n_bottom(), h) {
        let columns: Vec<Vec<f64>> = base
            .iter()
            .map(|row| steps.iter().map(|&t| row[t]).collect())
            .collect();
        let zeroed;
        let w = if kept.contains(&true) {
            zeroed = weights.keeping(&kept, na);
            &zeroed
        } else {
            &weights
        };
        let solved = projected_bottoms(hierarchy, w, &columns, steps.len()).unwrap_or_else(|| {
            singular = true;
            let w = structural(hierarchy).keeping(&kept, na);
            projected_bottoms(hierarchy, &w, &columns, steps.len())
                .expect("structural weights give a positive definite U'WU")
        });
        for (row, solved) in out.iter_mut().zip(solved) {
            for (&t, v) in steps.iter().zip(solved) {
                row[t] = v;
            }
        }
    }
    if !singular {
        if let Weights::Diagonal(d) = &weights {
            note_zero_variances(hierarchy, d, notes);
        }
    } else {
        notes.push(
            "U'WU is singular (an aggregate and all its bottom series have zero error \
             variance); used the structural weights (wls_struct)"
                .into(),
        );
    }
    out
}

/// The steps grouped by which bottom series are certain at them (each pattern once, in the
/// order first seen); one group of every step when nothing is certain.
fn certain_patterns(
    certain: &[Vec<bool>],
    n_bottom: usize,
    h: usize,
) -> Vec<(Vec<bool>, Vec<usize>)> {
    let mut groups: Vec<(Vec<bool>, Vec<usize>)> = Vec::new();
    for t in 0..h {
        let kept: Vec<bool> = (0..n_bottom).map(|j| is_certain(certain, j, t)).collect();
        match groups.iter_mut().find(|(k, _)| *k == kept) {
            Some((_, steps)) => steps.push(t),
            None => groups.push((kept, vec![t])),
        }
    }
    groups
}

impl Weights {
    /// These weights with the certain bottom series' variances (and covariances) set to 0.
    fn keeping(&self, kept: &[bool], na: usize) -> Weights {
        let zero = |node: usize| node >= na && kept[node - na];
        match self {
            Weights::Diagonal(d) => Weights::Diagonal(
                d.iter()
                    .enumerate()
                    .map(|(i, &v)| if zero(i) { 0.0 } else { v })
                    .collect(),
            ),
            Weights::Full(w) => Weights::Full(Mat::<f64>::from_fn(w.nrows(), w.ncols(), |i, j| {
                if zero(i) || zero(j) { 0.0 } else { w[(i, j)] }
            })),
        }
    }
}

/// Says which nodes had zero error variance: MinT keeps their base forecasts exactly.
fn note_zero_variances(hierarchy: &Hierarchy, d: &[f64], notes: &mut Vec<String>) {
    let zero: Vec<&str> = d
        .iter()
        .zip(hierarchy.ids())
        .filter(|&(&v, _)| v == 0.0)
        .map(|(_, id)| id.as_str())
        .collect();
    if let Some(first) = zero.first() {
        notes.push(format!(
            "{} node(s) have zero residual variance (first: {first:?}); their base forecasts \
             are kept as they are",
            zero.len()
        ));
    }
}

/// The bottom rows of `ŷ − W U (U'WU)⁻¹ U'ŷ`, or `None` when `U'WU` is not positive definite.
fn projected_bottoms(
    hierarchy: &Hierarchy,
    weights: &Weights,
    base: &[Vec<f64>],
    h: usize,
) -> Option<Vec<Vec<f64>>> {
    let na = hierarchy.n_aggregates();
    let bottom = hierarchy.bottom_rows(base);
    if na == 0 {
        return Some(bottom.to_vec());
    }
    // U'ŷ: each aggregate's forecast minus the sum of its bottoms' (the incoherence).
    let mut x = Mat::<f64>::from_fn(na, h, |k, t| {
        base[k][t]
            - hierarchy.members[k]
                .iter()
                .map(|&j| bottom[j][t])
                .sum::<f64>()
    });
    match weights {
        Weights::Diagonal(d) => {
            let parents = hierarchy.parents();
            let llt = diagonal_utwu(hierarchy, d, &parents)
                .llt(Side::Lower)
                .ok()?;
            llt.solve_in_place(x.as_mut());
            // (W U)[na + j, k] = −d[na + j] when bottom j is in aggregate k, else 0.
            Some(
                bottom
                    .iter()
                    .zip(&parents)
                    .enumerate()
                    .map(|(j, (row, up))| {
                        let dj = d[na + j];
                        (0..h)
                            .map(|t| row[t] + dj * up.iter().map(|&k| x[(k, t)]).sum::<f64>())
                            .collect()
                    })
                    .collect(),
            )
        }
        Weights::Full(w) => {
            let wu_bottom = full_wu_bottom(hierarchy, w);
            let llt = full_utwu(hierarchy, w, &wu_bottom).llt(Side::Lower).ok()?;
            llt.solve_in_place(x.as_mut());
            let correction = &wu_bottom * &x;
            Some(
                bottom
                    .iter()
                    .enumerate()
                    .map(|(j, row)| (0..h).map(|t| row[t] - correction[(j, t)]).collect())
                    .collect(),
            )
        }
    }
}

/// `U'WU` for a diagonal `W`: `d[k]·[k = l] + Σ_{bottom j in both k and l} d[na + j]`, built
/// one bottom series at a time from the aggregates above it.
fn diagonal_utwu(hierarchy: &Hierarchy, d: &[f64], parents: &[Vec<usize>]) -> Mat<f64> {
    let na = hierarchy.n_aggregates();
    let mut m = Mat::<f64>::from_fn(na, na, |k, l| if k == l { d[k] } else { 0.0 });
    for (j, up) in parents.iter().enumerate() {
        for &k in up {
            for &l in up {
                m[(k, l)] += d[na + j];
            }
        }
    }
    m
}

/// The bottom rows of `W U` for a full `W`: `W[na + j, k] − Σ_{i ∈ members(k)} W[na + j, na + i]`.
fn full_wu_bottom(hierarchy: &Hierarchy, w: &Mat<f64>) -> Mat<f64> {
    let na = hierarchy.n_aggregates();
    Mat::<f64>::from_fn(hierarchy.n_bottom(), na, |j, k| {
        w[(na + j, k)]
            - hierarchy.members[k]
                .iter()
                .map(|&i| w[(na + j, na + i)])
                .sum::<f64>()
    })
}

/// `U'WU` for a full `W` from the bottom rows of `W U`.
fn full_utwu(hierarchy: &Hierarchy, w: &Mat<f64>, wu_bottom: &Mat<f64>) -> Mat<f64> {
    let na = hierarchy.n_aggregates();
    Mat::<f64>::from_fn(na, na, |k, l| {
        let wu_kl = w[(k, l)]
            - hierarchy.members[l]
                .iter()
                .map(|&i| w[(k, na + i)])
                .sum::<f64>();
        wu_kl
            - hierarchy.members[k]
                .iter()
                .map(|&j| wu_bottom[(j, l)])
                .sum::<f64>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// 2 stores × 3 items; aggregates: total, 3 item totals, 2 store totals.
    fn stores_items() -> Hierarchy {
        let bottom: Vec<String> = ["s1", "s2"]
            .iter()
            .flat_map(|s| ["a", "b", "c"].iter().map(move |i| format!("{s}/{i}")))
            .collect();
        let item = |k: &str| Some(format!("item {}", k.split('/').nth(1).unwrap()));
        let store = |k: &str| Some(format!("store {}", k.split('/').next().unwrap()));
        Hierarchy::from_groupings(bottom, Some("total"), &[&item, &store]).unwrap()
    }

    fn random(rng: &mut StdRng, rows: usize, cols: usize, lo: f64, hi: f64) -> Vec<Vec<f64>> {
        (0..rows)
            .map(|_| (0..cols).map(|_| rng.random_range(lo..hi)).collect())
            .collect()
    }

    fn all_methods() -> Vec<Reconciliation> {
        use MinTraceCovariance::*;
        use Proportions::*;
        let mut m = vec![Reconciliation::BottomUp];
        for proportions in [
            AverageHistoricalProportions,
            ProportionsOfHistoricalAverages,
        ] {
            m.push(Reconciliation::TopDown { proportions });
        }
        for covariance in [Ols, WlsStruct, WlsVar, MinTShrink] {
            m.push(Reconciliation::MinTrace { covariance });
        }
        m
    }

    #[test]
    fn groupings_build_total_item_and_store_nodes_in_stable_order() {
        let h = stores_items();
        assert_eq!(
            &h.ids()[..6],
            [
                "total", "item a", "item b", "item c", "store s1", "store s2"
            ]
        );
        assert_eq!(h.n_total(), 12);
        assert_eq!(h.members(1), vec![0, 3]);
        assert_eq!(h.members(5), vec![3, 4, 5]);
        assert_eq!(h.members(8), vec![2]);
        assert_eq!(h.total_node(), Some(0));
        let s = h.summing_matrix();
        assert_eq!(s[4], vec![1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(s[9], vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn new_rejects_bad_indices_duplicates_and_empty_nodes() {
        let b = || vec!["x".to_string(), "y".to_string()];
        let bad = |aggs: Vec<(&str, Vec<usize>)>| {
            let aggs = aggs.into_iter().map(|(a, m)| (a.to_string(), m)).collect();
            Hierarchy::new(b(), aggs).unwrap_err()
        };
        assert!(matches!(
            bad(vec![("t", vec![0, 2])]),
            ForecastError::InvalidInput(_)
        ));
        assert!(matches!(
            bad(vec![("t", vec![1, 1])]),
            ForecastError::InvalidInput(_)
        ));
        assert!(matches!(
            bad(vec![("t", vec![])]),
            ForecastError::InvalidInput(_)
        ));
        assert!(matches!(
            bad(vec![("x", vec![0, 1])]),
            ForecastError::InvalidInput(_)
        ));
        assert!(matches!(
            bad(vec![("t", vec![0, 1]), ("t", vec![0])]),
            ForecastError::InvalidInput(_)
        ));
        assert!(Hierarchy::new(vec![], vec![]).is_err());
        let ok = Hierarchy::new(b(), vec![("t".into(), vec![1, 0])]).unwrap();
        assert_eq!(ok.members(0), vec![0, 1]);
    }

    #[test]
    fn certain_bottom_steps_keep_their_base_forecast_under_every_method() {
        let h = stores_items();
        let mut rng = StdRng::seed_from_u64(11);
        let mut base = random(&mut rng, h.n_total(), 4, 1.0, 100.0);
        let history = random(&mut rng, h.n_total(), 30, 1.0, 50.0);
        let residuals = random(&mut rng, h.n_total(), 30, -5.0, 5.0);
        let insample = Insample {
            history: Some(&history),
            residuals: Some(&residuals),
        };
        // Store s1's item b is closed at steps 1 and 3, item c at step 3.
        let mut certain = vec![vec![false; 4]; h.n_bottom()];
        for (j, t) in [(1, 1), (1, 3), (2, 3)] {
            certain[j][t] = true;
            base[h.n_aggregates() + j][t] = 0.0;
        }
        for method in all_methods() {
            let plain = reconcile(&h, method, &base, insample).unwrap();
            let kept = reconcile_keeping(&h, method, &base, insample, &certain).unwrap();
            assert!(
                h.is_coherent(&kept.forecasts, COHERENCE_TOLERANCE),
                "{method:?}"
            );
            for (j, t) in [(1, 1), (1, 3), (2, 3)] {
                assert_eq!(kept.forecasts[h.n_aggregates() + j][t], 0.0, "{method:?}");
            }
            // Steps with nothing certain are reconciled as before.
            for node in 0..h.n_total() {
                for t in [0, 2] {
                    let (a, b) = (plain.forecasts[node][t], kept.forecasts[node][t]);
                    assert!(
                        (a - b).abs() < 1e-9 * a.abs().max(1.0),
                        "{method:?} {node} {t}"
                    );
                }
            }
        }
        let wrong = vec![vec![false; 3]; h.n_bottom()];
        let m = Reconciliation::BottomUp;
        assert!(reconcile_keeping(&h, m, &base, insample, &wrong).is_err());
    }

    #[test]
    fn mint_with_a_certain_zero_equals_mint_on_the_hierarchy_without_that_series() {
        // With W = I, a bottom series held at 0 is the same as a hierarchy without it.
        let h = stores_items();
        let mut rng = StdRng::seed_from_u64(5);
        let mut base = random(&mut rng, h.n_total(), 1, 1.0, 100.0);
        let na = h.n_aggregates();
        base[na + 4][0] = 0.0;
        let mut certain = vec![vec![false]; h.n_bottom()];
        certain[4][0] = true;
        let ols = Reconciliation::MinTrace {
            covariance: MinTraceCovariance::Ols,
        };
        let kept = reconcile_keeping(&h, ols, &base, Insample::default(), &certain).unwrap();
        // The same stores x items without s2/b (bottom 4).
        let bottom: Vec<String> = ["s1/a", "s1/b", "s1/c", "s2/a", "s2/c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let item = |k: &str| Some(format!("item {}", k.split('/').nth(1).unwrap()));
        let store = |k: &str| Some(format!("store {}", k.split('/').next().unwrap()));
        let small = Hierarchy::from_groupings(bottom, Some("total"), &[&item, &store]).unwrap();
        assert_eq!(small.ids()[..na], h.ids()[..na]);
        let mut small_base = base.clone();
        small_base.remove(na + 4);
        let reduced = reconcile(&small, ols, &small_base, Insample::default()).unwrap();
        let mut expected = reduced.forecasts.clone();
        expected.insert(na + 4, vec![0.0]);
        for (a, b) in kept.forecasts.iter().zip(&expected) {
            assert!(
                (a[0] - b[0]).abs() < 1e-9 * b[0].abs().max(1.0),
                "{a:?} {b:?}"
            );
        }
    }

    #[test]
    fn every_method_is_coherent_on_random_inputs() {
        let h = stores_items();
        let mut rng = StdRng::seed_from_u64(7);
        for round in 0..5 {
            let base = random(&mut rng, h.n_total(), 4, 1.0, 100.0);
            let history = random(&mut rng, h.n_total(), 30, 1.0, 50.0);
            let residuals = random(&mut rng, h.n_total(), 30, -5.0, 5.0);
            let insample = Insample {
                history: Some(&history),
                residuals: Some(&residuals),
            };
            for method in all_methods() {
                let out = reconcile(&h, method, &base, insample).unwrap();
                assert!(
                    h.is_coherent(&out.forecasts, COHERENCE_TOLERANCE),
                    "round {round} {method:?}: {:?}",
                    out.forecasts
                );
                assert!(out.notes.is_empty(), "{method:?}: {:?}", out.notes);
            }
        }
    }

    #[test]
    fn bottom_up_keeps_the_bottoms() {
        let h = stores_items();
        let mut rng = StdRng::seed_from_u64(1);
        let base = random(&mut rng, h.n_total(), 3, 0.0, 10.0);
        let out = reconcile(&h, Reconciliation::BottomUp, &base, Insample::default()).unwrap();
        assert_eq!(&out.forecasts[6..], &base[6..]);
        assert_eq!(out.forecasts, h.aggregate_up(&base[6..]).unwrap());
    }

    #[test]
    fn coherent_base_forecasts_are_left_alone_by_mint() {
        let h = stores_items();
        let mut rng = StdRng::seed_from_u64(3);
        let base = h
            .aggregate_up(&random(&mut rng, h.n_bottom(), 5, 0.0, 10.0))
            .unwrap();
        let residuals = random(&mut rng, h.n_total(), 20, -1.0, 1.0);
        for covariance in [
            MinTraceCovariance::Ols,
            MinTraceCovariance::WlsStruct,
            MinTraceCovariance::WlsVar,
            MinTraceCovariance::MinTShrink,
        ] {
            let out = reconcile(
                &h,
                Reconciliation::MinTrace { covariance },
                &base,
                Insample {
                    history: None,
                    residuals: Some(&residuals),
                },
            )
            .unwrap();
            for (g, w) in out.forecasts.iter().flatten().zip(base.iter().flatten()) {
                assert!((g - w).abs() < 1e-9, "{covariance:?}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn top_down_splits_the_total_by_history() {
        let h = Hierarchy::new(
            vec!["a".into(), "b".into()],
            vec![("total".into(), vec![0, 1])],
        )
        .unwrap();
        let history = vec![vec![4.0, 10.0], vec![1.0, 5.0], vec![3.0, 5.0]];
        let base = vec![vec![100.0], vec![0.0], vec![0.0]];
        let run = |proportions| {
            reconcile(
                &h,
                Reconciliation::TopDown { proportions },
                &base,
                Insample {
                    history: Some(&history),
                    residuals: None,
                },
            )
            .unwrap()
            .forecasts
        };
        // shares (1/4 + 5/10)/2 = 0.375 and (3/4 + 5/10)/2 = 0.625
        let ahp = run(Proportions::AverageHistoricalProportions);
        assert!((ahp[1][0] - 37.5).abs() < 1e-12 && (ahp[2][0] - 62.5).abs() < 1e-12);
        // means 3 and 4 of a total of 7
        let pha = run(Proportions::ProportionsOfHistoricalAverages);
        assert!((pha[1][0] - 300.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn shape_mismatches_and_missing_inputs_are_errors() {
        let h = stores_items();
        let base = vec![vec![1.0; 3]; 12];
        let none = Insample::default();
        let bu = Reconciliation::BottomUp;
        assert!(reconcile(&h, bu, &base[..11], none).is_err());
        let mut ragged = base.clone();
        ragged[4].push(1.0);
        assert!(reconcile(&h, bu, &ragged, none).is_err());
        let mut nan = base.clone();
        nan[2][1] = f64::NAN;
        assert!(reconcile(&h, bu, &nan, none).is_err());
        assert!(reconcile(&h, bu, &vec![vec![]; 12], none).is_err());
        let shrink = Reconciliation::MinTrace {
            covariance: MinTraceCovariance::MinTShrink,
        };
        assert!(reconcile(&h, shrink, &base, none).is_err());
        let short = vec![vec![1.0]; 12];
        let err = reconcile(
            &h,
            shrink,
            &base,
            Insample {
                history: None,
                residuals: Some(&short),
            },
        )
        .unwrap_err();
        assert!(matches!(err, ForecastError::TooShort { .. }));
        let td = Reconciliation::TopDown {
            proportions: Proportions::AverageHistoricalProportions,
        };
        assert!(reconcile(&h, td, &base, none).is_err());
        assert!(h.aggregate_up(&base[..5]).is_err());
    }

    #[test]
    fn top_down_needs_a_total_and_shares_leave_out_days_without_sales() {
        let h = Hierarchy::new(
            vec!["a".into(), "b".into(), "c".into()],
            vec![("ab".into(), vec![0, 1])],
        )
        .unwrap();
        let base = vec![vec![1.0]; 4];
        let history = vec![vec![1.0, 2.0]; 4];
        let td = |proportions| Reconciliation::TopDown { proportions };
        let insample = Insample {
            history: Some(&history),
            residuals: None,
        };
        let ahp = td(Proportions::AverageHistoricalProportions);
        assert!(reconcile(&h, ahp, &base, insample).is_err());
        // A day every shop was closed has no shares: it is left out, with a note.
        let h = stores_items();
        let base = vec![vec![24.0]; 12];
        let bottoms: Vec<Vec<f64>> = (0..6).map(|j| vec![(1 + j % 3) as f64, 0.0, 2.0]).collect();
        let history = h.aggregate_up(&bottoms).unwrap();
        let insample = Insample {
            history: Some(&history),
            residuals: None,
        };
        let out = reconcile(&h, ahp, &base, insample).unwrap();
        assert_eq!(out.notes.len(), 1, "{:?}", out.notes);
        assert!(out.notes[0].contains("1 period(s) with a total of zero"));
        // Bottom 0's shares: 1/12 and 2/12 on the open days.
        let first_bottom = h.n_aggregates();
        assert!((out.forecasts[first_bottom][0] - 24.0 * 0.125).abs() < 1e-12);
        let pha = td(Proportions::ProportionsOfHistoricalAverages);
        assert!(reconcile(&h, pha, &base, insample).is_ok());
        let closed = vec![vec![0.0; 3]; 12];
        let insample = Insample {
            history: Some(&closed),
            residuals: None,
        };
        assert!(reconcile(&h, ahp, &base, insample).is_err());
    }

    #[test]
    fn degenerate_covariance_falls_back_to_the_diagonal_with_a_note() {
        let h = stores_items();
        let mut rng = StdRng::seed_from_u64(11);
        let base = random(&mut rng, h.n_total(), 2, 1.0, 20.0);
        // A dead series: its residuals are all zero, so the covariance is singular.
        let mut residuals = random(&mut rng, h.n_total(), 24, -2.0, 2.0);
        residuals[8] = vec![0.0; 24];
        let shrink = Reconciliation::MinTrace {
            covariance: MinTraceCovariance::MinTShrink,
        };
        let insample = Insample {
            history: None,
            residuals: Some(&residuals),
        };
        let out = reconcile(&h, shrink, &base, insample).unwrap();
        assert_eq!(out.notes.len(), 2, "{:?}", out.notes);
        assert!(out.notes[0].contains("diagonal"));
        assert!(out.notes[1].contains("\"s1/c\""), "{:?}", out.notes);
        assert!(h.is_coherent(&out.forecasts, COHERENCE_TOLERANCE));
        // The zero-variance series is trusted fully: kept as forecast.
        assert!((out.forecasts[8][0] - base[8][0]).abs() < 1e-9);
        // wls_var says the same without the diagonal fallback.
        let var = Reconciliation::MinTrace {
            covariance: MinTraceCovariance::WlsVar,
        };
        let out = reconcile(&h, var, &base, insample).unwrap();
        assert_eq!(out.notes.len(), 1, "{:?}", out.notes);
        assert!(out.notes[0].contains("zero residual variance"));
        assert!((out.forecasts[8][1] - base[8][1]).abs() < 1e-9);
        // All residuals zero: the diagonal is zero too, so U'WU is singular: structural weights.
        let all_zero = vec![vec![0.0; 24]; 12];
        let insample = Insample {
            history: None,
            residuals: Some(&all_zero),
        };
        let out = reconcile(&h, shrink, &base, insample).unwrap();
        assert_eq!(out.notes.len(), 2, "{:?}", out.notes);
        assert!(out.notes[1].contains("structural"));
        let wls = Reconciliation::MinTrace {
            covariance: MinTraceCovariance::WlsStruct,
        };
        let want = reconcile(&h, wls, &base, Insample::default()).unwrap();
        assert_eq!(out.forecasts, want.forecasts);
    }

    #[test]
    fn too_few_periods_shrink_instead_of_failing() {
        let h = stores_items();
        let mut rng = StdRng::seed_from_u64(5);
        let base = random(&mut rng, h.n_total(), 2, 1.0, 20.0);
        let residuals = random(&mut rng, h.n_total(), 4, -2.0, 2.0);
        let shrink = Reconciliation::MinTrace {
            covariance: MinTraceCovariance::MinTShrink,
        };
        let out = reconcile(
            &h,
            shrink,
            &base,
            Insample {
                history: None,
                residuals: Some(&residuals),
            },
        )
        .unwrap();
        assert!(out.shrinkage.unwrap() > 0.0);
        assert!(h.is_coherent(&out.forecasts, COHERENCE_TOLERANCE));
    }

    #[test]
    fn diagonal_and_full_weights_give_the_same_projection() {
        let h = stores_items();
        let mut rng = StdRng::seed_from_u64(9);
        let base = random(&mut rng, h.n_total(), 3, 1.0, 50.0);
        let d: Vec<f64> = (0..h.n_total())
            .map(|_| rng.random_range(0.5..4.0))
            .collect();
        let full = Mat::<f64>::from_fn(
            h.n_total(),
            h.n_total(),
            |i, j| {
                if i == j { d[i] } else { 0.0 }
            },
        );
        let a = projected_bottoms(&h, &Weights::Diagonal(d), &base, 3).unwrap();
        let b = projected_bottoms(&h, &Weights::Full(full), &base, 3).unwrap();
        for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!((x - y).abs() < 1e-9, "{x} vs {y}");
        }
    }

    #[test]
    fn a_large_item_store_grid_reconciles_with_diagonal_weights() {
        // 200 items × 20 stores: 4000 bottoms, 221 aggregates; only U'WU (221²) is dense.
        let bottom: Vec<String> = (0..20)
            .flat_map(|s| (0..200).map(move |i| format!("{s}/{i}")))
            .collect();
        let item = |k: &str| Some(format!("item {}", k.split('/').nth(1).unwrap()));
        let store = |k: &str| Some(format!("store {}", k.split('/').next().unwrap()));
        let h = Hierarchy::from_groupings(bottom, Some("total"), &[&item, &store]).unwrap();
        assert_eq!((h.n_aggregates(), h.n_bottom()), (221, 4000));
        let mut rng = StdRng::seed_from_u64(2);
        let base = random(&mut rng, h.n_total(), 2, 0.0, 10.0);
        let wls = Reconciliation::MinTrace {
            covariance: MinTraceCovariance::WlsStruct,
        };
        let out = reconcile(&h, wls, &base, Insample::default()).unwrap();
        assert!(h.is_coherent(&out.forecasts, COHERENCE_TOLERANCE));
    }

    #[test]
    fn methods_serialise_in_snake_case() {
        let m = Reconciliation::MinTrace {
            covariance: MinTraceCovariance::MinTShrink,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"method":"min_trace","covariance":"mint_shrink"}"#);
        let td: Reconciliation = serde_json::from_str(
            r#"{"method":"top_down","proportions":"average_historical_proportions"}"#,
        )
        .unwrap();
        assert_eq!(
            td,
            Reconciliation::TopDown {
                proportions: Proportions::AverageHistoricalProportions
            }
        );
        let bu: Reconciliation = serde_json::from_str(r#"{"method":"bottom_up"}"#).unwrap();
        assert_eq!(bu, Reconciliation::BottomUp);
    }
}
