//! What reaches the processor. Commands are imperative, notifications past tense; every message
//! about a node carries the run it is about, so the processor can drop stale ones.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::events::Subscription;
use crate::{Context, Group, Status, Summary};

/// What every run of one tree shares: the processor's inbox, and the runtime the tree runs on.
///
/// A [`Context`] is `Send`, so a runnable may hand it to a plain thread; children started from
/// there are spawned on the tree's runtime, not on whatever runtime the caller is in (if any).
pub(crate) struct Link {
    tx: mpsc::UnboundedSender<Msg>,
    runtime: tokio::runtime::Handle,
}

pub(crate) type MsgSender = std::sync::Arc<Link>;

impl Link {
    pub(crate) fn new(
        tx: mpsc::UnboundedSender<Msg>,
        runtime: tokio::runtime::Handle,
    ) -> MsgSender {
        std::sync::Arc::new(Link { tx, runtime })
    }

    /// Sends to the processor; `Err` once it is gone.
    pub(crate) fn send(&self, msg: Msg) -> Result<(), mpsc::error::SendError<Msg>> {
        self.tx.send(msg)
    }

    /// Spawns a run's task on the tree's runtime.
    pub(crate) fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.runtime.spawn(task)
    }
}

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
    /// A run's task ended.
    Exited {
        ctx: Context,
        outcome: Outcome,
        /// When it ended, for a run that had been cancelled (shutdown needs it).
        at: Option<tokio::time::Instant>,
    },
    Summary {
        reply: oneshot::Sender<Summary>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    Subscribe {
        reply: oneshot::Sender<Subscription>,
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
