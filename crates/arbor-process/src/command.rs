//! The builder users hand to `ctx.run`: what to start, and how to tell it is ready.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, RunFuture, Runnable};
use regex::Regex;

use crate::readiness::Readiness;
use crate::{OutputLine, UnixSignal};

/// A program to run as a node of an arbor tree, restarted by the tree when it exits.
///
/// Built like [`std::process::Command`], by value so that it reads as one expression:
/// `ctx.run("nginx", Command::new("nginx").arg("-g").arg("daemon off;"))?`. The program is
/// started directly with its list of arguments; no shell parses anything (pass `sh` as the
/// program, with `-c` and a script as arguments, when you do want a shell).
///
/// Each run of the node starts the program afresh; see the [crate docs](crate) for what a run
/// does, from spawning to the SIGTERM / SIGKILL sequence on cancellation.
///
/// # Defaults
///
/// | setting | default |
/// |---|---|
/// | environment, working directory | inherited from this process |
/// | stdin | `/dev/null` |
/// | [`grace_period`](Command::grace_period) | 5 s |
/// | readiness ([`ready_on_line`](Command::ready_on_line), [`ready_on_port`](Command::ready_on_port), [`ready_after`](Command::ready_after)) | none: Healthy once spawned |
/// | [`ready_timeout`](Command::ready_timeout) | 30 s |
/// | [`max_line_len`](Command::max_line_len) | 8 KiB |
/// | [`stop_signal`](Command::stop_signal) | SIGTERM |
/// | [`on_output`](Command::on_output) | none: output goes to `tracing` only |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use arbor_process::{Command, Regex};
///
/// # fn main() -> Result<(), regex::Error> {
/// let web = Command::new("python3")
///     .args(["-m", "http.server", "8000", "--bind", "127.0.0.1"])
///     .env("PYTHONUNBUFFERED", "1")
///     .current_dir("/srv/www")
///     .ready_on_port(8000)
///     .ready_timeout(Duration::from_secs(10))
///     .grace_period(Duration::from_secs(2));
///
/// let worker = Command::new("worker")
///     .arg("--queue=jobs")
///     .env_clear()
///     .env("PATH", "/usr/bin:/bin")
///     .ready_on_line(Regex::new(r"^worker \d+ listening")?);
/// # let _ = (web, worker);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Command {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    /// Applied in order, as `std::process::Command` would: a clear drops earlier sets.
    pub(crate) env: Vec<EnvChange>,
    pub(crate) current_dir: Option<PathBuf>,
    pub(crate) grace_period: Duration,
    pub(crate) readiness: Option<Readiness>,
    pub(crate) ready_timeout: Duration,
    pub(crate) max_line_len: usize,
    /// Meant to finish: an exit with code 0 is a clean end (`job`).
    pub(crate) job: bool,
    /// What the process group is sent first when the node is cancelled.
    pub(crate) stop_signal: UnixSignal,
    /// Where each line of output goes besides `tracing`.
    pub(crate) output: Option<OutputSink>,
}

/// A receiver of output lines, shared by every run of a command.
#[derive(Clone)]
pub(crate) struct OutputSink(pub(crate) Arc<dyn Fn(OutputLine<'_>) + Send + Sync>);

impl fmt::Debug for OutputSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OutputSink")
    }
}

#[derive(Debug, Clone)]
pub(crate) enum EnvChange {
    Set(OsString, OsString),
    Remove(OsString),
    Clear,
}

