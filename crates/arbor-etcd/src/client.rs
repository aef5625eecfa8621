//! The connection to etcd: one etcd client per endpoint, one endpoint in use at a time.
//!
//! The `etcd-client` crate balances requests over all endpoints of one channel. A member that
//! is down keeps failing its share of them until it is removed by hand, and a stream (watch,
//! lease keep-alive, observe) that breaks is not opened again. So this crate builds one client
//! per endpoint and uses one at a time: when a call or a stream on it fails, [`Client::failed`]
//! moves every user to the next endpoint, and each stream opens again there (resuming where it
//! was; see `mirror.rs`).
//!
//! A failure also drops the failed endpoint's channel, so that the next use of that endpoint
//! dials a new TCP connection. Kept, the channel would go on sending into the connection that
//! was open when the network broke: after a partition heals, that connection wakes only at the
//! kernel's next backed-off retransmission, seconds later, while a new one connects at once.
//!
//! No client-wide request timeout is set: it would also cut the calls that block by design
//! (campaign, observe). Unary calls get their own timeout in [`Client::call`].
//!
//! # Invariants
//!
//! 1. `current` only moves forward: its epoch grows by one at each switch, so a failure reported
//!    against an older epoch (by a second stream that broke at the same time) switches nothing.
//! 2. An endpoint's channel is dropped only by the failure that switches away from it, so each
//!    epoch dials each endpoint at most once (two callers that dial at the same moment keep the
//!    first channel stored).

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::retry::Retry;
use crate::{Error, Tls};

/// How long to wait for a TCP connection to an endpoint, when not set.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a unary call (grant, put, get, txn, revoke) may take, when not set.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to an etcd cluster, shared by every [`Scheduled`](crate::Scheduled) of a process.
///
/// It holds one `etcd-client` client per endpoint and talks to one endpoint at a time; when a
/// call times out or fails for a reason that points at the endpoint (unavailable, connection
/// lost, no leader), it moves on to the next endpoint, round robin, and drops the failed
/// endpoint's connection: the next use of that endpoint dials a new one, rather than waiting on
/// a connection the network cut. Connecting does no network I/O: an unreachable cluster shows
/// later, as a timeout of the first call.
///
/// Cheap to clone.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), arbor_etcd::Error> {
/// use std::time::Duration;
///
/// let client = arbor_etcd::Client::builder(["http://127.0.0.1:2379", "http://127.0.0.1:22379"])
///     .request_timeout(Duration::from_secs(3))
///     .connect()
///     .await?;
/// assert_eq!(client.endpoints().count(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Vec<Endpoint>,
    options: etcd_client::ConnectOptions,
    /// Whether the endpoints talk TLS, to explain a connection they close.
    tls: bool,
    request_timeout: Duration,
    current: watch::Sender<Current>,
}

struct Endpoint {
    url: String,
    /// The channel to this endpoint; `None` once a failure dropped it, until the next use
    /// dials again.
    channel: Mutex<Option<etcd_client::Client>>,
}

/// Which endpoint is in use, and how many switches happened before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Current {
    pub(crate) index: usize,
    pub(crate) epoch: u64,
}

/// One endpoint's client, as handed to a caller, with the epoch it was current in.
#[derive(Clone)]
pub(crate) struct Conn {
    pub(crate) at: Current,
    pub(crate) url: String,
    pub(crate) client: etcd_client::Client,
}

/// Settings for [`Client::builder`].
#[derive(Clone)]
pub struct ClientBuilder {
    endpoints: Vec<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
    tls: Option<Tls>,
    user: Option<(String, String)>,
}

impl ClientBuilder {
    /// How long to wait for a TCP connection (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a unary call may take before it is abandoned and the next endpoint is tried
    /// (default 5 s). Blocking calls (campaign, observe) and streams have no such limit.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Talk TLS to every endpoint (which must then all be `https://` URLs), verifying the
    /// members against the CA of `tls`, and presenting its client certificate if it has one.
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Authenticate as `name` with `password` (etcd's role-based access control). The token
    /// etcd hands out is fetched when an endpoint is dialled and fetched again when it expires.
    /// `docs/etcd.md` lists the permissions a host needs on its namespace.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some((name.into(), password.into()));
        self
    }

