//! Retry delays: exponential backoff with jitter.
//!
//! Exponential so a failing dependency (a store that is down, a DB at capacity) gets room to
//! recover instead of a retry storm; jittered because jobs that fail together (all of them,
//! during an outage) would otherwise retry together, in lock step, forever. "Equal jitter"
//! keeps at least half the exponential delay, so the backoff still grows with every attempt.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay ceiling after the first failed attempt; doubles with every further one.
    pub base: Duration,
    /// No delay is longer than this.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(5),
            max: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// The longest delay after `attempts` failed attempts: `base * 2^(attempts - 1)`, capped.
    pub fn ceiling(&self, attempts: i64) -> Duration {
        let doublings = attempts.saturating_sub(1).clamp(0, 31) as u32;
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The delay before the next attempt: half the ceiling plus a uniform random share of the
    /// other half.
    pub fn delay(&self, attempts: i64, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempts);
        let half = ceiling / 2;
        half + half.mul_f64(rng.random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ceiling_doubles_then_caps() {
        let policy = RetryPolicy {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        assert_eq!(policy.ceiling(1), Duration::from_secs(2));
        assert_eq!(policy.ceiling(2), Duration::from_secs(4));
        assert_eq!(policy.ceiling(3), Duration::from_secs(8));
        assert_eq!(policy.ceiling(6), Duration::from_secs(60));
        assert_eq!(policy.ceiling(1_000), Duration::from_secs(60));
        assert_eq!(policy.ceiling(i64::MAX), Duration::from_secs(60));
        // A nonsensical attempt count still yields the base delay, not a panic.
        assert_eq!(policy.ceiling(0), Duration::from_secs(2));
        assert_eq!(policy.ceiling(-5), Duration::from_secs(2));
    }

    #[test]
    fn delay_stays_within_half_and_full_ceiling_and_varies() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        for attempts in 1..12 {
            let ceiling = policy.ceiling(attempts);
            let delays: Vec<Duration> = (0..50).map(|_| policy.delay(attempts, &mut rng)).collect();
            for d in &delays {
                assert!(*d >= ceiling / 2 && *d <= ceiling, "{d:?} vs {ceiling:?}");
            }
            assert!(
                delays.iter().any(|d| *d != delays[0]),
                "jitter spreads retries"
            );
        }
    }

    #[test]
    fn later_attempts_wait_longer_on_average() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(11);
        let mean = |attempts: i64, rng: &mut StdRng| -> f64 {
            (0..200)
                .map(|_| policy.delay(attempts, rng).as_secs_f64())
                .sum::<f64>()
                / 200.0
        };
        let first = mean(1, &mut rng);
        let third = mean(3, &mut rng);
        assert!(third > 3.0 * first, "{first} vs {third}");
    }
}
