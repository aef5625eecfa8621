//! Waiting on one node's state: "until `root.db` is Healthy", "until this child is Done".

use std::time::Duration;

use crate::{Error, Event, EventStream, NodeState};

/// A wait on one node, from [`Supervisor::watch`](crate::Supervisor::watch) or, for a
/// runnable's own child, [`Context::watch_child`](crate::Context::watch_child).
///
/// It reads the tree's events: first the node's current state (if the node exists), then each
/// of its transitions, so a state reached before the watch began is seen too. Each event
/// says which run of the node it is about ([`Event::run`]), so a watch that spans a restart
/// can tell the old run from the new. A watch is one [`EventStream`] whose snapshot holds the
/// watched node only, so making one costs the node's path, not the tree, and nothing is built
/// for it while the tree is idle.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> anyhow::Result<()> {
/// use std::time::Duration;
/// use arbor::{Context, NodeState, Signal, Supervisor};
///
/// let sup = Supervisor::new(|ctx: Context| async move {
///     ctx.run("db", |ctx: Context| async move {
///         ctx.signal(Signal::Healthy)?;
///         ctx.cancelled().await;
///         Ok(())
///     })?;
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// });
/// let db = sup
///     .watch("root.db")
///     .within(Duration::from_secs(5))
///     .until_state(NodeState::Healthy)
///     .await?;
/// assert_eq!(db.run, 0, "its first run");
/// sup.shutdown().await.into_result()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a watch does nothing until it is awaited with `until`"]
pub struct Watch {
    dn: String,
    events: EventStream,
    within: Option<Duration>,
}

impl Watch {
    pub(crate) fn new(dn: String, events: EventStream) -> Self {
        Watch {
            dn,
            events,
            within: None,
        }
    }

    /// Gives up after `timeout` (on tokio's clock, so a paused test clock applies), with
    /// [`Error::WatchTimedOut`]. Without it a watch waits as long as the supervisor runs.
    pub fn within(mut self, timeout: Duration) -> Self {
        self.within = Some(timeout);
        self
    }

    /// Waits until an event of the node makes `condition` true, and returns that event: the
    /// node's current state first, then each transition (including its removal from the tree,
    /// with [`Event::removed`]).
    ///
    /// # Errors
    ///
    /// - [`Error::WatchTimedOut`] once the timeout set with [`within`](Watch::within) has
    ///   passed, with the last state the node was seen in;
    /// - [`Error::ShuttingDown`] if the supervisor stops first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: events not yet read stay in the watch, and a new `until` sees them.
    pub async fn until(
        &mut self,
        mut condition: impl FnMut(&Event) -> bool,
    ) -> Result<Event, Error> {
        let mut last = None;
        let dn = self.dn.as_str();
        let events = &mut self.events;
        let wait = async {
            while let Some(event) = events.next().await {
                if event.dn != dn {
                    continue;
                }
                last = Some(event.to);
                if condition(&event) {
                    return Ok(event);
                }
            }
            Err(Error::ShuttingDown)
        };
        match self.within {
            None => wait.await,
            Some(timeout) => match tokio::time::timeout(timeout, wait).await {
                Ok(result) => result,
                Err(_) => Err(Error::WatchTimedOut {
                    dn: self.dn.clone(),
                    last,
                }),
            },
        }
    }

    /// Waits until the node is in `state` (and still in the tree).
    ///
    /// # Errors
    ///
    /// As [`until`](Watch::until).
    pub async fn until_state(&mut self, state: NodeState) -> Result<Event, Error> {
        self.until(|event| event.to == state && !event.removed)
            .await
    }
}
