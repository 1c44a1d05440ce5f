//! ETL: pipeline definitions, sources, validation with quarantine, and the runner that lands
//! canonical datasets in the lake.

pub mod schema;
pub mod spec;

pub use schema::Dataset;
pub use spec::{PipelineSpec, SourceSpec, SpecError};
