//! The test kit of the arbor workspace: one version of every helper that the tests of more than
//! one crate need, with one name and one signature.
//!
//! Like `tokio-test` and `tower-test`, it is a crate of its own, never published, that every
//! crate takes as a dev-dependency:
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
//! - **Logs**: [`Logs::capture`] to assert on log lines, [`init_tracing`] to read them.
//!
//! A crate's own helpers (a subprocess script, a gRPC client, an etcd server) stay in that
//! crate's `tests/common`, built on this kit.

mod events;
mod logs;
mod ports;
mod tree;

pub use events::*;
pub use logs::*;
pub use ports::*;
pub use tree::*;
