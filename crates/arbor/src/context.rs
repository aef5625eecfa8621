//! A runnable's handle on its own node: what it may do, checked at the call.
//!
//! A context checks its runnable's calls itself, against the part of the node's state that only
//! the runnable can change (its phase and its children's names), and then tells the processor.
//! So every misuse is answered at once, synchronously, and the processor's tree is never locked.
//!
//! # Invariants
//!
//! 1. `Local` is touched only through the runnable's own calls (and by the task wrapper when
//!    the run ends); the processor locks it only to copy the notes into a status snapshot, to
//!    free the name of a child that left the tree, and to wake the run's waiters when it
//!    cancels the run (see `cancel`). The lock exists because a context may be cloned into
//!    tasks the runnable spawns; it is never held across an `.await`.
//! 2. Messages are sent while `Local` is locked, so the processor sees them in the order the
//!    checks were made (an AddChildren never overtakes the Healthy that forbade it).
//! 3. A run's children are started by the run itself: their contexts are made and their tasks
//!    spawned here, on the worker the parent runs on, so start-up spreads over the runtime
//!    instead of queueing behind the processor. The AddChildren message is sent before the tasks are
//!    spawned, so the processor registers a child before any message from it can arrive.
//! 4. `node` is written once, by the processor, when it registers the run; the processor reads
//!    it only after that. Messages carry the context itself, so a message from an old run
//!    is recognised by identity, never by a number that could repeat.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};
use smallvec::SmallVec;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Span;

use crate::cancel::{Cancelled, Waiters};
use crate::child_names::ChildNames;
use crate::link::{Link, SharedLink};
use crate::message::{Msg, Order};
use crate::node::NodeId;
use crate::{
    task, Child, Dn, Error, Group, Name, NodeState, RestartLimit, Runnable, Signal, Significant,
    Watch,
};

/// Up to this many members, a group's names are checked against each other by scanning.
const FEW_MEMBERS: usize = 16;

/// A runnable's view of its node: its DN, its children, its signals and its cancellation.
///
/// Cloning is cheap; all clones speak for the same run. A context belongs to one run: once that
/// run has returned, its calls fail with [`Error::RunEnded`].
#[derive(Clone)]
pub struct Context {
    /// A triomphe `Arc`: no weak count, which no context needs (8 bytes of every node).
    inner: triomphe::Arc<Inner>,
}

struct Inner {
    /// The node's slot in the processor's tree (invariant 4); 0 until registered.
    node: AtomicU32,
    /// The stop signal: set once, by the processor, never cleared (see `cancel`).
    cancelled: AtomicBool,
    dn: Dn,
    /// `None` when no subscriber wants node spans: a disabled span still takes 40 bytes, and
    /// every node pays for this field.
    span: Option<Box<Span>>,
    link: SharedLink,
    local: Mutex<Local>,
}

struct Local {
    phase: Phase,
    /// The futures waiting for the stop signal (`cancelled`).
    waiters: Waiters,
    children: ChildNames,
    /// The run may start children after New (`allow_late_children`).
    late_children: bool,
    /// The run stops its children itself (`defer_children_stop`): children it starts once
    /// told to stop are not born cancelled.
    defer_stop: bool,
    /// What few runs use, boxed: every context pays 8 bytes for it, not 16 for each part.
    rare: Option<Box<Rare>>,
    /// The run's task, so that a timed-out shutdown can abort it. Kept under the run's lock
    /// rather than in a `OnceLock` (16 bytes): set once and read rarely, it costs 8 bytes
    /// here, and every context is one allocator size class smaller (see `CONTEXT_SIZE`). The
    /// join handle itself, not an abort handle made from it: that would take a reference of
    /// its own and drop the join handle on tokio's slow path, at every spawn.
    task: Option<JoinHandle<()>>,
}

/// The parts of a run that most runs never use, made when first needed.
#[derive(Default)]
struct Rare {
    /// This run's notes (`annotate`). Kept here rather than sent to the processor, so that a
    /// runnable annotating in a loop costs no queue space.
    notes: Notes,
    /// The token of [`child_token`](Context::child_token), made when first asked for.
    token: Option<CancellationToken>,
}

