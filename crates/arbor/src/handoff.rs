//! Where the processor leaves its results for the [`Supervisor`](crate::Supervisor) handle
//! when it ends: the report, and the final tree, so that the handle still answers `status()`
//! and `counts()` after the processor is gone.

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::tree::Tree;
use crate::ShutdownReport;

/// Shared by the processor (which writes it once, as it ends) and the handle.
pub(crate) struct Handoff {
    /// `None` until the processor has ended.
    pub(crate) report: watch::Sender<Option<ShutdownReport>>,
    /// The final tree; stored before the report is sent.
    pub(crate) tree: Mutex<Option<Tree>>,
}

impl Handoff {
    pub(crate) fn new() -> Self {
        Handoff {
            report: watch::channel(None).0,
            tree: Mutex::new(None),
        }
    }

    /// Runs `f` on the final tree.
    ///
    /// # Panics
    ///
    /// If the processor has not ended; callers ask only once it stopped answering, and it
    /// stores the tree before it stops listening.
    pub(crate) fn with_tree<T>(&self, f: impl FnOnce(&Tree) -> T) -> T {
        let tree = self.tree.lock();
        f(tree
            .as_ref()
            .expect("the processor stores its tree before it stops listening"))
    }
}
