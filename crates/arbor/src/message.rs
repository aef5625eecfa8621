//! What reaches the processor. Commands are imperative, notifications past tense; every message
//! about a node carries the run it is about, so the processor can drop stale ones.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::node::{NodeId, RunId};
use crate::{Event, Group, Status, Summary};

pub(crate) type MsgSender = mpsc::UnboundedSender<Msg>;

pub(crate) enum Msg {
    /// `Context::run_group`: start these children of `parent` as one group.
    Spawn {
        parent: NodeId,
        run: RunId,
        group: Group,
    },
    /// The runnable signalled Healthy.
    BecameHealthy {
        node: NodeId,
        run: RunId,
    },
    /// The runnable broke a rule that makes it dead (an illegal signal).
    Misused {
        node: NodeId,
        run: RunId,
        error: String,
    },
    /// A restart has waited out its backoff and entered the runnable.
    Started {
        node: NodeId,
        run: RunId,
        delay: Duration,
    },
    /// A run's task ended.
    Exited {
        node: NodeId,
        run: RunId,
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
        result: anyhow::Result<()>,
        done_requested: bool,
        misused: bool,
    },
    Panicked {
        message: String,
    },
    /// Cancelled while waiting out its backoff; the runnable never ran.
    NotStarted,
}