/// How far this run has got, as far as only the runnable can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Healthy,
    /// Signalled Done. The node becomes Done only when the runnable returns `Ok(())` (state
    /// table row 3), but the runnable's own calls are answered as if it were Done already:
    /// that is the state it has put itself in.
    DoneSignalled,
    /// Broke a signal rule; the processor treats the node as dead.
    Misused,
    Ended,
}

impl Phase {
    /// The state to name in errors.
    fn state(self) -> NodeState {
        match self {
            Phase::New => NodeState::New,
            Phase::Healthy => NodeState::Healthy,
            Phase::DoneSignalled => NodeState::Done,
            Phase::Misused | Phase::Ended => NodeState::Dead,
        }
    }
}

/// A run's notes, in key order.
type Notes = std::collections::BTreeMap<&'static str, String>;

/// What the task wrapper learns when the run ends.
pub(crate) struct RunEnd {
    pub(crate) done_signalled: bool,
    pub(crate) misused: bool,
}

impl Context {
    /// A context for a new run of the node `dn`; cancelled from birth if `cancelled`.
    pub(crate) fn new(dn: Dn, link: SharedLink, cancelled: bool) -> Self {
        // Node spans are not nested under their parent's span: `dn` already carries the path,
        // and nesting would repeat it in every line and keep each parent's span alive.
        let span = tracing::info_span!(parent: None, "node", dn = %dn);
        let span = (!span.is_disabled()).then(|| Box::new(span));
        Context {
            inner: triomphe::Arc::new(Inner {
                node: AtomicU32::new(0),
                dn,
                cancelled: AtomicBool::new(cancelled),
                span,
                link,
                local: Mutex::new(Local {
                    phase: Phase::New,
                    waiters: Waiters::default(),
                    children: ChildNames::new(),
                    late_children: false,
                    defer_stop: false,
                    rare: None,
                    task: None,
                }),
            }),
        }
    }

    /// This node's distinguished name, e.g. `root.api.listener`.
    pub fn dn(&self) -> &Dn {
        &self.inner.dn
    }

    /// The tracing span of this run; it carries `dn`. The runnable's future already runs
    /// inside it, so this is for tasks the runnable spawns itself:
    /// `tokio::spawn(fut.instrument(ctx.span().clone()))`.
    pub fn span(&self) -> &Span {
        static DISABLED: OnceLock<Span> = OnceLock::new();
        match &self.inner.span {
            Some(span) => span,
            None => DISABLED.get_or_init(Span::none),
        }
    }

    /// Starts one child called `name`, in a group of its own.
    ///
    /// # Errors
    ///
    /// The same as [`run_group`](Context::run_group).
    pub fn run(
        &self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        runnable: impl Runnable,
    ) -> Result<(), Error> {
        self.run_child(Child::new(name, runnable))
    }

    /// Starts one child with its own policy (see [`Child`]), in a group of its own.
    ///
    /// # Errors
    ///
    /// The same as [`run_group`](Context::run_group).
    pub fn run_child(&self, child: Child) -> Result<(), Error> {
        self.run_group(Group::of_one(child))
    }

