//! A singleton over three hosts, against a real etcd: one runs it; when that host stops, the
//! work moves to another, and at no moment do two run it.

mod common;

use std::time::Duration;

use arbor_etcd::{MaxCount, Options};
use arbor_test_kit::DEADLINE;
use common::etcd::Etcd;
use common::{start_host, HostTracker};

const TTL: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn singleton_moves_to_another_host_when_its_holder_stops_and_never_runs_twice() {
    arbor_test_kit::init_tracing();
    let etcd = Etcd::single().await;
    let tracker = HostTracker::new();
    let options = Options::new().session_ttl(TTL).strategy(MaxCount(1));
    let mut hosts = Vec::new();
    for name in ["h1", "h2", "h3"] {
        hosts.push(
            start_host(
                etcd.endpoints(),
                "/test/singleton",
                name,
                options.clone(),
                &tracker,
            )
            .await,
        );
    }

    let runs = tracker
        .wait("one host runs the job", DEADLINE, |r| r.running.len() == 1)
        .await;
    let holder = runs.running.iter().next().cloned().expect("one runner");
    for host in &mut hosts {
        host.wait_view("all three hosts joined", DEADLINE, |v| v.hosts.len() == 3)
            .await;
    }

    let at = hosts
        .iter()
        .position(|h| h.name == holder)
        .expect("holder is a host");
    hosts.remove(at).stop().await;

    // The holder revokes its lease once its work has stopped, so the move needs no TTL; the
    // deadline allows for one anyway (a lease that had to expire), plus a margin.
    let runs = tracker
        .wait(
            "another host takes the job over",
            TTL + Duration::from_secs(10),
            |r| r.running.len() == 1 && !r.running.contains(&holder),
        )
        .await;
    let new_holder = runs.running.iter().next().cloned().expect("one runner");
    assert_ne!(new_holder, holder);
    for host in &mut hosts {
        let view = host
            .wait_view("the placement names the new holder", DEADLINE, |v| {
                v.placement.hosts == [new_holder.clone()] && !v.hosts.contains(&holder)
            })
            .await;
        assert_eq!(view.is_running(), host.name == new_holder);
        // The same view shows in the supervisor's status, as notes on the job node.
        // The claim of the new holder (`running`) may land after the placement: wait for both.
        let want = format!("[{new_holder}]@{}", view.placement.revision);
        let running = format!("[{new_holder}]");
        let status = host
            .wait_status("the status shows the new holder", DEADLINE, |s| {
                s.get("root.job").is_some_and(|job| {
                    job.notes.get("placement") == Some(&want)
                        && job.notes.get("running") == Some(&running)
                        && job
                            .notes
                            .get("live")
                            .is_some_and(|live| !live.contains(&holder))
                })
            })
            .await;
        assert!(status.to_string().contains(&format!("placement={want}")));
    }
    assert_eq!(
        tracker.now().max_at_once,
        1,
        "two hosts ran the singleton at once: {:?}",
        tracker.now()
    );

    for host in hosts {
        host.stop().await;
    }
    assert!(tracker.now().running.is_empty());
    assert_eq!(tracker.now().max_at_once, 1);
}
