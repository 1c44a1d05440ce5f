//! Benchmark forecasters: naive, seasonal naive, drift and moving average.
//!
//! Why they exist: every automatic model must beat these to earn its keep (MASE is scaled by
//! the seasonal naive in-sample error), and they are the fallback for series too short for
//! anything else. Intervals are the textbook ones (Hyndman & Athanasopoulos, *Forecasting:
//! Principles and Practice*, table 5.2): residual standard deviation σ̂ from the in-sample
//! one-step errors, scaled by √h for the naive, √(k+1) (k = completed seasons) for the
//! seasonal naive and √(h(1 + h/T)) for the drift. The moving average keeps a constant width
//! σ̂ (its one-step error spread): it assumes a locally constant mean, so its uncertainty
//! does not accumulate.

use serde_json::json;

use super::{FittedModel, Forecast, ForecastError};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Naive,
    SeasonalNaive { season: usize },
    Drift { slope: f64 },
    MovingAverage { window: usize },
}

/// A fitted benchmark model.
#[derive(Debug, Clone)]
pub struct Baseline {
    kind: Kind,
    y: Vec<f64>,
    /// Residual standard deviation of the one-step in-sample errors.
    sigma: f64,
    fitted: Vec<f64>,
}

fn too_short(model: &str, needed: usize, got: usize) -> ForecastError {
    ForecastError::TooShort {
        model: model.into(),
        needed,
        got,
    }
}

/// Residual standard deviation: root mean square of the defined residuals, with `dof`
/// estimated parameters removed from the count.
fn residual_sigma(y: &[f64], fitted: &[f64], dof: usize) -> f64 {
    let res: Vec<f64> = y
        .iter()
        .zip(fitted)
        .filter(|(_, f)| f.is_finite())
        .map(|(y, f)| y - f)
        .collect();
    let n = res.len().saturating_sub(dof).max(1) as f64;
    (res.iter().map(|r| r * r).sum::<f64>() / n).sqrt()
}

impl Baseline {
    /// Last value carried forward.
    pub fn naive(y: &[f64]) -> Result<Self, ForecastError> {
        if y.is_empty() {
            return Err(too_short("naive", 1, 0));
        }
        let fitted: Vec<f64> = (0..y.len())
            .map(|t| if t == 0 { f64::NAN } else { y[t - 1] })
            .collect();
        let sigma = residual_sigma(y, &fitted, 0);
        Ok(Baseline {
            kind: Kind::Naive,
            y: y.to_vec(),
            sigma,
            fitted,
        })
    }

    /// Value one season ago carried forward.
    pub fn seasonal_naive(y: &[f64], season: usize) -> Result<Self, ForecastError> {
        if season == 0 {
            return Err(ForecastError::InvalidInput(
                "season must be at least 1".into(),
            ));
        }
        if y.len() < season {
            return Err(too_short("seasonal naive", season, y.len()));
        }
        let fitted: Vec<f64> = (0..y.len())
            .map(|t| if t < season { f64::NAN } else { y[t - season] })
            .collect();
        let sigma = residual_sigma(y, &fitted, 0);
        Ok(Baseline {
            kind: Kind::SeasonalNaive { season },
            y: y.to_vec(),
            sigma,
            fitted,
        })
    }

    /// Last value plus the average historical change per step.
    pub fn drift(y: &[f64]) -> Result<Self, ForecastError> {
        let n = y.len();
        if n < 2 {
            return Err(too_short("drift", 2, n));
        }
        let slope = (y[n - 1] - y[0]) / (n - 1) as f64;
        let fitted: Vec<f64> = (0..n)
            .map(|t| if t == 0 { f64::NAN } else { y[t - 1] + slope })
            .collect();
        let sigma = residual_sigma(y, &fitted, 1);
        Ok(Baseline {
            kind: Kind::Drift { slope },
            y: y.to_vec(),
            sigma,
            fitted,
        })
    }

    /// Mean of the last `window` values, flat.
    pub fn moving_average(y: &[f64], window: usize) -> Result<Self, ForecastError> {
        if window == 0 {
            return Err(ForecastError::InvalidInput(
                "moving average window must be ≥ 1".into(),
            ));
        }
        if y.len() < window {
            return Err(too_short("moving average", window, y.len()));
        }
        let fitted: Vec<f64> = (0..y.len())
            .map(|t| {
                if t < window {
                    f64::NAN
                } else {
                    y[t - window..t].iter().sum::<f64>() / window as f64
                }
            })
            .collect();
        // With exactly `window` points there is no one-step error to learn from; the spread
        // of the window itself stands in for it.
        let sigma = if y.len() > window {
            residual_sigma(y, &fitted, 0)
        } else {
            let m = y.iter().sum::<f64>() / window as f64;
            (y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / window.max(2) as f64).sqrt()
        };
        Ok(Baseline {
            kind: Kind::MovingAverage { window },
            y: y.to_vec(),
            sigma,
            fitted,
        })
    }
}

