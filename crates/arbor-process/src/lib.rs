//! Supervised subprocesses for [arbor]: a program as a node of the tree.
//!
//! A [`Command`] is an [`arbor::Runnable`]. Hand it to [`Context::run`](arbor::Context::run) and
//! the tree starts the program, watches it, restarts it with backoff when it exits, and stops it
//! (with its whole process tree) when the node is cancelled or the supervisor shuts down:
//!
//! ```no_run
//! use arbor::{Context, Signal, Supervisor};
//! use arbor_process::Command;
//!
//! # #[tokio::main]
//! # async fn main() -> anyhow::Result<()> {
//! let sup = Supervisor::new(|ctx: Context| async move {
//!     ctx.run("nginx", Command::new("nginx").arg("-g").arg("daemon off;"))?;
//!     ctx.signal(Signal::Healthy)?;
//!     ctx.signal(Signal::Done)?;
//!     Ok(())
//! });
//! tokio::signal::ctrl_c().await?;
//! sup.shutdown().await.into_result()?;
//! # Ok(())
//! # }
//! ```
//!
//! # What one run does
//!
//! Every (re)start of the node is one run:
//!
//! 1. **Spawn** the program with its argument list (no shell), its environment and working
//!    directory, stdin from `/dev/null`, in a **new process group** led by the child, with
//!    every signal at its default action (a signal this process ignores, as under `nohup`,
//!    is not passed on, so the program can handle its stop signal). A spawn failure (missing program, not executable, bad directory) is a death:
//!    `cannot start "nginx": No such file or directory (os error 2)`.
//! 2. **Ready**: without a readiness check the node signals Healthy as soon as the process is
//!    spawned. With [`Command::ready_on_line`] it waits for a line of stdout or stderr that
//!    matches a regex; with [`Command::ready_on_port`] / [`ready_on_addr`](Command::ready_on_addr)
//!    for a TCP port that accepts a connection. Past [`Command::ready_timeout`] the process is
//!    stopped and the run is a death: `"web" (pid 4242) was not ready within 2s (waiting for
//!    a connection accepted on 127.0.0.1:8000)`. With [`Command::ready_after`] it waits until
//!    the process has stayed up for a while.
//! 3. **Serve** until the process exits or the node is cancelled.
//! 4. **End**:
//!
//! | what happens | the run returns | the node becomes |
//! |---|---|---|
//! | the process exits (any code, even 0) while not cancelled | [`Error::Exited`]: `"sh" (pid 42) exited with code 3`, `... killed by signal 9 (SIGKILL)` | Dead, restarted after backoff |
//! | it exits before it was ready | [`Error::ExitedBeforeReady`] | Dead |
//! | the node is cancelled | `Ok(())` after SIGTERM (or the [stop signal](Command::stop_signal)) to the group, up to [`Command::grace_period`], then SIGKILL | Canceled (restarted at once unless shutting down) |
//!
//! | a [job](Command::job) exits with code 0 once ready | `Ok(())`, having signalled Done | Done (if the child is transient or temporary) |
//!
//! A process is a long-running service by default: any exit the tree did not ask for is a
//! death. A program that is meant to finish is a [`Command::job`].
//!
//! **Crash loops and backoff.** arbor resets a node's backoff when it becomes Healthy. A
//! program without a readiness check is Healthy as soon as it is spawned, so if it crashes at
//! start-up every time, it is restarted after the *initial* backoff every time. Give such a
//! program a readiness check, if only [`Command::ready_after`] (Healthy once it has stayed up
//! for a while): a run that dies before it is ready does not reset the backoff, and the
//! restarts slow down to the backoff's maximum interval.
//!
//! # No strays, no zombies
//!
//! - Signals go to the **process group**, so a shell script's children, a server's workers and
//!   any other descendant that stays in the group are stopped with it.
//! - Once the leader has exited, whatever is left of its group is **SIGKILLed at once**, on
//!   every path: a crash, a stop, a readiness timeout. A restarted node never finds the
//!   previous run's background processes still holding its port or its files.
//! - The leader is always **reaped** (waited for) before the run returns.
//! - If the run's future is **dropped** (a supervisor aborting a stuck node at its shutdown
//!   deadline), a guard SIGKILLs the group; tokio reaps the leader in the background.
//!
//! Not covered: a descendant that leaves the group on purpose (`setsid`, `setpgid`, a
//! daemonizing program) is out of reach of group signals; run such programs in their
//! foreground mode (`nginx -g 'daemon off;'`). The killed descendants are reparented to PID 1
//! (or the nearest subreaper), which reaps them; in a container whose PID 1 does not reap,
//! they stay as zombies there, dead and holding nothing but a pid.
//!
//! # Output in tracing
//!
//! stdout and stderr are read continuously, line by line, and each line is an `INFO` event
//! with target `arbor_process::output`, emitted in the node's span, so it carries the node's
//! `dn`, with the field `stream = "stdout"` or `"stderr"` and the line as the message. With
//! `tracing_subscriber::fmt` a line reads:
//!
//! ```text
//! INFO node{dn=root.web}: arbor_process::output: GET /index.html 200 stream="stderr"
//! ```
//!
//! A line longer than [`Command::max_line_len`] (8 KiB) is logged in pieces of that size, each
//! but the last with `partial = true`; the pipes are always drained, so a program that floods
//! its output or never writes a newline neither blocks nor makes the reader grow. Invalid
//! UTF-8 is replaced with `U+FFFD`. [`Command::on_output`] hands each line to a sink of the
//! caller's too, for a program that shows or keeps the output itself (as the `arbor` command
//! does).
//!
//! # Example
//!
//! A server that is Healthy once it prints its banner, supervised until shutdown:
//!
//! ```
//! use std::time::Duration;
//! use arbor::{Context, NodeState, Signal, Supervisor};
//! use arbor_process::{Command, Regex};
//!
//! # #[tokio::main]
//! # async fn main() -> anyhow::Result<()> {
//! let server = Command::new("sh")
//!     .args(["-c", "echo 'listening on :8000'; exec sleep 1000"])
//!     .ready_on_line(Regex::new("^listening on")?)
//!     .grace_period(Duration::from_secs(1));
//!
//! let sup = Supervisor::new(move |ctx: Context| {
//!     let server = server.clone();
//!     async move {
//!         ctx.run("server", server)?;
//!         ctx.signal(Signal::Healthy)?;
//!         ctx.signal(Signal::Done)?;
//!         Ok(())
//!     }
//! });
//! let mut events = sup.events();
//! while let Some(event) = events.next().await {
//!     if event.dn == "root.server" && event.to == NodeState::Healthy {
//!         break;
//!     }
//! }
//! sup.shutdown().await.into_result()?; // SIGTERM to the group; `sleep` exits at once
//! # Ok(())
//! # }
//! ```
//!
//! # Platform
//!
//! Unix only (process groups and signals); tested on Linux.

mod command;
mod dispositions;
mod error;
mod exit;
mod group;
mod output;
mod readiness;
mod run;

pub use command::Command;
pub use error::Error;
pub use exit::Exit;
/// The signals of [`Command::stop_signal`], re-exported from the `nix` crate.
pub use nix::sys::signal::Signal as UnixSignal;
pub use output::{OutputLine, Stream};
/// The regular expressions of [`Command::ready_on_line`], re-exported from the `regex` crate.
pub use regex::Regex;
