//! The states of a node and the one table of their transitions, which the rest of the crate's
//! documentation links to and the processor's handlers implement row by row.

use serde::Serialize;

/// The state of a node.
///
/// # State table
///
/// Every transition a node can make. The processor has one handler per row, and nothing else
/// changes a node's state.
///
/// | row | from | when | to |
/// |---|---|---|---|
/// | 1 | — | a parent's run starts it ([`Context::run`], [`Context::run_group`]), or the supervisor starts the root | New |
/// | 2 | New | its run signals [`Healthy`](crate::Signal::Healthy) | Healthy |
/// | 3 | New, Healthy | its run, not told to stop, returns `Ok(())` after signalling [`Done`](crate::Signal::Done), or without signalling it if the child is [transient or temporary](crate::Restart) | Done |
/// | 4 | New, Healthy | its run, not told to stop, returns `Err`, or `Ok(())` without having signalled Done (a [permanent](crate::Restart::Permanent) child) | Dead |
/// | 5 | New, Healthy | its run signals against the rules ([`Error::InvalidSignal`]); the run goes on, and its return changes nothing | Dead |
/// | 6 | New, Healthy | its run panics, told to stop or not (in `run`, in a poll, in the drop of its future or its error) | Dead |
/// | 7 | New, Healthy | its run returns, `Ok` or `Err`, after it was told to stop; or, not told to stop, returns a [`Bounce`](crate::Bounce) (not a death: its subtree is cancelled, its group and its backoff are left alone) | Canceled |
/// | 8 | Done | a member of its group dies (rows 4–6; not a temporary one): it must restart with its group | Canceled |
/// | 9 | New, Dead, Canceled | it is told to stop while its new run waits, for a backoff or (in an [ordered](crate::Group::ordered) group) for the members before it: that run never began | Canceled |
/// | 10 | Dead, Canceled | its whole subtree has stopped, it is due (see below), it is not [temporary](crate::Restart::Temporary), and the supervisor is not shutting down: a new run | New |
/// | 11 | any, with a task | told to stop, its run has not returned within its [`StopTimeout`](crate::StopTimeout), or by the shutdown deadline: the task is aborted | Canceled |
/// | 12 | any | its parent restarts (row 10), which removes the parent's children, and the parent's new run starts them anew (row 1); or it is temporary (or removed by [`Context::remove_child`](crate::Context::remove_child)), its run has ended (Done, Dead, Canceled), its subtree has stopped, and the supervisor is not shutting down | removed |
/// | 13 | New, Healthy, Done | a restart of one of its children after a failure is one too many for its [`RestartLimit`](crate::RestartLimit) (or the child's group's): it gives up | Dead |
/// | 14 | any but Stopped | [`Supervisor::stop_node`](crate::Supervisor::stop_node): its subtree is told to stop, and once its run has returned (at once if it has no task) | Stopped |
/// | 15 | Stopped | [`Supervisor::start_node`](crate::Supervisor::start_node): once its subtree has stopped, a new run at once | New |
/// | 16 | New, Healthy | it was told to finish because its significant children ended cleanly ([`Context::finish_with`](crate::Context::finish_with)), and its run returns `Ok(())` | Done |
///
/// "Told to stop" means cancelled: by shutdown, or because an ancestor or a group member died.
/// [`Supervisor::restart_node`](crate::Supervisor::restart_node) tells a node to stop as a
/// bounce: row 7, with [`Event::bounce`](crate::Event::bounce) set, then row 10 at once, its
/// owed backoff forgiven.
///
/// What comes with the rows:
///
/// - **Rows 2 and 3 reset the node's [`Backoff`]** (row 2 only once the node has been Healthy
///   for [`Backoff::reset_after`], if that is set).
/// - **Rows 4–6 and 13 are a death.** The node is cancelled with its subtree and its group members
///   with theirs (unless it is temporary: then its group is left alone), and it draws its next
///   backoff at once (its own, with [`Child::backoff`](crate::Child::backoff)): neither the node nor any member of
///   its group starts again before that backoff has passed, even if its wait is cancelled
///   (row 9) and begun again. A second death of the same run (a panic after an illegal signal)
///   changes nothing. With [`Builder::propagate_panics`], row 6 also shuts the supervisor down.
/// - **Ordered groups** ([`Group::ordered`](crate::Group::ordered)): a member's run, from row 1
///   or 10, begins only once the members before it are Healthy or Done; until then it waits
///   with no task, and a member's stop (rows 7, 9, 11) is asked only once the members after it
///   have stopped.
/// - **Row 10 waits for what is owed.** A node that owes no backoff (one cancelled by an
///   ancestor's death) is restarted at once; one that owes some is entered again when it has
///   passed. It stays Dead or Canceled meanwhile. A Done node restarts only through row 8 or
///   an ancestor's restart (row 12).
/// - Each run is new: anything from an earlier run (a late return, a cancelled backoff) is
///   ignored, so a node never runs twice at once.
///
/// # What a runnable sees
///
/// A run that has signalled Done is Done as far as its own [`Context`] is concerned: errors
/// such as [`Error::NotNew`] name that state, although the node becomes Done only when the run
/// returns `Ok(())` (row 3).
///
/// [`Context`]: crate::Context
/// [`Context::run`]: crate::Context::run
/// [`Context::run_group`]: crate::Context::run_group
/// [`Error::InvalidSignal`]: crate::Error::InvalidSignal
/// [`Error::NotNew`]: crate::Error::NotNew
/// [`Backoff`]: crate::Backoff
/// [`Backoff::reset_after`]: crate::Backoff::reset_after
/// [`Builder::propagate_panics`]: crate::Builder::propagate_panics
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum NodeState {
    /// Started or restarted, nothing signalled yet (rows 1 and 10): the only state in which
    /// its run may start children.
    New,
    /// Set up and serving: its run signalled Healthy (row 2).
    Healthy,
    /// Finished and needing no loop (row 3). Its children keep running.
    Done,
    /// Its run ended, or broke a rule, when it should not have (rows 4–6). Restarted after
    /// its backoff.
    Dead,
    /// Its run ended after it was told to stop (rows 7–9, 11). Restarted once due, unless the
    /// supervisor is shutting down.
    Canceled,
    /// Stopped by order ([`Supervisor::stop_node`](crate::Supervisor::stop_node), row 14):
    /// not restarted, not even with its group, until
    /// [`Supervisor::start_node`](crate::Supervisor::start_node) (row 15).
    Stopped,
}

impl NodeState {
    /// The state as the `state`, `from` and `to` labels of the [metrics](crate#metrics) name
    /// it: `new`, `healthy`, `done`, `dead`, `canceled`, `stopped`.
    pub fn metric_label(self) -> &'static str {
        match self {
            NodeState::New => "new",
            NodeState::Healthy => "healthy",
            NodeState::Done => "done",
            NodeState::Dead => "dead",
            NodeState::Canceled => "canceled",
            NodeState::Stopped => "stopped",
        }
    }
}