impl FittedModel for Baseline {
    fn name(&self) -> String {
        match self.kind {
            Kind::Naive => "Naive".into(),
            Kind::SeasonalNaive { season } => format!("SNaive[{season}]"),
            Kind::Drift { .. } => "Drift".into(),
            Kind::MovingAverage { window } => format!("MA({window})"),
        }
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        let n = self.y.len();
        let last = self.y[n - 1];
        let (mean, sd): (Vec<f64>, Vec<f64>) = (1..=h)
            .map(|step| {
                let hf = step as f64;
                match self.kind {
                    Kind::Naive => (last, self.sigma * hf.sqrt()),
                    Kind::SeasonalNaive { season } => {
                        let k = (step - 1) / season;
                        let idx = n - season + (step - 1) % season;
                        (self.y[idx], self.sigma * ((k + 1) as f64).sqrt())
                    }
                    Kind::Drift { slope } => (
                        last + hf * slope,
                        self.sigma * (hf * (1.0 + hf / (n - 1) as f64)).sqrt(),
                    ),
                    Kind::MovingAverage { window } => (
                        self.y[n - window..].iter().sum::<f64>() / window as f64,
                        self.sigma,
                    ),
                }
            })
            .unzip();
        Forecast::gaussian(mean, &sd, levels)
    }

    fn aicc(&self) -> Option<f64> {
        None
    }

    fn loglik(&self) -> Option<f64> {
        None
    }

    fn params(&self) -> serde_json::Value {
        let mut v = json!({ "model": self.name(), "sigma": self.sigma });
        match self.kind {
            Kind::SeasonalNaive { season } => v["season"] = json!(season),
            Kind::Drift { slope } => v["slope"] = json!(slope),
            Kind::MovingAverage { window } => v["window"] = json!(window),
            Kind::Naive => {}
        }
        v
    }

    fn fitted(&self) -> Vec<f64> {
        self.fitted.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: [f64; 8] = [10.0, 12.0, 11.0, 15.0, 14.0, 13.0, 16.0, 18.0];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn naive_repeats_the_last_value_with_sqrt_h_intervals() {
        let m = Baseline::naive(&Y).unwrap();
        let f = m.forecast(3, &[95.0]);
        assert_eq!(f.mean, vec![18.0; 3]);
        // One-step errors: 2, -1, 4, -1, -1, 3, 2 → mean square 36/7.
        let sigma = (36.0f64 / 7.0).sqrt();
        let iv = f.interval(95.0).unwrap();
        for (i, h) in [1.0f64, 2.0, 3.0].iter().enumerate() {
            assert!(close(
                iv.upper[i] - 18.0,
                1.959_963_984_540_054 * sigma * h.sqrt()
            ));
        }
    }

    #[test]
    fn seasonal_naive_cycles_the_last_season() {
        let m = Baseline::seasonal_naive(&Y, 4).unwrap();
        let f = m.forecast(6, &[80.0]);
        assert_eq!(f.mean, vec![14.0, 13.0, 16.0, 18.0, 14.0, 13.0]);
        // Errors y[t] - y[t-4]: 4, 1, 5, 3 → σ² = 51/4; step 5 is in the second season.
        let sigma = (51.0f64 / 4.0).sqrt();
        let iv = f.interval(80.0).unwrap();
        assert!(close(iv.upper[0] - 14.0, 1.281_551_565_544_600_9 * sigma));
        assert!(close(
            iv.upper[4] - 14.0,
            1.281_551_565_544_600_9 * sigma * 2f64.sqrt()
        ));
    }

    #[test]
    fn drift_extends_the_line_through_first_and_last() {
        let m = Baseline::drift(&Y).unwrap();
        let f = m.forecast(2, &[]);
        assert!(close(f.mean[0], 18.0 + 8.0 / 7.0));
        assert!(close(f.mean[1], 18.0 + 2.0 * 8.0 / 7.0));
        assert!(f.intervals.is_empty());
    }

    #[test]
    fn moving_average_is_flat_mean_of_window() {
        let m = Baseline::moving_average(&Y, 3).unwrap();
        let f = m.forecast(2, &[95.0]);
        assert!(close(f.mean[0], 47.0 / 3.0) && close(f.mean[1], 47.0 / 3.0));
        let iv = f.interval(95.0).unwrap();
        assert!(close(iv.upper[0] - iv.lower[0], iv.upper[1] - iv.lower[1]));
        assert!(matches!(
            Baseline::moving_average(&Y, 9),
            Err(ForecastError::TooShort { .. })
        ));
    }
}
