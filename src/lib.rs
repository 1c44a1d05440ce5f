//! recast: recommendation and demand-forecasting backend with a feature store.
//!
//! Dependency direction: `api` and `jobs` call the domain modules; domain modules use `lake`
//! and `db`; nothing below calls upward. See `docs/architecture.md`.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod cron_expr;
pub mod db;
pub mod demo;
pub mod error;
pub mod etl;
pub mod experiments;
pub mod features;
pub mod forecast;
pub mod jobs;
pub mod lake;
pub mod progress;
pub mod recommend;
pub mod registry;
pub mod service;
pub mod telemetry;

pub use error::{Error, Result};
