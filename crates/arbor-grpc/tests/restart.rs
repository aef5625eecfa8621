//! Binding is part of every run: a failed bind is a death, retried; a restart serves again.

mod common;

use std::sync::Arc;

use arbor::{Context, Group, NodeState, Signal, Supervisor};
use arbor_grpc::{Incoming, Listen, Shutdown, Supervised};
use common::*;
use tokio::sync::Notify;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_in_use_is_a_death_retried_until_the_port_frees() {
    let blocker = std::net::TcpListener::bind(loopback()).expect("bound a free port");
    let addr = blocker.local_addr().expect("an address");
    let (slow, _control) = slow_service();
    let server = grpc_server(slow).listen(addr);
    let sup = supervise(server.clone());
    let mut events = sup.events();

    for _ in 0..2 {
        let dead = expect(&mut events, is("root.grpc", NodeState::Dead)).await;
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
    sup.shutdown()
        .await
        .into_result()
        .expect("a clean shutdown");
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
        expect(&mut events, is("root.grpc", NodeState::Healthy)).await;
        let dead = expect(&mut events, is("root.grpc", NodeState::Dead)).await;
        let error = dead.error.expect("a death has a reason");
        assert!(
            error.starts_with("serving on 127.0.0.1:"),
            "names the address: {error}"
        );
        assert!(error.ends_with("the protocol broke"), "says why: {error}");
    }
    sup.shutdown()
        .await
        .into_result()
        .expect("a clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_serves_again_on_its_prebound_listener() {
    let listener = std::net::TcpListener::bind(loopback()).expect("bound a free port");
    let addr = listener.local_addr().expect("an address");
    let (slow, mut control) = slow_service();
    let server = grpc_server(slow).listen(Listen::listener(listener));
    // `root.grpc` shares a group with `root.trigger`, which dies when the test says so.
    let kill = Arc::new(Notify::new());
    let sup = {
        let (server, kill) = (server.clone(), kill.clone());
        Supervisor::builder()
            .backoff(fast_backoff())
            .propagate_panics(true)
            .spawn(move |ctx: Context| {
                let (server, kill) = (server.clone(), kill.clone());
                async move {
                    let trigger = move |ctx: Context| {
                        let kill = kill.clone();
                        async move {
                            ctx.signal(Signal::Healthy)?;
                            tokio::select! {
                                () = kill.notified() => anyhow::bail!("killed by the test"),
                                () = ctx.cancelled() => Ok(()),
                            }
                        }
                    };
                    ctx.run_group(Group::new().add("grpc", server).add("trigger", trigger))?;
                    ctx.signal(Signal::Healthy)?;
                    ctx.cancelled().await;
                    Ok(())
                }
            })
            .expect("a valid backoff, inside a runtime")
    };
    let mut events = sup.events();
    assert_eq!(serving(&mut events, &server).await, addr);
    let channel = connect(addr).await;
    assert_eq!(check(channel.clone(), "").await, Ok(ServingStatus::Serving));

    kill.notify_one();
    expect(&mut events, is("root.grpc", NodeState::Canceled)).await;
    assert_eq!(serving(&mut events, &server).await, addr);

    // A new connection to the same listener reaches the new run, and RPCs work.
    let channel = connect(addr).await;
    assert_eq!(check(channel.clone(), "").await, Ok(ServingStatus::Serving));
    control.release();
    assert_eq!(hold(channel).await, Ok(()));
    assert_eq!(control.next().await, Handler::Started);
    assert_eq!(control.next().await, Handler::Finished);
    sup.shutdown()
        .await
        .into_result()
        .expect("a clean shutdown");
}
