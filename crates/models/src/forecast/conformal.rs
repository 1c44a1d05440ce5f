//! Conformal prediction intervals and quantiles from rolling-origin backtest errors.
//!
//! Why: a model's own interval assumes its error model is right. On real demand it often is
//! not (on M3 the pooled choice's 80 % bands held 66 % of the actuals), and a combination
//! has no error model at all (its bands are averaged member bounds). Conformal bands need
//! only that the errors a model made at its backtest origins resemble the errors it will
//! make: the band at level L spans the empirical quantiles of those errors, with the
//! finite-sample rank correction that guarantees coverage when they are exchangeable.
//!
//! Errors at different horizon steps have different sizes, so each is divided by the
//! model's own standard deviation for that step (read off its interval, or √step when a
//! model gave none) before the errors of all steps are pooled: the band keeps the model's
//! shape and takes its width from what happened ("normalised" nonconformity scores,
//! Papadopoulos et al. 2008, Lei et al. 2018). Signed scores keep skew: the lower and the
//! upper bound come from their own tail. With too few scores for a level's signed
//! quantiles, absolute scores give a symmetric band; with too few even for that, the
//! model's own band stays, and the method says so.
//!
//! The coverage a run reports is honest: each backtest window is scored with the band
//! calibrated on the other windows only (leave one window out).

use serde::{Deserialize, Serialize};

use super::backtest::WindowResult;
use super::paths::quantile_sorted;
use super::{Forecast, Interval};
use crate::numeric::distributions::z_for_level;

/// How the errors are put on one scale across horizon steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normaliser {
    /// The model's standard deviation at the step, from its own interval.
    ModelSpread,
    /// √step, for models whose interval was missing or degenerate somewhere.
    SqrtStep,
}

/// Where a band came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BandMethod {
    /// Signed-score quantiles: each bound from its own tail.
    Conformal,
    /// Absolute-score quantile: too few scores for the signed tails at this level.
    ConformalSymmetric,
    /// The model's own interval: too few scores for either.
    Model,
}

/// The scores of one backtest, ready to turn forecasts into calibrated ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub normaliser: Normaliser,
    /// Scores per backtest window (for the leave-one-window-out coverage).
    by_window: Vec<Vec<f64>>,
    /// All scores, ascending.
    sorted: Vec<f64>,
}

/// The model's standard deviation at each of the first `h` steps, from its 80 % interval
/// (or the first it has) as a Gaussian band would give it; NaN where there is none.
/// Exactly 0 only at a step the model is certain of: a band of no width around a forecast
/// of exactly 0 (a closed slot, [`super::closed`]); any other band of no width is NaN.
pub fn spreads(fc: &Forecast, h: usize) -> Vec<f64> {
    let iv = fc.interval(80.0).or(fc.intervals.first());
    (0..h)
        .map(|k| match iv {
            Some(iv) if k < iv.lower.len() && k < iv.upper.len() => {
                let width = iv.upper[k] - iv.lower[k];
                match (width == 0.0, fc.mean.get(k)) {
                    (true, Some(&0.0)) => 0.0,
                    (true, _) => f64::NAN,
                    (false, _) => width / (2.0 * z_for_level(iv.level)),
                }
            }
            _ => f64::NAN,
        })
        .collect()
}

/// Spreads at or below this many units are rounding noise of a series the model fits
/// exactly: errors divided by them are not on any scale.
const MIN_SPREAD: f64 = 1e-9;

fn usable(spread: f64) -> bool {
    spread.is_finite() && spread > MIN_SPREAD
}

/// A spread that scales scores, or a step the model is certain of ([`spreads`]), which
/// leaves no score and keeps a band of no width.
fn usable_or_certain(spread: f64) -> bool {
    usable(spread) || spread == 0.0
}

impl Calibration {
    /// Scores from a backtest's windows; `None` when no window left a finite error.
    pub fn from_windows(windows: &[WindowResult]) -> Option<Calibration> {
        let all_spread = windows.iter().all(|w| {
            w.spreads.len() >= w.errors.len()
                && w.spreads[..w.errors.len()]
                    .iter()
                    .all(|s| usable_or_certain(*s))
        });
        let normaliser = if all_spread {
            Normaliser::ModelSpread
        } else {
            Normaliser::SqrtStep
        };
        let by_window: Vec<Vec<f64>> = windows
            .iter()
            .map(|w| {
                w.errors
                    .iter()
                    .enumerate()
                    .map(|(k, e)| e / scale(normaliser, &w.spreads, k))
                    .filter(|r| r.is_finite())
                    .collect()
            })
            .collect();
        Calibration::of(normaliser, by_window)
    }

