//! Testing with arbor: a [`Harness`] for your own runnables, and one version of every helper
//! that the tests of more than one crate of the arbor workspace need.
//!
//! **For your runnables**, start with [`Harness`]: it runs a runnable under a supervisor made
//! for tests (panics propagated, exact backoff for tokio's paused clock, the test's log lines
//! captured), waits on its states with a deadline, and fails with the node's last error and
//! the whole tree when a wait times out.
//!
//! Like `tokio-test` and `tower-test`, it is a crate of its own, taken as a dev-dependency:
//!
//! ```toml
//! [dev-dependencies]
//! arbor-test-kit = { path = "../arbor-test-kit" }
//! ```
//!
//! What it holds:
//!
//! - **Waiting, always within [`DEADLINE`]**: [`expect`] the next event a predicate accepts
//!   ([`entered`], [`restarted`]), [`until_status`] and [`settled`] for the tree's status,
//!   [`record`] and [`record_matching`] for sequences (read them with [`position`]).
//! - **Trees**: the [`exact_backoff`] and the [`fast_backoff`], a [`builder`] with the kit's
//!   settings ([`supervisor`], [`supervisor_with`]), a checked [`shutdown`].
//! - **The invariant of every scenario**: a [`Tracker`] proves that no DN ever runs twice at
//!   once.
//! - **Faults on command**: [`Kills`] and its [`worker`]; a [`binary`] tree of them under a
//!   [`root_with`].
//! - **Ports**: [`loopback`] and [`listener`] (the race-free ways), and [`free_port`] for a
//!   number that must be known before the code under test binds it.
//! - **Certificates**: [`pki::Ca`] makes a CA and the certificates it signs, for TLS tests.
//! - **Logs**: [`Logs::capture`] to assert on log lines, [`init_tracing`] to read them.
//!
//! A crate's own helpers (a subprocess script, a gRPC client, an etcd server) stay in that
//! crate's `tests/common`, built on this kit.

mod events;
mod harness;
mod logs;
pub mod pki;
mod ports;
mod tree;

pub use events::*;
pub use harness::{Harness, Timeout};
pub use logs::*;
pub use ports::*;
pub use tree::*;
