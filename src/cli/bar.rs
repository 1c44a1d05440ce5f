//! The CLI's progress reporter for long work: a bar on a terminal, plain log lines at
//! intervals otherwise.
//!
//! Why both: indicatif draws nothing when stderr is not a terminal (CI logs, `nohup`, a
//! scheduler's captured output), so a two-hour training run looked hung. Off a terminal every
//! report that moves the percentage is written as one line at most every [`LINE_EVERY`] (and
//! the first one at once), with the elapsed time.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::Progress;

/// At most one progress line this often when stderr is not a terminal.
pub const LINE_EVERY: Duration = Duration::from_secs(10);

/// A progress reporter for one piece of CLI work; [`Bar::finish`] clears it.
pub struct Bar {
    bar: Option<ProgressBar>,
    label: String,
    started: Instant,
    last_line: Mutex<Option<Instant>>,
}

impl Bar {
    /// A bar labelled `label` (may be empty), drawn when stderr is a terminal.
    pub fn new(label: &str) -> Bar {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(1000);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix} [{elapsed_precise}] [{bar:40}] {percent:>3}% {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Bar {
            bar,
            label: label.to_string(),
            started: Instant::now(),
            last_line: Mutex::new(None),
        }
    }

    /// Removes the bar (a terminal) or writes nothing more (a log).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The line written off a terminal, if one is due at `now`.
    fn line(&self, percent: f64, message: &str, now: Instant) -> Option<String> {
        let mut last = self.last_line.lock().expect("progress lock");
        if last.is_some_and(|t| now.duration_since(t) < LINE_EVERY) {
            return None;
        }
        *last = Some(now);
        let elapsed = now.duration_since(self.started).as_secs();
        let label = if self.label.is_empty() {
            String::new()
        } else {
            format!("{} ", self.label)
        };
        Some(format!(
            "{label}[{:02}:{:02}:{:02}] {:>3.0}% {message}",
            elapsed / 3600,
            elapsed / 60 % 60,
            elapsed % 60,
            percent.clamp(0.0, 100.0)
        ))
    }
}

impl Progress for Bar {
    fn report(&self, percent: f64, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position((percent * 10.0).clamp(0.0, 1000.0) as u64);
                bar.set_message(message.to_string());
            }
            None => {
                if let Some(line) = self.line(percent, message, Instant::now()) {
                    eprintln!("{line}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_a_terminal_a_line_is_written_at_once_then_at_most_every_interval() {
        let bar = Bar {
            bar: None,
            label: "fit".into(),
            started: Instant::now(),
            last_line: Mutex::new(None),
        };
        let t0 = Instant::now();
        let first = bar.line(12.34, "fitting series 10/80", t0).unwrap();
        assert!(first.starts_with("fit [00:00:00]"), "{first}");
        assert!(first.ends_with(" 12% fitting series 10/80"), "{first}");
        assert_eq!(bar.line(20.0, "later", t0 + Duration::from_secs(3)), None);
        assert!(bar.line(30.0, "due", t0 + LINE_EVERY).is_some());
    }
}