    /// Starts the members of `group` as children that co-restart: if one dies, the others are
    /// cancelled and all restart. Either every member starts or, on error, none does.
    ///
    /// # Errors
    ///
    /// - [`Error::NotNew`] unless this node is New (after signalling, children are not allowed);
    /// - [`Error::EmptyGroup`] for a group without members;
    /// - [`Error::InvalidConfig`] for a [`restart_limit`](Group::restart_limit) with a zero
    ///   period, or a member's [`backoff`](Child::backoff) out of range;
    /// - [`Error::InvalidName`] for a name that is not a valid [`Name`];
    /// - [`Error::DuplicateName`] for a name this node already gave a child in this run, or that
    ///   the group repeats;
    /// - [`Error::RunEnded`] when the run this context belongs to has returned.
    ///
    /// Each error is also logged as a warning in this node's span. None of them kills the node.
    pub fn run_group(&self, mut group: Group) -> Result<(), Error> {
        let mut local = self.inner.local.lock();
        if let Err(err) = self.check_group(&local, &mut group) {
            drop(local);
            tracing::warn!(parent: self.span(), dn = %self.inner.dn, error = %err, "rejected children");
            return Err(err);
        }
        // An ordered group's later members begin once the ones before them are up; the
        // processor starts them.
        let spawned = if group.is_ordered() { 1 } else { group.len() };
        // Most groups are small: their starts are kept on the stack.
        let mut starts: SmallVec<[(Context, Arc<dyn Runnable>); 4]> = SmallVec::new();
        for (i, member) in group.members.iter().enumerate() {
            let ctx = member.ctx.as_ref().expect("checked members have a context");
            local.children.insert(ctx.dn().clone());
            if i < spawned {
                starts.push((ctx.clone(), member.runnable.clone()));
            }
        }
        if self
            .inner
            .link
            .send(Msg::AddChildren {
                parent: self.clone(),
                group,
            })
            .is_err()
        {
            // The supervisor has stopped; nobody would ever stop these children.
            return Err(Error::RunEnded {
                dn: self.inner.dn.clone(),
            });
        }
        drop(local);
        for (ctx, runnable) in starts {
            task::spawn(ctx, runnable, std::time::Duration::ZERO, None);
        }
        Ok(())
    }

    /// Checks the call and the names, and gives each member its DN.
    fn check_group(&self, local: &Local, group: &mut Group) -> Result<(), Error> {
        let parent = &self.inner.dn;
        match local.phase {
            Phase::Healthy | Phase::DoneSignalled if local.late_children => {}
            _ => self.check_new(local)?,
        }
        if let Some(limit) = group.limit() {
            limit.validate()?;
        }
        for member in &group.members {
            if let Some(backoff) = member.own_backoff() {
                backoff.validate()?;
            }
        }
        if group.is_empty() {
            return Err(Error::EmptyGroup {
                parent: parent.clone(),
            });
        }
        // The group's own names, to refuse repeats: the members before each one for a few
        // (no copies, no allocation), a set for many, so that a group of any size is checked
        // in linear time.
        let mut in_group = (group.members.len() > FEW_MEMBERS).then(ChildNames::new);
        for i in 0..group.members.len() {
            let (earlier, rest) = group.members.split_at_mut(i);
            let member = &mut rest[0];
            // The DN takes the name (inline if short, see `Dn`); the group is consumed.
            let name =
                Name::new(std::mem::take(&mut member.name)).map_err(|err| Error::InvalidName {
                    parent: parent.clone(),
                    name: err.name().to_owned(),
                    reason: err.reason(),
                })?;
            let dn = parent.child(name);
            let repeated = match &mut in_group {
                Some(names) => names.contains(&dn),
                None => earlier
                    .iter()
                    .filter_map(|m| m.ctx.as_ref())
                    .any(|ctx| ctx.dn().name() == dn.name()),
            };
            if repeated || local.children.contains(&dn) {
                return Err(Error::DuplicateName {
                    parent: parent.clone(),
                    name: dn.name().to_owned(),
                });
            }
            if let Some(names) = &mut in_group {
                names.insert(dn.clone());
            }
            member.ctx = Some(Context::new(
                dn,
                self.inner.link.clone(),
                self.is_cancelled() && !local.defer_stop,
            ));
        }
        Ok(())
    }

    /// Limits how often this run's children may be restarted after a failure: more than
    /// `limit` allows within its period, and this node dies, with its children (see
    /// [`RestartLimit`]). Applies to this run; a restart starts without a limit until the new
    /// run sets one again. Setting it again replaces it.
    ///
    /// # Errors
    ///
    /// - [`Error::NotNew`] unless this node is New (set it before or while starting children);
    /// - [`Error::InvalidConfig`] for a zero period;
    /// - [`Error::RunEnded`] when the run this context belongs to has returned.
    pub fn limit_restarts(&self, limit: RestartLimit) -> Result<(), Error> {
        limit.validate()?;
        let local = self.inner.local.lock();
        self.check_new(&local)?;
        self.send(Msg::LimitRestarts {
            ctx: self.clone(),
            limit,
        });
        Ok(())
    }

