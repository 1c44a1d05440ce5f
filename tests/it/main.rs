//! Integration tests: one binary (one link) for the whole suite. Each test gets its own
//! database (SQLite file, or a fresh Postgres database when `RECAST_TEST_DATABASE=postgres`)
//! and its own lake directory, so tests run in parallel.

mod api;
mod cli;
mod common;
mod demo;
mod etl;
mod events;
mod experiments;
mod features;
mod forecast;
mod forecast_calendar;
mod forecast_closed;
mod forecast_hierarchy;
mod forecast_hourly;
mod forecast_overrides;
mod forecast_periods;
mod forecast_prophet;
mod forecast_serving;
mod jobs;
mod lake;
mod learning;
mod nats;
mod recommend;
