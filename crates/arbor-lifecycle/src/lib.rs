//! Task lifecycles for [arbor] (the Nomad seed): the tasks of one group run in stages.
//!
//! A [`TaskGroup`] is a [`Runnable`](arbor::Runnable) whose [`Task`]s are ordinary children of
//! its node, so any runnable (an async fn, an `arbor-process` command, a gRPC server) can be a
//! task, and the tree restarts, stops, shows and measures each one as it does any node.
//!
//! # Stages
//!
//! ```text
//!  init ──► prestart ──────────────► main ──────────► poststart ──► wait ──► poststop
//!           jobs run to success      main tasks       jobs and      (leader   jobs run to
//!           sidecars become Healthy  start            sidecars      exits,    their end
//!                                                     start         all main
//!           │ sidecars keep running through main, poststart and wait │ end, or told to stop)
//! ```
//!
//! - **prestart**: main tasks may start once every prestart job ([`Hook::Prestart`], not a
//!   sidecar) has succeeded and every prestart [sidecar](Task::sidecar) is Healthy. A job that
//!   fails is retried by its [`RestartPolicy`]; main waits until it succeeds, or the group
//!   fails.
//! - **main**: the main tasks start together; the stage lasts until each has run (is Healthy,
//!   or has ended). The group's node then signals Healthy.
//! - **poststart**: poststart tasks start; the stage lasts until its jobs have succeeded and
//!   its sidecars are Healthy.
//! - **wait**: until the [leader](Task::leader) exits, every main task has ended cleanly, or
//!   the group is told to stop (a shutdown, its parent's death, a task that used up its
//!   attempts with [`Mode::Fail`]).
//! - **poststop**: the other tasks are stopped in order (below); then the poststop tasks run,
//!   uncancelled even during a shutdown, each until it ends. During a shutdown each has its
//!   [kill timeout](Task::kill_timeout) to finish, is then told to stop, and is aborted after
//!   its kill timeout again. They run at most once while the group stops.
//!
//! A stage with no tasks is skipped. Each stage entered is logged, shown as the note `stage` in
//! the group node's status, and sent to [`TaskGroup::stages`].
//!
//! # Restarts
//!
//! Each task's [`RestartPolicy`] is Nomad's `restart` block, applied by the core: the delay is
//! the task's backoff, attempts within the interval its group's
//! [`RestartLimit`](arbor::RestartLimit). With [`Mode::Fail`] a restart too many is a death of the task
//! group's node, which its parent sees like any other; with [`Mode::Delay`] the restart waits
//! for the interval instead ([`RestartLimit::or_wait`](arbor::RestartLimit::or_wait)). A job
//! that succeeds is not restarted; a sidecar is restarted whenever it ends. A task's failure
//! restarts that task alone.
//!
//! # Ending and stopping
//!
//! When the leader exits, or every main task has ended cleanly, the group stops the rest and
//! ends: Done if the leader (or every main task) succeeded, a death naming the leader's error
//! otherwise. Whether it ends or is told to stop, the order is the seed's: the leader first,
//! then the other main and poststart tasks, then the sidecars, then the poststop tasks run,
//! each batch once the one before has stopped. Each task may take its kill timeout to stop and
//! is then aborted, which a shutdown reports in
//! [`ShutdownReport::stuck`](arbor::ShutdownReport::stuck). The group stands on the core's
//! [`Context::defer_children_stop`](arbor::Context::defer_children_stop).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use arbor::{Context, Signal, Supervisor};
//! use arbor_lifecycle::{Hook, Stage, Task, TaskGroup};
//!
//! async fn migrate(_ctx: Context) -> anyhow::Result<()> { Ok(()) }
//! async fn serve(ctx: Context) -> anyhow::Result<()> {
//!     ctx.signal(Signal::Healthy)?;
//!     ctx.cancelled().await;
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> anyhow::Result<()> {
//! let web = TaskGroup::new([
//!     Task::new("migrate", migrate).hook(Hook::Prestart),
//!     Task::new("proxy", serve).hook(Hook::Prestart).sidecar(),
//!     Task::new("server", serve),
//! ])?;
//! let mut stages = web.stages();
//! let sup = Supervisor::new(move |ctx: Context| {
//!     let web = web.clone();
//!     async move {
//!         ctx.run("web", web)?;
//!         ctx.signal(Signal::Healthy)?;
//!         ctx.cancelled().await;
//!         Ok(())
//!     }
//! });
//! while stages.recv().await?.stage != Stage::Wait {}
//! sup.shutdown().await.into_result()?;
//! # Ok(())
//! # }
//! ```

mod coordinator;
mod error;
mod group;
mod restart;
mod stage;
mod task;

pub use error::Error;
pub use group::TaskGroup;
pub use restart::{Mode, RestartPolicy};
pub use stage::{Stage, StageChange};
pub use task::{Hook, Task};