impl Command {
    /// A command that runs `program`, found on `PATH` unless it contains a `/`.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
            grace_period: Duration::from_secs(5),
            readiness: None,
            ready_timeout: Duration::from_secs(30),
            max_line_len: 8 * 1024,
            job: false,
            stop_signal: UnixSignal::SIGTERM,
            output: None,
        }
    }

    /// Adds one argument. It reaches the program as it is: no quoting, no splitting.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds several arguments, each as it is.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the program.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push(EnvChange::Set(
            key.as_ref().to_owned(),
            value.as_ref().to_owned(),
        ));
        self
    }

    /// Sets several environment variables for the program.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (key, value) in vars {
            self = self.env(key, value);
        }
        self
    }

    /// Removes an environment variable, inherited or set earlier.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push(EnvChange::Remove(key.as_ref().to_owned()));
        self
    }

    /// Starts the program with an empty environment, but for variables set after this call.
    pub fn env_clear(mut self) -> Self {
        self.env.push(EnvChange::Clear);
        self
    }

    /// Runs the program in `dir`. A relative program path is resolved against `dir` on Linux
    /// (a documented platform difference of `std::process::Command::current_dir`).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// How long the program's process group has between SIGTERM and SIGKILL when the node is
    /// cancelled (default 5 s). Keep it below the supervisor's shutdown timeout, or a shutdown
    /// reports the node as stuck before the SIGKILL is sent.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// Signals Healthy only once a line of stdout or stderr matches `pattern` (anywhere in
    /// the line, unless anchored). Replaces an earlier readiness check.
    pub fn ready_on_line(mut self, pattern: Regex) -> Self {
        self.readiness = Some(Readiness::Line(pattern));
        self
    }

    /// Signals Healthy only once `127.0.0.1:port` accepts a TCP connection. Replaces an
    /// earlier readiness check. For another address, see [`ready_on_addr`](Command::ready_on_addr).
    pub fn ready_on_port(self, port: u16) -> Self {
        self.ready_on_addr(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Signals Healthy only once `addr` accepts a TCP connection (closed again at once). The
    /// address is probed every few tens of milliseconds until then. Replaces an earlier
    /// readiness check.
    pub fn ready_on_addr(mut self, addr: SocketAddr) -> Self {
        self.readiness = Some(Readiness::Port(addr));
        self
    }

    /// Signals Healthy only once the process has stayed up for `uptime`. Replaces an earlier
    /// readiness check.
    ///
    /// Use it for a program that has no line or port to watch but may crash at start-up:
    /// arbor resets a node's backoff when it becomes Healthy, so a program that is Healthy as
    /// soon as it is spawned and then crashes at once is restarted after the *initial* backoff
    /// every time. With `ready_after`, such a crash loop never reaches Healthy and its restarts
    /// back off up to the maximum interval. An exit before then is
    /// [`Error::ExitedBeforeReady`](crate::Error::ExitedBeforeReady); the ready timeout does
    /// not apply.
    pub fn ready_after(mut self, uptime: Duration) -> Self {
        self.readiness = Some(Readiness::Uptime(uptime));
        self
    }

    /// How long a readiness check may take (default 30 s). If it has not passed by then, the
    /// process is stopped (SIGTERM, grace period, SIGKILL) and the run is a death with
    /// [`Error::NotReady`](crate::Error::NotReady). Without a readiness check, unused.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// The longest line, in bytes, logged as one event (default 8 KiB, at least 1). A longer
    /// line is logged in pieces of this size, each but the last with `partial = true`, so a
    /// program that never writes a newline costs bounded memory.
    pub fn max_line_len(mut self, bytes: usize) -> Self {
        self.max_line_len = bytes.max(1);
        self
    }

    /// Makes it a job, a program meant to finish (a migration, a warm-up, a cleanup): once it
    /// is ready, an exit with code 0 is a clean end, and the run signals Done and returns
    /// `Ok(())`, so a [transient or temporary](arbor::Restart) node is Done and not
    /// restarted. Any other exit is still [`Error::Exited`](crate::Error::Exited), a death.
    pub fn job(mut self) -> Self {
        self.job = true;
        self
    }

    /// The signal that asks the program to stop when the node is cancelled (default SIGTERM),
    /// sent to its whole process group; SIGKILL follows after the
    /// [grace period](Command::grace_period). For programs that stop on another signal:
    /// SIGINT for many interactive tools, SIGQUIT for nginx's graceful stop.
    pub fn stop_signal(mut self, signal: UnixSignal) -> Self {
        self.stop_signal = signal;
        self
    }

    /// Hands every line of output (or piece of a long line, as `tracing` gets it) to `sink`
    /// as well, in the order the program wrote it on each stream: for a caller that keeps the
    /// output itself, to show it or to buffer it. `sink` runs on the reader's task, between
    /// two reads of the pipe: keep it short and never block in it, or the program stalls on
    /// a full pipe. The same sink serves every run of the command. Replaces an earlier sink.
    pub fn on_output(mut self, sink: impl Fn(OutputLine<'_>) + Send + Sync + 'static) -> Self {
        self.output = Some(OutputSink(Arc::new(sink)));
        self
    }

    /// The program, as given to [`new`](Command::new).
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The program's name for messages.
    pub(crate) fn program_name(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    /// The tokio command for one run: in a new process group, stdin from `/dev/null`, stdout
    /// and stderr piped to our readers.
    pub(crate) fn to_tokio(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args);
        for change in &self.env {
            match change {
                EnvChange::Set(key, value) => cmd.env(key, value),
                EnvChange::Remove(key) => cmd.env_remove(key),
                EnvChange::Clear => cmd.env_clear(),
            };
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so that one signal reaches everything it starts.
            .process_group(0)
            // Our group guard kills the whole group on drop; tokio's would kill the leader only.
            .kill_on_drop(false);
        crate::dispositions::reset_in_child(&mut cmd);
        cmd
    }
}

impl Runnable for Command {
    fn run(&self, ctx: Context) -> RunFuture {
        Box::pin(crate::run::run(self.clone(), ctx))
    }
}
