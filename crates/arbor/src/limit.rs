//! Restart limits (OTP's intensity and period): how many restarts of a node's children it
//! tolerates within a sliding period before it gives up and dies itself.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::Error;

/// At most `max` restarts within any `period`.
///
/// Set by a node's run for its own children with
/// [`Context::limit_restarts`](crate::Context::limit_restarts), or for one group with
/// [`Group::restart_limit`](crate::Group::restart_limit), whose members then count against
/// the group's limit instead of their parent's.
///
/// What counts is a restart of a child that failed (it was Dead), when the restarted run is
/// entered: a restart that waits out its backoff counts when the wait ends, not when it is
/// scheduled. Members cancelled because a group member died, and bounces, do not count. When
/// a restart is one too many, the parent dies (row 13 of the
/// [state table](crate::NodeState#state-table)) with an error naming the child and the
/// count; its children are cancelled, and its own parent's policy applies: its backoff, its
/// parent's limit, and so on up to the root. A new run of the parent starts with a fresh
/// count. Without a limit (the default), children are restarted for ever, with backoff.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use arbor::{Context, RestartLimit, Signal};
///
/// async fn pool(ctx: Context) -> anyhow::Result<()> {
///     // Three failures of the workers within a minute mean the pool itself is broken.
///     ctx.limit_restarts(RestartLimit::new(3, Duration::from_secs(60)))?;
///     for name in ["w0", "w1", "w2"] {
///         ctx.run(name, |ctx: Context| async move {
///             ctx.signal(Signal::Healthy)?;
///             ctx.cancelled().await;
///             Ok(())
///         })?;
///     }
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RestartLimit {
    max: u32,
    period: Duration,
    wait: bool,
}

impl RestartLimit {
    /// At most `max` restarts within any `period`. `max` may be 0: then the first failure of
    /// a child is one too many.
    pub fn new(max: u32, period: Duration) -> Self {
        RestartLimit {
            max,
            period,
            wait: false,
        }
    }

    /// Makes a restart that would be one too many wait instead, until the oldest restart in
    /// the period has left it, rather than the parent giving up (Nomad's restart mode
    /// `delay`, where this limit's parent must not fail). The restart stays Dead meanwhile, and
    /// is logged as held. `max` must then be at least 1.
    ///
    /// ```
    /// use std::time::Duration;
    /// use arbor::{Child, Context, Group, RestartLimit};
    ///
    /// # async fn migrate(_: Context) -> anyhow::Result<()> { Ok(()) }
    /// # fn f(ctx: Context) -> Result<(), arbor::Error> {
    /// // At most 2 restarts a minute; a third waits for the minute to pass, for ever.
    /// let limit = RestartLimit::new(2, Duration::from_secs(60)).or_wait();
    /// ctx.run_group(Group::new().child(Child::new("migrate", migrate)).restart_limit(limit))?;
    /// # Ok(()) }
    /// ```
    pub fn or_wait(mut self) -> Self {
        self.wait = true;
        self
    }

    /// Whether a restart that would be one too many waits ([`or_wait`](RestartLimit::or_wait))
    /// instead of the parent giving up.
    pub fn waits(&self) -> bool {
        self.wait
    }

    /// How many restarts are tolerated within a period.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The sliding period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a zero period, which nothing could ever exceed.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.period.is_zero() {
            return Err(Error::InvalidConfig {
                reason: "restart limit: period must be more than zero".to_owned(),
            });
        }
        if self.wait && self.max == 0 {
            return Err(Error::InvalidConfig {
                reason: "restart limit: a limit that waits must allow at least one restart"
                    .to_owned(),
            });
        }
        Ok(())
    }
}

/// The restarts within the last period, to tell when one more is one too many.
#[derive(Debug)]
pub(crate) struct Window {
    limit: RestartLimit,
    /// When each restart within the period happened, oldest first; at most `max + 1` long.
    at: VecDeque<Instant>,
}

impl Window {
    pub(crate) fn new(limit: RestartLimit) -> Self {
        Window {
            limit,
            at: VecDeque::new(),
        }
    }

    /// Records a restart at `now`. Returns how many fell within the period, counting this one,
    /// if that is more than the limit allows.
    pub(crate) fn exceeded_by(&mut self, now: Instant) -> Option<usize> {
        while self
            .at
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= self.limit.period)
        {
            self.at.pop_front();
        }
        self.at.push_back(now);
        let count = self.at.len();
        if count > self.limit.max as usize {
            // Bounded: the oldest is no longer needed to tell the next time.
            if count > self.limit.max as usize + 1 {
                self.at.pop_front();
            }
            return Some(count);
        }
        None
    }

    /// For a limit that waits: `None` if a restart at `now` is within the limit (and records
    /// it), else how long until it would be.
    pub(crate) fn wait_for(&mut self, now: Instant) -> Option<Duration> {
        let period = self.limit.period;
        while self
            .at
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= period)
        {
            self.at.pop_front();
        }
        if self.at.len() >= self.limit.max as usize {
            let oldest = *self
                .at
                .front()
                .expect("max is at least 1 for a limit that waits");
            return Some((oldest + period).saturating_duration_since(now));
        }
        self.at.push_back(now);
        None
    }

    pub(crate) fn limit(&self) -> RestartLimit {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_a_sliding_period() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = Window::new(RestartLimit::new(2, s(10)));
        assert_eq!(w.exceeded_by(t0), None);
        assert_eq!(w.exceeded_by(t0 + s(1)), None);
        assert_eq!(
            w.exceeded_by(t0 + s(2)),
            Some(3),
            "three within ten seconds"
        );
        // Spaced wider than the period, never.
        let mut w = Window::new(RestartLimit::new(1, s(10)));
        for i in 0..100 {
            assert_eq!(w.exceeded_by(t0 + s(10 * i)), None);
        }
        // Zero tolerates none.
        let mut w = Window::new(RestartLimit::new(0, s(1)));
        assert_eq!(w.exceeded_by(t0), Some(1));
    }

    #[test]
    fn a_limit_that_waits_says_how_long() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = Window::new(RestartLimit::new(2, s(10)).or_wait());
        assert_eq!(w.wait_for(t0), None);
        assert_eq!(w.wait_for(t0 + s(1)), None);
        assert_eq!(
            w.wait_for(t0 + s(2)),
            Some(s(8)),
            "until t0 leaves the period"
        );
        assert_eq!(w.wait_for(t0 + s(10)), None, "t0 has left it");
        assert_eq!(w.wait_for(t0 + s(10)), Some(s(1)));
        assert!(RestartLimit::new(0, s(1)).or_wait().validate().is_err());
    }

    #[test]
    fn a_zero_period_is_refused() {
        let err = RestartLimit::new(1, Duration::ZERO).validate().unwrap_err();
        assert!(err.to_string().contains("period"), "{err}");
    }
}
