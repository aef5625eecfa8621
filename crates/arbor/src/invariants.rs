//! The invariant walker: recomputes from scratch what the processor keeps incrementally, and
//! panics on the first difference. Compiled only with the `invariants` feature, which the
//! workspace's tests turn on; the processor calls [`check`] after every batch.
//!
//! What it checks, each against the invariant it comes from:
//!
//! - every node in the arena is reachable from the root, through children whose `parent`
//!   points back (tree invariant 1), and `first_child`/`last_child` agree with the list;
//! - `tasks` is the number of nodes with a task; a node waiting out its backoff has one
//!   (node invariant 3);
//! - `active_children` counts the children whose subtree has a task (node invariant 5);
//! - cancellation is hereditary (node invariant 4);
//! - every group is a ring of siblings (one parent), reached back from any member;
//! - the per-state counts of `Supervisor::counts` match the states;
//! - after the GC, no node is left that must and may restart: every required restart happened
//!   (unless the tree is shutting down).
//!
//! A full walk costs the size of the tree, so trees larger than [`MAX_WALKED`] are not walked:
//! the property and fault-injection tests build small trees, the scale tests big ones.

use crate::node::NodeId;
use crate::tree::Tree;
use crate::StateCounts;

/// The largest tree walked after every batch.
pub(crate) const MAX_WALKED: usize = 4096;

/// Panics, naming the node and the broken invariant, if the processor's books are wrong.
pub(crate) fn check(tree: &Tree, counts: &StateCounts, shutting_down: bool) {
    if tree.len() > MAX_WALKED || tree.len() == 0 {
        return;
    }
    let order: Vec<NodeId> = tree.preorder(tree.root()).collect();
    assert_eq!(
        order.len(),
        tree.len(),
        "invariant: every node is reachable from the root"
    );
    let mut counted = StateCounts::default();
    let mut tasks = 0;
    for &id in &order {
        let node = tree.get(id);
        let dn = node.dn();
        counted.count(None, node.state);
        tasks += usize::from(node.has_task);
        assert!(
            !node.awaiting_backoff || node.has_task,
            "invariant: {dn} waits out a backoff without a task"
        );
        let children: Vec<NodeId> = tree.children(id).collect();
        assert_eq!(
            node.first_child,
            children.first().copied(),
            "invariant: {dn}'s first child"
        );
        assert_eq!(
            node.last_child,
            children.last().copied(),
            "invariant: {dn}'s last child"
        );
        let live = children
            .iter()
            .filter(|&&c| subtree_has_a_task(tree, c))
            .count();
        assert_eq!(
            node.active_children as usize, live,
            "invariant: {dn}'s active_children"
        );
        for &c in &children {
            let child = tree.get(c);
            assert_eq!(
                child.parent,
                Some(id),
                "invariant: {}'s parent link",
                child.dn()
            );
            assert!(
                !node.is_cancelled() || child.is_cancelled() || child.is_stop_pending(),
                "invariant: {} is not cancelled under cancelled {dn}",
                child.dn()
            );
        }
        check_group(tree, id);
        if !shutting_down {
            let parent_cancelled = node.parent.is_some_and(|p| tree.get(p).is_cancelled());
            assert!(
                !node.awaits_gc()
                    || node.subtree_active()
                    || parent_cancelled
                    || crate::gc::held_back_by(tree, id).is_some(),
                "invariant: {dn} is {:?} with nothing running below it, and was not restarted or removed",
                node.state
            );
        }
    }
    assert_eq!(tasks, tree.tasks(), "invariant: the task count");
    assert_eq!(counted, *counts, "invariant: the per-state counts");
}

fn subtree_has_a_task(tree: &Tree, id: NodeId) -> bool {
    tree.preorder(id).any(|n| tree.get(n).has_task)
}

fn check_group(tree: &Tree, id: NodeId) {
    let node = tree.get(id);
    let mut cur = node.next_in_group;
    for _ in 0..tree.len() {
        if cur == id {
            return;
        }
        let member = tree.get(cur);
        assert_eq!(
            member.parent,
            node.parent,
            "invariant: {} and {} share a group but not a parent",
            node.dn(),
            member.dn()
        );
        cur = member.next_in_group;
    }
    panic!("invariant: {}'s group is not a ring", node.dn());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::tests::{add, tree_with_root};
    use crate::NodeState;

    fn counts(tree: &Tree) -> StateCounts {
        let mut counts = StateCounts::default();
        for id in tree.preorder(tree.root()) {
            counts.count(None, tree.get(id).state);
        }
        counts
    }

    #[test]
    fn a_sound_tree_passes() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let a = add(&mut tree, root, "a");
        add(&mut tree, a, "a1");
        check(&tree, &counts(&tree), false);
    }

    #[test]
    #[should_panic(expected = "active_children")]
    fn a_wrong_active_count_is_caught() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        add(&mut tree, root, "a");
        tree.get_mut(root).active_children = 0;
        check(&tree, &counts(&tree), false);
    }

    #[test]
    #[should_panic(expected = "was not restarted")]
    fn a_missed_restart_is_caught() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let a = add(&mut tree, root, "a");
        tree.get_mut(a).state = NodeState::Dead;
        tree.task_ended(a, &mut Vec::new());
        check(&tree, &counts(&tree), false);
    }

    #[test]
    #[should_panic(expected = "per-state counts")]
    fn wrong_counts_are_caught() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        check(&tree, &StateCounts::default(), false);
    }
}
