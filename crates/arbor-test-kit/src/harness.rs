//! A harness for testing your own runnables: run one under a supervisor made for tests, wait
//! on its states with a deadline, read what it logged, and shut it down checked.

use std::fmt;

use arbor::{Builder, Event, NodeState, Runnable, ShutdownReport, Supervisor};

use crate::{builder, LogLine, Logs, DEADLINE};

/// Runs a runnable as the root of a supervisor made for tests:
///
/// - panics propagate ([`Builder::propagate_panics`]): a panic fails [`shutdown`](Harness::shutdown);
/// - the backoff is exact (arbor's defaults, no randomization), so under tokio's paused clock
///   (`#[tokio::test(start_paused = true)]`) a restart's delay is read to the nanosecond and
///   waiting costs no real time;
/// - the test's log lines are captured (on the test's own thread: see
///   [`Logs::capture_local`]), and printed as `RUST_LOG` asks;
/// - every wait has a deadline ([`DEADLINE`], on tokio's clock) and fails the test with the
///   node's last error and the whole tree, instead of hanging.
///
/// # Examples
///
/// ```
/// use arbor::{Context, NodeState, Signal};
/// use arbor_test_kit::Harness;
///
/// /// The runnable under test: fails once, then serves.
/// async fn flaky(ctx: Context) -> anyhow::Result<()> {
///     static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
///     if RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
///         anyhow::bail!("first run fails");
///     }
///     tracing::info!("serving");
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut harness = Harness::new(flaky);
/// let died = harness.until_state("root", NodeState::Dead).await;
/// assert_eq!(died.error.as_deref(), Some("first run fails"));
/// let back = harness.until_state("root", NodeState::Healthy).await;
/// assert_eq!(back.run, 1);
/// assert!(harness.logs().iter().any(|l| l.message == "serving"));
/// harness.shutdown().await;
/// # }
/// ```
pub struct Harness {
    sup: Supervisor,
    logs: Logs,
    _capture: tracing::subscriber::DefaultGuard,
}

/// A wait of the [`Harness`] that ran out of time: what it waited for, and what the tree
/// looked like then.
#[derive(Debug, Clone)]
pub struct Timeout {
    /// What was waited for, e.g. `root.db: Healthy`.
    pub waited_for: String,
    /// The watched node's last error, if it ever died.
    pub last_error: Option<String>,
    /// The whole tree when the wait gave up.
    pub tree: String,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gave up after {DEADLINE:?} waiting for {}",
            self.waited_for
        )?;
        if let Some(error) = &self.last_error {
            write!(f, "; its last error: {error}")?;
        }
        write!(f, "\nthe tree:\n{}", self.tree)
    }
}

impl Harness {
    /// Runs `root` with the kit's settings.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(root: impl Runnable) -> Harness {
        Harness::with(builder(), root)
    }

    /// Runs `root` with settings of your own (start from [`builder`] to keep the kit's).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or with settings the builder refuses.
    pub fn with(settings: Builder, root: impl Runnable) -> Harness {
        // Installed before the tree starts, so that its first lines are captured too.
        let (logs, capture) = Logs::capture_local();
        let sup = settings
            .spawn(root)
            .expect("a valid supervisor for the test");
        Harness {
            sup,
            logs,
            _capture: capture,
        }
    }

    /// The supervisor, for what the harness does not wrap (orders, status, events).
    pub fn supervisor(&self) -> &Supervisor {
        &self.sup
    }

    /// Waits until an event of `dn` makes `condition` true (see [`arbor::Watch::until`]).
    ///
    /// # Errors
    ///
    /// [`Timeout`] after the [`DEADLINE`], with what was waited for (`what`) and the tree.
    pub async fn try_until(
        &self,
        dn: &str,
        what: &str,
        condition: impl FnMut(&Event) -> bool,
    ) -> Result<Event, Timeout> {
        let waited = self.sup.watch(dn).within(DEADLINE).until(condition).await;
        match waited {
            Ok(event) => Ok(event),
            Err(_) => {
                let status = self.sup.status().await;
                Err(Timeout {
                    waited_for: format!("{dn}: {what}"),
                    last_error: status
                        .get(dn)
                        .and_then(|n| n.last_error.as_deref().map(str::to_owned)),
                    tree: status.to_string(),
                })
            }
        }
    }

    /// Waits until an event of `dn` makes `condition` true.
    ///
    /// # Panics
    ///
    /// After the [`DEADLINE`], with the node's last error and the tree.
    pub async fn until(
        &self,
        dn: &str,
        what: &str,
        condition: impl FnMut(&Event) -> bool,
    ) -> Event {
        match self.try_until(dn, what, condition).await {
            Ok(event) => event,
            Err(timeout) => panic!("{timeout}"),
        }
    }

    /// Waits until `dn` is in `state`.
    ///
    /// # Panics
    ///
    /// As [`until`](Harness::until).
    pub async fn until_state(&self, dn: &str, state: NodeState) -> Event {
        let what = format!("{state:?}");
        self.until(dn, &what, |e| e.to == state && !e.removed).await
    }

    /// Every line the test logged since the last call (or since the harness started).
    pub fn logs(&mut self) -> Vec<LogLine> {
        self.logs.received()
    }

    /// Shuts the tree down and returns the report.
    ///
    /// # Panics
    ///
    /// If a runnable panicked, or did not return in time.
    pub async fn shutdown(self) -> ShutdownReport {
        let report = self.sup.shutdown().await;
        if let Err(err) = report.clone().into_result() {
            panic!("the tree did not shut down cleanly: {err}");
        }
        report
    }
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("sup", &self.sup)
            .finish_non_exhaustive()
    }
}
