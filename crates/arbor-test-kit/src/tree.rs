//! Trees for tests: backoffs, supervisors, the no-two-runs-at-once tracker, and nodes that die
//! on command.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arbor::{Backoff, Builder, Context, Group, Runnable, ShutdownReport, Signal, Supervisor};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::DEADLINE;

/// A backoff with exact delays, for tests that read them: arbor's defaults (500 ms, ×1.5, at
/// most 60 s) without the randomization. Meant for paused-time tests, where waiting is free.
pub fn exact_backoff() -> Backoff {
    Backoff::default().randomization(0.0)
}

/// A backoff for tests in real time, where a dead node should be back quickly: 50 ms, then ×1.5
/// (75 ms, 112.5 ms, ...) up to 200 ms, exact (no randomization). It still grows, so a node in
/// a crash loop is retried five times a second at most, never in a tight loop.
pub fn fast_backoff() -> Backoff {
    Backoff::default()
        .initial(Duration::from_millis(50))
        .max_interval(Duration::from_millis(200))
        .randomization(0.0)
}

/// A supervisor builder with the kit's settings: the [`exact_backoff`], and panics propagate (a
/// panic in a test is a bug, reported by [`shutdown`]). Change what a test needs on top.
pub fn builder() -> Builder {
    Supervisor::builder()
        .backoff(exact_backoff())
        .propagate_panics(true)
}

/// A supervisor for tests: panics propagate (a panic is a bug) unless a test says otherwise.
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn supervisor(root: impl Runnable) -> Supervisor {
    builder()
        .spawn(root)
        .expect("valid settings inside a runtime")
}

/// A [`supervisor`] with `backoff` instead of the exact one (e.g. the [`fast_backoff`]).
///
/// # Panics
///
/// Outside a tokio runtime, or for an invalid `backoff`.
pub fn supervisor_with(root: impl Runnable, backoff: Backoff) -> Supervisor {
    builder()
        .backoff(backoff)
        .spawn(root)
        .expect("valid settings inside a runtime")
}

/// Shuts `sup` down and checks that it stopped cleanly (see [`assert_clean`]).
///
/// # Panics
///
/// If the shutdown takes longer than the [`DEADLINE`], or was not clean.
pub async fn shutdown(sup: &Supervisor) {
    let report = tokio::time::timeout(DEADLINE, sup.shutdown())
        .await
        .expect("shutdown finished before the deadline");
    assert_clean(report);
}

/// Checks a shutdown report: every runnable returned in time, and nothing panicked.
///
/// # Panics
///
/// Naming the stuck nodes, or the panic.
pub fn assert_clean(report: ShutdownReport) {
    assert!(report.stuck.is_empty(), "stuck nodes: {:?}", report.stuck);
    report.into_result().expect("a clean shutdown");
}

/// Records which DNs are running, to prove that no DN ever runs twice at once.
#[derive(Debug, Default)]
pub struct Tracker {
    live: Mutex<HashMap<String, usize>>,
    overlaps: Mutex<Vec<String>>,
    entries: Mutex<HashMap<String, usize>>,
}

impl Tracker {
    /// A tracker that has seen nothing yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Tracker::default())
    }

    /// Wraps `runnable` so that every run is recorded from entry until its future ends.
    pub fn track(self: &Arc<Self>, runnable: impl Runnable) -> impl Runnable {
        let tracker = self.clone();
        let runnable = Arc::new(runnable);
        move |ctx: Context| {
            let guard = tracker.enter(&ctx.dn().to_string());
            let run = runnable.run(ctx);
            async move {
                let _guard = guard;
                run.await
            }
        }
    }

    fn enter(self: &Arc<Self>, dn: &str) -> LiveGuard {
        let mut live = self.live.lock();
        let count = live.entry(dn.to_owned()).or_default();
        *count += 1;
        if *count > 1 {
            self.overlaps.lock().push(dn.to_owned());
        }
        *self.entries.lock().entry(dn.to_owned()).or_default() += 1;
        LiveGuard {
            tracker: self.clone(),
            dn: dn.to_owned(),
        }
    }

    /// How many times `dn`'s runnable was entered.
    pub fn entries(&self, dn: &str) -> usize {
        self.entries.lock().get(dn).copied().unwrap_or(0)
    }

    /// How many runnables are inside their future right now.
    pub fn live(&self) -> usize {
        self.live.lock().values().sum()
    }

    /// The invariant checked in every scenario.
    ///
    /// # Panics
    ///
    /// Naming the DNs that ran twice at once.
    pub fn assert_never_two_at_once(&self) {
        let overlaps = self.overlaps.lock();
        assert!(overlaps.is_empty(), "DNs ran twice at once: {overlaps:?}");
    }
}

/// One run of a DN, as a [`Tracker`] sees it: the run is live until this is dropped.
#[derive(Debug)]
pub struct LiveGuard {
    tracker: Arc<Tracker>,
    dn: String,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut live = self.tracker.live.lock();
        if let Some(count) = live.get_mut(&self.dn) {
            *count -= 1;
        }
    }
}

/// Lets a test kill a running node: the node's worker returns an error when told.
#[derive(Debug, Default)]
pub struct Kills {
    by_dn: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Kills {
    /// No kills asked for yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Kills::default())
    }

    fn signal_for(&self, dn: &str) -> Arc<Notify> {
        self.by_dn.lock().entry(dn.to_owned()).or_default().clone()
    }

    /// Makes the current run of `dn` return an error. Call it only while `dn` is running.
    ///
    /// The kill is kept until a run of `dn` waits for it: a run that has not reached its wait
    /// yet dies as soon as it does.
    pub fn kill(&self, dn: &str) {
        self.signal_for(dn).notify_one();
    }

    /// Waits until this run is killed.
    pub fn killed(&self, dn: &str) -> impl Future<Output = ()> + Send + 'static {
        let signal = self.signal_for(dn);
        async move { signal.notified().await }
    }
}

/// A leaf that signals Healthy and serves until cancelled, or dies when killed.
pub fn worker(kills: &Arc<Kills>) -> impl Runnable {
    let kills = kills.clone();
    move |ctx: Context| {
        let killed = kills.killed(&ctx.dn().to_string());
        async move {
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => Ok(()),
                () = killed => anyhow::bail!("killed by the test"),
            }
        }
    }
}

/// A node that starts a full binary subtree of `depth` more levels (as groups of two), then
/// serves; the leaves are workers.
pub fn binary(depth: u32, kills: &Arc<Kills>, tracker: &Arc<Tracker>) -> Arc<dyn Runnable> {
    if depth == 0 {
        return Arc::new(tracker.track(worker(kills)));
    }
    let child = binary(depth - 1, kills, tracker);
    let kills = kills.clone();
    Arc::new(tracker.track(move |ctx: Context| {
        let child = child.clone();
        let killed = kills.killed(&ctx.dn().to_string());
        async move {
            ctx.run_group(
                Group::new()
                    .add_shared("l", child.clone())
                    .add_shared("r", child),
            )?;
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => Ok(()),
                () = killed => anyhow::bail!("killed by the test"),
            }
        }
    }))
}

/// A root that starts `group` and serves until cancelled.
pub fn root_with(make: impl Fn() -> Group + Send + Sync + 'static) -> impl Runnable {
    move |ctx: Context| {
        let group = make();
        async move {
            ctx.run_group(group)?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    }
}
