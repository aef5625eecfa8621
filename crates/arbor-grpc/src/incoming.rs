//! The stream of connections a server accepts in one run.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;

use crate::connection::OpenCount;
use crate::Connection;

/// How long accepting pauses after an error that is not about one connection (typically out
/// of file descriptors), so that it does not spin; connections already open keep being served.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The connections of one run, accepted from its listener, each one a [`Connection`] that the
/// run can cut when it stops.
///
/// Hand it to your server: tonic takes it as a stream (`serve_with_incoming_shutdown`);
/// hyper and axum take its [`accept`](Incoming::accept) in their accept loop (see
/// [`Serve`](crate::Serve)). Dropping it closes the listener (unless it is a shared one, see
/// [`Listen::listener`](crate::Listen::listener)).
///
/// Accepting never fails: an error that concerns one connection (the client gave up before it
/// was accepted) is skipped, and any other error is logged and pauses accepting for a second,
/// as hyper and axum do. `TCP_NODELAY` is set on every connection, as gRPC wants.
pub struct Incoming {
    listener: TcpListener,
    cut: CancellationToken,
    open: OpenCount,
    pause: Option<Pin<Box<Sleep>>>,
}

impl Incoming {
    pub(crate) fn new(listener: TcpListener, cut: CancellationToken, open: OpenCount) -> Self {
        Incoming {
            listener,
            cut,
            open,
            pause: None,
        }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The I/O error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits for the next connection.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection is only taken from the listener when the future completes.
    pub async fn accept(&mut self) -> (Connection, SocketAddr) {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection; for servers built on `poll` functions.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<(Connection, SocketAddr)> {
        loop {
            if let Some(pause) = &mut self.pause {
                ready!(pause.as_mut().poll(cx));
                self.pause = None;
            }
            match ready!(self.listener.poll_accept(cx)) {
                Ok((stream, peer)) => {
                    // Small gRPC frames must not wait for Nagle's algorithm; failing to set it
                    // costs latency only.
                    let _ = stream.set_nodelay(true);
                    let conn = Connection::new(stream, self.cut.child_token(), &self.open);
                    return Poll::Ready((conn, peer));
                }
                Err(err) if concerns_one_connection(&err) => {}
                Err(err) => {
                    tracing::warn!(error = %err, pause = ?ACCEPT_ERROR_PAUSE, "accepting connections failed; pausing");
                    self.pause = Some(Box::pin(tokio::time::sleep(ACCEPT_ERROR_PAUSE)));
                }
            }
        }
    }
}

/// Errors after which the listener is fine and the next accept can follow at once.
fn concerns_one_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Never ends and never yields an error (the `Result` is what tonic's
/// `serve_with_incoming_shutdown` asks for).
impl futures_core::Stream for Incoming {
    type Item = Result<Connection, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let (conn, _peer) = ready!(self.get_mut().poll_accept(cx));
        Poll::Ready(Some(Ok(conn)))
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("open", &self.open.get())
            .field("paused", &self.pause.is_some())
            .finish()
    }
}
