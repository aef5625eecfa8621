//! The stream of state transitions.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::{Dn, NodeState};

/// One state transition of one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The node.
    pub dn: Dn,
    /// The state it left; `None` when the node was just created, or when the event is part of
    /// the snapshot a new stream starts with.
    pub from: Option<NodeState>,
    /// The state it entered.
    pub to: NodeState,
    /// For a transition to Dead: why (the runnable's error chain, or the panic message). For a
    /// transition to Canceled by an abort at the shutdown deadline: that.
    pub error: Option<Arc<str>>,
    /// For a restart (a transition to New from Dead, Canceled or Done): how long the node
    /// waited before its runnable was entered again. Zero for a cancelled node.
    pub delay: Option<Duration>,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            Some(from) => write!(f, "{}: {from:?} -> {:?}", self.dn, self.to)?,
            None => write!(f, "{}: {:?}", self.dn, self.to)?,
        }
        match self.delay {
            Some(delay) if delay.is_zero() => f.write_str(" at once")?,
            Some(delay) => write!(f, " after {delay:.1?}")?,
            None => {}
        }
        if let Some(error) = &self.error {
            write!(f, " ({error})")?;
        }
        Ok(())
    }
}

/// Every state transition of a supervisor's tree, from the moment of subscription, in order.
///
/// Returned by [`Supervisor::events`](crate::Supervisor::events). The stream first yields one
/// event per existing node with `from: None` and its current state (a snapshot), then every
/// transition as the processor makes it. Nothing is dropped: a slow reader buffers (so read
/// it, or drop it). The stream ends when the supervisor has stopped.
///
/// Implements [`futures_core::Stream`]; [`next`](Events::next) needs no extra crate.
pub struct Events {
    pub(crate) rx: mpsc::UnboundedReceiver<Event>,
}

impl Events {
    /// The next event, or `None` once the supervisor has stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an event is only taken when the future completes.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("buffered", &self.rx.len())
            .finish()
    }
}