    /// The calibration of these per-window scores; `None` without any.
    fn of(normaliser: Normaliser, by_window: Vec<Vec<f64>>) -> Option<Calibration> {
        let mut sorted: Vec<f64> = by_window.iter().flatten().copied().collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(Calibration {
            normaliser,
            by_window,
            sorted,
        })
    }

    /// One calibration from the model-spread scores of many series (each series' windows
    /// stay separate windows); `None` when none has any. Series calibrated on √step are
    /// left out: their scores are on another scale.
    pub fn pool<'a>(cals: impl IntoIterator<Item = &'a Calibration>) -> Option<Calibration> {
        let by_window: Vec<Vec<f64>> = cals
            .into_iter()
            .filter(|c| c.normaliser == Normaliser::ModelSpread)
            .flat_map(|c| c.by_window.iter().cloned())
            .collect();
        Calibration::of(Normaliser::ModelSpread, by_window)
    }

    /// Share of this calibration's own scores inside `by`'s band at `level` (a series'
    /// coverage under a pooled calibration, where its own share of the scores is small);
    /// `None` when `by` has no conformal band there or the scales differ.
    pub fn coverage_under(&self, by: &Calibration, level: f64) -> Option<f64> {
        if self.normaliser != by.normaliser || self.sorted.is_empty() {
            return None;
        }
        let (lo, hi, _) = bounds(&by.sorted, level)?;
        let inside = self
            .sorted
            .iter()
            .filter(|r| **r >= lo && **r <= hi)
            .count();
        Some(inside as f64 / self.sorted.len() as f64)
    }

    /// Number of scores.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// `fc`'s scale at each step on this calibration's normaliser; `None` when its own
    /// spread is unusable under a model-spread calibration.
    fn scales(&self, fc: &Forecast) -> Option<Vec<f64>> {
        let h = fc.mean.len();
        match self.normaliser {
            Normaliser::ModelSpread => {
                let own = spreads(fc, h);
                own.iter().all(|s| usable_or_certain(*s)).then_some(own)
            }
            Normaliser::SqrtStep => Some((0..h).map(root_step).collect()),
        }
    }

    /// `fc` with its band at each of `levels` replaced by the conformal one where the scores
    /// allow it, and where each band came from. A forecast whose own spread is unusable
    /// under a model-spread calibration keeps its bands.
    pub fn apply(&self, fc: &Forecast, levels: &[f64]) -> (Forecast, Vec<(f64, BandMethod)>) {
        let scales = self.scales(fc);
        let mut out = Forecast {
            mean: fc.mean.clone(),
            intervals: Vec::new(),
        };
        let mut methods = Vec::new();
        for &level in levels {
            let band = scales
                .as_ref()
                .and_then(|sc| bounds(&self.sorted, level).map(|b| (sc, b)));
            match band {
                Some((sc, (lo, hi, method))) => {
                    out.intervals.push(Interval {
                        level,
                        lower: fc.mean.iter().zip(sc).map(|(m, s)| m + s * lo).collect(),
                        upper: fc.mean.iter().zip(sc).map(|(m, s)| m + s * hi).collect(),
                    });
                    methods.push((level, method));
                }
                None => {
                    if let Some(iv) = fc.interval(level) {
                        out.intervals.push(iv.clone());
                    }
                    methods.push((level, BandMethod::Model));
                }
            }
        }
        (out, methods)
    }

    /// The forecast's `p` quantile at each step (`p` in (0, 1)): the mean shifted by the
    /// scores' empirical `p` quantile, or `None` with fewer than [`MIN_QUANTILE_SCORES`].
    pub fn quantile(&self, fc: &Forecast, p: f64) -> Option<Vec<f64>> {
        if self.sorted.len() < MIN_QUANTILE_SCORES || !(p > 0.0 && p < 1.0) {
            return None;
        }
        let sc = self.scales(fc)?;
        let q = quantile_sorted(&self.sorted, p);
        Some(fc.mean.iter().zip(&sc).map(|(m, s)| m + s * q).collect())
    }

    /// Share of each window's actuals inside the band calibrated on the other windows,
    /// over all windows; `None` when some window's band would have been the model's own
    /// (too few scores without it) or there is only one window.
    pub fn cross_coverage(&self, level: f64) -> Option<f64> {
        if self.by_window.len() < 2 {
            return None;
        }
        let (mut inside, mut total) = (0usize, 0usize);
        for (k, held) in self.by_window.iter().enumerate() {
            let mut rest: Vec<f64> = (self.by_window.iter().enumerate())
                .filter(|(j, _)| *j != k)
                .flat_map(|(_, w)| w.iter().copied())
                .collect();
            rest.sort_by(f64::total_cmp);
            let (lo, hi, _) = bounds(&rest, level)?;
            inside += held.iter().filter(|r| **r >= lo && **r <= hi).count();
            total += held.len();
        }
        (total > 0).then(|| inside as f64 / total as f64)
    }
}

