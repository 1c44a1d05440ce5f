//! Demand forecasting in the service: demand series from the lake, training runs over many
//! series, their export, the registry glue and serving.
//!
//! The models themselves (naive family, ETS, SARIMA and its automatic search, regression with
//! SARIMA errors, backtests, per-series selection) are pure and live in the models crate
//! (`recast_models::forecast`), re-exported here so one path names each of them. This module
//! adds what touches I/O: [`series`] builds demand series from the `sales` dataset,
//! [`regressors`] reads known-future regressors from the offline feature store and
//! [`holidays`] takes the calendar the Prophet-style model fits; a run takes
//! [`params`], [`fit`]s each series, is orchestrated by [`train`] over many series (over a
//! reconciled [`hierarchy`] when asked), stores its rows and [`export`], and describes itself
//! in a [`report`]; [`actuals`] keeps what a run was fitted on, [`versions`] registers runs as
//! model versions, [`realised`] scores stored forecasts as their actuals land, [`overrides`]
//! hold planners' changes (carried through a hierarchy by [`cascade`]), and [`serving`]
//! answers the API.

pub mod actuals;
pub mod cascade;
pub mod country_holidays;
pub mod export;
pub mod fit;
pub mod hierarchy;
pub mod holidays;
pub mod legacy_exports;
pub mod local_clock;
pub mod overrides;
pub mod params;
pub mod period;
pub mod periods;
pub mod realised;
pub mod regressors;
pub mod report;
pub mod seasonalities;
pub mod series;
pub mod serving;
pub mod train;
pub mod versions;

pub use recast_models::forecast::*;
pub use series::DemandError;
