//! Instants that never overflow.
//!
//! User settings reach the clock arithmetic (a backoff of `Duration::MAX`, a shutdown timeout
//! of `Duration::MAX` meaning "wait for ever"), and `Instant + Duration` panics past the
//! platform's range. Every deadline is made here instead, saturating at a point so far away
//! that it never comes, as tokio does for its own sleeps.

use std::time::Duration;

use tokio::time::Instant;

/// About thirty years: later than any process lives, early enough for every platform's clock.
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + delay`, or a moment that never comes if that does not fit.
pub(crate) fn deadline(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay.min(FAR))
        .unwrap_or_else(|| now + Duration::from_secs(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_delays_saturate_instead_of_panicking() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_millis(5)),
            now + Duration::from_millis(5)
        );
        assert_eq!(deadline(now, Duration::MAX), now + FAR);
        assert!(deadline(now, Duration::MAX) > now + Duration::from_secs(86_400 * 365));
    }
}
