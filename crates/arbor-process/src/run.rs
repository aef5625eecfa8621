//! One run of a [`Command`]: spawn, wait until ready, serve, stop. It reads like the table in
//! the crate docs:
//!
//! | what happens | the run |
//! |---|---|
//! | spawn fails | returns [`Error::Spawn`] (a death) |
//! | readiness passes (or there is none) | signals Healthy, serves |
//! | readiness times out | stops the group, returns [`Error::NotReady`] |
//! | the process exits, not cancelled | kills the rest of the group, returns [`Error::Exited`] or [`Error::ExitedBeforeReady`] |
//! | the node is cancelled | SIGTERM, grace period, SIGKILL, returns `Ok` (Canceled) |
//!
//! # Invariants
//!
//! 1. Every way out of a run, the run future being dropped included, kills the whole process
//!    group (the [`ProcessGroup`] guard), and every way but a drop reaps the leader first.
//! 2. The output readers run from spawn to the end of the run, so the pipes are always drained.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use arbor::{Context, Signal};
use nix::sys::signal::Signal as Sig;
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::group::ProcessGroup;
use crate::output::{pump, ReadyLine, Stream};
use crate::readiness::{line_seen, port_accepts, Readiness};
use crate::{Command, Error, Exit};

/// After the group is gone, how long the readers may take to log what is left in the pipes. A
/// process that left the group (`setsid`) can hold a pipe open for ever; it is not waited for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the run is ending.
enum Ending {
    /// The node was cancelled.
    Cancelled,
    /// The readiness check did not pass in time.
    NotReady(Readiness),
    /// The process exited by itself; `waiting_for` is set if it was not ready yet.
    Exited { waiting_for: Option<Readiness> },
}

pub(crate) async fn run(cmd: Command, ctx: Context) -> anyhow::Result<()> {
    if ctx.is_cancelled() {
        return Ok(());
    }
    let program = cmd.program_name();
    let mut child = cmd.to_tokio().spawn().map_err(|source| Error::Spawn {
        program: program.clone(),
        current_dir: cmd.current_dir.clone(),
        source,
    })?;
    let Some((pid, group)) = child
        .id()
        .and_then(|pid| Some((pid, ProcessGroup::led_by(pid)?)))
    else {
        // `id()` is only `None` once the child was reaped, which nothing has done yet.
        anyhow::bail!("{program:?} was spawned but has no process id");
    };
    tracing::info!(pid, program = %program, "started");
    ctx.annotate("pid", pid);

    let (ready_line, ready_rx) = match &cmd.readiness {
        Some(Readiness::Line(pattern)) => {
            let (tx, rx) = mpsc::channel(1);
            let check = ReadyLine {
                pattern: pattern.clone(),
                tx,
            };
            (Some(check), Some(rx))
        }
        Some(Readiness::Port(_) | Readiness::Uptime(_)) | None => (None, None),
    };
    let mut readers = JoinSet::new();
    let pipes = [
        (child.stdout.take().map(box_pipe), Stream::Stdout),
        (child.stderr.take().map(box_pipe), Stream::Stderr),
    ];
    for (pipe, stream) in pipes {
        if let Some(pipe) = pipe {
            let sink = cmd.output.clone();
            let reader = pump(pipe, stream, ready_line.clone(), cmd.max_line_len, sink);
            readers.spawn(reader.instrument(ctx.span().clone()));
        }
    }
    // Only the readers may hold senders, so that the channel closes when both have ended.
    drop(ready_line);

    let mut running = Running {
        program,
        pid,
        grace: cmd.grace_period,
        stop_signal: cmd.stop_signal,
        child,
        group,
        readers,
    };
    let ending = running.serve(&ctx, &cmd, ready_rx).await?;
    running.end(&ctx, &cmd, ending).await
}

type Pipe = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

fn box_pipe(pipe: impl tokio::io::AsyncRead + Send + Unpin + 'static) -> Pipe {
    Box::new(pipe)
}

/// A spawned process, its group and its output readers.
struct Running {
    program: String,
    pid: u32,
    grace: Duration,
    stop_signal: Sig,
    child: Child,
    group: ProcessGroup,
    readers: JoinSet<()>,
}

