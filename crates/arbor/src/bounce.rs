//! A run that ends asking for a new run at once, which is not a failure (Juju's `ErrBounce`).

use std::borrow::Cow;

/// Returned by a runnable (`Err(Bounce::new(..).into())`) to end its run and be restarted at
/// once, without it counting as a failure.
///
/// For a runnable that learns that what it was started with is out of date (a configuration
/// changed, a placement moved) and must start over. Unlike an error, a bounce
///
/// - logs no error, only a line at info level;
/// - leaves the backoff as it is (the next real failure waits what it would have waited) and
///   draws none, and does not count towards a restart limit;
/// - does not cancel the node's group: only the node and its subtree start over;
/// - shows in events as a transition to Canceled with [`Event::bounce`](crate::Event::bounce)
///   set to the reason, and the node is restarted at once (row 7 and 10 of the
///   [state table](crate::NodeState#state-table)), unless it still owes a backoff from an
///   earlier death.
///
/// A bounce after the node was told to stop is an ordinary return (Canceled). A temporary
/// child is never restarted, so its bounce ends it cleanly. The bounce is found anywhere in
/// the error's chain, so `.context(..)` around it keeps it a bounce.
///
/// # Examples
///
/// ```
/// use arbor::{Bounce, Context, Signal};
///
/// async fn follow_config(ctx: Context, mut config: tokio::sync::watch::Receiver<String>)
///     -> anyhow::Result<()>
/// {
///     ctx.signal(Signal::Healthy)?;
///     tokio::select! {
///         () = ctx.cancelled() => Ok(()),
///         _ = config.changed() => Err(Bounce::new("the configuration changed").into()),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bounce: {reason}")]
pub struct Bounce {
    reason: Cow<'static, str>,
}

impl Bounce {
    /// A bounce, and why (shown in events and in the log line).
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        Bounce {
            reason: reason.into(),
        }
    }

    /// Why the run bounced.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
