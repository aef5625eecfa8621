//! A three-member etcd cluster on loopback: losing the member the hosts talk to moves their
//! connections to another member and leaves the placement, and the work, undisturbed.

mod common;

use std::time::Duration;

use arbor_etcd::{MaxCount, Options};
use arbor_test_kit::DEADLINE;
use common::etcd::Etcd;
use common::{start_host, HostTracker};
use tokio::time::Instant;

/// Longer than the other tests': fencing (at half of it) must not fire while the hosts move
/// to another member, even on a loaded machine.
const TTL: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_member_in_use_keeps_placement_and_work_in_place() {
    arbor_test_kit::init_tracing();
    let mut etcd = Etcd::cluster(3).await;
    let ns = "/test/cluster";
    // Every host starts on member 0. Kill a follower, not the raft leader: the subject here is
    // the client's failover, not etcd's own election.
    ensure_not_raft_leader(&etcd, 0).await;

    let tracker = HostTracker::new();
    let options = Options::new().session_ttl(TTL).strategy(MaxCount(1));
    let mut hosts = Vec::new();
    for name in ["h1", "h2", "h3"] {
        hosts.push(start_host(etcd.endpoints(), ns, name, options.clone(), &tracker).await);
    }
    let runs = tracker
        .wait("one host runs the job", DEADLINE, |r| r.running.len() == 1)
        .await;
    let holder = runs.running.iter().next().cloned().expect("one runner");
    let mut placement = None;
    for host in &mut hosts {
        let view = host
            .wait_view("all joined and placed, on member 0", DEADLINE, |v| {
                v.hosts.len() == 3 && v.placement.hosts == [holder.clone()]
            })
            .await;
        assert_eq!(view.endpoint, etcd.endpoint(0));
        placement = Some(view.placement);
    }
    let placement = placement.expect("three hosts");

    let killed_at = Instant::now();
    etcd.kill(0).await;

    // Each host renewed its lease after the kill, so on another member.
    for host in &mut hosts {
        let view = host
            .wait_view("renewed its lease on another member", DEADLINE, |v| {
                v.endpoint != etcd.endpoint(0)
                    && v.lease.is_some_and(|l| l.fresh_until > killed_at + TTL / 2)
            })
            .await;
        assert_ne!(view.endpoint, etcd.endpoint(0));
    }
    // Each host's watch follows again: a write made now reaches every view.
    let probe = common::put(&etcd.endpoint(1), &format!("{ns}/probe"), "after the kill").await;
    for host in &mut hosts {
        host.wait_view("the watch delivers again", DEADLINE, |v| {
            v.revision >= probe
        })
        .await;
    }

    let stored = common::mod_revision(&etcd.endpoint(1), &format!("{ns}/placement")).await;
    assert_eq!(stored, placement.revision, "the placement was rewritten");
    for host in &hosts {
        let view = host.view.borrow().clone();
        assert_eq!(
            view.placement, placement,
            "{} sees another placement",
            host.name
        );
        assert_eq!(view.is_running(), host.name == holder);
    }
    let runs = tracker.now();
    assert_eq!(runs.running.iter().collect::<Vec<_>>(), [&holder]);
    assert_eq!(
        runs.starts.values().sum::<u32>(),
        1,
        "the job was restarted or moved: {runs:?}"
    );
    assert_eq!(runs.max_at_once, 1);

    for host in hosts {
        host.stop().await;
    }
}

/// Moves raft leadership away from member `i` if it has it.
async fn ensure_not_raft_leader(etcd: &Etcd, i: usize) {
    let mut raw = etcd_client::Client::connect([etcd.endpoint(i)], None)
        .await
        .expect("raw client");
    let status = tokio::time::timeout(DEADLINE, raw.status())
        .await
        .expect("etcd answers")
        .expect("status");
    let me = status.header().expect("header").member_id();
    if status.leader() != me {
        return;
    }
    let members = raw.member_list().await.expect("member list");
    let other = members
        .members()
        .iter()
        .find(|m| m.id() != me)
        .expect("another member")
        .id();
    tokio::time::timeout(DEADLINE, raw.move_leader(other))
        .await
        .expect("etcd answers")
        .expect("move leader");
    let status = raw.status().await.expect("status");
    assert_ne!(status.leader(), me, "leadership did not move");
}