    /// Builds one client per endpoint. No network I/O happens here, not even with a
    /// [`user`](Self::user): the first use of an endpoint authenticates, and a wrong password
    /// fails that call, naming the endpoint.
    ///
    /// # Errors
    ///
    /// - [`Error::NoEndpoints`] for an empty list;
    /// - [`Error::InvalidEndpoint`] for an endpoint the etcd client cannot parse;
    /// - [`Error::InvalidOption`] for a zero timeout, for `http://` endpoints with
    ///   [`tls`](Self::tls), or `https://` ones without;
    /// - [`Error::InvalidOption`] also for a CA bundle, client certificate or key that does
    ///   not parse.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is shared until it returns.
    pub async fn connect(self) -> Result<Client, Error> {
        if self.endpoints.is_empty() {
            return Err(Error::NoEndpoints);
        }
        for (option, value) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::InvalidOption {
                    option,
                    reason: "must be above zero".to_owned(),
                });
            }
        }
        for url in &self.endpoints {
            let https = url.starts_with("https://");
            if https != self.tls.is_some() {
                let reason = if https {
                    format!("endpoint {url} is https://: give the CA with ClientBuilder::tls")
                } else {
                    format!("endpoint {url} is not https://, but TLS is set")
                };
                return Err(Error::InvalidOption {
                    option: "tls",
                    reason,
                });
            }
        }
        let mut options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(self.connect_timeout)
            // HTTP/2 pings notice a silently dead connection; etcd refuses pings more often
            // than every 5 s, and pings without an open stream, as abuse.
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(false)
            // A member cut off from the quorum then fails streams at once instead of serving
            // stale data.
            .with_require_leader(true);
        if let Some(tls) = &self.tls {
            tls.check().map_err(|reason| Error::InvalidOption {
                option: "tls",
                reason,
            })?;
            options = options.with_tls(tls.options());
        }
        // Built without the user, a client does no I/O: it checks the URL and the certificates.
        let unauthenticated = options.clone();
        if let Some((name, password)) = &self.user {
            options = options
                .with_user(name.clone(), password.clone())
                .with_auto_token_refresh(true);
        }
        let mut endpoints = Vec::with_capacity(self.endpoints.len());
        for url in self.endpoints {
            let client =
                etcd_client::Client::connect([url.as_str()], Some(unauthenticated.clone()))
                    .await
                    .map_err(|source| Error::InvalidEndpoint {
                        endpoint: url.clone(),
                        source,
                    })?;
            // With a user, the first use dials again and authenticates.
            let client = self.user.is_none().then_some(client);
            endpoints.push(Endpoint {
                url,
                channel: Mutex::new(client),
            });
        }
        Ok(Client {
            inner: Arc::new(Inner {
                endpoints,
                options,
                tls: self.tls.is_some(),
                request_timeout: self.request_timeout,
                current: watch::Sender::new(Current { index: 0, epoch: 0 }),
            }),
        })
    }
}

impl Client {
    /// Settings for a client of these endpoints (URLs such as `http://10.0.0.1:2379`).
    pub fn builder<E: Into<String>>(endpoints: impl IntoIterator<Item = E>) -> ClientBuilder {
        ClientBuilder {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            tls: None,
            user: None,
        }
    }

