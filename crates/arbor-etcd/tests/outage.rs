//! etcd stopped entirely: every host stops the work before its lease could expire (fencing);
//! etcd started again on the same data: the work runs again, never on two hosts at once.

mod common;

use std::time::Duration;

use arbor_etcd::{MaxCount, Options};
use arbor_test_kit::DEADLINE;
use common::etcd::Etcd;
use common::{start_host, HostTracker};

const TTL: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_stop_the_work_when_etcd_is_gone_and_resume_when_it_is_back() {
    arbor_test_kit::init_tracing();
    let mut etcd = Etcd::single().await;
    let tracker = HostTracker::new();
    let options = Options::new().session_ttl(TTL).strategy(MaxCount(1));
    let mut hosts = Vec::new();
    for name in ["h1", "h2", "h3"] {
        hosts.push(
            start_host(
                etcd.endpoints(),
                "/test/outage",
                name,
                options.clone(),
                &tracker,
            )
            .await,
        );
    }
    tracker
        .wait("one host runs the job", DEADLINE, |r| r.running.len() == 1)
        .await;

    etcd.kill(0).await;
    // Fencing stops the work half a TTL after the last confirmed renewal; the deadline is the
    // TTL plus a margin for a loaded machine.
    tracker
        .wait(
            "every host stopped the job",
            TTL + Duration::from_secs(3),
            |r| r.running.is_empty(),
        )
        .await;
    for host in &mut hosts {
        let view = host.view.borrow().clone();
        assert!(
            !view.is_running(),
            "{} still holds a fencing token",
            host.name
        );
    }

    etcd.restart(0).await;
    let runs = tracker
        .wait("the job runs again", DEADLINE, |r| r.running.len() == 1)
        .await;
    let holder = runs.running.iter().next().cloned().expect("one runner");
    for host in &mut hosts {
        host.wait_view("the hosts agree again", DEADLINE, |v| {
            v.hosts.len() == 3 && v.placement.hosts == [holder.clone()]
        })
        .await;
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
    assert_eq!(tracker.now().max_at_once, 1);
}
