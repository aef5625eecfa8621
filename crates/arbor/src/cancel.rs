//! The stop signal of one run of one node.
//!
//! Only the processor cancels, and it cancels whole subtrees: cancellation is hereditary (every
//! node below a cancelled node is cancelled too, and a child started under a cancelled parent
//! is born cancelled). So a walk that meets an already cancelled node can skip its subtree, and
//! cancelling costs one step per node newly told to stop.
//!
//! This replaces one `tokio_util` `CancellationToken` per node, which would cost an allocation
//! and a lock of the parent's child list per start, because the processor already owns the tree
//! that a token tree would duplicate. A real token is made lazily, only for runnables that ask
//! for one ([`Cancel::child_token`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub(crate) struct Cancel {
    cancelled: AtomicBool,
    notify: Notify,
    token: OnceLock<CancellationToken>,
}

impl Cancel {
    /// A stop signal, already given if `cancelled`.
    pub(crate) fn new(cancelled: bool) -> Self {
        Cancel {
            cancelled: AtomicBool::new(cancelled),
            notify: Notify::new(),
            token: OnceLock::new(),
        }
    }

    /// Tells the run to stop; true if it had not been told yet.
    pub(crate) fn cancel(&self) -> bool {
        if self.cancelled.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.notify.notify_waiters();
        // Set after the flag: a token made concurrently sees the flag (see `child_token`).
        if let Some(token) = self.token.get() {
            token.cancel();
        }
        true
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Completes once [`cancel`](Cancel::cancel) has been called; at once if it has.
    pub(crate) async fn cancelled(&self) {
        if self.is_cancelled() {
            return;
        }
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the second look, so a cancel in between still wakes us.
        notified.as_mut().enable();
        if self.is_cancelled() {
            return;
        }
        notified.await;
    }

    /// A token cancelled with this run.
    pub(crate) fn child_token(&self) -> CancellationToken {
        let token = self.token.get_or_init(CancellationToken::new);
        // Checked after the token is stored: a concurrent `cancel` either sees the token or
        // set the flag before this load.
        if self.is_cancelled() {
            token.cancel();
        }
        token.child_token()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn wakes_every_waiter_once_and_stays_cancelled() {
        let cancel = Arc::new(Cancel::new(false));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let c = cancel.clone();
                tokio::spawn(async move { c.cancelled().await })
            })
            .collect();
        tokio::task::yield_now().await;
        let token = cancel.child_token();
        assert!(!token.is_cancelled());
        assert!(cancel.cancel());
        assert!(!cancel.cancel(), "only the first cancel counts");
        for w in waiters {
            w.await.unwrap();
        }
        assert!(token.is_cancelled());
        assert!(
            cancel.child_token().is_cancelled(),
            "a token made later is born cancelled"
        );
        cancel.cancelled().await;
        assert!(Cancel::new(true).is_cancelled());
    }
}