impl Running {
    /// Waits for readiness, signals Healthy, then serves until cancellation or exit.
    ///
    /// # Errors
    ///
    /// Only if signalling Healthy fails, which would be a bug in this crate; the group guard
    /// then kills the group as the run is dropped.
    async fn serve(
        &mut self,
        ctx: &Context,
        cmd: &Command,
        mut ready_rx: Option<mpsc::Receiver<()>>,
    ) -> anyhow::Result<Ending> {
        if let Some(readiness) = &cmd.readiness {
            let ready = async {
                match (readiness, ready_rx.as_mut()) {
                    (Readiness::Line(_), Some(rx)) => line_seen(rx).await,
                    (Readiness::Port(addr), _) => port_accepts(*addr).await,
                    (Readiness::Uptime(uptime), _) => tokio::time::sleep(*uptime).await,
                    // A line check always comes with its receiver (made together in `run`).
                    (Readiness::Line(_), None) => std::future::pending().await,
                }
            };
            let in_time = async {
                match readiness.limit(cmd.ready_timeout) {
                    Some(limit) => tokio::time::timeout(limit, ready).await.is_ok(),
                    None => {
                        ready.await;
                        true
                    }
                }
            };
            tokio::select! {
                biased;
                () = ctx.cancelled() => return Ok(Ending::Cancelled),
                _ = self.child.wait() => {
                    return Ok(Ending::Exited { waiting_for: Some(readiness.clone()) });
                }
                in_time = in_time => {
                    if !in_time {
                        return Ok(Ending::NotReady(readiness.clone()));
                    }
                }
            }
            tracing::info!(pid = self.pid, "ready (got {readiness})");
        }
        ctx.signal(Signal::Healthy)?;
        tokio::select! {
            biased;
            () = ctx.cancelled() => Ok(Ending::Cancelled),
            _ = self.child.wait() => Ok(Ending::Exited { waiting_for: None }),
        }
    }

    /// Stops what is left, reaps the leader, kills the rest of the group, lets the readers
    /// finish, and says what the run amounts to.
    async fn end(mut self, ctx: &Context, cmd: &Command, ending: Ending) -> anyhow::Result<()> {
        let status = match &ending {
            Ending::Cancelled | Ending::NotReady(_) => self.stop().await,
            // Reaped already: tokio's `Child` keeps the status and returns it again.
            Ending::Exited { .. } => self.child.wait().await,
        };
        // The leader is gone (or could not be waited for): nothing it started may stay.
        self.group.kill_and_disarm();
        self.drain_readers().await;
        let status = status.map_err(|source| Error::Wait {
            program: self.program.clone(),
            pid: self.pid,
            source,
        })?;
        let exit = Exit::from(status);
        let (program, pid) = (self.program, self.pid);
        match ending {
            Ending::NotReady(readiness) => Err(Error::NotReady {
                program,
                pid,
                timeout: cmd.ready_timeout,
                waiting_for: readiness.to_string(),
            }
            .into()),
            // Asked to stop, or exited while being asked: either way the node is Canceled.
            Ending::Exited { .. } if ctx.is_cancelled() => {
                tracing::info!(pid, "stopped: {exit}");
                Ok(())
            }
            Ending::Cancelled => {
                tracing::info!(pid, "stopped: {exit}");
                Ok(())
            }
            Ending::Exited {
                waiting_for: Some(readiness),
                ..
            } => Err(Error::ExitedBeforeReady {
                program,
                pid,
                exit,
                waiting_for: readiness.to_string(),
            }
            .into()),
            Ending::Exited {
                waiting_for: None, ..
            } if cmd.job && exit.success() => {
                tracing::info!(pid, "finished: {exit}");
                ctx.signal(Signal::Done)?;
                Ok(())
            }
            Ending::Exited {
                waiting_for: None, ..
            } => Err(Error::Exited { program, pid, exit }.into()),
        }
    }

    /// The stop signal (SIGTERM unless set) to the group, up to the grace period for the
    /// leader to exit, then SIGKILL.
    async fn stop(&mut self) -> io::Result<ExitStatus> {
        let signal = self.stop_signal;
        tracing::info!(pid = self.pid, grace = ?self.grace, "stopping: {signal} to the process group");
        self.group.signal(signal);
        match tokio::time::timeout(self.grace, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::warn!(
                    pid = self.pid,
                    grace = ?self.grace,
                    "still running after the grace period: SIGKILL to the process group"
                );
                self.group.signal(Sig::SIGKILL);
                self.child.wait().await
            }
        }
    }

    async fn drain_readers(&mut self) {
        let readers = &mut self.readers;
        let drained = async { while readers.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
            tracing::warn!(
                pid = self.pid,
                "output still open after the process group ended (a process left the group?); no longer reading it"
            );
            self.readers.abort_all();
        }
    }
}
