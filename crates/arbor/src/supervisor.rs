//! The handle on a running tree: status, events, shutdown.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};

use crate::events::Publisher;
use crate::message::{Link, Msg};
use crate::processor::Processor;
use crate::tree::Tree;
use crate::{Backoff, Dn, Error, Events, Runnable, Status, Summary};

/// Runs a supervision tree: one processor task that owns it, under a root runnable.
///
/// Created with [`Supervisor::new`] or [`Supervisor::builder`]. The root's DN is `root`; it
/// starts its children with [`Context::run`](crate::Context::run) and
/// [`run_group`](crate::Context::run_group). Dropping the handle shuts the tree down without
/// waiting; call [`shutdown`](Supervisor::shutdown) to wait and get a report.
///
/// # Compared to `TaskTracker` and `JoinSet`
///
/// tokio-util's `TaskTracker` waits for tasks, and tokio's `JoinSet` also aborts them; neither
/// restarts anything. A supervisor restarts what dies (with backoff), cancels and restarts
/// related tasks together, and knows the state of each one.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> anyhow::Result<()> {
/// use arbor::{Context, Group, Signal, Supervisor};
///
/// async fn serve(ctx: Context) -> anyhow::Result<()> {
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// }
///
/// let sup = Supervisor::new(|ctx: Context| async move {
///     ctx.run_group(Group::new().add("db", serve).add("api", serve))?;
///     ctx.signal(Signal::Healthy)?;
///     ctx.signal(Signal::Done)?;
///     Ok(())
/// });
/// let mut events = sup.events();
/// while sup.status().await.iter().filter(|n| n.state == arbor::NodeState::Healthy).count() < 2 {
///     events.next().await;
/// }
/// println!("{}", sup.status().await);
/// sup.shutdown().await.into_result()?;
/// # Ok(())
/// # }
/// ```
pub struct Supervisor {
    tx: mpsc::UnboundedSender<Msg>,
    end: Arc<End>,
    /// How many event streams exist (the processor skips building events while none does).
    streams: Arc<std::sync::atomic::AtomicUsize>,
}

/// Where the processor leaves its results when it ends.
pub(crate) struct End {
    pub(crate) report: watch::Sender<Option<ShutdownReport>>,
    /// The final tree, so that `status()` still answers after the processor is gone.
    pub(crate) tree: Mutex<Option<Tree>>,
}

/// Settings of a supervisor, made with [`Supervisor::builder`].
#[derive(Debug, Clone)]
pub struct Builder {
    config: Config,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) backoff: Backoff,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) propagate_panics: bool,
    pub(crate) event_capacity: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: Config {
                backoff: Backoff::default(),
                shutdown_timeout: Duration::from_secs(10),
                propagate_panics: false,
                event_capacity: 4096,
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
    /// snapshot; see [`Events`]. At least 1.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.config.event_capacity = capacity;
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
        let end = Arc::new(End {
            report: watch::channel(None).0,
            tree: Mutex::new(None),
        });
        let link = Link::new(tx.clone(), runtime.clone());
        let events = Publisher::new(self.config.event_capacity);
        let streams = events.streams();
        let processor = Processor::new(Arc::new(root), self.config, link, rx, events, end.clone());
        let span = tracing::info_span!("supervisor");
        runtime.spawn(tracing::Instrument::instrument(processor.run(), span));
        Ok(Supervisor { tx, end, streams })
    }
}

impl Supervisor {
    /// Starts a tree under `root` with the default settings, on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`. [`Builder::spawn`] returns
    /// [`Error::NoRuntime`] instead.
    pub fn new(root: impl Runnable) -> Supervisor {
        match Self::builder().spawn(root) {
            Ok(sup) => sup,
            Err(err) => panic!("{err}"),
        }
    }