    /// `Ok` while this run is New.
    fn check_new(&self, local: &Local) -> Result<(), Error> {
        let dn = &self.inner.dn;
        match local.phase {
            Phase::New => Ok(()),
            Phase::Ended => Err(Error::RunEnded { dn: dn.clone() }),
            other => Err(Error::NotNew {
                dn: dn.clone(),
                state: other.state(),
            }),
        }
    }

    /// Ends this run when its [significant](Child::significant) children end cleanly: the first
    /// one, or all of them (OTP's `auto_shutdown`). Then this node's subtree is told to stop,
    /// so its other children are cancelled and [`cancelled`](Context::cancelled) completes, and
    /// the run's return of `Ok(())` makes the node Done (row 16 of the
    /// [state table](NodeState#state-table); an `Err` is a death). This is "run this job with
    /// its helpers, and finish when the job does", without a loop of one's own.
    ///
    /// # Errors
    ///
    /// [`Error::NotNew`] unless this node is New, and [`Error::RunEnded`].
    ///
    /// # Examples
    ///
    /// ```
    /// use arbor::{Child, Context, Signal, Significant};
    ///
    /// # async fn job(_: Context) -> anyhow::Result<()> { Ok(()) }
    /// # async fn log_shipper(_: Context) -> anyhow::Result<()> { Ok(()) }
    /// async fn batch(ctx: Context) -> anyhow::Result<()> {
    ///     ctx.finish_with(Significant::Any)?;
    ///     ctx.run_child(Child::new("job", job).significant())?;
    ///     ctx.run("log_shipper", log_shipper)?;
    ///     ctx.signal(Signal::Healthy)?;
    ///     ctx.cancelled().await; // the job is done (or the tree stops)
    ///     Ok(())
    /// }
    /// ```
    pub fn finish_with(&self, mode: Significant) -> Result<(), Error> {
        let local = self.inner.local.lock();
        self.check_new(&local)?;
        self.send(Msg::FinishWith {
            ctx: self.clone(),
            mode,
        });
        Ok(())
    }

    /// Lets this run start children after New too (OTP's `start_child` on a running
    /// supervisor): [`run`](Context::run), [`run_child`](Context::run_child) and
    /// [`run_group`](Context::run_group) then work while Healthy (and after signalling Done)
    /// until the run ends, so that a layer such as a dependency engine can add children as it
    /// learns of them. A restart of this node still removes them all, and the new run starts
    /// what it wants again. The names of its children are kept for the whole run, to refuse
    /// duplicates; the name of a child that left the tree is free again.
    ///
    /// # Errors
    ///
    /// [`Error::NotNew`] unless this node is New, and [`Error::RunEnded`].
    pub fn allow_late_children(&self) -> Result<(), Error> {
        let mut local = self.inner.local.lock();
        self.check_new(&local)?;
        local.late_children = true;
        Ok(())
    }

