//! How arbor uses tokio's clock: deadlines that never overflow, and waits shorter than the
//! timer's tick.
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

/// tokio's timer resolution.
const TICK: Duration = Duration::from_millis(1);

/// How many times a wait shorter than a tick yields before it falls back to the timer.
const SPIN_LIMIT: u32 = 10_000;

/// Waits until `began + delay`. The timer would round a delay shorter than its tick up to a
/// whole millisecond; such a delay is waited by yielding to the runtime until the deadline
/// (at most one tick of a worker's time), then, if the clock has not moved (tokio's paused
/// clock only advances when the runtime is idle), by the timer.
pub(crate) async fn wait(began: tokio::time::Instant, delay: Duration) {
    let deadline = deadline(began, delay);
    if delay < TICK {
        for _ in 0..SPIN_LIMIT {
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::task::yield_now().await;
        }
    }
    tokio::time::sleep_until(deadline).await;
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

    #[tokio::test(start_paused = true)]
    async fn a_sub_tick_wait_ends_even_on_a_paused_clock() {
        // The clock does not move while the task yields; the wait falls back to the timer.
        let began = Instant::now();
        wait(began, Duration::from_micros(300)).await;
        assert!(began.elapsed() >= Duration::from_micros(300));
    }

    #[tokio::test]
    async fn a_sub_tick_wait_waits_at_least_its_delay() {
        let began = Instant::now();
        wait(began, Duration::from_micros(50)).await;
        let waited = began.elapsed();
        assert!(waited >= Duration::from_micros(50), "{waited:?}");
    }
}
