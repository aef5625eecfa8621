//! This host's one place for the work: who may start it, and how many runs are under way.
//!
//! The `placed` node arms the slot before it claims the work in etcd, and disarms it when it
//! ends; the `work` node enters the slot around each run of the inner runnable. The member
//! releases this host's claim in etcd, and leaves the namespace, only when the slot is idle:
//! not armed and nothing inside. So etcd shows a claim for as long as the work may run here.
//!
//! arbor cannot tell a node when its children have stopped, so this is how the member knows.
//!
//! # Invariants
//!
//! 1. A run enters only under the permit that is armed now (`armed == Some(its permit)`). Once
//!    disarmed, a permit never comes back, so a `work` node whose `placed` parent has ended
//!    cannot start the inner runnable late.
//! 2. `inside` counts guards; each guard is dropped exactly once, even when the run panics or
//!    its task is aborted, because the guard lives in the run's future.

use std::sync::Arc;

use arbor::{Context, RunFuture, Runnable};
use tokio::sync::watch;

/// The slot, shared by the member, `placed` and `work` nodes of one host.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    state: Arc<watch::Sender<SlotState>>,
}

#[derive(Debug, Default)]
pub(crate) struct SlotState {
    armed: Option<u64>,
    inside: u32,
    issued: u64,
}

impl SlotState {
    /// Nothing may start, and nothing runs.
    pub(crate) fn is_idle(&self) -> bool {
        self.armed.is_none() && self.inside == 0
    }
}

/// An armed slot; disarms it when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    slot: Slot,
    id: u64,
}

/// One run inside the slot; leaves it when dropped.
#[derive(Debug)]
struct Inside {
    slot: Slot,
}

impl Slot {
    pub(crate) fn new() -> Self {
        Slot {
            state: Arc::new(watch::Sender::new(SlotState::default())),
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<SlotState> {
        self.state.subscribe()
    }

    /// Arms the slot with a new permit (replacing any older one).
    pub(crate) fn arm(&self) -> Permit {
        let mut id = 0;
        self.state.send_modify(|s| {
            s.issued += 1;
            id = s.issued;
            s.armed = Some(id);
        });
        Permit {
            slot: self.clone(),
            id,
        }
    }

    fn enter(&self, permit: u64) -> Option<Inside> {
        let entered = self.state.send_if_modified(|s| {
            if s.armed != Some(permit) {
                return false;
            }
            s.inside += 1;
            true
        });
        entered.then(|| Inside { slot: self.clone() })
    }

    /// Completes when the slot is idle.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn idle(&self) {
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(SlotState::is_idle).await;
    }
}

impl Permit {
    /// The runnable that runs `inner` under this permit.
    pub(crate) fn work(&self, inner: Arc<dyn Runnable>) -> Work {
        Work {
            inner,
            slot: self.slot.clone(),
            permit: self.id,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let id = self.id;
        self.slot.state.send_if_modified(|s| {
            if s.armed != Some(id) {
                return false;
            }
            s.armed = None;
            true
        });
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.slot.state.send_modify(|s| s.inside -= 1);
    }
}

/// The `work` node: the user's runnable, run only while this host holds the permit.
pub(crate) struct Work {
    inner: Arc<dyn Runnable>,
    slot: Slot,
    permit: u64,
}

impl Runnable for Work {
    fn run(&self, ctx: Context) -> RunFuture {
        let inner = self.inner.clone();
        let slot = self.slot.clone();
        let permit = self.permit;
        Box::pin(async move {
            let inside = slot.enter(permit);
            if inside.is_none() || ctx.is_cancelled() {
                // The parent has already let go; it is being cancelled, and so are we.
                ctx.cancelled().await;
                return Ok(());
            }
            let result = inner.run(ctx).await;
            drop(inside);
            result
        })
    }
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("permit", &self.permit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disarmed_permit_never_admits_a_run() {
        let slot = Slot::new();
        let permit = slot.arm();
        let id = permit.id;
        assert!(!slot.subscribe().borrow().is_idle());
        let inside = slot.enter(id).expect("armed with this permit");
        drop(permit);
        assert!(
            !slot.subscribe().borrow().is_idle(),
            "a run is still inside"
        );
        assert!(slot.enter(id).is_none());
        drop(inside);
        assert!(slot.subscribe().borrow().is_idle());
    }

    #[test]
    fn an_old_permit_does_not_disarm_a_newer_one() {
        let slot = Slot::new();
        let old = slot.arm();
        let new = slot.arm();
        drop(old);
        assert!(slot.enter(new.id).is_some());
    }
}
