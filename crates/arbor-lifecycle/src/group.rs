//! The task group: its tasks, checked once, and the runnable that coordinates them.

use std::collections::HashSet;
use std::sync::Arc;

use arbor::{Context, RunFuture, Runnable};
use tokio::sync::broadcast;

use crate::task::Role;
use crate::{Error, Hook, StageChange, Task};

/// How many stage changes a slow [`stages`](TaskGroup::stages) reader may fall behind.
const STAGE_BACKLOG: usize = 64;

/// Tasks that run in stages (Nomad's task lifecycle), as one [`Runnable`]: give it to
/// [`Context::run`] or [`Context::run_child`](arbor::Context::run_child) like any other.
/// Each task is an ordinary child of the group's node (`root.web.migrate`); see the
/// [crate docs](crate) for the stages and the stop order.
///
/// Cloning is cheap and shares the stage channel.
#[derive(Clone, Debug)]
pub struct TaskGroup {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) tasks: Vec<Task>,
    pub(crate) stages: broadcast::Sender<StageChange>,
}

impl TaskGroup {
    /// A group of `tasks`.
    ///
    /// # Errors
    ///
    /// [`Error`] for a group without a main task, two tasks with one name, more than one
    /// leader or a leader that is not a main task, a poststop sidecar, and a restart policy
    /// with a zero interval or delay. Names themselves are checked by the tree when the group
    /// starts them (a bad one is the group's death, with the tree's error).
    pub fn new(tasks: impl IntoIterator<Item = Task>) -> Result<TaskGroup, Error> {
        let tasks: Vec<Task> = tasks.into_iter().collect();
        let mut names = HashSet::new();
        let mut leader = None;
        for task in &tasks {
            if !names.insert(task.name()) {
                return Err(Error::DuplicateTask {
                    name: task.name().to_owned(),
                });
            }
            if task.leader {
                let reason = if task.hook != Hook::Main {
                    Some("the leader must be a main task")
                } else if leader.is_some() {
                    Some("a group has at most one leader")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(Error::BadLeader {
                        name: task.name().to_owned(),
                        reason,
                    });
                }
                leader = Some(task.name());
            }
            if task.hook == Hook::Poststop && task.sidecar {
                return Err(Error::PoststopSidecar {
                    name: task.name().to_owned(),
                });
            }
            if let Some(reason) = task.restart.problem() {
                return Err(Error::BadRestart {
                    name: task.name().to_owned(),
                    reason,
                });
            }
        }
        if !tasks.iter().any(|t| t.role() == Role::Main) {
            return Err(Error::NoMainTask);
        }
        let (stages, _) = broadcast::channel(STAGE_BACKLOG);
        Ok(TaskGroup {
            inner: Arc::new(Inner { tasks, stages }),
        })
    }

    /// The stages every run of this group enters from now on, in order. A reader that falls
    /// more than 64 changes behind loses the oldest (`RecvError::Lagged`). Each stage is
    /// also logged, and shown in the group node's status as the note `stage`.
    pub fn stages(&self) -> broadcast::Receiver<StageChange> {
        self.inner.stages.subscribe()
    }

    /// The tasks, in the order given.
    pub fn tasks(&self) -> &[Task] {
        &self.inner.tasks
    }
}

impl Runnable for TaskGroup {
    fn run(&self, ctx: Context) -> RunFuture {
        Box::pin(crate::coordinator::run(self.inner.clone(), ctx))
    }
}
