//! How a server stops when its node is cancelled.

use std::time::Duration;

/// How a [`Supervised`](crate::Supervised) server stops when its node is cancelled (shutdown,
/// or the death of an ancestor or a group sibling).
///
/// Either way the health status turns `NOT_SERVING` first, the listener closes, and the run
/// returns only once no connection is left open, so a restart can bind the address again.
///
/// | mode | in-flight requests | open streams |
/// |---|---|---|
/// | `Graceful { deadline }` | finish, up to `deadline` | stay open up to `deadline`, then are cut |
/// | `Immediate` | are cut: the client sees an error, the handler future is dropped | are cut |
///
/// Keep `deadline` below the supervisor's
/// [`shutdown_timeout`](arbor::Builder::shutdown_timeout), or a slow drain is reported as stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Stop accepting, tell clients to go away (HTTP/2 `GOAWAY`), and let in-flight requests
    /// finish. Whatever is still open after `deadline` (a long-lived stream, a handler that never
    /// ends) is cut as in [`Immediate`](StopMode::Immediate).
    Graceful {
        /// The longest the drain may take, from the moment the node is cancelled.
        deadline: Duration,
    },
    /// Stop accepting and cut every connection at once.
    Immediate,
}

impl StopMode {
    /// `Graceful` with this deadline.
    pub fn graceful(deadline: Duration) -> StopMode {
        StopMode::Graceful { deadline }
    }
}

impl Default for StopMode {
    /// `Graceful` with a 5 s deadline: half of the supervisor's default shutdown timeout.
    fn default() -> Self {
        StopMode::Graceful {
            deadline: Duration::from_secs(5),
        }
    }
}
