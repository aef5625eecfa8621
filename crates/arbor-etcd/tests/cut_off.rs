//! A holder cut off from etcd by the death of its only member (the others live on): it fences
//! itself, its lease expires, and the work moves, never running on two hosts at once.

mod common;

use std::time::Duration;

use arbor_etcd::{MaxCount, Options};
use arbor_test_kit::DEADLINE;
use common::etcd::Etcd;
use common::{start_host, HostTracker};

const TTL: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_holder_stops_before_its_lease_expires_and_the_work_moves() {
    arbor_test_kit::init_tracing();
    let mut etcd = Etcd::cluster(3).await;
    let ns = "/test/partition";
    let tracker = HostTracker::new();
    let options = Options::new().session_ttl(TTL).strategy(MaxCount(1));

    // The isolated host knows member 0 only, and starts first, so that it gets the work.
    let mut isolated =
        start_host(vec![etcd.endpoint(0)], ns, "h1", options.clone(), &tracker).await;
    tracker
        .wait("h1 runs the job", DEADLINE, |r| r.running.contains("h1"))
        .await;
    let mut others = Vec::new();
    for name in ["h2", "h3"] {
        others.push(
            start_host(
                vec![etcd.endpoint(1), etcd.endpoint(2)],
                ns,
                name,
                options.clone(),
                &tracker,
            )
            .await,
        );
    }
    for host in &mut others {
        host.wait_view("joined and sees h1 placed", DEADLINE, |v| {
            v.hosts.len() == 3 && v.placement.hosts == ["h1"]
        })
        .await;
    }

    etcd.kill(0).await;
    // h1 fences at half the TTL; its lease expires at the TTL; the work moves after that.
    let runs = tracker
        .wait(
            "the job moved off the cut-off host",
            TTL * 2 + Duration::from_secs(10),
            |r| r.running.len() == 1 && !r.running.contains("h1"),
        )
        .await;
    assert_eq!(
        runs.max_at_once, 1,
        "the cut-off host and its successor overlapped: {runs:?}"
    );
    let view = isolated.view.borrow().clone();
    assert!(!view.is_running(), "h1 still holds a token: {view}");
    for host in &mut others {
        host.wait_view("h1 is gone from the namespace", DEADLINE, |v| {
            !v.hosts.contains(&"h1".to_owned()) && v.placement.hosts.len() == 1
        })
        .await;
    }

    for host in others {
        host.stop().await;
    }
    // h1 cannot reach etcd to leave; its supervisor still stops cleanly.
    isolated
        .wait_view("h1 knows it is not a fresh member", DEADLINE, |v| {
            !v.is_fresh(tokio::time::Instant::now())
        })
        .await;
    isolated.stop().await;
    assert_eq!(tracker.now().max_at_once, 1);
}
