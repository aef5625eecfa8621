//! Supervised work placed across hosts by etcd.
//!
//! A [`Scheduled`] runnable runs your runnable on the hosts that an etcd-backed scheduler
//! chooses, in the manner of mgmt's etcd scheduler: every host joins a namespace with a key bound
//! to its own lease; one host, elected with etcd's election API, turns the live hosts into a
//! placement with a [`Strategy`] and writes it; every host watches the namespace and runs the
//! work while the placement names it. When a host dies its lease expires, its key goes, and the
//! work moves.
//!
//! ```text
//!   host a                     etcd (/ns)                        host b
//!   ──────                     ──────────                        ──────
//!   member ── lease+key ──▶  hosts/a  hosts/b  ◀── lease+key ── member
//!          ── campaign ───▶  election/<lease>  ◀── campaign ───
//!   (elected) strategy ─CAS─▶ placement = "a"
//!   placed ◀──── watch ────  placement, running/* ──── watch ──▶ placed (waits, New)
//!   placed ── claim (txn) ─▶ running/a/<lease>
//!     └── work (your runnable, Healthy)
//! ```
//!
//! # Building
//!
//! This crate needs `protoc` at build time: the `etcd-client` crate compiles etcd's protobuf
//! definitions in its build script, and those import protobuf's well-known types. On Debian and
//! Ubuntu both come from two packages:
//!
//! ```sh
//! apt-get install protobuf-compiler libprotobuf-dev
//! ```
//!
//! Elsewhere, set `PROTOC` to a `protoc` binary whose include directory holds
//! `google/protobuf/descriptor.proto`. A vendored `protoc` cannot help here, since a crate cannot
//! set the environment of a dependency's build script. The other arbor crates need no system
//! package. Running against etcd needs an etcd server, of course (Debian: `etcd-server`).
//!
//! # Secured clusters
//!
//! [`ClientBuilder::tls`] with a [`Tls`] (the CA bundle, and a client certificate for
//! `--client-cert-auth`) and [`ClientBuilder::user`] (etcd's role-based access control) reach
//! clusters that require TLS and authentication. A host needs read and write on its
//! namespace's prefix only; `docs/etcd.md` has the `etcdctl` commands and a production
//! checklist.
//!
//! # Guarantees
//!
//! - **Placement.** Only the elected host writes the placement, and only with a
//!   compare-and-swap on the placement's revision and on its own election key, so a stale
//!   decision is never written. [`MaxCount`] is sticky: a new host, or a new leader, moves
//!   nothing.
//! - **Handover.** A newly placed host starts only once every host that the placement no
//!   longer names has released its claim (it stopped the work) or lost its lease. A host that
//!   shuts down cleanly stops the work first, then revokes its lease, so the work moves at once.
//!   Claims are told apart by lease, not by host name: a host restarted under its name (new
//!   lease) waits in the same way for the claim of its old process, which may be frozen
//!   (SIGSTOP, a long pause) rather than dead, and run on when it wakes.
//! - **Fencing.** A host that cannot renew its lease stops the work `fence_after` (half the TTL
//!   by default) after the send time of its last renewal that etcd confirmed: before etcd can
//!   expire the lease and place the work elsewhere. It joins again when etcd is back.
//! - **Outages.** A renewal left unanswered for `renew_every` (a tenth of the TTL by default)
//!   drops the connection, and the host dials again at once, on every endpoint it knows, rather
//!   than waiting on a connection the network cut. An outage shorter than
//!   [`Options::tolerated_outage`] (`fence_after − 1.5 × renew_every`) never stops the work;
//!   after a longer one the host is back within about 1.5 renewal intervals of the heal.
//!
//! These hold if the work stops within the rest of the TTL once cancelled, and if the clocks of
//! this host and of etcd's leader run at about the same rate (no clock agreement is needed). A
//! process that is paused (GC, swap, a stopped VM) for longer than the fencing margin can still
//! act late: hand the [`FencingToken`] in the [`View`] to outside resources so they can refuse
//! it. `docs/etcd.md` in the repository has the full argument.
//!
//! # Status
//!
//! arbor's status shows node states: `member` Healthy means joined, `placed` Healthy means this
//! host runs the work (New: waiting to be placed). The rest of a host's knowledge (leader, live
//! hosts, placement, claims, fencing token) is in its [`View`], from [`Scheduled::view`], and
//! logged on every change.
//!
//! # etcd pitfalls handled here
//!
//! - One `etcd-client` client per endpoint, one in use at a time ([`Client`]): a dead member
//!   would otherwise keep failing a share of requests.
//! - No client-wide request timeout (it would cut the blocking campaign and observe calls);
//!   unary calls get their own.
//! - Watch and keep-alive streams are opened again when they break (the client does not), the
//!   watch from the revision after the last event seen.
//! - An unreachable cluster at start is a timeout of the first call: the `member` node dies,
//!   and arbor retries it with backoff.
//!
//! # Example
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> anyhow::Result<()> {
//! use arbor::{Context, Signal, Supervisor};
//! use arbor_etcd::{Client, MaxCount, Options, Scheduled};
//! use std::time::Duration;
//!
//! async fn singleton(ctx: Context) -> anyhow::Result<()> {
//!     ctx.signal(Signal::Healthy)?;
//!     ctx.cancelled().await;
//!     Ok(())
//! }
//!
//! let client = Client::connect(["http://127.0.0.1:2379"]).await?;
//! let options = Options::new().session_ttl(Duration::from_secs(5)).strategy(MaxCount(1));
//! let job = Scheduled::new(client, "/myapp/singleton", "host-a", options, singleton)?;
//! let sup = Supervisor::new(move |ctx: Context| {
//!     let job = job.clone();
//!     async move {
//!         ctx.run("singleton", job)?;
//!         ctx.signal(Signal::Healthy)?;
//!         ctx.cancelled().await;
//!         Ok(())
//!     }
//! });
//! # sup.shutdown().await.into_result()?;
//! # Ok(())
//! # }
//! ```

mod claim;
mod client;
mod election;
mod error;
mod gate;
mod keys;
mod leader;
mod lease;
mod member;
mod mirror;
mod options;
mod retry;
mod scheduled;
mod slot;
mod strategy;
mod tls;
mod view;

pub use client::{Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};
pub use error::Error;
pub use options::{Options, DEFAULT_SESSION_TTL};
pub use scheduled::Scheduled;
pub use strategy::{Alphabetical, MaxCount, Strategy};
pub use tls::Tls;
pub use view::{Claim, FencingToken, Lease, Placement, View};
