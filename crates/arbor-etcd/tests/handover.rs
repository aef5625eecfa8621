//! A placement that moves work between two live hosts hands it over: the new host starts only
//! after the old one has stopped, however long stopping takes.

mod common;

use std::time::Duration;

use arbor::NodeState;
use arbor_etcd::{Alphabetical, Options};
use arbor_test_kit::DEADLINE;
use common::etcd::Etcd;
use common::{start_host_with, HostTracker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_placement_waits_for_the_old_host_to_stop_before_the_new_one_starts() {
    arbor_test_kit::init_tracing();
    let etcd = Etcd::single().await;
    let ns = "/test/handover";
    let tracker = HostTracker::new();
    let options = Options::new()
        .session_ttl(Duration::from_secs(2))
        .strategy(Alphabetical(1));
    // The old holder takes a while to stop once told to: without the handover, the new holder
    // would start meanwhile.
    let stopping = Duration::from_millis(500);
    let mut old = start_host_with(
        etcd.endpoints(),
        ns,
        "host-b",
        options.clone(),
        tracker.inner_stopping_in("host-b", stopping),
    )
    .await;
    tracker
        .wait("host-b runs the job", DEADLINE, |r| {
            r.running.contains("host-b")
        })
        .await;
    let first = old
        .wait_view("host-b holds a token", DEADLINE, |v| v.token.is_some())
        .await
        .token
        .expect("token");

    // "host-a" sorts first: Alphabetical(1) moves the work to it.
    let mut old_events = old.sup.events();
    let mut new = start_host_with(
        etcd.endpoints(),
        ns,
        "host-a",
        options,
        tracker.inner_stopping_in("host-a", stopping),
    )
    .await;
    let runs = tracker
        .wait("host-a takes the job over", DEADLINE, |r| {
            r.running.len() == 1 && r.running.contains("host-a")
        })
        .await;
    assert_eq!(
        runs.max_at_once, 1,
        "old and new holder ran at once: {runs:?}"
    );
    assert_eq!(runs.starts.get("host-b"), Some(&1));
    let second = new
        .wait_view("host-a holds a token", DEADLINE, |v| v.token.is_some())
        .await
        .token
        .expect("token");
    assert!(
        second > first,
        "fencing tokens must grow: {first:?} then {second:?}"
    );
    old.wait_view("host-b gave its token up", DEADLINE, |v| v.token.is_none())
        .await;
    // A moved placement is no failure: the old holder's `placed` bounced, it did not die.
    let left = arbor_test_kit::expect(&mut old_events, |e| {
        e.dn == "root.job.placed"
            && e.from.is_some()
            && e.to != NodeState::New
            && e.to != NodeState::Healthy
    })
    .await;
    assert_eq!(left.to, NodeState::Canceled, "{left}");
    assert!(
        left.bounce
            .as_deref()
            .is_some_and(|r| r.contains("placement moved")),
        "{left}"
    );

    new.stop().await;
    old.stop().await;
    assert_eq!(tracker.now().max_at_once, 1);
}
