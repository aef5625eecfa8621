//! Why a task group could not be made.

/// A task group that cannot run as declared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// It has no main task.
    #[error("a task group needs at least one main task")]
    NoMainTask,
    /// Two tasks have the same name.
    #[error("two tasks are called {name:?}")]
    DuplicateTask {
        /// The name.
        name: String,
    },
    /// More than one task is the leader, or the leader is not a main task.
    #[error("task {name:?} cannot be the leader: {reason}")]
    BadLeader {
        /// The task.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A poststop task is marked as a sidecar.
    #[error("poststop task {name:?} cannot be a sidecar: nothing runs after it")]
    PoststopSidecar {
        /// The task.
        name: String,
    },
    /// A task's restart policy cannot be applied.
    #[error("task {name:?}: {reason}")]
    BadRestart {
        /// The task.
        name: String,
        /// Why.
        reason: &'static str,
    },
}
