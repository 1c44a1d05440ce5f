//! Regression with seasonal ARIMA errors (SARIMAX): `y_t = x_t'β + u_t`, `u` a
//! SARIMA(p,d,q)(P,D,Q)m process, for exogenous regressors such as price and promotion.
//!
//! Why the profile likelihood: the exact likelihood of `(β, θ)` is that of the SARIMA model
//! for `u = y − Xβ`, which [`Sarima`] already maximises over `θ` exactly. Maximising
//! `L(β) = max_θ L(β, θ)` over the few regression coefficients with the same projected BFGS
//! gives the joint maximum-likelihood estimate statsmodels' SARIMAX (`mle_regression=True`)
//! finds, without a second Kalman filter. Finite differences of `L(β)` are accurate because
//! the inner optimum enters only to second order (envelope theorem). The start is OLS on the
//! differenced data, which is where R's `Arima` starts too. Forecasts add `x'β` for the
//! supplied future regressors to the SARIMA forecast of `u`; like statsmodels, intervals treat
//! `β` as known.

use serde_json::json;

use super::auto_arima::auto_arima;
use super::sarima::{ArimaSpec, Sarima, difference};
use super::{FittedModel, Forecast, ForecastError, aicc};
use crate::numeric::linalg;
use crate::numeric::optimize::{Options, minimize_box};

/// A fitted regression with SARIMA errors.
#[derive(Debug, Clone)]
pub struct Sarimax {
    beta: Vec<f64>,
    errors: Sarima,
    loglik: f64,
    aicc: f64,
}

/// `y - Xβ` for row-major `x` (`n × k`).
fn residuals(y: &[f64], x: &[f64], k: usize, beta: &[f64]) -> Vec<f64> {
    y.iter()
        .enumerate()
        .map(|(t, yt)| yt - (0..k).map(|j| x[t * k + j] * beta[j]).sum::<f64>())
        .collect()
}

