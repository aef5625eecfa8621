//! Waiting for events and states, always within [`DEADLINE`].

use std::collections::VecDeque;
use std::time::Duration;

use arbor::{Event, EventStream, NodeState, Supervisor, TreeStatus};

/// How long a test waits for any one thing before it fails: 60 s.
///
/// A deadline only bounds a test that is already failing, so it is generous: long enough for a
/// loaded 2-core machine, a subprocess, or an etcd cluster electing a leader. In paused-time
/// tests it is virtual time, so a missing event fails at once instead of hanging. A test that
/// asserts a bound of its own ("dies within the TTL", "does not hang") states that bound
/// explicitly instead.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How many of the events that [`expect`] skipped it shows when it fails.
const SHOWN: usize = 40;

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Waits for the first event matching `want`, skipping others.
///
/// # Panics
///
/// If the stream ends, or at the [`DEADLINE`]: then the message lists the last events skipped.
pub async fn expect(events: &mut EventStream, want: impl Fn(&Event) -> bool) -> Event {
    let mut skipped = VecDeque::new();
    let mut dropped = 0_usize;
    let hit = async {
        loop {
            let event = events.next().await.expect("event stream ended");
            if want(&event) {
                break event;
            }
            if skipped.len() == SHOWN {
                skipped.pop_front();
                dropped += 1;
            }
            // Kept as is (cheap: the DN is shared) and formatted only on a timeout: formatting
            // every skipped event would cost the depth of its DN each time.
            skipped.push_back(event);
        }
    };
    match tokio::time::timeout(DEADLINE, hit).await {
        Ok(event) => event,
        Err(_) => {
            let skipped: Vec<String> = skipped.iter().map(Event::to_string).collect();
            panic!(
                "no matching event before the deadline; skipped {} event(s), the last ones:\n{}",
                dropped + skipped.len(),
                skipped.join("\n")
            )
        }
    }
}

/// Matches a transition of `dn` into `to`.
pub fn entered(dn: &str, to: NodeState) -> impl Fn(&Event) -> bool + Send + Sync + 'static {
    let dn = dn.to_owned();
    move |e| e.dn == dn.as_str() && e.to == to
}

/// Matches the removal of `dn` from the tree (its parent restarted, or it was temporary, or
/// removed by order).
pub fn removed(dn: &str) -> impl Fn(&Event) -> bool + Send + Sync + 'static {
    let dn = dn.to_owned();
    move |e| e.dn == dn.as_str() && e.removed
}

/// Matches a restart of `dn` (a transition to New from another state).
pub fn restarted(dn: &str) -> impl Fn(&Event) -> bool + Send + Sync + 'static {
    let dn = dn.to_owned();
    move |e| {
        e.dn == dn.as_str() && e.to == NodeState::New && e.from.is_some_and(|f| f != NodeState::New)
    }
}

/// Waits until `check` holds for the tree's status; checks again after every event.
///
/// A change that is not a transition (a note) sends no event: wait for those some other way.
///
/// # Panics
///
/// If the stream ends, or at the [`DEADLINE`] (naming the last status seen).
pub async fn until_status(
    sup: &Supervisor,
    events: &mut EventStream,
    check: impl Fn(&TreeStatus) -> bool,
) -> TreeStatus {
    let wait = async {
        loop {
            let status = sup.status().await;
            if check(&status) {
                break status;
            }
            events.next().await.expect("event stream ended");
        }
    };
    match tokio::time::timeout(DEADLINE, wait).await {
        Ok(status) => status,
        // Formatted only now: a tree's text costs its size, on every event it would be
        // quadratic.
        Err(_) => panic!(
            "status never matched before the deadline; now:\n{}",
            sup.status().await
        ),
    }
}

/// Whether every node of the tree is Healthy.
pub fn all_healthy(status: &TreeStatus) -> bool {
    status.iter().all(|n| n.state == NodeState::Healthy)
}

/// Waits until the tree matches `check` and is quiet, then returns a fresh event stream with
/// its snapshot already read, so that the next event is the next transition.
///
/// # Panics
///
/// At the [`DEADLINE`], or if the tree changes while its snapshot is read.
pub async fn settled(
    sup: &Supervisor,
    check: impl Fn(&TreeStatus) -> bool,
) -> (TreeStatus, EventStream) {
    let mut scratch = sup.events();
    let status = until_status(sup, &mut scratch, check).await;
    let mut events = sup.events();
    for _ in 0..status.node_count() {
        let snapshot = events.next().await.expect("event stream ended");
        assert_eq!(
            snapshot.from, None,
            "the tree changed while settling: {snapshot}"
        );
    }
    (status, events)
}

/// Records events until `done` says the sequence is complete.
///
/// # Panics
///
/// At the [`DEADLINE`], listing what it saw.
pub async fn record(events: &mut EventStream, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    record_matching(events, |_| true, done).await
}

/// Records the events that `keep` selects until `done` says the sequence is complete.
///
/// # Panics
///
/// At the [`DEADLINE`], listing what it saw.
pub async fn record_matching(
    events: &mut EventStream,
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

/// The position of the first event matching `want`, or a panic naming `what` was missing.
pub fn position(seen: &[Event], what: &str, want: impl Fn(&Event) -> bool) -> usize {
    seen.iter()
        .position(want)
        .unwrap_or_else(|| panic!("no event {what} in {seen:#?}"))
}
