//! How many nodes are in each state: counts the processor keeps as it goes, so that asking
//! for them costs the same for any size of tree.

use serde::Serialize;

use crate::tree::Tree;
use crate::NodeState;

/// How many nodes the tree has in each state, from
/// [`Supervisor::counts`](crate::Supervisor::counts). Kept up to date by the processor, so
/// asking costs nothing in proportion to the tree, unlike a full
/// [`TreeStatus`](crate::TreeStatus).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StateCounts {
    /// All nodes.
    pub nodes: usize,
    /// Nodes in [`NodeState::New`]. (A dead node waiting out its backoff stays Dead until its
    /// runnable is entered again.)
    pub new: usize,
    /// Nodes in [`NodeState::Healthy`].
    pub healthy: usize,
    /// Nodes in [`NodeState::Done`].
    pub done: usize,
    /// Nodes in [`NodeState::Dead`].
    pub dead: usize,
    /// Nodes in [`NodeState::Canceled`].
    pub canceled: usize,
    /// Nodes in [`NodeState::Stopped`]: stopped by order.
    pub stopped: usize,
}

impl StateCounts {
    pub(crate) fn of(tree: &Tree) -> StateCounts {
        let mut counts = StateCounts::default();
        for id in tree.preorder(tree.root()) {
            counts.count(None, tree.get(id).state);
        }
        counts
    }

    /// How many nodes are in `state`.
    pub fn in_state(&self, state: NodeState) -> usize {
        match state {
            NodeState::New => self.new,
            NodeState::Healthy => self.healthy,
            NodeState::Done => self.done,
            NodeState::Dead => self.dead,
            NodeState::Canceled => self.canceled,
            NodeState::Stopped => self.stopped,
        }
    }

    /// Records a node entering `to`, from `from` or, if `None`, as a new node.
    pub(crate) fn count(&mut self, from: Option<NodeState>, to: NodeState) {
        match from {
            Some(from) => *self.slot(from) -= 1,
            None => self.nodes += 1,
        }
        *self.slot(to) += 1;
    }

    /// Records that a node in `state` was removed.
    pub(crate) fn uncount(&mut self, state: NodeState) {
        *self.slot(state) -= 1;
        self.nodes -= 1;
    }

    fn slot(&mut self, state: NodeState) -> &mut usize {
        match state {
            NodeState::New => &mut self.new,
            NodeState::Healthy => &mut self.healthy,
            NodeState::Done => &mut self.done,
            NodeState::Dead => &mut self.dead,
            NodeState::Canceled => &mut self.canceled,
            NodeState::Stopped => &mut self.stopped,
        }
    }
}
