//! What reaches the processor. Commands are imperative, notifications past tense; every message
//! about a node carries the run it is about, so the processor can drop stale ones.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::{Context, Event, Group, Status, Summary};

pub(crate) type MsgSender = mpsc::UnboundedSender<Msg>;

pub(crate) enum Msg {
    /// `Context::run_group`: register these children of `parent`, as one group. Their tasks
    /// are spawned by the parent right after this is sent.
    Spawn {
        parent: Context,
        group: Group,
    },
    /// The runnable signalled Healthy.
    BecameHealthy {
        ctx: Context,
    },
    /// The runnable broke a rule that makes it dead (an illegal signal).
    Misused {
        ctx: Context,
        error: String,
    },
    /// A restart has waited out its backoff and entered the runnable.
    Started {
        ctx: Context,
        delay: Duration,
    },
    /// The runnable set (or, with `None`, removed) a note on its node.
    Annotated {
        ctx: Context,
        key: &'static str,
        value: Option<String>,
    },
    /// A run's task ended.
    Exited {
        ctx: Context,
        outcome: Outcome,
    },
    Summary {
        reply: oneshot::Sender<Summary>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    Subscribe {
        events: mpsc::UnboundedSender<Event>,
    },
    Shutdown,
}
/// How a run's task ended.
pub(crate) enum Outcome {
    /// The runnable returned; what it had signalled decides what that means.
    Returned {
        /// `None` for `Ok(())`, else the error chain (`{:#}`), described by the task so that
        /// the processor never runs an error's `Display` or `Drop`.
        error: Option<String>,
        done_requested: bool,
        misused: bool,
    },
    Panicked {
        message: String,
    },
    /// Cancelled while waiting out its backoff; the runnable never ran.
    NotStarted,
}
