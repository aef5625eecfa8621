//! How a supervisor ended: the report that [`Supervisor::shutdown`](crate::Supervisor::shutdown)
//! and [`Supervisor::wait`](crate::Supervisor::wait) return.

use std::time::Duration;

use crate::{Dn, Error};

/// How a supervisor ended, from [`Supervisor::shutdown`](crate::Supervisor::shutdown) or
/// [`Supervisor::wait`](crate::Supervisor::wait).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Nodes whose runnable had not returned by the shutdown timeout, parents first. Their tasks
    /// were aborted: they are dropped at their next `.await` (a runnable that blocks its thread
    /// without awaiting cannot be stopped by anyone).
    pub stuck: Vec<Dn>,
    /// The panic that stopped the supervisor, with
    /// [`propagate_panics`](crate::Builder::propagate_panics).
    pub panic: Option<PanicReport>,
    /// From the start of the shutdown until the last runnable returned or was aborted.
    pub elapsed: Duration,
    /// The processor was dropped before the tree had stopped: its runtime shut down (or was
    /// dropped) under it. Every runnable was told to stop, but none was waited for.
    pub interrupted: bool,
}

/// A runnable's panic that stopped a supervisor built with
/// [`propagate_panics`](crate::Builder::propagate_panics).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PanicReport {
    /// The node whose runnable panicked.
    pub dn: Dn,
    /// The panic message.
    pub message: String,
}

impl ShutdownReport {
    /// The report of a processor that was dropped before the tree stopped.
    pub(crate) fn interrupted(stuck: Vec<Dn>, elapsed: Duration) -> Self {
        ShutdownReport {
            stuck,
            panic: None,
            elapsed,
            interrupted: true,
        }
    }

    /// `Ok` if every runnable returned in time and nothing panicked.
    ///
    /// # Errors
    ///
    /// [`Error::Panicked`] for a propagated panic, else [`Error::ShutdownTimedOut`] naming the
    /// stuck nodes. `interrupted` alone is not an error: the runtime that ran the tree is
    /// gone, and its tasks with it.
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
