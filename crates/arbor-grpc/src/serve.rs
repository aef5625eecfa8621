//! What a supervised server is: anything that serves a listener until told to stop.
//!
//! This is the part of the adapter that knows nothing of gRPC. [`Supervised`](crate::Supervised)
//! binds, reports health, cancels and cuts; a [`Serve`] only serves. tonic is one `Serve`
//! ([`GrpcServer`](crate::GrpcServer)); axum, hyper or a hand-written protocol are others.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::Incoming;

/// The future of one [`Serve::serve`] call.
pub type ServeFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'static>>;

/// The future of one [`Serve::set_health`] call.
pub type HealthFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Whether the node is serving, as told to [`Serve::set_health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    /// The listener is bound and the node is Healthy: send traffic here.
    Serving,
    /// The node is stopping (or its server stopped by itself): send traffic elsewhere.
    NotServing,
}

/// A server that serves the connections of an [`Incoming`] until a [`Shutdown`] completes.
///
/// [`Supervised`](crate::Supervised) calls [`serve`](Serve::serve) once per run, with a fresh
/// listener, and drives everything around it: binding, the node's Healthy signal, health
/// reports, and the stop. So an implementation has one job:
///
/// 1. accept from `incoming` and serve each connection;
/// 2. when `shutdown` completes, stop accepting (drop `incoming`), let in-flight requests
///    finish, and return `Ok(())`.
///
/// It does not need a deadline of its own, nor a way to kill connections: when the
/// [`StopMode`](crate::StopMode) says so, the adapter cuts every [`Connection`](crate::Connection)
/// from below, which ends the server's connection tasks, and drops the future. Returning while
/// `shutdown` has not completed means the server died: the node becomes Dead, with the error
/// (if any), and is restarted with backoff.
///
/// Any `Fn(Incoming, Shutdown) -> impl Future<Output = anyhow::Result<()>>` that is
/// `Send + Sync + 'static` is a `Serve`, so an `async fn` can be passed as is.
///
/// # Examples
///
/// axum 0.8 plugs in with a newtype that makes [`Incoming`] an `axum::serve::Listener` (the
/// orphan rule wants the newtype in your crate), and its own graceful shutdown:
///
/// ```
/// use arbor::{Context, Signal, Supervisor};
/// use arbor_grpc::{Connection, Incoming, Listen, Shutdown, Supervised};
/// use std::net::SocketAddr;
///
/// struct ArborListener(Incoming);
///
/// impl axum::serve::Listener for ArborListener {
///     type Io = Connection;
///     type Addr = SocketAddr;
///     async fn accept(&mut self) -> (Connection, SocketAddr) {
///         self.0.accept().await
///     }
///     fn local_addr(&self) -> std::io::Result<SocketAddr> {
///         self.0.local_addr()
///     }
/// }
///
/// async fn serve_http(incoming: Incoming, shutdown: Shutdown) -> anyhow::Result<()> {
///     let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
///     axum::serve(ArborListener(incoming), app)
///         .with_graceful_shutdown(shutdown)
///         .await?;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> anyhow::Result<()> {
/// let http = Supervised::new(Listen::addr(([127, 0, 0, 1], 0).into()), serve_http);
/// let mut bound = http.local_addr();
/// let sup = Supervisor::new(move |ctx: Context| {
///     let http = http.clone();
///     async move {
///         ctx.run("http", http)?;
///         ctx.signal(Signal::Healthy)?;
///         ctx.cancelled().await;
///         Ok(())
///     }
/// });
/// let addr = bound.wait_for(Option::is_some).await?.expect("waited for Some");
///
/// // One plain HTTP/1 request.
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let mut tcp = tokio::net::TcpStream::connect(addr).await?;
/// tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await?;
/// let mut reply = String::new();
/// tcp.read_to_string(&mut reply).await?;
/// assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with("hello"));
///
/// sup.shutdown().await.into_result()?;
/// # Ok(())
/// # }
/// ```
///
/// A server on plain hyper does the same by hand: `incoming.accept()` in a `select!` with
/// `shutdown`, each [`Connection`](crate::Connection) wrapped in `hyper_util::rt::TokioIo` and
/// watched by a `hyper_util::server::graceful::GracefulShutdown`, whose `shutdown().await`
/// is the drain.
pub trait Serve: Send + Sync + 'static {
    /// Serves the connections of `incoming` until `shutdown` completes, then drains and
    /// returns.
    ///
    /// # Errors
    ///
    /// Whatever made the server stop by itself; the node becomes Dead with it.
    fn serve(&self, incoming: Incoming, shutdown: Shutdown) -> ServeFuture;

    /// Tells the server's health reporting (if it has any) whether to advertise itself. Called
    /// with [`Serving`](HealthState::Serving) after the bind, just before the node signals
    /// Healthy, and with [`NotServing`](HealthState::NotServing) the moment the node is
    /// cancelled, before the drain begins, so health checkers on open connections hear it
    /// while requests still complete. The default does nothing.
    fn set_health(&self, state: HealthState) -> HealthFuture {
        let _ = state;
        Box::pin(std::future::ready(()))
    }
}

impl<F, Fut> Serve for F
where
    F: Fn(Incoming, Shutdown) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    fn serve(&self, incoming: Incoming, shutdown: Shutdown) -> ServeFuture {
        Box::pin(self(incoming, shutdown))
    }
}

/// Completes when the server should stop accepting and drain: the node was cancelled.
///
/// Pass it to your server's graceful shutdown (tonic's `serve_with_incoming_shutdown`, axum's
/// `with_graceful_shutdown`); it is `Send`, `Unpin` and `'static`.
pub struct Shutdown {
    token: CancellationToken,
    wait: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Shutdown {
    pub(crate) fn new(token: CancellationToken) -> Self {
        Shutdown {
            wait: Box::pin(token.clone().cancelled_owned()),
            token,
        }
    }

    /// Whether the shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// # Cancel safety
///
/// Cancel safe: a new poll, or a new [`Shutdown`], sees the same state.
impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.wait.as_mut().poll(cx)
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}
