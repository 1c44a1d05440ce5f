//! recast's pure model code: arrays in, arrays out, no I/O.
//!
//! Why a crate of its own: the models are what the suite and the benches exercise most, so
//! they build optimised even in the dev and test profiles while the service crate around them
//! builds fast and unoptimised; and a crate boundary makes "model code cannot reach the lake,
//! the database or HTTP" a fact the compiler checks (none of tokio, sqlx, actix, object_store
//! or parquet is a dependency here), not a convention. `cargo test -p recast-models` runs
//! these tests without building the service.
//!
//! - [`forecast`]: forecasting models (naive family, ETS, SARIMA and its automatic search,
//!   regression with SARIMA errors), rolling-origin backtests and per-series selection.
//! - [`recommend`]: recommender models (popularity, item-kNN, ALS, content, hybrid), exact
//!   top-k retrieval and offline evaluation metrics.
//! - [`experiments`]: deterministic assignment and the statistics of an A/B readout.
//! - [`numeric`]: the small numerical kernels the models share.

pub mod experiments;
pub mod forecast;
pub mod numeric;
pub mod recommend;
