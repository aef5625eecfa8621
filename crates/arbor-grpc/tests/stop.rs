//! Graceful and immediate stops, with real RPCs in flight.

mod common;

use std::time::Duration;

use arbor::NodeState;
use arbor_grpc::StopMode;
use arbor_test_kit::DEADLINE;
use common::*;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_lets_an_in_flight_rpc_finish() {
    let OnLoopback {
        sup,
        channel,
        mut control,
        ..
    } = serve_on_loopback(StopMode::graceful(Duration::from_secs(60))).await;

    let mut watch = HealthWatch::open(channel.clone(), "").await;
    assert_eq!(watch.next().await, Ok(Some(ServingStatus::Serving)));
    let rpc = tokio::spawn(hold(channel.clone()));
    assert_eq!(control.next().await, Handler::Started);

    let shutdown = shut_down_in_background(sup.clone());
    assert_eq!(watch.next().await, Ok(Some(ServingStatus::NotServing)));
    drop(watch);
    // The stop has begun and waits for the held RPC.
    let grpc = sup.status().await.get("root.grpc").map(|n| n.state);
    assert_eq!(grpc, Some(NodeState::Healthy));

    control.release();
    assert_eq!(control.next().await, Handler::Finished);
    let answer = tokio::time::timeout(DEADLINE, rpc).await;
    assert_eq!(answer.expect("the RPC answered").expect("joined"), Ok(()));
    finished(shutdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_stop_cuts_an_in_flight_rpc() {
    let OnLoopback {
        sup,
        channel,
        mut control,
        ..
    } = serve_on_loopback(StopMode::Immediate).await;

    let rpc = tokio::spawn(hold(channel.clone()));
    assert_eq!(control.next().await, Handler::Started);
    // Never released: only the cut can end it.
    finished(shut_down_in_background(sup.clone())).await;

    let answer = tokio::time::timeout(DEADLINE, rpc).await;
    let status = answer.expect("the RPC ended").expect("joined");
    assert!(status.is_err(), "a cut RPC fails, got {status:?}");
    assert_eq!(control.next().await, Handler::Dropped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_cuts_an_open_stream_at_its_deadline() {
    let OnLoopback { sup, channel, .. } =
        serve_on_loopback(StopMode::graceful(Duration::from_millis(200))).await;

    // A server stream that never ends by itself: tonic's graceful shutdown alone waits for ever.
    let mut watch = HealthWatch::open(channel.clone(), "").await;
    assert_eq!(watch.next().await, Ok(Some(ServingStatus::Serving)));

    // The supervisor would wait 30 s and report the node stuck; the deadline ends it first.
    finished(shut_down_in_background(sup.clone())).await;
    let grpc = sup.status().await.get("root.grpc").map(|n| n.state);
    assert_eq!(grpc, Some(NodeState::Canceled));

    // The stream, still open when the stop began, heard NOT_SERVING, then broke.
    assert_eq!(watch.next().await, Ok(Some(ServingStatus::NotServing)));
    let after = watch.next().await;
    assert!(
        matches!(after, Err(_) | Ok(None)),
        "the stream ended, got {after:?}"
    );
}
