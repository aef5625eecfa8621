//! Why a supervised process counts as dead.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Exit;

/// Why a [`Command`](crate::Command) run ended in a death.
///
/// The runnable returns it inside an [`anyhow::Error`], so the node's death message (its error
/// chain) reads e.g. `cannot start "nginx": No such file or directory (os error 2)`; callers
/// that want the details can `downcast_ref::<arbor_process::Error>()`. Following the Rust API
/// guidelines, the OS error is the [`source`](std::error::Error::source), not repeated in the
/// message: print the error with `{:#}` (as arbor does) to see the whole chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program could not be started: missing, not executable, bad working directory...
    #[error("cannot start {program:?}{}", in_dir(.current_dir.as_deref()))]
    Spawn {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// The working directory it was to run in, if one was set: a missing directory
        /// fails the spawn with the same `No such file or directory` as a missing program.
        current_dir: Option<PathBuf>,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The process ended while nobody had asked it to stop.
    #[error("{program:?} (pid {pid}) {exit}")]
    Exited {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// Its process id.
        pid: u32,
        /// Its exit code or signal.
        exit: Exit,
    },
    /// The process ended before its readiness check passed.
    #[error("{program:?} (pid {pid}) {exit} before it was ready (waiting for {waiting_for})")]
    ExitedBeforeReady {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// Its process id.
        pid: u32,
        /// Its exit code or signal.
        exit: Exit,
        /// The readiness check, e.g. `a line matching /ready/ on stdout or stderr`.
        waiting_for: String,
    },
    /// The readiness check did not pass within the ready timeout; the process was stopped.
    #[error(
        "{program:?} (pid {pid}) was not ready within {timeout:?} (waiting for {waiting_for})"
    )]
    NotReady {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// Its process id.
        pid: u32,
        /// The ready timeout.
        timeout: Duration,
        /// The readiness check, e.g. `a line matching /ready/ on stdout or stderr`.
        waiting_for: String,
    },
    /// Waiting for the process failed (the OS refused `waitpid`; should not happen).
    #[error("waiting for {program:?} (pid {pid}) failed")]
    Wait {
        /// The program, as given to [`Command::new`](crate::Command::new).
        program: String,
        /// Its process id.
        pid: u32,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

fn in_dir(dir: Option<&Path>) -> String {
    dir.map(|d| format!(" in {d:?}")).unwrap_or_default()
}
