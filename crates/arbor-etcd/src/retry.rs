//! The pause between attempts of a loop that talks to etcd, so that an outage is not a hot loop.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(50);
const MAX: Duration = Duration::from_secs(1);

/// Doubling pauses from 50 ms to 1 s; [`reset`](Retry::reset) after a success.
///
/// Capped low on purpose: these loops keep a lease and a view alive, and a host must notice
/// that etcd is back well within the lease TTL. arbor's own backoff applies to node restarts.
#[derive(Debug)]
pub(crate) struct Retry {
    next: Duration,
}

impl Retry {
    pub(crate) fn new() -> Self {
        Retry { next: FIRST }
    }

    pub(crate) fn reset(&mut self) {
        self.next = FIRST;
    }

    /// Sleeps for the current pause and doubles the next.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; the pause still doubles.
    pub(crate) async fn pause(&mut self) {
        let now = self.next;
        self.next = (self.next * 2).min(MAX);
        tokio::time::sleep(now).await;
    }
}