    /// Makes this run stop its children itself, in the order it chooses, as an OTP supervisor
    /// does when it terminates: when this node is told to stop (shutdown, a death above it or
    /// in its group, its own restart limit), only its run is told. Its children go on until the
    /// run stops them with [`stop_child`](Context::stop_child) (which works during a shutdown
    /// too, for such a run), and those still running are told once the run has returned or
    /// been aborted. Children the run starts after it was told to stop are not born cancelled:
    /// this is how cleanup work (a poststop task) runs as an ordinary child while its parent
    /// winds down. They are never restarted, as no child of a stopping node is.
    ///
    /// Such a run should stop its children promptly once [`cancelled`](Context::cancelled)
    /// completes: its own [`StopTimeout`](crate::StopTimeout), and the shutdown deadline,
    /// still bound how long it takes. Call it while New, before starting children.
    ///
    /// # Errors
    ///
    /// [`Error::NotNew`] unless this node is New, and [`Error::RunEnded`].
    ///
    /// # Examples
    ///
    /// ```
    /// use arbor::{Context, NodeState, Signal};
    ///
    /// # async fn server(ctx: Context) -> anyhow::Result<()> { ctx.signal(Signal::Healthy)?; ctx.cancelled().await; Ok(()) }
    /// # async fn proxy(ctx: Context) -> anyhow::Result<()> { ctx.signal(Signal::Healthy)?; ctx.cancelled().await; Ok(()) }
    /// async fn service(ctx: Context) -> anyhow::Result<()> {
    ///     ctx.defer_children_stop()?;
    ///     ctx.run("proxy", proxy)?;
    ///     ctx.run("server", server)?;
    ///     ctx.signal(Signal::Healthy)?;
    ///     ctx.cancelled().await;
    ///     // The server first, then the proxy it talks through.
    ///     for name in ["server", "proxy"] {
    ///         let mut stopped = ctx.watch_child(name);
    ///         ctx.stop_child(name).await?;
    ///         stopped.until_state(NodeState::Stopped).await?;
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn defer_children_stop(&self) -> Result<(), Error> {
        let mut local = self.inner.local.lock();
        self.check_new(&local)?;
        local.defer_stop = true;
        self.send(Msg::DeferChildrenStop { ctx: self.clone() });
        Ok(())
    }

    /// Restarts this run's child `name` now, as a bounce: see
    /// [`Supervisor::restart_node`](crate::Supervisor::restart_node). The order is given when
    /// this is called; the future waits for the tree to take it, so many orders given before
    /// any is awaited are taken together.
    ///
    /// # Errors
    ///
    /// As `restart_node`; [`Error::NoSuchNode`] for a name that is not a child of this run;
    /// [`Error::RunEnded`].
    pub fn restart_child(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        self.order_child(name, Order::Restart)
    }

    /// Stops this run's child `name` and keeps it stopped: see
    /// [`Supervisor::stop_node`](crate::Supervisor::stop_node).
    ///
    /// # Errors
    ///
    /// As [`restart_child`](Context::restart_child).
    pub fn stop_child(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        self.order_child(name, Order::Stop)
    }

    /// Starts again this run's child `name`, stopped by [`stop_child`](Context::stop_child):
    /// see [`Supervisor::start_node`](crate::Supervisor::start_node).
    ///
    /// # Errors
    ///
    /// As [`restart_child`](Context::restart_child), and [`Error::NotStopped`].
    pub fn resume_child(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        self.order_child(name, Order::Start)
    }

    /// Takes this run's child `name` out of the tree (OTP's `terminate_child`, then
    /// `delete_child`): it is told to stop, with its subtree, and leaves the tree once it has
    /// (an event with [`removed`](crate::Event::removed)); its name is then free again.
    /// Returns once the tree has taken the order, not once the child is gone; by the time its
    /// removal is published (an [`Event`](crate::Event) with `removed`), its name is free, so
    /// a run that waits for that event may start a new child of the same name at once.
    ///
    /// # Errors
    ///
    /// As [`restart_child`](Context::restart_child).
    pub fn remove_child(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        self.order_child(name, Order::Remove)
    }

    /// Sends the order now, and returns the wait for its answer: so that a run can give many
    /// orders at once (the processor takes them in one batch) and then wait for them.
    fn order_child(
        &self,
        name: &str,
        order: Order,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let sent = if self.inner.local.lock().phase == Phase::Ended {
            Err(Error::RunEnded {
                dn: self.inner.dn.clone(),
            })
        } else {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let msg = Msg::Order {
                dn: format!("{}.{name}", self.inner.dn).into_boxed_str(),
                parent: Some(self.clone()),
                order,
                reply,
            };
            match self.inner.link.send(msg) {
                Ok(()) => Ok(answer),
                Err(_) => Err(Error::ShuttingDown),
            }
        };
        async move { sent?.await.unwrap_or(Err(Error::ShuttingDown)) }
    }

    /// Frees the name of a child that left the tree. Processor only.
    pub(crate) fn forget_child(&self, dn: &Dn) {
        self.inner.local.lock().children.remove(dn);
    }