impl Sarimax {
    /// Fits by exact maximum likelihood. `x` holds one row of `k` regressors per observation
    /// (row-major, `y.len() × k`); include a column of ones for an intercept when `d + D = 0`
    /// (or set `include_constant` instead, not both).
    pub fn fit(y: &[f64], x: &[f64], k: usize, spec: &ArimaSpec) -> Result<Sarimax, ForecastError> {
        let n = y.len();
        if k == 0 || x.len() != n * k {
            return Err(ForecastError::InvalidInput(format!(
                "regressors must be {n} rows of {k} values"
            )));
        }
        super::error::check_finite(y)?;
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(ForecastError::InvalidInput(format!(
                "regressor value at row {}, column {} is not finite",
                i / k,
                i % k
            )));
        }
        let m = spec.m();
        let dy = difference(y, spec.d, spec.seasonal_d_eff(), m);
        let rows = dy.len();
        let mut dx = vec![0.0; rows * k];
        for j in 0..k {
            let col: Vec<f64> = (0..n).map(|t| x[t * k + j]).collect();
            let dcol = difference(&col, spec.d, spec.seasonal_d_eff(), m);
            if dcol.iter().all(|v| v.abs() < 1e-12) {
                return Err(ForecastError::InvalidInput(format!(
                    "regressor {j} is constant after differencing; it cannot be estimated"
                )));
            }
            for (t, v) in dcol.into_iter().enumerate() {
                dx[t * k + j] = v;
            }
        }
        let start = linalg::least_squares(&dx, &dy, rows, k).ok_or_else(|| {
            ForecastError::InvalidInput("regressors are collinear after differencing".into())
        })?;
        let name = format!("Regression with {} errors", spec.name());
        let mut warm: Option<Sarima> = None;
        let mut objective = |beta: &[f64]| -> f64 {
            let u = residuals(y, x, k, beta);
            match Sarima::fit_from(&u, spec, warm.as_ref().map(|s| s.coefficients())) {
                Ok(fit) => {
                    let ll = fit.loglik().unwrap_or(f64::NEG_INFINITY);
                    warm = Some(fit);
                    -ll
                }
                Err(_) => f64::INFINITY,
            }
        };
        let lower = vec![f64::NEG_INFINITY; k];
        let upper = vec![f64::INFINITY; k];
        let opts = Options {
            max_iter: 200,
            gtol: 1e-5,
            ftol: 1e-10,
            restarts: 1,
            forward_differences: false,
        };
        let best = minimize_box(&mut objective, &start, &lower, &upper, opts);
        if !best.f.is_finite() {
            return Err(ForecastError::NotConverged {
                model: name,
                detail: "no finite likelihood for any regression coefficients tried".into(),
            });
        }
        let beta = best.x;
        // A final fit from scratch at the optimum, so the reported model does not depend on
        // the optimiser's path.
        let u = residuals(y, x, k, &beta);
        let errors = Sarima::fit(&u, spec)?;
        let loglik = errors.loglik().unwrap_or(f64::NEG_INFINITY);
        let n_params = spec.n_coefficients() + k + 1;
        Ok(Sarimax {
            aicc: aicc(loglik, n_params, errors.n_used()),
            beta,
            errors,
            loglik,
        })
    }

    /// Orders for the errors of a regression of `y` on `x` (row-major, `n × k`): OLS of `y`
    /// on an intercept and the regressors, then the automatic ARIMA search ([`auto_arima`])
    /// on its residuals. When the chosen orders do not difference (d + D = 0) a constant is
    /// always estimated: it is the intercept the OLS step took out of the residuals.
    pub fn auto_order(
        y: &[f64],
        x: &[f64],
        k: usize,
        season: usize,
    ) -> Result<ArimaSpec, ForecastError> {
        let n = y.len();
        if k == 0 || x.len() != n * k {
            return Err(ForecastError::InvalidInput(format!(
                "regressors must be {n} rows of {k} values"
            )));
        }
        let mut design = Vec::with_capacity(n * (k + 1));
        for row in x.chunks_exact(k) {
            design.push(1.0);
            design.extend_from_slice(row);
        }
        let ols = linalg::least_squares(&design, y, n, k + 1)
            .ok_or_else(|| ForecastError::InvalidInput("regressors are collinear".into()))?;
        let resid = residuals(y, &design, k + 1, &ols);
        let mut spec = *auto_arima(&resid, season)?.spec();
        if spec.d + spec.seasonal_d_eff() == 0 {
            spec.include_constant = true;
        }
        Ok(spec)
    }

    /// Regression coefficients, one per regressor column.
    pub fn beta(&self) -> &[f64] {
        &self.beta
    }

    /// The fitted SARIMA model of the regression errors.
    pub fn errors(&self) -> &Sarima {
        &self.errors
    }

    pub fn loglik(&self) -> f64 {
        self.loglik
    }

    pub fn aicc(&self) -> f64 {
        self.aicc
    }

    pub fn name(&self) -> String {
        format!("Regression with {} errors", self.errors.name())
    }

    /// Forecasts as many steps as `x_future` has rows (row-major, `h × k`), with central
    /// intervals at `levels` percent.
    pub fn forecast_with(
        &self,
        x_future: &[f64],
        levels: &[f64],
    ) -> Result<Forecast, ForecastError> {
        let k = self.beta.len();
        if !x_future.len().is_multiple_of(k) {
            return Err(ForecastError::InvalidInput(format!(
                "future regressors must be rows of {k} values"
            )));
        }
        let h = x_future.len() / k;
        let mut fc = self.errors.forecast(h, levels);
        for (t, mean) in fc.mean.iter_mut().enumerate() {
            let reg: f64 = (0..k).map(|j| x_future[t * k + j] * self.beta[j]).sum();
            *mean += reg;
            for interval in &mut fc.intervals {
                interval.lower[t] += reg;
                interval.upper[t] += reg;
            }
        }
        Ok(fc)
    }

    /// Parameters as JSON, for the model registry.
    pub fn params(&self) -> serde_json::Value {
        json!({
            "model": "sarimax",
            "beta": self.beta,
            "errors": self.errors.params(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// statsmodels' SARIMAX on public data (references/forecast/make_sarimax_fixtures.py).
    const FIXTURES: &str = include_str!("../../../../references/forecast/sarimax.json");

    fn floats(v: &serde_json::Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    fn rows(v: &serde_json::Value) -> (Vec<f64>, usize) {
        let rows = v.as_array().unwrap();
        let k = rows[0].as_array().unwrap().len();
        (rows.iter().flat_map(floats).collect(), k)
    }

    #[test]
    fn matches_statsmodels_sarimax_on_public_data() {
        let fixtures: serde_json::Value = serde_json::from_str(FIXTURES).unwrap();
        for case in fixtures["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let y = floats(&case["y"]);
            let (x, k) = rows(&case["x"]);
            let (x_future, _) = rows(&case["x_future"]);
            let order = floats(&case["order"]);
            let seasonal = floats(&case["seasonal_order"]);
            let spec = ArimaSpec {
                p: order[0] as usize,
                d: order[1] as usize,
                q: order[2] as usize,
                seasonal_p: seasonal[0] as usize,
                seasonal_d: seasonal[1] as usize,
                seasonal_q: seasonal[2] as usize,
                season: (seasonal[3] as usize).max(1),
                include_constant: false,
            };
            let fit = Sarimax::fit(&y, &x, k, &spec).unwrap();
            let want_beta = floats(&case["beta"]);
            for (got, want) in fit.beta().iter().zip(&want_beta) {
                assert!(
                    (got - want).abs() <= 1e-3 * want.abs().max(1.0),
                    "{name}: beta {:?} vs statsmodels {want_beta:?}",
                    fit.beta()
                );
            }
            let coef = fit.errors().coefficients();
            for (key, got) in [
                ("ar", &coef.ar),
                ("ma", &coef.ma),
                ("seasonal_ar", &coef.seasonal_ar),
                ("seasonal_ma", &coef.seasonal_ma),
            ] {
                let want = floats(&case[key]);
                assert_eq!(got.len(), want.len(), "{name} {key}");
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-3, "{name} {key}: {got:?} vs {want:?}");
                }
            }
            let want_ll = case["loglik"].as_f64().unwrap();
            assert!(
                (fit.loglik() - want_ll).abs() <= 1e-2,
                "{name}: loglik {} vs {want_ll}",
                fit.loglik()
            );
            let fc = fit.forecast_with(&x_future, &[95.0]).unwrap();
            let band = fc.interval(95.0).unwrap();
            for (i, want) in floats(&case["forecast"]).iter().enumerate() {
                let scale = want.abs().max(1.0);
                assert!(
                    (fc.mean[i] - want).abs() <= 5e-3 * scale,
                    "{name} step {i}: {} vs {want}",
                    fc.mean[i]
                );
                let lo = floats(&case["lower_95"])[i];
                let hi = floats(&case["upper_95"])[i];
                assert!(
                    (band.lower[i] - lo).abs() <= 5e-3 * lo.abs().max(1.0),
                    "{name}"
                );
                assert!(
                    (band.upper[i] - hi).abs() <= 5e-3 * hi.abs().max(1.0),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn refuses_regressors_that_differencing_removes() {
        let y: Vec<f64> = (0..40).map(|t| (t as f64 * 0.3).sin() + t as f64).collect();
        let x = vec![1.0; 40];
        let e = Sarimax::fit(&y, &x, 1, &ArimaSpec::arima(1, 1, 0)).unwrap_err();
        assert!(e.to_string().contains("constant after differencing"), "{e}");
    }
}
