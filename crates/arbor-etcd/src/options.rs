//! Settings of a [`Scheduled`](crate::Scheduled) runnable.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Error, MaxCount, Strategy};

/// The session TTL when none is set: a host that vanishes without leaving is dropped after it.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(10);

/// Settings of a [`Scheduled`](crate::Scheduled) runnable: session TTL, strategy, fencing.
///
/// Three durations decide how a host lives through a loss of contact with etcd:
///
/// | setting | default | decides |
/// |---|---|---|
/// | [`session_ttl`](Self::session_ttl) `T` | 10 s | when etcd may give the work to another host (`T` after the last renewal it got) |
/// | [`fence_after`](Self::fence_after) `F` | `T`/2 | when the host stops the work (`F` after its last confirmed renewal was sent); `T − F` is the time the work has to stop |
/// | [`renew_every`](Self::renew_every) `r` | `T`/10 | how often the lease is renewed, and how long a renewal may go unanswered before the connection is dropped and dialled again |
///
/// An outage shorter than [`tolerated_outage`](Self::tolerated_outage), `F − 1.5 r`, never
/// stops the work: within 1.5 `r` of etcd being reachable again a renewal is confirmed on a new
/// connection. With the defaults that is 35 % of the TTL; a larger `F` tolerates longer
/// outages but leaves the work less time to stop.
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
    pub(crate) renew_every: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            session_ttl: DEFAULT_SESSION_TTL,
            strategy: Arc::new(MaxCount(1)),
            fence_after: None,
            renew_every: None,
        }
    }
}

impl Options {
    /// The defaults: a 10 s session, [`MaxCount(1)`](MaxCount) (a singleton), fencing at half
    /// the TTL, renewals every tenth of it.
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

    /// How often the lease is renewed (default: a tenth of the TTL), which is also how long a
    /// renewal may go unanswered before this host drops its connection and dials etcd again.
    /// Must be below half of [`fence_after`](Self::fence_after): shorter intervals notice a dead
    /// connection sooner and so tolerate longer outages, at the price of more renewals (cheap
    /// for etcd: its leader answers them without a consensus round).
    pub fn renew_every(mut self, every: Duration) -> Self {
        self.renew_every = Some(every);
        self
    }

    /// The longest loss of contact with etcd that never stops the work: the fencing delay less
    /// one and a half renewal intervals (and less a few round trips to etcd, which this cannot
    /// know). Longer outages stop the work at the fencing delay; outages longer than the TTL
    /// also end the membership, and the work moves.
    ///
    /// ```
    /// use std::time::Duration;
    /// use arbor_etcd::Options;
    ///
    /// let options = Options::new().session_ttl(Duration::from_secs(10));
    /// assert_eq!(options.tolerated_outage(), Duration::from_millis(3500));
    /// let longer = options.fence_after(Duration::from_secs(7));
    /// assert_eq!(longer.tolerated_outage(), Duration::from_millis(5500));
    /// ```
    pub fn tolerated_outage(&self) -> Duration {
        let renew = self.renew_asked();
        self.fence_asked().saturating_sub(renew + renew / 2)
    }

    fn fence_asked(&self) -> Duration {
        self.fence_after.unwrap_or(self.session_ttl / 2)
    }

    fn renew_asked(&self) -> Duration {
        self.renew_every.unwrap_or(self.session_ttl / 10)
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
        if let Some(every) = self.renew_every {
            let fence = self.fence_asked();
            if every.is_zero() || every * 2 >= fence {
                return Err(Error::InvalidOption {
                    option: "renew_every",
                    reason: format!(
                        "must be above zero and below half the fencing delay ({fence:?}), not {every:?}"
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
        let asked = self.fence_asked();
        // etcd grants at least what was asked; should it ever grant less, fence by that.
        if granted < self.session_ttl {
            asked.min(granted / 2)
        } else {
            asked
        }
    }

    /// The renewal interval for a lease granted with `granted` TTL: as asked, kept below half
    /// the fencing delay should etcd grant less than asked.
    pub(crate) fn renew_delay(&self, granted: Duration) -> Duration {
        let asked = self.renew_asked();
        if granted < self.session_ttl {
            asked.min(granted / 10)
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
            .field("renew_every", &self.renew_every)
            .finish()
    }
}
