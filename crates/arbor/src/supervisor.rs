//! The handle on a running tree: what users hold to read it and to end it.

use std::fmt;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::handoff::Handoff;
use crate::message::{Msg, Order};
use crate::{
    Builder, Error, EventStream, Runnable, ShutdownReport, StateCounts, TreeStatus, Watch,
};

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
/// while sup.counts().await.healthy < 2 {
///     events.next().await;
/// }
/// println!("{}", sup.status().await);
/// sup.shutdown().await.into_result()?;
/// # Ok(())
/// # }
/// ```
pub struct Supervisor {
    tx: mpsc::UnboundedSender<Msg>,
    handoff: Arc<Handoff>,
    /// How many event streams exist (the processor skips building events while none does).
    streams: Arc<AtomicUsize>,
}

impl Supervisor {
    pub(crate) fn from_parts(
        tx: mpsc::UnboundedSender<Msg>,
        handoff: Arc<Handoff>,
        streams: Arc<AtomicUsize>,
    ) -> Self {
        Supervisor {
            tx,
            handoff,
            streams,
        }
    }

    /// Starts a tree under `root` with the default settings, on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`. [`Builder::spawn`] returns
    /// [`Error::NoRuntime`](crate::Error::NoRuntime) instead.
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
    pub async fn status(&self) -> TreeStatus {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Msg::ReportStatus { reply }).is_ok() {
            if let Ok(status) = answer.await {
                return status;
            }
        }
        // The processor has ended; it left the tree behind before it dropped our request.
        self.handoff
            .with_tree(|tree| TreeStatus::of(tree, tokio::time::Instant::now()))
    }

    /// How many nodes are in each state. Unlike [`status`](Supervisor::status), this costs the
    /// same for any size of tree. After the supervisor has stopped, its final counts.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the request has no effect on the tree.
    pub async fn counts(&self) -> StateCounts {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Msg::ReportCounts { reply }).is_ok() {
            if let Ok(counts) = answer.await {
                return counts;
            }
        }
        self.handoff.with_tree(StateCounts::of)
    }

    /// Restarts the node `dn` now, as a bounce (OTP's `restart_child`): its subtree is told to
    /// stop, and once it has stopped the node starts again at once, with no backoff (what it
    /// owed is forgiven) and no failure counted. Its group is left alone. Returns once the tree
    /// has taken the order, not once the node is up: [`watch`](Supervisor::watch) it for that.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchNode`], [`Error::AlreadyStopped`] for a node stopped by order, and
    /// [`Error::ShuttingDown`].
    pub async fn restart_node(&self, dn: &str) -> Result<(), Error> {
        self.order(dn, Order::Restart).await
    }

    /// Stops the node `dn` and keeps it stopped (OTP's `terminate_child`): its subtree is told
    /// to stop, and once its run has returned it is [`Stopped`](crate::NodeState::Stopped). It
    /// is not restarted, not even with its group, until [`start_node`](Supervisor::start_node);
    /// its group's other members keep running. (A restart of its parent removes it with the
    /// parent's other children, and the parent's new run starts it anew.)
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchNode`], [`Error::AlreadyStopped`], and [`Error::ShuttingDown`].
    pub async fn stop_node(&self, dn: &str) -> Result<(), Error> {
        self.order(dn, Order::Stop).await
    }

    /// Starts again the node `dn`, stopped by [`stop_node`](Supervisor::stop_node): a new run
    /// at once, once its subtree has stopped.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchNode`], [`Error::NotStopped`] for a node not stopped by order, and
    /// [`Error::ShuttingDown`].
    pub async fn start_node(&self, dn: &str) -> Result<(), Error> {
        self.order(dn, Order::Start).await
    }

    async fn order(&self, dn: &str, order: Order) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        let msg = Msg::Order {
            dn: dn.into(),
            parent: None,
            order,
            reply,
        };
        if self.tx.send(msg).is_err() {
            return Err(Error::ShuttingDown);
        }
        answer.await.unwrap_or(Err(Error::ShuttingDown))
    }

    /// A wait on the node `dn`: see [`Watch`].
    pub fn watch(&self, dn: impl Into<String>) -> Watch {
        let dn = dn.into();
        let events = EventStream::subscribe_to(
            self.tx.clone(),
            self.streams.clone(),
            Some(dn.as_str().into()),
        );
        Watch::new(dn, events)
    }

    /// Every state transition from now on, after a snapshot of the current states.
    /// See [`EventStream`].
    pub fn events(&self) -> EventStream {
        EventStream::subscribe(self.tx.clone(), self.streams.clone())
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
        let mut report = self.handoff.report.subscribe();
        let finished = report
            .wait_for(Option::is_some)
            .await
            .map(|report| report.clone());
        match finished {
            Ok(report) => report.expect("waited for Some"),
            // The runtime dropped the processor before it finished (the runtime is shutting
            // down): no runnable can run any more, but none was waited for either.
            Err(_) => ShutdownReport::interrupted(Vec::new(), Duration::ZERO),
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
            .field("stopped", &self.handoff.report.borrow().is_some())
            .finish()
    }
}
