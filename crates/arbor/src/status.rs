//! A snapshot of the tree, for people (`Display`) and programs (`serde`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::node::NodeId;
use crate::tree::Tree;
use crate::{Dn, NodeState};

/// The whole tree at one moment, from [`Supervisor::status`](crate::Supervisor::status).
///
/// `Display` draws an indented tree; `Serialize` gives nested objects, e.g. as JSON:
/// `{"root": {"dn": "root", "state": "Healthy", "stopping": false, "restarts": 0,
/// "last_error": null, "notes": {}, "in_state_ms": 12, "children": [...]}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The root node and, through it, every other.
    pub root: NodeStatus,
}

/// One node in a [`Status`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeStatus {
    /// The node's DN.
    pub dn: Dn,
    /// Its state.
    pub state: NodeState,
    /// Told to stop (by shutdown, or an ancestor's or group sibling's death) but its runnable
    /// has not returned yet. A node that stays so is ignoring its cancellation.
    pub stopping: bool,
    /// How many times it was restarted.
    pub restarts: u32,
    /// Why it last died, if it ever did.
    pub last_error: Option<Arc<str>>,
    /// What its runnable said about itself with
    /// [`Context::annotate`](crate::Context::annotate), for the current run.
    pub notes: BTreeMap<String, String>,
    /// How long it has been in `state`.
    #[serde(rename = "in_state_ms", serialize_with = "as_millis")]
    pub in_state: Duration,
    /// Its children, in the order they were started.
    pub children: Vec<NodeStatus>,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Status {
    pub(crate) fn of(tree: &Tree, now: Instant) -> Status {
        Status {
            root: node_status(tree, tree.root(), now),
        }
    }

    /// Every node, parents before children.
    pub fn iter(&self) -> impl Iterator<Item = &NodeStatus> {
        let mut stack = vec![&self.root];
        std::iter::from_fn(move || {
            let node = stack.pop()?;
            stack.extend(node.children.iter().rev());
            Some(node)
        })
    }

    /// The node with this DN, if the tree has it.
    pub fn get(&self, dn: &str) -> Option<&NodeStatus> {
        self.iter().find(|n| n.dn.as_str() == dn)
    }

    /// How many nodes the tree has.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Always false: a tree has at least its root.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn node_status(tree: &Tree, id: NodeId, now: Instant) -> NodeStatus {
    let node = tree.get(id);
    NodeStatus {
        dn: node.dn().clone(),
        state: node.state,
        stopping: node.running && node.is_cancelled(),
        restarts: node.restarts,
        last_error: node.last_error.clone(),
        notes: node
            .notes
            .iter()
            .flat_map(|n| n.iter())
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        in_state: now.saturating_duration_since(node.since),
        // One stack frame per level, like the nested value itself (and serde, and its drop):
        // fine for any real tree, but not for a chain thousands of levels deep.
        children: tree
            .children(id)
            .map(|c| node_status(tree, c, now))
            .collect(),
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut stack = vec![(&self.root, 0usize)];
        while let Some((node, depth)) = stack.pop() {
            write!(
                f,
                "{:indent$}{} {:?}",
                "",
                node.dn.name(),
                node.state,
                indent = depth * 2
            )?;
            write!(f, " {:.1?}", node.in_state)?;
            if node.stopping {
                f.write_str(" stopping")?;
            }
            for (key, value) in &node.notes {
                write!(f, " {key}={value}")?;
            }
            if node.restarts > 0 {
                write!(f, " restarts={}", node.restarts)?;
            }
            if let Some(err) = &node.last_error {
                write!(f, " last_error={err:?}")?;
            }
            writeln!(f)?;
            stack.extend(node.children.iter().rev().map(|c| (c, depth + 1)));
        }
        Ok(())
    }
}

/// How many nodes the tree has in each state, from
/// [`Supervisor::summary`](crate::Supervisor::summary). Kept up to date by the processor, so
/// asking costs nothing in proportion to the tree, unlike a full [`Status`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
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
}

impl Summary {
    pub(crate) fn of(tree: &Tree) -> Summary {
        let mut summary = Summary::default();
        for id in tree.preorder(tree.root()) {
            summary.count(None, tree.get(id).state);
        }
        summary
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
        }
    }
}
