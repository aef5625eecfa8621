//! The errors of arbor's own API. Runnables themselves return [`anyhow::Result`].

use crate::{Dn, NodeState, Signal};

/// What went wrong when the tree was used against its rules (design §3).
///
/// Every variant names the broken rule and the DN it happened at. None of them aborts the process:
/// the caller gets the error, and a log line carries the DN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A child name is not a valid [`Name`](crate::Name) (`^[a-z0-9_]{1,64}$`).
    #[error("{parent}: invalid child name {name:?}: {reason}")]
    InvalidName {
        /// The node that tried to start the child.
        parent: Dn,
        /// The rejected name, as given.
        name: String,
        /// Which part of the rule it breaks.
        reason: &'static str,
    },

    /// A node already has (or the same group repeats) a child of this name.
    #[error("{parent}: a child named {name:?} already exists")]
    DuplicateName {
        /// The node that tried to start the child.
        parent: Dn,
        /// The repeated name.
        name: String,
    },

    /// Children may only be started while the node is [`NodeState::New`].
    #[error("{dn}: children can only be started while New (now {state:?})")]
    NotNew {
        /// The node that tried to start children.
        dn: Dn,
        /// The state it was in, as its run sees itself: Done once it has signalled Done (see
        /// [`NodeState`](crate::NodeState#what-a-runnable-sees)).
        state: NodeState,
    },

    /// `run_group` was given a group without members.
    #[error("{parent}: a group needs at least one member")]
    EmptyGroup {
        /// The node that tried to start the group.
        parent: Dn,
    },

    /// A signal that the node's state does not allow (Healthy twice, Done before Healthy).
    ///
    /// The node is treated as dead afterwards and restarted with backoff.
    #[error("{dn}: signal {signal:?} is not allowed while {state:?}")]
    InvalidSignal {
        /// The node that signalled.
        dn: Dn,
        /// The offending signal.
        signal: Signal,
        /// The state the node was in when it signalled, as its run sees itself (see
        /// [`NodeState`](crate::NodeState#what-a-runnable-sees)).
        state: NodeState,
    },

    /// The run this context belongs to has already returned; a context must not outlive it.
    #[error("{dn}: this run has already ended")]
    RunEnded {
        /// The node whose old context was used.
        dn: Dn,
    },

    /// A [`Backoff`](crate::Backoff) or builder setting is out of range.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// Which setting, and what it must be.
        reason: String,
    },

    /// `Supervisor::builder().spawn(..)` was called outside a tokio runtime.
    #[error("a supervisor must be spawned from within a tokio runtime")]
    NoRuntime,

    /// A runnable panicked while the supervisor was built with `propagate_panics`.
    #[error("{dn}: runnable panicked: {message}")]
    Panicked {
        /// The node whose runnable panicked.
        dn: Dn,
        /// The panic message.
        message: String,
    },

    /// An order for a node that the tree does not have (it may have been removed by its
    /// parent's restart, or not started yet).
    #[error("no node {dn:?} in the tree")]
    NoSuchNode {
        /// The DN asked for.
        dn: String,
    },

    /// An order to stop or restart a node that is stopped by order: start it first.
    #[error("{dn}: stopped by order; start it first")]
    AlreadyStopped {
        /// The node.
        dn: Dn,
    },

    /// An order to start a node that is not stopped by order.
    #[error("{dn}: not stopped by order (it is {state:?})")]
    NotStopped {
        /// The node.
        dn: Dn,
        /// The state it is in.
        state: NodeState,
    },

    /// A [`Watch`](crate::Watch) whose timeout passed before its condition held.
    #[error("{dn}: gave up waiting (last seen: {last:?})")]
    WatchTimedOut {
        /// The watched DN.
        dn: String,
        /// The last state the node was seen in; `None` if it never appeared.
        last: Option<NodeState>,
    },

    /// An order given, or a watch still waiting, while (or after) the supervisor shuts down:
    /// nothing starts or restarts any more.
    #[error("the supervisor is shutting down")]
    ShuttingDown,

    /// Shutdown gave up waiting for these nodes and aborted their tasks.
    #[error("shutdown timed out waiting for {}", DnList(stuck))]
    ShutdownTimedOut {
        /// Every node whose runnable had not returned by the deadline.
        stuck: Vec<Dn>,
    },
}

struct DnList<'a>(&'a [Dn]);

impl std::fmt::Display for DnList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, dn) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{dn}")?;
        }
        Ok(())
    }
}
