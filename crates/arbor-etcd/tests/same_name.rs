//! A host restarted under the same name while its old process is frozen, not dead: the new
//! process must wait for the old process's claim (its lease is still alive) exactly as for a
//! claim of another host, and the two runs never overlap, whatever the old process does when it
//! wakes up.
//!
//! The old holder has to be a process of its own, to be frozen with SIGSTOP: both holders are
//! host processes of `common::process`, writing their events to one pipe in the order things
//! happen.

mod common;

use std::process::ExitStatus;
use std::time::Duration;

use arbor_test_kit::DEADLINE;
use common::etcd::Etcd;
use common::process::{self, mono_ms, Events, Spec};
use nix::sys::signal::Signal as Unix;
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::task::JoinHandle;

const NS: &str = "/test/same-name";
/// Both processes run under this one host name.
const HOST: &str = "alpha";
const TTL: Duration = Duration::from_secs(2);
/// The fencing delay of both (the default: half the TTL).
const FENCE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_restarted_under_the_same_name_waits_for_its_frozen_predecessor() {
    arbor_test_kit::init_tracing();
    let etcd = Etcd::single().await;
    let endpoint = etcd.endpoint(0);
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let mut events = Events::read(reader);

    let mut old = spawn_holder("old", &endpoint, &writer);
    events
        .wait("the old process runs the work", 0, |e| {
            e.is("old", "started")
        })
        .await;
    let joined = events
        .wait("the old process joined", 0, |e| e.is("old", "joined"))
        .await;
    let old_lease = events.log[joined].lease();

    signal(&old, Unix::SIGSTOP).await;
    let frozen_at = mono_ms();
    // Stands in for the frozen process's renewals, so that its lease outlives the freeze
    // however slow this machine is to start the second process: the case under test is a
    // frozen holder whose lease is alive (one whose lease expired was fenced first, see
    // docs/etcd.md).
    let keeper = keep_alive(&endpoint, old_lease).await;

    let mut new = spawn_holder("new", &endpoint, &writer);
    drop(writer); // the holders hold the only write ends now: the events end when both exit
    let joined = events
        .wait("the new process joined", 0, |e| e.is("new", "joined"))
        .await;
    assert_ne!(
        events.log[joined].lease(),
        old_lease,
        "the new process has a lease of its own"
    );
    // The new process is placed (the placement names the host) and fresh: all it lacks to
    // start is the old claim gone. It starts at once if it takes that claim for its own. Give
    // it until a renewal it sent after the old process's fencing deadline (at most the fencing
    // delay after the freeze) is confirmed, so that the old process also wakes up past that
    // deadline.
    let at = events
        .wait("the new process sees itself placed", joined, |e| {
            e.is("new", "placed")
        })
        .await;
    let past_deadline = frozen_at + 2 * u64::try_from(FENCE.as_millis()).expect("ms");
    events
        .wait(
            "the new process renews its lease past the old one's deadline",
            at + 1,
            |e| e.is("new", "renewed") && e.ms() > past_deadline,
        )
        .await;
    assert!(
        !keeper.is_finished(),
        "the old lease must stay alive while the old process is frozen"
    );
    assert!(
        !events.log.iter().any(|e| e.is("new", "started")),
        "the new process started the work while the old process, frozen, still held it under \
         a live lease: {:#?}",
        events.log
    );

    signal(&old, Unix::SIGCONT).await;
    let woke = events.log.len();
    // The old process renews its own lease again: it is awake. Past its fencing deadline, it
    // fences itself and releases its claim, and the new process takes over; or, if a renewal
    // it sent on waking was confirmed first, it runs on, and the new process waits on.
    events
        .wait("the old process is awake", woke, |e| e.is("old", "renewed"))
        .await;
    stop_keeping(keeper).await;
    // Stop the old process cleanly (if it still runs the work, the new one takes over then).
    drop(old.stdin.take());
    events
        .wait("the new process runs the work", woke, |e| {
            e.is("new", "started")
        })
        .await;
    let status = exit(&mut old).await;
    assert!(status.success(), "the old process failed: {status}");

    drop(new.stdin.take());
    let status = exit(&mut new).await;
    assert!(status.success(), "the new process failed: {status}");
    events.drain().await;

    events.assert_never_two_at_once();
    for who in ["old", "new"] {
        assert!(
            events.log.iter().any(|e| e.is(who, "exited")),
            "{who} did not leave cleanly: {:#?}",
            events.log
        );
    }
}

/// Not a test: the `main` of a holder process (see `common::process`); returns at once in an
/// ordinary test run.
#[test]
fn holder() {
    common::process::main_if_spawned();
}

/// Starts a holder process labelled `who`, its output on `out`. Killed when dropped (a failing
/// test leaves none behind, frozen or not).
fn spawn_holder(who: &str, endpoint: &str, out: &std::io::PipeWriter) -> Child {
    let spec = Spec {
        label: who.to_owned(),
        host: HOST.to_owned(),
        ..Spec::new(who, NS, vec![endpoint.to_owned()], TTL)
    };
    process::spawn("holder", &spec, None, out)
}

async fn signal(child: &Child, sig: Unix) {
    let pid = child.id().expect("the holder runs");
    let pid = Pid::from_raw(i32::try_from(pid).expect("a pid fits in i32"));
    nix::sys::signal::kill(pid, sig).unwrap_or_else(|err| panic!("kill {sig} {pid}: {err}"));
}

async fn exit(child: &mut Child) -> ExitStatus {
    tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the holder exits once its stdin is closed")
        .expect("wait for the holder")
}

/// Renews `lease` until stopped; the task ends (with a panic) only if the lease is gone.
async fn keep_alive(endpoint: &str, lease: i64) -> JoinHandle<()> {
    let mut raw = etcd_client::Client::connect([endpoint], None)
        .await
        .expect("raw client");
    let (mut keeper, mut stream) = raw.lease_keep_alive(lease).await.expect("the lease lives");
    tokio::spawn(async move {
        let _raw = raw;
        loop {
            keeper.keep_alive().await.expect("send a renewal");
            let resp = stream.message().await.expect("a renewal answer");
            assert!(resp.is_some_and(|r| r.ttl() > 0), "the old lease is gone");
            tokio::time::sleep(TTL / 4).await;
        }
    })
}

async fn stop_keeping(keeper: JoinHandle<()>) {
    keeper.abort();
    if let Err(err) = keeper.await {
        if err.is_panic() {
            std::panic::resume_unwind(err.into_panic());
        }
    }
}
