//! Experiment maths: deterministic assignment of users to variants ([`assignment`]) and the
//! statistics of a readout ([`stats`]). Definitions, exposures and the readout assembled from
//! the lake live in the service.

pub mod assignment;
pub mod stats;
