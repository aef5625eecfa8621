//! The stream of state transitions, bounded however slowly it is read.
//!
//! All subscribers share one ring buffer of the latest transitions (a tokio `broadcast`
//! channel), so memory does not grow with the number of restarts nor with the number of
//! subscribers. A subscriber that falls more than the buffer's capacity behind is not left
//! with a gap it cannot see: its stream says so ([`Event::resync`], [`EventStream::lagged`]) and
//! starts over from a fresh snapshot of the tree, as a new subscriber would.
//!
//! While nobody subscribes the processor builds no events at all: it reads one counter.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::message::Msg;
use crate::{Dn, NodeState};

/// One state transition of one node (a row of the [state table](NodeState#state-table)).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// The node.
    pub dn: Dn,
    /// The state it left; `None` when the node was just created, or when the event is part of
    /// the snapshot a stream starts with.
    pub from: Option<NodeState>,
    /// The state it entered (for a removal: the state it was in).
    pub to: NodeState,
    /// Which run of the node this is about: 0 for its first, then one more for each restart
    /// (as [`NodeStatus::restarts`](crate::NodeStatus::restarts)). A restart's transition to
    /// New carries the new run's number; the transitions that ended the old run, the old one.
    pub run: u32,
    /// For a transition to Dead: why (the runnable's error chain, or the panic message). For a
    /// transition to Canceled by an abort at the shutdown deadline: that.
    pub error: Option<Arc<str>>,
    /// For a transition to Canceled by a [`Bounce`](crate::Bounce): its reason.
    pub bounce: Option<Arc<str>>,
    /// For a restart (a transition to New from Dead, Canceled or Done): how long the node
    /// waited before its runnable was entered again. Zero for a node that owed no backoff.
    pub delay: Option<Duration>,
    /// The node left the tree: its parent restarted (and will start its children anew), so
    /// this DN is gone until a new run of the parent starts it again.
    pub removed: bool,
    /// The first event of a fresh snapshot that the stream took because it fell behind and
    /// missed transitions: forget what it told you before, the snapshot that follows is whole.
    pub resync: bool,
}

