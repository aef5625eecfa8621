//! The pause between attempts of a loop that talks to etcd, so that an outage is not a hot loop.

use std::time::Duration;

use arbor::{Backoff, BackoffDelays};

const FIRST: Duration = Duration::from_millis(50);
const MAX: Duration = Duration::from_secs(1);

/// Doubling pauses from 50 ms to 1 s, by arbor's own [`Backoff`] rule; [`reset`](Retry::reset)
/// after a success.
///
/// Capped low on purpose: these loops keep a lease and a view alive, and a host must notice
/// that etcd is back well within the lease TTL. arbor's backoff settings of the tree apply to
/// node restarts; these loops retry inside a run, without ending it.
#[derive(Debug)]
pub(crate) struct Retry {
    delays: BackoffDelays,
    max: Duration,
}

impl Retry {
    pub(crate) fn new() -> Self {
        Self::up_to(MAX)
    }

    /// Pauses capped at `max` rather than 1 s (and starting there if it is below 50 ms): for the
    /// lease renewal, whose retries must fit many times into the fencing delay.
    pub(crate) fn up_to(max: Duration) -> Self {
        let backoff = Backoff::default()
            .initial(FIRST.min(max))
            .multiplier(2.0)
            .max_interval(max)
            .randomization(0.0);
        Retry {
            delays: backoff.delays(),
            max,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.delays.reset();
    }

    /// Sleeps for the current pause and doubles the next.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; the pause still doubles.
    pub(crate) async fn pause(&mut self) {
        let pause = self.delays.next().unwrap_or(self.max);
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_run_from_first_to_max_and_reset() {
        let mut retry = Retry::new();
        assert_eq!(retry.delays.next(), Some(FIRST));
        assert_eq!(retry.delays.nth(10), Some(MAX), "capped at MAX");
        retry.reset();
        assert_eq!(retry.delays.next(), Some(FIRST));
    }

    #[test]
    fn a_lower_cap_holds_and_bounds_the_first_pause() {
        let cap = Duration::from_millis(120);
        let mut retry = Retry::up_to(cap);
        assert_eq!(retry.delays.next(), Some(FIRST));
        assert_eq!(retry.delays.nth(10), Some(cap));
        let tiny = Duration::from_millis(20);
        assert_eq!(Retry::up_to(tiny).delays.next(), Some(tiny));
    }
}
