//! Intermittent-demand forecasting: Croston (classic, SBA, optimised), TSB, ADIDA and IMAPA as
//! statsforecast 2.1.1 defines them, and an automatic choice by demand class.
//!
//! Why: a large share of a retailer's products sell in only a few periods, in varying
//! amounts. Likelihood models assume a continuous, roughly Gaussian series and either smear
//! the zeros into a small positive level with intervals far below zero, or chase the last
//! spike. These methods forecast the *rate* of demand (expected units per period), flat over
//! the horizon, from two simple smoothings:
//!
//! * **Croston classic**: simple exponential smoothing (α = 0.1) of the non-zero sizes `z` and
//!   of the intervals between them `p` (the first interval counts from the start of the
//!   series); forecast `ẑ/p̂`. **SBA** (Syntetos–Boylan approximation) multiplies by
//!   `1 − α/2 = 0.95` to remove Croston's upward bias. **Optimised** Croston chooses each α in
//!   [0.1, 0.3] by minimising that smoothing's in-sample squared one-step error (golden-section
//!   search; statsforecast's is tight enough that the optima agree to ~1e-12).
//! * **TSB** (Teunter–Syntetos–Babai): smooths the occurrence indicator every period (α_p) and
//!   the sizes at demands (α_d); forecast `p̂·ẑ`. Unlike Croston its forecast decays while no
//!   demand occurs, so it suits items that may be dying. statsforecast requires both αs; when
//!   either is not given here it is optimised like the optimised Croston's (its own smoothing's
//!   squared one-step error, α in [0.1, 0.3]) — our choice, stated in the notes.
//! * **ADIDA**: sums non-overlapping buckets of `k` periods, `k` the mean inter-demand
//!   interval rounded half-to-even (as Python's `round`), dropping the oldest `n mod k`
//!   periods; optimised SES on the bucket sums, divided by `k`. **IMAPA** averages that
//!   forecast over every `k` from 1 to the rounded mean interval.
//!
//! Every SES here starts at the first value (`ℓ_1 = x_1`), as statsforecast's does.
//!
//! Intervals (statsforecast gives none for these): empirical, from the in-sample one-step
//! residuals `y_t − ŷ_t`: at level L the bound is `ŷ ± q_L`, `q_L` the L % quantile (linear
//! interpolation) of the absolute residuals, the lower bound clipped at zero because demand is
//! non-negative. The width is the same at every step (the forecast is a flat rate). The
//! in-sample predictions use the fitted αs with the same recursions run forward (statsforecast
//! re-optimises at every step for the optimised Croston; we do not); for ADIDA/IMAPA the
//! prediction for a period is the smoothed bucket sum known at the end of the previous bucket,
//! divided by `k` (averaged over `k` for IMAPA). Periods before the first demand have no
//! prediction.
//!
//! Automatic choice ([`classify_demand`], [`auto_method`]): Syntetos–Boylan–Croston classes
//! from the average inter-demand interval (ADI, cutoff 1.32) and the squared coefficient of
//! variation of the non-zero sizes (CV², cutoff 0.49): smooth (both below), erratic (CV²
//! above), intermittent (ADI above), lumpy (both above). Rule: if the series ends with a run of
//! zeros at least three periods long and at least twice the ADI, demand may have stopped →
//! TSB (optimised αs), whose forecast decays; otherwise smooth → optimised Croston (with
//! demand nearly every period this is SES of the level); erratic, intermittent, lumpy → SBA,
//! which the SBC study found the most accurate there. A series with no demand forecasts zero.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FittedModel, Forecast, ForecastError, Interval};

/// Bounds of the optimised smoothing parameters (statsforecast's).
const ALPHA_BOUNDS: (f64, f64) = (0.1, 0.3);
/// Croston's fixed smoothing parameter.
const CROSTON_ALPHA: f64 = 0.1;
/// Syntetos–Boylan debiasing factor `1 − α/2` for α = 0.1.
const SBA_FACTOR: f64 = 0.95;
/// Syntetos–Boylan cutoffs.
pub const ADI_CUTOFF: f64 = 1.32;
pub const CV2_CUTOFF: f64 = 0.49;

