//! One task of a group: a runnable with its lifecycle hook, its sidecar flag, its restart
//! policy and its kill timeout.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arbor::Runnable;

use crate::RestartPolicy;

/// When a task runs, relative to the group's main tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Hook {
    /// A main task (the default): starts once the prestart tasks allow it.
    #[default]
    Main,
    /// Before the main tasks: an init job that must succeed, or a sidecar that must be Healthy.
    Prestart,
    /// Once the main tasks run: a warm-up job, or a sidecar that needs the main tasks.
    Poststart,
    /// Once every other task has stopped: cleanup, deregistration. Never a sidecar.
    Poststop,
}

/// One task: any [`Runnable`] (an async fn, an `arbor-process` command, a gRPC server) as an
/// ordinary child of the group's node, named `name`.
///
/// A task is **ephemeral** unless it is a [`sidecar`](Task::sidecar): it runs to completion,
/// is restarted after a failure (by its [`RestartPolicy`]) and not after a success. A sidecar
/// is long-running: it is restarted whenever it ends, for as long as the group runs. A
/// runnable ends "successfully" by returning `Ok(())` (an `arbor-process` command: a
/// [job](https://docs.rs/arbor-process) that exits with 0).
#[must_use = "a task does nothing until it is added to a group"]
#[derive(Clone)]
pub struct Task {
    pub(crate) name: Cow<'static, str>,
    pub(crate) runnable: Arc<dyn Runnable>,
    pub(crate) hook: Hook,
    pub(crate) sidecar: bool,
    pub(crate) leader: bool,
    pub(crate) restart: RestartPolicy,
    pub(crate) kill_timeout: Duration,
}

impl Task {
    /// A main, ephemeral task called `name` (a node name: `^[a-z0-9_]{1,64}$`).
    pub fn new(name: impl Into<Cow<'static, str>>, runnable: impl Runnable) -> Self {
        Task {
            name: name.into(),
            runnable: Arc::new(runnable),
            hook: Hook::Main,
            sidecar: false,
            leader: false,
            restart: RestartPolicy::default(),
            kill_timeout: Duration::from_secs(5),
        }
    }

    /// Its lifecycle hook (default [`Hook::Main`]).
    pub fn hook(mut self, hook: Hook) -> Self {
        self.hook = hook;
        self
    }

    /// Makes it a sidecar: long-running, restarted whenever it ends while the group runs, and
    /// stopped after the main and poststart tasks.
    pub fn sidecar(mut self) -> Self {
        self.sidecar = true;
        self
    }

    /// Makes it the group's leader (a main task; at most one): when it exits, in any way, the
    /// other tasks are stopped and the group ends: Done if the leader succeeded, else a death
    /// of the group's node with the leader's error (its parent's policy then applies). The
    /// leader itself is never restarted (its restart policy is not used), and it is the
    /// first task stopped.
    pub fn leader(mut self) -> Self {
        self.leader = true;
        self
    }

    /// How it is restarted after a failure (default: [`RestartPolicy::default`]).
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// How long it may take to stop once told to (default 5 s, Nomad's `kill_timeout`),
    /// before it is aborted. A poststop task running while the group shuts down has this long
    /// to finish before it is told to stop.
    pub fn kill_timeout(mut self, timeout: Duration) -> Self {
        self.kill_timeout = timeout;
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The part of the group it belongs to.
    pub(crate) fn role(&self) -> Role {
        match (self.hook, self.sidecar) {
            (Hook::Prestart, false) => Role::PrestartEphemeral,
            (Hook::Prestart, true) => Role::PrestartSidecar,
            (Hook::Main, _) => Role::Main,
            (Hook::Poststart, false) => Role::PoststartEphemeral,
            (Hook::Poststart, true) => Role::PoststartSidecar,
            (Hook::Poststop, _) => Role::Poststop,
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("name", &self.name)
            .field("hook", &self.hook)
            .field("sidecar", &self.sidecar)
            .field("leader", &self.leader)
            .field("restart", &self.restart)
            .field("kill_timeout", &self.kill_timeout)
            .finish_non_exhaustive()
    }
}

/// A task's place in the coordination, as the seed's lifecycle stages: hook and sidecar flag
/// together (a sidecar main task starts with the other main tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    PrestartEphemeral,
    PrestartSidecar,
    Main,
    PoststartEphemeral,
    PoststartSidecar,
    Poststop,
}
