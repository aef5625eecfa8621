//! The process group a supervised program runs in, and the guard that kills it.
//!
//! The child is spawned as the leader of a new process group (`setpgid(0, 0)`), so its pid is
//! also the group id, and everything it starts (unless it leaves the group on purpose, with
//! `setsid` or `setpgid`) is in the group too. Signalling the group reaches them all.
//!
//! # Invariants
//!
//! 1. While the guard is armed, the group id names our group: the leader has not been reaped
//!    yet (a zombie leader still holds its pid, so the id cannot be reused), or it was reaped
//!    a moment ago and the group is killed right after ([`ProcessGroup::kill_and_disarm`]).
//!    The one window left is between reaping the leader and that kill, when a group whose
//!    members had all exited could in theory have its id reused; pids are handed out in
//!    sequence, so that needs the pid space to wrap around within that moment.
//! 2. Dropping an armed guard SIGKILLs the group. So a run future that is dropped (aborted at
//!    the shutdown deadline, or returned early with `?`) never leaves processes behind; tokio
//!    reaps the dropped leader in the background.

use std::fmt;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// A process group we started, killed with SIGKILL when dropped unless disarmed.
pub(crate) struct ProcessGroup {
    /// `None` once disarmed.
    id: Option<Pid>,
}

impl ProcessGroup {
    /// The group led by the child with this pid (spawned with `process_group(0)`).
    pub(crate) fn led_by(pid: u32) -> Option<Self> {
        let raw = i32::try_from(pid).ok()?;
        Some(ProcessGroup {
            id: Some(Pid::from_raw(raw)),
        })
    }

    /// Sends `signal` to every process in the group. A group that is already empty is fine.
    pub(crate) fn signal(&self, signal: Signal) {
        if let Some(id) = self.id {
            send(id, signal);
        }
    }

    /// SIGKILLs whatever is left of the group and disarms the guard. Call right after the
    /// leader was reaped: nothing it started may outlive it.
    pub(crate) fn kill_and_disarm(&mut self) {
        if let Some(id) = self.id.take() {
            send(id, Signal::SIGKILL);
        }
    }
}

fn send(id: Pid, signal: Signal) {
    match killpg(id, signal) {
        // ESRCH: no process is left in the group, which is what we wanted.
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => {
            tracing::warn!(pgid = id.as_raw(), signal = %signal, error = %err, "cannot signal the process group")
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill_and_disarm();
    }
}

impl fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessGroup")
            .field("id", &self.id.map(Pid::as_raw))
            .finish()
    }
}
