//! Binding is part of every run: a failed bind is a death, retried; a restart serves again.

mod common;

use std::sync::Arc;

use arbor::{Group, NodeState};
use arbor_grpc::{Incoming, Listen, Shutdown, Supervised};
use arbor_test_kit::*;
use common::*;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_in_use_is_a_death_retried_until_the_port_frees() {
    let blocker = listener();
    let addr = blocker.local_addr().expect("an address");
    let (slow, _control) = slow_service();
    let server = grpc_server(slow).listen(addr);
    let sup = supervise(server.clone());
    let mut events = sup.events();

    for _ in 0..2 {
        let dead = expect(&mut events, entered("root.grpc", NodeState::Dead)).await;
        let error = dead.error.expect("a death has a reason");
        assert!(
            error.contains(&addr.to_string()),
            "names the address: {error}"
        );
        assert!(error.contains("in use"), "says why: {error}");
    }
    drop(blocker);

    assert_eq!(serving(&mut events, &server).await, addr);
    let channel = connect(addr).await;
    assert_eq!(check(channel, "").await, Ok(ServingStatus::Serving));
    let restarts = sup.status().await.get("root.grpc").map(|n| n.restarts);
    assert!(
        restarts >= Some(2),
        "restarted after each death: {restarts:?}"
    );
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_by_itself_is_a_death_and_is_restarted() {
    let server = Supervised::new(
        loopback(),
        |_incoming: Incoming, _shutdown: Shutdown| async { anyhow::bail!("the protocol broke") },
    );
    let sup = supervise(server);
    let mut events = sup.events();
    for _ in 0..2 {
        expect(&mut events, entered("root.grpc", NodeState::Healthy)).await;
        let dead = expect(&mut events, entered("root.grpc", NodeState::Dead)).await;
        let error = dead.error.expect("a death has a reason");
        assert!(
            error.starts_with("serving on 127.0.0.1:"),
            "names the address: {error}"
        );
        assert!(error.ends_with("the protocol broke"), "says why: {error}");
    }
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_serves_again_on_its_prebound_listener() {
    let prebound = listener();
    let addr = prebound.local_addr().expect("an address");
    let (slow, mut control) = slow_service();
    let server = grpc_server(slow).listen(Listen::listener(prebound));
    // `root.grpc` shares a group with `root.trigger`, which dies when the test says so.
    let kills = Kills::new();
    let trigger = Arc::new(worker(&kills));
    let sup = {
        let server = server.clone();
        supervise_group(move || {
            Group::new()
                .add("grpc", server.clone())
                .add_shared("trigger", trigger.clone())
        })
    };
    let mut events = sup.events();
    assert_eq!(serving(&mut events, &server).await, addr);
    let channel = connect(addr).await;
    assert_eq!(check(channel.clone(), "").await, Ok(ServingStatus::Serving));

    kills.kill("root.trigger");
    expect(&mut events, entered("root.grpc", NodeState::Canceled)).await;
    assert_eq!(serving(&mut events, &server).await, addr);

    // A new connection to the same listener reaches the new run, and RPCs work.
    let channel = connect(addr).await;
    assert_eq!(check(channel.clone(), "").await, Ok(ServingStatus::Serving));
    control.release();
    assert_eq!(hold(channel).await, Ok(()));
    assert_eq!(control.next().await, Handler::Started);
    assert_eq!(control.next().await, Handler::Finished);
    shutdown(&sup).await;
}