    /// A wait on this run's child `name` (e.g. "until it is Done"): see [`Watch`].
    pub fn watch_child(&self, name: &str) -> Watch {
        let dn = format!("{}.{name}", self.inner.dn);
        let events = self.inner.link.events_of(&dn);
        Watch::new(dn, events)
    }

    /// Tells the supervisor how far this runnable has got.
    ///
    /// `Healthy` is allowed once, while New; `Done` once, after Healthy, and takes effect when
    /// the runnable then returns `Ok(())`.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidSignal`] for any other signal. This is a programming error: it is
    ///   logged with the DN, and the node is treated as dead (cancelled, with its children and
    ///   group siblings, and restarted with backoff once it returns).
    /// - [`Error::RunEnded`] when the run this context belongs to has returned.
    pub fn signal(&self, signal: Signal) -> Result<(), Error> {
        let mut local = self.inner.local.lock();
        match (signal, local.phase) {
            (Signal::Healthy, Phase::New) => {
                local.phase = Phase::Healthy;
                if !local.late_children {
                    // No more children can be started; the names are not needed any more.
                    local.children = ChildNames::new();
                }
                self.send(Msg::BecameHealthy { ctx: self.clone() });
                Ok(())
            }
            (Signal::Done, Phase::Healthy) => {
                local.phase = Phase::DoneSignalled;
                Ok(())
            }
            (_, Phase::Ended) => Err(Error::RunEnded {
                dn: self.inner.dn.clone(),
            }),
            (signal, phase) => {
                let err = Error::InvalidSignal {
                    dn: self.inner.dn.clone(),
                    signal,
                    state: phase.state(),
                };
                if phase != Phase::Misused {
                    local.phase = Phase::Misused;
                    self.send(Msg::Misused {
                        ctx: self.clone(),
                        error: err.to_string(),
                    });
                }
                drop(local);
                tracing::error!(parent: self.span(), dn = %self.inner.dn, error = %err, "illegal signal; the node is treated as dead");
                Err(err)
            }
        }
    }

    /// Attaches a fact about this run to the node, shown by
    /// [`Supervisor::status`](crate::Supervisor::status) as `key=value` (and in its JSON under
    /// `notes`): a child's pid, a listener's address, a placement. Setting a key again replaces
    /// its value; a restart starts with no notes. Works in any state.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use arbor::{Context, Signal, Supervisor};
    ///
    /// let sup = Supervisor::new(|ctx: Context| async move {
    ///     ctx.annotate("listening", "127.0.0.1:8080");
    ///     ctx.signal(Signal::Healthy)?;
    ///     ctx.cancelled().await;
    ///     Ok(())
    /// });
    /// let mut events = sup.events();
    /// while events.next().await.unwrap().to != arbor::NodeState::Healthy {}
    /// let status = sup.status().await;
    /// assert_eq!(status.root().notes["listening"], "127.0.0.1:8080");
    /// # sup.shutdown().await;
    /// # }
    /// ```
    pub fn annotate(&self, key: &'static str, value: impl fmt::Display) {
        let value = value.to_string();
        let mut local = self.inner.local.lock();
        local
            .rare
            .get_or_insert_with(Default::default)
            .notes
            .insert(key, value);
    }

    /// Removes the note `key` set with [`annotate`](Context::annotate).
    pub fn remove_note(&self, key: &'static str) {
        if let Some(rare) = self.inner.local.lock().rare.as_mut() {
            rare.notes.remove(key);
        }
    }

    /// A copy of this run's notes, for a status snapshot.
    pub(crate) fn notes(&self) -> std::collections::BTreeMap<String, String> {
        let local = self.inner.local.lock();
        local
            .rare
            .iter()
            .flat_map(|rare| rare.notes.iter())
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    /// Completes when this node is told to stop: shutdown, or the death of an ancestor or a
    /// group sibling. Completes at once if that has already happened.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing, and a new one sees the same state.
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + '_ {
        Cancelled::new(self)
    }

