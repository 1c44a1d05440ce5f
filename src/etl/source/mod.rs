//! Where pipeline rows come from: landing files (`files`), SQL tables by watermark (`sql`).
//! The event buffer lives in `etl::events`.

pub mod files;
pub mod read;
pub mod sql;
