//! A snapshot of the whole tree, for people (`Display`) and programs (`serde`).

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
/// ([`StateCounts`](crate::StateCounts) is the cheap alternative when only numbers matter.)
///
/// A flat list of nodes, parents before children (preorder), each with the index of its parent:
/// so that a tree of any depth is built, cloned, compared, serialized and dropped without
/// recursion. `Display` draws an indented tree; `Serialize` gives, e.g. as JSON:
/// `{"nodes": [{"name": "root", "parent": null, "depth": 0, "state": "Healthy",
/// "stopping": false, "waiting_for": null, "restarts": 0, "last_error": null, "notes": {}, "in_state_ms": 12}, ...]}`,
/// where a node's DN is the names along its `parent` indices (a full DN per node would make the
/// JSON of a deep tree grow with the square of its depth).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use arbor::{Context, NodeState, Signal, Supervisor};
///
/// let sup = Supervisor::new(|ctx: Context| async move {
///     ctx.run("db", |ctx: Context| async move {
///         ctx.signal(Signal::Healthy)?;
///         ctx.cancelled().await;
///         Ok(())
///     })?;
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// });
/// let mut events = sup.events();
/// while sup.counts().await.healthy < 2 {
///     events.next().await;
/// }
/// let status = sup.status().await;
/// let db = status.get("root.db").unwrap();
/// assert_eq!(db.state, NodeState::Healthy);
/// assert_eq!(status.parent(db).unwrap().dn, "root");
/// assert_eq!(status.children(status.root()).count(), 1);
/// # sup.shutdown().await;
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TreeStatus {
    nodes: Vec<NodeStatus>,
}

/// One node in a [`TreeStatus`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NodeStatus {
    /// The node's DN.
    pub dn: Dn,
    /// The index of its parent in [`TreeStatus::iter`]'s order; `None` for the root.
    pub parent: Option<usize>,
    /// Its state (see the [state table](NodeState#state-table)).
    pub state: NodeState,
    /// Told to stop (by shutdown, or an ancestor's or group sibling's death) but its runnable
    /// has not returned yet. A node that stays so is ignoring its cancellation.
    pub stopping: bool,
    /// The member this one waits for before it can start: in an
    /// [`ordered`](crate::Group::ordered) group, the member before it that is not up yet; in an
    /// [`AllTogether`](crate::Strategy::AllTogether) group ready to restart, a member told to
    /// stop that has not stopped yet.
    pub waiting_for: Option<Dn>,
    /// How many times its runnable was entered again after the first time.
    pub restarts: u32,
    /// Why it last died, if it ever did.
    pub last_error: Option<Arc<str>>,
    /// What its runnable said about itself with
    /// [`Context::annotate`](crate::Context::annotate), for the current run.
    pub notes: BTreeMap<String, String>,
    /// How long it has been in `state`.
    pub in_state: Duration,
    /// Its own index, and the end of its subtree, in preorder.
    index: usize,
    end: usize,
}

impl Serialize for NodeStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut node = serializer.serialize_struct("NodeStatus", 10)?;
        node.serialize_field("name", self.dn.name())?;
        node.serialize_field("parent", &self.parent)?;
        node.serialize_field("depth", &self.dn.depth())?;
        node.serialize_field("state", &self.state)?;
        node.serialize_field("stopping", &self.stopping)?;
        node.serialize_field("waiting_for", &self.waiting_for)?;
        node.serialize_field("restarts", &self.restarts)?;
        node.serialize_field("last_error", &self.last_error)?;
        node.serialize_field("notes", &self.notes)?;
        let ms = u64::try_from(self.in_state.as_millis()).unwrap_or(u64::MAX);
        node.serialize_field("in_state_ms", &ms)?;
        node.end()
    }
}

