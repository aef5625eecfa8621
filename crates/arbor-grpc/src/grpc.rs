//! tonic as a [`Serve`], with the standard gRPC health service wired to the node.

use std::fmt;
use std::sync::Arc;

use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::codegen::{Bytes, StdError};
use tonic::service::Routes;
use tonic::transport::server::{Connected, Router, TcpConnectInfo};
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tonic_health::ServingStatus;
use tower_layer::Layer;
use tower_service::Service;

use crate::serve::{HealthFuture, HealthState, Shutdown};
use crate::{Connection, Incoming, Listen, Serve, ServeFuture, Supervised};

/// The name the gRPC health protocol gives the whole server.
const WHOLE_SERVER: &str = "";

/// A tonic [`Router`] as a [`Serve`], serving the standard gRPC health service
/// (`grpc.health.v1.Health`) beside your services.
///
/// The health status of the whole server (service name `""`), and of every name given to
/// [`health_for`](GrpcServer::health_for), follows the node: `SERVING` from the moment it is
/// bound until it is cancelled, `NOT_SERVING` from the moment it is cancelled (before the
/// drain, so clients still connected hear it) until the next run is bound. Until the first run
/// the status of `""` is `SERVING`, as tonic-health starts it, but no one can ask: nothing
/// listens yet.
///
/// All of the [`Router`]'s settings (timeouts, HTTP/2 options, layers) apply. Do not add a
/// health service of your own to the router: two services with one name make tonic panic
/// while the router is built.
///
/// # Examples
///
/// ```
/// use arbor::{Context, Signal};
/// use arbor_grpc::{GrpcServer, StopMode};
/// use std::time::Duration;
/// use tonic::service::Routes;
/// use tonic::transport::Server;
///
/// // Your services go here: `Server::builder().add_service(GreeterServer::new(greeter))`.
/// let router = Server::builder()
///     .timeout(Duration::from_secs(30))
///     .add_routes(Routes::default());
/// let grpc = GrpcServer::new(router)
///     .health_for("helloworld.Greeter")
///     .listen(std::net::SocketAddr::from(([127, 0, 0, 1], 50051)))
///     .stop_mode(StopMode::Graceful { deadline: Duration::from_secs(5) });
///
/// let root = move |ctx: Context| {
///     let grpc = grpc.clone();
///     async move {
///         ctx.run("grpc", grpc)?;
///         ctx.signal(Signal::Healthy)?;
///         ctx.cancelled().await;
///         anyhow::Ok(())
///     }
/// };
/// # let _ = root;
/// ```
pub struct GrpcServer {
    // The router with its layer type erased: tonic's bounds name the response body type,
    // which only a generic function (not a type) can leave free.
    serve: Arc<dyn Fn(Incoming, Shutdown) -> ServeFuture + Send + Sync>,
    health: HealthReporter,
    reported: Vec<String>,
}

impl GrpcServer {
    /// Serves `router`, with the health service added to it.
    ///
    /// The bounds are those of tonic's `Router::serve_with_incoming_shutdown`, plus `Send +
    /// Sync` on the layer so the router can be shared by every run.
    pub fn new<L, ResBody>(router: Router<L>) -> GrpcServer
    where
        L: Layer<Routes> + Clone + Send + Sync + 'static,
        L::Service: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
        <L::Service as Service<Request<Body>>>::Future: Send,
        <L::Service as Service<Request<Body>>>::Error: Into<StdError> + Send,
        ResBody: tonic::codegen::Body<Data = Bytes> + Send + 'static,
        ResBody::Error: Into<StdError>,
    {
        let health = HealthReporter::new();
        let router = router.add_service(HealthServer::new(HealthService::from_health_reporter(
            health.clone(),
        )));
        let serve = move |incoming: Incoming, shutdown: Shutdown| -> ServeFuture {
            // Serving consumes the router; each run serves its own copy.
            let router = router.clone();
            Box::pin(async move {
                router
                    .serve_with_incoming_shutdown(incoming, shutdown)
                    .await?;
                Ok(())
            })
        };
        GrpcServer {
            serve: Arc::new(serve),
            health,
            reported: vec![WHOLE_SERVER.to_owned()],
        }
    }

    /// Also reports the health of the service called `service_name` (its full protobuf name,
    /// `NamedService::NAME`, e.g. `helloworld.Greeter`), with the same status as the whole
    /// server. Health checks for a name that is not reported answer `NOT_FOUND`.
    pub fn health_for(mut self, service_name: impl Into<String>) -> Self {
        let name = service_name.into();
        if !self.reported.contains(&name) {
            self.reported.push(name);
        }
        self
    }

    /// The health service's reporter, for statuses of your own (say, a service that is down
    /// while its database is). The names the adapter reports are overwritten on every change
    /// of the node; other names are yours.
    pub fn health_reporter(&self) -> HealthReporter {
        self.health.clone()
    }

    /// This server under supervision on `listen`, ready for [`Context::run`](arbor::Context::run).
    pub fn listen(self, listen: impl Into<Listen>) -> Supervised<GrpcServer> {
        Supervised::new(listen, self)
    }
}

impl Serve for GrpcServer {
    fn serve(&self, incoming: Incoming, shutdown: Shutdown) -> ServeFuture {
        (self.serve)(incoming, shutdown)
    }

    fn set_health(&self, state: HealthState) -> HealthFuture {
        let status = match state {
            HealthState::Serving => ServingStatus::Serving,
            HealthState::NotServing => ServingStatus::NotServing,
        };
        let health = self.health.clone();
        let names = self.reported.clone();
        Box::pin(async move {
            for name in names {
                health.set_service_status(name, status).await;
            }
        })
    }
}

impl fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcServer")
            .field("health_for", &self.reported)
            .finish_non_exhaustive()
    }
}

/// So that tonic's `Request::remote_addr` and `local_addr` work as on a plain `TcpStream`.
impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.get_ref().connect_info()
    }
}
