//! The settings of a supervisor, and where a supervisor is started from.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::events::Publisher;
use crate::handoff::Handoff;
use crate::link::Link;
use crate::processor::Processor;
use crate::{Backoff, Error, Runnable, Supervisor};

/// Settings of a supervisor, made with [`Supervisor::builder`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), arbor::Error> {
/// use std::time::Duration;
/// use arbor::{Backoff, Context, Supervisor};
///
/// let sup = Supervisor::builder()
///     .backoff(Backoff::default().initial(Duration::from_millis(100)))
///     .shutdown_timeout(Duration::from_secs(5))
///     .spawn(|ctx: Context| async move {
///         ctx.cancelled().await;
///         Ok(())
///     })?;
/// sup.shutdown().await.into_result()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `spawn` is called"]
pub struct Builder {
    config: Config,
}

/// What the processor is told by the builder.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) backoff: Backoff,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) propagate_panics: bool,
    pub(crate) event_capacity: usize,
    pub(crate) metric_dns: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: Config {
                backoff: Backoff::default(),
                shutdown_timeout: Duration::from_secs(10),
                propagate_panics: false,
                event_capacity: 4096,
                metric_dns: 256,
            },
        }
    }
}

impl Builder {
    /// The backoff between restarts of a node that keeps dying (default: [`Backoff::default`]).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// How long [`Supervisor::shutdown`] waits for runnables to return before it aborts them
    /// and reports them as stuck (default: 10 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// With `true`, a panic in any runnable stops the whole supervisor, and
    /// [`wait`](Supervisor::wait) / [`shutdown`](Supervisor::shutdown) report it as
    /// [`Error::Panicked`]; for tests, where a panic is a bug. With `false` (the default), a
    /// panic is a death like any other: logged, and the node restarted with backoff.
    pub fn propagate_panics(mut self, propagate: bool) -> Self {
        self.config.propagate_panics = propagate;
        self
    }

    /// How many of the latest transitions the event streams keep for readers that fall behind
    /// (default: 4096, shared by all streams). A stream further behind skips to a fresh
    /// snapshot; see [`EventStream`](crate::EventStream). At least 1.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.config.event_capacity = capacity;
        self
    }

    /// How many distinct DNs the `dn` label of the per-node metrics may take (default: 256):
    /// the first DNs to restart or fail get their own, the rest share `dn="other"`, so that a
    /// big tree cannot flood the metrics backend. 0 counts every node as `other`. See the
    /// [metrics](crate#metrics) the tree reports.
    pub fn metric_dns(mut self, max: usize) -> Self {
        self.config.metric_dns = max;
        self
    }

    /// Starts the processor on the current tokio runtime, and the root runnable under it.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidConfig`] if the backoff is out of range;
    /// - [`Error::NoRuntime`] outside a tokio runtime.
    pub fn spawn(self, root: impl Runnable) -> Result<Supervisor, Error> {
        self.config.backoff.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let handoff = Arc::new(Handoff::new());
        let events = Publisher::new(self.config.event_capacity);
        let streams = events.streams();
        let link = Link::new(tx.clone(), runtime.clone(), streams.clone());
        let processor = Processor::new(
            Arc::new(root),
            self.config,
            link,
            rx,
            events,
            handoff.clone(),
        );
        let span = tracing::info_span!("supervisor");
        runtime.spawn(tracing::Instrument::instrument(processor.run(), span));
        Ok(Supervisor::from_parts(tx, handoff, streams))
    }
}
