//! A [`Serve`] as a runnable: bind, report, serve, stop.
//!
//! One run, in order:
//!
//! 1. get a listener ([`Listen`]); failing that, return the error: the node is Dead and
//!    restarts after backoff;
//! 2. health `Serving`, publish the address, signal Healthy;
//! 3. serve until the node is cancelled (or the server stops by itself: Dead);
//! 4. on cancellation, health `NotServing` at once, then stop by the [`StopMode`]: drain up to
//!    the deadline, or not at all; then cut what is left and return.
//!
//! # Invariants
//!
//! 1. When a run ends, in any way (even aborted by the supervisor), its listener is closed and
//!    every connection it accepted is cut: the `cut` token is cancelled by a drop guard.
//! 2. `local_addr` holds `Some` only while a run has its listener.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::anyhow;
use arbor::{Context, RunFuture, Runnable, Signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::connection::OpenCount;
use crate::serve::{HealthState, Shutdown};
use crate::{Incoming, Listen, Serve, StopMode};

/// A [`Serve`] under supervision: a [`Runnable`] that binds, serves, reports health, and stops
/// as its [`StopMode`] says when its node is cancelled.
///
/// The node is Healthy once the listener is bound and listening. A bind failure, or a server
/// that stops by itself, is a death (restarted with backoff); a cancelled node is Canceled once
/// the stop is over. Cloning is cheap and every clone is the same server (same health
/// reporter, same [`local_addr`](Supervised::local_addr)), which is how a root runnable, called
/// again on every restart, hands it to [`Context::run`] each time.
///
/// For tonic, build it with [`GrpcServer::listen`](crate::GrpcServer::listen).
///
/// # Examples
///
/// ```
/// use arbor::{Context, Signal};
/// use arbor_grpc::{Incoming, Listen, Shutdown, StopMode, Supervised};
/// use std::time::Duration;
///
/// async fn serve(incoming: Incoming, shutdown: Shutdown) -> anyhow::Result<()> {
///     // ... a real server accepts from `incoming` ...
/// #   let _ = incoming;
///     shutdown.await;
///     Ok(())
/// }
///
/// let server = Supervised::new(Listen::addr(([127, 0, 0, 1], 8080).into()), serve)
///     .stop_mode(StopMode::Graceful { deadline: Duration::from_secs(3) });
///
/// let root = move |ctx: Context| {
///     let server = server.clone();
///     async move {
///         ctx.run("http", server)?;
///         ctx.signal(Signal::Healthy)?;
///         ctx.cancelled().await;
///         anyhow::Ok(())
///     }
/// };
/// # let _ = root;
/// ```
pub struct Supervised<S> {
    serve: Arc<S>,
    listen: Listen,
    stop: StopMode,
    local_addr: Arc<watch::Sender<Option<SocketAddr>>>,
}

impl<S: Serve> Supervised<S> {
    /// Serves `serve` on `listen`, with the default [`StopMode`] (graceful, 5 s).
    pub fn new(listen: impl Into<Listen>, serve: S) -> Self {
        Supervised {
            serve: Arc::new(serve),
            listen: listen.into(),
            stop: StopMode::default(),
            local_addr: Arc::new(watch::channel(None).0),
        }
    }

    /// How the server stops when its node is cancelled.
    pub fn stop_mode(mut self, stop: StopMode) -> Self {
        self.stop = stop;
        self
    }

    /// The address the server listens on: `Some` while a run is serving (from just before the
    /// node turns Healthy until its stop is over), `None` otherwise. With port 0 this is how
    /// to learn the port; `wait_for(Option::is_some)` waits for it.
    pub fn local_addr(&self) -> watch::Receiver<Option<SocketAddr>> {
        self.local_addr.subscribe()
    }

    /// The server being supervised.
    pub fn get_ref(&self) -> &S {
        &self.serve
    }
}

impl<S: Serve> Runnable for Supervised<S> {
    fn run(&self, ctx: Context) -> RunFuture {
        let run = Run {
            serve: self.serve.clone(),
            listen: self.listen.clone(),
            stop: self.stop,
            local_addr: self.local_addr.clone(),
        };
        Box::pin(run.run(ctx))
    }
}

/// What one run needs, owned, so that its future is `'static`.
struct Run<S> {
    serve: Arc<S>,
    listen: Listen,
    stop: StopMode,
    local_addr: Arc<watch::Sender<Option<SocketAddr>>>,
}

impl<S: Serve> Run<S> {
    async fn run(self, ctx: Context) -> anyhow::Result<()> {
        let listener = self.listen.open().await?;
        let addr = listener.local_addr()?;
        let cut = CancellationToken::new();
        let _cut_when_over = cut.clone().drop_guard(); // invariant 1
        let _unpublish = Published::new(&self.local_addr, addr); // invariant 2
        let open = OpenCount::default();
        let incoming = Incoming::new(listener, cut.clone(), open.clone());

        self.serve.set_health(HealthState::Serving).await;
        ctx.annotate("addr", addr);
        ctx.annotate("health", "SERVING");
        ctx.signal(Signal::Healthy)?;
        tracing::info!(%addr, "serving");

        let drain = CancellationToken::new();
        let mut served = self.serve.serve(incoming, Shutdown::new(drain.clone()));
        tokio::select! {
            result = &mut served => {
                self.serve.set_health(HealthState::NotServing).await;
        ctx.annotate("health", "NOT_SERVING");
                // Stopped by itself, not asked to: a death, unless the cancellation raced it.
                return match result {
                    Err(err) => Err(err.context(format!("serving on {addr}"))),
                    Ok(()) => Err(anyhow!("the server on {addr} stopped by itself")),
                };
            }
            () = ctx.cancelled() => {}
        }

        // Cancelled: tell health checkers first, while every connection is still served.
        self.serve.set_health(HealthState::NotServing).await;
        ctx.annotate("health", "NOT_SERVING");
        match self.stop {
            StopMode::Immediate => {
                tracing::info!(%addr, open = open.get(), "stopping at once");
            }
            StopMode::Graceful { deadline } => {
                tracing::info!(%addr, ?deadline, open = open.get(), "draining");
                drain.cancel();
                match tokio::time::timeout(deadline, &mut served).await {
                    Ok(Ok(())) => {
                        tracing::info!(%addr, "drained");
                        return Ok(());
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(%addr, error = %format!("{err:#}"), "the server failed while draining");
                        return Ok(());
                    }
                    Err(_elapsed) => {
                        tracing::warn!(%addr, ?deadline, open = open.get(), "drain deadline passed; cutting what is left");
                    }
                }
            }
        }
        cut.cancel();
        Ok(())
    }
}

/// Publishes the run's address for as long as it lives.
struct Published<'a>(&'a watch::Sender<Option<SocketAddr>>);

impl<'a> Published<'a> {
    fn new(tx: &'a watch::Sender<Option<SocketAddr>>, addr: SocketAddr) -> Self {
        tx.send_replace(Some(addr));
        Published(tx)
    }
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        self.0.send_replace(None);
    }
}

impl<S> Clone for Supervised<S> {
    fn clone(&self) -> Self {
        Supervised {
            serve: self.serve.clone(),
            listen: self.listen.clone(),
            stop: self.stop,
            local_addr: self.local_addr.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Supervised<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervised")
            .field("serve", &self.serve)
            .field("listen", &self.listen)
            .field("stop", &self.stop)
            .field("local_addr", &*self.local_addr.borrow())
            .finish()
    }
}
