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
//! for one (`Context::child_token`), and kept by the context, which a cancel then locks: the
//! common cancel, of a run without a token, touches only two flags and the `Notify`.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

pub(crate) struct Cancel {
    cancelled: AtomicBool,
    /// A `CancellationToken` was made for this run (the context keeps it, see
    /// [`Context::child_token`](crate::Context::child_token)), which a cancel must cancel too.
    token_made: AtomicBool,
    notify: Notify,
}

impl Cancel {
    /// A stop signal, already given if `cancelled`.
    pub(crate) fn new(cancelled: bool) -> Self {
        Cancel {
            cancelled: AtomicBool::new(cancelled),
            token_made: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Tells the run to stop. `Some(token_made)` if it had not been told yet: whether a token
    /// may exist that must be cancelled too.
    ///
    /// The flag is set, then `token_made` read; [`token_made`](Cancel::mark_token_made) is
    /// set, then the flag read (both `SeqCst`). So of a cancel and a token made at the same
    /// time, at least one sees the other: either the cancel cancels the token, or the maker
    /// does.
    pub(crate) fn cancel(&self) -> Option<bool> {
        if self.cancelled.swap(true, Ordering::SeqCst) {
            return None;
        }
        self.notify.notify_waiters();
        Some(self.token_made.load(Ordering::SeqCst))
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Records that a token now exists; true if the run is already cancelled, so that the
    /// maker cancels it.
    pub(crate) fn mark_token_made(&self) -> bool {
        self.token_made.store(true, Ordering::SeqCst);
        self.is_cancelled()
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
        assert!(!cancel.mark_token_made(), "not cancelled yet");
        assert_eq!(cancel.cancel(), Some(true), "a token was made: cancel it");
        assert_eq!(cancel.cancel(), None, "only the first cancel counts");
        for w in waiters {
            w.await.unwrap();
        }
        assert!(
            cancel.mark_token_made(),
            "a token made later is to be cancelled at once"
        );
        assert_eq!(
            Cancel::new(false).cancel(),
            Some(false),
            "no token, nothing more to do"
        );
        cancel.cancelled().await;
        assert!(Cancel::new(true).is_cancelled());
    }
}