/// An intermittent-demand method.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    CrostonClassic,
    CrostonSba,
    CrostonOptimized,
    /// `None` smoothing parameters are optimised.
    Tsb {
        alpha_d: Option<f64>,
        alpha_p: Option<f64>,
    },
    Adida,
    Imapa,
}

impl Method {
    pub fn label(&self) -> String {
        match self {
            Method::CrostonClassic => "croston_classic".into(),
            Method::CrostonSba => "croston_sba".into(),
            Method::CrostonOptimized => "croston_optimized".into(),
            Method::Tsb { alpha_d, alpha_p } => {
                let show = |a: &Option<f64>| a.map_or("opt".to_string(), |v| format!("{v}"));
                format!("tsb({},{})", show(alpha_d), show(alpha_p))
            }
            Method::Adida => "adida".into(),
            Method::Imapa => "imapa".into(),
        }
    }
}

/// Syntetos–Boylan demand class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DemandClass {
    Smooth,
    Erratic,
    Intermittent,
    Lumpy,
    /// No non-zero value at all.
    NoDemand,
}

impl DemandClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DemandClass::Smooth => "smooth",
            DemandClass::Erratic => "erratic",
            DemandClass::Intermittent => "intermittent",
            DemandClass::Lumpy => "lumpy",
            DemandClass::NoDemand => "no demand",
        }
    }
}

/// The demand statistics behind the class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemandProfile {
    pub class: DemandClass,
    /// Average inter-demand interval (the first counted from the start of the series).
    pub adi: f64,
    /// Squared coefficient of variation of the non-zero sizes (population variance).
    pub cv2: f64,
    /// Zeros after the last demand.
    pub trailing_zeros: usize,
}

/// Classifies a non-negative series.
pub fn classify_demand(y: &[f64]) -> DemandProfile {
    let sizes = demand(y);
    let trailing_zeros = y.iter().rev().take_while(|v| **v == 0.0).count();
    if sizes.is_empty() {
        return DemandProfile {
            class: DemandClass::NoDemand,
            adi: f64::INFINITY,
            cv2: 0.0,
            trailing_zeros,
        };
    }
    let gaps = intervals(y);
    let adi = mean(&gaps);
    let m = mean(&sizes);
    let var = sizes.iter().map(|s| (s - m) * (s - m)).sum::<f64>() / sizes.len() as f64;
    let cv2 = var / (m * m);
    let class = match (adi < ADI_CUTOFF, cv2 < CV2_CUTOFF) {
        (true, true) => DemandClass::Smooth,
        (true, false) => DemandClass::Erratic,
        (false, true) => DemandClass::Intermittent,
        (false, false) => DemandClass::Lumpy,
    };
    DemandProfile {
        class,
        adi,
        cv2,
        trailing_zeros,
    }
}

