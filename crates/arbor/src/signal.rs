//! What a runnable tells the supervisor about itself.

use serde::Serialize;

/// A runnable's report on its own progress, sent with [`Context::signal`](crate::Context::signal).
///
/// `Healthy` is allowed once, while New; `Done` once, after Healthy. What each one does is in
/// rows 2, 3 and 5 of the [state table](crate::NodeState#state-table). Any other use is a
/// programming error: [`Error::InvalidSignal`](crate::Error::InvalidSignal), and the node is
/// treated as dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Signal {
    /// Set up, children started, now serving. No more children may be started.
    Healthy,
    /// Finished; needs no loop. Takes effect when the runnable then returns `Ok(())`; its
    /// children keep running.
    Done,
}
