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

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::sync::futures::Notified;
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
    pub(crate) fn cancelled(&self) -> Cancelled<'_> {
        Cancelled {
            cancel: self,
            notified: self.notify.notified(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Cancel::cancelled`], and so of `Context::cancelled`, which nearly every
    /// runnable awaits: it is part of every node's own future. Written out, it is the
    /// `Notified` and one reference (72 bytes); the `async fn` it replaces kept both across
    /// its await with room for its states besides (96), which took many runnables' futures
    /// into the allocator's next size class.
    #[must_use = "futures do nothing unless polled"]
    pub(crate) struct Cancelled<'a> {
        cancel: &'a Cancel,
        #[pin]
        notified: Notified<'a>,
    }
}

/// The bytes [`Cancelled`] adds to a runnable's future; the build fails if it grows.
pub(crate) const CANCELLED_SIZE: usize = 72;

const _: () = assert!(std::mem::size_of::<Cancelled<'static>>() <= CANCELLED_SIZE);

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.cancel.is_cancelled() {
            return Poll::Ready(());
        }
        // Made with this future, so before any cancel it could miss: tokio guarantees that a
        // `Notified` receives every `notify_waiters` from its creation on, polled or not.
        this.notified.poll(cx)
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

    #[tokio::test]
    async fn a_future_made_before_the_cancel_and_polled_after_it_completes() {
        let cancel = Cancel::new(false);
        let mut waiting = std::pin::pin!(cancel.cancelled());
        let woke = std::future::poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx).is_ready()));
        assert!(!woke.await, "pending while not cancelled");
        let later = cancel.cancelled(); // made, never polled, before the cancel
        cancel.cancel();
        waiting.await;
        later.await;
    }
}
