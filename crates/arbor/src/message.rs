//! What reaches the processor. Commands are imperative, notifications past tense; every message
//! about a node carries the context of the run it is about, so the processor can drop stale
//! ones (processor invariant 2).

use std::time::Duration;

use tokio::sync::oneshot;

use crate::events::Subscription;
use crate::node::Stamp;
use crate::{Context, Error, Group, RestartLimit, Significant, StateCounts, TreeStatus};

pub(crate) enum Msg {
    /// Register these children of `parent`'s run, as one group (state table row 1). Sent by
    /// `Context::run_group`, which spawns their tasks right after.
    AddChildren { parent: Context, group: Group },
    /// The runnable signalled Healthy (row 2).
    BecameHealthy { ctx: Context },
    /// The runnable asked to finish when its significant children do (for row 16).
    FinishWith { ctx: Context, mode: Significant },
    /// The runnable set a limit on its children's restarts (for row 13).
    LimitRestarts { ctx: Context, limit: RestartLimit },
    /// The runnable stops its children itself once told to stop.
    DeferChildrenStop { ctx: Context },
    /// The runnable broke a rule that makes it dead: an illegal signal (row 5).
    Misused { ctx: Context, error: String },
    /// A restart that counts against a restart limit has waited out its backoff, and waits
    /// for the go-ahead (row 10, or 13).
    Due { ctx: Context },
    /// A restart has waited out its backoff and entered the runnable (row 10).
    Started { ctx: Context, delay: Duration },
    /// A run's task ended (rows 3, 4, 6, 7, 9, and a bounce).
    Exited {
        ctx: Context,
        outcome: Outcome,
        /// When it ended, on the tree's clock, for a run that had been cancelled (shutdown
        /// needs it); `Stamp::ZERO` otherwise, which is past no deadline. 8 bytes, where an
        /// `Option<Instant>` takes 16 and every message would grow with it.
        at: Stamp,
    },
    /// A cancelled run's stop timeout has passed (for row 11).
    StopTimedOut { ctx: Context },
    /// An operator's order for the node `dn` (`Supervisor::restart_node` and the like).
    Order {
        dn: Box<str>,
        /// For an order of a run about its own child: that run, whose child `dn` must be.
        parent: Option<Context>,
        order: Order,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// Answer with the per-state counts.
    ReportCounts { reply: oneshot::Sender<StateCounts> },
    /// Answer with a snapshot of the tree.
    ReportStatus { reply: oneshot::Sender<TreeStatus> },
    /// Answer with a snapshot as events, and the transitions from then on.
    Subscribe {
        reply: oneshot::Sender<Subscription>,
        /// Only this node in the snapshot (a watch).
        only: Option<std::sync::Arc<str>>,
    },
    /// Cancel the whole tree and end once every task has.
    Shutdown,
}

/// What an operator can order a node to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Cancel its subtree and start again at once, as a bounce.
    Restart,
    /// Cancel its subtree and keep it stopped.
    Stop,
    /// Start a stopped node again.
    Start,
    /// Cancel its subtree and, once stopped, take it out of the tree.
    Remove,
}

/// How a run's task ended.
pub(crate) enum Outcome {
    /// The runnable returned; what it had signalled decides what that means.
    Returned {
        /// `None` for `Ok(())`, else the error chain (`{:#}`), described by the task so that
        /// the processor never runs an error's `Display` or `Drop`.
        error: Option<Box<str>>,
        done_signalled: bool,
        misused: bool,
    },
    /// The runnable returned a [`Bounce`](crate::Bounce).
    Bounced {
        reason: Box<str>,
    },
    Panicked {
        message: Box<str>,
    },
    /// Cancelled while waiting out its backoff; the runnable never ran.
    NotStarted,
    /// The task was aborted (a stop timeout, or the shutdown deadline) and its future dropped.
    Aborted,
}
// A message is copied into the processor's queue for every child started and every signal,
// and in a big tree's start-up or shutdown most of them wait there at once (about 1.4 per
// node at the peak of a 1,048,575-node start-up): keep it small. Strings are boxed, not
// `String`s, and a group's rare settings are boxed in it, for that.
const _: () = assert!(std::mem::size_of::<Msg>() <= 48);
const _: () = assert!(std::mem::size_of::<crate::Child>() <= 64);
