//! Exponential backoff between the restarts of a node that keeps dying.
//!
//! The delay after the n-th death in a row (counting from 0) is
//! `min(initial × multiplierⁿ, max_interval)`, then spread uniformly by ± `randomization` of
//! itself so that nodes that died together do not restart together. Healthy and Done reset n to
//! 0 (Healthy only after `reset_after`, if that is set). There is no maximum elapsed time: a node that keeps failing is retried every
//! `max_interval` (± randomization) for ever, never in a tight loop.
//!
//! Why not the `backoff` crate: it is flagged unmaintained (RUSTSEC-2025-0012) and depends on
//! `instant`, flagged too (RUSTSEC-2024-0384). Its well-kept successor `backon` only adds jitter
//! upwards, which cannot express a symmetric randomization factor. The rule above is a few lines
//! of pure arithmetic; the per-node state is one counter (`Node::failures`), and the random
//! source is passed in so that tests are exact.

use std::time::Duration;

use crate::Error;

/// How long a dead node waits before it is restarted.
///
/// Defaults: initial 500 ms, multiplier 1.5, randomization 0.5, max interval 60 s.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use arbor::Backoff;
///
/// let backoff = Backoff::default()
///     .initial(Duration::from_millis(100))
///     .max_interval(Duration::from_secs(5))
///     .randomization(0.0);
/// assert_eq!(backoff.interval(0), Duration::from_millis(100));
/// assert_eq!(backoff.interval(1), Duration::from_millis(150));
/// assert_eq!(backoff.interval(50), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use = "backoff settings do nothing until they are given to a builder or iterated"]
pub struct Backoff {
    initial: Duration,
    multiplier: f64,
    randomization: f64,
    max_interval: Duration,
    reset_after: Option<Duration>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            multiplier: 1.5,
            randomization: 0.5,
            max_interval: Duration::from_secs(60),
            reset_after: None,
        }
    }
}

impl Backoff {
    /// The delay after the first death in a row. Must be more than zero.
    pub fn initial(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// How much each further death in a row multiplies the delay. Must be at least 1.
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// How far each delay is spread at random, as a fraction of itself, in `0.0..1.0` (below 1, so no delay is ever zero).
    /// With 0.5 a 1 s delay becomes anything from 0.5 s to 1.5 s; 0 makes delays exact.
    pub fn randomization(mut self, randomization: f64) -> Self {
        self.randomization = randomization;
        self
    }

    /// The longest delay before randomization. Must be at least `initial`.
    pub fn max_interval(mut self, max_interval: Duration) -> Self {
        self.max_interval = max_interval;
        self
    }

    /// Resets the backoff only once a node has stayed Healthy for `period`, instead of the
    /// moment it signals Healthy (the default). For runnables that are Healthy at once and then
    /// crash, such as a program that is spawned fine and exits a second later: with the default
    /// such a crash loop restarts at the initial delay for ever; with a period it backs off.
    /// Done still resets at once. Must be more than zero.
    pub fn reset_after(mut self, period: Duration) -> Self {
        self.reset_after = Some(period);
        self
    }

    /// Whether signalling Healthy resets the backoff at once.
    pub(crate) fn resets_on_healthy(&self) -> bool {
        self.reset_after.is_none()
    }

    /// Whether a node that dies after `healthy_for` in Healthy starts its backoff afresh.
    pub(crate) fn resets_after(&self, healthy_for: Duration) -> bool {
        self.reset_after.is_some_and(|period| healthy_for >= period)
    }

    /// Checks the settings; the builder calls this before the supervisor starts.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first setting out of range.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: &str| {
            Err(Error::InvalidConfig {
                reason: format!("backoff: {reason}"),
            })
        };
        if self.initial.is_zero() {
            return bad("initial must be more than zero");
        }
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return bad("multiplier must be a finite number of at least 1");
        }
        if !(0.0..1.0).contains(&self.randomization) {
            return bad("randomization must be within 0.0..1.0");
        }
        if self.max_interval < self.initial {
            return bad("max_interval must be at least initial");
        }
        if self.reset_after.is_some_and(|p| p.is_zero()) {
            return bad("reset_after must be more than zero");
        }
        Ok(())
    }

    /// The delay after `failures` deaths in a row (0 for the first), before randomization.
    ///
    /// Saturates: with settings near `Duration::MAX` the interval is `max_interval`, never a
    /// panic (a delay past any process's life is then a wait for ever, until cancelled).
    pub fn interval(&self, failures: u32) -> Duration {
        let max = self.max_interval.as_secs_f64();
        let grown = self.initial.as_secs_f64() * self.multiplier.powf(f64::from(failures));
        seconds(grown.min(max)).min(self.max_interval)
    }

    /// The delay to wait, with randomization drawn from `rng`.
    pub(crate) fn delay(&self, failures: u32, rng: &mut fastrand::Rng) -> Duration {
        let interval = self.interval(failures).as_secs_f64();
        let spread = self.randomization * interval;
        // Uniform over [interval - spread, interval + spread].
        seconds(interval - spread + 2.0 * spread * rng.f64())
    }

    /// The delays of a retry loop of your own, with the same rule as the tree's restarts: the
    /// first item is the delay after the first failure, each further one grows, and
    /// [`BackoffDelays::reset`] starts again after a success. The iterator never ends.
    ///
    /// For a loop inside a runnable that must not end it on every failure (a reconnect, a
    /// lease renewal), where the tree's own backoff would cost a restart each time.
    ///
    /// The settings are not checked here; call [`validate`](Backoff::validate) first for
    /// settings that come from users.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use arbor::Backoff;
    ///
    /// let backoff = Backoff::default()
    ///     .initial(Duration::from_millis(50))
    ///     .multiplier(2.0)
    ///     .max_interval(Duration::from_secs(1))
    ///     .randomization(0.0);
    /// let mut delays = backoff.delays();
    /// let first: Vec<_> = delays.by_ref().take(6).collect();
    /// assert_eq!(first.last(), Some(&Duration::from_secs(1)));
    /// delays.reset(); // it worked: the next failure waits 50 ms again
    /// assert_eq!(delays.next(), Some(Duration::from_millis(50)));
    /// ```
    pub fn delays(&self) -> BackoffDelays {
        BackoffDelays {
            backoff: *self,
            failures: 0,
            rng: fastrand::Rng::new(),
        }
    }
}

