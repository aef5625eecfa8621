//! The GC: decides which stopped subtrees to restart (row 10 of the
//! [state table](crate::NodeState#state-table)).
//!
//! The name is the seed's: it is not a garbage collector so much as a necromancer, since what
//! it finds among the stopped nodes it brings back to life, but the seed's readers know it by
//! this name. A node must be
//! restarted once it is Dead or Canceled; it may be restarted only once every node in its
//! subtree has stopped (Dead, Canceled or Done, with no task left), because restarting it clears
//! its children and its runnable creates them again. Among the nodes that must and may restart,
//! only the largest subtrees are restarted: a restart of a node covers everything below it.
//!
//! The tree tells the GC which subtrees have *just* stopped (see
//! [`Tree::task_ended`](crate::tree::Tree::task_ended)), so a pass costs in proportion to
//! what changed since the last one and nothing runs while the tree is idle.
//!
//! A candidate is the topmost restart of its subtree iff its parent is not cancelled: a Dead or
//! Canceled ancestor is always cancelled, and cancellation is hereditary, so the candidate's
//! parent would be too. When that ancestor's own subtree
//! stops, it becomes a candidate in turn and covers this one.
//!
//! In a [`Strategy::AllTogether`] group, a member that may restart waits while another member
//! that was told to stop is still stopping; when the last one stops, the whole group restarts
//! in one plan.
//!
//! A node can be reported twice in one pass (a Done group member that was canceled while
//! already stopped is queued directly, or a member of a group that restarts together); the
//! plan acts on it once.
//!
//! This module is pure: no I/O, no clock. The processor applies the plan.

use crate::node::NodeId;
use crate::tree::Tree;
use crate::{Restart, Strategy};

/// What the processor is to do with the subtrees that stopped.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    /// Nodes to give a new run (row 10 of the state table).
    pub(crate) restart: Vec<NodeId>,
    /// Temporary nodes whose run has ended, to remove with their subtrees.
    pub(crate) remove: Vec<NodeId>,
}

/// Chooses, from the nodes whose subtree has just stopped, those to restart or remove now.
///
/// `stopped` is drained. While the tree is shutting down nothing restarts, and nothing is
/// removed: the final tree shows how each node ended.
pub(crate) fn plan(tree: &Tree, stopped: &mut Vec<NodeId>, shutting_down: bool) -> Plan {
    let mut plan = Plan::default();
    if shutting_down {
        stopped.clear();
        return plan;
    }
    for id in stopped.drain(..) {
        if !(awaits_gc_and_stopped(tree, id) && is_topmost(tree, id)) {
            continue;
        }
        if held_back_by(tree, id).is_some() {
            continue; // the member it waits for is pushed when it stops, and brings it along
        }
        push(tree, id, &mut plan);
        if tree.get(id).strategy() == Strategy::AllTogether {
            // The whole group restarts at once: every member that is waiting.
            for member in tree.group_siblings(id) {
                if awaits_gc_and_stopped(tree, member) {
                    push(tree, member, &mut plan);
                }
            }
        }
    }
    for ids in [&mut plan.restart, &mut plan.remove] {
        ids.sort_unstable_by_key(|id| id.index());
        ids.dedup();
    }
    plan
}

fn push(tree: &Tree, id: NodeId, plan: &mut Plan) {
    match tree.get(id).restart {
        Restart::Temporary => plan.remove.push(id),
        Restart::Permanent | Restart::Transient => plan.restart.push(id),
    }
}

/// For a member of a [`Strategy::AllTogether`] group: a member that was told to stop and has
/// not stopped yet, which the group waits for before any member restarts.
pub(crate) fn held_back_by(tree: &Tree, id: NodeId) -> Option<NodeId> {
    if tree.get(id).strategy() != Strategy::AllTogether {
        return None;
    }
    tree.group_siblings(id).find(|&member| {
        let member = tree.get(member);
        member.is_cancelled() && member.subtree_active()
    })
}

fn awaits_gc_and_stopped(tree: &Tree, id: NodeId) -> bool {
    let node = tree.get(id);
    node.awaits_gc() && !node.subtree_active()
}

fn is_topmost(tree: &Tree, id: NodeId) -> bool {
    match tree.get(id).parent {
        Some(parent) => !tree.get(parent).is_cancelled(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::tests::{add, tree_with_root};
    use crate::NodeState;

    fn stop(tree: &mut Tree, id: NodeId, state: NodeState, stopped: &mut Vec<NodeId>) {
        tree.get_mut(id).state = state;
        tree.task_ended(id, stopped);
    }

    #[test]
    fn dead_leaf_restarts_alone() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let a = add(&mut tree, root, "a");
        let _b = add(&mut tree, root, "b");
        let mut stopped = Vec::new();
        stop(&mut tree, a, NodeState::Dead, &mut stopped);
        assert_eq!(plan(&tree, &mut stopped, false).restart, vec![a]);
        assert!(stopped.is_empty());
    }

    #[test]
    fn waits_for_the_whole_subtree_then_restarts_its_top() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let a = add(&mut tree, root, "a");
        let a1 = add(&mut tree, a, "a1");
        let a2 = add(&mut tree, a, "a2");
        let mut stopped = Vec::new();

        stop(&mut tree, a, NodeState::Dead, &mut stopped);
        tree.cancel_subtree(a, &mut crate::tree::Cancelled::default());
        assert!(
            plan(&tree, &mut stopped, false) == Plan::default(),
            "a1, a2 still run"
        );

        stop(&mut tree, a1, NodeState::Canceled, &mut stopped);
        assert!(
            plan(&tree, &mut stopped, false) == Plan::default(),
            "a1 stopped, but its parent is going down: a covers it"
        );

        stop(&mut tree, a2, NodeState::Canceled, &mut stopped);
        assert_eq!(plan(&tree, &mut stopped, false).restart, vec![a]);
    }

    #[test]
    fn done_nodes_are_stopped_but_never_restarted_alone() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let a = add(&mut tree, root, "a");
        let a1 = add(&mut tree, a, "a1");
        let mut stopped = Vec::new();

        stop(&mut tree, a, NodeState::Done, &mut stopped);
        assert!(plan(&tree, &mut stopped, false) == Plan::default());

        stop(&mut tree, a1, NodeState::Dead, &mut stopped);
        assert_eq!(
            plan(&tree, &mut stopped, false).restart,
            vec![a1],
            "a Done parent keeps serving its children"
        );
    }

    #[test]
    fn nothing_restarts_during_shutdown() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let a = add(&mut tree, root, "a");
        let mut stopped = Vec::new();
        stop(&mut tree, a, NodeState::Dead, &mut stopped);
        assert!(plan(&tree, &mut stopped, true) == Plan::default());
        assert!(stopped.is_empty());
    }

    #[test]
    fn root_restarts_when_it_dies() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let mut stopped = Vec::new();
        stop(&mut tree, root, NodeState::Dead, &mut stopped);
        assert_eq!(plan(&tree, &mut stopped, false).restart, vec![root]);
    }
}
