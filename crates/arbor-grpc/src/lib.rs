//! Supervised gRPC servers for [arbor]: a tonic server as a node of the tree.
//!
//! A gRPC server is a long-running task like any other, with three needs of its own: it must
//! bind a port (which can fail, and must be bound again after a restart), it must stop without
//! dropping the requests it is serving (or, when told, at once), and load balancers must learn
//! that it is going away *before* it goes. This crate turns a tonic router into a [`Runnable`]
//! that does all three, using nothing of arbor but its public API.
//!
//! ```text
//!            bind ok                cancelled            drained (or deadline: cut)
//!   New ───────────────► Healthy ───────────────► ... ─────────────────────────────► Canceled
//!    │  health SERVING             health NOT_SERVING,
//!    │                             stop accepting, GOAWAY
//!    └─ bind fails ("binding 127.0.0.1:50051: Address in use") ─► Dead ─► backoff ─► New
//! ```
//!
//! # What a run does
//!
//! 1. It gets its listener from a [`Listen`]: an address it binds anew in every run, or a
//!    listener bound beforehand. Failing to bind is a death, with an error that names the
//!    address; the supervisor retries it with backoff until the port is free.
//! 2. It sets the standard gRPC health service (`grpc.health.v1.Health`, served on the same
//!    port) to `SERVING` and signals [`Healthy`](arbor::Signal::Healthy): the port accepts.
//! 3. It serves until the node is cancelled (shutdown, or the death of an ancestor or of a
//!    group sibling). A server that stops by itself is a death.
//! 4. Cancelled, it sets health to `NOT_SERVING` at once, so that health checkers still
//!    connected hear it while requests are still served, then stops as its [`StopMode`] says:
//!    - [`Graceful { deadline }`](StopMode::Graceful): stop accepting, let in-flight RPCs
//!      finish, and once `deadline` has passed cut whatever is still open. tonic alone would
//!      wait for ever on an open server stream; the deadline holds anyway.
//!    - [`Immediate`](StopMode::Immediate): cut every connection now; clients see an error
//!      and handler futures are dropped.
//!
//!    The run returns only once its listener is closed and its connections are cut or done,
//!    so the restarted node can bind the same port.
//!
//! # Example
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::time::Duration;
//!
//! use arbor::{Context, Signal, Supervisor};
//! use arbor_grpc::{GrpcServer, StopMode};
//! use tonic::service::Routes;
//! use tonic::transport::Server;
//!
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     // Your services: `Server::builder().add_service(GreeterServer::new(MyGreeter))`.
//!     let router = Server::builder().add_routes(Routes::default());
//!     let grpc = GrpcServer::new(router)
//!         .health_for("helloworld.Greeter")
//!         .listen(SocketAddr::from(([0, 0, 0, 0], 50051)))
//!         .stop_mode(StopMode::Graceful { deadline: Duration::from_secs(5) });
//!
//!     let sup = Supervisor::new(move |ctx: Context| {
//!         let grpc = grpc.clone();
//!         async move {
//!             ctx.run("grpc", grpc)?;
//!             ctx.signal(Signal::Healthy)?;
//!             ctx.cancelled().await;
//!             Ok(())
//!         }
//!     });
//!     tokio::signal::ctrl_c().await?;
//!     sup.shutdown().await.into_result()?;
//!     Ok(())
//! }
//! ```
//!
//! `examples/supervised_grpc.rs` (in this crate) runs a server on loopback, watches its health with a real
//! client, and prints the status tree: `cargo run -p arbor-grpc --example supervised_grpc`.
//!
//! # Not only tonic
//!
//! The supervision does not know gRPC. [`Supervised`] runs any [`Serve`]: something that
//! serves the connections of an [`Incoming`] until a [`Shutdown`] completes, then drains.
//! [`GrpcServer`] is the tonic one; an axum or hyper server is a few lines (see [`Serve`]).
//! Cutting works for any of them because it is built into each accepted [`Connection`]: once
//! cut, its reads and writes fail, and the server's own connection task ends on that error.
//!
//! # Guarantees
//!
//! - The node is Healthy only after bind and listen succeeded.
//! - `NOT_SERVING` is set before the drain starts, on the whole server (`""`) and on every
//!   name given to [`GrpcServer::health_for`].
//! - A cancelled run returns within the graceful deadline (plus the time to cut), whatever the
//!   clients do; with `Immediate`, at once.
//! - When a run ends, in any way, its listener is closed and its connections are cut.
//!
//! Use one [`Supervised`] value for one node: its clones share the health reporter and the
//! published [`local_addr`](Supervised::local_addr).
//!
//! # Compatibility
//!
//! tonic 0.14 with tonic-health 0.14 and prost 0.14; tokio only; TCP listeners only (no Unix
//! sockets yet). Building needs no `protoc`.
//!
//! # TLS
//!
//! Build the router with tonic's own `Server::tls_config` (turn on a TLS feature of tonic in
//! your crate, such as `tls-ring`): the adapter's listener hands tonic plain TCP connections,
//! and tonic runs the TLS handshake on each, so the service and the health service share one
//! TLS port. A client certificate CA (`client_ca_root`) makes it mutual TLS. A plaintext client
//! is refused (its HTTP/2 preface is no TLS record), a client that does not trust the server's
//! CA fails its handshake, and neither harms the server. `tests/tls.rs` proves each case.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use arbor_grpc::GrpcServer;
//! use tonic::service::Routes;
//! use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
//!
//! let identity = Identity::from_pem(std::fs::read("server.pem")?, std::fs::read("server-key.pem")?);
//! let tls = ServerTlsConfig::new()
//!     .identity(identity)
//!     .client_ca_root(Certificate::from_pem(std::fs::read("clients-ca.pem")?)); // mutual TLS
//! let router = Server::builder().tls_config(tls)?.add_routes(Routes::default());
//! let grpc = GrpcServer::new(router).listen(std::net::SocketAddr::from(([0, 0, 0, 0], 50051)));
//! # let _ = grpc;
//! # Ok(())
//! # }
//! ```
//!
//! [`Runnable`]: arbor::Runnable

mod connection;
mod grpc;
mod incoming;
mod listen;
mod serve;
mod stop;
mod supervised;

pub use connection::Connection;
pub use grpc::GrpcServer;
pub use incoming::Incoming;
pub use listen::Listen;
pub use serve::{HealthFuture, HealthState, Serve, ServeFuture, Shutdown};
pub use stop::StopMode;
pub use supervised::Supervised;