    /// Settings for a new supervisor.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A snapshot of the whole tree. After the supervisor has stopped, its final state.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the request has no effect on the tree.
    pub async fn status(&self) -> Status {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Msg::Status { reply }).is_ok() {
            if let Ok(status) = answer.await {
                return status;
            }
        }
        // The processor has ended; it left the tree behind before it dropped our request.
        let tree = self.end.tree.lock();
        let tree = tree
            .as_ref()
            .expect("the processor stores its tree before it stops listening");
        Status::of(tree, tokio::time::Instant::now())
    }

    /// How many nodes are in each state. Unlike [`status`](Supervisor::status), this costs the
    /// same for any size of tree. After the supervisor has stopped, its final counts.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the request has no effect on the tree.
    pub async fn summary(&self) -> Summary {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Msg::Summary { reply }).is_ok() {
            if let Ok(summary) = answer.await {
                return summary;
            }
        }
        let tree = self.end.tree.lock();
        let tree = tree
            .as_ref()
            .expect("the processor stores its tree before it stops listening");
        Summary::of(tree)
    }

    /// Every state transition from now on, after a snapshot of the current states.
    /// See [`Events`].
    pub fn events(&self) -> Events {
        Events::subscribe(self.tx.clone(), self.streams.clone())
    }

    /// Cancels the whole tree, waits until every runnable has returned (or, after the shutdown
    /// timeout, aborts the rest), and reports. Nothing restarts once this is called. Calling it
    /// again, or after the supervisor stopped, returns the same report.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the shutdown goes on if the future is dropped; `wait` gets its report.
    pub async fn shutdown(&self) -> ShutdownReport {
        let _ = self.tx.send(Msg::Shutdown);
        self.wait().await
    }

    /// Waits until the supervisor stops: after [`shutdown`](Supervisor::shutdown), or after a
    /// panic with `propagate_panics`. A tree that runs normally never stops by itself.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait(&self) -> ShutdownReport {
        let mut report = self.end.report.subscribe();
        let finished = report
            .wait_for(Option::is_some)
            .await
            .map(|report| report.clone());
        match finished {
            Ok(report) => report.expect("waited for Some"),
            // The runtime dropped the processor before it finished (the runtime is shutting
            // down): no runnable can run any more, but none was waited for either.
            Err(_) => ShutdownReport {
                stuck: Vec::new(),
                panic: None,
                elapsed: Duration::ZERO,
                interrupted: true,
            },
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("stopped", &self.end.report.borrow().is_some())
            .finish()
    }
}

/// How a supervisor ended, from [`Supervisor::shutdown`] or [`Supervisor::wait`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Nodes whose runnable had not returned by the shutdown timeout, parents first. Their tasks
    /// were aborted: they are dropped at their next `.await` (a runnable that blocks its thread
    /// without awaiting cannot be stopped by anyone).
    pub stuck: Vec<Dn>,
    /// The panic that stopped the supervisor, with `propagate_panics`.
    pub panic: Option<PanicReport>,
    /// From the start of the shutdown until the last runnable returned or was aborted.
    pub elapsed: Duration,
    /// The runtime dropped the processor before it could finish (e.g. the runtime shut down).
    pub interrupted: bool,
}

/// A runnable's panic that stopped a supervisor built with `propagate_panics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanicReport {
    /// The node whose runnable panicked.
    pub dn: Dn,
    /// The panic message.
    pub message: String,
}

impl ShutdownReport {
    /// `Ok` if every runnable returned in time and nothing panicked.
    ///
    /// # Errors
    ///
    /// [`Error::Panicked`] for a propagated panic, else [`Error::ShutdownTimedOut`] naming the
    /// stuck nodes.
    pub fn into_result(self) -> Result<(), Error> {
        if let Some(panic) = self.panic {
            return Err(Error::Panicked {
                dn: panic.dn,
                message: panic.message,
            });
        }
        if !self.stuck.is_empty() {
            return Err(Error::ShutdownTimedOut { stuck: self.stuck });
        }
        Ok(())
    }
}
