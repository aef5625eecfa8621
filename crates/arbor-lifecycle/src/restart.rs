//! A task's restart policy, as Nomad's `restart` block states it, mapped onto the core's
//! backoff and restart limit.

use std::time::Duration;

use arbor::{Backoff, RestartLimit};

/// What happens when a task has used up its attempts within the interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// The group fails (the default): its node dies, and its parent's policy applies, as for
    /// any death.
    #[default]
    Fail,
    /// The task waits until the oldest restart has left the interval, then tries again, for
    /// ever; the group does not fail.
    Delay,
}

/// How a failed task is restarted: at most `attempts` restarts within any `interval`, each
/// after `delay`, and then `mode`. A task that ends cleanly (an ephemeral one's success) is
/// not restarted at all.
///
/// Defaults, as Nomad's for service jobs: 2 attempts in 30 minutes, a 15 s delay, mode fail.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use arbor_lifecycle::{Mode, RestartPolicy};
///
/// // A migration retried 3 times a minute, a second apart, then the group fails.
/// let policy = RestartPolicy::default()
///     .attempts(3)
///     .interval(Duration::from_secs(60))
///     .delay(Duration::from_secs(1))
///     .mode(Mode::Fail);
/// assert_eq!(policy.get_attempts(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RestartPolicy {
    attempts: u32,
    interval: Duration,
    delay: Duration,
    mode: Mode,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            attempts: 2,
            interval: Duration::from_secs(30 * 60),
            delay: Duration::from_secs(15),
            mode: Mode::Fail,
        }
    }
}

impl RestartPolicy {
    /// How many restarts are allowed within an interval. 0 with [`Mode::Fail`]: the first
    /// failure fails the group.
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// The sliding interval the attempts are counted in. Must be more than zero.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The wait before each restart. Must be more than zero.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// What happens once the attempts are used up.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The attempts allowed within an interval.
    pub fn get_attempts(&self) -> u32 {
        self.attempts
    }

    /// What it says, if it cannot be applied.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if self.interval.is_zero() {
            Some("its restart interval is zero")
        } else if self.delay.is_zero() {
            Some("its restart delay is zero")
        } else if self.mode == Mode::Delay && self.attempts == 0 {
            Some("mode delay needs at least one attempt")
        } else {
            None
        }
    }

    /// The core's limit for it: a limit that waits, for [`Mode::Delay`].
    pub(crate) fn limit(&self) -> RestartLimit {
        let limit = RestartLimit::new(self.attempts, self.interval);
        match self.mode {
            Mode::Fail => limit,
            Mode::Delay => limit.or_wait(),
        }
    }

    /// The core's backoff for it: the delay, every time.
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff::default()
            .initial(self.delay)
            .multiplier(1.0)
            .randomization(0.0)
            .max_interval(self.delay)
    }
}
