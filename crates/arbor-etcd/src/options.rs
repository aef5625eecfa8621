//! Settings of a [`Scheduled`](crate::Scheduled) runnable.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Error, MaxCount, Strategy};

/// The session TTL when none is set: a host that vanishes without leaving is dropped after it.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(10);

/// Settings of a [`Scheduled`](crate::Scheduled) runnable: session TTL, strategy, fencing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use arbor_etcd::{MaxCount, Options};
///
/// let options = Options::new()
///     .session_ttl(Duration::from_secs(5))
///     .strategy(MaxCount(2));
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) session_ttl: Duration,
    pub(crate) strategy: Arc<dyn Strategy>,
    pub(crate) fence_after: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            session_ttl: DEFAULT_SESSION_TTL,
            strategy: Arc::new(MaxCount(1)),
            fence_after: None,
        }
    }
}

impl Options {
    /// The defaults: a 10 s session, [`MaxCount(1)`](MaxCount) (a singleton), fencing at half
    /// the TTL.
    pub fn new() -> Self {
        Self::default()
    }

    /// The TTL of this host's etcd lease (default 10 s): a whole number of seconds, at least 1.
    /// A host that stops renewing it (crashed, cut off) leaves the namespace when it runs out,
    /// and its work moves. etcd may grant a longer TTL than asked (its minimum depends on its
    /// election timeout); the granted one is used.
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// How hosts are chosen (default: [`MaxCount(1)`](MaxCount)).
    pub fn strategy(mut self, strategy: impl Strategy) -> Self {
        self.strategy = Arc::new(strategy);
        self
    }

    /// How long after the last successful lease renewal was *sent* this host stops the work
    /// (default: half the TTL). Must be shorter than the TTL: the rest is the time the work
    /// has to stop before etcd may expire the lease and place the work elsewhere.
    pub fn fence_after(mut self, after: Duration) -> Self {
        self.fence_after = Some(after);
        self
    }

    /// Checks the settings.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let ttl = self.session_ttl;
        if ttl.is_zero() {
            return Err(Error::InvalidOption {
                option: "session_ttl",
                reason: "must be at least 1 s, not zero".to_owned(),
            });
        }
        if ttl.subsec_nanos() != 0 {
            return Err(Error::InvalidOption {
                option: "session_ttl",
                reason: format!("must be a whole number of seconds (etcd leases are), not {ttl:?}"),
            });
        }
        if let Some(after) = self.fence_after {
            if after.is_zero() || after >= ttl {
                return Err(Error::InvalidOption {
                    option: "fence_after",
                    reason: format!(
                        "must be above zero and below the session TTL ({ttl:?}), not {after:?}"
                    ),
                });
            }
        }
        self.strategy
            .validate()
            .map_err(|reason| Error::InvalidStrategy {
                strategy: format!("{:?}", self.strategy),
                reason,
            })
    }

    /// The fencing delay for a lease granted with `granted` TTL.
    pub(crate) fn fence_delay(&self, granted: Duration) -> Duration {
        let asked = self.fence_after.unwrap_or(self.session_ttl / 2);
        // etcd grants at least what was asked; should it ever grant less, fence by that.
        if granted < self.session_ttl {
            asked.min(granted / 2)
        } else {
            asked
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("session_ttl", &self.session_ttl)
            .field("strategy", &self.strategy)
            .field("fence_after", &self.fence_after)
            .finish()
    }
}