impl Event {
    pub(crate) fn new(dn: Dn, from: Option<NodeState>, to: NodeState) -> Event {
        Event {
            dn,
            from,
            to,
            run: 0,
            error: None,
            bounce: None,
            delay: None,
            removed: false,
            resync: false,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.resync {
            f.write_str("(resync) ")?;
        }
        match self.from {
            _ if self.removed => write!(f, "{}: removed while {:?}", self.dn, self.to)?,
            Some(from) => write!(f, "{}: {from:?} -> {:?}", self.dn, self.to)?,
            None => write!(f, "{}: {:?}", self.dn, self.to)?,
        }
        match self.delay {
            Some(delay) if delay.is_zero() => f.write_str(" at once")?,
            Some(delay) => write!(f, " after {delay:.1?}")?,
            None => {}
        }
        if let Some(reason) = &self.bounce {
            write!(f, " (bounce: {reason})")?;
        }
        if let Some(error) = &self.error {
            write!(f, " ({error})")?;
        }
        Ok(())
    }
}

/// What a subscription gets from the processor: the tree as it is, and every transition after.
pub(crate) struct Subscription {
    pub(crate) snapshot: Vec<Event>,
    pub(crate) rx: broadcast::Receiver<Event>,
}

/// The processor's side: the shared buffer, and how many streams exist.
pub(crate) struct Publisher {
    /// Made on the first subscription: a broadcast channel allocates all its slots up front
    /// (about 100 bytes each), which a supervisor nobody watches should not pay for.
    tx: Option<broadcast::Sender<Event>>,
    capacity: usize,
    streams: Arc<AtomicUsize>,
}

impl Publisher {
    pub(crate) fn new(capacity: usize) -> Self {
        Publisher {
            tx: None,
            capacity: capacity.max(1),
            streams: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether any stream exists; if not, no event needs to be built.
    pub(crate) fn is_watched(&self) -> bool {
        self.streams.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn publish(&self, event: Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }

    pub(crate) fn subscribe(&mut self, snapshot: Vec<Event>) -> Subscription {
        let capacity = self.capacity;
        let tx = self
            .tx
            .get_or_insert_with(|| broadcast::channel(capacity).0);
        Subscription {
            snapshot,
            rx: tx.subscribe(),
        }
    }

    pub(crate) fn streams(&self) -> Arc<AtomicUsize> {
        self.streams.clone()
    }
}

/// Every state transition of a supervisor's tree, from the moment of subscription, in order.
///
/// Returned by [`Supervisor::events`](crate::Supervisor::events). The stream first yields one
/// event per existing node with `from: None` and its current state (a snapshot), then every
/// transition as the processor makes it, and a `removed` event for each node that leaves the
/// tree. The stream ends when the supervisor has stopped.
///
/// Memory is bounded: the streams of one supervisor share a buffer of the latest transitions
/// ([`Builder::event_capacity`](crate::Builder::event_capacity)). A stream read so slowly
/// that it falls further behind skips what it missed, counts it in [`lagged`](EventStream::lagged),
/// and goes on with a fresh snapshot whose first event has [`resync`](Event::resync) set.
///
/// Implements [`futures_core::Stream`]; [`next`](EventStream::next) needs no extra crate.
pub struct EventStream {
    state: State,
    /// How this stream asks the processor for a (fresh) subscription.
    tx: mpsc::UnboundedSender<Msg>,
    lagged: u64,
    /// Set after a lag: the next snapshot's first event is marked.
    resync: bool,
    /// The pending `next` of the `Stream` implementation, which owns the state meanwhile.
    polling: Option<Polling>,
    streams: Arc<AtomicUsize>,
    /// For a watch: the one node whose state the snapshots give (the transitions are all).
    only: Option<Arc<str>>,
}

/// A `next` that owns a stream's state, and gives it back with the event.
type Polling = Pin<Box<dyn Future<Output = (Option<Event>, EventStream)> + Send>>;

enum State {
    Waiting(oneshot::Receiver<Subscription>),
    Live {
        snapshot: std::vec::IntoIter<Event>,
        rx: broadcast::Receiver<Event>,
    },
    Ended,
}

impl EventStream {
    /// Subscribes through the processor's inbox `tx`; a closed inbox gives an ended stream.
    pub(crate) fn subscribe(tx: mpsc::UnboundedSender<Msg>, streams: Arc<AtomicUsize>) -> Self {
        Self::subscribe_to(tx, streams, None)
    }

    /// As [`subscribe`](EventStream::subscribe), but its snapshots hold only the node `only`
    /// (if it exists): a watch on one node costs its path, not the tree.
    pub(crate) fn subscribe_to(
        tx: mpsc::UnboundedSender<Msg>,
        streams: Arc<AtomicUsize>,
        only: Option<Arc<str>>,
    ) -> Self {
        streams.fetch_add(1, Ordering::Relaxed);
        let mut events = EventStream {
            state: State::Ended,
            tx,
            lagged: 0,
            resync: false,
            polling: None,
            streams,
            only,
        };
        events.request();
        events
    }

    fn request(&mut self) {
        let (reply, answer) = oneshot::channel();
        let only = self.only.clone();
        self.state = match self.tx.send(Msg::Subscribe { reply, only }) {
            Ok(()) => State::Waiting(answer),
            Err(_) => State::Ended,
        };
    }

    /// The next event, or `None` once the supervisor has stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an event is only taken when the future completes.
    pub async fn next(&mut self) -> Option<Event> {
        if let Some(polling) = self.polling.take() {
            // A `poll_next` was under way: finish it rather than lose its event.
            let (event, mut owned) = polling.await;
            self.state = std::mem::replace(&mut owned.state, State::Ended);
            self.lagged = owned.lagged;
            self.resync = owned.resync;
            return event;
        }
        loop {
            match &mut self.state {
                State::Ended => return None,
                State::Waiting(answer) => match answer.await {
                    Ok(Subscription { snapshot, rx }) => {
                        self.state = State::Live {
                            snapshot: snapshot.into_iter(),
                            rx,
                        }
                    }
                    Err(_) => self.state = State::Ended,
                },
                State::Live { snapshot, rx } => {
                    if let Some(mut event) = snapshot.next() {
                        event.resync = std::mem::take(&mut self.resync);
                        return Some(event);
                    }
                    match rx.recv().await {
                        Ok(event) => return Some(event),
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            self.lagged = self.lagged.saturating_add(missed);
                            self.resync = true;
                            self.request();
                        }
                        Err(broadcast::error::RecvError::Closed) => self.state = State::Ended,
                    }
                }
            }
        }
    }

    /// How many transitions this stream missed because it fell behind (each time, it went on
    /// with a fresh snapshot).
    pub fn lagged(&self) -> u64 {
        self.lagged
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

impl futures_core::Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Event>> {
        let this = &mut *self;
        let mut polling = match this.polling.take() {
            Some(polling) => polling,
            None => {
                // The future owns the stream's state while it runs, and hands it back.
                let mut owned = EventStream {
                    state: std::mem::replace(&mut this.state, State::Ended),
                    tx: this.tx.clone(),
                    lagged: this.lagged,
                    resync: this.resync,
                    polling: None,
                    streams: this.streams.clone(),
                    only: this.only.clone(),
                };
                owned.streams.fetch_add(1, Ordering::Relaxed);
                Box::pin(async move {
                    let event = owned.next().await;
                    (event, owned)
                })
            }
        };
        match polling.as_mut().poll(cx) {
            Poll::Pending => {
                this.polling = Some(polling);
                Poll::Pending
            }
            Poll::Ready((event, mut owned)) => {
                this.state = std::mem::replace(&mut owned.state, State::Ended);
                this.lagged = owned.lagged;
                this.resync = owned.resync;
                Poll::Ready(event)
            }
        }
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let buffered = match &self.state {
            State::Live { snapshot, rx } => snapshot.len() + rx.len(),
            State::Waiting(_) | State::Ended => 0,
        };
        f.debug_struct("EventStream")
            .field("buffered", &buffered)
            .field("lagged", &self.lagged)
            .finish()
    }
}
