//! Typed failures of the forecasting models. Callers (the training job, the API) decide what
//! to do with each kind: `TooShort` and `NonPositive` mean "pick another model", the others
//! mean "this input or this fit is unusable".

/// Why a model could not be fitted or used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// Fewer observations than the model needs.
    #[error("series too short: {model} needs at least {needed} observations, got {got}")]
    TooShort {
        model: String,
        needed: usize,
        got: usize,
    },
    /// A multiplicative model was asked for on data with zeros or negative values.
    #[error("{model} needs strictly positive data")]
    NonPositive { model: String },
    /// The optimiser found no admissible parameters with a finite likelihood.
    #[error("{model} did not converge: {detail}")]
    NotConverged { model: String, detail: String },
    /// The input itself is unusable (non-finite values, a zero season, a bad level...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Rejects empty input and non-finite values; every model calls this first.
pub(crate) fn check_finite(y: &[f64]) -> Result<(), ForecastError> {
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(ForecastError::InvalidInput(format!(
            "value at index {i} is not finite"
        )));
    }
    Ok(())
}
