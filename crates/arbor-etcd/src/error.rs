//! The errors of this crate: bad input refused up front, and etcd failing at run time.

use std::time::Duration;

/// What went wrong: a setting refused by [`Scheduled::new`](crate::Scheduled::new) or
/// [`Client::connect`](crate::Client::connect), or a call to etcd that failed while running.
///
/// Setting errors come back to the caller at once. Run-time errors end the run of the node that
/// met them (it becomes Dead, and arbor restarts it with backoff), so they show up in
/// `Supervisor::events()` and in the node's `last_error`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A namespace must look like `/a/b`: a `/` before each non-empty segment of
    /// `[A-Za-z0-9_.-]`, and no `/` at the end.
    #[error("invalid namespace {namespace:?}: {reason}")]
    InvalidNamespace {
        /// The namespace as given.
        namespace: String,
        /// Which part of the rule it breaks.
        reason: &'static str,
    },

    /// A host name must be 1 to 253 bytes of `[A-Za-z0-9_.-]`.
    #[error("invalid host name {host:?}: {reason}")]
    InvalidHost {
        /// The host name as given.
        host: String,
        /// Which part of the rule it breaks.
        reason: &'static str,
    },

    /// An [`Options`](crate::Options) or [`Client`](crate::Client) setting is out of range.
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The setting, e.g. `session_ttl`.
        option: &'static str,
        /// What it must be.
        reason: String,
    },

    /// The [`Strategy`](crate::Strategy) refused its own settings, e.g. `MaxCount(0)`.
    #[error("invalid strategy {strategy}: {reason}")]
    InvalidStrategy {
        /// The strategy, as `Debug` prints it.
        strategy: String,
        /// Why it cannot place anything.
        reason: String,
    },

    /// [`Client::connect`](crate::Client::connect) was given no endpoint.
    #[error("no etcd endpoint given")]
    NoEndpoints,

    /// An endpoint is not a URL the etcd client accepts.
    #[error("invalid etcd endpoint {endpoint:?}: {source}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What the etcd client said.
        #[source]
        source: etcd_client::Error,
    },

    /// A call to etcd failed.
    #[error("etcd {op} on {endpoint} failed: {source}")]
    Etcd {
        /// What was being done, e.g. `lease grant`.
        op: &'static str,
        /// The endpoint that was asked.
        endpoint: String,
        /// What the etcd client said.
        #[source]
        source: etcd_client::Error,
    },

    /// The server refused (with a TLS alert) or closed a TLS connection as it was set up. With
    /// `--client-cert-auth` that is how etcd refuses a client certificate: missing, expired,
    /// or signed by a CA it does not trust (TLS 1.3 reports it only as a closed connection).
    #[error(
        "etcd {op} on {endpoint} failed: the server refused or closed the TLS connection; if \
         it requires client certificates, it refused this one (missing, expired, or of a CA it \
         does not trust): {source}"
    )]
    TlsRefused {
        /// What was being done.
        op: &'static str,
        /// The endpoint that was asked.
        endpoint: String,
        /// What the etcd client said.
        #[source]
        source: etcd_client::Error,
    },

    /// A call to etcd got no answer in time (the endpoint may be down or unreachable).
    #[error("etcd {op} on {endpoint} timed out after {after:?}")]
    Timeout {
        /// What was being done.
        op: &'static str,
        /// The endpoint that was asked.
        endpoint: String,
        /// The request timeout that ran out.
        after: Duration,
    },

    /// This host's lease is gone from etcd (it expired or was revoked): its membership, its
    /// campaign and its claim went with it. The member node dies and joins again.
    #[error("lease {lease:x} of host {host:?} is gone from etcd")]
    LeaseLost {
        /// The host.
        host: String,
        /// The lost lease.
        lease: i64,
    },

    /// This host lost what it held the work under: its membership ended, or it could not renew
    /// its lease in time (fenced). The `placed` node dies with this error, which cancels the
    /// work under it; it waits to be placed again after its restart. (A placement that moves
    /// away is no failure: the node bounces instead.)
    #[error("host {host:?} stopped the work: {reason}")]
    Unplaced {
        /// The host.
        host: String,
        /// Why, e.g. `its membership ended` or `fenced: no lease renewal confirmed in time`.
        reason: String,
    },
}
