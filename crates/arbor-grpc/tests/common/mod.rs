//! Shared by the integration tests, on top of `arbor-test-kit`: a tiny gRPC service written by
//! hand (no protoc), a tree around the server under test, and a real tonic client, waiting
//! within the kit's deadline.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use arbor::{EventStream, Group, NodeState, Supervisor};
use arbor_grpc::{GrpcServer, Serve, Supervised};
use arbor_test_kit::{assert_clean, entered, expect, fast_backoff, loopback, root_with, DEADLINE};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tonic::body::Body;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::{NamedService, UnaryService};
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_prost::ProstCodec;

/// The full name of the test service.
pub const SLOW: &str = "arbor.test.Slow";
const HOLD: &str = "/arbor.test.Slow/Hold";

/// What a `Hold` handler went through, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// The request reached the handler.
    Started,
    /// The handler was released and answered.
    Finished,
    /// The handler's future was dropped before it answered (the RPC was cut).
    Dropped,
}

/// `service arbor.test.Slow { rpc Hold(google.protobuf.Empty) returns (google.protobuf.Empty); }`
/// written the way tonic-build would generate it. `Hold` reports `Started`, waits until the
/// test releases it, reports `Finished` and answers.
#[derive(Clone)]
pub struct SlowService {
    handlers: mpsc::UnboundedSender<Handler>,
    released: watch::Receiver<bool>,
}

/// The test's side of a [`SlowService`].
pub struct SlowControl {
    /// Every handler's progress.
    pub handlers: mpsc::UnboundedReceiver<Handler>,
    release: watch::Sender<bool>,
}

impl SlowControl {
    /// Lets every held handler (and every later one) answer.
    pub fn release(&self) {
        self.release.send_replace(true);
    }

    /// The next handler report, within the deadline.
    pub async fn next(&mut self) -> Handler {
        timeout(DEADLINE, self.handlers.recv())
            .await
            .expect("no handler report before the deadline")
            .expect("the service is gone")
    }
}

pub fn slow_service() -> (SlowService, SlowControl) {
    let (handlers_tx, handlers) = mpsc::unbounded_channel();
    let (release, released) = watch::channel(false);
    (
        SlowService {
            handlers: handlers_tx,
            released,
        },
        SlowControl { handlers, release },
    )
}

impl NamedService for SlowService {
    const NAME: &'static str = SLOW;
}

impl Service<http::Request<Body>> for SlowService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let hold = Hold(self.clone());
        Box::pin(async move {
            if req.uri().path() != HOLD {
                return Ok(Status::unimplemented(req.uri().path().to_owned()).into_http());
            }
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<(), ()>::default());
            Ok(grpc.unary(hold, req).await)
        })
    }
}

struct Hold(SlowService);

impl UnaryService<()> for Hold {
    type Response = ();
    type Future = BoxFuture<Response<()>, Status>;

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        let svc = self.0.clone();
        Box::pin(async move {
            let report = DropReport(Some(svc.handlers.clone()));
            let _ = svc.handlers.send(Handler::Started);
            let mut released = svc.released.clone();
            let _ = released.wait_for(|released| *released).await;
            report.finished();
            Ok(Response::new(()))
        })
    }
}

/// Reports `Dropped` unless the handler reached `finished`.
struct DropReport(Option<mpsc::UnboundedSender<Handler>>);

impl DropReport {
    fn finished(mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Handler::Finished);
        }
    }
}

impl Drop for DropReport {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Handler::Dropped);
        }
    }
}

/// `Status` is not `PartialEq`; tests compare its code, and the message goes to the output.
fn code(status: Status) -> Code {
    eprintln!("rpc failed: {status}");
    status.code()
}

/// Calls `arbor.test.Slow/Hold` with a real tonic client.
pub async fn hold(channel: Channel) -> Result<(), Code> {
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(err) = grpc.ready().await {
        eprintln!("channel not ready: {err}");
        return Err(Code::Unavailable);
    }
    let path = PathAndQuery::from_static(HOLD);
    let codec = ProstCodec::<(), ()>::default();
    let reply = grpc.unary(Request::new(()), path, codec).await;
    reply.map(|_| ()).map_err(code)
}

/// A gRPC server with the test service, for `listen`.
pub fn grpc_server(slow: SlowService) -> GrpcServer {
    GrpcServer::new(Server::builder().add_service(slow)).health_for(SLOW)
}

