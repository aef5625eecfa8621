//! Where a server listens.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

/// Where a [`Supervised`](crate::Supervised) server listens: an address it binds in every run,
/// or a listener someone else bound.
///
/// Each run gets a listener of its own and drops it when it ends, so a restarted server
/// rebinds (or reuses) the port; a failure to bind is a death of the run, which the supervisor
/// retries with backoff.
///
/// # Examples
///
/// ```
/// use arbor_grpc::Listen;
///
/// // Bound anew in every run; port 0 picks a free port each time.
/// let by_addr = Listen::addr(([127, 0, 0, 1], 50051).into());
///
/// // Bound once, up front, and shared by every run: the port never changes and connections
/// // that arrive during a restart wait in the backlog instead of being refused.
/// let bound = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let shared = Listen::listener(bound);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Listen {
    how: How,
}

#[derive(Clone)]
enum How {
    Addr(SocketAddr),
    Listener(Arc<std::net::TcpListener>),
    Factory(Arc<Factory>),
}

type Factory = dyn Fn() -> io::Result<std::net::TcpListener> + Send + Sync;

impl Listen {
    /// Binds `addr` at the start of every run.
    pub fn addr(addr: SocketAddr) -> Listen {
        Listen {
            how: How::Addr(addr),
        }
    }

    /// Serves on a listener bound beforehand (for example passed in by a service manager).
    /// Every run accepts on a duplicate of it ([`try_clone`](std::net::TcpListener::try_clone)),
    /// so the socket stays open across restarts.
    pub fn listener(listener: std::net::TcpListener) -> Listen {
        Listen {
            how: How::Listener(Arc::new(listener)),
        }
    }

    /// Calls `factory` at the start of every run for the listener to serve on. The listener
    /// may be blocking or not; it is made non-blocking. An error is a death of the run.
    pub fn with<F>(factory: F) -> Listen
    where
        F: Fn() -> io::Result<std::net::TcpListener> + Send + Sync + 'static,
    {
        Listen {
            how: How::Factory(Arc::new(factory)),
        }
    }

    /// Gets this run's listener.
    ///
    /// # Errors
    ///
    /// The I/O error of the bind (for example `AddrInUse`), of duplicating the shared
    /// listener, or of the factory, with what was tried in its context.
    pub(crate) async fn open(&self) -> anyhow::Result<TcpListener> {
        use anyhow::Context as _;
        match &self.how {
            How::Addr(addr) => TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}")),
            How::Listener(listener) => listener
                .try_clone()
                .and_then(into_tokio)
                .with_context(|| format!("listening on {self}")),
            How::Factory(factory) => factory()
                .and_then(into_tokio)
                .with_context(|| format!("listening on {self}")),
        }
    }
}

fn into_tokio(listener: std::net::TcpListener) -> io::Result<TcpListener> {
    // tokio needs a non-blocking socket; a std listener is blocking unless told otherwise.
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

impl From<SocketAddr> for Listen {
    fn from(addr: SocketAddr) -> Self {
        Listen::addr(addr)
    }
}

impl From<std::net::TcpListener> for Listen {
    fn from(listener: std::net::TcpListener) -> Self {
        Listen::listener(listener)
    }
}

impl fmt::Display for Listen {
    /// The address, as far as it is known before the run: `127.0.0.1:50051`, `listener
    /// 127.0.0.1:50051`, or `listener factory`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.how {
            How::Addr(addr) => write!(f, "{addr}"),
            How::Listener(listener) => match listener.local_addr() {
                Ok(addr) => write!(f, "listener {addr}"),
                Err(_) => f.write_str("listener"),
            },
            How::Factory(_) => f.write_str("listener factory"),
        }
    }
}

impl fmt::Debug for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Listen")
            .field(&format_args!("{self}"))
            .finish()
    }
}
