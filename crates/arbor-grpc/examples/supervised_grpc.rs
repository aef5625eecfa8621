//! A gRPC server supervised by arbor, with its health watched by a real client.
//!
//! Run with `cargo run -p arbor-grpc --example supervised_grpc`.
//!
//! The server listens on a free loopback port and serves the standard gRPC health service
//! (add your own services to the router). A client watches its health: `SERVING` once the node
//! is Healthy, `NOT_SERVING` the moment the shutdown begins, while the watch (an open server
//! stream) is still being served. That open stream would hold tonic's graceful shutdown for
//! ever; the 1 s drain deadline cuts it, and the tree ends.

use std::net::SocketAddr;
use std::time::Duration;

use arbor::{Context, Signal, Supervisor};
use arbor_grpc::{GrpcServer, StopMode};
use tonic::service::Routes;
use tonic::transport::{Channel, Server};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    // Your services go here: `Server::builder().add_service(GreeterServer::new(greeter))`.
    let router = Server::builder().add_routes(Routes::default());
    let grpc = GrpcServer::new(router)
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .stop_mode(StopMode::Graceful {
            deadline: Duration::from_secs(1),
        });
    let mut bound = grpc.local_addr();

    let sup = Supervisor::new({
        let grpc = grpc.clone();
        move |ctx: Context| {
            let grpc = grpc.clone();
            async move {
                ctx.run("grpc", grpc)?;
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            }
        }
    });
    let mut events = sup.events();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            println!("event   {event}");
        }
    });

    // The address is published once the listener is bound (port 0 picks a free one).
    let addr = bound
        .wait_for(Option::is_some)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no address"))?;
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut health = HealthClient::new(channel);
    let whole_server = || HealthCheckRequest {
        service: String::new(),
    };
    let mut watch = health.watch(whole_server()).await?.into_inner();
    if let Some(status) = watch.message().await? {
        println!("health  {:?}", status.status());
    }
    println!("\n{}", sup.status().await);

    println!("shutting down");
    let shutdown = tokio::spawn(async move {
        let report = sup.shutdown().await;
        (report, sup)
    });
    // Heard while the server drains: the stream is still open.
    if let Some(status) = watch.message().await? {
        println!("health  {:?}", status.status());
    }
    let (report, sup) = shutdown.await?;
    println!("stopped in {:?}, stuck: {:?}", report.elapsed, report.stuck);
    println!(
        "watch   {}",
        match watch.message().await {
            Ok(Some(status)) => format!("{:?}", status.status()),
            Ok(None) => "ended".to_owned(),
            Err(status) => format!("cut ({})", status.code()),
        }
    );
    println!("\n{}", sup.status().await);
    report.into_result()?;
    Ok(())
}
