//! Erlang/OTP-style supervision trees for tokio.
//!
//! A service is many long-running tasks: listeners, pools, watchers, subprocesses. arbor runs
//! them as a tree. When one fails, the ones related to it are cancelled and restarted together,
//! with backoff, while the rest of the tree keeps serving; a shutdown ends every one of them.
//!
//! # Vocabulary
//!
//! - A [`Runnable`] is an async function of a [`Context`], called again on every restart.
//! - A **node** is one place in the tree. Its [`Dn`] is the dot-joined path from the root:
//!   `root`, `root.api`, `root.api.listener`.
//! - A [`Group`] is a set of siblings started by one [`Context::run_group`] call: if one dies,
//!   the others are cancelled, and all restart. [`Context::run`] starts a group of one.
//! - One **processor** task owns the tree; runnables only send it messages. After each change a
//!   **GC** pass restarts the largest subtrees that must restart and have fully stopped.
//!
//! # Node states
//!
//! A node is [`New`](NodeState::New) when started, [`Healthy`](NodeState::Healthy) once its run
//! says so, [`Done`](NodeState::Done) once it has finished for good, [`Dead`](NodeState::Dead)
//! when it failed, [`Canceled`](NodeState::Canceled) when it stopped because it was told to,
//! and [`Stopped`](NodeState::Stopped) when an operator stopped it
//! ([`Supervisor::stop_node`]). Every transition, with what comes with it (backoff, cancellation of the group, restart),
//! is in the one [state table](NodeState#state-table). In short:
//!
//! - A death cancels the dead node's subtree and its group, and draws a backoff that the node
//!   and its whole group owe: none of them starts again before it has passed, so no restart
//!   loop is ever tight. Healthy and Done reset the [`Backoff`].
//! - A node restarts only when its whole subtree has stopped; the restart clears its children,
//!   and its runnable starts them again. A Done node restarts only with its group or an
//!   ancestor. Nothing restarts once the supervisor shuts down.
//! - Each (re)start is a new run; anything from an earlier run (a late return, a cancelled
//!   backoff) is ignored, so a node never runs twice at once.
//!
//! # Policies and control
//!
//! Every child is restarted for ever, with backoff, unless it says otherwise: [`Restart`] types
//! (permanent, transient, temporary) and [`StopTimeout`]s on a [`Child`]; [`Strategy`],
//! [`Group::ordered`] and [`Group::restart_limit`] on a [`Group`];
//! [`Context::limit_restarts`], [`Context::finish_with`] and
//! [`Context::defer_children_stop`] (a run that stops its children in its own order) on a
//! node's own run; [`Bounce`]
//! to start over without failing. A running tree is steered by DN
//! ([`Supervisor::restart_node`], [`stop_node`](Supervisor::stop_node),
//! [`start_node`](Supervisor::start_node)) and waited on with a [`Watch`]. `docs/guide.md`
//! maps each to Erlang/OTP's vocabulary.
//!
//! # Misuse
//!
//! Bad names, duplicates, children after New and illegal signals return an [`Error`] and log a
//! line with the DN; they never abort the process. A panicking runnable is a dead node (unless
//! [`Builder::propagate_panics`] is set). Time goes through tokio's clock, so tests can pause it.
//!
//! # Metrics
//!
//! The tree reports through the [`metrics`](https://docs.rs/metrics) facade, so any recorder
//! exports them (Prometheus, StatsD, ...); without one installed they cost nothing.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `arbor_nodes` | gauge | `state` | nodes in each [`NodeState`] (`new`, `healthy`, ...) |
//! | `arbor_transitions_total` | counter | `from`, `to` | state transitions (a node's creation counts `from="none"`) |
//! | `arbor_restarts_total` | counter | `dn` | runs entered again after the first |
//! | `arbor_failures_total` | counter | `dn` | deaths (rows 4–6 and 13 of the [state table](NodeState#state-table)) |
//! | `arbor_backoff_seconds` | histogram | | the backoff each death draws |
//! | `arbor_processor_queue` | gauge | | messages waiting for the processor |
//!
//! DNs can be many, so `dn` takes at most [`Builder::metric_dns`] distinct values (the first
//! seen; 256 by default), and the rest are counted under `dn="other"`. Counts are handed to
//! the recorder once per batch of the processor's messages, not once per transition, through
//! handles the processor registers once and keeps. Install the recorder before starting the
//! supervisor; one installed later gets the tree's metrics from its first batch a second or
//! more after the handles were last registered.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> anyhow::Result<()> {
//! use arbor::{Context, NodeState, Signal, Supervisor};
//!
//! let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! let sup = Supervisor::new(|ctx: Context| async move {
//!     ctx.signal(Signal::Healthy)?;
//!     ctx.cancelled().await;
//!     Ok(())
//! });
//! sup.watch("root").until_state(NodeState::Healthy).await?;
//! sup.counts().await; // answered after the batch that made it Healthy
//! let page = prometheus.render(); // what a scrape of /metrics would serve
//! assert!(page.contains(r#"arbor_nodes{state="healthy"} 1"#), "{page}");
//! # sup.shutdown().await.into_result()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Big trees
//!
//! A node takes about 600 bytes while it runs (its task, its context, its DN, its runnable's
//! future, its slot in the processor's tree) and a microsecond or two to start on two cores;
//! most of that time is memory: allocations, and the kernel faulting in pages never touched
//! before. Past a few tens of thousands of nodes two choices matter:
//!
//! - Ask [`Supervisor::counts`], not [`Supervisor::status`], how a tree is doing: the counts are
//!   kept as the tree changes and cost the same for any size; a status is a snapshot of every
//!   node.
//! - Choose the global allocator. glibc's, on a multi-thread runtime's workers, grows each
//!   thread's heap by what it needs at the time (one `mprotect` call every few allocations) and
//!   takes a lock to free what another worker allocated; both show in a big start-up's
//!   profile. Side by side on a 2-core machine, trees of 32,767 to 262,143 nodes started 1.6 to
//!   1.8 times faster with [mimalloc](https://docs.rs/mimalloc) as the global allocator, and 3
//!   to 4 times faster with its purging off as well (`MIMALLOC_PURGE_DELAY=-1`, which keeps
//!   freed pages instead of handing them back to the kernel after 10 ms); a million-node tree
//!   was no faster, bound by the machine's page faults. `docs/benchmarks.md` has the figures
//!   and the profiles.
//!
//! # Example
//!
//! ```
//! use arbor::{Context, Group, Signal, Supervisor};
//!
//! async fn db(ctx: Context) -> anyhow::Result<()> {
//!     ctx.signal(Signal::Healthy)?;
//!     ctx.cancelled().await; // serve until asked to stop
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> anyhow::Result<()> {
//! let sup = Supervisor::new(|ctx: Context| async move {
//!     ctx.run_group(Group::new().add("db", db).add("api", db))?;
//!     ctx.run("metrics", db)?;
//!     ctx.signal(Signal::Healthy)?;
//!     ctx.signal(Signal::Done)?;
//!     Ok(())
//! });
//! // ... serve until Ctrl-C ...
//! let report = sup.shutdown().await; // cancels everything, waits, reports stuck nodes
//! report.into_result()?;
//! # Ok(())
//! # }
//! ```

mod backoff;
mod bounce;
mod builder;
mod cancel;
mod child;
mod child_names;
mod clock;
mod context;
mod counts;
mod error;
mod events;
mod gc;
mod group;
mod handoff;
#[cfg(feature = "invariants")]
mod invariants;
mod lanes;
mod limit;
mod link;
mod message;
mod metrics;
mod name;
mod node;
mod processor;
mod report;
mod runnable;
mod signal;
mod state;
mod status;
mod supervisor;
mod task;
mod tree;
mod unwind;
mod watch;

pub use backoff::{Backoff, BackoffDelays};
pub use bounce::Bounce;
pub use builder::Builder;
pub use child::{Child, Restart, Significant, StopTimeout};
pub use context::Context;
pub use counts::StateCounts;
pub use error::Error;
pub use events::{Event, EventStream};
pub use group::{Group, Strategy};
pub use limit::RestartLimit;
pub use name::{Dn, Name, NameError};
pub use report::{PanicReport, ShutdownReport};
pub use runnable::{RunFuture, Runnable};
pub use signal::Signal;
pub use state::NodeState;
pub use status::{NodeStatus, TreeStatus};
pub use supervisor::Supervisor;
pub use watch::Watch;
