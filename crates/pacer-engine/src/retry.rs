//! Deciding whether and when to retry; the lane does the waiting.

use std::time::Duration;

use pacer_core::ProviderError;

/// Exponential backoff with full jitter, capped, never shorter than the provider's
/// `retry-after`.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Error retries per item (rate-limit re-sends are not counted here).
    pub max_retries: u32,
    /// Rate-limit re-sends per item before it is recorded as rate limited.
    pub max_rate_limit_retries: u32,
    /// The first backoff's ceiling; it doubles with each retry.
    pub base: Duration,
    /// The highest backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            max_rate_limit_retries: 30,
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retries + 1` after `error`, or `None` when the item must
    /// not be retried. `unit` is a uniform draw in [0, 1) for the jitter.
    pub fn next_delay(&self, retries: u32, error: &ProviderError, unit: f64) -> Option<Duration> {
        if !error.kind.is_retryable() || error.kind.is_rate_limit() || retries >= self.max_retries {
            return None;
        }
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(retries.min(20)))
            .min(self.max_delay);
        let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
        Some(error.retry_after.map_or(jittered, |ra| jittered.max(ra)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_core::ErrorKind;

    fn err(kind: ErrorKind) -> ProviderError {
        ProviderError::new(kind, "x")
    }

    #[test]
    fn full_jitter_under_a_doubling_capped_ceiling() {
        let policy = RetryPolicy {
            max_retries: 10,
            ..RetryPolicy::default()
        };
        let e = err(ErrorKind::Server);
        assert_eq!(
            policy.next_delay(0, &e, 0.5),
            Some(Duration::from_millis(500))
        );
        assert_eq!(policy.next_delay(3, &e, 0.5), Some(Duration::from_secs(4)));
        assert_eq!(
            policy.next_delay(9, &e, 0.999_999),
            Some(Duration::from_secs(60).mul_f64(0.999_999))
        );
        assert_eq!(policy.next_delay(2, &e, 0.0), Some(Duration::ZERO));
    }

    #[test]
    fn never_shorter_than_retry_after() {
        let e = err(ErrorKind::Overloaded).with_retry_after(Duration::from_secs(7));
        let d = RetryPolicy::default().next_delay(0, &e, 0.3).unwrap();
        assert_eq!(d, Duration::from_secs(7));
    }

    #[test]
    fn stops_after_max_retries_and_for_final_kinds() {
        let policy = RetryPolicy::default();
        assert!(
            policy
                .next_delay(3, &err(ErrorKind::Timeout), 0.5)
                .is_none()
        );
        for kind in [
            ErrorKind::BadRequest,
            ErrorKind::ContextLength,
            ErrorKind::ContentFiltered,
            ErrorKind::Auth,
        ] {
            assert!(policy.next_delay(0, &err(kind), 0.5).is_none(), "{kind}");
        }
        // Rate limits are the lane's business, not a backoff.
        assert!(
            policy
                .next_delay(0, &err(ErrorKind::RateLimited), 0.5)
                .is_none()
        );
    }
}
