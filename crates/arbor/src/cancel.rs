//! How the futures of one run wait for its stop signal.
//!
//! Only the processor cancels, and it cancels whole subtrees: cancellation is hereditary (every
//! node below a cancelled node is cancelled too, and a child started under a cancelled parent
//! is born cancelled). So a walk that meets an already cancelled node can skip its subtree, and
//! cancelling costs one step per node newly told to stop.
//!
//! This replaces one `tokio_util` `CancellationToken` per node, which would cost an allocation
//! and a lock of the parent's child list per start, because the processor already owns the tree
//! that a token tree would duplicate. A real token is made lazily, only for runnables that ask
//! for one (`Context::child_token`).
//!
//! The signal is a flag in the context, and the wakers of the futures waiting for it
//! ([`Waiters`]) live under the context's own lock, beside the token. A waiting future is then
//! a reference and a key, 16 bytes, where a `tokio::sync::Notified` is 64: nearly every
//! runnable awaits [`Context::cancelled`], so that difference is in nearly every node's future.
//!
//! # Invariants
//!
//! 1. The flag is set before the lock is taken to wake the waiters; a future reads it again
//!    under the lock before it registers. So a future that registers is woken by the cancel,
//!    and none registers after it.
//! 2. A key names the slot of one live future: only that future's drop (or the cancel, which
//!    takes every waker at once) empties it, and no slot is filled after the cancel.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use slab::Slab;

use crate::Context;

/// The wakers of a run's futures waiting for its cancel: one inline, for the common single
/// waiter, and the rest boxed.
#[derive(Default)]
pub(crate) struct Waiters {
    first: Option<Waker>,
    more: Option<Box<Slab<Waker>>>,
}

/// Where one future's waker is kept in [`Waiters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    First,
    More(u32),
}

impl Waiters {
    /// Keeps `waker` for the future holding `key`, taking a slot if it has none yet.
    fn register(&mut self, key: &mut Option<Key>, waker: &Waker) {
        match *key {
            Some(Key::First) => self.first_slot().clone_from(waker),
            Some(Key::More(i)) => self.more_slot(i).clone_from(waker),
            None if self.first.is_none() => {
                self.first = Some(waker.clone());
                *key = Some(Key::First);
            }
            None => {
                let more = self.more.get_or_insert_with(Default::default);
                let i = more.insert(waker.clone());
                *key = Some(Key::More(
                    u32::try_from(i).expect("fewer than 2^32 futures wait for one run"),
                ));
            }
        }
    }

    /// Empties the slot of a future that goes away (invariant 2).
    fn remove(&mut self, key: Key) {
        match key {
            Key::First => self.first = None,
            Key::More(i) => {
                if let Some(more) = &mut self.more {
                    more.try_remove(i as usize);
                    if more.is_empty() {
                        self.more = None;
                    }
                }
            }
        }
    }

    fn first_slot(&mut self) -> &mut Waker {
        self.first
            .as_mut()
            .expect("a key names a filled slot (invariant 2)")
    }

    fn more_slot(&mut self, i: u32) -> &mut Waker {
        self.more
            .as_mut()
            .and_then(|more| more.get_mut(i as usize))
            .expect("a key names a filled slot (invariant 2)")
    }

    /// Wakes every waiter. Called on the wakers taken out of the lock.
    pub(crate) fn wake_all(self) {
        if let Some(waker) = self.first {
            waker.wake();
        }
        for (_, waker) in self.more.into_iter().flat_map(|more| *more) {
            waker.wake();
        }
    }
}

/// The future of [`Context::cancelled`], which nearly every runnable awaits: it is part of
/// every node's own future, so it is kept to a reference and a key ([`CANCELLED_SIZE`]).
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Cancelled<'a> {
    ctx: &'a Context,
    /// Set while a waker of this future is kept in the context's [`Waiters`].
    key: Option<Key>,
}

/// The bytes [`Cancelled`] adds to a runnable's future; the build fails if it grows.
pub(crate) const CANCELLED_SIZE: usize = 16;

const _: () = assert!(std::mem::size_of::<Cancelled<'static>>() <= CANCELLED_SIZE);

impl<'a> Cancelled<'a> {
    pub(crate) fn new(ctx: &'a Context) -> Self {
        Cancelled { ctx, key: None }
    }
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.ctx.is_cancelled() {
            // A waker still kept is taken by the cancel under way (invariant 1).
            this.key = None;
            return Poll::Ready(());
        }
        let mut waiters = this.ctx.lock_waiters();
        if this.ctx.is_cancelled() {
            this.key = None;
            return Poll::Ready(());
        }
        waiters.register(&mut this.key, cx.waker());
        Poll::Pending
    }
}

impl Drop for Cancelled<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.ctx.lock_waiters().remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts its wakes.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    fn wakes(counter: &Counter) -> usize {
        counter.0.load(Ordering::SeqCst)
    }

    #[test]
    fn every_registered_waker_is_woken_once() {
        let mut waiters = Waiters::default();
        let counters: Vec<_> = (0..4)
            .map(|_| {
                let (count, waker) = counter();
                let mut key = None;
                waiters.register(&mut key, &waker);
                (count, key.unwrap())
            })
            .collect();
        assert_eq!(counters[0].1, Key::First);
        assert_eq!(counters[1].1, Key::More(0));
        waiters.remove(counters[2].1); // gone before the cancel: not woken
        waiters.wake_all();
        let woken: Vec<usize> = counters.iter().map(|(c, _)| wakes(c)).collect();
        assert_eq!(woken, [1, 1, 0, 1]);
    }

    #[test]
    fn a_repoll_replaces_the_waker_and_a_freed_slot_is_taken_again() {
        let mut waiters = Waiters::default();
        let (old, old_waker) = counter();
        let (new, new_waker) = counter();
        let mut key = None;
        waiters.register(&mut key, &old_waker);
        waiters.register(&mut key, &new_waker);
        assert_eq!(key, Some(Key::First));
        let (other, other_waker) = counter();
        let mut other_key = None;
        waiters.register(&mut other_key, &other_waker);
        waiters.remove(other_key.unwrap());
        assert!(waiters.more.is_none(), "an empty overflow is freed");
        waiters.remove(Key::First);
        let mut again = None;
        waiters.register(&mut again, &other_waker);
        assert_eq!(again, Some(Key::First));
        waiters.wake_all();
        assert_eq!((wakes(&old), wakes(&new), wakes(&other)), (0, 0, 1));
    }
}
