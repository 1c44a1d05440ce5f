//! Progress of long work (ETL runs, materialization, training): percent done with a message,
//! and whether whoever watches asked to stop.
//!
//! Why one type: the same domain function reports to a CLI progress bar, to a job's progress
//! column (throttled, with the job's cancellation), and to nothing in tests. A closure
//! `|percent, message| ...` is a `Progress` that never cancels; the job queue's reporter also
//! answers [`Progress::is_cancelled`].

/// Receives progress reports; `percent` runs from 0 to 100.
pub trait Progress: Send + Sync {
    fn report(&self, percent: f64, message: &str);

    /// Whether the work should stop at its next step (training polls this between steps).
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl<F: Fn(f64, &str) + Send + Sync> Progress for F {
    fn report(&self, percent: f64, message: &str) {
        self(percent, message)
    }
}

/// Reports nothing and never cancels.
pub fn none() -> impl Progress {
    |_: f64, _: &str| {}
}
