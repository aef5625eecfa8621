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
//! | state | meaning | entered when |
//! |---|---|---|
//! | [`New`](NodeState::New) | started, nothing signalled; the only state that may start children | (re)started |
//! | [`Healthy`](NodeState::Healthy) | set up, children started, serving | `signal(Healthy)` while New |
//! | [`Done`](NodeState::Done) | finished, needs no loop; its children keep running | returned `Ok` after `signal(Done)` |
//! | [`Dead`](NodeState::Dead) | returned or panicked when it should not have | returned while New or Healthy and not cancelled; `Err` after Done; panicked; illegal signal |
//! | [`Canceled`](NodeState::Canceled) | returned after it was told to stop | returned, with any result, after its cancellation |
//!
//! - Healthy and Done reset the node's [`Backoff`]. A death's backoff is owed by the dead node
//!   and by every member of its group: none of them starts again before it has passed, and a
//!   cancelled wait is still owed, so no restart loop is ever tight. Canceled nodes that owe
//!   nothing restart at once; nothing restarts once the supervisor shuts down.
//! - A node restarts only when its whole subtree has stopped; the restart clears its children,
//!   and its runnable starts them again.
//! - A Done node is restarted only when its group or an ancestor must restart.
//! - Each (re)start is a new run; anything from an earlier run (a late return, a cancelled
//!   backoff) is ignored, so a node never runs twice at once.
//!
//! # Misuse
//!
//! Bad names, duplicates, children after New and illegal signals return an [`Error`] and log a
//! line with the DN; they never abort the process. A panicking runnable is a dead node (unless
//! [`Builder::propagate_panics`] is set). Time goes through tokio's clock, so tests can pause it.
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
mod cancel;
mod clock;
mod context;
mod error;
mod events;
mod gc;
mod group;
#[cfg(feature = "invariants")]
mod invariants;
mod message;
mod name;
mod node;
mod processor;
mod runnable;
mod signal;
mod status;
mod supervisor;
mod task;
mod tree;
mod unwind;

pub use backoff::Backoff;
pub use context::Context;
pub use error::Error;
pub use events::{Event, Events};
pub use group::Group;
pub use name::{Dn, MAX_NAME_LEN};
pub use node::NodeState;
pub use runnable::{RunFuture, Runnable};
pub use signal::Signal;
pub use status::{NodeStatus, Status, Summary};
pub use supervisor::{Builder, PanicReport, ShutdownReport, Supervisor};