/// A tree whose root runs `server` as `root.grpc`.
pub fn supervise<S: Serve>(server: Supervised<S>) -> Supervisor {
    supervise_group(move || Group::new().add("grpc", server.clone()))
}

/// A tree whose root runs the group that `make` builds, restarted with the kit's fast backoff.
pub fn supervise_group(make: impl Fn() -> Group + Send + Sync + 'static) -> Supervisor {
    arbor_test_kit::builder()
        .backoff(fast_backoff())
        // Far above any drain deadline in the tests: a stuck node shows up in the report.
        .shutdown_timeout(Duration::from_secs(30))
        .spawn(root_with(make))
        .expect("a valid backoff, inside a runtime")
}

/// Waits until `root.grpc` is Healthy, and returns the address it serves on.
pub async fn serving(events: &mut EventStream, server: &Supervised<GrpcServer>) -> SocketAddr {
    expect(events, entered("root.grpc", NodeState::Healthy)).await;
    server
        .local_addr()
        .borrow()
        .expect("a Healthy server has published its address")
}

pub async fn connect(addr: SocketAddr) -> Channel {
    let endpoint = Channel::from_shared(format!("http://{addr}")).expect("a valid URI");
    timeout(DEADLINE, endpoint.connect())
        .await
        .expect("connect timed out")
        .expect("connected")
}

fn health_request(service: &str) -> Request<HealthCheckRequest> {
    Request::new(HealthCheckRequest {
        service: service.to_owned(),
    })
}

/// One health `Check` of `service`.
pub async fn check(channel: Channel, service: &str) -> Result<ServingStatus, Code> {
    let mut health = HealthClient::new(channel);
    let reply = timeout(DEADLINE, health.check(health_request(service)))
        .await
        .expect("no health answer before the deadline");
    Ok(reply.map_err(code)?.into_inner().status())
}

/// An open health `Watch` of `service`.
pub struct HealthWatch(tonic::Streaming<tonic_health::pb::HealthCheckResponse>);

impl HealthWatch {
    pub async fn open(channel: Channel, service: &str) -> HealthWatch {
        let mut health = HealthClient::new(channel);
        let stream = timeout(DEADLINE, health.watch(health_request(service)))
            .await
            .expect("no watch answer before the deadline")
            .expect("watch accepted");
        HealthWatch(stream.into_inner())
    }

    /// The next status sent, `Ok(None)` if the stream ended, `Err` if it broke.
    pub async fn next(&mut self) -> Result<Option<ServingStatus>, Code> {
        let message = timeout(DEADLINE, self.0.message())
            .await
            .expect("the watch stream neither sent nor ended before the deadline");
        Ok(message.map_err(code)?.map(|m| m.status()))
    }
}

/// Shuts `sup` down in a task of its own, so the test can act while the stop is under way.
pub fn shut_down_in_background(
    sup: Arc<Supervisor>,
) -> tokio::task::JoinHandle<arbor::ShutdownReport> {
    tokio::spawn(async move { sup.shutdown().await })
}

/// Waits for a background shutdown, and checks that no node was stuck.
pub async fn finished(shutdown: tokio::task::JoinHandle<arbor::ShutdownReport>) {
    let report = timeout(DEADLINE, shutdown)
        .await
        .expect("the shutdown did not finish before the deadline")
        .expect("the shutdown task ran");
    assert_clean(report);
}

/// A tonic server with the test service on a free loopback port, under a supervisor, serving,
/// and a client channel to it.
pub struct OnLoopback {
    pub server: Supervised<GrpcServer>,
    pub sup: std::sync::Arc<Supervisor>,
    pub events: EventStream,
    pub channel: Channel,
    pub control: SlowControl,
}

/// Starts an [`OnLoopback`] server that stops by `stop`, and waits until it serves.
pub async fn serve_on_loopback(stop: arbor_grpc::StopMode) -> OnLoopback {
    let (slow, control) = slow_service();
    let server = grpc_server(slow).listen(loopback()).stop_mode(stop);
    let sup = std::sync::Arc::new(supervise(server.clone()));
    let mut events = sup.events();
    let addr = serving(&mut events, &server).await;
    let channel = connect(addr).await;
    OnLoopback {
        server,
        sup,
        events,
        channel,
        control,
    }
}
