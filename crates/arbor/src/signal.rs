//! What a runnable tells the supervisor about itself.

use serde::Serialize;

/// A runnable's report on its own progress, sent with [`Context::signal`](crate::Context::signal).
///
/// | signal | allowed in | effect |
/// |---|---|---|
/// | `Healthy` | New | the node is set up and serving; its backoff resets; no more children |
/// | `Done` | Healthy | once the runnable then returns `Ok(())`, the node is Done and not restarted; its children keep running |
///
/// Any other use is a programming error: [`Error::InvalidSignal`](crate::Error::InvalidSignal),
/// and the node is treated as dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Signal {
    /// Set up, children started, now serving.
    Healthy,
    /// Finished; needs no loop. Takes effect when the runnable returns `Ok(())`.
    Done,
}
