//! Where pipeline rows come from: landing files (`files`), SQL tables by watermark (`sql`),
//! a NATS JetStream stream (`nats`).
//! The event buffer lives in `etl::events`.

pub mod files;
pub mod nats;
pub mod read;
pub mod sql;