/// The method the automatic choice uses for a profile (see the module doc).
pub fn auto_method(p: &DemandProfile) -> Method {
    let stopped = p.trailing_zeros >= 3 && p.trailing_zeros as f64 >= 2.0 * p.adi;
    match p.class {
        DemandClass::NoDemand => Method::CrostonClassic,
        _ if stopped => Method::Tsb {
            alpha_d: None,
            alpha_p: None,
        },
        DemandClass::Smooth => Method::CrostonOptimized,
        DemandClass::Erratic | DemandClass::Intermittent | DemandClass::Lumpy => Method::CrostonSba,
    }
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// The non-zero sizes.
fn demand(y: &[f64]) -> Vec<f64> {
    y.iter().copied().filter(|v| *v > 0.0).collect()
}

/// Periods between demands; the first counts from just before the start.
fn intervals(y: &[f64]) -> Vec<f64> {
    let mut last = 0usize;
    let mut out = Vec::new();
    for (i, v) in y.iter().enumerate() {
        if *v != 0.0 {
            out.push((i + 1 - last) as f64);
            last = i + 1;
        }
    }
    out
}

/// SES from `ℓ = x_0`: the one-step forecast after all of `x` (empty `x` is not allowed).
fn ses_forecast(x: &[f64], alpha: f64) -> f64 {
    let mut level = x[0];
    for v in &x[1..] {
        level = alpha * v + (1.0 - alpha) * level;
    }
    // statsforecast's recursion applies the update to x_0 once more, which leaves it unchanged.
    level
}

/// In-sample squared one-step error of SES from `ℓ = x_0`.
fn ses_sse(x: &[f64], alpha: f64) -> f64 {
    let mut level = x[0];
    let mut sse = 0.0;
    for v in &x[1..] {
        sse += (v - level) * (v - level);
        level = alpha * v + (1.0 - alpha) * level;
    }
    sse
}

/// The α in [0.1, 0.3] with the least in-sample squared error, by golden-section search.
/// With fewer than two values every α fits equally well; the midpoint is taken (as statsforecast).
fn optimal_alpha(x: &[f64]) -> f64 {
    let (mut a, mut b) = ALPHA_BOUNDS;
    if x.len() < 2 {
        return (a + b) / 2.0;
    }
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (ses_sse(x, c), ses_sse(x, d));
    while b - a > 1e-12 {
        if fc <= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = ses_sse(x, c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = ses_sse(x, d);
        }
    }
    (a + b) / 2.0
}

/// Sums of consecutive buckets of `k` periods, dropping the oldest `n mod k`.
fn bucket_sums(y: &[f64], k: usize) -> Vec<f64> {
    y[y.len() % k..].chunks(k).map(|c| c.iter().sum()).collect()
}

/// Mean inter-demand interval rounded half-to-even (Python's `round`).
fn aggregation_level(y: &[f64]) -> usize {
    (mean(&intervals(y)).round_ties_even() as usize).max(1)
}

/// One ADIDA forecast at bucket size `k`, with its per-period in-sample predictions.
fn adida_at(y: &[f64], k: usize) -> (f64, f64, Vec<f64>) {
    let sums = bucket_sums(y, k);
    let alpha = optimal_alpha(&sums);
    let rate = ses_forecast(&sums, alpha) / k as f64;
    // Period t in bucket j (j ≥ 1) is predicted by the smoothed sum after bucket j − 1.
    let start = y.len() % k;
    let mut fitted = vec![f64::NAN; y.len()];
    let mut level = sums[0];
    for (j, s) in sums.iter().enumerate().skip(1) {
        for f in &mut fitted[start + j * k..start + (j + 1) * k] {
            *f = level / k as f64;
        }
        level = alpha * s + (1.0 - alpha) * level;
    }
    (rate, alpha, fitted)
}

/// A fitted intermittent-demand model: a flat rate plus empirical intervals.
#[derive(Debug, Clone)]
pub struct Intermittent {
    method: Method,
    rate: f64,
    fitted: Vec<f64>,
    /// Sorted absolute in-sample residuals.
    abs_residuals: Vec<f64>,
    params: serde_json::Value,
    notes: Vec<String>,
}

fn check_input(y: &[f64]) -> Result<(), ForecastError> {
    if y.is_empty() {
        return Err(ForecastError::TooShort {
            model: "intermittent".into(),
            needed: 1,
            got: 0,
        });
    }
    super::error::check_finite(y)?;
    if let Some(i) = y.iter().position(|v| *v < 0.0) {
        return Err(ForecastError::InvalidInput(format!(
            "intermittent demand must be non-negative (value at index {i} is {})",
            y[i]
        )));
    }
    Ok(())
}

impl Intermittent {
    /// Fits `method` to a non-negative series.
    pub fn fit(y: &[f64], method: Method) -> Result<Intermittent, ForecastError> {
        check_input(y)?;
        let (rate, fitted, params, mut notes) = if demand(y).is_empty() {
            (
                0.0,
                vec![0.0; y.len()],
                json!({}),
                vec!["no demand in the history: forecast zero".to_string()],
            )
        } else {
            match method {
                Method::CrostonClassic => croston(y, Some(CROSTON_ALPHA), 1.0),
                Method::CrostonSba => croston(y, Some(CROSTON_ALPHA), SBA_FACTOR),
                Method::CrostonOptimized => croston(y, None, 1.0),
                Method::Tsb { alpha_d, alpha_p } => tsb(y, alpha_d, alpha_p)?,
                Method::Adida => adida(y),
                Method::Imapa => imapa(y),
            }
        };
        let mut abs_residuals: Vec<f64> = y
            .iter()
            .zip(&fitted)
            .filter(|(_, f)| f.is_finite())
            .map(|(y, f)| (y - f).abs())
            .collect();
        abs_residuals.sort_by(f64::total_cmp);
        if abs_residuals.len() < 2 {
            notes.push("fewer than two in-sample predictions: intervals have zero width".into());
        }
        let mut params = params;
        params["method"] = json!(method.label());
        params["rate"] = json!(rate);
        Ok(Intermittent {
            method,
            rate,
            fitted,
            abs_residuals,
            params,
            notes,
        })
    }

    /// The automatic choice by demand class (see the module doc); the notes name the class
    /// and the method.
    pub fn auto(y: &[f64]) -> Result<Intermittent, ForecastError> {
        check_input(y)?;
        let profile = classify_demand(y);
        let method = auto_method(&profile);
        let mut model = Intermittent::fit(y, method)?;
        model.notes.insert(
            0,
            format!(
                "demand class {} (ADI {:.2}, CV² {:.2}, {} trailing zeros): {}",
                profile.class.as_str(),
                profile.adi,
                profile.cv2,
                profile.trailing_zeros,
                method.label()
            ),
        );
        model.params["demand_class"] = json!(profile.class);
        model.params["adi"] = json!(profile.adi);
        model.params["cv2"] = json!(profile.cv2);
        Ok(model)
    }

    /// The method this model was fitted with.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Half-width at `level` percent: the quantile of the absolute residuals (0 without any).
    fn half_width(&self, level: f64) -> f64 {
        if self.abs_residuals.is_empty() {
            return 0.0;
        }
        super::paths::quantile_sorted(&self.abs_residuals, level / 100.0)
    }
}

type Fit = (f64, Vec<f64>, serde_json::Value, Vec<String>);

/// Croston with fixed (`Some`) or optimised (`None`) smoothing of both parts, times `factor`.
fn croston(y: &[f64], alpha: Option<f64>, factor: f64) -> Fit {
    let sizes = demand(y);
    let gaps = intervals(y);
    let a_d = alpha.unwrap_or_else(|| optimal_alpha(&sizes));
    let a_p = alpha.unwrap_or_else(|| optimal_alpha(&gaps));
    let z = ses_forecast(&sizes, a_d);
    let p = ses_forecast(&gaps, a_p);
    let rate = factor * if p != 0.0 { z / p } else { z };
    // In-sample: both smoothings updated at each demand, the ratio predicts the next period.
    let mut fitted = vec![f64::NAN; y.len()];
    let mut state: Option<(f64, f64)> = None;
    let mut since = 0.0;
    for (t, v) in y.iter().enumerate() {
        if let Some((z, p)) = state {
            fitted[t] = factor * z / p;
        }
        since += 1.0;
        if *v > 0.0 {
            state = Some(match state {
                None => (*v, since),
                Some((z, p)) => (a_d * v + (1.0 - a_d) * z, a_p * since + (1.0 - a_p) * p),
            });
            since = 0.0;
        }
    }
    let params =
        json!({"alpha_d": a_d, "alpha_p": a_p, "size": z, "interval": p, "factor": factor});
    (rate, fitted, params, Vec::new())
}

fn tsb(y: &[f64], alpha_d: Option<f64>, alpha_p: Option<f64>) -> Result<Fit, ForecastError> {
    for a in [alpha_d, alpha_p].into_iter().flatten() {
        if !(a > 0.0 && a <= 1.0) {
            return Err(ForecastError::InvalidInput(format!(
                "TSB smoothing parameter {a} is not in (0, 1]"
            )));
        }
    }
    let sizes = demand(y);
    let occurs: Vec<f64> = y.iter().map(|v| f64::from(u8::from(*v != 0.0))).collect();
    let mut notes = Vec::new();
    if alpha_d.is_none() || alpha_p.is_none() {
        notes.push(
            "TSB smoothing parameters not given were chosen by least squares in [0.1, 0.3]".into(),
        );
    }
    let a_d = alpha_d.unwrap_or_else(|| optimal_alpha(&sizes));
    let a_p = alpha_p.unwrap_or_else(|| optimal_alpha(&occurs));
    let z = ses_forecast(&sizes, a_d);
    let prob = ses_forecast(&occurs, a_p);
    let mut fitted = vec![f64::NAN; y.len()];
    let mut p = occurs[0];
    let mut size: Option<f64> = (y[0] > 0.0).then_some(y[0]);
    for t in 1..y.len() {
        if let Some(z) = size {
            fitted[t] = p * z;
        }
        p = a_p * occurs[t] + (1.0 - a_p) * p;
        if y[t] > 0.0 {
            size = Some(size.map_or(y[t], |z| a_d * y[t] + (1.0 - a_d) * z));
        }
    }
    let params = json!({"alpha_d": a_d, "alpha_p": a_p, "size": z, "probability": prob});
    Ok((prob * z, fitted, params, notes))
}

fn adida(y: &[f64]) -> Fit {
    let k = aggregation_level(y);
    let (rate, alpha, fitted) = adida_at(y, k);
    (
        rate,
        fitted,
        json!({"aggregation": k, "alpha": alpha}),
        Vec::new(),
    )
}

fn imapa(y: &[f64]) -> Fit {
    let kmax = aggregation_level(y);
    let mut rates = Vec::with_capacity(kmax);
    let mut sum = vec![0.0; y.len()];
    let mut count = vec![0usize; y.len()];
    for k in 1..=kmax {
        let (rate, _, fitted) = adida_at(y, k);
        rates.push(rate);
        for (t, f) in fitted.iter().enumerate() {
            if f.is_finite() {
                sum[t] += f;
                count[t] += 1;
            }
        }
    }
    let fitted = sum
        .iter()
        .zip(&count)
        .map(|(s, c)| if *c > 0 { s / *c as f64 } else { f64::NAN })
        .collect();
    (
        mean(&rates),
        fitted,
        json!({"max_aggregation": kmax, "rates": rates}),
        Vec::new(),
    )
}

impl FittedModel for Intermittent {
    fn name(&self) -> String {
        match self.method {
            Method::CrostonClassic => "Croston".into(),
            Method::CrostonSba => "CrostonSBA".into(),
            Method::CrostonOptimized => "CrostonOptimized".into(),
            Method::Tsb { .. } => "TSB".into(),
            Method::Adida => "ADIDA".into(),
            Method::Imapa => "IMAPA".into(),
        }
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        let intervals = super::valid_levels(levels)
            .map(|level| {
                let w = self.half_width(level);
                Interval {
                    level,
                    lower: vec![(self.rate - w).max(0.0); h],
                    upper: vec![self.rate + w; h],
                }
            })
            .collect();
        Forecast {
            mean: vec![self.rate; h],
            intervals,
        }
    }

    fn aicc(&self) -> Option<f64> {
        None
    }

    fn loglik(&self) -> Option<f64> {
        None
    }

    fn params(&self) -> serde_json::Value {
        self.params.clone()
    }

    fn fitted(&self) -> Vec<f64> {
        self.fitted.clone()
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Method; 6] = [
        Method::CrostonClassic,
        Method::CrostonSba,
        Method::CrostonOptimized,
        Method::Tsb {
            alpha_d: None,
            alpha_p: None,
        },
        Method::Adida,
        Method::Imapa,
    ];

    #[test]
    fn all_zero_history_forecasts_zero_with_zero_width() {
        for m in ALL {
            let f = Intermittent::fit(&[0.0; 12], m)
                .unwrap()
                .forecast(3, &[95.0]);
            assert_eq!(f.mean, vec![0.0; 3], "{m:?}");
            assert_eq!(f.intervals[0].upper, vec![0.0; 3], "{m:?}");
        }
        let a = Intermittent::auto(&[0.0; 5]).unwrap();
        assert!(a.notes()[0].contains("no demand"));
    }

    #[test]
    fn single_non_zero_value() {
        let y = [0.0, 0.0, 0.0, 6.0, 0.0, 0.0];
        // One size 6 after an interval of 4: rate 6/4 for Croston, SES is just the value.
        let c = Intermittent::fit(&y, Method::CrostonClassic).unwrap();
        assert!((c.forecast(1, &[]).mean[0] - 1.5).abs() < 1e-12);
        let s = Intermittent::fit(&y, Method::CrostonSba).unwrap();
        assert!((s.forecast(1, &[]).mean[0] - 1.425).abs() < 1e-12);
        for m in ALL {
            let f = Intermittent::fit(&y, m).unwrap().forecast(2, &[80.0]);
            assert!(f.mean[0].is_finite() && f.mean[0] >= 0.0, "{m:?}");
            assert!(f.intervals[0].lower[0] >= 0.0);
        }
    }

    #[test]
    fn single_observation_and_constant_series() {
        let one = Intermittent::fit(&[3.0], Method::Imapa).unwrap();
        assert_eq!(one.forecast(2, &[]).mean, vec![3.0; 2]);
        for m in ALL {
            let f = Intermittent::fit(&[2.0; 10], m)
                .unwrap()
                .forecast(2, &[90.0]);
            let want = if m == Method::CrostonSba { 1.9 } else { 2.0 };
            assert!((f.mean[0] - want).abs() < 1e-12, "{m:?} {:?}", f.mean);
            let i = &f.intervals[0];
            let spread = if m == Method::CrostonSba { 0.2 } else { 0.0 };
            assert!(
                (i.upper[0] - i.lower[0] - spread).abs() < 1e-12,
                "{m:?}: {i:?}"
            );
        }
    }

    #[test]
    fn negative_and_empty_input_are_refused() {
        assert!(matches!(
            Intermittent::fit(&[1.0, -1.0], Method::Adida),
            Err(ForecastError::InvalidInput(_))
        ));
        assert!(matches!(
            Intermittent::fit(&[], Method::Adida),
            Err(ForecastError::TooShort { .. })
        ));
        assert!(
            Intermittent::fit(
                &[1.0, 0.0],
                Method::Tsb {
                    alpha_d: Some(1.5),
                    alpha_p: None
                }
            )
            .is_err()
        );
    }

    #[test]
    fn classes_follow_the_syntetos_boylan_cutoffs() {
        assert_eq!(
            classify_demand(&[3.0, 4.0, 3.0, 4.0]).class,
            DemandClass::Smooth
        );
        assert_eq!(
            classify_demand(&[1.0, 9.0, 1.0, 12.0]).class,
            DemandClass::Erratic
        );
        assert_eq!(
            classify_demand(&[0.0, 3.0, 0.0, 4.0, 0.0, 3.0]).class,
            DemandClass::Intermittent
        );
        assert_eq!(
            classify_demand(&[0.0, 1.0, 0.0, 12.0, 0.0, 1.0]).class,
            DemandClass::Lumpy
        );
        let p = classify_demand(&[0.0, 3.0, 0.0, 4.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(p.trailing_zeros, 5);
        assert!(matches!(auto_method(&p), Method::Tsb { .. }));
        let a = Intermittent::auto(&[0.0, 3.0, 0.0, 4.0, 0.0, 3.0, 0.0, 4.0]).unwrap();
        assert_eq!(a.method(), Method::CrostonSba);
        assert!(a.notes()[0].contains("intermittent"));
    }

    #[test]
    fn empirical_intervals_cover_the_residual_quantiles_and_stay_non_negative() {
        let y: Vec<f64> = (0..60)
            .map(|t| {
                if t % 4 == 1 {
                    (t % 7) as f64 + 1.0
                } else {
                    0.0
                }
            })
            .collect();
        let m = Intermittent::fit(&y, Method::CrostonSba).unwrap();
        let f = m.forecast(4, &[50.0, 95.0]);
        let (i50, i95) = (f.interval(50.0).unwrap(), f.interval(95.0).unwrap());
        assert!(i95.upper[0] > i50.upper[0]);
        assert!(i95.lower.iter().all(|v| *v >= 0.0));
        assert!(i95.upper.iter().all(|v| (*v - i95.upper[0]).abs() < 1e-12));
    }

    #[test]
    fn golden_section_reaches_the_bounds_and_the_interior_optimum() {
        // A noiseless step favours the largest α.
        let step: Vec<f64> = (0..20).map(|t| if t < 10 { 1.0 } else { 5.0 }).collect();
        assert!((optimal_alpha(&step) - 0.3).abs() < 1e-9);
        // Otherwise the search result is at least as good as any point of a fine grid.
        let x = [5.0, 1.0, 4.0, 2.0, 7.0, 1.0, 5.0, 3.0, 6.0, 6.0, 2.0];
        let best = ses_sse(&x, optimal_alpha(&x));
        for i in 0..=200 {
            assert!(best <= ses_sse(&x, 0.1 + 0.001 * i as f64) + 1e-9);
        }
    }
}