impl TreeStatus {
    /// A snapshot of `tree`, walked without recursion.
    pub(crate) fn of(tree: &Tree, now: Instant) -> TreeStatus {
        let mut nodes: Vec<NodeStatus> = Vec::with_capacity(tree.len());
        // (node, its parent's index in `nodes`)
        let mut stack: Vec<(NodeId, Option<usize>)> = vec![(tree.root(), None)];
        while let Some((id, parent)) = stack.pop() {
            let index = nodes.len();
            nodes.push(node_status(tree, id, parent, index, now));
            let first = stack.len();
            stack.extend(tree.children(id).map(|c| (c, Some(index))));
            stack[first..].reverse();
        }
        // In reverse preorder every child comes before its parent: each subtree's end is the
        // furthest end among its children.
        for i in (1..nodes.len()).rev() {
            let (end, parent) = (nodes[i].end, nodes[i].parent);
            if let Some(p) = parent {
                nodes[p].end = nodes[p].end.max(end);
            }
        }
        TreeStatus { nodes }
    }

    /// The root node.
    pub fn root(&self) -> &NodeStatus {
        &self.nodes[0]
    }

    /// Every node, parents before children, siblings in the order they were started.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &NodeStatus> + '_ {
        self.nodes.iter()
    }

    /// The node with this DN, if the tree has it.
    pub fn get(&self, dn: &str) -> Option<&NodeStatus> {
        self.nodes.iter().find(|n| n.dn == dn)
    }

    /// The children of `node` (a node of this snapshot), in the order they were started.
    pub fn children<'a>(&'a self, node: &NodeStatus) -> impl Iterator<Item = &'a NodeStatus> {
        let (mut next, end) = (node.index + 1, node.end.min(self.nodes.len()));
        std::iter::from_fn(move || {
            let child = self.nodes.get(next).filter(|_| next < end)?;
            next = child.end;
            Some(child)
        })
    }

    /// The parent of `node` (a node of this snapshot), or `None` for the root.
    pub fn parent(&self, node: &NodeStatus) -> Option<&NodeStatus> {
        node.parent.and_then(|p| self.nodes.get(p))
    }

    /// How many nodes the tree has (at least one: the root).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

fn node_status(
    tree: &Tree,
    id: NodeId,
    parent: Option<usize>,
    index: usize,
    now: Instant,
) -> NodeStatus {
    let node = tree.get(id);
    NodeStatus {
        dn: node.dn().clone(),
        parent,
        state: node.state,
        stopping: node.has_task && node.is_cancelled(),
        waiting_for: waiting_for(tree, id).map(|member| tree.get(member).dn().clone()),
        restarts: node.restarts(),
        last_error: node.last_error().cloned(),
        notes: node.ctx.notes(),
        in_state: tree.stamp(now).since(node.since),
        index,
        end: index + 1,
    }
}

/// The member a node waits for before it can (re)start: the one before it in an ordered group,
/// or, in an all-together group, one still stopping.
fn waiting_for(tree: &Tree, id: NodeId) -> Option<NodeId> {
    let node = tree.get(id);
    if node.is_held() {
        return crate::tree::waits_for_its_turn(tree, id);
    }
    (node.awaits_gc() && !node.subtree_active())
        .then(|| crate::gc::held_back_by(tree, id))
        .flatten()
}

/// Deeper levels are drawn at this indentation, with their depth written out, so that a deep
/// tree's drawing grows with its node count, not with the square of its depth.
const MAX_INDENT: usize = 32;

impl fmt::Display for TreeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SPACES: &str = "                                                                ";
        for node in &self.nodes {
            let depth = node.dn.depth();
            f.write_str(&SPACES[..2 * depth.min(MAX_INDENT)])?;
            if depth > MAX_INDENT {
                write!(f, "[depth {depth}] ")?;
            }
            write!(f, "{} {:?}", node.dn.name(), node.state)?;
            write!(f, " {:.1?}", node.in_state)?;
            if node.stopping {
                f.write_str(" stopping")?;
            }
            if let Some(member) = &node.waiting_for {
                write!(f, " waiting_for={member}")?;
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
        }
        Ok(())
    }
}
