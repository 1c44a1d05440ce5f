//! Small numerical kernels shared by the model code: a bounded quasi-Newton minimiser, the
//! box Nelder–Mead variant statsforecast uses, the normal quantile, and dense linear solves
//! for the handful of tiny systems the models need.
//!
//! Why not a crate: the models need exactly these few things, each a few dozen lines, and the
//! behaviour at the edges (bounds hit exactly, objectives that return `inf` outside the
//! admissible region, a simplex stopped where the reference stops it) matters more for
//! matching statsmodels and statsforecast than generality does. Keeping
//! them here also keeps the forecasting code free of heavyweight dependencies.

pub mod distributions;
pub mod linalg;
pub mod nelder_mead;
pub mod optimize;