/// The delays of one retry loop, from [`Backoff::delays`]. Never ends: after
/// `max_interval` it goes on at `max_interval` (± randomization).
#[derive(Debug, Clone)]
pub struct BackoffDelays {
    backoff: Backoff,
    failures: u32,
    rng: fastrand::Rng,
}

impl BackoffDelays {
    /// Starts again from the first delay, as after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// How many delays were taken since the start or the last [`reset`](BackoffDelays::reset).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Draws the randomization from a fixed seed, so that a test sees the same delays on
    /// every run.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }
}

impl Iterator for BackoffDelays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.backoff.delay(self.failures, &mut self.rng);
        self.failures = self.failures.saturating_add(1);
        Some(delay)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl std::iter::FusedIterator for BackoffDelays {}

/// A number of seconds as a duration, saturating at `Duration::MAX` (and at zero).
fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn defaults_grow_by_half_and_cap_at_a_minute() {
        let b = Backoff::default().randomization(0.0);
        let mut rng = fastrand::Rng::with_seed(1);
        let got: Vec<_> = (0..4).map(|n| b.delay(n, &mut rng)).collect();
        assert_eq!(
            got,
            [
                ms(500),
                ms(750),
                ms(1125),
                ms(1687) + Duration::from_micros(500)
            ]
        );
        assert_eq!(b.delay(1_000, &mut rng), Duration::from_secs(60));
        assert_eq!(b.delay(u32::MAX, &mut rng), Duration::from_secs(60));
    }

    #[test]
    fn delays_follow_the_rule_and_reset() {
        let b = Backoff::default()
            .initial(ms(50))
            .multiplier(2.0)
            .max_interval(ms(1000))
            .randomization(0.0);
        let mut delays = b.delays();
        let got: Vec<_> = delays.by_ref().take(7).collect();
        assert_eq!(
            got,
            [
                ms(50),
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1000),
                ms(1000)
            ]
        );
        assert_eq!(delays.failures(), 7);
        delays.reset();
        assert_eq!(delays.failures(), 0);
        assert_eq!(delays.next(), Some(ms(50)));
        let seeded = |seed| {
            Backoff::default()
                .delays()
                .with_seed(seed)
                .take(5)
                .collect::<Vec<_>>()
        };
        assert_eq!(seeded(3), seeded(3), "a seed makes the spread repeatable");
    }

    #[test]
    fn validate_names_each_bad_setting() {
        assert!(Backoff::default().validate().is_ok());
        for (bad, what) in [
            (Backoff::default().initial(Duration::ZERO), "initial"),
            (Backoff::default().multiplier(0.5), "multiplier"),
            (Backoff::default().multiplier(f64::NAN), "multiplier"),
            (Backoff::default().randomization(1.0), "randomization"),
            (Backoff::default().randomization(-0.1), "randomization"),
            (Backoff::default().max_interval(ms(1)), "max_interval"),
            (
                Backoff::default().reset_after(Duration::ZERO),
                "reset_after",
            ),
        ] {
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(what), "{err} should name {what}");
        }
    }

    #[test]
    fn huge_settings_saturate_instead_of_panicking() {
        let b = Backoff::default()
            .initial(Duration::MAX)
            .max_interval(Duration::MAX);
        assert!(b.validate().is_ok());
        let mut rng = fastrand::Rng::with_seed(7);
        assert_eq!(b.interval(0), Duration::MAX);
        assert_eq!(b.interval(u32::MAX), Duration::MAX);
        assert!(b.delay(3, &mut rng) >= Duration::from_secs(u64::MAX / 4));
        let b = Backoff::default()
            .max_interval(Duration::MAX)
            .multiplier(1e300);
        assert_eq!(b.interval(10), Duration::MAX);
    }

    proptest! {
        #[test]
        fn randomized_delay_stays_within_its_spread(
            failures in 0u32..100,
            randomization in 0.0f64..1.0,
            seed in any::<u64>(),
        ) {
            let b = Backoff::default().randomization(randomization);
            let mut rng = fastrand::Rng::with_seed(seed);
            let interval = b.interval(failures).as_secs_f64();
            let d = b.delay(failures, &mut rng).as_secs_f64();
            let spread = randomization * interval;
            prop_assert!(d >= interval - spread - 1e-9 && d <= interval + spread + 1e-9);
            prop_assert!(d > 0.0);
        }

        #[test]
        fn intervals_never_shrink_and_never_exceed_the_max(failures in 0u32..10_000) {
            let b = Backoff::default();
            prop_assert!(b.interval(failures) <= b.interval(failures + 1));
            prop_assert!(b.interval(failures + 1) <= Duration::from_secs(60));
        }
    }
}