    /// A client of these endpoints with the default timeouts.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::connect`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn connect<E: Into<String>>(
        endpoints: impl IntoIterator<Item = E>,
    ) -> Result<Client, Error> {
        Self::builder(endpoints).connect().await
    }

    /// The endpoints, in the order they are tried.
    pub fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.inner.endpoints.iter().map(|e| e.url.as_str())
    }

    /// The endpoint in use now.
    pub fn endpoint(&self) -> &str {
        let index = self.inner.current.borrow().index;
        &self.inner.endpoints[index].url
    }

    /// The per-call timeout.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// The endpoint in use, with its client; dials the endpoint again if a failure dropped its
    /// channel.
    ///
    /// # Errors
    ///
    /// What dialling said ([`Error::Etcd`], [`Error::TlsRefused`] or [`Error::Timeout`],
    /// naming the endpoint), after moving on to the next endpoint.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dial that is dropped stores nothing.
    pub(crate) async fn conn(&self) -> Result<Conn, Error> {
        let at = *self.inner.current.borrow();
        let endpoint = &self.inner.endpoints[at.index];
        if let Some(client) = lock(&endpoint.channel).clone() {
            return Ok(Conn {
                at,
                url: endpoint.url.clone(),
                client,
            });
        }
        let after = self.inner.request_timeout;
        let dialled = tokio::time::timeout(
            after,
            etcd_client::Client::connect([endpoint.url.as_str()], Some(self.inner.options.clone())),
        )
        .await;
        let err = match dialled {
            Ok(Ok(client)) => {
                let client = lock(&endpoint.channel).get_or_insert(client).clone();
                return Ok(Conn {
                    at,
                    url: endpoint.url.clone(),
                    client,
                });
            }
            Ok(Err(source)) => self.failure("connect", &endpoint.url, source),
            Err(_) => Error::Timeout {
                op: "connect",
                endpoint: endpoint.url.clone(),
                after,
            },
        };
        self.switch_from(at, &endpoint.url, &err);
        Err(err)
    }

    /// The endpoint in use, with its client: as [`conn`](Self::conn), but dialling until it
    /// succeeds, with `retry`'s pauses in between (the loops that keep streams open use this).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn conn_retrying(&self, retry: &mut Retry) -> Conn {
        loop {
            match self.conn().await {
                Ok(conn) => return conn,
                Err(err) => {
                    tracing::warn!(error = %err, "could not dial etcd");
                    retry.pause().await;
                }
            }
        }
    }

    /// Notified at each switch of endpoint, for streams to open again on the new one.
    pub(crate) fn switches(&self) -> watch::Receiver<Current> {
        self.inner.current.subscribe()
    }

    /// Reports that `conn` failed: if it is still the endpoint in use, the next one is, and the
    /// failed endpoint's channel is dropped so that its next use dials again.
    pub(crate) fn failed(&self, conn: &Conn, why: &dyn fmt::Display) {
        self.switch_from(conn.at, &conn.url, why);
    }

    fn switch_from(&self, at: Current, url: &str, why: &dyn fmt::Display) {
        let n = self.inner.endpoints.len();
        let switched = self.inner.current.send_if_modified(|current| {
            if current.epoch != at.epoch {
                return false; // someone else switched already
            }
            current.index = (current.index + 1) % n;
            current.epoch += 1;
            true
        });
        if !switched {
            return;
        }
        lock(&self.inner.endpoints[at.index].channel).take();
        if n == 1 {
            // Nowhere to switch to: the streams open again on the same endpoint. Their retries
            // would repeat this line every second of an outage, so it stays at debug.
            tracing::debug!(endpoint = %url, error = %why, "etcd endpoint failed; dialling again");
        } else {
            let next = &self.inner.endpoints[self.inner.current.borrow().index].url;
            tracing::warn!(failed = %url, next = %next, error = %why, "etcd endpoint failed; switching");
        }
    }

    /// The error for `source`, met doing `op` on `endpoint`: [`Error::TlsRefused`] where the
    /// server closed a TLS connection it was asked to open, [`Error::Etcd`] otherwise.
    fn failure(&self, op: &'static str, endpoint: &str, source: etcd_client::Error) -> Error {
        let endpoint = endpoint.to_owned();
        if self.inner.tls && closed_by_peer(&source) {
            Error::TlsRefused {
                op,
                endpoint,
                source,
            }
        } else {
            Error::Etcd {
                op,
                endpoint,
                source,
            }
        }
    }

    /// Runs one unary call on the endpoint in use, with the request timeout. A timeout, or an
    /// error that blames the endpoint, switches to the next endpoint for later calls.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe as far as this client goes; whether etcd applied a dropped call is unknown,
    /// as for any dropped RPC.
    pub(crate) async fn call<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, Error>
    where
        F: FnOnce(etcd_client::Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let conn = self.conn().await?;
        let after = self.inner.request_timeout;
        match tokio::time::timeout(after, f(conn.client.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => {
                if blames_endpoint(&source) {
                    self.failed(&conn, &source);
                }
                Err(self.failure(op, &conn.url, source))
            }
            Err(_) => {
                let err = Error::Timeout {
                    op,
                    endpoint: conn.url.clone(),
                    after,
                };
                self.failed(&conn, &err);
                Err(err)
            }
        }
    }
}

/// Locks an endpoint's channel slot; a panic elsewhere cannot leave it half-written.
fn lock(slot: &Mutex<Option<etcd_client::Client>>) -> MutexGuard<'_, Option<etcd_client::Client>> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the other side ended the connection under `err`: with a TLS alert, or, when the
/// close wins the race with the alert, by closing it. The cause sits deep in hyper's error,
/// whose kinds are not public: its text is all there is.
fn closed_by_peer(err: &etcd_client::Error) -> bool {
    let text = format!("{err:?}");
    [
        "received fatal alert",
        "connection closed",
        "BrokenPipe",
        "reset by peer",
        // hyper's, when the connection is gone before the request could be sent.
        "connection was not ready",
    ]
    .iter()
    .any(|sign| text.contains(sign))
}

/// Whether an error says the endpoint, not the request, is at fault.
pub(crate) fn blames_endpoint(err: &etcd_client::Error) -> bool {
    use tonic::Code;
    match err {
        etcd_client::Error::TransportError(_)
        | etcd_client::Error::IoError(_)
        | etcd_client::Error::WatchError(_)
        | etcd_client::Error::LeaseKeepAliveError(_)
        | etcd_client::Error::EndpointError(_) => true,
        etcd_client::Error::GRpcStatus(status) => matches!(
            status.code(),
            Code::Unavailable
                | Code::Unknown
                | Code::DeadlineExceeded
                | Code::Cancelled
                | Code::Internal
                | Code::Aborted
        ),
        _ => false,
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.endpoints().collect::<Vec<_>>())
            .field("in_use", &self.endpoint())
            .field("request_timeout", &self.inner.request_timeout)
            .finish()
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_struct("ClientBuilder")
            .field("endpoints", &self.endpoints)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("tls", &self.tls)
            .field("user", &self.user.as_ref().map(|(name, _)| name))
            .finish()
    }
}
