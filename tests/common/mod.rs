//! Shared test kit: wait for events with a deadline, kill nodes on command, and check in every
//! scenario that no DN ever runs twice at once.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arbor::{Backoff, Context, Event, Events, NodeState, Runnable, Signal, Status, Supervisor};
use parking_lot::Mutex;
use tokio::sync::Notify;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// How long a test waits for something before it fails. In paused-time tests this is virtual
/// time, so a missing event fails at once instead of hanging.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Waits for the first event matching `want`, skipping others.
pub async fn expect(events: &mut Events, want: impl Fn(&Event) -> bool) -> Event {
    let hit = async {
        loop {
            let event = events.next().await.expect("event stream ended");
            if want(&event) {
                break event;
            }
        }
    };
    tokio::time::timeout(DEADLINE, hit)
        .await
        .expect("no matching event before the deadline")
}

/// Matches a transition of `dn` into `to`.
pub fn entered(dn: &'static str, to: NodeState) -> impl Fn(&Event) -> bool {
    move |e| e.dn == dn && e.to == to
}

/// Matches a restart of `dn` (a transition to New from another state).
pub fn restarted(dn: &'static str) -> impl Fn(&Event) -> bool {
    move |e| e.dn == dn && e.to == NodeState::New && e.from.is_some_and(|f| f != NodeState::New)
}

/// Waits until `check` holds for the tree's status; checks again after every event.
pub async fn until_status(
    sup: &Supervisor,
    events: &mut Events,
    check: impl Fn(&Status) -> bool,
) -> Status {
    let wait = async {
        loop {
            let status = sup.status().await;
            if check(&status) {
                break status;
            }
            events.next().await.expect("event stream ended");
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .expect("status never matched before the deadline")
}

pub fn all_healthy(status: &Status) -> bool {
    status.iter().all(|n| n.state == NodeState::Healthy)
}

/// A backoff with exact delays, for tests that read them.
pub fn exact_backoff() -> Backoff {
    Backoff::default().randomization(0.0)
}

/// A supervisor for tests: panics propagate (a panic is a bug) unless a test says otherwise.
pub fn supervisor(root: impl Runnable) -> Supervisor {
    Supervisor::builder()
        .backoff(exact_backoff())
        .propagate_panics(true)
        .spawn(root)
        .expect("valid settings inside a runtime")
}

/// Records which DNs are running, to prove that no DN ever runs twice at once.
#[derive(Default)]
pub struct Tracker {
    live: Mutex<HashMap<String, usize>>,
    overlaps: Mutex<Vec<String>>,
    entries: Mutex<HashMap<String, usize>>,
}

impl Tracker {
    pub fn new() -> Arc<Self> {
        Arc::new(Tracker::default())
    }

    /// Wraps `runnable` so that every run is recorded from entry until its future ends.
    pub fn track(self: &Arc<Self>, runnable: impl Runnable) -> impl Runnable {
        let tracker = self.clone();
        let runnable = Arc::new(runnable);
        move |ctx: Context| {
            let guard = tracker.enter(ctx.dn().as_str());
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
    pub fn assert_never_two_at_once(&self) {
        let overlaps = self.overlaps.lock();
        assert!(overlaps.is_empty(), "DNs ran twice at once: {overlaps:?}");
    }
}

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
#[derive(Default)]
pub struct Kills {
    by_dn: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Kills {
    pub fn new() -> Arc<Self> {
        Arc::new(Kills::default())
    }

    fn signal_for(&self, dn: &str) -> Arc<Notify> {
        self.by_dn.lock().entry(dn.to_owned()).or_default().clone()
    }

    /// Makes the current run of `dn` return an error. Call it only while `dn` is running.
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
        let killed = kills.killed(ctx.dn().as_str());
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
        let killed = kills.killed(ctx.dn().as_str());
        async move {
            ctx.run_group(
                arbor::Group::new()
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

/// Records events until `done` says the sequence is complete.
pub async fn record(events: &mut Events, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    record_matching(events, |_| true, done).await
}

/// Records the events that `keep` selects until `done` says the sequence is complete.
pub async fn record_matching(
    events: &mut Events,
    keep: impl Fn(&Event) -> bool,
    done: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    let wait = async {
        while !done(&seen) {
            let event = events.next().await.expect("event stream ended");
            if keep(&event) {
                seen.push(event);
            }
        }
    };
    if tokio::time::timeout(DEADLINE, wait).await.is_err() {
        let lines: Vec<String> = seen.iter().map(|e| e.to_string()).collect();
        panic!(
            "sequence incomplete at the deadline; saw:\n{}",
            lines.join("\n")
        );
    }
    seen
}

/// The position of the first event matching `want`, or a panic naming what was missing.
pub fn position(seen: &[Event], what: &str, want: impl Fn(&Event) -> bool) -> usize {
    seen.iter()
        .position(want)
        .unwrap_or_else(|| panic!("no event {what} in {seen:#?}"))
}

/// A root that starts `group` and serves until cancelled.
pub fn root_with(make: impl Fn() -> arbor::Group + Send + Sync + 'static) -> impl Runnable {
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

/// Waits until the tree matches `check` and is quiet, then returns a fresh event stream with
/// its snapshot already read, so that the next event is the next transition.
pub async fn settled(sup: &Supervisor, check: impl Fn(&Status) -> bool) -> (Status, Events) {
    let mut scratch = sup.events();
    let status = until_status(sup, &mut scratch, check).await;
    let mut events = sup.events();
    for _ in 0..status.len() {
        let snapshot = events.next().await.expect("event stream ended");
        assert_eq!(
            snapshot.from, None,
            "the tree changed while settling: {snapshot}"
        );
    }
    (status, events)
}
