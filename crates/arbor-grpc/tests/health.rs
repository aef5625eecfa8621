//! The standard gRPC health service follows the node.

mod common;

use std::time::Duration;

use arbor_grpc::StopMode;
use common::*;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_serving_while_healthy_then_not_serving_as_soon_as_the_stop_begins() {
    let OnLoopback {
        server,
        sup,
        channel,
        ..
    } = serve_on_loopback(StopMode::graceful(Duration::from_secs(60))).await;

    assert_eq!(check(channel.clone(), "").await, Ok(ServingStatus::Serving));
    assert_eq!(
        check(channel.clone(), SLOW).await,
        Ok(ServingStatus::Serving)
    );
    let unknown = check(channel.clone(), "not.Reported").await;
    assert_eq!(unknown, Err(Code::NotFound));

    // The watch is an in-flight RPC: it keeps the graceful drain open, and hears the change.
    let mut watch = HealthWatch::open(channel.clone(), "").await;
    assert_eq!(watch.next().await, Ok(Some(ServingStatus::Serving)));
    let shutdown = shut_down_in_background(sup.clone());
    assert_eq!(watch.next().await, Ok(Some(ServingStatus::NotServing)));

    // Draining, not stopped: with the watch open and a 60 s deadline the node cannot have ended.
    let grpc = sup.status().await.get("root.grpc").map(|n| n.state);
    assert_eq!(grpc, Some(arbor::NodeState::Healthy));

    // The client lets go of its only RPC: the drain is complete and the node ends.
    drop(watch);
    finished(shutdown).await;
    let grpc = sup.status().await.get("root.grpc").map(|n| n.state);
    assert_eq!(grpc, Some(arbor::NodeState::Canceled));
    assert_eq!(*server.local_addr().borrow(), None);
}
