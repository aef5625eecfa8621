//! One accepted connection, which the server can cut at any moment.
//!
//! HTTP servers (hyper, and so tonic and axum) run each connection in a task of its own, which
//! nobody outside holds a handle to: dropping the server future does not end them, and a
//! graceful shutdown waits for them for ever. So the cut is built into the connection itself:
//! once its token is cancelled, every read and write fails, the server's connection task ends
//! on that error, and with it every request it was serving.
//!
//! # Invariants
//!
//! 1. Every `poll_*` checks the cut before touching the socket, and registers for it whenever
//!    it returns `Pending`, so a connection waiting on I/O wakes up when it is cut.
//! 2. `OpenGuard` counts the connection from its accept until it is dropped.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A TCP connection accepted by [`Incoming`](crate::Incoming): reads and writes go to the
/// socket until the server cuts it, then fail with [`io::ErrorKind::ConnectionAborted`].
///
/// It implements tokio's [`AsyncRead`] and [`AsyncWrite`]; wrap it in
/// `hyper_util::rt::TokioIo` for hyper. For tonic it also implements
/// [`Connected`](tonic::transport::server::Connected), so `Request::remote_addr` works.
pub struct Connection {
    stream: TcpStream,
    // Boxed so that `Connection` is `Unpin`, as servers require of their I/O.
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
    is_cut: bool,
    _open: OpenGuard,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, cut: CancellationToken, open: &OpenCount) -> Self {
        Connection {
            stream,
            cut: Box::pin(cut.cancelled_owned()),
            is_cut: false,
            _open: OpenGuard::new(open),
        }
    }

    /// The socket, e.g. for its addresses or socket options.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// The address of the client.
    ///
    /// # Errors
    ///
    /// The I/O error of `getpeername`, e.g. when the peer has gone.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The server's end of the connection.
    ///
    /// # Errors
    ///
    /// The I/O error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Whether the server has cut this connection.
    pub fn is_cut(&self) -> bool {
        self.is_cut
    }

    /// Ready with an error once the connection is cut; registers `cx` for the cut otherwise.
    fn poll_cut(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.is_cut && self.cut.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.is_cut = true;
        Poll::Ready(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection cut by the server as it stopped",
        ))
    }
}

/// Runs `op` unless the connection is cut. The cut is polled first, which also registers the
/// task for it, so an operation that returns `Pending` is woken by the cut too (invariant 1).
macro_rules! unless_cut {
    ($this:ident, $cx:ident, $op:expr) => {{
        let this = $this.get_mut();
        if let Poll::Ready(err) = this.poll_cut($cx) {
            return Poll::Ready(Err(err));
        }
        let stream = Pin::new(&mut this.stream);
        $op(stream)
    }};
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        unless_cut!(self, cx, |s: Pin<&mut TcpStream>| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        unless_cut!(self, cx, |s: Pin<&mut TcpStream>| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        unless_cut!(self, cx, |s: Pin<&mut TcpStream>| s
            .poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        unless_cut!(self, cx, |s: Pin<&mut TcpStream>| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        unless_cut!(self, cx, |s: Pin<&mut TcpStream>| s.poll_shutdown(cx))
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.stream.peer_addr().ok())
            .field("is_cut", &self.is_cut)
            .finish()
    }
}

/// How many connections of one run are open, for the log line when some must be cut.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpenCount(Arc<AtomicUsize>);

impl OpenCount {
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

struct OpenGuard(OpenCount);

impl OpenGuard {
    fn new(count: &OpenCount) -> Self {
        count.0.fetch_add(1, Ordering::Relaxed);
        OpenGuard(count.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::Relaxed);
    }
}
