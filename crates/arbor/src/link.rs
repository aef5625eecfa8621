//! What every run of one tree shares: the processor's inbox, and the runtime the tree runs on.

use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::message::Msg;
use crate::node::Stamp;

/// The tree's shared link, held by every [`Context`](crate::Context) of the tree.
///
/// A context is `Send`, so a runnable may hand it to a plain thread; children started from
/// there are spawned on the tree's runtime, not on whatever runtime the caller is in (if any).
pub(crate) struct Link {
    tx: mpsc::UnboundedSender<Msg>,
    runtime: tokio::runtime::Handle,
    /// How many event streams exist, for the streams that contexts open (watches).
    streams: Arc<AtomicUsize>,
    /// When the link was made: the origin of the tree's clock ([`Link::stamp`]), which the
    /// processor and the runs' tasks share.
    epoch: Instant,
}

/// One link per tree, shared by all of its contexts.
pub(crate) type SharedLink = Arc<Link>;

impl Link {
    pub(crate) fn new(
        tx: mpsc::UnboundedSender<Msg>,
        runtime: tokio::runtime::Handle,
        streams: Arc<AtomicUsize>,
    ) -> SharedLink {
        Arc::new(Link {
            tx,
            runtime,
            streams,
            epoch: Instant::now(),
        })
    }

    /// `t` on the tree's clock.
    pub(crate) fn stamp(&self, t: Instant) -> Stamp {
        Stamp::at(self.epoch, t)
    }

    /// A new stream of the tree's events, whose snapshots give only the node `dn`.
    pub(crate) fn events_of(&self, dn: &str) -> crate::EventStream {
        crate::EventStream::subscribe_to(self.tx.clone(), self.streams.clone(), Some(dn.into()))
    }

    /// Sends to the processor; `Err` once it is gone.
    pub(crate) fn send(&self, msg: Msg) -> Result<(), mpsc::error::SendError<Msg>> {
        self.tx.send(msg)
    }

    /// Spawns a run's task on the tree's runtime.
    pub(crate) fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.runtime.spawn(task)
    }
}