/// Fewer scores than this give no conformal band: the guarantee would hold, but a band from
/// the largest of a handful of errors is mostly luck.
pub const MIN_BAND_SCORES: usize = 8;

/// Fewer scores than this give no quantile forecast (the median of three errors is noise).
pub const MIN_QUANTILE_SCORES: usize = 5;

/// √step for the step at index `k`.
fn root_step(k: usize) -> f64 {
    ((k + 1) as f64).sqrt()
}

fn scale(normaliser: Normaliser, spreads: &[f64], k: usize) -> f64 {
    match normaliser {
        Normaliser::ModelSpread => spreads[k],
        Normaliser::SqrtStep => root_step(k),
    }
}

/// Score bounds of the central band at `level` percent from ascending scores, and which
/// kind they are; `None` when there are too few scores for either kind.
///
/// Signed: the lower bound is the ⌊(n+1)·α/2⌋-th smallest score, the upper the
/// ⌈(n+1)·(1−α/2)⌉-th; symmetric: ± the ⌈(n+1)·(1−α)⌉-th smallest absolute score.
pub fn bounds(sorted: &[f64], level: f64) -> Option<(f64, f64, BandMethod)> {
    let n = sorted.len();
    if n < MIN_BAND_SCORES || !(level > 0.0 && level < 100.0) {
        return None;
    }
    let alpha = 1.0 - level / 100.0;
    let np1 = (n + 1) as f64;
    let lo_rank = (np1 * alpha / 2.0 + 1e-9).floor() as usize;
    let hi_rank = (np1 * (1.0 - alpha / 2.0) - 1e-9).ceil() as usize;
    if lo_rank >= 1 && hi_rank <= n {
        return Some((
            sorted[lo_rank - 1],
            sorted[hi_rank - 1],
            BandMethod::Conformal,
        ));
    }
    let rank = (np1 * (1.0 - alpha) - 1e-9).ceil() as usize;
    if rank > n {
        return None;
    }
    let mut abs: Vec<f64> = sorted.iter().map(|r| r.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let q = abs[rank - 1];
    Some((-q, q, BandMethod::ConformalSymmetric))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::backtest::Metrics;

    fn window(errors: Vec<f64>, spreads: Vec<f64>) -> WindowResult {
        WindowResult {
            origin: 0,
            model: "m".into(),
            metrics: Metrics {
                mae: 0.0,
                rmse: 0.0,
                smape: 0.0,
                mase: 0.0,
                coverage: vec![],
            },
            errors,
            spreads,
        }
    }

    #[test]
    fn ranks_follow_the_finite_sample_rule() {
        // 39 scores 1..=39: 80 % signed ranks ⌊40·0.1⌋ = 4 and ⌈40·0.9⌉ = 36;
        // 95 % ranks ⌊40·0.025⌋ = 1 and ⌈40·0.975⌉ = 39.
        let s: Vec<f64> = (1..=39).map(f64::from).collect();
        assert_eq!(bounds(&s, 80.0), Some((4.0, 36.0, BandMethod::Conformal)));
        assert_eq!(bounds(&s, 95.0), Some((1.0, 39.0, BandMethod::Conformal)));
        // 20 scores −10..=9 (−10 is the largest in absolute value): no signed 95 % band
        // (⌊21·0.025⌋ = 0), the symmetric one takes the ⌈21·0.95⌉ = 20th absolute score.
        let s: Vec<f64> = (-10..10).map(f64::from).collect();
        assert_eq!(
            bounds(&s, 95.0),
            Some((-10.0, 10.0, BandMethod::ConformalSymmetric))
        );
        // 10 scores: not even the symmetric 95 % band (rank 11 > 10).
        assert_eq!(bounds(&s[..10], 95.0), None);
        // Fewer than MIN_BAND_SCORES: none, although the symmetric 80 % rank (⌈5·0.8⌉ = 4)
        // exists.
        assert_eq!(bounds(&s[..4], 80.0), None);
    }

    #[test]
    fn bands_scale_with_the_models_spread_and_keep_skew() {
        // Errors twice the model's sd, always positive: the model was biased low and too sure.
        let windows: Vec<WindowResult> = (0..3)
            .map(|w| {
                let errors = (0..20)
                    .map(|k| 2.0 * (1.0 + (k + w) as f64 / 60.0))
                    .collect();
                window(errors, vec![1.0; 20])
            })
            .collect();
        let cal = Calibration::from_windows(&windows).unwrap();
        assert_eq!(cal.normaliser, Normaliser::ModelSpread);
        assert_eq!(cal.len(), 60);
        let z = z_for_level(80.0);
        let fc = Forecast {
            mean: vec![10.0, 10.0],
            intervals: vec![Interval {
                level: 80.0,
                lower: vec![10.0 - z, 10.0 - 3.0 * z],
                upper: vec![10.0 + z, 10.0 + 3.0 * z],
            }],
        };
        let (out, methods) = cal.apply(&fc, &[80.0, 95.0]);
        assert_eq!(
            methods,
            vec![(80.0, BandMethod::Conformal), (95.0, BandMethod::Conformal)]
        );
        let b = out.interval(80.0).unwrap();
        // Both bounds above the mean (every error was positive), three times as wide at the
        // step where the model's own band is three times as wide.
        assert!(b.lower[0] > 10.0 && b.upper[0] > b.lower[0]);
        let w0 = b.upper[0] - b.lower[0];
        let w1 = b.upper[1] - b.lower[1];
        assert!((w1 / w0 - 3.0).abs() < 1e-9, "{w0} {w1}");
        // Leave one window out: the shifted windows still mostly fall inside.
        let c = cal.cross_coverage(80.0).unwrap();
        assert!(c > 0.5 && c <= 1.0, "{c}");
        let q50 = cal.quantile(&fc, 0.5).unwrap();
        // The median score is 2·(1 + 10.5/60) = 2.35, three times that at step 2.
        assert!(
            (q50[0] - 12.35).abs() < 0.01 && (q50[1] - 17.05).abs() < 0.01,
            "{q50:?}"
        );
    }

    #[test]
    fn missing_spreads_fall_back_to_root_step_and_too_few_scores_to_the_model() {
        let windows = vec![
            window(vec![1.0, -2.0], vec![f64::NAN, 1.0]),
            window(vec![-1.0, 2.0], vec![1.0, 1.0]),
        ];
        let cal = Calibration::from_windows(&windows).unwrap();
        assert_eq!(cal.normaliser, Normaliser::SqrtStep);
        let fc = Forecast::gaussian(vec![5.0, 5.0], &[1.0, 1.0], &[80.0, 95.0]);
        let (out, methods) = cal.apply(&fc, &[80.0, 95.0]);
        assert_eq!(
            methods,
            vec![(80.0, BandMethod::Model), (95.0, BandMethod::Model)]
        );
        assert_eq!(out.intervals, fc.intervals);
        assert_eq!(cal.quantile(&fc, 0.5), None);
        assert_eq!(cal.cross_coverage(80.0), None);
    }

    #[test]
    fn calibrated_bands_cover_what_a_too_narrow_model_misses() {
        // Heavy-tailed errors from a fixed sequence: the model claims sd 1, the errors have
        // sd about 4.2. Calibrate on 200 errors, check on 2,000 fresh ones.
        let mut state = 12345u64;
        let mut draw = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            // Laplace with scale 3: −3·sign·ln(2·min(u, 1 − u)).
            let magnitude = -3.0 * (2.0 * u.min(1.0 - u)).ln();
            if u < 0.5 { -magnitude } else { magnitude }
        };
        let windows: Vec<WindowResult> = (0..40)
            .map(|_| window((0..5).map(|_| draw()).collect(), vec![1.0; 5]))
            .collect();
        let cal = Calibration::from_windows(&windows).unwrap();
        let fresh: Vec<f64> = (0..2000).map(|_| draw()).collect();
        let fc = Forecast::gaussian(vec![0.0], &[1.0], &[80.0]);
        let (out, _) = cal.apply(&fc, &[80.0]);
        let b = out.interval(80.0).unwrap();
        let inside = |lo: f64, hi: f64| {
            fresh.iter().filter(|e| **e >= lo && **e <= hi).count() as f64 / fresh.len() as f64
        };
        let own = fc.interval(80.0).unwrap();
        assert!(inside(own.lower[0], own.upper[0]) < 0.5);
        let calibrated = inside(b.lower[0], b.upper[0]);
        assert!((calibrated - 0.8).abs() < 0.06, "{calibrated}");
        let loo = cal.cross_coverage(80.0).unwrap();
        assert!((loo - 0.8).abs() < 0.06, "{loo}");
    }
}
