//! One child as its parent starts it: its name, its runnable, and the policy the tree applies
//! to it, as an OTP child specification does.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::{Backoff, Context, Runnable};

/// When the tree restarts a child whose run has ended (OTP's restart types).
///
/// The rows of the [state table](crate::NodeState#state-table) that depend on it are 4
/// (a clean end) and 10 (the restart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Restart {
    /// Restarted whenever its run ends, except after Done (the default). A return of `Ok(())`
    /// without signalling Done is a death.
    #[default]
    Permanent,
    /// Restarted only after a failure. A clean end, `Ok(())` with or without signalling Done,
    /// is final: the node is Done, and restarts only when its group or an ancestor restarts
    /// for another reason.
    Transient,
    /// Never restarted by the tree. When its run ends, in any way, it is removed from the tree
    /// once its subtree has stopped, and its death does not cancel its group. A new run of
    /// its parent may start it again, as a new node.
    Temporary,
}

/// How long a child's run may take to return once it is told to stop, before its task is
/// aborted (OTP's `shutdown`).
///
/// Applies to every cancellation: a death in its group or above it, as well as
/// [`Supervisor::shutdown`](crate::Supervisor::shutdown), whose own
/// [`shutdown_timeout`](crate::Builder::shutdown_timeout) applies too (whichever ends first).
/// An aborted task is dropped at its next `.await` (a run that blocks its thread cannot be
/// stopped by anyone); the node is then Canceled with an error saying so (row 11 of the
/// [state table](crate::NodeState#state-table)), the abort is logged with its DN, and during a
/// shutdown it is named in [`ShutdownReport::stuck`](crate::ShutdownReport::stuck). So a run
/// that ignores cancellation can no longer hold its group's restart for ever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopTimeout {
    /// Wait for the run to return however long it takes (the default; OTP's `infinity`).
    #[default]
    Never,
    /// Abort the task if the run has not returned this long after it was told to stop.
    After(Duration),
    /// Abort the task as soon as it is told to stop (OTP's `brutal_kill`): for runs that hold
    /// nothing that needs an orderly end.
    Abort,
}

/// Which ends of a node's significant children finish the node (OTP's `auto_shutdown`), set
/// with [`Context::finish_with`](crate::Context::finish_with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Significant {
    /// The first significant child to end cleanly (OTP's `any_significant`).
    Any,
    /// Every significant child of the run, once all have ended cleanly (`all_significant`).
    All,
}

/// A child to start with [`Context::run_child`](crate::Context::run_child) or
/// [`Group::child`](crate::Group::child), with the policy that differs from the defaults.
///
/// [`Context::run`](crate::Context::run) and [`Group::add`](crate::Group::add) start a child
/// with every default: a permanent one.
///
/// # Examples
///
/// ```
/// use arbor::{Child, Context, Restart, Signal};
///
/// async fn migrate(_ctx: Context) -> anyhow::Result<()> {
///     // ... apply the schema; fail to be retried ...
///     Ok(())
/// }
///
/// async fn parent(ctx: Context) -> anyhow::Result<()> {
///     // Retried until it succeeds once, then left Done.
///     ctx.run_child(Child::new("migrate", migrate).restart(Restart::Transient))?;
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// }
/// ```
#[must_use = "a child does nothing until it is started"]
pub struct Child {
    pub(crate) name: Cow<'static, str>,
    pub(crate) runnable: Arc<dyn Runnable>,
    pub(crate) restart: Restart,
    pub(crate) significant: bool,
    /// What few children set, boxed: a `Child` travels in every group's message, and a bigger
    /// one costs every node of a tree while its start-up is queued.
    pub(crate) rare: Option<Box<Rare>>,
    /// The run's context, made once `run_group` has checked the name; the child then travels
    /// to the processor as it is, with no copy.
    pub(crate) ctx: Option<Context>,
}

impl Child {
    /// A child called `name` (a [`Name`](crate::Name): `^[a-z0-9_]{1,64}$`), checked when it
    /// starts, running `runnable`.
    pub fn new(name: impl Into<Cow<'static, str>>, runnable: impl Runnable) -> Self {
        Child::shared(name, Arc::new(runnable))
    }

    /// A child whose runnable is already shared, e.g. one value for many children.
    pub fn shared(name: impl Into<Cow<'static, str>>, runnable: Arc<dyn Runnable>) -> Self {
        Child {
            name: name.into(),
            runnable,
            restart: Restart::Permanent,
            significant: false,
            rare: None,
            ctx: None,
        }
    }

    /// When the tree restarts it (default: [`Restart::Permanent`]).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Its own backoff between restarts, instead of the supervisor's
    /// ([`Builder::backoff`](crate::Builder::backoff)): a child that is slow to come back (a
    /// database) next to ones that should return at once. Its group's members owe the backoff
    /// of its deaths, as always, whatever their own.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.rare.get_or_insert_with(Default::default).backoff = Some(backoff);
        self
    }

    /// Makes it significant (OTP's `significant`): its clean end (Done) may finish its
    /// parent, if the parent's run asked for it with
    /// [`Context::finish_with`](crate::Context::finish_with). A failure is no end: it restarts
    /// as usual.
    pub fn significant(mut self) -> Self {
        self.significant = true;
        self
    }

    /// How long its run may take to return once told to stop (default:
    /// [`StopTimeout::Never`]).
    pub fn stop_timeout(mut self, stop: StopTimeout) -> Self {
        self.rare.get_or_insert_with(Default::default).stop = stop;
        self
    }
}

/// The settings of a [`Child`] that few set.
#[derive(Debug, Default)]
pub(crate) struct Rare {
    pub(crate) stop: StopTimeout,
    pub(crate) backoff: Option<Backoff>,
}

impl Child {
    pub(crate) fn own_stop_timeout(&self) -> StopTimeout {
        self.rare.as_ref().map_or(StopTimeout::Never, |r| r.stop)
    }

    pub(crate) fn own_backoff(&self) -> Option<&Backoff> {
        self.rare.as_ref().and_then(|r| r.backoff.as_ref())
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("stop_timeout", &self.own_stop_timeout())
            .field("significant", &self.significant)
            .field("backoff", &self.own_backoff())
            .finish_non_exhaustive()
    }
}