    /// Whether this node has been told to stop.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// The wakers of the futures waiting for the stop signal, locked.
    pub(crate) fn lock_waiters(&self) -> MappedMutexGuard<'_, Waiters> {
        MutexGuard::map(self.inner.local.lock(), |local| &mut local.waiters)
    }

    /// A token that is cancelled when this node is, for handing to code that takes a
    /// [`CancellationToken`] or needs a `'static` future
    /// ([`cancelled_owned`](CancellationToken::cancelled_owned)). Cancelling it yourself
    /// affects only that token and its own children, never the tree.
    pub fn child_token(&self) -> CancellationToken {
        let (token, cancelled) = {
            let mut local = self.inner.local.lock();
            let rare = local.rare.get_or_insert_with(Default::default);
            let token = rare
                .token
                .get_or_insert_with(CancellationToken::new)
                .clone();
            // Read under the lock, which a cancel takes after setting the flag: either the
            // cancel finds this token, or the flag is seen here (`cancel`, invariant 1).
            (token, self.is_cancelled())
        };
        if cancelled {
            token.cancel();
        }
        token.child_token()
    }

    /// Tells this run to stop (processor only); true if it had not been told yet.
    pub(crate) fn cancel(&self) -> bool {
        if self.inner.cancelled.swap(true, Ordering::SeqCst) {
            return false;
        }
        // Taken out of the lock first: waking runs other code, and cancelling a token wakes
        // its children's waiters.
        let (waiters, token) = {
            let mut local = self.inner.local.lock();
            let token = local.rare.as_ref().and_then(|rare| rare.token.clone());
            (std::mem::take(&mut local.waiters), token)
        };
        waiters.wake_all();
        if let Some(token) = token {
            token.cancel();
        }
        true
    }

    /// Marks the run as over and reports what it had signalled. Called by the task wrapper.
    pub(crate) fn end_run(&self) -> RunEnd {
        let mut local = self.inner.local.lock();
        let phase = std::mem::replace(&mut local.phase, Phase::Ended);
        RunEnd {
            done_signalled: phase == Phase::DoneSignalled,
            misused: phase == Phase::Misused,
        }
    }

    /// The node this run belongs to, once the processor has registered it (invariant 4).
    pub(crate) fn node(&self) -> Option<NodeId> {
        NodeId::from_raw(self.inner.node.load(Ordering::Relaxed))
    }

    /// Records the node this run belongs to. Processor only.
    pub(crate) fn register(&self, id: NodeId) {
        self.inner.node.store(id.raw(), Ordering::Relaxed);
    }

    /// A number that tells this run from every other run alive at the same time.
    pub(crate) fn run_key(&self) -> usize {
        triomphe::Arc::as_ptr(&self.inner) as usize
    }

    /// Whether `self` and `other` are the same run.
    pub(crate) fn same_run(&self, other: &Context) -> bool {
        triomphe::Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Keeps the run's task (set once, when it is spawned).
    pub(crate) fn set_task(&self, task: JoinHandle<()>) {
        self.inner.local.lock().task.get_or_insert(task);
    }

    /// Aborts the run's task, if it was spawned.
    pub(crate) fn abort(&self) {
        // Taken out of the lock first: an abort may drop the run, which locks it to end.
        let task = self
            .inner
            .local
            .lock()
            .task
            .as_ref()
            .map(JoinHandle::abort_handle);
        if let Some(task) = task {
            task.abort();
        }
    }

    /// The tree's shared link: the processor's inbox and the tree's runtime.
    pub(crate) fn link(&self) -> &Link {
        &self.inner.link
    }

    /// Sends to the processor. After shutdown the processor is gone and nothing is listening,
    /// which is fine: the message could change nothing any more.
    pub(crate) fn send(&self, msg: Msg) {
        let _ = self.inner.link.send(msg);
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("dn", &self.inner.dn)
            .field("phase", &self.inner.local.lock().phase)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The bytes of a run's context (the `Arc`'s contents), the third largest cost of a node:
/// with the `Arc`'s one count, 120 bytes, which glibc serves from its 128-byte chunks (one
/// byte more, and a context takes a 144-byte chunk). `docs/benchmarks.md` cites it; the build
/// fails if it grows.
pub(crate) const CONTEXT_SIZE: usize = 112;

const _: () = assert!(std::mem::size_of::<Inner>() <= CONTEXT_SIZE);
