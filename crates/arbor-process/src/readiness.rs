//! When a started process counts as ready (and its node as Healthy).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use regex::Regex;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The check a process must pass before its node signals Healthy.
#[derive(Debug, Clone)]
pub(crate) enum Readiness {
    /// A line on stdout or stderr matches.
    Line(Regex),
    /// A TCP connection to this address is accepted.
    Port(SocketAddr),
    /// The process has stayed up this long.
    Uptime(Duration),
}

impl Readiness {
    /// How long the check may take: the ready timeout, except for an uptime check, which
    /// takes exactly its own duration.
    pub(crate) fn limit(&self, ready_timeout: Duration) -> Option<Duration> {
        match self {
            Readiness::Line(_) | Readiness::Port(_) => Some(ready_timeout),
            Readiness::Uptime(_) => None,
        }
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Readiness::Line(pattern) => {
                write!(f, "a line matching /{pattern}/ on stdout or stderr")
            }
            Readiness::Port(addr) => write!(f, "a connection accepted on {addr}"),
            Readiness::Uptime(uptime) => write!(f, "{uptime:?} of uptime"),
        }
    }
}

/// Between two connection attempts. Short, because a refused attempt costs nothing and the
/// node's start-up waits on it; probing stops as soon as the port answers.
const PROBE_INTERVAL: Duration = Duration::from_millis(25);
/// One attempt that hangs (a filtered port) must not use up the whole ready timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Completes once the address accepts a TCP connection (which is closed at once).
///
/// # Cancel safety
///
/// Cancel safe: it only makes connection attempts.
pub(crate) async fn port_accepts(addr: SocketAddr) {
    loop {
        match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => return,
            Ok(Err(err)) => tracing::trace!(%addr, error = %err, "not accepting yet"),
            Err(_) => tracing::trace!(%addr, "connection attempt timed out"),
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Completes when a reader reports a matching line. If both readers end without one (the
/// child closed its outputs), it never completes: the child's exit or the ready timeout decide.
///
/// # Cancel safety
///
/// Cancel safe: a report is only taken when the future completes.
pub(crate) async fn line_seen(rx: &mut mpsc::Receiver<()>) {
    if rx.recv().await.is_none() {
        std::future::pending::<()>().await;
    }
}
