//! `MaxCount(2)` over three hosts, against a real etcd: two run the work, and a fourth host
//! joining moves nothing.

mod common;

use std::time::Duration;

use arbor_etcd::{MaxCount, Options};
use arbor_test_kit::DEADLINE;
use common::etcd::Etcd;
use common::{start_host, HostTracker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_count_runs_on_two_hosts_and_a_new_host_moves_nothing() {
    arbor_test_kit::init_tracing();
    let etcd = Etcd::single().await;
    let ns = "/test/max_count";
    let tracker = HostTracker::new();
    let options = Options::new()
        .session_ttl(Duration::from_secs(2))
        .strategy(MaxCount(2));
    let mut hosts = Vec::new();
    // "h0" sorts before every other name: a strategy that is not sticky would move work to it.
    for name in ["h1", "h2", "h3"] {
        hosts.push(start_host(etcd.endpoints(), ns, name, options.clone(), &tracker).await);
    }

    let runs = tracker
        .wait("two hosts run the job", DEADLINE, |r| r.running.len() == 2)
        .await;
    let mut placed = Vec::new();
    for host in &mut hosts {
        let view = host
            .wait_view("the placement names the two runners", DEADLINE, |v| {
                v.placement.hosts.len() == 2 && v.hosts.len() == 3
            })
            .await;
        placed.push(view.placement.clone());
    }
    assert!(
        placed.windows(2).all(|w| w[0] == w[1]),
        "hosts disagree: {placed:?}"
    );
    let before = placed[0].clone();
    assert_eq!(
        before.hosts,
        runs.running.iter().cloned().collect::<Vec<_>>()
    );

    hosts.push(start_host(etcd.endpoints(), ns, "h0", options.clone(), &tracker).await);
    let mut joined_at = 0;
    for host in &mut hosts {
        let view = host
            .wait_view("everyone sees the fourth host", DEADLINE, |v| {
                v.hosts.len() == 4 && v.lease.is_some()
            })
            .await;
        joined_at = joined_at.max(view.revision);
    }
    // The elected host has decided on a view that includes the fourth host: had the strategy
    // wanted a change, it would have been written by now.
    let leader = hosts[0]
        .wait_view("a leader is observed", DEADLINE, |v| v.leader.is_some())
        .await
        .leader
        .expect("a leader");
    let at = hosts
        .iter()
        .position(|h| h.name == leader)
        .expect("leader is a host");
    hosts[at]
        .wait_view("the leader decided on the new host", DEADLINE, |v| {
            v.decided >= joined_at
        })
        .await;

    let stored = common::mod_revision(&etcd.endpoint(0), &format!("{ns}/placement")).await;
    assert_eq!(
        stored, before.revision,
        "the placement was rewritten after the fourth host joined"
    );
    for host in &mut hosts {
        let view = host.view.borrow().clone();
        assert_eq!(
            view.placement, before,
            "{} sees another placement",
            host.name
        );
    }
    let runs = tracker.now();
    assert_eq!(
        runs.running.iter().cloned().collect::<Vec<_>>(),
        before.hosts
    );
    assert!(
        !runs.starts.contains_key("h0"),
        "the new host ran the job: {runs:?}"
    );
    assert_eq!(runs.max_at_once, 2);

    for host in hosts {
        host.stop().await;
    }
}
