//! Retry delays: exponential with jitter, never shorter than what the server asked for.
use std::time::Duration;

use rand::Rng;

/// Delay before attempt `n + 1`: a random point in the upper half of `base · 2ⁿ` (capped), so
/// many pushes failing together (APNs down) don't come back together.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The delay after `attempts` failed attempts (0 for the first failure), at least
    /// `retry_after` when the server sent one.
    pub fn delay(&self, attempts: i64, retry_after: Option<Duration>) -> Duration {
        let exponent = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
        let full = self
            .base
            .checked_mul(1u32 << exponent.min(31))
            .unwrap_or(self.cap)
            .min(self.cap);
        let half = full / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
        let delay = half + Duration::from_millis(jitter);
        delay.max(retry_after.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_stops_at_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
        };
        for _ in 0..50 {
            let first = b.delay(0, None);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(101));
            let fourth = b.delay(3, None);
            assert!(fourth >= Duration::from_millis(400) && fourth <= Duration::from_millis(801));
            let late = b.delay(40, None);
            assert!(late >= Duration::from_secs(5) && late <= Duration::from_millis(10_001));
        }
    }

    #[test]
    fn honours_a_longer_retry_after() {
        let b = Backoff::default();
        assert!(b.delay(0, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
    }
}
